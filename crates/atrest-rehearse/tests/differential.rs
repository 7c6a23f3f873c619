//! Every pair of the table, rehearsed on the simulator and on the real control plane (etcd and
//! kube-apiserver as processes): the plan must hold on both, the naive switch must do what the
//! model predicted on both, and the two reports must agree (`Report::comparable`). Needs the
//! binaries of `cargo xtask setup`; runs in nextest's serial `real-cluster` group.

mod common;

use atrest_process::{Assets, ProcessCluster};
use atrest_scenario::Outcome;
use atrest_sim::SimCluster;

async fn differential(name: &str) {
    let assets = Assets::locate().unwrap_or_else(|e| {
        panic!("{e}\nthe real control plane is missing: run `cargo xtask setup` first")
    });
    let pair = common::pairs().into_iter().find(|p| p.name == name).expect("a pair of the table");
    let plan = common::plan_pair(&pair, 2);
    let (rehearsal, naive, opts, _) = common::scenarios(&plan);
    for scenario in [&rehearsal, &naive] {
        let on_sim =
            common::run_on(scenario, &opts, SimCluster::new(scenario.cluster_spec())).await;
        let cluster = ProcessCluster::launch(&assets, scenario.cluster_spec())
            .await
            .unwrap_or_else(|e| panic!("starting etcd: {e}"));
        let on_process = common::run_on(scenario, &opts, cluster).await;
        let (a, b) = (
            serde_json::to_string_pretty(&on_sim.comparable()).expect("json"),
            serde_json::to_string_pretty(&on_process.comparable()).expect("json"),
        );
        assert_eq!(
            a,
            b,
            "{name} / {}: sim and process disagree\n--- sim ---\n{}\n--- process ---\n{}",
            scenario.name,
            on_sim.to_text(),
            on_process.to_text()
        );
        assert_eq!(
            on_process.outcome,
            Outcome::Passed,
            "{name} / {}:\n{}",
            scenario.name,
            on_process.to_text()
        );
    }
}

macro_rules! pairs {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "current_thread")]
        async fn $test() {
            differential($name).await;
        }
    )*};
}

pairs! {
    aescbc_rotation => "aescbc-rotation",
    aesgcm_rotation => "aesgcm-rotation",
    secretbox_rotation => "secretbox-rotation",
    aescbc_to_secretbox => "aescbc-to-secretbox",
    identity_to_aesgcm => "identity-to-aesgcm",
    secretbox_to_identity => "secretbox-to-identity",
    add_configmaps => "add-configmaps",
    ha_rotation => "ha-rotation",
}

#[test]
fn the_table_is_covered() {
    let names: Vec<&str> = common::pairs().iter().map(|p| p.name).collect();
    assert_eq!(names.len(), 8, "a pair added to the table needs a test here: {names:?}");
}
