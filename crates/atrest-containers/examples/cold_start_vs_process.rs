//! Cold start on `containers` next to `process`, through the same `Cluster` calls: launch
//! (etcd ready, PKI) plus the first apiserver start (until `/readyz` and namespace `default`),
//! alternating the backends run by run.
//!
//! ```sh
//! export $(cat ~/.cache/atrest/docker/env)   # after `cargo xtask setup`
//! cargo run -p atrest-containers --example cold_start_vs_process -- 5
//! ```

#![expect(clippy::print_stdout, reason = "a benchmark report on stdout is the point")]

use std::time::{Duration, Instant};

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec};
use atrest_containers::ContainersCluster;
use atrest_process::{Assets, ProcessCluster};

fn spec() -> ClusterSpec {
    ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() }
}

async fn time<C: Cluster>(cluster: C, launched: Duration) -> Result<Duration, String> {
    let mut cluster = cluster;
    let started = Instant::now();
    cluster.start_apiserver(0).await.map_err(|e| e.to_string())?.map_err(|e| format!("{e:?}"))?;
    let total = launched + started.elapsed();
    cluster.shutdown().await.map_err(|e| e.to_string())?;
    Ok(total)
}

fn pick(totals: &mut [Duration], q: f64) -> Duration {
    totals.sort();
    let i = ((totals.len() as f64 - 1.0) * q).round() as usize;
    totals.get(i).copied().unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let assets = Assets::locate()?;
    let (mut on_process, mut on_containers) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let t = Instant::now();
        let cluster = ProcessCluster::launch(&assets, spec()).await?;
        let process = time(cluster, t.elapsed()).await?;
        let t = Instant::now();
        let cluster = ContainersCluster::launch(spec()).await?;
        let containers = time(cluster, t.elapsed()).await?;
        println!("run {run:>2}: process {process:>8.2?}  containers {containers:>8.2?}");
        on_process.push(process);
        on_containers.push(containers);
    }
    println!(
        "process:    median {:.2?}  p90 {:.2?}\ncontainers: median {:.2?}  p90 {:.2?}  ({runs} runs)",
        pick(&mut on_process, 0.5),
        pick(&mut on_process, 0.9),
        pick(&mut on_containers, 0.5),
        pick(&mut on_containers, 0.9),
    );
    Ok(())
}
