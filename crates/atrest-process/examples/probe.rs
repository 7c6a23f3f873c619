//! Probe of real kube-apiserver behaviour when stored Secrets cannot be decrypted, and of the
//! exact answers a scenario sees: what the simulator must reproduce.
//!
//! ```sh
//! ATREST_ASSETS=<dir from cargo xtask setup> cargo run -p atrest-process --example probe
//! ```
//!
//! Prints each request and the apiserver's answer (code, reason, message) verbatim.

#![expect(clippy::print_stdout, reason = "the probe's report on stdout is the point")]

use std::collections::BTreeMap;
use std::time::Duration;

use atrest_backend::{
    ApiResult, ApiServerSpec, Cluster, ClusterSpec, Data, Kind, Object, ObjectRef, StartFailure,
};
use atrest_process::{Assets, ProcessCluster};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const CONFIG: &str = "/etc/kubernetes/enc/encryption.yaml";

/// 32 test-only key bytes per key name.
fn key_b64(name: &str) -> String {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = name.as_bytes()[i % name.len()] ^ (i as u8);
    }
    STANDARD.encode(bytes)
}

/// An EncryptionConfiguration for Secrets with `providers` in order: `identity` or
/// `aescbc:<key>`.
fn config(providers: &[&str]) -> String {
    let mut out = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [\"secrets\"]\n    providers:\n",
    );
    for p in providers {
        match p.split_once(':') {
            Some((kind, key)) => out.push_str(&format!(
                "      - {kind}:\n          keys:\n            - name: {key}\n              secret: {}\n",
                key_b64(key)
            )),
            None => out.push_str(&format!("      - {p}: {{}}\n")),
        }
    }
    out
}

fn secret(name: &str, value: &str, rv: Option<String>) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, "default", name),
        data: Data(BTreeMap::from([("k".to_owned(), value.as_bytes().to_vec())])),
        resource_version: rv,
    }
}

fn id(name: &str) -> ObjectRef {
    ObjectRef::new(Kind::Secret, "default", name)
}

fn show<T>(label: &str, r: &ApiResult<T>, ok: impl Fn(&T) -> String) {
    match r {
        Ok(v) => println!("  {label}: OK {}", ok(v)),
        Err(e) => println!(
            "  {label}: ERROR code={} reason={:?} message={:?}",
            e.code, e.reason, e.message
        ),
    }
}

fn obj(o: &Object) -> String {
    format!("rv={}", o.resource_version.as_deref().unwrap_or("-"))
}

fn names(l: &[Object]) -> String {
    let n: Vec<String> = l.iter().map(|o| format!("{}/{}", o.id.namespace, o.id.name)).collect();
    format!("{} items {n:?}", l.len())
}

async fn cluster(assets: &Assets) -> Res<ProcessCluster> {
    let spec = ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    Ok(ProcessCluster::launch(assets, spec).await?.with_not_ready_timeout(Duration::from_secs(15)))
}

/// Configures `config` (None: no flag), restarts, prints the outcome and the `[-]` lines.
async fn restart(c: &mut ProcessCluster, providers: Option<&[&str]>) -> Res<()> {
    match providers {
        Some(p) => {
            c.write_file(CONFIG, config(p).as_bytes()).await?;
            c.configure_apiserver(0, ApiServerSpec::with_config(CONFIG))?;
        }
        None => c.configure_apiserver(0, ApiServerSpec::default())?,
    }
    c.stop_apiserver(0).await?;
    let outcome = c.start_apiserver(0).await?;
    println!("  start with {providers:?}: {outcome:?}");
    if let Err(StartFailure::NotReady { .. }) = outcome
        && let Some(server) = c.apiserver(0)
    {
        let (code, body) = server.readyz().await?;
        println!("  /readyz?verbose -> {code}; failing lines:");
        for line in body.lines().filter(|l| l.starts_with("[-]")) {
            println!("    {line}");
        }
        if let Some(last) = body.lines().last() {
            println!("    (last line: {last})");
        }
    }
    Ok(())
}

/// The questions of a/b, against an apiserver that cannot read s1 and s2.
async fn unreadable(c: &mut ProcessCluster, rv1: Option<String>) -> Res<()> {
    show("GET s1", &c.get(0, &id("s1")).await?, obj);
    show("LIST secrets (all namespaces)", &c.list(0, Kind::Secret, None).await?, |l| names(l));
    show("LIST secrets (default)", &c.list(0, Kind::Secret, Some("default")).await?, |l| names(l));
    show("PUT s1 (same data, no rv)", &c.update(0, &secret("s1", "v1", None)).await?, obj);
    show("PUT s1 (same data, rv of create)", &c.update(0, &secret("s1", "v1", rv1)).await?, obj);
    show("DELETE s1", &c.delete(0, &id("s1")).await?, |_| String::new());
    show("CREATE s3", &c.create(0, &secret("s3", "v3", None)).await?, obj);
    show("GET s3", &c.get(0, &id("s3")).await?, obj);
    show("GET s2", &c.get(0, &id("s2")).await?, obj);
    Ok(())
}

async fn raw_prefix(c: &mut ProcessCluster, name: &str) -> Res<String> {
    let key = id(name).etcd_key(c.etcd_prefix());
    Ok(match c.raw_get(&key).await? {
        Some(e) => {
            let end = e.value.iter().enumerate().filter(|(_, b)| **b == b':').nth(4);
            let head = &e.value[..end.map_or(e.value.len().min(4), |(i, _)| i + 1)];
            format!("{:?} mod_revision={}", String::from_utf8_lossy(head), e.mod_revision)
        }
        None => "absent".to_owned(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let assets = Assets::locate()?;

    println!("== a. identity-written secrets, then aescbc only (no identity)");
    let mut c = cluster(&assets).await?;
    println!("  start (no config): {:?}", c.start_apiserver(0).await?);
    let s1 = c.create(0, &secret("s1", "v1", None)).await?;
    show("CREATE s1", &s1, obj);
    show("CREATE s2", &c.create(0, &secret("s2", "v2", None)).await?, obj);
    restart(&mut c, Some(&["aescbc:key1"])).await?;
    unreadable(&mut c, s1.ok().and_then(|o| o.resource_version)).await?;
    println!("  restore (no config):");
    restart(&mut c, None).await?;
    show("GET s2", &c.get(0, &id("s2")).await?, obj);
    show("GET s3 (written with aescbc)", &c.get(0, &id("s3")).await?, obj);
    show("LIST secrets (default)", &c.list(0, Kind::Secret, Some("default")).await?, |l| names(l));
    println!("  a config that reads both (identity, aescbc key1):");
    restart(&mut c, Some(&["identity", "aescbc:key1"])).await?;
    show("LIST secrets (default)", &c.list(0, Kind::Secret, Some("default")).await?, |l| names(l));
    c.shutdown().await?;

    println!("== b. aescbc key1, then aescbc key2 only");
    let mut c = cluster(&assets).await?;
    restart(&mut c, Some(&["aescbc:key1"])).await?;
    let s1 = c.create(0, &secret("s1", "v1", None)).await?;
    show("CREATE s1", &s1, obj);
    show("CREATE s2", &c.create(0, &secret("s2", "v2", None)).await?, obj);
    restart(&mut c, Some(&["aescbc:key2"])).await?;
    unreadable(&mut c, s1.ok().and_then(|o| o.resource_version)).await?;
    println!("  restore (aescbc key1):");
    restart(&mut c, Some(&["aescbc:key1"])).await?;
    show("GET s2", &c.get(0, &id("s2")).await?, obj);
    show("GET s3 (written with key2)", &c.get(0, &id("s3")).await?, obj);
    show("LIST secrets (default)", &c.list(0, Kind::Secret, Some("default")).await?, |l| names(l));
    println!("  a config that reads both (aescbc key1, aescbc key2):");
    restart(&mut c, Some(&["aescbc:key1", "aescbc:key2"])).await?;
    show("LIST secrets (default)", &c.list(0, Kind::Secret, Some("default")).await?, |l| names(l));
    c.shutdown().await?;

    println!("== c/d/e. no-op updates, stale writes, conflicts, not found");
    let mut c = cluster(&assets).await?;
    restart(&mut c, Some(&["aescbc:key1"])).await?;
    let created = c.create(0, &secret("s", "v", None)).await?;
    show("CREATE s", &created, obj);
    let rv0 = created.ok().and_then(|o| o.resource_version);
    println!("  raw s: {}", raw_prefix(&mut c, "s").await?);
    show("PUT s same data with rv", &c.update(0, &secret("s", "v", rv0.clone())).await?, obj);
    show("PUT s same data without rv", &c.update(0, &secret("s", "v", None)).await?, obj);
    println!("  raw s: {}", raw_prefix(&mut c, "s").await?);
    restart(&mut c, Some(&["aescbc:key2", "aescbc:key1"])).await?;
    show("GET s (stale)", &c.get(0, &id("s")).await?, obj);
    show("PUT s same data without rv (stale)", &c.update(0, &secret("s", "v", None)).await?, obj);
    println!("  raw s: {}", raw_prefix(&mut c, "s").await?);
    show("PUT s same data without rv (again)", &c.update(0, &secret("s", "v", None)).await?, obj);
    println!("  raw s: {}", raw_prefix(&mut c, "s").await?);
    let current = c.get(0, &id("s")).await?.ok().and_then(|o| o.resource_version);
    show("PUT s same data with current rv", &c.update(0, &secret("s", "v", current)).await?, obj);
    show(
        "PUT s changed data with rv of create (d)",
        &c.update(0, &secret("s", "w", rv0)).await?,
        obj,
    );
    show("GET missing (e)", &c.get(0, &id("missing")).await?, obj);
    show("DELETE missing", &c.delete(0, &id("missing")).await?, |_| String::new());
    show("CREATE s again (exists)", &c.create(0, &secret("s", "v", None)).await?, obj);

    println!("== f. --encryption-provider-config names a missing file");
    c.remove_file(CONFIG).await?;
    c.configure_apiserver(0, ApiServerSpec::with_config(CONFIG))?;
    c.stop_apiserver(0).await?;
    let outcome = c.start_apiserver(0).await?;
    let root = c.file_root().unwrap_or_default();
    println!("  start: {outcome:?}");
    if let Err(StartFailure::Exited { err: Some(err), .. }) = &outcome {
        println!("  err with the file root replaced: {:?}", err.replace(&root, ""));
    }
    c.shutdown().await?;
    Ok(())
}
