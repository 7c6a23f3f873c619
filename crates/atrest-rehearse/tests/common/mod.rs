//! Config pairs every rehearsal test walks, and running a rendered scenario on a cluster.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a part")]

use std::path::Path;

use atrest_backend::Cluster;
use atrest_config::load::{self, LoadOptions};
use atrest_rehearse::{Plan, PlanOptions, Prediction};
use atrest_scenario::{BoundKeys, Outcome, Report, RunOptions};

/// Fixed test keys (never real ones): 32, 16 and 32 bytes.
pub const K1: &str = "c2VjcmV0LWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4=";
pub const K2: &str = "c2VjcmV0LWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4=";
pub const K3: &str = "c2l4dGVlbi1ieXRlcy0xNg==";

fn config(rules: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{rules}"
    )
}

fn keyed(resources: &str, provider: &str, keys: &[(&str, &str)], identity: bool) -> String {
    let mut s = format!("- resources: [{resources}]\n  providers:\n  - {provider}:\n      keys:\n");
    for (n, k) in keys {
        s.push_str(&format!("      - name: {n}\n        secret: {k}\n"));
    }
    if identity {
        s.push_str("  - identity: {}\n");
    }
    s
}

/// A pair of configurations to rehearse.
pub struct Pair {
    pub name: &'static str,
    pub from: String,
    pub to: String,
    pub apiservers: usize,
}

/// The table of the issue: a key rotation per provider type, aescbc → secretbox,
/// identity → aesgcm (encryption turned on over plaintext), secretbox → identity (turned off),
/// configmaps added, and an HA rotation on two apiservers.
pub fn pairs() -> Vec<Pair> {
    let p = |name, from: String, to: String, apiservers| Pair {
        name,
        from: config(&from),
        to: config(&to),
        apiservers,
    };
    vec![
        p(
            "aescbc-rotation",
            keyed("secrets", "aescbc", &[("key1", K1)], true),
            keyed("secrets", "aescbc", &[("key2", K2)], true),
            1,
        ),
        p(
            "aesgcm-rotation",
            keyed("secrets", "aesgcm", &[("key1", K3)], true),
            keyed("secrets", "aesgcm", &[("key2", K2)], true),
            1,
        ),
        p(
            "secretbox-rotation",
            keyed("secrets", "secretbox", &[("key1", K1)], true),
            keyed("secrets", "secretbox", &[("key2", K2)], true),
            1,
        ),
        p(
            "aescbc-to-secretbox",
            keyed("secrets", "aescbc", &[("key1", K1)], true),
            keyed("secrets", "secretbox", &[("box1", K2)], true),
            1,
        ),
        p(
            "identity-to-aesgcm",
            "- resources: [secrets]\n  providers:\n  - identity: {}\n".to_owned(),
            keyed("secrets", "aesgcm", &[("key1", K1)], false),
            1,
        ),
        p(
            "secretbox-to-identity",
            keyed("secrets", "secretbox", &[("key1", K1)], true),
            "- resources: [secrets]\n  providers:\n  - identity: {}\n".to_owned(),
            1,
        ),
        p(
            "add-configmaps",
            keyed("secrets", "aescbc", &[("key1", K1)], true),
            keyed("secrets, configmaps", "aescbc", &[("key1", K1)], true),
            1,
        ),
        p(
            "ha-rotation",
            keyed("secrets", "aescbc", &[("key1", K1)], true),
            keyed("secrets", "aescbc", &[("key2", K2)], true),
            2,
        ),
    ]
}

/// Loads a configuration as kube-apiserver would.
pub fn load(name: &str, text: &str) -> atrest_config::EncryptionConfiguration {
    match load::load(name, Ok(text.as_bytes().to_vec()), &LoadOptions::default()) {
        Ok(l) => l.config,
        Err(e) => panic!("{name} does not load: {e}\n{text}"),
    }
}

/// Plans a pair.
pub fn plan_pair(pair: &Pair, objects: usize) -> Plan {
    let from = load("current.yaml", &pair.from);
    let to = load("target.yaml", &pair.to);
    atrest_rehearse::plan(&from, &to, PlanOptions { apiservers: pair.apiservers, objects })
        .unwrap_or_else(|e| panic!("{}: {e}", pair.name))
}

/// The two scenarios of a plan, parsed, and the options binding the pair's keys.
pub fn scenarios(
    plan: &Plan,
) -> (atrest_scenario::Scenario, atrest_scenario::Scenario, RunOptions, Prediction) {
    let prediction = atrest_rehearse::predict(plan).expect("no KMS in the pairs");
    let rehearsal = plan.rehearsal_scenario("current.yaml", "target.yaml");
    let naive = plan.naive_scenario("current.yaml", "target.yaml", &prediction);
    let parse = |name: &str, text: &str| {
        atrest_scenario::parse_with(Path::new(name), text, |p| {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, p.display().to_string()))
        })
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}\n{text}"))
    };
    let opts = RunOptions { bound_keys: BoundKeys(plan.keys.bindings()), ..RunOptions::default() };
    (parse("rehearsal.yaml", &rehearsal), parse("naive.yaml", &naive), opts, prediction)
}

/// Runs a scenario on a cluster and shuts the cluster down; logs are kept on failure.
pub async fn run_on<C: Cluster>(
    scenario: &atrest_scenario::Scenario,
    opts: &RunOptions,
    mut cluster: C,
) -> Report {
    let prepared = scenario.prepare(opts).expect("templates render");
    let mut report = atrest_scenario::run(scenario, prepared, &mut cluster, &mut |_: &_| {}).await;
    if report.outcome != Outcome::Passed {
        cluster.keep_logs();
        report.logs = cluster.log_dir().map(|p| p.display().to_string());
    }
    let _ = cluster.shutdown().await;
    report
}
