//! `atrest status` against two real kube-apiservers on one etcd: first with different
//! configuration files (flagged, exit 1), then with the same one (exit 0).

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec};
use atrest_process::{Assets, ProcessCluster};

use crate::inspect::{KEY1, KEY2, config};
use crate::{atrest, stdout};

const A: &str = "/etc/kubernetes/enc/a.yaml";
const B: &str = "/etc/kubernetes/enc/b.yaml";

#[tokio::test]
async fn status_process_flags_apiservers_with_different_configs() {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let spec = ClusterSpec {
        apiservers: vec![ApiServerSpec::default(), ApiServerSpec::default()],
        ..ClusterSpec::default()
    };
    let mut c = ProcessCluster::launch(&assets, spec).await.unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (config(&[("key1", KEY1)], true), config(&[("key2", KEY2), ("key1", KEY1)], true));
    c.write_file(A, a.as_bytes()).await.unwrap();
    c.write_file(B, b.as_bytes()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |c: &ProcessCluster, extra: &[&str]| {
        let mut args = vec!["status".to_owned()];
        for i in 0..2 {
            let path = dir.path().join(format!("kubeconfig-{i}"));
            std::fs::write(&path, c.apiserver(i).unwrap().kubeconfig()).unwrap();
            args.extend(["--kubeconfig".to_owned(), path.display().to_string()]);
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        atrest(&args, b"")
    };
    let spec = |p: &str| ApiServerSpec::with_config(p);
    c.configure_apiserver(0, spec(A)).unwrap();
    c.configure_apiserver(1, spec(B)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    assert_eq!(c.start_apiserver(1).await.unwrap(), Ok(()));

    let out = run(&c, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("verdict: apiservers run DIFFERENT configurations"), "{text}");
    let hash = |t: &str| atrest_config::load::content_hash(t.as_bytes());
    assert!(text.contains(&format!("  config:  {}\n", hash(&a))), "{text}");
    assert!(text.contains(&format!("  config:  {}\n", hash(&b))), "{text}");

    // B on both: the same hash everywhere, and it is the --config file.
    c.stop_apiserver(0).await.unwrap();
    c.configure_apiserver(0, spec(B)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    let b_file = dir.path().join("b.yaml");
    std::fs::write(&b_file, &b).unwrap();
    let out = run(&c, &["--config", b_file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sameConfig"], true);
    assert_eq!(v["matchesExpected"], true);
    assert_eq!(v["apiservers"][1]["config_hash"], hash(&b));
    assert!(!stdout(&out).contains(KEY2), "no key material");
    c.shutdown().await.unwrap();
}
