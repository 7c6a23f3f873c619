//! Start a child and wait on three outcomes at once: ready, exited early, deadline
//! (kube-apiserver logs `"command failed" err=…` from cmd/kube-apiserver/app/server.go).

use std::future::Future;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::klog;
use crate::process::{Exit, InstanceDir, ManagedProcess, ProcessSpec, SpawnError};
use atrest_backend::wait::{TimedOut, deadline_after, wait_until};

/// How often kube-apiserver readiness is polled (envtest and the in-tree test server use 100 ms).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A component (etcd or kube-apiserver) did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// It exited before becoming ready (an invalid encryption config, a bad flag, no etcd…).
    #[error(
        "{name} exited before becoming ready ({}){}; log: {}",
        describe_exit(.code, .signal),
        .command_failed.as_ref().map(|e| format!(": {e}")).unwrap_or_default(),
        .log.display()
    )]
    Exited {
        /// The process name.
        name: String,
        /// The exit code, if it exited normally.
        code: Option<i32>,
        /// The signal that ended it, if any.
        signal: Option<i32>,
        /// The `err` of kube-apiserver's `"command failed"` klog line, unescaped.
        command_failed: Option<String>,
        /// Its stderr log (kept on disk).
        log: PathBuf,
    },
    /// The deadline passed; the last observation says why it was not ready.
    #[error(
        "{name} not ready after {waited:?} (last: {}); log: {}",
        .last.as_deref().unwrap_or("nothing observed"),
        .log.display()
    )]
    TimedOut {
        /// The process name.
        name: String,
        /// How long it waited.
        waited: Duration,
        /// The last readiness observation.
        last: Option<String>,
        /// Its stderr log (kept on disk).
        log: PathBuf,
    },
    /// The instance directory could not be created.
    #[error("cannot create an instance directory for {name}")]
    Dir {
        /// The process name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot could not be restored into etcd's data directory.
    #[error(
        "cannot restore the snapshot {}: {}",
        .snapshot.display(),
        .error.clone().unwrap_or_else(|| format!("etcdutl snapshot restore failed ({}) without saying why; its last output: {}", .status, .last_lines))
    )]
    Restore {
        /// The snapshot file.
        snapshot: PathBuf,
        /// How etcdutl ended (or why it could not run).
        status: String,
        /// Its `Error: …` line, when it printed one.
        error: Option<String>,
        /// The end of its output (JSON log lines, or a Go crash).
        last_lines: String,
    },
    /// No free port could be found.
    #[error("cannot find a free port for {name}")]
    Port {
        /// The process name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Certificates could not be minted or written.
    #[error("cannot prepare certificates")]
    Certs(#[from] crate::certs::CertError),
    /// The process could not be started.
    #[error("cannot start the process")]
    Spawn(#[from] SpawnError),
    /// The admin client could not be built.
    #[error("cannot build a client for {name}")]
    Client {
        /// The process name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartError {
    /// The kept instance directory holding the logs, when the process got as far as starting.
    pub fn instance_dir(&self) -> Option<&Path> {
        match self {
            StartError::Exited { log, .. } | StartError::TimedOut { log, .. } => log.parent(),
            _ => None,
        }
    }

    /// Whether the start failed because another process took a port chosen for it (the race
    /// the race between choosing a free port and binding it); such starts are retried with new ports.
    pub(crate) fn port_taken(&self) -> bool {
        match self {
            StartError::Exited { log, .. } => std::fs::read(log)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains("address already in use")),
            _ => false,
        }
    }
}

fn describe_exit(code: &Option<i32>, signal: &Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "unknown status".to_owned(),
    }
}

/// Spawns `spec` in `dir` and waits until `probe` (run every `interval`) breaks, the process
/// exits, or `timeout` passes. On failure the process is stopped and `dir` kept.
pub(crate) async fn launch<F, Fut>(
    spec: &ProcessSpec,
    dir: &mut InstanceDir,
    timeout: Duration,
    interval: Duration,
    probe: F,
) -> Result<(ManagedProcess, Duration), StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ControlFlow<(), String>>,
{
    match launch_keep_unready(spec, dir, timeout, interval, probe, &Patience::NONE).await? {
        (process, Launched::Ready(took)) => Ok((process, took)),
        (process, Launched::NotReady(timed_out)) => {
            dir.keep();
            Err(fail(process, Failure::TimedOut(timed_out)).await)
        }
    }
}

/// How many times a start is tried when the port it chose was taken before it could bind it
/// (another process won the race between choosing a free port and binding it).
const PORT_ATTEMPTS: usize = 3;

/// Whether attempt number `attempt` (from 1) failed only because its port was taken, and may be
/// tried again on new ports.
pub(crate) fn retry_on_new_port(attempt: usize, e: &StartError) -> bool {
    attempt < PORT_ATTEMPTS && e.port_taken()
}

/// Runs `start` until it succeeds, fails for another reason than a taken port, or has been tried
/// [`PORT_ATTEMPTS`] times; a failed attempt's instance directory is removed.
pub(crate) async fn with_port_retries<T, F, Fut>(name: &str, mut start: F) -> Result<T, StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StartError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match start().await {
            Err(e) if retry_on_new_port(attempt, &e) => {
                tracing::debug!(%name, attempt, "port taken, retrying on a new one");
                if let Some(dir) = e.instance_dir() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            other => return other,
        }
    }
}

/// How often a start given more time is looked at again.
const PATIENCE_STEP: Duration = Duration::from_secs(2);

/// How long a start that is not ready at its deadline may go on, and by which observation it
/// counts as still starting rather than stuck.
pub(crate) struct Patience<'a> {
    /// The latest deadline, from the spawn.
    pub(crate) up_to: Duration,
    /// Whether the last readiness observation shows a process still starting.
    pub(crate) still_starting: &'a (dyn Fn(Option<&str>) -> bool + Sync),
}

impl Patience<'_> {
    /// No extension: the deadline is the deadline.
    pub(crate) const NONE: Patience<'static> =
        Patience { up_to: Duration::ZERO, still_starting: &|_| false };
}

/// How a start that keeps an unready process went.
pub(crate) enum Launched {
    /// Ready after this long.
    Ready(Duration),
    /// Still running but not ready at the deadline.
    NotReady(TimedOut<String>),
}

/// Like [`launch`], except that a process still running at the deadline is kept and returned
/// with [`Launched::NotReady`]: a real apiserver that never becomes ready still answers
/// requests, and what it answers is worth observing. An early exit is still an error (the
/// process is gone, `dir` kept).
pub(crate) async fn launch_keep_unready<F, Fut>(
    spec: &ProcessSpec,
    dir: &mut InstanceDir,
    timeout: Duration,
    interval: Duration,
    mut probe: F,
    patience: &Patience<'_>,
) -> Result<(ManagedProcess, Launched), StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ControlFlow<(), String>>,
{
    let started = Instant::now();
    let process = ManagedProcess::start(spec, dir.path()).await?;
    let mut deadline = deadline_after(started, timeout);
    let outcome = loop {
        let ready = wait_until(deadline, interval, &mut probe);
        let outcome = tokio::select! {
            biased;
            exit = process.exited() => Err(exit),
            ready = ready => Ok(ready),
        };
        // Still starting at the deadline (a loaded machine): wait on, up to the limit.
        if let Ok(Err(timed_out)) = &outcome
            && deadline < deadline_after(started, patience.up_to)
            && process.exit().is_none()
            && (patience.still_starting)(timed_out.last.as_deref())
        {
            tracing::debug!(name = %spec.name, last = ?timed_out.last, "still starting at the deadline; waiting on");
            // In steps, so a start that turns out stuck is called after one more step.
            deadline = deadline_after(Instant::now(), PATIENCE_STEP)
                .min(deadline_after(started, patience.up_to));
            continue;
        }
        break outcome.map(|r| {
            r.map_err(|mut t| {
                t.waited = started.elapsed();
                t
            })
        });
    };
    match outcome {
        Ok(Ok(())) => {
            let took = started.elapsed();
            tracing::debug!(name = %spec.name, ?took, "ready");
            Ok((process, Launched::Ready(took)))
        }
        Ok(Err(timed_out)) => match process.exit() {
            // It exited just as the deadline passed: that is the better answer.
            Some(exit) => {
                dir.keep();
                Err(fail(process, Failure::Exited(exit)).await)
            }
            None => {
                tracing::debug!(name = %spec.name, last = ?timed_out.last, "running but not ready");
                Ok((process, Launched::NotReady(timed_out)))
            }
        },
        Err(exit) => {
            dir.keep();
            Err(fail(process, Failure::Exited(exit)).await)
        }
    }
}

/// Why a start did not become ready.
enum Failure {
    Exited(Exit),
    TimedOut(TimedOut<String>),
}

/// Stops a process that did not become ready and builds the error.
async fn fail(process: ManagedProcess, failure: Failure) -> StartError {
    let name = process.name().to_owned();
    let log = process.stderr_log().to_owned();
    let exit = match failure {
        Failure::Exited(exit) => exit,
        Failure::TimedOut(timed_out) => {
            let exit = process.shutdown().await;
            if exit.requested {
                return StartError::TimedOut {
                    name,
                    waited: timed_out.waited,
                    last: timed_out.last,
                    log,
                };
            }
            // It exited on its own just as the deadline passed: that is the better answer.
            exit
        }
    };
    let text = std::fs::read(&log).map(|b| String::from_utf8_lossy(&b).into_owned());
    StartError::Exited {
        name,
        code: exit.code(),
        signal: exit.signal(),
        command_failed: text.ok().as_deref().and_then(klog::command_failed_err),
        log,
    }
}

/// `GET http://127.0.0.1:<port><path>` over plain HTTP/1.0: the status code and body. Enough
/// for etcd's metrics listener; no client library needed.
pub(crate) async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// Keeps `dir` (and says where) when the process exited without being asked to: its logs are
/// the only record of why.
pub(crate) fn keep_if_crashed(dir: &mut InstanceDir, name: &str, exit: &Exit) {
    if !exit.requested && !dir.is_kept() {
        let path = dir.keep();
        tracing::warn!(%name, ?exit, dir = %path.display(), "exited on its own; keeping its directory");
    }
}
