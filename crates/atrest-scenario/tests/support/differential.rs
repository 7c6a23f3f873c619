//! The comparison both differential tests make: a scenario on `sim` and on a real backend, the
//! reports equal once timings, the backend's name, log paths and measured numbers are removed
//! (`Report::comparable`), and passing.

use std::error::Error;
use std::future::Future;
use std::path::Path;

use atrest_backend::{Cluster, ClusterSpec};
use atrest_scenario::{Outcome, Report, RunOptions};
use atrest_sim::SimCluster;

type BoxError = Box<dyn Error>;

/// Runs the scenario at `path` on `sim` and on the cluster `launch` starts (named `backend` in
/// messages); a failed run keeps that cluster's logs and names them in its report.
pub(crate) fn sim_and<C, E, Fut>(
    path: &Path,
    backend: &str,
    launch: impl FnOnce(ClusterSpec) -> Fut,
) -> datatest_stable::Result<()>
where
    C: Cluster,
    E: Into<BoxError>,
    Fut: Future<Output = Result<C, E>>,
{
    sim_and_with(path, backend, launch, str::to_owned)
}

/// [`sim_and`], with the real backend's comparable report passed through `normalize` first
/// (the kind backend's etcd keys hold its scratch namespaces).
pub(crate) fn sim_and_with<C, E, Fut>(
    path: &Path,
    backend: &str,
    launch: impl FnOnce(ClusterSpec) -> Fut,
    normalize: impl Fn(&str) -> String,
) -> datatest_stable::Result<()>
where
    C: Cluster,
    E: Into<BoxError>,
    Fut: Future<Output = Result<C, E>>,
{
    let scenario = atrest_scenario::load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    let mut sim = SimCluster::new(scenario.cluster_spec());
    let prepared = scenario.prepare(&RunOptions::default())?;
    let on_sim: Report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut sim, &mut |_: &_| {}));

    let on_real = runtime.block_on(async {
        let mut cluster = launch(scenario.cluster_spec()).await.map_err(Into::into)?;
        let prepared = scenario.prepare(&RunOptions::default())?;
        let mut report =
            atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}).await;
        if report.outcome != Outcome::Passed {
            cluster.keep_logs();
            report.logs = cluster.log_dir().map(|p| p.display().to_string());
        }
        cluster.shutdown().await?;
        Ok::<_, BoxError>(report)
    })?;

    let (a, b) = (
        serde_json::to_string_pretty(&on_sim.comparable())?,
        normalize(&serde_json::to_string_pretty(&on_real.comparable())?),
    );
    if a != b {
        return Err(format!(
            "{}: sim and {backend} disagree:\n{}\n--- sim ---\n{}\n--- {backend} ---\n{}",
            scenario.name,
            diff(&a, &b, backend),
            on_sim.to_text(),
            on_real.to_text()
        )
        .into());
    }
    if on_real.outcome != Outcome::Passed {
        return Err(
            format!("{} failed on both backends:\n{}", scenario.name, on_real.to_text()).into()
        );
    }
    Ok(())
}

/// The lines that differ, numbered.
fn diff(a: &str, b: &str, backend: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let width = backend.len().max(3) + 1;
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(""), b.get(i).copied().unwrap_or(""));
        if x != y {
            out.push_str(&format!(
                "line {}:\n  {:width$} {x}\n  {:width$} {y}\n",
                i + 1,
                "sim:",
                format!("{backend}:")
            ));
        }
    }
    out
}
