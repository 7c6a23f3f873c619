//! Throughput of `atrest inspect`: objects per second over N Secrets in a real etcd.
//!
//! ```sh
//! cargo build --release -p atrest-cli --bin atrest --example inspect_bench
//! ATREST_ASSETS=<dir from cargo xtask setup> target/release/examples/inspect_bench [SECRETS] [RUNS]
//! ```
//!
//! Starts a TLS etcd as the process backend runs it (client-certificate auth, like kubeadm),
//! writes SECRETS (default 10000) Secret values straight into it with atrest-transformers (half
//! under key1, half under key2, 256-byte plaintexts, so the walk decrypts every one and sees
//! both `current` and `stale`), then runs the release `atrest` next to this example
//! (`target/release/atrest`) RUNS times (default 5):
//! `atrest inspect --config <key2,key1> --etcd <url> --cacert … --cert … --key … --objects none`,
//! and once more with every object printed (`--objects all`, captured and discarded). Prints each run's
//! wall time (process start to exit: connect, paged reads, decryption, report) and the median
//! objects per second.

#![expect(clippy::print_stdout, reason = "a benchmark report on stdout is the point")]

#[path = "support/bench.rs"]
mod support;
use support::{KEY1, KEY2, config};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atrest_config::load::{LoadOptions, load};
use atrest_config::resolve::GroupResource;
use atrest_process::{Assets, Etcd, EtcdOptions};
use atrest_transformers::{KmsPlugins, ResourceTransformers};

fn transformers(yaml: &str) -> Result<ResourceTransformers, Box<dyn std::error::Error>> {
    let loaded = load("bench.yaml", Ok(yaml.as_bytes().to_vec()), &LoadOptions::default())?;
    Ok(ResourceTransformers::new(&loaded.plan, &KmsPlugins::new())?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secrets: usize = std::env::args().nth(1).map_or(Ok(10_000), |s| s.parse())?;
    let runs: usize = std::env::args().nth(2).map_or(Ok(5), |s| s.parse())?;
    let atrest = support::atrest_binary()?;
    let assets = Assets::locate()?;
    let etcd = Etcd::start(&assets.etcd, EtcdOptions::new("inspect-bench")).await?;
    let raw = etcd.raw().await?;

    let old = transformers(&config(&[("key1", KEY1)]))?;
    let new = transformers(&config(&[("key2", KEY2), ("key1", KEY1)]))?;
    let secrets_gr = GroupResource::new("", "secrets");
    let plaintext = vec![0x5a_u8; 256];
    let started = Instant::now();
    for i in 0..secrets {
        let key = format!("/registry/secrets/ns-{}/secret-{i:06}", i % 100);
        let t = if i % 2 == 0 { &old } else { &new };
        let value = t.for_resource(&secrets_gr).to_storage(&plaintext, key.as_bytes())?;
        raw.put(&key, value).await?;
    }
    println!("wrote {secrets} Secrets in {:.2?}", started.elapsed());

    let dir = tempfile::tempdir()?;
    let config_file = dir.path().join("key2-first.yaml");
    std::fs::write(&config_file, config(&[("key2", KEY2), ("key1", KEY1)]))?;
    let tls = etcd.endpoint().tls.clone().ok_or("the etcd has no TLS files")?;
    let path = |p: &PathBuf| p.display().to_string();
    let args = |objects: &str| {
        vec![
            "inspect".to_owned(),
            "--config".to_owned(),
            path(&config_file),
            "--etcd".to_owned(),
            etcd.client_url().to_owned(),
            "--cacert".to_owned(),
            path(&tls.ca_file),
            "--cert".to_owned(),
            path(&tls.cert_file),
            "--key".to_owned(),
            path(&tls.key_file),
            "--objects".to_owned(),
            objects.to_owned(),
        ]
    };
    println!("command: {} {}", atrest.display(), args("none").join(" "));

    let run = |objects: &str| -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        let out = Command::new(&atrest).args(args(objects)).stderr(Stdio::inherit()).output()?;
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) || !text.contains(&format!("{secrets} objects")) {
            return Err(format!("atrest inspect failed ({}):\n{text}", out.status).into());
        }
        Ok(took)
    };
    let rate = |d: Duration| secrets as f64 / d.as_secs_f64();
    let mut times = Vec::with_capacity(runs);
    for i in 1..=runs {
        let took = run("none")?;
        println!("run {i}: {took:>8.2?}  {:>8.0} objects/s", rate(took));
        times.push(took);
    }
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    println!("median: {median:.2?}  {:.0} objects/s (--objects none)", rate(median));
    let took = run("all")?;
    println!("every object printed: {took:.2?}  {:.0} objects/s (--objects all)", rate(took));

    // The same objects from a snapshot file (`inspect --snapshot`): no etcd in the loop.
    let snapshot = raw.snapshot().await?;
    let snapshot_file = dir.path().join("snapshot.db");
    std::fs::write(&snapshot_file, &snapshot)?;
    println!("snapshot: {} bytes", snapshot.len());
    let from_snapshot = || -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        let out = Command::new(&atrest)
            .args(["inspect", "--objects", "none", "--config"])
            .arg(&config_file)
            .arg("--snapshot")
            .arg(&snapshot_file)
            .stderr(Stdio::inherit())
            .output()?;
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) || !text.contains(&format!("{secrets} objects")) {
            return Err(
                format!("atrest inspect --snapshot failed ({}):\n{text}", out.status).into()
            );
        }
        Ok(took)
    };
    let mut times = Vec::with_capacity(runs);
    for i in 1..=runs {
        let took = from_snapshot()?;
        println!("snapshot run {i}: {took:>8.2?}  {:>8.0} objects/s", rate(took));
        times.push(took);
    }
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    println!("median: {median:.2?}  {:.0} objects/s (--snapshot)", rate(median));
    etcd.shutdown().await;
    Ok(())
}
