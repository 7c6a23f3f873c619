//! `atrest rewrite` against the real kube-apiserver: after a switch to key2-first, every Secret
//! written under key1 is rewritten through the apiserver and ends on key2 in etcd (read raw);
//! a journal makes a second run skip what the first did; an unreachable apiserver is exit 2.

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec, Data, Kind, Object, ObjectRef};
use atrest_process::{Assets, ProcessCluster};

use crate::inspect::{SECRET_VALUE, key1_only, write_file};
use crate::{atrest, stderr, stdout};

const CONFIG_A: &str = "/etc/kubernetes/enc/a.yaml";
const CONFIG_B: &str = "/etc/kubernetes/enc/b.yaml";
const KEY2_PREFIX: &[u8] = b"k8s:enc:aescbc:v1:key2:";
const KEY1_PREFIX: &[u8] = b"k8s:enc:aescbc:v1:key1:";
const SECRETS: usize = 120;

fn spec(config: &str) -> ApiServerSpec {
    ApiServerSpec::with_config(config)
}

/// Which key each Secret `s-NNN` is stored with: (on key1, on key2).
async fn stored_keys(c: &mut ProcessCluster) -> (usize, usize) {
    let (mut one, mut two) = (0, 0);
    for i in 0..SECRETS {
        let raw = c.raw_get(&format!("/registry/secrets/default/s-{i:03}")).await.unwrap().unwrap();
        if raw.value.starts_with(KEY1_PREFIX) {
            one += 1;
        } else if raw.value.starts_with(KEY2_PREFIX) {
            two += 1;
        }
    }
    (one, two)
}

#[tokio::test]
async fn rewrite_process_reencrypts_resumes_and_reports() {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let spec0 = ClusterSpec { apiservers: vec![ApiServerSpec::default()], kms_plugins: Vec::new() };
    let mut c = ProcessCluster::launch(&assets, spec0).await.unwrap_or_else(|e| panic!("{e}"));
    c.write_file(CONFIG_A, key1_only().as_bytes()).await.unwrap();
    c.write_file(CONFIG_B, crate::inspect::key2_first().as_bytes()).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_A)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    for i in 0..SECRETS {
        let object = Object {
            id: ObjectRef::new(Kind::Secret, "default", format!("s-{i:03}")),
            data: Data([("k".to_owned(), SECRET_VALUE.to_vec())].into_iter().collect()),
            resource_version: None,
        };
        c.create(0, &object).await.unwrap().unwrap();
    }
    c.stop_apiserver(0).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_B)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    assert_eq!(stored_keys(&mut c).await, (SECRETS, 0), "a restart rewrites nothing");

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(dir.path(), "kubeconfig", c.apiserver(0).unwrap().kubeconfig());
    // A journal saying the first 20 are done: the run must not touch them.
    let journal = dir.path().join("journal");
    let done: String = (0..20).map(|i| format!("secrets default/s-{i:03}\n")).collect();
    std::fs::write(&journal, &done).unwrap();
    let journal = journal.to_str().unwrap().to_owned();

    let args = ["rewrite", "--kubeconfig", &kubeconfig, "--namespace", "default"];
    let mut run = args.to_vec();
    run.extend(["--journal", &journal, "--page-size", "25", "--format", "json"]);
    let out = atrest(&run, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("TOP-SECRET"), "no data in reports");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &v["resources"][0];
    assert_eq!(r["resource"], "secrets");
    assert_eq!((r["rewritten"].as_u64(), r["skipped"].as_u64()), (Some(100), Some(20)), "{v}");
    assert_eq!((r["failed"].as_u64(), r["gone"].as_u64()), (Some(0), Some(0)), "{v}");
    assert_eq!(stored_keys(&mut c).await, (20, 100), "exactly the objects not in the journal");
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(lines.lines().count(), SECRETS, "the run appended what it did");

    // A rerun with the journal does nothing; without it, it rewrites the 20 (and the rest again).
    let out = atrest(&run, b"");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["resources"][0]["rewritten"], 0, "{v}");
    assert_eq!(v["resources"][0]["skipped"].as_u64(), Some(SECRETS as u64), "{v}");
    let out = atrest(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("secrets: rewrote {SECRETS} in ")), "{text}");
    assert_eq!(stored_keys(&mut c).await, (0, SECRETS));

    // No apiserver behind the kubeconfig: exit 2, naming it.
    let server = c.apiserver(0).unwrap().url();
    c.stop_apiserver(0).await.unwrap();
    let out = atrest(&["rewrite", "--kubeconfig", &kubeconfig, "--request-timeout", "5"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("--kubeconfig {kubeconfig}")), "{err}");
    assert!(err.contains(&format!("the apiserver at {server}")), "{err}");
    c.shutdown().await.unwrap();
}
