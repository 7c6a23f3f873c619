//! Cold start of the control plane (etcd + one kube-apiserver ready), timed over several runs.
//!
//! ```sh
//! ATREST_ASSETS=<dir from cargo xtask setup> cargo run --release -p atrest-process --example cold_start -- 10
//! ```
//!
//! Prints each run and the median and p90 of the total (etcd start + apiserver start until
//! `/readyz` and namespace `default`).

#![expect(clippy::print_stdout, reason = "a benchmark report on stdout is the point")]

use std::time::{Duration, Instant};

use atrest_process::{ApiServerOptions, Assets, ControlPlane};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let assets = Assets::locate()?;
    let mut totals = Vec::with_capacity(runs);
    for run in 1..=runs {
        let started = Instant::now();
        let plane =
            ControlPlane::start(&assets, vec![ApiServerOptions::new("kube-apiserver")]).await?;
        let total = started.elapsed();
        let etcd = plane.etcd().started_in();
        let apiserver = plane.apiserver(0).map_or(Duration::ZERO, |a| a.started_in());
        println!(
            "run {run:>2}: total {total:>8.2?}  etcd {etcd:>8.2?}  kube-apiserver {apiserver:>8.2?}"
        );
        totals.push(total);
        plane.shutdown().await;
    }
    totals.sort();
    let pick = |q: f64| {
        let i = ((totals.len() as f64 - 1.0) * q).round() as usize;
        totals.get(i).copied().unwrap_or_default()
    };
    println!("median {:.2?}  p90 {:.2?}  ({} runs)", pick(0.5), pick(0.9), totals.len());
    Ok(())
}
