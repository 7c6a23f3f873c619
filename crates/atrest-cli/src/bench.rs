//! `atrest bench`: measured numbers, never asserted.
//!
//! `bench scenario NAME` runs a scenario several times on a backend and reports the wall time
//! of each run (cluster start, every step, teardown) with the median: the number README quotes
//! for `scenario rotate`.
//!
//! `bench degradation` compares encryption providers end to end (module `degradation`).
//!
//! `bench member-exit` times the detection of a killed member and the teardown after it
//! (module `member_exit`).

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use atrest_scenario::{Outcome as RunOutcome, RunOptions};
use clap::Subcommand;

use crate::Outcome;
use crate::images::ImageArgs;
use crate::out::{out, outln};
use crate::scenario::{Backend, load_named, run_one};

/// `atrest bench …`.
#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Wall time of whole scenario runs (start, steps, teardown): each run and the median.
    Scenario(ScenarioArgs),
    /// How much slower Secret creates and gets are with each encryption provider than with
    /// identity, end to end, with confidence intervals, next to the transformer's own cost.
    ///
    /// Restarts one apiserver per provider on one etcd, in interleaved rounds; keys are fresh
    /// from the OS CSPRNG and never printed. Prints a table; --out also writes
    /// degradation.json, degradation.txt and degradation.svg.
    Degradation(crate::degradation::DegradationArgs),
    /// How long the process or containers backend takes to notice a member killed with SIGKILL
    /// (etcd or the apiserver), and to tear the rest down: each run and the median.
    MemberExit(crate::member_exit::MemberExitArgs),
}

/// `atrest bench scenario`.
#[derive(clap::Args, Debug)]
pub(crate) struct ScenarioArgs {
    /// A scenario name or path.
    #[arg(value_name = "NAME|PATH")]
    scenario: String,
    /// Where to run.
    #[arg(long, value_enum, default_value_t)]
    backend: Backend,
    /// How many runs (at least 1; the median of 5 or more means something).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    #[command(flatten)]
    images: ImageArgs,
}

/// Runs a `bench` subcommand.
pub(crate) fn run(cmd: &BenchCommand) -> Result<Outcome> {
    match cmd {
        BenchCommand::Scenario(args) => scenario(args),
        BenchCommand::Degradation(args) => crate::degradation::run(args),
        BenchCommand::MemberExit(args) => crate::member_exit::run(args),
    }
}

fn scenario(args: &ScenarioArgs) -> Result<Outcome> {
    args.images.check(args.backend == Backend::Containers)?;
    let scenario = load_named(&args.scenario, None)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut times = Vec::new();
    for n in 1..=args.runs {
        let t = Instant::now();
        let opts = RunOptions::default();
        let report =
            runtime.block_on(run_one(&scenario, &opts, args.backend, &args.images, true))?;
        let secs = t.elapsed().as_secs_f64();
        if report.outcome != RunOutcome::Passed {
            out!("{}", report.to_text())?;
            bail!(
                "run {n} of {} did not pass; timings of failed runs are not reported",
                scenario.name
            );
        }
        outln!("run {n}: {:.1} ms", secs * 1000.0)?;
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    let median = median(&times);
    outln!(
        "{} on {:?}: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} runs",
        scenario.name,
        args.backend,
        median * 1000.0,
        times[0] * 1000.0,
        times[times.len() - 1] * 1000.0,
        times.len()
    )?;
    Ok(Outcome::Ok)
}

/// The median of `sorted` (ascending, not empty).
pub(crate) fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) }
}
