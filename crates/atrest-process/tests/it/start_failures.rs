//! The real kube-apiserver against atrest-config's model: for a missing path and for every
//! config in `crates/atrest-config/tests/data/invalid`, the apiserver's `"command failed"` err
//! equals `atrest_config::load::load`'s `Display` for the same path string.
//!
//! No etcd is started: the apiserver loads the encryption configuration while building its
//! storage options, before it dials etcd (checked here: every case exits with the config error,
//! while the etcd URL points at a closed port).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use atrest_config::load::{LoadOptions, load};
use atrest_process::{
    ApiServer, ApiServerOptions, ClusterPki, EtcdEndpoint, StartError, free_port,
};

use crate::assets;

struct Case {
    /// The path string handed to both sides.
    path: PathBuf,
    reload: bool,
    kmsv1: bool,
}

fn cases() -> Vec<Case> {
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../atrest-config/tests/data/invalid");
    let invalid = invalid.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", invalid.display()));
    let mut names: Vec<String> = std::fs::read_dir(&invalid)
        .unwrap_or_else(|e| panic!("{}: {e}", invalid.display()))
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".expected"))
        .collect();
    // Every name is either an input or one of the two known non-inputs; nothing is skipped
    // silently.
    for n in &names {
        assert!(
            n.ends_with(".yaml") || n.ends_with(".json") || n.ends_with(".d"),
            "unexpected file in the corpus: {n}"
        );
    }
    let missing = "read-missing-file.yaml";
    assert!(!invalid.join(missing).exists(), "{missing} must not exist");
    names.push(missing.to_owned());
    names.sort();
    let mut cases: Vec<Case> = names
        .into_iter()
        .map(|n| Case {
            reload: n.contains("+reload"),
            kmsv1: n.contains("+kmsv1"),
            path: invalid.join(n),
        })
        .collect();
    // A missing path in a missing directory, outside the corpus.
    cases.push(Case {
        path: std::env::temp_dir().join("atrest-no-such-dir").join("encryption.yaml"),
        reload: false,
        kmsv1: false,
    });
    cases
}

/// What the real apiserver said for one case, or why it did not say it.
async fn apiserver_err(bin: &Path, pki: &ClusterPki, case: &Case) -> Result<String, String> {
    let etcd = EtcdEndpoint::plain(format!("http://127.0.0.1:{}", free_port().expect("port")));
    let mut opts = ApiServerOptions::new("kube-apiserver");
    opts.encryption_config = Some(case.path.clone());
    opts.automatic_reload = case.reload;
    if case.kmsv1 {
        opts.extra_args.push("--feature-gates=KMSv1=true".to_owned());
    }
    match ApiServer::start(bin, &etcd, pki, opts).await {
        Ok(apiserver) => {
            apiserver.shutdown().await;
            Err("the apiserver became ready".to_owned())
        }
        Err(err) => {
            let result = match &err {
                StartError::Exited { code: Some(1), command_failed: Some(text), .. } => {
                    Ok(text.clone())
                }
                other => Err(other.to_string()),
            };
            if result.is_ok()
                && let Some(dir) = err.instance_dir()
            {
                // Expected failure: the kept logs are not needed.
                std::fs::remove_dir_all(dir).expect("remove instance dir");
            }
            result
        }
    }
}

fn ours(case: &Case) -> (String, String) {
    let path = case.path.to_string_lossy().into_owned();
    let opts = LoadOptions { reload: case.reload, kmsv1_enabled: case.kmsv1 };
    match load(&path, std::fs::read(&case.path), &opts) {
        Ok(_) => panic!("{path}: atrest-config loads it"),
        Err(e) => {
            let secrets = if e.upstream_prints_key_material() {
                atrest_test_support::secrets_in(
                    &std::fs::read_to_string(&case.path).unwrap_or_default(),
                )
            } else {
                Vec::new()
            };
            (e.to_string(), secrets.join("\n"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configs_fail_like_the_model_says() {
    let bin = assets().kube_apiserver;
    let pki = Arc::new(ClusterPki::generate().expect("pki"));
    let cases = cases();
    assert!(cases.len() > 150, "only {} cases", cases.len());
    let started = Instant::now();

    // Two at a time: each start is about a second of mostly single-threaded Go start-up.
    let mut mismatches = Vec::new();
    let mut checked = 0usize;
    let (mut multi_line, mut redacted) = (0usize, 0usize);
    let cases = Arc::new(cases);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (cases, next, pki, bin) =
            (Arc::clone(&cases), Arc::clone(&next), Arc::clone(&pki), bin.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                out.push((i, apiserver_err(&bin, &pki, case).await));
            }
            out
        });
    }
    let mut results = Vec::new();
    while let Some(r) = workers.join_next().await {
        results.extend(r.expect("worker"));
    }
    results.sort_by_key(|(i, _)| *i);

    for (i, result) in results {
        let case = &cases[i];
        let name = case.path.display();
        let (ours, secrets) = ours(case);
        match result {
            Err(why) => mismatches.push(format!("{name}: no command-failed text: {why}")),
            Ok(upstream) => {
                multi_line += usize::from(upstream.contains('\n'));
                redacted += usize::from(!secrets.is_empty());
                let mut want = upstream.clone();
                for secret in secrets.lines() {
                    want = want.replace(secret, "REDACTED");
                }
                if !secrets.is_empty() && want == upstream {
                    mismatches.push(format!("{name}: flagged key material, upstream shows none"));
                }
                if want != ours {
                    mismatches
                        .push(format!("{name}:\n  upstream: {upstream:?}\n  atrest:   {ours:?}"));
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
    // The corpus exercises klog's multi-line form and the key-material redaction.
    assert!(multi_line >= 5 && redacted >= 2, "multi-line {multi_line}, redacted {redacted}");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} cases differ (took {:?}):\n{}",
        mismatches.len(),
        started.elapsed(),
        mismatches.join("\n")
    );
}
