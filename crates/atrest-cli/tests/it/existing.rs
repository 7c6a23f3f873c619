//! `--backend existing` pointed at a cluster started by `atrest cluster up`, as an outside user
//! would point it at theirs: the kubeconfig and etcd credentials from the state directory, the
//! cluster's own encryption config given with `--config current=FILE`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cluster_up::{
    ExitWatch, Guard, STOP_DEADLINE, assets_dir, env_value, guard_output, wait_for_ready,
};
use crate::{stderr, stdout};

const SCENARIO: &str = "scenarios/existing/verify-encryption.yaml";

#[test]
fn cluster_up_then_existing_backend_process() {
    existing_backend_against("process");
}

#[test]
fn cluster_up_then_existing_backend_containers() {
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    existing_backend_against("containers");
}

fn existing_backend_against(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let config_dir = tmp.path().join("enc");
    fs::create_dir(&config_dir).unwrap();
    let config = config_dir.join("secretbox.yaml");
    fs::copy(crate::root().join("scenarios/configs/secretbox.yaml"), &config).unwrap();
    let mut guard = Guard(
        Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["cluster", "up", "--backend", backend, "--config"])
            .arg(&config)
            .arg("--state-dir")
            .arg(&dir)
            .env("ATREST_ASSETS", assets_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let watch = ExitWatch::new(&guard.0);
    wait_for_ready(&mut guard.0, &watch, &dir.join("ready"));
    let env = fs::read_to_string(dir.join("env")).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    let etcd = [
        "--etcd",
        env_value(&env, "ETCDCTL_ENDPOINTS"),
        "--cacert",
        env_value(&env, "ETCDCTL_CACERT"),
        "--cert",
        env_value(&env, "ETCDCTL_CERT"),
        "--key",
        env_value(&env, "ETCDCTL_KEY"),
    ];
    let current = format!("current={}", config.display());
    let scenario = crate::root().join(SCENARIO);
    let scenario = scenario.to_str().unwrap();
    create_users_secret(kubeconfig);
    let theirs_before = objects_outside_atrest(kubeconfig);
    assert!(theirs_before.contains_key("secret default/users-own"), "{theirs_before:?}");

    // With the cluster's own config: every check holds, in scratch namespaces.
    let mut args = vec!["scenario", scenario, "--backend", "existing", "--kubeconfig", kubeconfig];
    args.extend(["--config", &current, "--report", "json"]);
    args.extend(etcd);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["backend"], "existing");
    assert_eq!(report["outcome"], "passed", "{report:#}");
    let text = report.to_string();
    // The user's Secret in `default` is not among the values read: only this run's five.
    assert!(text.contains("5 values under /registry/secrets/: 5 secretbox/key1"), "{report:#}");
    assert!(!text.contains("not-a-real-password"), "no plaintext in the report");

    // With a fresh key instead of the cluster's: the same values are not current with it.
    let mut args = vec!["scenario", scenario, "--backend", "existing", "--kubeconfig", kubeconfig];
    args.extend(etcd);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("FAIL"), "{}", stdout(&out));

    // Without etcd, the steps that read it are refused before anything runs.
    let mut args = vec!["scenario", scenario, "--backend", "existing", "--kubeconfig", kubeconfig];
    args.extend(["--config", &current]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("the existing backend cannot run this scenario; nothing was run"),
        "{said}"
    );
    assert!(said.contains("`expectAll`: the existing backend cannot read etcd"), "{said}");

    // A scenario that restarts apiservers and writes their files: refused, nothing created.
    let out = run(&["scenario", "rotate", "--backend", "existing", "--kubeconfig", kubeconfig]);
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(
            "step 1 (line 8) `writeConfig`: the existing backend cannot write the files the \
             apiservers read"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "step 2 (line 9) `start`: the existing backend cannot start, stop or restart"
        ),
        "{said}"
    );

    // Afterwards: the cluster's own objects untouched, the scratch namespaces emptied and
    // deleted (without kube-controller-manager they stay Terminating, empty).
    assert_eq!(objects_outside_atrest(kubeconfig), theirs_before);
    let scratch = scratch_namespaces(kubeconfig);
    assert_eq!(scratch.len(), 2, "one per run that created objects: {scratch:?}");
    for (name, (terminating, objects)) in &scratch {
        assert!(terminating, "{name} was not deleted");
        assert_eq!(*objects, 0, "{name} still holds Secrets or ConfigMaps");
    }

    kill(Pid::from_raw(i32::try_from(guard.0.id()).unwrap()), Signal::SIGINT).unwrap();
    let status = watch.wait(&mut guard.0, STOP_DEADLINE);
    let out = guard_output(&mut guard.0);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{out}");
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn client(kubeconfig: &str) -> (tokio::runtime::Runtime, kube::Client) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(Path::new(kubeconfig)).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        kube::Client::try_from(config).unwrap()
    });
    (rt, client)
}

/// A Secret of the cluster's owner, in `default`, which atrest must neither read nor touch.
fn create_users_secret(kubeconfig: &str) {
    let (rt, client) = client(kubeconfig);
    rt.block_on(async {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("users-own".to_owned()),
                ..Default::default()
            },
            string_data: Some(BTreeMap::from([("token".to_owned(), "theirs".to_owned())])),
            ..Default::default()
        };
        Api::<Secret>::namespaced(client, "default")
            .create(&kube::api::PostParams::default(), &secret)
            .await
            .unwrap();
    });
}

/// Every Secret and ConfigMap outside `atrest-*` namespaces, with its resourceVersion.
fn objects_outside_atrest(kubeconfig: &str) -> BTreeMap<String, String> {
    let (rt, client) = client(kubeconfig);
    rt.block_on(async {
        let mut found = BTreeMap::new();
        let lp = ListParams::default();
        for s in Api::<Secret>::all(client.clone()).list(&lp).await.unwrap() {
            let m = s.metadata;
            let id = format!(
                "secret {}/{}",
                m.namespace.unwrap_or_default(),
                m.name.unwrap_or_default()
            );
            found.insert(id, m.resource_version.unwrap_or_default());
        }
        for c in Api::<ConfigMap>::all(client.clone()).list(&lp).await.unwrap() {
            let m = c.metadata;
            let id = format!(
                "configmap {}/{}",
                m.namespace.unwrap_or_default(),
                m.name.unwrap_or_default()
            );
            found.insert(id, m.resource_version.unwrap_or_default());
        }
        found.retain(|k, _| !k.split(' ').nth(1).is_some_and(|n| n.starts_with("atrest-")));
        found
    })
}

/// The namespaces labelled as atrest's: (being deleted, Secrets + ConfigMaps in it).
fn scratch_namespaces(kubeconfig: &str) -> BTreeMap<String, (bool, usize)> {
    let (rt, client) = client(kubeconfig);
    rt.block_on(async {
        let lp = ListParams::default().labels("app.kubernetes.io/managed-by=atrest");
        let mut found = BTreeMap::new();
        for ns in Api::<Namespace>::all(client.clone()).list(&lp).await.unwrap() {
            let name = ns.metadata.name.clone().unwrap();
            let secrets = Api::<Secret>::namespaced(client.clone(), &name)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len();
            let maps = Api::<ConfigMap>::namespaced(client.clone(), &name)
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len();
            found.insert(name, (ns.metadata.deletion_timestamp.is_some(), secrets + maps));
        }
        found
    })
}
