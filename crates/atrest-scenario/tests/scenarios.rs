//! Every scenario file in `scenarios/` is a test on the `sim` backend: it must pass.

use std::path::Path;

use atrest_scenario::{Outcome, RunOptions};
use atrest_sim::SimCluster;

fn run_on_sim(path: &Path) -> datatest_stable::Result<()> {
    let scenario = atrest_scenario::load(path)?;
    let prepared = scenario.prepare(&RunOptions::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut cluster = SimCluster::new(scenario.cluster_spec());
    let report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}));
    if report.outcome != Outcome::Passed {
        return Err(format!("{} did not pass on sim:\n{}", scenario.name, report.to_text()).into());
    }
    // A passing run has checked something.
    let (held, failed) = report.check_counts();
    assert!(held > 0 && failed == 0, "{}", report.to_text());
    // The whole report is pinned (timings removed): a check that silently stopped checking,
    // or an answer that changed, shows up as a snapshot diff.
    insta::with_settings!({ snapshot_path => "snapshots/passing", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_json_snapshot!(scenario.name.clone(), report.comparable());
    });
    Ok(())
}

datatest_stable::harness! {
    { test = run_on_sim, root = "../../scenarios", pattern = r"^[^/]+\.yaml$" },
}
