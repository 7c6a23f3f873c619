//! The wire against upstream: kube-apiserver's own KMS v2 gRPC client and `kmsv2` envelope
//! (k8s.io/apiserver v0.37.2, `xtask/go/oracle/cmd/kms-oracle`) talk to our plugin, read what
//! atrest's envelope wrote through it, and write values atrest must read back.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use atrest_kms::{ClientOptions, Fault, KmsV2Client, WRAP_ANNOTATION_KEY, WRAP_ANNOTATION_VALUE};
use atrest_transformers::{
    EncryptedObject, KmsV2Envelope, KmsV2Plugin as _, OsRandom, Transformer as _,
};
use serde_json::{Value, json};

use crate::Fixture;

const CTX: &str = "/registry/secrets/default/oracle";

fn envelope(f: &Fixture, use_seed: bool) -> KmsV2Envelope {
    let envelope =
        KmsV2Envelope::new("kms", Arc::new(f.client()), Arc::new(OsRandom::default()), use_seed);
    envelope.probe().unwrap();
    envelope
}

fn run_oracle(request: &Value) -> Value {
    let program = atrest_test_support::oracle_program("kms-oracle");
    let mut child = Command::new(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kms-oracle: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"))).unwrap()
}

#[test]
fn upstreams_client_and_envelope_agree_with_the_plugin_and_atrests_envelope() {
    let f = Fixture::start();
    let plaintext = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret a value the oracle must see";
    // A socket file nobody accepts on.
    drop(std::os::unix::net::UnixListener::bind(f.path("stale.sock")).unwrap());
    let seed = envelope(&f, true);
    let key = envelope(&f, false);
    let request = json!({
        "endpoint": f.plugin.endpoint(),
        "unreachable_endpoints": {
            "missing": format!("unix://{}", f.path("missing.sock").display()),
            "stale": format!("unix://{}", f.path("stale.sock").display()),
        },
        "context": CTX,
        "plaintext_hex": hex::encode(plaintext),
        "atrest_values_hex": {
            "seed": hex::encode(seed.to_storage(plaintext, CTX.as_bytes()).unwrap()),
            "aes-gcm-key": hex::encode(key.to_storage(plaintext, CTX.as_bytes()).unwrap()),
        },
        "timeout_ms": 1000,
    });
    let res = run_oracle(&request);

    // Upstream's client: Status, Encrypt, Decrypt.
    assert_eq!(res["status"], json!({"version": "v2", "healthz": "ok", "key_id": "atrest-kek-1"}));
    assert_eq!(
        res["encrypt"],
        json!({
            "ciphertext_len": 60,
            "key_id": "atrest-kek-1",
            "annotations_hex": { WRAP_ANNOTATION_KEY: hex::encode(WRAP_ANNOTATION_VALUE) },
        })
    );
    assert_eq!(res["decrypt_matches"], true, "{res:#}");

    // Upstream's envelope read what atrest's wrote, in both DEK source modes.
    for mode in ["seed", "aes-gcm-key"] {
        assert_eq!(unhex(&res["atrest_read"][mode]["hex"]), plaintext, "{mode}: {res:#}");
    }

    // atrest's envelope (fresh: its DEK cache is empty, so the plugin unwraps) reads what
    // upstream's wrote, and upstream's second envelope read it too.
    let reader = envelope(&f, true);
    for (mode, source_type) in
        [("seed", "HKDF_SHA256_XNONCE_AES_GCM_SEED"), ("aes-gcm-key", "AES_GCM_KEY")]
    {
        let written = &res["written"][mode];
        assert_eq!(written["source_type"], source_type, "{res:#}");
        assert_eq!(unhex(&res["read_back"][mode]["hex"]), plaintext, "{mode}: {res:#}");
        let stored = unhex(&written["hex"]);
        let object = EncryptedObject::decode_go(&stored).unwrap();
        assert_eq!(object.key_id, "atrest-kek-1");
        assert_eq!(object.encrypted_dek_source.len(), 60);
        // Go's encoding of what upstream wrote is ours, byte for byte.
        assert_eq!(object.encode_go(), stored, "{mode}");
        let (read, stale) = reader.from_storage(&stored, CTX.as_bytes()).unwrap();
        assert_eq!(read, plaintext, "{mode}");
        // Stale only when the source type differs from the reader's write state (seed).
        assert_eq!(stale, mode != "seed", "{mode}");
    }

    // Sockets nobody serves: upstream's client waits for a connection until its deadline and
    // then reports the last dial error; ours does the same, with the same text.
    let errors = &res["unreachable_errors"];
    let go_text = |name: &str| errors[name].as_str().unwrap().to_owned();
    assert!(go_text("missing").starts_with("rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = \"transport: Error while dialing: dial unix "), "{res:#}");
    let client = |socket: &str| {
        // The socket must exist when connecting; it goes away (or goes stale) afterwards.
        KmsV2Client::connect_with(
            &format!("unix://{}", f.path(socket).display()),
            ClientOptions::new().with_timeout(Duration::from_millis(300)),
        )
        .unwrap()
    };
    let stale = client("stale.sock");
    assert_eq!(stale.status().unwrap_err().to_string(), go_text("stale"));
    let plugin_socket = f.path("kms.sock");
    let missing = client("kms.sock");
    f.plugin.set_fault(Fault::Unavailable).unwrap();
    std::fs::rename(f.path("stale.sock"), &plugin_socket).unwrap();
    std::fs::remove_file(&plugin_socket).unwrap();
    let ours = missing.status().unwrap_err().to_string();
    assert_eq!(ours, go_text("missing").replace("missing.sock", "kms.sock"));
}

/// A call out on the connection when the plugin is killed (held by a freeze, then SIGKILL):
/// upstream's client fails it with the text ours gives.
#[test]
fn a_call_cut_in_flight_fails_as_upstreams_client_fails_it() {
    // Before anything waits for it: without the program this fails here, saying what to run.
    atrest_test_support::oracle_program("kms-oracle");
    let f = Fixture::start();
    f.plugin.freeze();
    let request = json!({
        "endpoint": f.plugin.endpoint(),
        "context": CTX,
        "plaintext_hex": "",
        "timeout_ms": 30_000,
        "mode": "status",
    });
    let res = std::thread::scope(|scope| {
        let oracle = scope.spawn(|| run_oracle(&request));
        crate::wait_for("upstream's client holds a call", || f.plugin.held_calls() == 1);
        f.plugin.kill(atrest_backend::KillSignal::Kill).unwrap();
        oracle.join().unwrap()
    });
    let upstream = res["status"]["error"].as_str().unwrap_or_else(|| panic!("{res:#}"));
    assert_eq!(upstream, "rpc error: code = Unavailable desc = error reading from server: EOF");

    // Ours, the same way.
    f.plugin.start_again().unwrap();
    f.plugin.freeze();
    let client = KmsV2Client::connect_with(
        &f.plugin.endpoint(),
        ClientOptions::new().with_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    let ours = std::thread::scope(|scope| {
        let call = scope.spawn(|| client.status());
        crate::wait_for("our client holds a call", || f.plugin.held_calls() == 1);
        f.plugin.kill(atrest_backend::KillSignal::Kill).unwrap();
        call.join().unwrap()
    });
    assert_eq!(ours.unwrap_err().to_string(), upstream);
}
