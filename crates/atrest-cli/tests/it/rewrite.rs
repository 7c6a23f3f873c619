//! `atrest rewrite` against the real kube-apiserver: after a switch to key2-first, every Secret
//! written under key1 is rewritten through the apiserver and ends on key2 in etcd (read raw);
//! a journal makes a second run skip what the first did; an unreachable apiserver is exit 2.

use atrest_backend::{
    ApiServerSpec, Cluster, ClusterSpec, Data, EtcdSpec, Kind, Object, ObjectRef,
};
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
    stored_keys_of(c, (0..SECRETS).map(|i| format!("s-{i:03}"))).await
}

/// Which key each Secret `default/<name>` is stored with: (on key1, on key2).
async fn stored_keys_of(
    c: &mut ProcessCluster,
    names: impl Iterator<Item = String>,
) -> (usize, usize) {
    let (mut one, mut two) = (0, 0);
    for name in names {
        let raw = c.raw_get(&format!("/registry/secrets/default/{name}")).await.unwrap().unwrap();
        if raw.value.starts_with(KEY1_PREFIX) {
            one += 1;
        } else if raw.value.starts_with(KEY2_PREFIX) {
            two += 1;
        }
    }
    (one, two)
}

/// The data every Secret of these tests holds.
fn secret_data() -> Data {
    Data([("k".to_owned(), SECRET_VALUE.to_vec())].into_iter().collect())
}

/// A cluster whose Secrets `default/<name>` (for each of `names`) were written under key1, and
/// whose apiserver then restarted with key2 first: the state before every rewrite here.
async fn written_under_key1_now_key2_first(names: impl Iterator<Item = String>) -> ProcessCluster {
    written_under_key1_now_key2_first_on(EtcdSpec::default(), names).await
}

/// [`written_under_key1_now_key2_first`] on an etcd run with `etcd`.
async fn written_under_key1_now_key2_first_on(
    etcd: EtcdSpec,
    names: impl Iterator<Item = String>,
) -> ProcessCluster {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], etcd, ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets, spec0).await.unwrap_or_else(|e| panic!("{e}"));
    c.write_file(CONFIG_A, key1_only().as_bytes()).await.unwrap();
    c.write_file(CONFIG_B, crate::inspect::key2_first().as_bytes()).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_A)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    for name in names {
        let id = ObjectRef::new(Kind::Secret, "default", name);
        let object = Object { id, data: secret_data(), resource_version: None };
        c.create(0, &object).await.unwrap().unwrap();
    }
    c.stop_apiserver(0).await.unwrap();
    c.configure_apiserver(0, spec(CONFIG_B)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    c
}

#[tokio::test]
async fn rewrite_process_reencrypts_resumes_and_reports() {
    let mut c = written_under_key1_now_key2_first((0..SECRETS).map(|i| format!("s-{i:03}"))).await;
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

/// What the real apiserver sends when a continue token outlived etcd's compaction
/// (k8s.io/apiserver storage errors: `NewResourceExpired`, reason `Expired`).
const EXPIRED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.","reason":"Expired","code":410}"#;

/// API priority and fairness rejecting a request (`Retry-After` set, reason `TooManyRequests`).
const THROTTLED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#;

/// `/version` of kube-apiserver v1.37.2 (rewrite asks it first to prove the server answers).
const VERSION: &str = r#"{"major":"1","minor":"37","gitVersion":"v1.37.2","gitCommit":"","gitTreeState":"clean","buildDate":"1970-01-01T00:00:00Z","goVersion":"go1.26.8","compiler":"gc","platform":"linux/amd64"}"#;

fn secret_json(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{name}","namespace":"ns","resourceVersion":"7"}},"data":{{"k":"dg=="}}}}"#
    )
}

fn list_json(names: &[&str], continue_: Option<&str>) -> String {
    let items: Vec<String> = names.iter().map(|n| secret_json(n)).collect();
    let cont = continue_.map(|c| format!(r#","continue":"{c}""#)).unwrap_or_default();
    format!(
        r#"{{"apiVersion":"v1","kind":"SecretList","metadata":{{"resourceVersion":"10"{cont}}},"items":[{}]}}"#,
        items.join(",")
    )
}

/// A scripted apiserver on 127.0.0.1 (plain HTTP/1.1): the first listing's second page has
/// expired (410), the listing from the start then succeeds; the first PUT of `s-a` is
/// throttled (429, Retry-After: 1). Records every request line.
struct FakeApiserver {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeApiserver {
    async fn start() -> FakeApiserver {
        use std::sync::{Arc, Mutex};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                tokio::spawn(serve(stream, Arc::clone(&log)));
            }
        });
        FakeApiserver { port, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// One connection: requests answered in order until the client closes it.
async fn serve(
    mut stream: tokio::net::TcpStream,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = Vec::new();
    loop {
        // The head, then as many body bytes as Content-Length says.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let line = head.lines().next().unwrap_or_default();
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        // kube-rs sends `?` even without parameters (`/secrets/s-a?`).
        let target = target.strip_suffix('?').unwrap_or(target);
        let request = format!("{method} {target}");
        let (code, extra, body) = {
            let mut log = log.lock().unwrap();
            log.push(request.clone());
            let lists = log.iter().filter(|r| r.starts_with("GET /api/v1/secrets")).count();
            let puts_of_a = log.iter().filter(|r| r.ends_with("/secrets/s-a")).count();
            match (method, target) {
                ("GET", "/version") => (200, "", VERSION.to_owned()),
                ("GET", t) if t.starts_with("/api/v1/secrets") && t.contains("continue=c1") => {
                    (410, "", EXPIRED.to_owned())
                }
                ("GET", t) if t.starts_with("/api/v1/secrets") && t.contains("continue=c2") => {
                    (200, "", list_json(&["s-c"], None))
                }
                ("GET", t) if t.starts_with("/api/v1/secrets") => {
                    let next = if lists == 1 { "c1" } else { "c2" };
                    (200, "", list_json(&["s-a", "s-b"], Some(next)))
                }
                ("PUT", t) if t.ends_with("/secrets/s-a") && puts_of_a == 1 => {
                    (429, "Retry-After: 1\r\n", THROTTLED.to_owned())
                }
                ("PUT", t) => {
                    let name = t.rsplit('/').next().unwrap_or_default();
                    (200, "", secret_json(name))
                }
                _ => (404, "", "{}".to_owned()),
            }
        };
        let reason = match code {
            200 => "OK",
            410 => "Gone",
            429 => "Too Many Requests",
            _ => "Not Found",
        };
        let response = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The two answers no real-cluster run here provokes on demand: an expired continue token
/// (410 after etcd's compaction) restarts the listing without rewriting twice what the first
/// pass did, and API priority and fairness's 429 is retried after its Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_relists_after_an_expired_token_and_waits_out_throttling() {
    let fake = FakeApiserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(
        dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: \
             http://127.0.0.1:{}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: \
             c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
            fake.port
        ),
    );
    let out = tokio::task::spawn_blocking(move || {
        atrest(
            &["rewrite", "--kubeconfig", &kubeconfig, "--page-size", "2", "--format", "json"],
            b"",
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let secrets = &report["resources"][0];
    assert_eq!(secrets["list_restarts"], 1, "{report:#}");
    assert_eq!(secrets["rewritten"], 3, "{report:#}");
    assert_eq!(secrets["skipped"], 2, "what the first pass rewrote is not rewritten again");
    assert_eq!(secrets["failed"], 0, "{report:#}");
    let seen = fake.requests();
    let puts: Vec<&String> = seen.iter().filter(|r| r.starts_with("PUT")).collect();
    assert_eq!(
        puts.iter().filter(|r| r.ends_with("/secrets/s-a")).count(),
        2,
        "throttled once, retried once: {seen:#?}"
    );
    assert_eq!(puts.len(), 4, "{seen:#?}");
    assert!(seen.iter().any(|r| r.contains("continue=c1")), "{seen:#?}");
}

/// A kubeconfig whose user has no RBAC binding (a certificate the cluster's CA signed for
/// `nobody`): `rewrite` stops at the first LIST with the apiserver's own 403 text, and the
/// existing backend at the first scratch namespace it would create. Nothing is written.
#[tokio::test]
async fn rewrite_process_without_permission_says_who_cannot_do_what() {
    let assets = Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = ProcessCluster::launch(&assets, spec0).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    let nobody = c.pki().ca.client("nobody", &[]).unwrap();
    let server = c.apiserver(0).unwrap().url();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(
        dir.path(),
        "nobody.kubeconfig",
        &c.pki().kubeconfig_for(&server, "nobody", &nobody),
    );

    let out = atrest(&["rewrite", "--kubeconfig", &kubeconfig], b"");
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("listing secrets"), "{err}");
    assert!(
        err.contains(
            r#"secrets is forbidden: User "nobody" cannot list resource "secrets" in API group "" at the cluster scope"#
        ),
        "{err}"
    );

    let scenario = write_file(
        dir.path(),
        "api-only.yaml",
        "description: API only\nsteps:\n  - create: {secret: s, data: {k: v}}\n  \
         - get: {secret: s, expect: {data: {k: v}}}\n",
    );
    let out =
        atrest(&["scenario", &scenario, "--backend", "existing", "--kubeconfig", &kubeconfig], b"");
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(&out), stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(r#"namespaces is forbidden: User "nobody" cannot create resource "namespaces" in API group "" at the cluster scope"#),
        "{said}"
    );
    // Nothing was created: the admin sees no scratch namespace.
    let listed = c.list(0, Kind::Secret, None).await.unwrap().unwrap();
    assert!(listed.iter().all(|o| !o.id.namespace.starts_with("atrest-")), "{listed:?}");
    c.shutdown().await.unwrap();
}

/// Ctrl-C in the middle of a rewrite: exit 2 with an interrupted report, every object still
/// readable and whole (each replace happened or not), the journal lists only what was
/// rewritten, and a rerun with it rewrites exactly the rest.
#[tokio::test]
async fn rewrite_process_sigint_then_resume_from_the_journal() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    const MANY: usize = 3000;
    let mut c = written_under_key1_now_key2_first((0..MANY).map(|i| format!("m-{i:04}"))).await;
    let data = secret_data();

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(dir.path(), "kubeconfig", c.apiserver(0).unwrap().kubeconfig());
    let journal = dir.path().join("journal").to_str().unwrap().to_owned();
    let args = [
        "rewrite",
        "--kubeconfig",
        &kubeconfig,
        "--journal",
        &journal,
        "--concurrency",
        "2",
        "--page-size",
        "100",
        "--format",
        "json",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line (every 1000 objects off a terminal) is the moment to interrupt.
    let stderr_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            if line.starts_with("secrets: 1000 done") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(120)).expect("a progress line");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["interrupted"], true, "{v}");
    let done = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!((1000..MANY).contains(&done), "journal lists {done} of {MANY}: {v}");

    // Every object whole and readable; what the journal lists is on key2 (an abandoned
    // replace may have landed without its line: on key2 too, and rewritten again below).
    for o in c.list(0, Kind::Secret, Some("default")).await.unwrap().unwrap() {
        assert_eq!(o.data, data, "{}", o.id);
    }
    let on_key2 = c
        .raw_list("/registry/secrets/default/m-")
        .await
        .unwrap()
        .iter()
        .filter(|e| e.value.starts_with(KEY2_PREFIX))
        .count();
    assert!(on_key2 >= done && on_key2 < MANY, "{on_key2} on key2, journal {done}");

    let out = atrest(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &v["resources"][0];
    assert_eq!(r["skipped"].as_u64(), Some(done as u64), "{v}");
    assert_eq!(r["rewritten"].as_u64(), Some((MANY - done) as u64), "{v}");
    let all = c.raw_list("/registry/secrets/default/m-").await.unwrap();
    assert!(all.iter().all(|e| e.value.starts_with(KEY2_PREFIX)));
    assert_eq!(all.len(), MANY);
    c.shutdown().await.unwrap();
}

/// etcd reaches its quota (a runaway writer filled it): `atrest rewrite` stops at the first
/// write etcd refuses instead of failing every remaining object, says what to do, and after
/// etcd's recovery (delete the filler, compact, defragment, disarm) a rerun with the journal
/// finishes the rest.
#[tokio::test]
async fn rewrite_process_stops_when_etcd_is_out_of_space() {
    const N: usize = 40;
    let quota = EtcdSpec { quota_backend_bytes: Some(4 << 20) };
    let mut c =
        written_under_key1_now_key2_first_on(quota, (0..N).map(|i| format!("q-{i:02}"))).await;
    let mut filled = Vec::new();
    loop {
        let id = ObjectRef::new(Kind::Secret, "kube-public", format!("fill-{}", filled.len()));
        let data = Data([("fill".to_owned(), vec![b'x'; 100_000])].into_iter().collect());
        let object = Object { id: id.clone(), data, resource_version: None };
        match c.create(0, &object).await.unwrap() {
            Ok(_) => filled.push(id),
            Err(e) => {
                assert_eq!(e.message, "etcdserver: mvcc: database space exceeded");
                break;
            }
        }
        assert!(filled.len() < 200, "a 4 MiB quota never refused a write");
    }

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_file(dir.path(), "kubeconfig", c.apiserver(0).unwrap().kubeconfig());
    let journal = dir.path().join("journal");
    let journal = journal.to_str().unwrap().to_owned();
    let args = ["rewrite", "--kubeconfig", &kubeconfig, "--namespace", "default"];
    let mut run = args.to_vec();
    run.extend(["--journal", &journal, "--concurrency", "4", "--page-size", "10"]);
    run.extend(["--format", "json"]);
    let out = atrest(&run, b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("etcd is out of space: it refused a write with \"etcdserver: mvcc: database space exceeded\"")
            && stderr(&out).contains(&format!("with --journal {journal} to resume")),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let secrets = &report["resources"][0];
    assert_eq!(secrets["stopped_no_space"], true, "{report:#}");
    assert_eq!(secrets["rewritten"], 0, "{report:#}");
    // Stopped at once: only the replaces already in flight failed, not all 40.
    let failed = secrets["failed"].as_u64().unwrap();
    assert!((1..=4).contains(&failed), "{report:#}");
    assert_eq!(
        stored_keys_of(&mut c, (0..N).map(|i| format!("q-{i:02}"))).await,
        (N, 0),
        "nothing half-written"
    );

    // etcd's recovery: free space (deletes are taken under the alarm), compact, defragment,
    // disarm.
    for id in &filled {
        c.delete(0, id).await.unwrap().unwrap();
    }
    let etcd = c.raw_etcd();
    let revision = etcd.status().await.unwrap().revision;
    etcd.compact(revision).await.unwrap();
    etcd.defragment().await.unwrap();
    let disarmed = etcd.disarm().await.unwrap();
    assert_eq!(disarmed.len(), 1, "{disarmed:?}");
    assert!(etcd.alarms().await.unwrap().is_empty());

    let out = atrest(&run, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["resources"][0]["rewritten"], N, "{report:#}");
    assert_eq!(stored_keys_of(&mut c, (0..N).map(|i| format!("q-{i:02}"))).await, (0, N));
    c.shutdown().await.unwrap();
}
