//! [`ProcessCluster`] end to end through the `Cluster` trait: files at mapped paths, a start
//! failure, object operations through the apiserver, raw etcd reads, stop and shutdown.
//!
//! Expected texts: the start failure's err is compared with atrest-config's `load` for the same
//! path (that model is checked against the real apiserver in `start_failures`); stored prefixes
//! are upstream's `k8s:enc:aescbc:v1:<key>:`; HTTP codes and reasons are upstream's
//! `metav1.StatusReason*` constants.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use atrest_backend::{
    ApiServerSpec, BackendError, Cluster, ClusterSpec, Data, ExitHow, Kind, KmsAction, KmsFault,
    KmsPluginSpec, Member, Object, ObjectRef, StartFailure,
};
use atrest_config::load::{LoadOptions, load};
use atrest_process::ProcessCluster;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{all_dead, assets};

const CONFIG: &str = "/etc/kubernetes/enc/encryption.yaml";

fn aescbc_config() -> String {
    let key = STANDARD.encode([7u8; 32]);
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [\"secrets\"]\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: {key}\n"
    )
}

fn object(kind: Kind, name: &str, data: &[(&str, &[u8])], rv: Option<String>) -> Object {
    Object {
        id: ObjectRef::new(kind, "default", name),
        data: Data(data.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()),
        resource_version: rv,
    }
}

fn spec(config: &str) -> ApiServerSpec {
    ApiServerSpec::with_config(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_cluster_end_to_end() {
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.backend_name(), "process");
    assert_eq!(c.apiserver_count(), 1);
    assert!(!c.is_running(0));

    // Files: `/etc/...` lands under the file root, 0600, directories created.
    let root = c.file_root().expect("a real file tree");
    c.write_file(CONFIG, aescbc_config().as_bytes()).await.expect("write");
    let host = std::path::PathBuf::from(format!("{root}{CONFIG}"));
    assert_eq!(c.host_path(CONFIG).expect("map"), host);
    assert_eq!(std::fs::read(&host).expect("read back"), aescbc_config().as_bytes());
    assert_eq!(std::fs::metadata(&host).expect("stat").permissions().mode() & 0o777, 0o600);
    assert!(c.host_path("relative/path").is_err());
    assert!(c.host_path("/etc/../../escape").is_err());

    // A start failure: the config names a missing file.
    let missing = "/etc/kubernetes/enc/missing.yaml";
    c.configure_apiserver(0, spec(missing)).expect("configure");
    let outcome = c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}"));
    let missing_host = format!("{root}{missing}");
    let want = match load(&missing_host, std::fs::read(&missing_host), &LoadOptions::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("atrest-config loads a missing file"),
    };
    assert_eq!(outcome, Err(StartFailure::Exited { code: Some(1), err: Some(want) }));
    assert!(!c.is_running(0));
    assert!(matches!(
        c.get(0, &ObjectRef::new(Kind::Secret, "default", "x")).await,
        Err(BackendError::NotRunning(0))
    ));
    assert!(matches!(
        c.configure_apiserver(1, ApiServerSpec::default()),
        Err(BackendError::NoSuchApiServer { index: 1, count: 1 })
    ));

    // Ready with the aescbc config.
    c.configure_apiserver(0, spec(CONFIG)).expect("configure");
    assert_eq!(c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
    assert!(c.is_running(0));

    // Create, get, list.
    let bytes: &[u8] = &[0, 159, 146, 150, 255];
    let created = c
        .create(0, &object(Kind::Secret, "s1", &[("bin", bytes), ("k", b"v")], None))
        .await
        .expect("backend")
        .expect("create");
    let rv1 = created.resource_version.clone().expect("a resourceVersion");
    assert_eq!(created.data.0["bin"], bytes);
    let got = c.get(0, &created.id).await.expect("backend").expect("get");
    assert_eq!(got, created);
    let all = c.list(0, Kind::Secret, None).await.expect("backend").expect("list");
    assert!(all.contains(&created), "{all:?}");
    let in_ns = c.list(0, Kind::Secret, Some("default")).await.expect("backend").expect("list");
    assert_eq!(in_ns, vec![created.clone()]);

    // Raw reads: the value is encrypted under key1, its revision is the resourceVersion.
    let key = created.id.etcd_key(c.etcd_prefix());
    assert_eq!(key, "/registry/secrets/default/s1");
    let raw = c.raw_get(&key).await.expect("raw get").expect("present");
    assert!(raw.value.starts_with(b"k8s:enc:aescbc:v1:key1:"));
    assert_eq!(raw.mod_revision.to_string(), rv1);
    let listed = c.raw_list("/registry/secrets/default/").await.expect("raw list");
    assert_eq!(listed, vec![raw.clone()]);
    assert_eq!(c.raw_get("/registry/secrets/default/none").await.expect("raw get"), None);

    // Update with the current resourceVersion changes the data and the revision.
    let updated = c
        .update(0, &object(Kind::Secret, "s1", &[("k", b"w")], Some(rv1.clone())))
        .await
        .expect("backend")
        .expect("update");
    assert_eq!(updated.data.0, BTreeMap::from([("k".to_owned(), b"w".to_vec())]));
    assert_ne!(updated.resource_version.as_deref(), Some(rv1.as_str()));
    // A stale resourceVersion is the apiserver's 409.
    let stale = c
        .update(0, &object(Kind::Secret, "s1", &[("k", b"x")], Some(rv1)))
        .await
        .expect("backend")
        .expect_err("stale update");
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    // ConfigMaps: strings.
    let cm = c
        .create(0, &object(Kind::ConfigMap, "cm", &[("a", b"text")], None))
        .await
        .expect("backend")
        .expect("create configmap");
    assert_eq!(c.get(0, &cm.id).await.expect("backend").expect("get"), cm);

    // Delete; then it is the apiserver's 404.
    c.delete(0, &created.id).await.expect("backend").expect("delete");
    let gone = c.get(0, &created.id).await.expect("backend").expect_err("deleted");
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    assert_eq!(c.raw_get(&key).await.expect("raw get"), None);

    let metrics = c.metrics(0).await.expect("backend").expect("metrics");
    assert!(metrics.contains("apiserver_request_total"), "no apiserver_request_total");

    // Stop; a stopped apiserver answers nothing, and starting it again works.
    c.stop_apiserver(0).await.expect("stop");
    assert!(!c.is_running(0));
    assert!(matches!(c.metrics(0).await, Err(BackendError::NotRunning(0))));
    assert_eq!(c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
    let after = c.get(0, &cm.id).await.expect("backend").expect("get after restart");
    assert_eq!(after, cm);

    // Removing a file; a missing one is fine.
    c.remove_file(CONFIG).await.expect("remove");
    assert!(!host.exists());
    c.remove_file(CONFIG).await.expect("remove again");

    let log_dir = c.log_dir().expect("log dir");
    let pids = [c.etcd().pid(), c.apiserver(0).and_then(|a| a.pid())];
    c.shutdown().await.expect("shutdown");
    all_dead(&pids);
    assert!(!log_dir.exists(), "{} was not removed", log_dir.display());
}

/// `keep_logs` keeps the whole tree (etcd's and the apiservers' directories included) after the
/// cluster is dropped; without it, dropping removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_logs_keeps_the_tree() {
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .with_not_ready_timeout(Duration::from_secs(20));
    c.configure_apiserver(0, spec("/missing.yaml")).expect("configure");
    let outcome = c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, Err(StartFailure::Exited { .. })), "{outcome:?}");
    let dir = c.log_dir().expect("log dir");
    let etcd_dir = c.etcd().dir().to_owned();
    let apiserver_log = c.apiserver(0).expect("prepared").log();
    c.keep_logs();
    drop(c);
    assert!(etcd_dir.starts_with(&dir) && etcd_dir.is_dir());
    assert!(apiserver_log.starts_with(&dir) && apiserver_log.is_file());
    std::fs::remove_dir_all(&dir).expect("remove kept dir");
}

/// A Secret the new config cannot read: the apiserver keeps running without becoming ready;
/// the start reports the failing `/readyz` checks and the process still answers requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unready_apiserver_keeps_running() {
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .with_not_ready_timeout(Duration::from_secs(8));
    assert_eq!(c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
    let s1 = object(Kind::Secret, "s1", &[("k", b"v")], None);
    c.create(0, &s1).await.expect("backend").expect("create with identity");
    c.write_file(CONFIG, aescbc_config().as_bytes()).await.expect("write");
    c.configure_apiserver(0, spec(CONFIG)).expect("configure");
    c.stop_apiserver(0).await.expect("stop");
    let outcome = c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}"));
    let Err(StartFailure::NotReady { failing }) = outcome else {
        panic!("expected NotReady, got {outcome:?}");
    };
    assert!(failing.iter().any(|f| f == "informer-sync"), "{failing:?}");
    assert!(c.is_running(0));
    let (code, body) = c.apiserver(0).expect("started").readyz().await.expect("readyz");
    assert_eq!(code, 500);
    assert_eq!(atrest_process::failing_checks(&body), failing);
    // It answers: the unreadable Secret is the apiserver's 500.
    let err = c.get(0, &s1.id).await.expect("backend").expect_err("unreadable");
    assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    c.shutdown().await.expect("shutdown");
}

/// Nothing in a started cluster's tree (logs, PKI, kubeconfig, encryption configs, etcd's data)
/// is open to group or others: the tree holds keys, and its top directory is 0700 only as long as
/// nobody copies it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tree_is_private() {
    let spec0 = ClusterSpec { apiservers: vec![spec(CONFIG)], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0).await.unwrap_or_else(|e| panic!("{e}"));
    c.write_file(CONFIG, aescbc_config().as_bytes()).await.expect("write");
    let outcome = c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome, Ok(()));
    let secret = object(Kind::Secret, "private", &[("k", b"v")], None);
    c.create(0, &secret).await.expect("backend").expect("create");
    let dir = c.log_dir().expect("log dir");
    let mut open = Vec::new();
    let mut files = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("entry");
            let meta = entry.path().symlink_metadata().expect("stat");
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
            }
            if mode & 0o077 != 0 {
                open.push(format!("{:o} {}", mode, entry.path().display()));
            }
        }
    }
    let top = std::fs::metadata(&dir).expect("stat").permissions().mode() & 0o777;
    c.shutdown().await.expect("shutdown");
    assert_eq!(top, 0o700, "{}", dir.display());
    assert!(files > 10, "only {files} files under {}", dir.display());
    assert!(open.is_empty(), "readable by group or others:\n{}", open.join("\n"));
}

/// A cluster with a KMS plugin: the plugin serves on the socket's path below the cluster's
/// tree (0600), its key file sits outside the tree (0600), the apiserver encrypts through it
/// (upstream's `k8s:enc:kms:v2:<provider>:` prefix), the plugin rotates on request, and
/// shutdown leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_plugin_runs_with_the_cluster() {
    let spec0 = ClusterSpec {
        apiservers: vec![spec(CONFIG)],
        kms_plugins: vec![KmsPluginSpec {
            name: "kms1".to_owned(),
            socket: "/var/run/kmsplugin/kms1.sock".to_owned(),
        }],
        ..ClusterSpec::default()
    };
    let mut c = ProcessCluster::launch(&assets(), spec0).await.unwrap_or_else(|e| panic!("{e}"));
    let root = c.file_root().expect("a real file tree");
    let socket = format!("{root}/var/run/kmsplugin/kms1.sock");
    assert_eq!(c.kms_endpoint("kms1"), Some(format!("unix://{socket}")));
    assert_eq!(c.kms_endpoint("kms2"), None);
    assert_eq!(std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777, 0o600);
    let dir = c.log_dir().expect("instance dir");
    let key_file = dir.join("kms-kms1.keys");
    assert_eq!(std::fs::metadata(&key_file).expect("keys").permissions().mode() & 0o777, 0o600);

    let config = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [\"secrets\"]\n    providers:\n      - kms:\n          apiVersion: v2\n          name: kms1\n          endpoint: unix://{socket}\n      - identity: {{}}\n"
    );
    c.write_file(CONFIG, config.as_bytes()).await.expect("write");
    assert_eq!(c.start_apiserver(0).await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
    let secret = object(Kind::Secret, "through-kms", &[("k", b"v")], None);
    c.create(0, &secret).await.expect("backend").expect("create");
    let raw =
        c.raw_get("/registry/secrets/default/through-kms").await.expect("raw").expect("stored");
    assert!(raw.value.starts_with(b"k8s:enc:kms:v2:kms1:"), "{raw:?}");

    let state = c.kms_plugin("kms1", KmsAction::Status).await.expect("status");
    assert_eq!(state.key_id, "atrest-kek-1");
    let state = c.kms_plugin("kms1", KmsAction::Rotate).await.expect("rotate");
    assert_eq!(state.key_id, "atrest-kek-2");
    assert_eq!(state.key_ids, ["atrest-kek-1", "atrest-kek-2"]);
    c.kms_plugin("kms1", KmsAction::SetFault(KmsFault::FailEncrypt)).await.expect("fault");
    c.kms_plugin("kms1", KmsAction::ClearFaults).await.expect("clear");
    assert!(matches!(
        c.kms_plugin("kms2", KmsAction::Rotate).await,
        Err(BackendError::NoSuchKmsPlugin(name)) if name == "kms2"
    ));

    c.shutdown().await.expect("shutdown");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// A member killed behind the cluster's back is what `Cluster::unexpected_exit` reports, with
/// the signal by name and its log; one stopped on purpose is not (issue 18). A stop or start
/// of the dead apiserver reports it too. etcd comes first when both are gone: it is the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_is_an_unexpected_exit() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0).await.unwrap_or_else(|e| panic!("{e}"));
    c.start_apiserver(0).await.expect("start").expect("ready");
    assert_eq!(c.unexpected_exit(), None);
    c.stop_apiserver(0).await.expect("stop");
    assert_eq!(c.unexpected_exit(), None, "stopped on purpose");
    c.start_apiserver(0).await.expect("start").expect("ready");

    let sigkill = |pid: Option<u32>| {
        let pid = i32::try_from(pid.expect("running")).expect("pid fits");
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    };
    sigkill(c.apiserver(0).and_then(|a| a.pid()));
    let exit = reported(&c, Member::ApiServer(0)).await.unwrap_or_else(|t| panic!("{t:?}"));
    assert_eq!(exit.how, ExitHow::Signal { number: 9, name: "SIGKILL" });
    let log = exit.log.expect("a log");
    assert!(log.is_file(), "{}", log.display());
    assert!(log.starts_with(c.log_dir().expect("a log dir")), "{}", log.display());
    assert!(!c.is_running(0));
    // Stopping or starting it again would hide the exit: both report it.
    for result in [c.stop_apiserver(0).await, c.start_apiserver(0).await.map(drop)] {
        assert!(
            matches!(&result, Err(BackendError::MemberExited(e)) if e.member == Member::ApiServer(0)),
            "{result:?}"
        );
    }

    sigkill(c.etcd().pid());
    let exit = reported(&c, Member::Etcd).await.unwrap_or_else(|t| panic!("{t:?}"));
    assert_eq!(
        exit.to_string(),
        format!(
            "etcd exited on its own (killed by SIGKILL (signal 9)); its log is kept at {}",
            exit.log.as_ref().expect("a log").display()
        )
    );
    c.shutdown().await.expect("shutdown");
}

/// `c`'s unexpected exit of `member`, as soon as the waiter thread reaped it; the deadline only
/// bounds a failure.
async fn reported(
    c: &ProcessCluster,
    member: Member,
) -> Result<atrest_backend::MemberExit, atrest_process::TimedOut<Option<atrest_backend::MemberExit>>>
{
    atrest_process::wait_until(
        std::time::Instant::now() + Duration::from_secs(10),
        Duration::from_millis(10),
        || async {
            match c.unexpected_exit() {
                Some(exit) if exit.member == member => std::ops::ControlFlow::Break(exit),
                other => std::ops::ControlFlow::Continue(other),
            }
        },
    )
    .await
}

/// Fault steps through the `Cluster` trait (issue 18): etcd gets SIGTERM and starts again on
/// its data directory (the Secret written before is still there, the apiserver is ready again
/// without a restart), etcd is frozen and thawed, the apiserver gets SIGTERM and SIGKILL (the
/// second while frozen) and starts again. None of these exits is unexpected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_kill_pause_and_start_again() {
    use atrest_backend::KillSignal;

    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets(), spec0).await.unwrap_or_else(|e| panic!("{e}"));
    c.start_apiserver(0).await.expect("start").expect("ready");
    let s1 = object(Kind::Secret, "s1", &[("k", b"v")], None);
    let created = c.create(0, &s1).await.expect("create").expect("created");
    let key = s1.id.etcd_key(c.etcd_prefix());

    c.kill_member(&Member::Etcd, KillSignal::Term).await.expect("SIGTERM to etcd");
    assert!(!c.etcd_running());
    assert_eq!(c.unexpected_exit(), None, "killed on purpose");
    assert!(c.is_running(0), "the apiserver outlives its etcd");
    assert!(matches!(
        c.kill_member(&Member::Etcd, KillSignal::Kill).await,
        Err(BackendError::MemberState { member: Member::Etcd, .. })
    ));
    c.start_etcd().await.expect("etcd again");
    assert!(c.etcd_running());
    assert!(matches!(c.start_etcd().await, Err(BackendError::MemberState { .. })));
    let raw = c.raw_get(&key).await.expect("raw read").expect("kept on the data directory");
    assert_eq!(Some(raw.mod_revision.to_string()), created.resource_version);
    ready_again(&mut c).await;
    let got = c.get(0, &s1.id).await.expect("get").expect("found");
    assert_eq!(got.data, s1.data);

    c.pause_member(&Member::Etcd).await.expect("pause etcd");
    assert!(!c.etcd_running());
    assert!(c.pause_member(&Member::Etcd).await.is_err(), "already paused");
    c.resume_member(&Member::Etcd).await.expect("resume etcd");
    assert!(c.resume_member(&Member::Etcd).await.is_err(), "not paused");
    ready_again(&mut c).await;

    c.kill_member(&Member::ApiServer(0), KillSignal::Term).await.expect("SIGTERM");
    assert!(!c.is_running(0));
    assert_eq!(c.unexpected_exit(), None);
    c.start_apiserver(0).await.expect("start").expect("ready");
    c.pause_member(&Member::ApiServer(0)).await.expect("pause");
    c.kill_member(&Member::ApiServer(0), KillSignal::Kill).await.expect("SIGKILL while frozen");
    assert!(!c.is_running(0));
    assert_eq!(c.unexpected_exit(), None);
    assert!(matches!(
        c.kill_member(&Member::KmsPlugin("kms9".into()), KillSignal::Kill).await,
        Err(BackendError::NoSuchKmsPlugin(name)) if name == "kms9"
    ));
    c.start_apiserver(0).await.expect("start").expect("ready");
    c.shutdown().await.expect("shutdown");
}

/// Polls `/readyz` of apiserver 0 until it answers 200; the deadline only bounds a failure.
async fn ready_again(c: &mut ProcessCluster) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut ticker = atrest_backend::wait::Ticker::new(Some(deadline), Duration::from_millis(200));
    loop {
        let answer = c.probe(0, "/readyz").await.expect("probe");
        if answer.0 == 200 {
            return;
        }
        assert!(ticker.tick().await, "not ready again within a minute: {answer:?}");
    }
}
