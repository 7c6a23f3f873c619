//! The simulator is only trusted because it agrees with the real thing: every scenario runs on
//! `sim` and on `process` (real etcd and kube-apiserver), and the two reports must be equal once
//! timings, the backend's name, log paths and measured numbers are removed
//! (`Report::comparable`). A difference is a bug in the simulator.

use std::path::Path;

use atrest_process::{Assets, ProcessCluster};

#[path = "support/differential.rs"]
mod support;

fn sim_and_process(path: &Path) -> datatest_stable::Result<()> {
    let assets = &Assets::locate()?;
    support::sim_and(path, "process", |spec| ProcessCluster::launch(assets, spec))
}

datatest_stable::harness! {
    { test = sim_and_process, root = "../../scenarios", pattern = r"^[^/]+\.yaml$" },
}
