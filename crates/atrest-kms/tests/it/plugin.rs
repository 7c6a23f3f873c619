//! The plugin and `KmsV2Client` over a real unix socket: the API, rotation, every fault, the
//! control socket, socket and key file hygiene.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atrest_backend::KillSignal;

use atrest_kms::{
    ClientError, ClientOptions, ControlCommand, ControlError, Fault, FaultKind, InjectedError,
    KmsPlugin, KmsV2Client, OVERSIZED_KEY_ID_LEN, PluginConfig, StartError, WRAP_ANNOTATION_KEY,
    WRAP_ANNOTATION_VALUE, send_control,
};
use atrest_transformers::{DecryptRequest, GrpcCode, KmsV2Plugin as _, Transformer as _};

use crate::{Fixture, envelope_for, mode, roundtrip};

const CTX: &[u8] = b"/registry/secrets/default/s1";

#[test]
fn status_encrypt_decrypt() {
    let f = Fixture::start();
    let client = f.client();
    let status = client.status().unwrap();
    assert_eq!((status.version.as_str(), status.healthz.as_str()), ("v2", "ok"));
    assert_eq!(status.key_id, "atrest-kek-1");
    let seed = [7u8; 32];
    let wrapped = client.encrypt(&seed).unwrap();
    assert_eq!(wrapped.key_id, "atrest-kek-1");
    // nonce ‖ ciphertext ‖ tag.
    assert_eq!(wrapped.ciphertext.len(), 12 + 32 + 16);
    assert!(!wrapped.ciphertext.windows(32).any(|w| w == seed));
    assert_eq!(
        wrapped.annotations,
        BTreeMap::from([(WRAP_ANNOTATION_KEY.to_owned(), WRAP_ANNOTATION_VALUE.to_vec())])
    );
    let request = DecryptRequest {
        ciphertext: &wrapped.ciphertext,
        key_id: &wrapped.key_id,
        annotations: &wrapped.annotations,
    };
    assert_eq!(client.decrypt(&request).unwrap(), seed);
    // The key ID is authenticated: the same bytes under another key ID do not unwrap.
    let other = DecryptRequest { key_id: "atrest-kek-9", ..request.clone() };
    assert_eq!(
        client.decrypt(&other).unwrap_err().to_string(),
        "rpc error: code = NotFound desc = key ID \"atrest-kek-9\" is not a key version of this plugin"
    );
    let no_annotation = DecryptRequest { annotations: &BTreeMap::new(), ..request };
    assert_eq!(client.decrypt(&no_annotation).unwrap_err().code, Some(GrpcCode::InvalidArgument));
    // Every call that reached the plugin counts, failed ones too.
    assert_eq!(f.plugin.status().calls, atrest_kms::Calls { status: 1, encrypt: 1, decrypt: 3 });
}

#[test]
fn sockets_and_key_file_are_private() {
    let f = Fixture::start();
    assert_eq!(mode(&f.path("kms.sock")), 0o600);
    assert_eq!(mode(&f.path("control.sock")), 0o600);
    assert_eq!(mode(&f.path("kek")), 0o600);
    // Nothing but the sockets and the key file is left next to them.
    let mut names: Vec<String> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["control.sock", "kek", "kms.sock"]);
    let key_file = std::fs::read_to_string(f.path("kek")).unwrap();
    let debug = format!("{:?} {:?}", f.plugin, f.plugin.status());
    for line in key_file.lines().filter(|l| !l.starts_with('#')) {
        let key = line.split_whitespace().nth(1).unwrap();
        assert!(!debug.contains(key), "{debug}");
    }
    let socket = f.path("kms.sock");
    f.plugin.shutdown().unwrap();
    assert!(!socket.exists(), "shutdown removes the socket");
    assert!(!f.dir.path().join("control.sock").exists());
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("kek");
    atrest_kms::generate_key_file(&key).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = KmsPlugin::start(PluginConfig::new(dir.path().join("s"), &key)).unwrap_err();
    assert!(matches!(err, StartError::KeyFile(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "key file {} is accessible by group or others (mode 640); `chmod 600` it, or create a new one with `atrest kms-plugin keygen`",
            key.display()
        )
    );
    assert!(!dir.path().join("s").exists());
    // keygen never overwrites.
    assert!(atrest_kms::generate_key_file(&key).is_err());
}

#[test]
fn rotation_keeps_old_key_versions_across_restarts() {
    let f = Fixture::start();
    let envelope = f.envelope();
    let old = roundtrip(&envelope, b"old secret", CTX);
    assert_eq!(f.plugin.rotate().unwrap(), "atrest-kek-2");
    assert_eq!(f.plugin.status().key_ids, ["atrest-kek-1", "atrest-kek-2"]);
    envelope.probe().unwrap();
    assert_eq!(envelope.write_key().unwrap().0, "atrest-kek-2");
    let new = roundtrip(&envelope, b"new secret", CTX);
    // Old data reads, and is stale as upstream marks data under an old key ID.
    assert_eq!(envelope.from_storage(&old, CTX).unwrap(), (b"old secret".to_vec(), true));

    // A restarted plugin (same key file) and a fresh envelope read both.
    let socket = f.path("kms.sock");
    let key_file = f.path("kek");
    let Fixture { dir, plugin } = f;
    plugin.shutdown().unwrap();
    let plugin = KmsPlugin::start(PluginConfig::new(&socket, &key_file)).unwrap();
    assert_eq!(plugin.key_id(), "atrest-kek-2");
    let fresh = envelope_for(&plugin.endpoint());
    assert_eq!(fresh.from_storage(&old, CTX).unwrap(), (b"old secret".to_vec(), true));
    assert_eq!(fresh.from_storage(&new, CTX).unwrap(), (b"new secret".to_vec(), false));
    drop(dir);
}

fn short_client(f: &Fixture, timeout: Duration) -> KmsV2Client {
    KmsV2Client::connect_with(&f.plugin.endpoint(), ClientOptions::new().with_timeout(timeout))
        .unwrap()
}

#[test]
fn unavailable_closes_the_socket_until_cleared() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_millis(300));
    client.status().unwrap();
    let status = f.plugin.set_fault(Fault::Unavailable).unwrap();
    assert!(!status.serving);
    assert!(!f.path("kms.sock").exists());
    let started = Instant::now();
    let err = client.status().unwrap_err();
    // grpc-go's text (the oracle test checks it against upstream's client).
    assert_eq!(
        err.to_string(),
        format!(
            "rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \"transport: Error while dialing: dial unix {}: connect: no such file or directory\"",
            f.path("kms.sock").display()
        )
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "{took:?}");
    // A new client is told the socket is missing.
    let missing = KmsV2Client::connect(&f.plugin.endpoint()).unwrap_err();
    assert!(matches!(missing, ClientError::SocketMissing { .. }), "{missing}");
    assert_eq!(
        missing.to_string(),
        format!(
            "KMS plugin socket {0} does not exist: is the plugin running? (`atrest kms-plugin serve --socket {0}` serves one)",
            f.path("kms.sock").display()
        )
    );
    assert!(f.plugin.clear_fault(FaultKind::Unavailable).unwrap().serving);
    // The same client reconnects.
    assert_eq!(client.status().unwrap().healthz, "ok");
}

#[test]
fn a_call_waits_for_the_socket_within_its_deadline() {
    let f = Fixture::start();
    f.plugin.set_fault(Fault::Unavailable).unwrap();
    let client = {
        // Connect needs the file; serve a moment, connect, then go away again.
        f.plugin.clear_faults().unwrap();
        let client = short_client(&f, Duration::from_secs(10));
        f.plugin.set_fault(Fault::Unavailable).unwrap();
        client
    };
    let plugin = &f.plugin;
    std::thread::scope(|s| {
        let call = s.spawn(|| client.status());
        // The call is retrying; serving again lets it through long before its deadline.
        plugin.clear_faults().unwrap();
        let started = Instant::now();
        assert_eq!(call.join().unwrap().unwrap().healthz, "ok");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn latency_delays_every_call_and_a_short_deadline_times_out() {
    let f = Fixture::start();
    let client = f.client();
    client.status().unwrap();
    f.plugin.set_fault(Fault::Latency(Duration::from_millis(50))).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        client.status().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
    let hasty = short_client(&f, Duration::from_millis(20));
    assert_eq!(
        hasty.status().unwrap_err().to_string(),
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    );
    // Through the envelope, a Status timeout is a failed probe with upstream's text.
    let envelope = atrest_transformers::KmsV2Envelope::new(
        "kms",
        std::sync::Arc::new(hasty),
        std::sync::Arc::new(atrest_transformers::OsRandom::default()),
        true,
    );
    assert_eq!(
        envelope.probe().unwrap_err().to_string(),
        "failed to perform status section of the healthz check for KMS Provider kms, error: rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    );
    assert_eq!(f.plugin.status().faults.latency, Some(Duration::from_millis(50)));
}

#[test]
fn failing_calls_answer_with_the_injected_status() {
    let f = Fixture::start();
    let client = f.client();
    let wrapped = client.encrypt(&[1; 32]).unwrap();
    let request = DecryptRequest {
        ciphertext: &wrapped.ciphertext,
        key_id: &wrapped.key_id,
        annotations: &wrapped.annotations,
    };
    let disabled = InjectedError::new(GrpcCode::FailedPrecondition)
        .with_message("failed precondition - key disabled");
    f.plugin.set_fault(Fault::FailEncrypt(disabled.clone())).unwrap();
    assert_eq!(
        client.encrypt(&[1; 32]).unwrap_err().to_string(),
        "rpc error: code = FailedPrecondition desc = failed precondition - key disabled"
    );
    assert_eq!(client.decrypt(&request).unwrap(), [1; 32]);
    f.plugin.set_fault(Fault::FailDecrypt(InjectedError::new(GrpcCode::PermissionDenied))).unwrap();
    assert_eq!(
        client.decrypt(&request).unwrap_err().to_string(),
        "rpc error: code = PermissionDenied desc = fault injected by atrest kms-plugin"
    );
    f.plugin.set_fault(Fault::FailStatus(disabled)).unwrap();
    assert_eq!(client.status().unwrap_err().code, Some(GrpcCode::FailedPrecondition));
    assert_eq!(
        f.plugin.status().faults.active(),
        [FaultKind::FailEncrypt, FaultKind::FailDecrypt, FaultKind::FailStatus]
    );
    f.plugin.clear_faults().unwrap();
    client.status().unwrap();
    client.encrypt(&[1; 32]).unwrap();
    assert_eq!(client.decrypt(&request).unwrap(), [1; 32]);
}

#[test]
fn unhealthy_status_fails_the_probe_with_upstreams_text() {
    let f = Fixture::start();
    let envelope = f.envelope();
    f.plugin.set_fault(Fault::Unhealthy("key store sealed".into())).unwrap();
    assert_eq!(
        envelope.probe().unwrap_err().to_string(),
        "kmsv2 Provider kms is not healthy, error: got unexpected healthz status: key store sealed"
    );
}

#[test]
fn wrong_kek_fails_reads_of_earlier_data_until_cleared() {
    let f = Fixture::start();
    let envelope = f.envelope();
    let stored = roundtrip(&envelope, b"before the restore", CTX);
    f.plugin.set_fault(Fault::WrongKek).unwrap();
    // A fresh envelope (a restarted apiserver: empty DEK cache) cannot unwrap the seed.
    let fresh = atrest_transformers::KmsV2Envelope::new(
        "kms",
        std::sync::Arc::new(f.client()),
        std::sync::Arc::new(atrest_transformers::OsRandom::default()),
        true,
    );
    fresh.probe().unwrap();
    assert_eq!(
        fresh.from_storage(&stored, CTX).unwrap_err().to_string(),
        "failed to decrypt DEK, error: rpc error: code = InvalidArgument desc = unwrapping with key ID \"atrest-kek-1\": message authentication failed"
    );
    // What it writes now is unreadable once the right key is back.
    let during = fresh.to_storage(b"during", CTX).unwrap();
    f.plugin.clear_fault(FaultKind::WrongKek).unwrap();
    let after = envelope_for(&f.plugin.endpoint());
    assert_eq!(after.from_storage(&stored, CTX).unwrap().0, b"before the restore");
    assert!(after.from_storage(&during, CTX).is_err());
}

#[test]
fn bad_answers_get_the_apiservers_exact_texts() {
    let f = Fixture::start();
    f.plugin.set_fault(Fault::Version("v1beta1".into())).unwrap();
    let e = atrest_transformers::KmsV2Envelope::new(
        "kms",
        std::sync::Arc::new(f.client()),
        std::sync::Arc::new(atrest_transformers::OsRandom::default()),
        true,
    );
    assert_eq!(
        e.probe().unwrap_err().to_string(),
        "kmsv2 Provider kms is not healthy, error: expected KMSv2 API version v2, got v1beta1"
    );
    // That probe still made a write state (Encrypt was fine), as upstream's does; a fresh
    // envelope (a restarted apiserver) meets the next faults in its first rotation.
    f.plugin.clear_faults().unwrap();
    f.plugin.set_fault(Fault::EmptyCiphertext).unwrap();
    let e = atrest_transformers::KmsV2Envelope::new(
        "kms",
        std::sync::Arc::new(f.client()),
        std::sync::Arc::new(atrest_transformers::OsRandom::default()),
        true,
    );
    let text = e.probe().unwrap_err().to_string();
    assert!(
        text.starts_with("kmsv2 Provider kms is not healthy, error: failed to rotate DEK, useSeed=true, errState=got unexpected nil transformer, errGen=failed to validate encrypted DEK source: encrypted DEK source is empty, "),
        "{text}"
    );
    f.plugin.clear_faults().unwrap();
    f.plugin.set_fault(Fault::OversizedKeyId).unwrap();
    let text = e.probe().unwrap_err().to_string();
    assert!(
        text.starts_with(
            "kmsv2 Provider kms is not healthy, error: got invalid KMSv2 KeyID hash \"sha256:"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "\": keyID is {OVERSIZED_KEY_ID_LEN} bytes, which exceeds the max size of 1024"
        )),
        "{text}"
    );
}

#[test]
fn stale_live_and_foreign_files_at_the_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("kms.sock");
    let key = dir.path().join("kek");
    atrest_kms::generate_key_file(&key).unwrap();
    // A stale socket (bound, then its listener gone) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let plugin = KmsPlugin::start(PluginConfig::new(&socket, &key)).unwrap();
    // A live one is not.
    let err = KmsPlugin::start(PluginConfig::new(&socket, &key)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("socket {} is in use: another process serves it", socket.display())
    );
    assert!(KmsV2Client::connect(&plugin.endpoint()).unwrap().status().is_ok());
    plugin.shutdown().unwrap();
    // A regular file is never removed.
    std::fs::write(&socket, "precious").unwrap();
    let err = KmsPlugin::start(PluginConfig::new(&socket, &key)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} exists and is not a socket; not removing it", socket.display())
    );
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
    let err = KmsV2Client::connect(&format!("unix://{}", socket.display())).unwrap_err();
    assert_eq!(err.to_string(), format!("{} is not a unix socket", socket.display()));
}

#[test]
fn control_socket_line_protocol() {
    let f = Fixture::start();
    let control = f.path("control.sock");
    let t = Duration::from_secs(5);
    let status = send_control(&control, "status", t).unwrap();
    assert_eq!((status.key_id.as_str(), status.serving), ("atrest-kek-1", true));
    assert_eq!(send_control(&control, "rotate", t).unwrap().key_id, "atrest-kek-2");
    let status = send_control(&control, "fault slow 50ms", t).unwrap();
    assert_eq!(status.faults.latency, Some(Duration::from_millis(50)));
    let status =
        send_control(&control, "fault decrypt FailedPrecondition key disabled", t).unwrap();
    assert_eq!(
        status.faults.decrypt,
        Some(InjectedError::new(GrpcCode::FailedPrecondition).with_message("key disabled"))
    );
    let status = send_control(&control, "fault unavailable", t).unwrap();
    assert!(!status.serving);
    assert!(!f.path("kms.sock").exists());
    let status = send_control(&control, "clear", t).unwrap();
    assert!(status.serving && status.faults.active().is_empty());
    // The handle sees what the socket did.
    assert_eq!(f.plugin.key_id(), "atrest-kek-2");
    let err = send_control(&control, "fault encrypt Sideways", t).unwrap_err();
    assert!(matches!(err, ControlError::Refused { .. }), "{err:?}");
    assert!(err.to_string().starts_with("the plugin refused the command: unknown gRPC code \"Sideways\" in control command \"fault encrypt Sideways\"; commands: "), "{err}");
    // Several commands on one connection, one reply line each.
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(&control).unwrap();
    stream.write_all(b"fault wrong-kek\nstatus\nfault wrong-kek off\n").unwrap();
    let replies: Vec<serde_json::Value> = std::io::BufReader::new(&stream)
        .lines()
        .take(3)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(replies[0]["status"]["faults"]["wrong_kek"], true);
    assert_eq!(replies[1]["status"]["faults"]["wrong_kek"], true);
    assert_eq!(replies[2]["status"]["faults"]["wrong_kek"], false);
    assert_eq!(
        ControlCommand::parse("fault latency off").unwrap(),
        ControlCommand::Clear(FaultKind::Latency)
    );
}

#[test]
fn the_client_works_from_inside_another_runtime() {
    let f = Fixture::start();
    let client = f.client();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        assert_eq!(client.status().unwrap().healthz, "ok");
        assert_eq!(f.plugin.rotate().unwrap(), "atrest-kek-2");
        assert_eq!(client.status().unwrap().key_id, "atrest-kek-2");
        // Starting, faulting and dropping a plugin and a client inside a runtime is fine too.
        let inner = Fixture::start();
        inner.plugin.set_fault(Fault::Unavailable).unwrap();
        inner.plugin.clear_faults().unwrap();
        let inner_client = inner.client();
        assert_eq!(inner_client.status().unwrap().healthz, "ok");
        let socket = inner.path("kms.sock");
        drop(inner_client);
        drop(inner.plugin);
        assert!(!socket.exists());
    });
}

fn request(w: &atrest_transformers::EncryptResponse) -> DecryptRequest<'_> {
    DecryptRequest { ciphertext: &w.ciphertext, key_id: &w.key_id, annotations: &w.annotations }
}

#[test]
fn the_local_plugin_answers_like_the_served_one() {
    use atrest_kms::LocalKmsPlugin;
    let f = Fixture::start();
    let local =
        LocalKmsPlugin::from_key_file(&f.path("kek")).unwrap().with_socket_path(f.path("kms.sock"));
    let client = short_client(&f, Duration::from_millis(300));
    assert_eq!(local.status().unwrap(), client.status().unwrap());
    // Same keys: what one wraps, the other unwraps.
    let by_local = local.encrypt(&[3; 32]).unwrap();
    let by_served = client.encrypt(&[4; 32]).unwrap();
    assert_eq!(client.decrypt(&request(&by_local)).unwrap(), [3; 32]);
    assert_eq!(local.decrypt(&request(&by_served)).unwrap(), [4; 32]);
    // Same error texts for the same faults.
    let fault = Fault::FailDecrypt(InjectedError::new(GrpcCode::FailedPrecondition));
    local.set_fault(fault.clone()).unwrap();
    f.plugin.set_fault(fault).unwrap();
    assert_eq!(local.decrypt(&request(&by_local)), client.decrypt(&request(&by_local)));
    local.set_fault(Fault::Unavailable).unwrap();
    f.plugin.set_fault(Fault::Unavailable).unwrap();
    assert_eq!(local.status().unwrap_err(), client.status().unwrap_err());
    // Calls that cannot reach a plugin (unavailable) do not count, on either.
    assert_eq!(local.calls(), atrest_kms::Calls { status: 1, encrypt: 1, decrypt: 2 });
    assert_eq!(f.plugin.status().calls, local.calls());
    // Latency is recorded for the caller's clock, not waited.
    local.clear_faults().unwrap();
    local.set_fault(Fault::Latency(Duration::from_secs(3600))).unwrap();
    assert_eq!(local.faults().latency, Some(Duration::from_secs(3600)));
    assert_eq!(local.status().unwrap().healthz, "ok");
    // Rotation through the local plugin is saved to the shared key file.
    assert_eq!(local.rotate().unwrap(), "atrest-kek-2");
    assert_eq!(
        LocalKmsPlugin::from_key_file(&f.path("kek")).unwrap().key_ids(),
        ["atrest-kek-1", "atrest-kek-2"]
    );
    assert_eq!(LocalKmsPlugin::new().unwrap().key_id(), "atrest-kek-1");
}

#[test]
fn a_socket_path_too_long_for_sun_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("kek");
    atrest_kms::generate_key_file(&key).unwrap();
    let socket = dir.path().join(format!("{}.sock", "x".repeat(110)));
    let err = KmsPlugin::start(PluginConfig::new(&socket, &key)).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("socket path {} needs ", socket.display())),
        "{err}"
    );
    // Right at the limit it serves.
    let name_len = 107 - dir.path().as_os_str().len() - 1;
    let socket = dir.path().join("y".repeat(name_len));
    let plugin = KmsPlugin::start(PluginConfig::new(&socket, &key)).unwrap();
    assert_eq!(KmsV2Client::connect(&plugin.endpoint()).unwrap().status().unwrap().healthz, "ok");
}

/// SIGKILL, as the harness gives it to a plugin inside its own process: the client's
/// connection is cut, the socket file stays with nobody listening, so a redial is refused
/// (grpc-go's text); started again, the same client reconnects and the keys are the same.
#[test]
fn a_killed_plugin_refuses_dials_until_started_again() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_millis(300));
    let wrapped = client.encrypt(&[7u8; 32]).unwrap();
    f.plugin.kill(atrest_backend::KillSignal::Kill).unwrap();
    assert!(f.plugin.is_down());
    assert!(f.path("kms.sock").exists(), "a killed process leaves its socket file");
    assert_eq!(
        client.status().unwrap_err().to_string(),
        format!(
            "rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \"transport: Error while dialing: dial unix {}: connect: connection refused\"",
            f.path("kms.sock").display()
        )
    );
    // Faults do not bring a dead process back.
    f.plugin.clear_faults().unwrap();
    assert!(client.status().is_err());
    f.plugin.start_again().unwrap();
    assert!(!f.plugin.is_down());
    let request = DecryptRequest {
        ciphertext: &wrapped.ciphertext,
        key_id: &wrapped.key_id,
        annotations: &wrapped.annotations,
    };
    assert_eq!(client.decrypt(&request).unwrap(), [7u8; 32]);
}

/// SIGTERM: the plugin stops as `atrest kms-plugin serve` does, removing its socket.
#[test]
fn a_terminated_plugin_removes_its_socket() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_millis(300));
    client.status().unwrap();
    f.plugin.kill(atrest_backend::KillSignal::Term).unwrap();
    assert!(!f.path("kms.sock").exists());
    assert!(
        client.status().unwrap_err().to_string().ends_with("connect: no such file or directory\"")
    );
    f.plugin.start_again().unwrap();
    assert_eq!(client.status().unwrap().healthz, "ok");
}

/// SIGSTOP: the connection stays, calls get no answer until the caller's deadline; SIGCONT
/// answers the next ones.
#[test]
fn a_frozen_plugin_answers_nothing_until_thawed() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_millis(300));
    client.status().unwrap();
    f.plugin.freeze();
    assert!(f.plugin.is_frozen());
    let started = Instant::now();
    assert_eq!(
        client.status().unwrap_err().to_string(),
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    f.plugin.thaw();
    assert_eq!(client.status().unwrap().healthz, "ok");
}

/// SIGKILL of a plugin that holds a call (frozen, then killed): the call was out on the
/// connection, so it fails as grpc-go fails a call whose connection its server closed
/// (the oracle test checks the text against upstream's client).
#[test]
fn a_call_in_flight_is_cut_by_a_kill() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_secs(10));
    client.status().unwrap();
    f.plugin.freeze();
    std::thread::scope(|scope| {
        let call = scope.spawn(|| client.status());
        crate::wait_for("the plugin holds the call", || f.plugin.held_calls() == 1);
        f.plugin.kill(atrest_backend::KillSignal::Kill).unwrap();
        assert_eq!(
            call.join().unwrap().unwrap_err().to_string(),
            "rpc error: code = Unavailable desc = error reading from server: EOF"
        );
    });
    // The next call dials: refused, as after any SIGKILL.
    let client = short_client(&f, Duration::from_millis(300));
    assert!(client.status().unwrap_err().to_string().ends_with("connect: connection refused\""));
}

/// Calls racing kills and restarts fail only with texts grpc-go gives: a call that had not
/// gone out when the connection closed is tried again on a new one, a call out on it is cut.
/// One known difference is let through: a connection still in the killed listener's queue is
/// reset before the plugin's first frame, which grpc-go would count as a failed dial and
/// retry, while ours fails the call with the reset text (see `read_error` in client.rs).
#[test]
fn calls_racing_kills_fail_only_as_grpc_go_fails() {
    let f = Fixture::start();
    // A deadline no call reaches here, even on a loaded machine: the plugin is back at once.
    let client = short_client(&f, Duration::from_secs(10));
    let socket = f.path("kms.sock").display().to_string();
    let allowed = [
        format!(
            "rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \"transport: Error while dialing: dial unix {socket}: connect: connection refused\""
        ),
        format!(
            "rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \"transport: Error while dialing: dial unix {socket}: connect: no such file or directory\""
        ),
        "rpc error: code = Unavailable desc = error reading from server: EOF".to_owned(),
        format!(
            "rpc error: code = Unavailable desc = error reading from server: read unix @->{socket}: read: connection reset by peer"
        ),
    ];
    let done = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let (answered, failures) = std::thread::scope(|scope| {
        let caller = scope.spawn(|| {
            let mut answered = 0u32;
            let mut failures = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match client.status() {
                    Ok(_) => answered += 1,
                    Err(err) => failures.push(err.to_string()),
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }
            (answered, failures)
        });
        for round in 0..60 {
            let signal = if round % 2 == 0 { KillSignal::Kill } else { KillSignal::Term };
            let before = finished.load(Ordering::SeqCst);
            f.plugin.kill(signal).unwrap();
            f.plugin.start_again().unwrap();
            // The caller is somewhere in its next call when the following kill comes.
            crate::wait_for("a call finishes", || finished.load(Ordering::SeqCst) > before);
        }
        done.store(true, Ordering::SeqCst);
        caller.join().unwrap()
    });
    assert!(answered > 0, "no call was answered between the kills");
    eprintln!("{answered} calls answered, {} failed", failures.len());
    for failure in &failures {
        assert!(allowed.contains(failure), "not a text grpc-go gives: {failure}");
    }
}

/// The plugin keeps a descriptor of each served connection (to cut it at a SIGKILL); those
/// of connections their clients closed are let go, so a long-running plugin does not pile
/// them up. (Counted in /proc/self/fd: nextest runs each test in a process of its own.)
#[test]
fn closed_connections_leave_no_descriptors_behind() {
    let f = Fixture::start();
    let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    short_client(&f, Duration::from_millis(300)).status().unwrap();
    let before = open_fds();
    for _ in 0..50 {
        short_client(&f, Duration::from_millis(300)).status().unwrap();
    }
    // A client's socket closes a little after the client is dropped (its runtime shuts down
    // in the background), so the last few may still be kept; all 50 were before.
    assert!(open_fds() <= before + 10, "{before} open before, {} after", open_fds());
}

/// A call refused while the plugin is down, which then reaches it started again but frozen,
/// ends with the deadline alone: once connected, grpc-go no longer reports the dial error.
/// (The plugin stays down 200 ms after the caller starts: its first dial, at once, is refused.)
#[test]
fn a_call_that_connected_after_refused_dials_ends_with_the_deadline_alone() {
    let f = Fixture::start();
    let client = short_client(&f, Duration::from_secs(2));
    client.status().unwrap();
    f.plugin.kill(KillSignal::Kill).unwrap();
    let err = std::thread::scope(|scope| {
        let (calling, called) = std::sync::mpsc::channel();
        let call = scope.spawn(move || {
            calling.send(()).unwrap();
            client.status()
        });
        called.recv().unwrap();
        // The outage's length is the subject here, not a wait for readiness.
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(atrest_backend::wait::let_time_pass(Duration::from_millis(200)));
        f.plugin.start_again().unwrap();
        f.plugin.freeze();
        call.join().unwrap().unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    );
}
