//! `atrest bench member-exit`: how long the `process` or `containers` backend takes to notice a
//! member killed with SIGKILL, and to tear the rest down after it (issue 18). Measured, never
//! asserted.
//!
//! Each run starts etcd and one kube-apiserver ([`ControlPlane`], as `cluster up` does, with
//! the same stop grace and, on `containers`, the same containers), sends SIGKILL to the chosen
//! member's binary (in a container: its main process on the host, as the OOM killer would, not
//! `docker kill`, which the harness would count as asked for), and times two intervals: from
//! the kill to [`ControlPlane::member_exited`] (detection), and [`ControlPlane::shutdown`] after
//! it (teardown). The killed member's directory, kept for its log, is removed after each run.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use atrest_process::{ApiServer, Assets, ContainerImages, ControlPlane, EtcdOptions};
use clap::ValueEnum;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Outcome;
use crate::bench::median;
use crate::cluster::Backend;
use crate::images::ImageArgs;
use crate::out::outln;

/// `atrest bench member-exit`.
#[derive(clap::Args, Debug)]
pub(crate) struct MemberExitArgs {
    /// The member to kill.
    #[arg(long, value_enum, default_value_t = Target::Etcd)]
    member: Target,
    /// The backend that runs the control plane.
    #[arg(long, value_enum, default_value_t = Backend::Process)]
    backend: Backend,
    /// How many runs (each starts a new control plane).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    #[command(flatten)]
    images: ImageArgs,
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
    let Some((assets, images)) = args.backend.provide(&args.images) else {
        return Ok(Outcome::Error);
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
        let plane = runtime
            .block_on(start(&assets, images.as_ref()))
            .context("starting etcd and a kube-apiserver")?;
        let pid = match args.member {
            Target::Etcd => plane.etcd().member_pid(),
            Target::Apiserver => plane.apiserver(0).and_then(ApiServer::member_pid),
        }
        .context("the member is not running")?
        .context("finding the member's process")?;
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

/// etcd and one apiserver, as `cluster up` starts them (in containers of `images` when given).
async fn start(
    assets: &Assets,
    images: Option<&ContainerImages>,
) -> Result<ControlPlane, atrest_process::StartError> {
    let mut etcd = EtcdOptions::new("etcd");
    etcd.container = images.map(ContainerImages::etcd_run);
    let mut plane = ControlPlane::with_etcd(assets, etcd).await?;
    let mut opts = crate::cluster::apiserver_options(0, None, false);
    opts.container = images.map(ContainerImages::kube_apiserver_run);
    plane.add_apiserver(opts).await?;
    Ok(plane)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
