//! A step's `name` labels it in every report format: `[ 2 start]` in text, the JUnit test
//! case's name, `name` in JSON; unnamed steps keep `[ 3]`.

use std::path::Path;

use atrest_scenario::{Outcome, RunOptions};
use atrest_sim::SimCluster;

const SCENARIO: &str = "description: named steps
configs:
  key1: {library: aescbc-key1}
steps:
  - name: write-key1
    writeConfig: {config: key1}
  - {name: start, start: {expect: ready}}
  - create: {secret: app, data: {password: x}}
";

#[test]
fn names_label_steps_in_every_report() {
    let scenario = atrest_scenario::parse(Path::new("named.yaml"), SCENARIO).expect("loads");
    let prepared = scenario.prepare(&RunOptions::default()).expect("renders");
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut cluster = SimCluster::new(scenario.cluster_spec());
    let report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}));
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.to_text());

    let text = report.to_text();
    let step_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(
        step_lines,
        [
            "ok    [ 1 write-key1] line 5   write config key1 where the flag points",
            "ok    [ 2 start] line 7   start all apiservers",
            "ok    [ 3] line 8   create Secret default/app",
        ]
    );

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    let names: Vec<_> =
        json["steps"].as_array().expect("steps").iter().map(|s| s.get("name")).collect();
    assert_eq!(names, [Some(&"write-key1".into()), Some(&"start".into()), None]);

    let junit = report.to_junit();
    for case in [
        "name=\"[ 1 write-key1] write config key1 where the flag points\"",
        "name=\"[ 2 start] start all apiservers\"",
        "name=\"[ 3] create Secret default/app\"",
    ] {
        assert!(junit.contains(case), "{case} not in\n{junit}");
    }
}
