//! For random pairs of valid configurations: every intermediate configuration of the plan
//! loads as kube-apiserver would load it, the rehearsal on the simulator loses nothing and ends
//! with every object current under TARGET, and the naive switch does what the model predicts.

mod common;

use atrest_config::load::{self, LoadOptions};
use atrest_scenario::Outcome;
use atrest_sim::SimCluster;
use proptest::prelude::*;

/// Readers a chain is drawn from. A key name always holds the same secret, so every pair has
/// a safe path (reusing a name for another secret is refused, tested in `plans.rs`).
const POOL: [&str; 7] = [
    "  - identity: {}\n",
    "  - aescbc:\n      keys:\n      - name: cbc1\n        secret: c2VjcmV0LWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4=\n",
    "  - aescbc:\n      keys:\n      - name: cbc2\n        secret: c2VjcmV0LWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4=\n",
    "  - aesgcm:\n      keys:\n      - name: gcm1\n        secret: c2l4dGVlbi1ieXRlcy0xNg==\n",
    "  - aesgcm:\n      keys:\n      - name: gcm2\n        secret: c2VjcmV0LWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4=\n",
    "  - secretbox:\n      keys:\n      - name: box1\n        secret: c2VjcmV0LWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4=\n",
    "  - secretbox:\n      keys:\n      - name: box2\n        secret: c2VjcmV0LWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4=\n",
];

fn chain() -> impl Strategy<Value = Vec<usize>> {
    proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 1..=3).prop_shuffle()
}

/// A rule for `resources` (none, or a chain), and whether a `*.*` rule follows.
fn config() -> impl Strategy<Value = String> {
    (
        proptest::option::of(chain()),
        proptest::option::of(chain()),
        proptest::option::weighted(0.2, chain()),
    )
        .prop_map(|(secrets, configmaps, any)| {
            let mut s = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n".to_owned();
            for (resource, chain) in [("secrets", secrets), ("configmaps", configmaps), ("'*.*'", any)] {
                if let Some(chain) = chain {
                    s.push_str(&format!("- resources: [{resource}]\n  providers:\n"));
                    for i in chain {
                        s.push_str(POOL[i]);
                    }
                }
            }
            if !s.contains("- resources:") {
                s.push_str("- resources: [secrets]\n  providers:\n  - identity: {}\n");
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rehearsals_of_random_pairs_hold_on_sim(from in config(), to in config(), apiservers in 1usize..=2) {
        let pair = common::Pair { name: "random", from, to, apiservers };
        let plan = common::plan_pair(&pair, 1);
        // Every configuration the plan writes loads, with the user's keys in place.
        let bindings = plan.keys.bindings();
        for c in &plan.configs {
            let mut text = plan.config_template(&c.name).expect("a template per config");
            for (alias, (bytes, value)) in &bindings {
                text = text.replace(&format!("${{key:{alias}:{bytes}}}"), value);
            }
            let loaded = load::load(&c.name, Ok(text.clone().into_bytes()), &LoadOptions::default());
            prop_assert!(loaded.is_ok(), "config {} does not load: {:?}\n{text}", c.name, loaded.err().map(|e| e.to_string()));
        }
        if plan.affected().is_empty() {
            // Secrets and ConfigMaps read and write as before: nothing to run (the CLI says so).
            return Ok(());
        }
        let (rehearsal, naive, opts, _) = common::scenarios(&plan);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        for s in [&rehearsal, &naive] {
            let report = runtime.block_on(common::run_on(s, &opts, SimCluster::new(s.cluster_spec())));
            prop_assert_eq!(report.outcome, Outcome::Passed, "{}:\n{}\n{}", s.name, report.to_text(),
                if s.name == "rehearsal" { plan.rehearsal_scenario("current", "target") } else { String::new() });
        }
    }
}
