//! `atrest bench member-exit`: how long the `process` backend takes to notice a member killed
//! with SIGKILL, and to tear the rest down after it (issue 18). Measured, never asserted.
//!
//! Each run starts etcd and one kube-apiserver ([`ControlPlane`], as `cluster up` does, with
//! the same stop grace), sends SIGKILL to the chosen member, and times two intervals: from the
//! kill to [`ControlPlane::member_exited`] (detection), and [`ControlPlane::shutdown`] after it
//! (teardown). The killed member's directory, kept for its log, is removed after each run.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use atrest_process::{ApiServer, Assets, ControlPlane};
use clap::ValueEnum;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Outcome;
use crate::bench::median;
use crate::out::outln;

/// `atrest bench member-exit`.
#[derive(clap::Args, Debug)]
pub(crate) struct MemberExitArgs {
    /// The member to kill.
    #[arg(long, value_enum, default_value_t = Target::Etcd)]
    member: Target,
    /// How many runs (each starts a new control plane).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Which member a run kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// The etcd: the apiserver then has no storage, and is stopped without it.
    Etcd,
    /// The (only) kube-apiserver.
    Apiserver,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Etcd => "etcd",
            Target::Apiserver => "the apiserver",
        }
    }
}

/// Runs the measurement.
pub(crate) fn run(args: &MemberExitArgs) -> Result<Outcome> {
    let assets = match Assets::locate() {
        Ok(assets) => assets,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Error);
        }
    };
    // Current-thread: the children are spawned from this (the main) thread, which outlives
    // them (PR_SET_PDEATHSIG, see `cluster up`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let mut detected = Vec::new();
    let mut torn_down = Vec::new();
    for n in 1..=args.runs {
        let options = vec![crate::cluster::apiserver_options(0, None, false)];
        let plane = runtime
            .block_on(ControlPlane::start(&assets, options))
            .context("starting etcd and a kube-apiserver")?;
        let pid = match args.member {
            Target::Etcd => plane.etcd().pid(),
            Target::Apiserver => plane.apiserver(0).and_then(ApiServer::pid),
        }
        .context("the member is not running")?;
        let pid = Pid::from_raw(i32::try_from(pid).context("pid out of range")?);
        let killed = Instant::now();
        kill(pid, Signal::SIGKILL).context("sending SIGKILL")?;
        let exit = runtime.block_on(plane.member_exited());
        let detection = killed.elapsed();
        let t = Instant::now();
        runtime.block_on(plane.shutdown());
        let teardown = t.elapsed();
        outln!("run {n}: {exit}")?;
        outln!("  detected after {}, torn down in {}", ms(detection), ms(teardown))?;
        if let Some(dir) = exit.log.as_deref().and_then(std::path::Path::parent) {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing the kept {}", dir.display()))?;
        }
        detected.push(detection.as_secs_f64());
        torn_down.push(teardown.as_secs_f64());
    }
    for (what, times) in [("detection", &mut detected), ("teardown", &mut torn_down)] {
        times.sort_by(f64::total_cmp);
        outln!(
            "{what} after SIGKILL of {}: median {}, min {}, max {} over {} runs",
            args.member.name(),
            ms(Duration::from_secs_f64(median(times))),
            ms(Duration::from_secs_f64(times[0])),
            ms(Duration::from_secs_f64(times[times.len() - 1])),
            times.len()
        )?;
    }
    Ok(Outcome::Ok)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
