//! Throughput of `atrest rewrite` on the real kube-apiserver: N Secrets stored under key1, the
//! apiserver restarted with key2 first, then one `atrest rewrite` that must leave every one of
//! them on key2 (checked raw in etcd).
//!
//! ```sh
//! cargo build --release -p atrest-cli --bin atrest --example rewrite_bench
//! target/release/examples/rewrite_bench [SECRETS] [CONCURRENCY]
//! ```
//!
//! SECRETS (default 10000) Secrets of 256 bytes are created through the apiserver (32 at once);
//! the release `atrest` next to this example (`target/release/atrest`) then runs
//! `atrest rewrite --kubeconfig … --concurrency CONCURRENCY` (default 8). Prints the creation
//! time, the rewrite's wall time and rate, and the raw check.

#![expect(clippy::print_stdout, reason = "a benchmark report on stdout is the point")]

#[path = "support/bench.rs"]
mod support;
use support::{KEY1, KEY2, config};

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec};
use atrest_process::{Assets, ProcessCluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use tokio::task::JoinSet;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secrets: usize = std::env::args().nth(1).map_or(Ok(10_000), |s| s.parse())?;
    let concurrency: usize = std::env::args().nth(2).map_or(Ok(8), |s| s.parse())?;
    let atrest = support::atrest_binary()?;
    let assets = Assets::locate()?;
    let spec = ClusterSpec { apiservers: vec![ApiServerSpec::default()], kms_plugins: Vec::new() };
    let mut c = ProcessCluster::launch(&assets, spec).await?;
    let (a, b) = ("/etc/kubernetes/enc/a.yaml", "/etc/kubernetes/enc/b.yaml");
    c.write_file(a, config(&[("key1", KEY1)]).as_bytes()).await?;
    c.write_file(b, config(&[("key2", KEY2), ("key1", KEY1)]).as_bytes()).await?;
    let on = |path: &str| ApiServerSpec::with_config(path);
    c.configure_apiserver(0, on(a))?;
    c.start_apiserver(0).await?.map_err(|f| format!("{f:?}"))?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, c.apiserver(0).ok_or("no apiserver")?.kubeconfig())?;

    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?,
    )?;
    let api: kube::Api<Secret> = kube::Api::namespaced(client, "default");
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    for i in 0..secrets {
        while in_flight.len() >= 32 {
            in_flight.join_next().await.ok_or("no task")???;
        }
        let api = api.clone();
        in_flight.spawn(async move {
            let secret = Secret {
                metadata: ObjectMeta { name: Some(format!("s-{i:06}")), ..ObjectMeta::default() },
                data: Some(BTreeMap::from([("v".to_owned(), ByteString(vec![0x5a; 256]))])),
                ..Secret::default()
            };
            api.create(&PostParams::default(), &secret).await.map(drop)
        });
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    println!("created {secrets} Secrets in {:.1?}", started.elapsed());

    c.stop_apiserver(0).await?;
    c.configure_apiserver(0, on(b))?;
    c.start_apiserver(0).await?.map_err(|f| format!("{f:?}"))?;
    let started = Instant::now();
    let out = Command::new(&atrest)
        .args(["rewrite", "--namespace", "default", "--format", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .stderr(Stdio::inherit())
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        return Err(format!("atrest rewrite failed ({})", out.status).into());
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!(
        "rewrite (--concurrency {concurrency}): {took:.1?}, {:.0} Secrets/s; report: rewrote {}, conflicts {}, failed {}",
        secrets as f64 / took.as_secs_f64(),
        report["resources"][0]["rewritten"],
        report["resources"][0]["conflicts"],
        report["resources"][0]["failed"]
    );
    let on_key2 = c
        .raw_list("/registry/secrets/default/")
        .await?
        .iter()
        .filter(|e| e.value.starts_with(b"k8s:enc:aescbc:v1:key2:"))
        .count();
    println!("raw etcd: {on_key2} of {secrets} on key2");
    c.shutdown().await?;
    if on_key2 != secrets {
        return Err("not every Secret was re-encrypted".into());
    }
    Ok(())
}
