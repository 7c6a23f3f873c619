//! The planner's decisions, pinned: which steps, in which order, with which chains.

mod common;

use atrest_rehearse::{PlanError, PlanOptions, StepKind, describe_chain};

fn kinds(plan: &atrest_rehearse::Plan) -> Vec<StepKind> {
    plan.steps.iter().map(|s| s.kind).collect()
}

fn chains(plan: &atrest_rehearse::Plan, config: &str) -> Vec<String> {
    plan.config(config)
        .unwrap_or_else(|| panic!("no config {config}"))
        .rules
        .iter()
        .map(|(r, c)| format!("{}: {}", r.yaml_string(), describe_chain(c)))
        .collect()
}

fn pair(name: &str) -> common::Pair {
    common::pairs().into_iter().find(|p| p.name == name).expect("pair")
}

#[test]
fn one_apiserver_rotation_is_promote_rewrite_drop() {
    let plan = common::plan_pair(&pair("aescbc-rotation"), 3);
    use StepKind::*;
    assert_eq!(kinds(&plan), [Current, Promote, Rewrite, Target]);
    assert_eq!(chains(&plan, "promote"), ["secrets: aescbc key2, aescbc key1, identity"]);
    assert_eq!(chains(&plan, "target"), ["secrets: aescbc key2, identity"]);
    // CURRENT has identity as a fallback: plaintext from before encryption is seeded first.
    assert_eq!(chains(&plan, "seed-1"), ["secrets: identity, aescbc key1"]);
}

#[test]
fn ha_rotation_adds_the_key_second_everywhere_first() {
    let plan = common::plan_pair(&pair("ha-rotation"), 3);
    use StepKind::*;
    assert_eq!(kinds(&plan), [Current, Add, Promote, Rewrite, Target]);
    assert_eq!(chains(&plan, "add"), ["secrets: aescbc key1, aescbc key2, identity"]);
    assert_eq!(chains(&plan, "promote"), ["secrets: aescbc key2, aescbc key1, identity"]);
}

#[test]
fn turning_encryption_on_keeps_identity_until_the_rewrite() {
    let plan = common::plan_pair(&pair("identity-to-aesgcm"), 3);
    assert_eq!(chains(&plan, "promote"), ["secrets: aesgcm key1, identity"]);
    assert_eq!(chains(&plan, "target"), ["secrets: aesgcm key1"]);
    let rewrite = plan.steps.iter().position(|s| s.kind == StepKind::Rewrite);
    let target = plan.steps.iter().position(|s| s.kind == StepKind::Target);
    assert!(rewrite < target, "{:?}", kinds(&plan));
}

#[test]
fn turning_encryption_off_puts_identity_first_and_keeps_the_old_key() {
    let plan = common::plan_pair(&pair("secretbox-to-identity"), 3);
    assert_eq!(chains(&plan, "promote"), ["secrets: identity, secretbox key1"]);
    assert_eq!(chains(&plan, "target"), ["secrets: identity"]);
}

#[test]
fn adding_a_read_key_needs_no_rewrite() {
    let from = common::load(
        "a",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0LWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4=\n",
    );
    let to = common::load(
        "b",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0LWtleS1vbmUtMzItYnl0ZXMtbG9uZy4uLi4=\n      - name: key0\n        secret: c2VjcmV0LWtleS10d28tMzItYnl0ZXMtbG9uZy4uLi4=\n",
    );
    let plan = atrest_rehearse::plan(&from, &to, PlanOptions::default()).expect("plan");
    use StepKind::*;
    assert_eq!(kinds(&plan), [Current, Target]);
}

#[test]
fn a_key_name_reused_for_another_secret_has_no_safe_path() {
    let cfg = |secret: &str| {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: {secret}\n"
        )
    };
    let from = common::load("a", &cfg(common::K1));
    let to = common::load("b", &cfg(common::K2));
    let err = atrest_rehearse::plan(&from, &to, PlanOptions::default()).expect_err("unsafe");
    let PlanError::Unsafe { reasons } = &err else { panic!("{err}") };
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with(
            "secrets: aescbc key \"key1\" holds one secret in CURRENT and another in TARGET"
        ),
        "{}",
        reasons[0]
    );
    // Never the key itself.
    assert!(!err.to_string().contains(common::K1) && !err.to_string().contains(common::K2));
}

#[test]
fn rendered_texts_hold_no_key_material() {
    for p in common::pairs() {
        let plan = common::plan_pair(&p, 2);
        let prediction = atrest_rehearse::predict(&plan).expect("prediction");
        let mut texts: Vec<String> =
            plan.runbook("current.yaml", "target.yaml").files.into_iter().map(|(_, t)| t).collect();
        texts.push(plan.naive_scenario("current.yaml", "target.yaml", &prediction));
        texts.push(format!("{plan:?}"));
        for t in texts {
            for k in [common::K1, common::K2, common::K3] {
                assert!(!t.contains(k), "{}: key material in a rendered text:\n{t}", p.name);
            }
        }
    }
}
