use super::*;
use atrest_backend::KmsFault;

fn spec(path: Option<&str>) -> ClusterSpec {
    ClusterSpec {
        apiservers: vec![ApiServerSpec {
            encryption_config: path.map(str::to_owned),
            automatic_reload: false,
            mounts: None,
        }],
        ..ClusterSpec::default()
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
    c.configure_apiserver(0, ApiServerSpec::with_config("/etc/enc.yaml")).unwrap();
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

/// `/readyz` after a restart that leaves stored values unreadable, as v1.37.2 answered it: the
/// storage-readiness hook gives up after a minute, `informer-sync` (stuck Secrets) never does.
#[tokio::test]
async fn storage_readiness_gives_up_after_a_minute_informer_sync_never() {
    let failing = |body: &str| -> Vec<String> {
        body.lines().filter_map(|l| l.strip_prefix("[-]")).map(str::to_owned).collect()
    };
    for (kind, for_ever) in [(Kind::ConfigMap, None), (Kind::Secret, Some("informer-sync"))] {
        let resource = kind.resource();
        let mut c = SimCluster::new(spec(None));
        c.start_apiserver(0).await.unwrap().unwrap();
        let id = ObjectRef::new(kind, "default", "o");
        let object = Object { id, data: secret("o", b"x").data, resource_version: None };
        c.create(0, &object).await.unwrap().unwrap();
        c.stop_apiserver(0).await.unwrap();
        let no_identity =
            AESCBC.replace("  - identity: {}\n", "").replace("[secrets]", &format!("[{resource}]"));
        c.write_file("/etc/enc.yaml", no_identity.as_bytes()).await.unwrap();
        c.configure_apiserver(0, ApiServerSpec::with_config("/etc/enc.yaml")).unwrap();
        assert!(matches!(c.start_apiserver(0).await.unwrap(), Err(StartFailure::NotReady { .. })));
        c.advance_clock(Duration::from_secs(59));
        let (code, body) = c.probe(0, "/readyz?verbose").await.unwrap();
        assert_eq!(code, 500, "{resource}: {body}");
        assert!(
            failing(&body)
                .contains(&"poststarthook/storage-readiness failed: reason withheld".to_owned()),
            "{body}"
        );
        c.advance_clock(Duration::from_secs(1));
        let (code, body) = c.probe(0, "/readyz?verbose").await.unwrap();
        match for_ever {
            None => assert_eq!(code, 200, "{resource}: {body}"),
            Some(check) => {
                assert_eq!(code, 500, "{resource}: {body}");
                assert_eq!(failing(&body), [format!("{check} failed: reason withheld")]);
            }
        }
    }
}

const KMS: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
resources:\n- resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: kms1\n      \
endpoint: unix:///run/kms1.sock\n  - identity: {}\n";

fn stored_key_id(c: &SimCluster, name: &str) -> String {
    let raw = c.etcd.entry(&format!("/registry/secrets/default/{name}")).expect("stored");
    match atrest_transformers::Envelope::parse(&raw.value) {
        atrest_transformers::Envelope::KmsV2 { object: Ok(header), .. } => header.key_id,
        other => panic!("not KMS v2: {other:?}"),
    }
}

/// A new key ID shows at the next one-minute `Status` poll of simulated time, not before: the
/// clock moves only when asked.
#[tokio::test]
async fn kms_key_id_change_shows_at_the_next_status_poll() {
    let mut c = SimCluster::new(ClusterSpec {
        kms_plugins: vec![atrest_backend::KmsPluginSpec {
            name: "kms1".to_owned(),
            socket: "/run/kms1.sock".to_owned(),
        }],
        ..spec(Some("/etc/enc.yaml"))
    });
    assert_eq!(c.kms_endpoint("kms1").as_deref(), Some("unix:///run/kms1.sock"));
    c.write_file("/etc/enc.yaml", KMS.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    c.create(0, &secret("a", b"x")).await.unwrap().unwrap();
    assert_eq!(stored_key_id(&c, "a"), "atrest-kek-1");
    let hash = |id: &str| atrest_transformers::key_id_hash(id);
    let metrics = c.metrics(0).await.unwrap().unwrap();
    assert!(metrics.contains(&hash("atrest-kek-1")), "{metrics}");

    let state = c.kms_plugin("kms1", KmsAction::Rotate).await.unwrap();
    assert_eq!(state.key_id, "atrest-kek-2");
    assert!(c.advance_clock(Duration::from_secs(59)));
    c.create(0, &secret("b", b"x")).await.unwrap().unwrap();
    assert_eq!(stored_key_id(&c, "b"), "atrest-kek-1");
    assert!(!c.metrics(0).await.unwrap().unwrap().contains(&hash("atrest-kek-2")));

    assert!(c.advance_clock(Duration::from_secs(1)));
    c.create(0, &secret("c", b"x")).await.unwrap().unwrap();
    assert_eq!(stored_key_id(&c, "c"), "atrest-kek-2");
    assert!(c.metrics(0).await.unwrap().unwrap().contains(&hash("atrest-kek-2")));
    // Old values still read.
    let got = c.get(0, &secret("a", b"").id).await.unwrap().unwrap();
    assert_eq!(got.data, secret("a", b"x").data);
}

/// A KMS endpoint no plugin of the spec serves fails the start with a text naming it.
#[tokio::test]
async fn kms_endpoint_without_a_plugin_fails_the_start() {
    let mut c = SimCluster::new(spec(Some("/etc/enc.yaml")));
    c.write_file("/etc/enc.yaml", KMS.as_bytes()).await.unwrap();
    let failed = c.start_apiserver(0).await.unwrap().unwrap_err();
    assert!(
        matches!(&failed, StartFailure::Exited { err: Some(e), .. } if e.contains("kms1")),
        "{failed:?}"
    );
}

/// With the plugin down, writes go on with the cached write state for 3 minutes after the last
/// healthy `Status`, then fail with upstream's expiry text; reads go on. Once the plugin is
/// back, the 10 s retry finds it healthy again.
#[tokio::test]
async fn kms_write_state_expires_three_minutes_after_the_last_healthy_status() {
    let mut c = SimCluster::new(ClusterSpec {
        kms_plugins: vec![atrest_backend::KmsPluginSpec {
            name: "kms1".to_owned(),
            socket: "/run/kms1.sock".to_owned(),
        }],
        ..spec(Some("/etc/enc.yaml"))
    });
    c.write_file("/etc/enc.yaml", KMS.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    c.create(0, &secret("a", b"x")).await.unwrap().unwrap();
    c.kms_plugin("kms1", KmsAction::SetFault(KmsFault::Unavailable)).await.unwrap();
    // The start's healthy check holds for 20 s.
    assert_eq!(c.probe(0, "/healthz/kms-providers").await.unwrap(), (200, "ok".to_owned()));
    assert!(c.advance_clock(Duration::from_secs(20)));
    let (code, body) = c.probe(0, "/healthz/kms-providers").await.unwrap();
    assert_eq!(code, 500, "{body}");
    let dial = "rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: \
                desc = \"transport: Error while dialing: dial unix /run/kms1.sock: connect: no such \
                file or directory\"";
    assert_eq!(
        body,
        format!(
            "internal server error: kms-provider-0: failed to perform status section of the \
             healthz check for KMS Provider kms1, error: {dial}"
        )
    );
    // Within the failure's 3 s the raw error comes back (as seen on kube-apiserver v1.37.2).
    let (_, body) = c.probe(0, "/healthz/kms-providers").await.unwrap();
    assert_eq!(body, format!("internal server error: kms-provider-0: {dial}"));

    // Last healthy Status at 0 s: valid until 180 s.
    assert!(c.advance_clock(Duration::from_secs(160)));
    c.create(0, &secret("b", b"x")).await.unwrap().unwrap();
    assert!(c.advance_clock(Duration::from_secs(1)));
    let err = c.create(0, &secret("c", b"x")).await.unwrap().unwrap_err();
    assert_eq!(err.code, 500);
    let hash = atrest_transformers::key_id_hash("atrest-kek-1");
    assert!(
        err.message.starts_with(&format!(
            "Internal error occurred: encryptedDEKSource with keyID hash \"{hash}\" expired at "
        )),
        "{}",
        err.message
    );
    assert!(err.message.contains("(current time is "), "{}", err.message);
    let got = c.get(0, &secret("a", b"").id).await.unwrap().unwrap();
    assert_eq!(got.data, secret("a", b"x").data);

    c.kms_plugin("kms1", KmsAction::ClearFaults).await.unwrap();
    // Failed polls at 60 s, 70 s, … 180 s; the next, at 190 s, finds it healthy.
    assert!(c.advance_clock(Duration::from_secs(9)));
    c.create(0, &secret("c", b"x")).await.unwrap().unwrap();
    assert_eq!(c.probe(0, "/healthz/kms-providers").await.unwrap(), (200, "ok".to_owned()));
}

#[tokio::test]
async fn killed_etcd_fails_the_etcd_checks_keeps_its_data_and_comes_back() {
    let mut c = SimCluster::new(spec(Some("/etc/enc.yaml")));
    c.write_file("/etc/enc.yaml", AESCBC.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    let created = c.create(0, &secret("s1", b"hunter2")).await.unwrap().unwrap();
    assert!(matches!(
        c.start_etcd().await,
        Err(BackendError::MemberState { member: Member::Etcd, .. })
    ));

    c.kill_member(&Member::Etcd, KillSignal::Kill).await.unwrap();
    assert!(!c.etcd_running());
    assert!(c.is_running(0), "the apiserver outlives its etcd");
    let (code, body) = c.probe(0, "/readyz?verbose").await.unwrap();
    assert_eq!(code, 500);
    assert!(body.contains(
        "[+]log ok\n[-]etcd failed: reason withheld\n[-]etcd-readiness failed: reason withheld\n[+]informer-sync ok\n"
    ));
    assert_eq!(c.probe(0, "/livez").await.unwrap().0, 500);
    // Requests that need etcd are not modelled: a backend error, never an answer.
    assert!(c.get(0, &created.id).await.is_err());
    assert!(c.raw_get("/registry/secrets/default/s1").await.is_err());
    assert!(c.kill_member(&Member::Etcd, KillSignal::Term).await.is_err());

    c.start_etcd().await.unwrap();
    assert_eq!(c.probe(0, "/readyz").await.unwrap(), (200, "ok".to_owned()));
    let got = c.get(0, &created.id).await.unwrap().unwrap();
    assert_eq!(got.resource_version, created.resource_version);
}

#[tokio::test]
async fn killed_apiserver_is_stopped_and_starts_again() {
    let mut c = SimCluster::new(spec(Some("/etc/enc.yaml")));
    c.write_file("/etc/enc.yaml", AESCBC.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    c.kill_member(&Member::ApiServer(0), KillSignal::Term).await.unwrap();
    assert!(!c.is_running(0));
    assert!(matches!(
        c.kill_member(&Member::ApiServer(0), KillSignal::Kill).await,
        Err(BackendError::MemberState { .. })
    ));
    assert!(matches!(
        c.kill_member(&Member::KmsPlugin("kms9".into()), KillSignal::Kill).await,
        Err(BackendError::NoSuchKmsPlugin(name)) if name == "kms9"
    ));
    c.start_apiserver(0).await.unwrap().unwrap();
    assert!(c.is_running(0));
}

#[tokio::test]
async fn paused_members_answer_nothing_until_resumed() {
    let mut c = SimCluster::new(spec(Some("/etc/enc.yaml")));
    c.write_file("/etc/enc.yaml", AESCBC.as_bytes()).await.unwrap();
    c.start_apiserver(0).await.unwrap().unwrap();
    let created = c.create(0, &secret("s1", b"hunter2")).await.unwrap().unwrap();

    c.pause_member(&Member::Etcd).await.unwrap();
    assert!(!c.etcd_running());
    assert!(c.pause_member(&Member::Etcd).await.is_err(), "already paused");
    let (code, body) = c.probe(0, "/readyz?verbose").await.unwrap();
    assert_eq!(code, 500);
    assert!(body.contains("[-]etcd failed: reason withheld\n[-]etcd-readiness failed"));
    assert!(c.get(0, &created.id).await.is_err());
    c.resume_member(&Member::Etcd).await.unwrap();
    assert!(c.resume_member(&Member::Etcd).await.is_err(), "not paused");
    assert_eq!(c.probe(0, "/readyz").await.unwrap().0, 200);

    c.pause_member(&Member::ApiServer(0)).await.unwrap();
    assert!(c.probe(0, "/readyz").await.is_err(), "a frozen apiserver answers nothing");
    c.resume_member(&Member::ApiServer(0)).await.unwrap();
    assert!(c.get(0, &created.id).await.unwrap().is_ok());
}
