use super::*;

fn spec(path: Option<&str>) -> ClusterSpec {
    ClusterSpec {
        apiservers: vec![ApiServerSpec {
            encryption_config: path.map(str::to_owned),
            automatic_reload: false,
        }],
        kms_plugins: Vec::new(),
    }
}

fn secret(name: &str, value: &[u8]) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, "default", name),
        data: Data(BTreeMap::from([("password".to_owned(), value.to_vec())])),
        resource_version: None,
    }
}

const AESCBC: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        \
secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n";

#[tokio::test]
async fn plaintext_then_encrypted_after_restart() {
    let mut c = SimCluster::new(spec(Some("/etc/enc.yaml")));
    c.write_file("/etc/enc.yaml", b"").await.unwrap();
    let failed = c.start_apiserver(0).await.unwrap().unwrap_err();
    assert_eq!(
        failed,
        StartFailure::Exited {
            code: Some(1),
            err: Some(
                "error while parsing file: error while loading file: encryption provider \
                 configuration file \"/etc/enc.yaml\" is empty"
                    .to_owned()
            )
        }
    );
    c.write_file("/etc/enc.yaml", AESCBC.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    let created = c.create(0, &secret("s1", b"hunter2")).await.unwrap().unwrap();
    let raw = c.raw_get("/registry/secrets/default/s1").await.unwrap().unwrap();
    assert!(raw.value.starts_with(b"k8s:enc:aescbc:v1:key1:"));
    assert_eq!(created.resource_version, Some(raw.mod_revision.to_string()));
    let got = c.get(0, &created.id).await.unwrap().unwrap();
    assert_eq!(got.data, secret("s1", b"hunter2").data);

    // A no-op update keeps the resourceVersion.
    let same = c.update(0, &got).await.unwrap().unwrap();
    assert_eq!(same.resource_version, got.resource_version);
    // A real change moves it and a stale precondition conflicts.
    let changed = c.update(0, &secret("s1", b"new")).await.unwrap().unwrap();
    assert_ne!(changed.resource_version, got.resource_version);
    let conflict = c.update(0, &got).await.unwrap().unwrap_err();
    assert_eq!(conflict.reason, "Conflict");
}

#[tokio::test]
async fn unreadable_object_errors_and_not_ready() {
    let mut c = SimCluster::new(spec(None));
    c.start_apiserver(0).await.unwrap().unwrap();
    c.create(0, &secret("s1", b"x")).await.unwrap().unwrap();
    c.stop_apiserver(0).await.unwrap();
    let no_identity = AESCBC.replace("  - identity: {}\n", "");
    c.write_file("/etc/enc.yaml", no_identity.as_bytes()).await.unwrap();
    c.configure_apiserver(
        0,
        ApiServerSpec { encryption_config: Some("/etc/enc.yaml".into()), automatic_reload: false },
    )
    .unwrap();
    let started = c.start_apiserver(0).await.unwrap();
    assert!(matches!(started, Err(StartFailure::NotReady { .. })), "{started:?}");
    let err = c.get(0, &secret("s1", b"").id).await.unwrap().unwrap_err();
    assert_eq!(
        err.message,
        "Internal error occurred: StorageError: corrupt object, Code: 7, Key: /secrets/default/s1, \
         ResourceVersion: 0, AdditionalErrorMsg: data from the storage is not transformable \
         revision=0: no matching prefix found"
    );
}
