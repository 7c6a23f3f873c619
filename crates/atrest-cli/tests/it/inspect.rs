//! `atrest inspect` against real etcds: the process backend's TLS etcd after a key rotation
//! through the real kube-apiserver, a plain-HTTP etcd filled directly with values from
//! atrest-transformers, and an unreachable etcd.
//!
//! Expected states follow from how the values were written (config and key), not from our own
//! output: a value written by the key1-only apiserver is `stale` under `key2, key1`, one
//! written after the switch is `current`, identity-stored bytes are `plaintext`, and a key
//! the config does not have is `undecryptable` with upstream's text
//! (`no matching key was found for the provided AES transformer`, config.go
//! `aesPrefixTransformer`).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use atrest_backend::{ApiServerSpec, Cluster, ClusterSpec, Data, Kind, Object, ObjectRef};
use atrest_config::load::{LoadOptions, load};
use atrest_config::resolve::group_resource_for_etcd_key;
use atrest_etcd::{ConnectSettings, RawEtcd};
use atrest_process::{Assets, ManagedProcess, ProcessCluster, ProcessSpec, free_port, free_ports};
use atrest_transformers::{KmsPlugins, ResourceTransformers};

use crate::{atrest, stderr, stdout};

pub(crate) const KEY1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
pub(crate) const KEY2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";
const KEY0: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
/// A plaintext value that must never reach any output.
pub(crate) const SECRET_VALUE: &[u8] = b"TOP-SECRET-PLAINTEXT-VALUE";

/// A config for Secrets: aescbc with `keys` in order, then identity when asked.
pub(crate) fn config(keys: &[(&str, &str)], identity: bool) -> String {
    let mut s = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n",
    );
    for (name, secret) in keys {
        s.push_str(&format!("            - name: {name}\n              secret: {secret}\n"));
    }
    if identity {
        s.push_str("      - identity: {}\n");
    }
    s
}

pub(crate) fn key1_only() -> String {
    config(&[("key1", KEY1)], false)
}

pub(crate) fn key2_first() -> String {
    config(&[("key2", KEY2), ("key1", KEY1)], true)
}

/// What an apiserver running `config` stores for `plaintext` at `key`.
pub(crate) fn encrypt(config: &str, key: &str, plaintext: &[u8]) -> Vec<u8> {
    let loaded = load("c.yaml", Ok(config.as_bytes().to_vec()), &LoadOptions::default()).unwrap();
    let t = ResourceTransformers::new(&loaded.plan, &KmsPlugins::new()).unwrap();
    let gr = group_resource_for_etcd_key(key, "/registry").unwrap();
    t.for_resource(&gr).to_storage(plaintext, key.as_bytes()).unwrap()
}

pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// The JSON report's objects by etcd key: (state, key name, config key).
fn objects(v: &serde_json::Value) -> BTreeMap<String, (String, Option<String>, Option<String>)> {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                s(&o["etcd_key"]).unwrap(),
                (s(&o["state"]).unwrap(), s(&o["key"]), s(&o["config_key"])),
            )
        })
        .collect()
}

/// The JSON report's verdicts by field path: (verdict, needed_by).
fn verdicts(v: &serde_json::Value) -> Vec<(String, String, u64)> {
    v["summary"]["config_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["path"].as_str().unwrap().to_owned(),
                k["verdict"].as_str().unwrap().to_owned(),
                k["needed_by"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub(crate) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}\nstdout:\n{}\nstderr:\n{}", stdout(out), stderr(out)))
}

pub(crate) fn assert_no_secrets(out: &Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    let value = String::from_utf8_lossy(SECRET_VALUE);
    assert!(!all.contains(value.as_ref()), "a plaintext value was printed:\n{all}");
    for key in [KEY0, KEY1, KEY2] {
        assert!(!all.contains(key), "key material was printed:\n{all}");
    }
}

// ---------------------------------------------------------------------------------------------
// The process backend: rotation through the real kube-apiserver, TLS etcd.

const CONFIG_A: &str = "/etc/kubernetes/enc/key1.yaml";
const CONFIG_B: &str = "/etc/kubernetes/enc/key2-first.yaml";

fn secret(name: &str, value: &[u8], rv: Option<String>) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, "default", name),
        data: Data([("k".to_owned(), value.to_vec())].into_iter().collect()),
        resource_version: rv,
    }
}

fn spec(config: &str) -> ApiServerSpec {
    ApiServerSpec::with_config(config)
}

/// `atrest inspect --config <B> --etcd <url> --cacert … --cert … --key …` on the cluster's etcd.
fn inspect_cluster(c: &ProcessCluster, format: &str) -> Output {
    let tls = c.etcd().endpoint().tls.clone().expect("the process backend's etcd uses TLS");
    let config = c.host_path(CONFIG_B).unwrap();
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    atrest(
        &[
            "inspect",
            "--config",
            &path(&config),
            "--etcd",
            c.etcd().client_url(),
            "--cacert",
            &path(&tls.ca_file),
            "--cert",
            &path(&tls.cert_file),
            "--key",
            &path(&tls.key_file),
            "--format",
            format,
        ],
        b"",
    )
}

#[tokio::test]
async fn inspect_process_rotation_on_tls_etcd() {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets, spec0).await.unwrap_or_else(|e| panic!("{e}"));

    // Config A (key1) and three Secrets.
    c.write_file(CONFIG_A, key1_only().as_bytes()).await.unwrap();
    c.write_file(CONFIG_B, key2_first().as_bytes()).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_A)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    for name in ["old-0", "old-1", "old-2"] {
        c.create(0, &secret(name, SECRET_VALUE, None)).await.unwrap().unwrap();
    }

    // key2 first, restart, two more.
    c.stop_apiserver(0).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_B)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    for name in ["new-0", "new-1"] {
        c.create(0, &secret(name, SECRET_VALUE, None)).await.unwrap().unwrap();
    }

    let out = inspect_cluster(&c, "json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secrets(&out);
    let v = json(&out);
    let secrets: BTreeMap<_, _> =
        objects(&v).into_iter().filter(|(k, _)| k.starts_with("/registry/secrets/")).collect();
    let key1 = Some("resources[0].providers[0].aescbc.keys[1]".to_owned());
    let key2 = Some("resources[0].providers[0].aescbc.keys[0]".to_owned());
    let want: BTreeMap<String, (String, Option<String>, Option<String>)> = [
        ("new-0", "current", "key2", &key2),
        ("new-1", "current", "key2", &key2),
        ("old-0", "stale", "key1", &key1),
        ("old-1", "stale", "key1", &key1),
        ("old-2", "stale", "key1", &key1),
    ]
    .into_iter()
    .map(|(n, s, k, c)| {
        (format!("/registry/secrets/default/{n}"), (s.to_owned(), Some(k.to_owned()), c.clone()))
    })
    .collect();
    assert_eq!(secrets, want);
    assert_eq!(
        verdicts(&v),
        [
            ("resources[0].providers[0].aescbc.keys[0]".to_owned(), "needed".to_owned(), 2),
            ("resources[0].providers[0].aescbc.keys[1]".to_owned(), "needed".to_owned(), 3),
            ("resources[0].providers[1].identity".to_owned(), "safe-to-remove".to_owned(), 0),
        ]
    );
    // Everything else the apiserver stored (namespaces, RBAC, …) is plaintext outside the config.
    let others = objects(&v).into_iter().filter(|(k, _)| !k.starts_with("/registry/secrets/"));
    let mut n_others = 0;
    for (key, (state, _, config_key)) in others {
        assert_eq!((state.as_str(), config_key), ("plaintext", None), "{key}");
        n_others += 1;
    }
    assert!(n_others > 10, "the apiserver's own objects are walked too: {n_others}");

    // The text report says the same.
    let out = inspect_cluster(&c, "text");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secrets(&out);
    let text = stdout(&out);
    assert!(text.contains("key1  still needed by 3 objects"), "{text}");
    assert!(text.contains("key2  still needed by 2 objects; writes new secrets"), "{text}");

    // Rewrite the old Secrets through the apiserver: key1 is then safe to remove.
    for name in ["old-0", "old-1", "old-2"] {
        let got = c.get(0, &ObjectRef::new(Kind::Secret, "default", name)).await.unwrap().unwrap();
        c.update(0, &secret(name, b"TOP-SECRET-PLAINTEXT-VALUE-2", got.resource_version))
            .await
            .unwrap()
            .unwrap();
    }
    let out = inspect_cluster(&c, "text");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("key1  safe to remove"), "{text}");
    assert!(text.contains("key2  still needed by 5 objects; writes new secrets"), "{text}");
    let v = json(&inspect_cluster(&c, "json"));
    assert_eq!(v["summary"]["totals"]["stale"], 0);
    assert_eq!(v["summary"]["totals"]["undecryptable"], 0);

    c.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// A plain-HTTP etcd filled directly.

/// A single-member etcd on plain HTTP, killed on drop.
pub(crate) struct PlainEtcd {
    pub(crate) url: String,
    _process: ManagedProcess,
    _dir: tempfile::TempDir,
}

pub(crate) async fn plain_etcd() -> (PlainEtcd, RawEtcd) {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2).unwrap();
    let url = format!("http://127.0.0.1:{}", ports[0]);
    let peer = format!("http://127.0.0.1:{}", ports[1]);
    let spec = ProcessSpec::new("etcd", &assets.etcd).args([
        "--name=plain".to_owned(),
        format!("--data-dir={}", dir.path().join("data").display()),
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=plain={peer}"),
        "--unsafe-no-fsync=true".to_owned(),
        "--heartbeat-interval=20".to_owned(),
        "--election-timeout=100".to_owned(),
    ]);
    let process = ManagedProcess::spawn(&spec, dir.path()).unwrap();
    let settings = ConnectSettings::new().with_connect_timeout(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (url_ref, settings_ref) = (&url, &settings);
    let raw = atrest_process::wait_until(deadline, Duration::from_millis(50), move || async move {
        match RawEtcd::connect_url(url_ref, settings_ref).await {
            Ok(raw) => ControlFlow::Break(raw),
            Err(e) => ControlFlow::Continue(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|t| panic!("etcd at {url} never answered: {t:?}"));
    (PlainEtcd { url, _process: process, _dir: dir }, raw)
}

#[tokio::test]
async fn inspect_process_plain_etcd_pages_and_exit_codes() {
    let (etcd, raw) = plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());

    let mut put = Vec::new();
    for i in 0..3 {
        let key = format!("/registry/secrets/default/old-{i}");
        put.push((key.clone(), encrypt(&key1_only(), &key, SECRET_VALUE)));
    }
    let key = "/registry/secrets/default/new-0".to_owned();
    put.push((key.clone(), encrypt(&key2_first(), &key, SECRET_VALUE)));
    put.push(("/registry/secrets/default/plain".to_owned(), SECRET_VALUE.to_vec()));
    put.push(("/registry/configmaps/default/cm".to_owned(), SECRET_VALUE.to_vec()));
    let key = "/registry/secrets/default/lost".to_owned();
    put.push((key.clone(), encrypt(&config(&[("key0", KEY0)], false), &key, SECRET_VALUE)));
    // Not an object the configuration applies to.
    put.push(("/registry/masterleases/10.0.0.1".to_owned(), b"lease".to_vec()));
    // Outside the walked prefix.
    put.push(("/other/secrets/default/x".to_owned(), b"x".to_vec()));
    for (k, v) in &put {
        raw.put(k, v.clone()).await.unwrap();
    }

    let run = |extra: &[&str]| {
        let mut args = vec!["inspect", "--config", &config_b, "--etcd", &etcd.url];
        args.extend_from_slice(extra);
        atrest(&args, b"")
    };

    // Two keys per page: the walk crosses four page boundaries.
    let out = run(&["--format", "json", "--page-size", "2"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an undecryptable object is a finding: {}",
        stderr(&out)
    );
    assert_no_secrets(&out);
    let v = json(&out);
    let key1 = "resources[0].providers[0].aescbc.keys[1]";
    let key2 = "resources[0].providers[0].aescbc.keys[0]";
    let identity = "resources[0].providers[1].identity";
    let got = objects(&v);
    let want: BTreeMap<String, (String, Option<String>, Option<String>)> = [
        ("/registry/configmaps/default/cm", "plaintext", None, None),
        ("/registry/secrets/default/lost", "undecryptable", Some("key0"), None),
        ("/registry/secrets/default/new-0", "current", Some("key2"), Some(key2)),
        ("/registry/secrets/default/old-0", "stale", Some("key1"), Some(key1)),
        ("/registry/secrets/default/old-1", "stale", Some("key1"), Some(key1)),
        ("/registry/secrets/default/old-2", "stale", Some("key1"), Some(key1)),
        ("/registry/secrets/default/plain", "plaintext", None, Some(identity)),
    ]
    .into_iter()
    .map(|(k, s, n, c)| (k.to_owned(), (s.to_owned(), n.map(str::to_owned), c.map(str::to_owned))))
    .collect();
    assert_eq!(got, want);
    let lost = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["etcd_key"] == "/registry/secrets/default/lost")
        .unwrap();
    assert_eq!(lost["error"], "no matching key was found for the provided AES transformer");
    let plain = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["etcd_key"] == "/registry/secrets/default/plain")
        .unwrap();
    assert_eq!(plain["config_writes_encrypted"], true);
    assert_eq!(plain["size"], SECRET_VALUE.len());
    assert_eq!(v["summary"]["skipped"], 1);
    assert_eq!(
        verdicts(&v),
        [
            (key2.to_owned(), "needed".to_owned(), 1),
            (key1.to_owned(), "needed".to_owned(), 3),
            (identity.to_owned(), "needed".to_owned(), 1),
        ]
    );

    // Without the lost object: exit 0. `--objects not-current` lists stale and plaintext only.
    raw.delete("/registry/secrets/default/lost").await.unwrap();
    let out = run(&["--objects", "not-current"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_secrets(&out);
    let text = stdout(&out);
    assert!(text.contains("/registry/secrets/default/old-0"), "{text}");
    assert!(!text.contains("/registry/secrets/default/new-0"), "{text}");
    assert!(text.contains("key1  still needed by 3 objects"), "{text}");

    // Rewritten with key2 and the plaintext one encrypted: key1 and identity are safe to remove.
    for k in ["old-0", "old-1", "old-2", "plain"] {
        let key = format!("/registry/secrets/default/{k}");
        raw.put(&key, encrypt(&key2_first(), &key, SECRET_VALUE)).await.unwrap();
    }
    let out = run(&["--format", "json", "--prefix", "/registry/secrets/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["summary"]["totals"]["objects"], 5);
    assert_eq!(v["summary"]["totals"]["current"], 5);
    assert_eq!(
        verdicts(&v),
        [
            (key2.to_owned(), "needed".to_owned(), 5),
            (key1.to_owned(), "safe-to-remove".to_owned(), 0),
            (identity.to_owned(), "safe-to-remove".to_owned(), 0),
        ]
    );

    // TLS against a plain listener: a connection error naming the URL, exit 2.
    let ca = atrest_process::certs::CertAuthority::new("unrelated-ca").unwrap();
    let ca_file = write_file(dir.path(), "ca.crt", ca.cert_pem());
    let https = etcd.url.replace("http://", "https://");
    let out = atrest(
        &[
            "inspect",
            "--config",
            &config_b,
            "--etcd",
            &https,
            "--cacert",
            &ca_file,
            "--connect-timeout",
            "3",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot connect to etcd at {https}")),
        "{}",
        stderr(&out)
    );

    // Nothing was written: the walk only read.
    let all = raw.list("/", 100).await.unwrap();
    assert_eq!(all.len(), put.len() - 1, "{all:?}");
}

/// `inspect --snapshot` on what the real etcd sends for `etcdctl snapshot save` (its
/// `Maintenance.Snapshot` stream, SHA-256 appended) says what `inspect --etcd` says of the live
/// etcd: same objects, states, verdicts and exit code. Overwritten keys show their last value,
/// deleted keys are gone. A corrupted or truncated file, or one that is no snapshot, is exit 2
/// with a text naming the file.
#[tokio::test]
async fn inspect_process_snapshot_matches_the_live_etcd() {
    let (etcd, raw) = plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());
    for i in 0..40 {
        let key = format!("/registry/secrets/default/old-{i:02}");
        raw.put(&key, encrypt(&key1_only(), &key, SECRET_VALUE)).await.unwrap();
    }
    // Overwritten: the snapshot holds both revisions, the last one counts.
    let key = "/registry/secrets/default/old-00".to_owned();
    raw.put(&key, encrypt(&key2_first(), &key, SECRET_VALUE)).await.unwrap();
    // Deleted: a tombstone revision.
    raw.delete("/registry/secrets/default/old-01").await.unwrap();
    raw.put("/registry/secrets/default/plain", SECRET_VALUE.to_vec()).await.unwrap();
    let key = "/registry/secrets/default/lost".to_owned();
    raw.put(&key, encrypt(&config(&[("key0", KEY0)], false), &key, SECRET_VALUE)).await.unwrap();
    // Big enough to spill over several bbolt pages.
    let big = vec![b'x'; 20_000];
    raw.put("/registry/configmaps/default/big", big).await.unwrap();

    let live =
        atrest(&["inspect", "--config", &config_b, "--etcd", &etcd.url, "--format", "json"], b"");
    assert_eq!(live.status.code(), Some(1), "{}", stderr(&live));

    let bytes = raw.snapshot().await.unwrap();
    assert_eq!(bytes.len() % 512, 32, "etcd appends a SHA-256 to the bbolt file");
    let snap = dir.path().join("snap.db");
    std::fs::write(&snap, &bytes).unwrap();
    let snap = snap.to_str().unwrap().to_owned();
    for reader in ["etcd", "atrest"] {
        snapshot_read_by(reader, &snap, &bytes, dir.path(), &config_b, &live);
    }
    // The default reader is etcd's own tooling when `cargo xtask setup` built it.
    let by_default = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["inspect", "--config", &config_b, "--snapshot", &snap])
        .env("ATREST_LOG", "info")
        .output()
        .unwrap();
    let by_etcd = atrest(
        &["inspect", "--config", &config_b, "--snapshot", &snap, "--snapshot-reader", "etcd"],
        b"",
    );
    assert_eq!(stdout(&by_default), stdout(&by_etcd));
    assert!(
        stderr(&by_default).contains("snapshot restored into a private etcd"),
        "{}",
        stderr(&by_default)
    );

    // A snapshot and an etcd at once: usage error.
    let out =
        atrest(&["inspect", "--config", &config_b, "--snapshot", &snap, "--etcd", &etcd.url], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // preflight reads snapshots too: the lost object makes the change unsafe, as live.
    let pre = |source: &[&str]| {
        let mut args = vec!["preflight", "--config", &config_b];
        args.extend_from_slice(source);
        atrest(&args, b"").status.code()
    };
    assert_eq!(pre(&["--snapshot", &snap]), pre(&["--etcd", &etcd.url]));
}

/// `inspect --snapshot FILE --snapshot-reader READER` says what `inspect --etcd` said of the
/// live etcd (`live`), for the file as saved and for the bare bbolt file; damaged files and
/// files that are no snapshot are exit 2 with a text naming the file.
fn snapshot_read_by(
    reader: &str,
    snap: &str,
    bytes: &[u8],
    dir: &std::path::Path,
    config_b: &str,
    live: &std::process::Output,
) {
    let run = |file: &str, extra: &[&str]| {
        let mut args = vec!["inspect", "--config", config_b, "--snapshot", file];
        args.extend_from_slice(&["--snapshot-reader", reader]);
        args.extend_from_slice(extra);
        atrest(&args, b"")
    };
    let out = run(snap, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{reader}: {}", stderr(&out));
    assert_no_secrets(&out);
    let (v, w) = (json(&out), json(live));
    assert_eq!(objects(&v), objects(&w), "{reader}");
    assert_eq!(verdicts(&v), verdicts(&w), "{reader}");
    assert_eq!(v["summary"], w["summary"], "{reader}");
    assert_eq!(v["summary"]["totals"]["objects"], 42, "{}", v["summary"]);
    let got = objects(&v);
    assert_eq!(got["/registry/secrets/default/old-00"].0, "current");
    assert!(!got.contains_key("/registry/secrets/default/old-01"));
    let text = stdout(&run(snap, &[]));
    assert!(text.contains(&format!("snapshot {snap}, keys under /registry/:")), "{text}");

    // The bbolt file alone (a member's member/snap/db has no hash): the same answer.
    let bare = dir.join(format!("bare-{reader}.db"));
    std::fs::write(&bare, &bytes[..bytes.len() - 32]).unwrap();
    let out = run(bare.to_str().unwrap(), &["--format", "json"]);
    assert_eq!(objects(&json(&out)), objects(&w), "{reader}: {}", stderr(&out));

    // One flipped byte: the hash says so.
    let mut flipped = bytes.to_vec();
    flipped[bytes.len() / 2] ^= 0x40;
    let bad = dir.join(format!("flipped-{reader}.db"));
    std::fs::write(&bad, &flipped).unwrap();
    let out = run(bad.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(2), "{reader}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("snapshot {}", bad.display())), "{err}");
    let hash_text = match reader {
        "etcd" => "etcdutl snapshot restore (exit status: 1): expected sha256 [",
        _ => "the snapshot's SHA-256 does not match its contents",
    };
    assert!(err.contains(hash_text), "{reader}: {err}");

    // Truncated: pages the tree names are missing.
    let cut = dir.join(format!("cut-{reader}.db"));
    // Whole 512-byte sectors: no hash to check, so the damage itself must be found.
    std::fs::write(&cut, &bytes[..bytes.len() / 3 / 512 * 512]).unwrap();
    let out = run(cut.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(2), "{reader}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("snapshot {}", cut.display())), "{err}");
    // etcdutl crashes on it (bbolt faults past the end of its mapping); atrest says why.
    let cut_text = "corrupted snapshot: page ";
    assert!(err.contains(cut_text), "{reader}: {err}");
    if reader == "etcd" {
        assert!(
            err.contains("etcdutl snapshot restore failed (exit status: 2); the file is damaged")
        );
    }

    // Not a snapshot at all.
    let out = run(config_b, &[]);
    assert_eq!(out.status.code(), Some(2), "{reader}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not an etcd snapshot: no valid bbolt meta page"), "{reader}: {err}");
}

// ---------------------------------------------------------------------------------------------
// Usage and connection errors.

#[test]
fn inspect_unreachable_etcd_exits_2_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());
    // A port nothing listens on (bound and released).
    let url = format!("http://127.0.0.1:{}", free_port().unwrap());
    let started = Instant::now();
    let out =
        atrest(&["inspect", "--config", &config_b, "--etcd", &url, "--connect-timeout", "2"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot connect to etcd at {url}")), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(stdout(&out), "");
}

#[test]
fn inspect_https_without_ca_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());
    let out = atrest(&["inspect", "--config", &config_b, "--etcd", "https://127.0.0.1:1"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("https://127.0.0.1:1"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--cacert"), "{}", stderr(&out));
}

#[test]
fn inspect_bad_config_exits_2_with_the_apiservers_text() {
    let dir = tempfile::tempdir().unwrap();
    // A key that is not 16, 24 or 32 bytes: the apiserver refuses to start.
    let bad = config(&[("short", "c2hvcnQ=")], false);
    let file = write_file(dir.path(), "bad.yaml", &bad);
    let out = atrest(&["inspect", "--config", &file, "--etcd", "http://127.0.0.1:1"], b"");
    assert_eq!(out.status.code(), Some(2));
    // The same text `check-config` prints (its own tests hold it against the real apiserver).
    let check = atrest(&["check-config", &file], b"");
    let check_text = stdout(&check);
    let err_line = check_text.lines().find(|l| l.trim_start().starts_with("err=")).unwrap();
    assert!(stderr(&out).contains(err_line.trim()), "{}\nvs\n{check_text}", stderr(&out));
    assert_no_secrets(&out);
}

/// `--fail-on` as a CI gate, and the JUnit report with one test case per resource.
#[tokio::test]
async fn inspect_process_fail_on_gate_and_junit() {
    let (etcd, raw) = plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());
    let key = "/registry/secrets/default/old".to_owned();
    raw.put(&key, encrypt(&key1_only(), &key, SECRET_VALUE)).await.unwrap();
    raw.put("/registry/configmaps/default/cm", SECRET_VALUE.to_vec()).await.unwrap();
    let junit = dir.path().join("inspect.junit.xml");
    let run = |fail_on: &str| {
        atrest(
            &[
                "inspect",
                "--config",
                &config_b,
                "--etcd",
                &etcd.url,
                "--objects",
                "none",
                "--fail-on",
                fail_on,
                "--junit",
                junit.to_str().unwrap(),
            ],
            b"",
        )
    };
    // Nothing undecryptable: the default gate passes.
    assert_eq!(run("undecryptable").status.code(), Some(0));
    // A stale Secret fails a gate on stale.
    let out = run("plaintext,stale");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("inspect: failing on 1 plaintext, 1 stale"), "{}", stderr(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testcase name="secrets""#), "{xml}");
    assert!(xml.contains(r#"<failure message="secrets: 1 stale (of 1 objects)""#), "{xml}");
    // ConfigMaps are not in the config: plaintext is what the apiserver writes, not a finding
    // of `stale`, but a gate on plaintext catches it.
    let out = run("plaintext");
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<failure message="configmaps: 1 plaintext (of 1 objects)""#), "{xml}");
    assert!(!xml.contains("TOP-SECRET"), "{xml}");
}

/// A TCP forwarder on 127.0.0.1 to `target` that closes every connection once `budget` bytes
/// came back from the server in all: an etcd that drops the connection in the middle of a walk.
async fn dropping_proxy(target: String, budget: usize) -> u16 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let Ok(server) = tokio::net::TcpStream::connect(&target).await else { return };
            let sent = Arc::clone(&sent);
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sent.fetch_add(n, Ordering::SeqCst) + n > budget {
                        break;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // Dropping both halves closes the connection under the client.
                up.abort();
            });
        }
    });
    port
}

/// etcd goes away in the middle of the walk (the connection drops after about 100 KB of
/// answers): exit 2 with the page being read and the URL, and no verdict on what was not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_process_etcd_dropping_mid_walk_exits_2() {
    let (etcd, raw) = plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let config_b = write_file(dir.path(), "b.yaml", &key2_first());
    let value = vec![b'v'; 2048];
    for i in 0..300 {
        raw.put(&format!("/registry/configmaps/default/cm-{i:03}"), value.clone()).await.unwrap();
    }
    let target = etcd.url.trim_start_matches("http://").to_owned();
    let port = dropping_proxy(target, 100 * 1024).await;
    let url = format!("http://127.0.0.1:{port}");
    let args = ["inspect", "--config", &config_b, "--etcd", &url, "--page-size", "20"];
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        atrest(&args, b"")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("reading /registry/ from etcd at {url}")), "{err}");
    // Where it stopped: the range request that failed names its start key.
    assert!(err.contains("etcd range \"/registry/configmaps/default/cm-"), "{err}");
    // The objects read before it are listed; no summary or verdict covers what was not read.
    let text = stdout(&out);
    assert!(text.contains("/registry/configmaps/default/cm-000"), "{text}");
    assert!(!text.contains("keys under"), "{text}");
}
