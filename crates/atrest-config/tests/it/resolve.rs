//! `GroupResource`, `ResourcePlan` and the etcd-key mapping.

use atrest_config::decode::decode;
use atrest_config::resolve::{
    BuildError, BuildOptions, GroupResource, Lookup, ResourcePlan, group_resource_for_etcd_key,
};
use atrest_config::{EncryptionConfiguration, ProviderKind};

/// Upstream's `ParseGroupResource` table (k8s.io/apimachinery pkg/runtime/schema/group_version.go).
#[test]
fn parse_splits_at_the_first_dot() {
    let cases = [
        ("secrets", "", "secrets", "secrets"),
        ("configmaps.", "", "configmaps", "configmaps"),
        ("*.", "", "*", "*"),
        ("*.apps", "apps", "*", "*.apps"),
        ("*.*", "*", "*", "*.*"),
        (
            "pandas.awesome.bears.example",
            "awesome.bears.example",
            "pandas",
            "pandas.awesome.bears.example",
        ),
    ];
    for (input, group, resource, display) in cases {
        let gr = GroupResource::parse(input);
        assert_eq!((gr.group.as_str(), gr.resource.as_str()), (group, resource), "{input}");
        assert_eq!(gr.to_string(), display, "{input}");
    }
    assert_eq!(GroupResource::parse("*.").yaml_string(), "*.");
}

fn config(yaml: &str) -> EncryptionConfiguration {
    let doc = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{yaml}"
    );
    decode(doc.as_bytes()).expect("decodes").config
}

fn kinds(lookup: Lookup<'_>) -> Option<Vec<ProviderKind>> {
    match lookup {
        Lookup::Providers(ps) => Some(ps.iter().filter_map(|p| p.kind()).collect()),
        Lookup::BareIdentity => None,
    }
}

const KEY: &str = "c2VjcmV0IGlzIHNlY3VyZQ==";

#[test]
fn lookup_order_is_exact_then_group_then_any_then_bare_identity() {
    let cfg = config(&format!(
        "- resources: [secrets]\n  providers: [aescbc: {{keys: [{{name: k, secret: {KEY}}}]}}]\n\
         - resources: ['*.apps']\n  providers: [aesgcm: {{keys: [{{name: k, secret: {KEY}}}]}}]\n\
         - resources: [configmaps]\n  providers: [identity: {{}}]\n"
    ));
    let plan = ResourcePlan::build(&cfg).expect("plan");
    assert_eq!(
        kinds(plan.lookup(&GroupResource::parse("secrets"))),
        Some(vec![ProviderKind::Aescbc])
    );
    assert_eq!(
        kinds(plan.lookup(&GroupResource::parse("deployments.apps"))),
        Some(vec![ProviderKind::Aesgcm])
    );
    assert_eq!(kinds(plan.lookup(&GroupResource::parse("pods"))), None);
    assert_eq!(
        plan.matched_rule(&GroupResource::parse("deployments.apps")),
        Some(&GroupResource::parse("*.apps"))
    );
    let rules: Vec<String> = plan.entries().map(|(gr, _)| gr.to_string()).collect();
    assert_eq!(rules, ["secrets", "*.apps", "configmaps"]);

    let any = config("- resources: ['*.*']\n  providers: [identity: {}]\n");
    let plan = ResourcePlan::build(&any).expect("plan");
    assert_eq!(
        kinds(plan.lookup(&GroupResource::parse("foos.cr.bar.com"))),
        Some(vec![ProviderKind::Identity])
    );
}

#[test]
fn same_resource_in_two_entries_appends_read_fallbacks() {
    let cfg = config(&format!(
        "- resources: [secrets]\n  providers: [aescbc: {{keys: [{{name: k, secret: {KEY}}}]}}]\n\
         - resources: [secrets., configmaps]\n  providers: [identity: {{}}]\n"
    ));
    let plan = ResourcePlan::build(&cfg).expect("plan");
    assert_eq!(
        kinds(plan.lookup(&GroupResource::parse("secrets"))),
        Some(vec![ProviderKind::Aescbc, ProviderKind::Identity])
    );
    assert_eq!(
        kinds(plan.lookup(&GroupResource::parse("configmaps"))),
        Some(vec![ProviderKind::Identity])
    );
}

#[test]
fn masking_and_the_kmsv1_gate_follow_upstream_order() {
    let masked = config(
        "- resources: ['*.*']\n  providers: [identity: {}]\n- resources: [secrets]\n  providers: [identity: {}]\n",
    );
    let err = ResourcePlan::build(&masked).expect_err("masked");
    assert!(matches!(err, BuildError::Masked { entry: 1, index: 0, .. }));
    assert_eq!(err.to_string(), "resource \"secrets\" is masked by earlier rule \"*.*\"");

    let kms = config(
        "- resources: [secrets]\n  providers: [kms: {apiVersion: v1, name: k, endpoint: 'unix:///k'}]\n",
    );
    // `build` does not check the gate; `build_with` does.
    assert!(ResourcePlan::build(&kms).is_ok());
    let gated = BuildOptions { kmsv1_enabled: false, check_kmsv1_gate: true };
    assert!(matches!(
        ResourcePlan::build_with(&kms, &gated),
        Err(BuildError::KmsV1Disabled { entry: 0, provider: 0 })
    ));
    let enabled = BuildOptions { kmsv1_enabled: true, check_kmsv1_gate: true };
    assert!(ResourcePlan::build_with(&kms, &enabled).is_ok());
}

/// Expected paths from kubernetes/kubernetes test/integration/etcd/data.go (`ExpectedEtcdPath`).
#[test]
fn etcd_keys_map_to_group_resources() {
    let cases = [
        ("/registry/secrets/ns/name", Some(("", "secrets"))),
        ("/registry/configmaps/ns/cm1", Some(("", "configmaps"))),
        ("/registry/deployments/ns/n", Some(("apps", "deployments"))),
        ("/registry/jobs/ns/job1", Some(("batch", "jobs"))),
        ("/registry/cronjobs/ns/cj", Some(("batch", "cronjobs"))),
        ("/registry/ingress/ns/ingress3", Some(("networking.k8s.io", "ingresses"))),
        ("/registry/minions/node1", Some(("", "nodes"))),
        ("/registry/services/specs/ns/service1", Some(("", "services"))),
        ("/registry/services/endpoints/ns/ep1name", Some(("", "endpoints"))),
        ("/registry/controllers/ns/rc1", Some(("", "replicationcontrollers"))),
        ("/registry/events/ns/event1", Some(("", "events"))),
        ("/registry/leases/ns/l", Some(("coordination.k8s.io", "leases"))),
        ("/registry/clusterroles/crole3", Some(("rbac.authorization.k8s.io", "clusterroles"))),
        ("/registry/cr.bar.com/foos/ns/cr1foo", Some(("cr.bar.com", "foos"))),
        ("/registry/awesome.bears.com/pandas/cr3panda", Some(("awesome.bears.com", "pandas"))),
        (
            "/registry/apiregistration.k8s.io/apiservices/as2.foo.com",
            Some(("apiregistration.k8s.io", "apiservices")),
        ),
        (
            "/registry/apiextensions.k8s.io/customresourcedefinitions/x.y",
            Some(("apiextensions.k8s.io", "customresourcedefinitions")),
        ),
        ("/registry/ranges/serviceips", None),
        ("/registry/masterleases/10.0.0.1", None),
        ("/other/secrets/ns/name", None),
        ("/registry/secretsx/ns/name", None),
        ("/registry/cr.bar.com", None),
    ];
    for (key, want) in cases {
        let got = group_resource_for_etcd_key(key, "/registry");
        assert_eq!(got, want.map(|(g, r)| GroupResource::new(g, r)), "{key}");
    }
    // Prefix spelling and custom prefixes (TestKMSv2ProviderLegacyData uses one).
    let prefix = "43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry";
    let key = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry/secrets/kms-v2-legacy-data/s";
    assert_eq!(group_resource_for_etcd_key(key, prefix), Some(GroupResource::new("", "secrets")));
    assert_eq!(
        group_resource_for_etcd_key("/registry/secrets/a/b", "registry/"),
        Some(GroupResource::new("", "secrets"))
    );
}
