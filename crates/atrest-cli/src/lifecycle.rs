//! What every command that starts something does around it, in one place: SIGINT and SIGTERM
//! stop the work, a failed run keeps its logs, and the teardown always runs.
//!
//! Used by `scenario` (and through it `rehearse` and `bench scenario`), `bench degradation`,
//! `cluster up` and `kms-plugin serve`.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use atrest_backend::{BackendError, Cluster};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal stopped the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Interrupted,
    Terminated,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Interrupted => "interrupted (SIGINT)",
            Stop::Terminated => "terminated (SIGTERM)",
        })
    }
}

/// SIGINT and SIGTERM, caught from [`Signals::install`] on: install before anything starts, so a
/// signal during a start also tears down (dropping a start future stops what it started).
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub(crate) fn install() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// The next SIGINT or SIGTERM.
    pub(crate) async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupted,
            _ = self.terminate.recv() => Stop::Terminated,
        }
    }

    /// Runs `work` until it ends, or until a signal arrives (then `work` is dropped).
    pub(crate) async fn guard<T>(&mut self, work: impl Future<Output = T>) -> Result<T, Stop> {
        tokio::select! {
            done = work => Ok(done),
            stop = self.recv() => Err(stop),
        }
    }
}

/// What [`teardown`] did.
#[must_use]
pub(crate) struct Teardown {
    /// Where the logs were kept (only when asked to keep them and the backend has logs).
    pub(crate) logs: Option<PathBuf>,
    /// How the stop went.
    pub(crate) stopped: Result<(), BackendError>,
}

impl Teardown {
    /// `, logs kept in DIR` when logs were kept, for messages.
    pub(crate) fn logs_note(&self) -> String {
        self.logs.as_ref().map(|l| format!(", logs kept in {}", l.display())).unwrap_or_default()
    }

    /// After a run that already failed: a failed stop is worth a warning, not a second error.
    pub(crate) fn warn_if_unclean(&self) {
        if let Err(e) = &self.stopped {
            eprintln!("warning: stopping the cluster: {}", atrest_backend::error_chain(e));
        }
    }
}

/// Stops `cluster`; with `keep_logs`, first keeps its logs and state on disk.
pub(crate) async fn teardown<C: Cluster>(mut cluster: C, keep_logs: bool) -> Teardown {
    let logs = if keep_logs {
        cluster.keep_logs();
        cluster.log_dir()
    } else {
        None
    };
    Teardown { logs, stopped: cluster.shutdown().await }
}
