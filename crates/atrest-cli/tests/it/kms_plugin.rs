//! `atrest kms-plugin serve|ctl|keygen`, and `decrypt`/`encrypt`/`inspect` through a running
//! KMS v2 plugin (`--kms-plugin NAME=unix:///path`).
//!
//! Expected texts of failed reads are the apiserver's (`got unexpected nil transformer`,
//! `failed to decrypt DEK, error: <plugin error>`: k8s.io/apiserver
//! pkg/storage/value/encrypt/envelope/kmsv2/envelope.go), with the plugin's gRPC error as
//! grpc-go prints it.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atrest_kms::{Fault, KmsPlugin, PluginConfig};

use crate::{atrest, stderr, stdout};

const ETCD_KEY: &str = "/registry/secrets/default/s1";

fn kms_config(dir: &Path, socket: &Path) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - kms:\n          apiVersion: v2\n          name: atrest\n          endpoint: unix://{}\n          timeout: 2s\n      - identity: {{}}\n",
            socket.display()
        ),
    )
    .unwrap();
    path
}

fn plugin(dir: &Path) -> KmsPlugin {
    KmsPlugin::start(
        PluginConfig::new(dir.join("kms.sock"), dir.join("kek")).with_new_key_file_if_missing(),
    )
    .unwrap()
}

fn crypt(cmd: &str, config: &Path, plugin: &str, input: &[u8]) -> std::process::Output {
    let config = config.to_str().unwrap();
    let spec = format!("atrest={plugin}");
    atrest(&[cmd, "--config", config, "--etcd-key", ETCD_KEY, "--kms-plugin", &spec], input)
}

#[test]
fn keygen_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("kek");
    let out = atrest(&["kms-plugin", "keygen", "--out", key.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "wrote a KMS plugin key file with key ID \"atrest-kek-1\" to {} (mode 0600)\n",
            key.display()
        )
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let before = std::fs::read(&key).unwrap();
    let again = atrest(&["kms-plugin", "keygen", "--out", key.to_str().unwrap()], b"");
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).starts_with(&format!("error: writing key file {}: ", key.display())));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    assert!(stdout(&out).is_empty() && stdout(&again).is_empty());
}

#[test]
fn encrypt_and_decrypt_through_a_running_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let config = kms_config(dir.path(), p.socket_path());
    let endpoint = p.endpoint();
    let stored = crypt("encrypt", &config, &endpoint, b"plaintext of s1");
    assert_eq!(stored.status.code(), Some(0), "{}", stderr(&stored));
    assert!(stored.stdout.starts_with(b"k8s:enc:kms:v2:atrest:"));
    let read = crypt("decrypt", &config, &endpoint, &stored.stdout);
    assert_eq!(read.status.code(), Some(0), "{}", stderr(&read));
    assert_eq!(read.stdout, b"plaintext of s1");
    assert_eq!(stderr(&read), "");

    // After a rotation the value still decrypts, and is stale.
    p.rotate().unwrap();
    let read = crypt("decrypt", &config, &endpoint, &stored.stdout);
    assert_eq!(read.stdout, b"plaintext of s1");
    assert!(stderr(&read).starts_with("note: this value is stale"), "{}", stderr(&read));

    // With the wrong KEK, the apiserver's text, then the plugin's health is fine.
    p.set_fault(Fault::WrongKek).unwrap();
    let read = crypt("decrypt", &config, &endpoint, &stored.stdout);
    assert_eq!(read.status.code(), Some(1));
    assert_eq!(
        stderr(&read).lines().next(),
        Some(
            "failed to decrypt DEK, error: rpc error: code = InvalidArgument desc = unwrapping with key ID \"atrest-kek-1\": message authentication failed"
        )
    );
    p.clear_faults().unwrap();

    // A plugin failing Status: reads fail as upstream's (no write state), and a note says why.
    let disabled =
        atrest_kms::InjectedError::new(atrest_transformers::GrpcCode::FailedPrecondition)
            .with_message("key disabled");
    p.set_fault(Fault::FailStatus(disabled)).unwrap();
    let read = crypt("decrypt", &config, &endpoint, &stored.stdout);
    assert_eq!(read.status.code(), Some(1));
    let err = stderr(&read);
    assert_eq!(err.lines().next(), Some("got unexpected nil transformer"));
    assert!(
        err.contains(
            "note: KMS provider \"atrest\": failed to perform status section of the healthz check for KMS Provider atrest, error: rpc error: code = FailedPrecondition desc = key disabled"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_socket_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let config = kms_config(dir.path(), &socket);
    let endpoint = format!("unix://{}", socket.display());
    let out = crypt("decrypt", &config, &endpoint, b"k8s:enc:kms:v2:atrest:");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: --kms-plugin atrest={endpoint}: KMS plugin socket {0} does not exist: is the plugin running? (`atrest kms-plugin serve --socket {0}` serves one)\n",
            socket.display()
        )
    );
    let out = crypt("decrypt", &config, "tcp://127.0.0.1:1", b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected NAME=unix:///path/to/socket or NAME=base64-mock"));
    // Without any plugin, the note names both ways to give one.
    let out = atrest(
        &["decrypt", "--config", config.to_str().unwrap(), "--etcd-key", ETCD_KEY],
        b"k8s:enc:kms:v2:atrest:",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--kms-plugin NAME=unix:///path/to/socket calls a running KMS v2 plugin, NAME=base64-mock upstream's test plugin"), "{}", stderr(&out));
}

/// `atrest kms-plugin serve` as a child process, stopped by a signal.
struct Served {
    child: Option<Child>,
    socket: PathBuf,
    control: PathBuf,
}

impl Served {
    fn start(dir: &Path) -> Served {
        Served::start_logging(dir, "warn")
    }

    /// Like [`Served::start`], with `ATREST_LOG=log`.
    fn start_logging(dir: &Path, log: &str) -> Served {
        let socket = dir.join("kms.sock");
        let control = dir.join("control.sock");
        let key = dir.join("kek");
        let out = atrest(&["kms-plugin", "keygen", "--out", key.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let child = Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["kms-plugin", "serve", "--socket"])
            .arg(&socket)
            .arg("--key-file")
            .arg(&key)
            .arg("--control")
            .arg(&control)
            .env("ATREST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let served = Served { child: Some(child), socket, control };
        // Ready when the control socket answers.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let control = served.control.clone();
        runtime
            .block_on(atrest_process::wait_until(
                Instant::now() + Duration::from_secs(20),
                Duration::from_millis(20),
                || {
                    let control = control.clone();
                    async move {
                        match atrest_kms::send_control(&control, "status", Duration::from_secs(5)) {
                            Ok(status) => ControlFlow::Break(status),
                            Err(err) => ControlFlow::Continue(err.to_string()),
                        }
                    }
                },
            ))
            .unwrap_or_else(|t| panic!("the plugin never answered on its control socket: {t:?}"));
        served
    }

    fn ctl(&self, command: &[&str]) -> std::process::Output {
        let mut args = vec!["kms-plugin", "ctl", "--control", self.control.to_str().unwrap()];
        args.extend_from_slice(command);
        atrest(&args, b"")
    }

    fn stop(mut self, signal: nix::sys::signal::Signal) -> std::process::Output {
        let child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn serve_and_ctl() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let out = served.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "socket:   {} (serving)\nkey ID:   atrest-kek-1\nkey IDs:  atrest-kek-1\nfaults:   none\n\
             calls:    Status 0, Encrypt 0, Decrypt 0\n",
            served.socket.display()
        )
    );
    let out = served.ctl(&["rotate"]);
    assert!(
        stdout(&out).contains("key ID:   atrest-kek-2\nkey IDs:  atrest-kek-1, atrest-kek-2\n")
    );
    let out = served.ctl(&["fault", "slow", "50ms"]);
    assert!(stdout(&out).contains("faults:   latency 50ms\n"), "{}", stdout(&out));
    let out = served.ctl(&["fault", "decrypt", "FailedPrecondition", "key", "disabled"]);
    assert!(
        stdout(&out).contains(
            "faults:   latency 50ms, decrypt fails with FailedPrecondition \"key disabled\"\n"
        ),
        "{}",
        stdout(&out)
    );
    let out = served.ctl(&["fault", "unavailable"]);
    assert!(stdout(&out).contains("(unavailable (socket closed))"), "{}", stdout(&out));
    assert!(!served.socket.exists());
    let out = served.ctl(&["--format", "json", "clear"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["serving"], true);
    assert_eq!(json["key_id"], "atrest-kek-2");
    assert_eq!(json["faults"]["latency"], serde_json::Value::Null);
    assert!(served.socket.exists());
    // A command the plugin refuses: exit 1 and its reason.
    let out = served.ctl(&["fault", "gremlins"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: the plugin refused the command: unknown fault \"gremlins\" in control command \"fault gremlins\"; commands: "),
        "{}",
        stderr(&out)
    );

    let socket = served.socket.clone();
    let control = served.control.clone();
    let out = served.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("serving KMS v2 on unix://"), "{}", stderr(&out));
    assert!(stderr(&out).ends_with("stopping the KMS plugin...\nstopped\n"), "{}", stderr(&out));
    assert!(!socket.exists() && !control.exists(), "SIGTERM removes both sockets");
    // Nothing of the key file reached any output.
    let key_file = std::fs::read_to_string(dir.path().join("kek")).unwrap();
    let keys = key_file.lines().filter(|l| !l.starts_with('#'));
    for key in keys.filter_map(|l| l.split_whitespace().nth(1)) {
        assert!(!stderr(&out).contains(key) && !stdout(&out).contains(key));
    }
}

#[test]
fn sigint_stops_serve_too_and_a_control_socket_nobody_serves_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let socket = served.socket.clone();
    let out = served.stop(nix::sys::signal::Signal::SIGINT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!socket.exists());
    let control = dir.path().join("control.sock");
    let out = atrest(&["kms-plugin", "ctl", "--control", control.to_str().unwrap(), "status"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: is the plugin running with --control?: control socket {}: ",
            control.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// What an apiserver whose KMS v2 provider `atrest` calls `endpoint` stores at `key`.
fn kms_value(config: &Path, endpoint: &str, key: &str, plaintext: &[u8]) -> Vec<u8> {
    let text = std::fs::read(config).unwrap();
    let loaded =
        atrest_config::load::load("c.yaml", Ok(text), &atrest_config::load::LoadOptions::default())
            .unwrap();
    let client = atrest_kms::KmsV2Client::connect(endpoint).unwrap();
    let plugins =
        atrest_transformers::KmsPlugins::new().with_v2("atrest", std::sync::Arc::new(client));
    let t = atrest_transformers::ResourceTransformers::new(&loaded.plan, &plugins).unwrap();
    let gr = atrest_config::resolve::group_resource_for_etcd_key(key, "/registry").unwrap();
    t.for_resource(&gr).to_storage(plaintext, key.as_bytes()).unwrap()
}

#[tokio::test]
async fn kms_process_inspect_counts_values_per_key_id() {
    let (etcd, raw) = crate::inspect::plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let config = kms_config(dir.path(), p.socket_path());
    let endpoint = p.endpoint();
    let secret = b"TOP-SECRET-KMS-PLAINTEXT";
    for name in ["a", "b"] {
        let key = format!("/registry/secrets/default/{name}");
        raw.put(&key, kms_value(&config, &endpoint, &key, secret)).await.unwrap();
    }
    assert_eq!(p.rotate().unwrap(), "atrest-kek-2");
    let key = "/registry/secrets/default/c";
    raw.put(key, kms_value(&config, &endpoint, key, secret)).await.unwrap();
    raw.put("/registry/secrets/default/plain", secret.to_vec()).await.unwrap();

    let run = |format: &str| {
        let spec = format!("atrest={endpoint}");
        let args = [
            "inspect",
            "--config",
            config.to_str().unwrap(),
            "--etcd",
            &etcd.url,
            "--kms-plugin",
            &spec,
            "--objects",
            "none",
            "--format",
            format,
        ];
        atrest(&args, b"")
    };
    let out = run("json");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows: Vec<(String, u64, u64, bool, String)> = v["summary"]["kms_key_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key_id"].as_str().unwrap().to_owned(),
                k["counts"]["stale"].as_u64().unwrap(),
                k["counts"]["current"].as_u64().unwrap(),
                k["writes"].as_bool().unwrap(),
                k["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("atrest-kek-1".to_owned(), 2, 0, false, "needed".to_owned()),
            ("atrest-kek-2".to_owned(), 0, 1, true, "needed".to_owned()),
        ]
    );
    let text = run("text");
    let text = stdout(&text);
    assert!(text.contains("KMS v2 key IDs:"), "{text}");
    assert!(
        text.contains("still needed by 2 objects (2 stale: an update or a rewrite moves them)"),
        "{text}"
    );
    for out in [&stdout(&out), &text] {
        assert!(!out.contains("TOP-SECRET"), "{out}");
    }

    // With the wrong KEK the old key ID's objects are undecryptable (exit 1), with upstream's text.
    p.set_fault(Fault::WrongKek).unwrap();
    let out = run("json");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["summary"]["totals"]["undecryptable"], 3, "{v:#}");
}

/// The real kube-apiserver with a KMS v2 provider pointing at the plugin: it starts, writes
/// and reads through it, and what it stores carries the plugin's key ID and annotation and
/// decrypts through `atrest decrypt --kms-plugin`. (A rotation reaches the apiserver with its
/// next `Status` poll, up to a minute later; this test does not wait for it.)
#[tokio::test]
async fn kms_process_real_apiserver_writes_through_the_plugin() {
    use atrest_backend::{ApiServerSpec, Cluster as _, ClusterSpec, Data, Kind, Object, ObjectRef};
    let assets = atrest_process::Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let p = plugin(dir.path());
    let config_text = std::fs::read(kms_config(dir.path(), p.socket_path())).unwrap();
    let spec0 =
        ClusterSpec { apiservers: vec![ApiServerSpec::default()], ..ClusterSpec::default() };
    let mut c = atrest_process::ProcessCluster::launch(&assets, spec0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    const CONFIG: &str = "/etc/kubernetes/enc/kms.yaml";
    c.write_file(CONFIG, &config_text).await.unwrap();
    c.configure_apiserver(0, ApiServerSpec::with_config(CONFIG)).unwrap();
    assert_eq!(c.start_apiserver(0).await.unwrap(), Ok(()));
    let id = ObjectRef::new(Kind::Secret, "default", "through-kms");
    let secret = Object {
        id: id.clone(),
        data: Data([("k".to_owned(), b"TOP-SECRET-KMS-PLAINTEXT".to_vec())].into_iter().collect()),
        resource_version: None,
    };
    c.create(0, &secret).await.unwrap().unwrap();
    let got = c.get(0, &id).await.unwrap().unwrap();
    assert_eq!(got.data, secret.data);

    // The stored bytes: the apiserver's envelope, readable by atrest's.
    let key = "/registry/secrets/default/through-kms";
    let raw = c.raw_etcd().get(key).await.unwrap().unwrap();
    let stored = &raw.value;
    assert!(stored.starts_with(b"k8s:enc:kms:v2:atrest:"));
    let object = atrest_transformers::EncryptedObject::decode_go(&stored[22..]).unwrap();
    assert_eq!(object.key_id, "atrest-kek-1");
    assert_eq!(
        object.annotations.get(atrest_kms::WRAP_ANNOTATION_KEY).map(Vec::as_slice),
        Some(atrest_kms::WRAP_ANNOTATION_VALUE)
    );
    let config = c.host_path(CONFIG).unwrap();
    let out = atrest(
        &[
            "decrypt",
            "--config",
            config.to_str().unwrap(),
            "--etcd-key",
            key,
            "--kms-plugin",
            &format!("atrest={}", p.endpoint()),
            "--output",
            "json",
        ],
        stored,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["metadata"]["name"], "through-kms");
    assert_eq!(v["data"]["k"], "VE9QLVNFQ1JFVC1LTVMtUExBSU5URVhU");
    c.shutdown().await.unwrap();
}

/// Logs to a stderr that is not a terminal (a pipe here, a file or CI capture for users)
/// carry no ANSI colour codes (issue 18).
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start_logging(dir.path(), "info");
    let out = served.stop(nix::sys::signal::Signal::SIGTERM);
    let err = stderr(&out);
    assert!(err.contains(" INFO ") && err.contains("kms plugin serving"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}
