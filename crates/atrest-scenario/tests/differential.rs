//! The simulator is only trusted because it agrees with the real thing: every scenario runs on
//! `sim` and on `process` (real etcd and kube-apiserver), and the two reports must be equal once
//! timings, the backend's name, log paths and measured numbers are removed
//! (`Report::comparable`). A difference is a bug in the simulator.

use std::path::Path;

use atrest_backend::Cluster as _;
use atrest_process::{Assets, ProcessCluster};
use atrest_scenario::{Outcome, Report, RunOptions};
use atrest_sim::SimCluster;

fn diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(""), b.get(i).copied().unwrap_or(""));
        if x != y {
            out.push_str(&format!("line {}:\n  sim:     {x}\n  process: {y}\n", i + 1));
        }
    }
    out
}

fn sim_and_process(path: &Path) -> datatest_stable::Result<()> {
    let assets = Assets::locate()?;
    let scenario = atrest_scenario::load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    let mut sim = SimCluster::new(scenario.cluster_spec());
    let prepared = scenario.prepare(&RunOptions::default())?;
    let on_sim: Report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut sim, &mut |_: &_| {}));

    let on_process = runtime.block_on(async {
        let mut cluster = ProcessCluster::launch(&assets, scenario.cluster_spec()).await?;
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
        serde_json::to_string_pretty(&on_process.comparable())?,
    );
    if a != b {
        return Err(format!(
            "{}: sim and process disagree:\n{}\n--- sim ---\n{}\n--- process ---\n{}",
            scenario.name,
            diff(&a, &b),
            on_sim.to_text(),
            on_process.to_text()
        )
        .into());
    }
    if on_process.outcome != Outcome::Passed {
        return Err(format!(
            "{} failed on both backends:\n{}",
            scenario.name,
            on_process.to_text()
        )
        .into());
    }
    Ok(())
}

datatest_stable::harness! {
    { test = sim_and_process, root = "../../scenarios", pattern = r"^[^/]+\.yaml$" },
}
