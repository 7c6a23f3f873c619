//! Failures are tested as carefully as successes: every scenario in `tests/failing/` must fail
//! on sim with the exit code its first line names (`# exit: 1` a failed expectation, `# exit: 2`
//! a harness error), and its report is pinned. (`no_loss.rs` makes the no-loss check fail.)

use std::path::Path;

use atrest_scenario::{Outcome, RunOptions};
use atrest_sim::SimCluster;

fn run_failing(path: &Path) -> datatest_stable::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let expected: i32 = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# exit: "))
        .and_then(|c| c.trim().parse().ok())
        .ok_or("the first line must be `# exit: 1` or `# exit: 2`")?;
    let scenario = atrest_scenario::parse(path, &text)?;
    let prepared = scenario.prepare(&RunOptions::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut cluster = SimCluster::new(scenario.cluster_spec());
    let report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}));
    assert_ne!(report.outcome, Outcome::Passed, "{}", report.to_text());
    assert_eq!(report.outcome.exit_code(), expected, "{}", report.to_text());
    insta::with_settings!({ snapshot_path => "snapshots/failing", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_json_snapshot!(scenario.name.clone(), report.comparable());
    });
    Ok(())
}

datatest_stable::harness! {
    { test = run_failing, root = "tests/failing", pattern = r"^[^/]+\.yaml$" },
}
