//! The `containers` backend against the project's Docker engine (real-cluster test group).
//! Needs DOCKER_HOST and the images (`cargo xtask setup`); fails, never skips, without them.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::ops::ControlFlow;
use std::process::Command;
use std::time::{Duration, Instant};

use atrest_backend::wait::{deadline_after, wait_until};

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec, ExitHow, Member, StartFailure};
use atrest_containers::{ContainersCluster, ETCD_IMAGE, check_images, preflight, sweep};
use atrest_process::container::{OWNER_LABEL, PROJECT_LABEL, owner_value};

const CONFIG: &str = "/etc/kubernetes/enc/enc.yaml";

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// This process's containers, running or not.
fn mine() -> Vec<String> {
    let owner = format!("label={OWNER_LABEL}={}", owner_value().unwrap());
    docker(&["ps", "-a", "--filter", &owner, "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn one_apiserver(config: Option<&str>) -> ClusterSpec {
    ClusterSpec {
        apiservers: vec![ApiServerSpec {
            encryption_config: config.map(str::to_owned),
            automatic_reload: false,
            mounts: None,
        }],
        ..ClusterSpec::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// An invalid configuration: the container's exit code and the apiserver's `"command failed"`
/// text, as on `process`; nothing is left running afterwards.
#[test]
fn start_failure_carries_exit_code_and_command_failed() {
    preflight().unwrap_or_else(|e| panic!("{e}"));
    runtime().block_on(async {
        let mut cluster = ContainersCluster::launch(one_apiserver(Some(CONFIG))).await.unwrap();
        cluster.write_file(CONFIG, b"kind: EncryptionConfiguration\nnonsense: [").await.unwrap();
        let failure = cluster.start_apiserver(0).await.unwrap().unwrap_err();
        let StartFailure::Exited { code, err } = failure else { panic!("{failure:?}") };
        assert_eq!(code, Some(1));
        let err = err.unwrap();
        // The flag names the cluster path: the directory is mounted there, as kubeadm does.
        assert!(err.contains(CONFIG), "{err}");
        assert!(!cluster.is_running(0));
        cluster.shutdown().await.unwrap();
    });
    assert_eq!(mine(), Vec::<String>::new());
}

/// A container killed from outside is an unexpected exit with its exit code; shutdown still
/// removes everything.
#[test]
fn killed_container_is_an_unexpected_exit() {
    preflight().unwrap_or_else(|e| panic!("{e}"));
    runtime().block_on(async {
        let mut cluster = ContainersCluster::launch(one_apiserver(None)).await.unwrap();
        cluster.start_apiserver(0).await.unwrap().unwrap();
        assert!(cluster.unexpected_exit().is_none());
        let name = mine().into_iter().find(|n| n.ends_with("kube-apiserver-0")).unwrap();
        docker(&["kill", &name]);
        let deadline = deadline_after(Instant::now(), Duration::from_secs(20));
        let exit = wait_until(deadline, Duration::from_millis(50), || {
            let seen = cluster.unexpected_exit();
            async move { seen.map_or(ControlFlow::Continue(()), ControlFlow::Break) }
        })
        .await
        .unwrap();
        assert_eq!(exit.member, Member::ApiServer(0));
        // SIGKILL inside the container: 128 + 9, as the engine reports it.
        assert_eq!(exit.how, ExitHow::Code(137));
        cluster.shutdown().await.unwrap();
    });
    assert_eq!(mine(), Vec::<String>::new());
}

/// Fault steps on containers (issue 18): `docker kill --signal` for SIGTERM and SIGKILL (one
/// while frozen), `docker pause`/`unpause`, etcd started again in a new container on its
/// data directory. None of these exits is unexpected, and nothing is left afterwards.
#[test]
fn fault_injection_kill_pause_and_start_again() {
    use atrest_backend::{BackendError, Data, KillSignal, Kind, Object, ObjectRef};

    preflight().unwrap_or_else(|e| panic!("{e}"));
    runtime().block_on(async {
        let mut cluster = ContainersCluster::launch(one_apiserver(None)).await.unwrap();
        cluster.start_apiserver(0).await.unwrap().unwrap();
        let s1 = Object {
            id: ObjectRef::new(Kind::Secret, "default", "s1"),
            data: Data([("k".to_owned(), b"v".to_vec())].into()),
            resource_version: None,
        };
        cluster.create(0, &s1).await.unwrap().unwrap();

        cluster.kill_member(&Member::Etcd, KillSignal::Term).await.unwrap();
        assert!(!cluster.etcd_running());
        assert_eq!(cluster.unexpected_exit(), None);
        cluster.start_etcd().await.unwrap();
        let key = s1.id.etcd_key(cluster.etcd_prefix());
        assert!(cluster.raw_get(&key).await.unwrap().is_some(), "kept on the data directory");

        cluster.pause_member(&Member::Etcd).await.unwrap();
        assert!(!cluster.etcd_running());
        cluster.resume_member(&Member::Etcd).await.unwrap();
        assert!(cluster.etcd_running());
        let deadline = deadline_after(Instant::now(), Duration::from_secs(60));
        let mut ticker =
            atrest_backend::wait::Ticker::new(Some(deadline), Duration::from_millis(200));
        loop {
            let answer = cluster.probe(0, "/readyz").await.unwrap();
            if answer.0 == 200 {
                break;
            }
            assert!(ticker.tick().await, "not ready again: {answer:?}");
        }
        assert_eq!(cluster.get(0, &s1.id).await.unwrap().unwrap().data, s1.data);

        cluster.pause_member(&Member::ApiServer(0)).await.unwrap();
        cluster.kill_member(&Member::ApiServer(0), KillSignal::Kill).await.unwrap();
        assert!(!cluster.is_running(0));
        assert_eq!(cluster.unexpected_exit(), None);
        assert!(matches!(
            cluster.kill_member(&Member::ApiServer(0), KillSignal::Term).await,
            Err(BackendError::MemberState { .. })
        ));
        cluster.start_apiserver(0).await.unwrap().unwrap();
        cluster.shutdown().await.unwrap();
    });
    assert_eq!(mine(), Vec::<String>::new());
}

/// A container whose owner is gone (a killed run) is removed by the next sweep; a live
/// owner's is not.
#[test]
fn sweep_removes_containers_of_dead_owners_only() {
    preflight().unwrap_or_else(|e| panic!("{e}"));
    let project = format!("{PROJECT_LABEL}=1");
    let dead = docker(&[
        "create",
        "--label",
        &project,
        "--label",
        &format!("{OWNER_LABEL}=999999999 5"),
        ETCD_IMAGE,
        "--version",
    ]);
    let alive = docker(&[
        "create",
        "--label",
        &project,
        "--label",
        &format!("{OWNER_LABEL}={}", owner_value().unwrap()),
        ETCD_IMAGE,
        "--version",
    ]);
    let swept = sweep();
    let gone = |id: &str| swept.iter().any(|s| id.starts_with(s.as_str()));
    let (dead_gone, alive_gone) = (gone(&dead), gone(&alive));
    docker(&["rm", "-f", &alive]);
    assert!(dead_gone, "{swept:?}");
    assert!(!alive_gone, "{swept:?}");
}

/// A missing image is named, with the command that builds the project's images; nothing is
/// pulled.
#[test]
fn missing_image_names_it_and_setup() {
    preflight().unwrap_or_else(|e| panic!("{e}"));
    let missing = "registry.k8s.io/etcd:0.0.0-atrest-missing";
    let err = check_images(&[ETCD_IMAGE, missing]).unwrap_err().to_string();
    assert!(err.contains(missing), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
}
