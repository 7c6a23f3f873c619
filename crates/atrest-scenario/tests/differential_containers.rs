//! Every scenario on `sim` and on `containers` (etcd and kube-apiservers in Docker containers
//! of local images): the reports must be equal once timings, the backend's name, log paths and
//! measured numbers are removed (`Report::comparable`), as in `differential.rs` for `process`.
//!
//! Needs a Docker engine (`DOCKER_HOST`) and the images `cargo xtask setup` builds; without
//! them every test fails with the instructions, never passes.

use std::path::Path;

use atrest_containers::ContainersCluster;

#[path = "support/differential.rs"]
mod support;

fn sim_and_containers(path: &Path) -> datatest_stable::Result<()> {
    atrest_containers::preflight()
        .map_err(|e| format!("the containers backend cannot run here: {e}"))?;
    support::sim_and(path, "containers", ContainersCluster::launch)
}

datatest_stable::harness! {
    { test = sim_and_containers, root = "../../scenarios", pattern = r"^[^/]+\.yaml$" },
}
