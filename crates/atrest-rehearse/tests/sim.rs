//! Every pair of the table is planned, and both the plan and the naive switch run on the
//! simulator: the plan must pass (nothing lost, every object where the plan says), the naive
//! switch must do what the model predicted.

mod common;

use atrest_scenario::Outcome;
use atrest_sim::SimCluster;

#[tokio::test(flavor = "current_thread")]
async fn every_pair_rehearses_on_sim() {
    let mut failures = Vec::new();
    for pair in common::pairs() {
        let plan = common::plan_pair(&pair, 3);
        let (rehearsal, naive, opts, _) = common::scenarios(&plan);
        for s in [&rehearsal, &naive] {
            let report = common::run_on(s, &opts, SimCluster::new(s.cluster_spec())).await;
            if report.outcome != Outcome::Passed {
                failures.push(format!("{} / {}:\n{}", pair.name, s.name, report.to_text()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
