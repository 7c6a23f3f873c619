//! etcd with TLS and client-certificate auth, apiservers with generated PKI: start, stop, start
//! again while etcd keeps its data, several apiservers on one etcd.

use std::collections::BTreeMap;

use atrest_process::{ApiServerOptions, ControlPlane};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;

use crate::{all_dead, assets};

fn secret(name: &str, value: &str) -> Secret {
    Secret {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        data: Some(BTreeMap::from([("k".to_owned(), ByteString(value.as_bytes().to_vec()))])),
        ..Secret::default()
    }
}

fn data_of(s: &Secret) -> Option<Vec<u8>> {
    s.data.as_ref().and_then(|d| d.get("k")).map(|b| b.0.clone())
}

#[tokio::test]
async fn stop_start_again_and_restart_keep_etcd_data() {
    let mut plane = ControlPlane::start(&assets(), vec![ApiServerOptions::new("kube-apiserver")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let etcd_took = plane.etcd().started_in();
    let apiserver = plane.apiserver(0).expect("apiserver 0");
    eprintln!("etcd ready in {etcd_took:?}, kube-apiserver ready in {:?}", apiserver.started_in());
    let dirs = [plane.etcd().dir().to_owned(), apiserver.dir().to_owned()];
    let mut pids = vec![plane.etcd().pid(), apiserver.pid()];

    let secrets: Api<Secret> = Api::namespaced(apiserver.client(), "default");
    secrets.create(&PostParams::default(), &secret("before", "one")).await.expect("create");

    let apiserver = plane.apiserver_mut(0).expect("apiserver 0");
    let exit = apiserver.stop().await.expect("was running");
    assert!(exit.requested && !apiserver.is_running(), "{exit:?}");
    // Stopped means stopped: the client cannot reach it.
    assert!(secrets.get("before").await.is_err());

    apiserver.start_again().await.unwrap_or_else(|e| panic!("{e}"));
    pids.push(apiserver.pid());
    eprintln!("kube-apiserver started again in {:?}", apiserver.started_in());
    let secrets: Api<Secret> = Api::namespaced(apiserver.client(), "default");
    let got = secrets.get("before").await.expect("get after start again");
    assert_eq!(data_of(&got).as_deref(), Some(&b"one"[..]));

    apiserver.restart().await.unwrap_or_else(|e| panic!("{e}"));
    pids.push(apiserver.pid());
    let got = secrets.get("before").await.expect("get after restart");
    assert_eq!(data_of(&got).as_deref(), Some(&b"one"[..]));

    plane.shutdown().await;
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    all_dead(&pids);
}

#[tokio::test]
async fn several_apiservers_share_one_etcd() {
    let plane = ControlPlane::start(
        &assets(),
        vec![ApiServerOptions::new("kube-apiserver-0"), ApiServerOptions::new("kube-apiserver-1")],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let [a, b] = [0, 1].map(|i| plane.apiserver(i).expect("apiserver"));
    assert_ne!(a.port(), b.port());
    let on_a: Api<Secret> = Api::namespaced(a.client(), "default");
    let on_b: Api<Secret> = Api::namespaced(b.client(), "default");
    on_a.create(&PostParams::default(), &secret("shared", "from-a")).await.expect("create on a");
    let got = on_b.get("shared").await.expect("read on b");
    assert_eq!(data_of(&got).as_deref(), Some(&b"from-a"[..]));
    let pids = [plane.etcd().pid(), a.pid(), b.pid()];
    plane.shutdown().await;
    all_dead(&pids);
}

#[tokio::test]
async fn drop_stops_everything() {
    let plane = ControlPlane::start(&assets(), vec![ApiServerOptions::new("kube-apiserver")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let apiserver = plane.apiserver(0).expect("apiserver 0");
    let dirs = [plane.etcd().dir().to_owned(), apiserver.dir().to_owned()];
    let pids = [plane.etcd().pid(), apiserver.pid()];
    drop(plane);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    all_dead(&pids);
}

/// etcd serves TLS only and requires a client certificate signed by its CA (kubeadm's
/// `--client-cert-auth=true`); the harness's certificate works.
#[tokio::test]
async fn etcd_requires_client_certificates() {
    use atrest_etcd::{ConnectSettings, EtcdTlsFiles, RawEtcd, RawEtcdError};
    use atrest_process::{Etcd, EtcdOptions};
    use std::time::Duration;

    let etcd = Etcd::start(&assets().etcd, EtcdOptions::new("etcd"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(etcd.client_url().starts_with("https://127.0.0.1:"));

    let raw = etcd.raw().await.unwrap_or_else(|e| panic!("{e}"));
    let revision = raw.put("/atrest/probe", b"v".to_vec()).await.expect("put with client cert");
    let got = raw.get("/atrest/probe").await.expect("get").expect("exists");
    assert_eq!((got.value.as_slice(), got.mod_revision), (&b"v"[..], revision));
    assert_eq!(raw.list_keys("/atrest/").await.expect("list"), ["/atrest/probe"]);
    assert_eq!(raw.delete("/atrest/probe").await.expect("delete"), 1);

    // The right CA but no client certificate: the handshake or the first request fails.
    let ca_file = etcd.endpoint().tls.as_ref().expect("TLS etcd").ca_file.clone();
    let settings = ConnectSettings::new()
        .with_tls(EtcdTlsFiles { ca_file: Some(ca_file), ..EtcdTlsFiles::default() })
        .with_connect_timeout(Duration::from_secs(5));
    match RawEtcd::connect_url(etcd.client_url(), &settings).await {
        Err(RawEtcdError::Connect { url, .. } | RawEtcdError::ConnectTimeout { url, .. }) => {
            assert_eq!(url, etcd.client_url());
        }
        Err(other) => panic!("expected a connection error, got: {other:?}"),
        Ok(_) => panic!("etcd accepted a client without a certificate"),
    }

    let pid = etcd.pid();
    etcd.shutdown().await;
    all_dead(&[pid]);
}

/// An apiserver whose etcd never answers neither exits nor becomes ready: the deadline ends the
/// wait, and the error carries the last readiness observation and the kept log.
#[tokio::test]
async fn unreachable_etcd_times_out_with_the_last_observation() {
    use atrest_process::{ApiServer, ClusterPki, EtcdEndpoint, StartError, free_port};
    use std::time::Duration;

    let pki = ClusterPki::generate().expect("pki");
    let etcd = EtcdEndpoint::plain(format!("http://127.0.0.1:{}", free_port().expect("port")));
    let mut opts = ApiServerOptions::new("kube-apiserver");
    opts.start_timeout = Duration::from_secs(4);
    // Not ready, it ignores SIGTERM for a while; do not wait the default 10 s for it.
    opts.stop_timeout = Duration::from_secs(1);
    let err = ApiServer::start(&assets().kube_apiserver, &etcd, &pki, opts)
        .await
        .expect_err("cannot become ready without etcd");
    let dir = err.instance_dir().expect("kept instance dir").to_owned();
    match &err {
        StartError::TimedOut { waited, last: Some(last), log, .. } => {
            assert!(*waited >= Duration::from_secs(3), "{waited:?}");
            assert!(!last.is_empty());
            eprintln!("timed out as expected; last observation: {last}");
            assert!(log.is_file(), "{}", log.display());
            assert!(err.to_string().contains(&log.display().to_string()));
        }
        other => panic!("expected a timeout with an observation, got: {other}"),
    }
    std::fs::remove_dir_all(&dir).expect("remove kept dir");
}

/// A member that dies on its own (here: SIGKILL from outside) keeps its directory, logs
/// included, when it is shut down; the exit says it was not requested.
#[tokio::test]
async fn a_crashed_member_keeps_its_directory() {
    use atrest_process::{Etcd, EtcdOptions, wait_until};
    use std::ops::ControlFlow;
    use std::time::{Duration, Instant};

    let etcd = Etcd::start(&assets().etcd, EtcdOptions::new("etcd"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = etcd.pid().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-KILL".to_owned(), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    wait_until(Instant::now() + Duration::from_secs(5), Duration::from_millis(20), || async {
        if etcd.is_running() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })
    .await
    .expect("etcd noticed as exited");
    let dir = etcd.dir().to_owned();
    let exit = etcd.shutdown().await.expect("had a process");
    assert_eq!((exit.requested, exit.signal()), (false, Some(9)), "{exit:?}");
    assert!(dir.join("etcd.stderr.log").is_file(), "{} was removed", dir.display());
    std::fs::remove_dir_all(&dir).expect("clean up");
}
