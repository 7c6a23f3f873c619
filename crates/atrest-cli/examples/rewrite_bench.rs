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
//! time, the rewrite's wall time and rate, the CPU time kube-apiserver and etcd spent on it, and
//! the raw check.
//!
//! With `KUBECTL=<path>` (`cargo xtask kubectl` builds one), the same cluster then goes back to
//! key1 first and the tutorial's `kubectl get secrets -A -o json | kubectl replace -f -` rewrites
//! every Secret once more, measured and checked the same way: a side-by-side on one cluster.

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
    let spec = ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
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
    let cpu = Cpu::of(&c);
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
    println!("  {}", cpu.spent(&c, took));
    let on_key2 = on_key(&mut c, b"k8s:enc:aescbc:v1:key2:").await?;
    println!("raw etcd: {on_key2} of {secrets} on key2");
    if on_key2 != secrets {
        c.shutdown().await?;
        return Err("not every Secret was re-encrypted".into());
    }

    if let Some(kubectl) = std::env::var_os("KUBECTL").filter(|v| !v.is_empty()) {
        // Back to key1 first (key2 still readable), and the tutorial's pipe.
        let back = "/etc/kubernetes/enc/c.yaml";
        c.write_file(back, config(&[("key1", KEY1), ("key2", KEY2)]).as_bytes()).await?;
        c.stop_apiserver(0).await?;
        c.configure_apiserver(0, on(back))?;
        c.start_apiserver(0).await?.map_err(|f| format!("{f:?}"))?;
        let kubectl = std::path::PathBuf::from(kubectl);
        let cpu = Cpu::of(&c);
        let started = Instant::now();
        let mut get = Command::new(&kubectl)
            .args(["get", "secrets", "-A", "-o", "json", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .spawn()?;
        let piped = get.stdout.take().ok_or("kubectl get has no stdout")?;
        let replace = Command::new(&kubectl)
            .args(["replace", "-f", "-", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdin(piped)
            .stdout(Stdio::null())
            .status()?;
        let got = get.wait()?;
        let took = started.elapsed();
        if !got.success() || !replace.success() {
            c.shutdown().await?;
            return Err(format!("kubectl get ({got}) | kubectl replace ({replace}) failed").into());
        }
        println!(
            "kubectl get secrets -A -o json | kubectl replace -f -: {took:.1?}, {:.0} Secrets/s",
            secrets as f64 / took.as_secs_f64()
        );
        println!("  {}", cpu.spent(&c, took));
        let on_key1 = on_key(&mut c, b"k8s:enc:aescbc:v1:key1:").await?;
        println!("raw etcd: {on_key1} of {secrets} on key1");
        if on_key1 != secrets {
            c.shutdown().await?;
            return Err("kubectl did not re-encrypt every Secret".into());
        }
    }
    c.shutdown().await?;
    Ok(())
}

/// How many Secrets in `default` are stored under `prefix`.
async fn on_key(
    c: &mut ProcessCluster,
    prefix: &[u8],
) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(c.raw_list("/registry/secrets/default/")
        .await?
        .iter()
        .filter(|e| e.value.starts_with(prefix))
        .count())
}

/// CPU time (user + system) of kube-apiserver and etcd at one moment, from /proc.
struct Cpu {
    apiserver: f64,
    etcd: f64,
}

impl Cpu {
    fn of(c: &ProcessCluster) -> Cpu {
        let apiserver = c.apiserver(0).and_then(|a| a.pid()).map_or(0.0, cpu_seconds);
        let etcd = c.etcd().pid().map_or(0.0, cpu_seconds);
        Cpu { apiserver, etcd }
    }

    /// What both spent since `self`, as seconds and as cores busy over `wall`.
    fn spent(&self, c: &ProcessCluster, wall: std::time::Duration) -> String {
        let now = Cpu::of(c);
        let (a, e) = (now.apiserver - self.apiserver, now.etcd - self.etcd);
        let w = wall.as_secs_f64();
        format!(
            "CPU: kube-apiserver {a:.1} s ({:.2} cores), etcd {e:.1} s ({:.2} cores)",
            a / w,
            e / w
        )
    }
}

/// utime + stime of `pid` in seconds (/proc/PID/stat fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The command may hold spaces: fields count from after its closing parenthesis.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The unit of /proc's times: USER_HZ, which Linux fixes at 100 in its ABI on x86 and arm
/// (what `sysconf(_SC_CLK_TCK)` answers there).
fn clock_ticks() -> f64 {
    100.0
}
