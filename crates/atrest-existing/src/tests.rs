use super::*;

fn offline() -> ExistingCluster {
    // A client that is never used to send anything: these tests check the name mapping.
    let config = kube::Config::new("https://127.0.0.1:1".parse().expect("a URL"));
    let client = kube::Client::try_from(config).expect("a client");
    ExistingCluster {
        api: ObjectApi::new(client),
        raw: None,
        prefix: "/registry".to_owned(),
        run: "0a1b2c3d".to_owned(),
        names: Mutex::new(BTreeMap::new()),
        created: BTreeSet::new(),
        visible: Vec::new(),
    }
}

#[tokio::test]
async fn scenario_namespaces_map_to_scratch_ones_and_back() {
    let c = offline();
    assert_eq!(c.storage_namespace("default"), "atrest-0a1b2c3d-default");
    let o = Object {
        id: ObjectRef::new(Kind::Secret, "atrest-0a1b2c3d-default", "s"),
        data: atrest_backend::Data::default(),
        resource_version: None,
    };
    assert_eq!(c.as_scenario(o).id.namespace, "default");
    assert_eq!(
        c.stored(&ObjectRef::new(Kind::Secret, "default", "s")).namespace,
        "atrest-0a1b2c3d-default"
    );
}

#[tokio::test]
async fn long_namespaces_stay_valid_and_distinct() {
    let c = offline();
    let a = c.storage_namespace(&"a".repeat(63));
    let b = c.storage_namespace(&format!("{}b", "a".repeat(62)));
    assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
    assert_ne!(a, b);
    assert!(a.starts_with("atrest-0a1b2c3d-"));
    assert!(!a.contains("--"), "{a}");
    assert_eq!(c.scenario_namespace(&a), "a".repeat(63));
}

#[tokio::test]
async fn etcd_keys_outside_the_scratch_namespaces_are_refused() {
    let mut c = offline();
    assert_eq!(c.key_parts("/registry/secrets/ns/name"), Some(("secrets", "ns", "name")));
    assert_eq!(c.key_parts("/registry/secrets/ns"), None);
    assert_eq!(c.key_parts("/other/secrets/ns/name"), None);
    let e = c.raw_get("/registry/secrets/kube-system/bootstrap-token").await.expect_err("refused");
    assert!(atrest_backend::error_chain(&e).contains("outside this run's scratch namespaces"));
    // A key of its own without an etcd endpoint names the flags to give.
    let e = c.raw_get("/registry/secrets/atrest-0a1b2c3d-default/s").await.expect_err("no etcd");
    assert!(e.to_string().contains("--etcd"), "{e}");
}

#[tokio::test]
async fn apiserver_and_file_steps_are_refused() {
    let mut c = offline();
    assert_eq!(c.controls(), Controls::API_ONLY);
    let e = c.start_apiserver(0).await.expect_err("refused");
    assert_eq!(e.to_string(), "the existing backend cannot start an apiserver");
    let e = c.write_file("/etc/kubernetes/enc/c.yaml", b"x").await.expect_err("refused");
    assert_eq!(e.to_string(), "the existing backend cannot write the files the apiservers read");
}

/// The view: this run's scratch namespaces without the cluster's CA ConfigMap, and the visible
/// objects under their own names (reads and writes reach them there).
#[tokio::test]
async fn the_view_is_the_scratch_namespaces_and_the_visible_objects() {
    let mut c = offline();
    let own = ObjectRef::new(Kind::ConfigMap, "kube-system", "extension-apiserver-authentication");
    c.visible.push(own.clone());
    c.created.insert("atrest-0a1b2c3d-default".to_owned());
    let mine = |ns: &str| ns == "atrest-0a1b2c3d-default";
    assert!(c.in_view("/registry/configmaps/atrest-0a1b2c3d-default/app", mine));
    assert!(!c.in_view("/registry/configmaps/atrest-0a1b2c3d-default/kube-root-ca.crt", mine));
    assert!(c.in_view("/registry/secrets/atrest-0a1b2c3d-default/kube-root-ca.crt", mine));
    assert!(c.in_view("/registry/configmaps/kube-system/extension-apiserver-authentication", mine));
    assert!(!c.in_view("/registry/secrets/kube-system/extension-apiserver-authentication", mine));
    assert!(!c.in_view("/registry/configmaps/kube-system/kubeadm-config", mine));
    assert_eq!(c.stored(&own), own);
    assert_eq!(
        c.stored(&ObjectRef::new(Kind::ConfigMap, "kube-system", "kubeadm-config")).namespace,
        "atrest-0a1b2c3d-kube-system"
    );
    // A visible key passes the check (and then needs etcd).
    let e = c
        .raw_get("/registry/configmaps/kube-system/extension-apiserver-authentication")
        .await
        .expect_err("no etcd");
    assert!(e.to_string().contains("--etcd"), "{e}");
}
