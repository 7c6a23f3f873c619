//! Every scenario on `sim` and on `containers` (etcd and kube-apiservers in Docker containers
//! of local images): the reports must be equal once timings, the backend's name, log paths and
//! measured numbers are removed (`Report::comparable`), as in `differential.rs` for `process`.
//!
//! Needs a Docker engine (`DOCKER_HOST`) and the images `cargo xtask setup` builds; without
//! them every test fails with the instructions, never passes.

use std::path::Path;

use atrest_backend::Cluster as _;
use atrest_containers::ContainersCluster;
use atrest_scenario::{Outcome, Report, RunOptions};
use atrest_sim::SimCluster;

fn diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(""), b.get(i).copied().unwrap_or(""));
        if x != y {
            out.push_str(&format!("line {}:\n  sim:        {x}\n  containers: {y}\n", i + 1));
        }
    }
    out
}

fn sim_and_containers(path: &Path) -> datatest_stable::Result<()> {
    atrest_containers::preflight()
        .map_err(|e| format!("the containers backend cannot run here: {e}"))?;
    let scenario = atrest_scenario::load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    let mut sim = SimCluster::new(scenario.cluster_spec());
    let prepared = scenario.prepare(&RunOptions::default())?;
    let on_sim: Report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut sim, &mut |_: &_| {}));

    let on_containers = runtime.block_on(async {
        let mut cluster = ContainersCluster::launch(scenario.cluster_spec()).await?;
        let prepared = scenario.prepare(&RunOptions::default())?;
        let mut report =
            atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}).await;
        if report.outcome != Outcome::Passed {
            cluster.keep_logs();
            report.logs = cluster.log_dir().map(|p| p.display().to_string());
        }
        cluster.shutdown().await?;
        Ok::<_, Box<dyn std::error::Error>>(report)
    })?;

    let (a, b) = (
        serde_json::to_string_pretty(&on_sim.comparable())?,
        serde_json::to_string_pretty(&on_containers.comparable())?,
    );
    if a != b {
        return Err(format!(
            "{}: sim and containers disagree:\n{}\n--- sim ---\n{}\n--- containers ---\n{}",
            scenario.name,
            diff(&a, &b),
            on_sim.to_text(),
            on_containers.to_text()
        )
        .into());
    }
    if on_containers.outcome != Outcome::Passed {
        return Err(format!(
            "{} failed on both backends:\n{}",
            scenario.name,
            on_containers.to_text()
        )
        .into());
    }
    Ok(())
}

datatest_stable::harness! {
    { test = sim_and_containers, root = "../../scenarios", pattern = r"^[^/]+\.yaml$" },
}
