//! Probe of what a real kube-apiserver answers when etcd reaches its space quota, and what
//! etcd's recovery steps do: what `atrest-sim`'s quota model and the `etcd-quota-during-rewrite`
//! scenario rest on.
//!
//! ```sh
//! ATREST_ASSETS=<dir from cargo xtask setup> cargo run -p atrest-process --example quota_probe
//! ```
//!
//! With a quota of 8 MiB (`QUOTA=bytes` to change) it creates Secrets of 4 KiB (`SIZE=bytes`)
//! until one is refused, printing etcd's sizes on the way, then tries each kind of request with
//! the alarm raised, disarming alone, and compact + defragment + disarm.
//!
//! Measured 2026-12-05 (kube-apiserver v1.37.2, etcd v3.6.16): `dbSize` 272 KiB after start;
//! the create that does not fit gets HTTP 500 with no reason and exactly `etcdserver: mvcc:
//! database space exceeded`, and so does every later write however small; reads, no-op updates
//! and deletes go through; `/readyz` stays 200; a disarm alone is undone by the next write;
//! after compact, defragment and disarm writes are taken again.

#![expect(clippy::print_stdout, reason = "the probe's report on stdout is the point")]

use std::collections::BTreeMap;

use atrest_backend::{
    ApiResult, ApiServerSpec, Cluster, ClusterSpec, Data, EtcdSpec, Kind, Object, ObjectRef,
};
use atrest_process::{Assets, ProcessCluster};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn secret(name: &str, size: usize) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, "default", name),
        data: Data(BTreeMap::from([("k".to_owned(), vec![b'x'; size])])),
        resource_version: None,
    }
}

fn show<T>(label: &str, r: &ApiResult<T>) {
    match r {
        Ok(_) => println!("  {label}: OK"),
        Err(e) => println!(
            "  {label}: ERROR code={} reason={:?} message={:?}",
            e.code, e.reason, e.message
        ),
    }
}

fn env_number(name: &str, default: u64) -> Res<u64> {
    match std::env::var(name) {
        Ok(v) => Ok(v.parse().map_err(|e| format!("{name}={v:?}: {e}"))?),
        Err(_) => Ok(default),
    }
}

async fn sizes(c: &ProcessCluster, label: &str) -> Res<()> {
    let st = c.raw_etcd().status().await?;
    println!(
        "{label}: revision {} dbSize {} dbSizeInUse {} errors {:?}",
        st.revision, st.db_size, st.db_size_in_use, st.errors
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let quota = env_number("QUOTA", 8 << 20)?;
    let size = usize::try_from(env_number("SIZE", 4096)?)?;
    let assets = Assets::locate()?;
    let spec = ClusterSpec {
        apiservers: vec![ApiServerSpec::default()],
        etcd: EtcdSpec { quota_backend_bytes: Some(quota) },
        ..ClusterSpec::default()
    };
    let mut c = ProcessCluster::launch(&assets, spec).await?;
    if let Err(failure) = c.start_apiserver(0).await? {
        return Err(format!("the apiserver did not start: {failure:?}").into());
    }
    sizes(&c, "after start").await?;
    let mut n = 0;
    loop {
        let r = c.create(0, &secret(&format!("s{n}"), size)).await?;
        if r.is_err() {
            show(&format!("create s{n}"), &r);
            break;
        }
        n += 1;
        if n % 200 == 0 {
            sizes(&c, &format!("{n} created")).await?;
        }
    }
    sizes(&c, "refused").await?;
    show("create of 10 bytes", &c.create(0, &secret("small", 10)).await?);
    show("get s0", &c.get(0, &ObjectRef::new(Kind::Secret, "default", "s0")).await?);
    show("update s1, same data", &c.update(0, &secret("s1", size)).await?);
    show("delete s2", &c.delete(0, &ObjectRef::new(Kind::Secret, "default", "s2")).await?);
    if let Some(server) = c.apiserver(0) {
        let (code, body) = server.readyz().await?;
        let failing: Vec<&str> = body.lines().filter(|l| l.starts_with("[-]")).collect();
        println!("  /readyz?verbose: {code}, failing {failing:?}");
    }
    println!("disarm alone: {:?}", c.raw_etcd().disarm().await?);
    show("create after disarm alone", &c.create(0, &secret("after-disarm", 10)).await?);
    println!("alarms: {:?}", c.raw_etcd().alarms().await?);
    let revision = c.raw_etcd().status().await?.revision;
    c.raw_etcd().compact(revision).await?;
    sizes(&c, "compacted").await?;
    c.raw_etcd().defragment().await?;
    sizes(&c, "defragmented").await?;
    println!("disarm: {:?}", c.raw_etcd().disarm().await?);
    show("create after recovery", &c.create(0, &secret("after-recovery", 10)).await?);
    c.shutdown().await?;
    Ok(())
}
