//! `atrest encrypt` / `atrest decrypt`, including values the real kube-apiserver wrote.

use std::fs;

use serde_json::Value;

use crate::{atrest, root, stderr, stdout};

const SECRET_KEY: &str = "/registry/secrets/default/s1";

/// A Secret exactly as kube-apiserver stores it (from the object oracle's corpus).
fn stored_secret() -> Vec<u8> {
    let data =
        fs::read_to_string(root().join("crates/atrest-objects/tests/data/objects.json")).unwrap();
    let doc: Value = serde_json::from_str(&data).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "Secret")
        .expect("the corpus holds a Secret");
    hex::decode(case["stored_hex"].as_str().unwrap()).unwrap()
}

#[test]
fn encrypt_then_decrypt_roundtrips_every_example_provider() {
    let plaintext = stored_secret();
    for (config, prefix) in [
        ("scenarios/configs/secretbox.yaml", &b"k8s:enc:secretbox:v1:key1:"[..]),
        ("scenarios/configs/tutorial-production.yaml", b"k8s:enc:aescbc:v1:key3:"),
    ] {
        let enc = atrest(&["encrypt", "--config", config, "--etcd-key", SECRET_KEY], &plaintext);
        assert_eq!(enc.status.code(), Some(0), "{config}: {}", stderr(&enc));
        assert!(enc.stdout.starts_with(prefix), "{config}");
        let dec = atrest(&["decrypt", "--config", config, "--etcd-key", SECRET_KEY], &enc.stdout);
        assert_eq!(dec.status.code(), Some(0), "{config}: {}", stderr(&dec));
        assert_eq!(dec.stdout, plaintext, "{config}");
    }
}

#[test]
fn resources_outside_the_config_are_stored_in_plaintext() {
    let plaintext = stored_secret();
    let enc = atrest(
        &[
            "encrypt",
            "--config",
            "scenarios/configs/tutorial-production.yaml",
            "--etcd-key",
            "/registry/pods/default/p1",
        ],
        &plaintext,
    );
    assert_eq!(enc.status.code(), Some(0));
    assert_eq!(enc.stdout, plaintext);
}

#[test]
fn decrypt_failure_prints_the_upstream_text_and_exits_1() {
    let out = atrest(
        &["decrypt", "--config", "scenarios/configs/secretbox.yaml", "--etcd-key", SECRET_KEY],
        b"k8s:enc:aescbc:v1:key1:0123456789abcdef0123456789abcdef",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().next(), Some("no matching prefix found"));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_config_the_apiserver_rejects_fails_with_its_exit_text() {
    let out = atrest(
        &["decrypt", "--config", "scenarios/configs/tutorial-step1.yaml", "--etcd-key", SECRET_KEY],
        b"k8s:enc:aescbc:v1:key1:0123456789abcdef0123456789abcdef",
    );
    assert_eq!(out.status.code(), Some(1));
    // The same text check-config reports as `apiserver_error` (pinned against upstream there).
    let check =
        atrest(&["check-config", "--format", "json", "scenarios/configs/tutorial-step1.yaml"], b"");
    let report: Value = serde_json::from_str(&stdout(&check)).unwrap();
    let upstream = report["files"][0]["apiserver_error"].as_str().unwrap();
    assert_eq!(stderr(&out).lines().next(), Some(upstream));
    assert!(out.stdout.is_empty());
}

#[test]
fn decrypt_reads_etcdctl_json_and_renders_yaml() {
    let plaintext = stored_secret();
    let config = "scenarios/configs/secretbox.yaml";
    let enc = atrest(&["encrypt", "--config", config, "--etcd-key", SECRET_KEY], &plaintext);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let etcdctl = serde_json::json!({
        "header": {"cluster_id": 1, "member_id": 2, "revision": 9, "raft_term": 2},
        "kvs": [{"key": b64.encode(SECRET_KEY), "create_revision": 9, "mod_revision": 9,
                 "version": 1, "value": b64.encode(&enc.stdout)}],
        "count": 1
    });
    let dec = atrest(
        &["decrypt", "--config", config, "--output", "yaml"],
        etcdctl.to_string().as_bytes(),
    );
    assert_eq!(dec.status.code(), Some(0), "{}", stderr(&dec));
    let yaml = stdout(&dec);
    assert!(yaml.starts_with("apiVersion: v1\n"), "{yaml}");
    assert!(yaml.contains("\nkind: Secret\n"), "{yaml}");
}

#[test]
fn trailing_newline_from_etcdctl_print_value_only_is_explained() {
    let plaintext = stored_secret();
    let config = "scenarios/configs/secretbox.yaml";
    let mut enc =
        atrest(&["encrypt", "--config", config, "--etcd-key", SECRET_KEY], &plaintext).stdout;
    enc.push(b'\n');
    let dec = atrest(&["decrypt", "--config", config, "--etcd-key", SECRET_KEY], &enc);
    assert_eq!(dec.status.code(), Some(0));
    assert_eq!(dec.stdout, plaintext);
    assert!(stderr(&dec).contains("newline"), "{}", stderr(&dec));
}

/// Upstream's TestKMSv2ProviderLegacyData values, written by real kube-apiservers v1.27 and
/// v1.28, decrypt through the CLI with the Base64 mock plugin upstream used.
#[test]
fn upstream_kms_v2_legacy_values_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kms.yaml");
    fs::write(
        &config,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      \
         name: kms-provider\n      endpoint: unix:///@kms-provider.sock\n",
    )
    .unwrap();
    let data =
        fs::read_to_string(root().join("crates/atrest-transformers/tests/data/kmsv2_legacy.json"))
            .unwrap();
    let cases: Vec<Value> = serde_json::from_str(&data).unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let aad = case["aad"].as_str().unwrap();
        let stored = hex::decode(case["stored_hex"].as_str().unwrap()).unwrap();
        let config = config.to_str().unwrap();
        let prefix = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry";
        let args = [
            "decrypt",
            "--config",
            config,
            "--etcd-key",
            aad,
            "--etcd-prefix",
            prefix,
            "--kms-plugin",
            "kms-provider=base64-mock",
            "--output",
            "json",
        ];
        let out = atrest(&args, &stored);
        assert_eq!(out.status.code(), Some(0), "{aad}: {}", stderr(&out));
        let secret: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["metadata"]["namespace"], "kms-v2-legacy-data");
        use base64::Engine as _;
        let api_key = secret["data"]["api_key"].as_str().unwrap();
        let api_key = base64::engine::general_purpose::STANDARD.decode(api_key).unwrap();
        assert_eq!(api_key, b"086a7ffc-0225-11e8-ba89-0ed5f89f718b");
        // Without a plugin, kube-apiserver's answer, and a note naming what is missing.
        let out = atrest(&args[..7], &stored);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr(&out).lines().next(), Some("got unexpected nil transformer"));
        assert!(stderr(&out).contains("base64-mock"), "{}", stderr(&out));
    }
}

#[test]
fn keygen_writes_a_0600_file_with_a_loadable_entry() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.yaml");
    let out = atrest(
        &["keygen", "--provider", "secretbox", "--name", "key1", "--out", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let entry = fs::read_to_string(&path).unwrap();
    assert!(!stderr(&out).contains(entry.lines().last().unwrap().trim()), "key on stderr");
    // The entry slots into a config that kube-apiserver would accept, without findings.
    let indented: String = entry.lines().map(|l| format!("  {l}\n")).collect();
    let config = dir.path().join("enc.yaml");
    fs::write(
        &config,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n{indented}  - identity: {{}}\n"
        ),
    )
    .unwrap();
    let out = atrest(&["check-config", "--deny-warnings", config.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Never overwrites.
    let again = atrest(
        &["keygen", "--provider", "secretbox", "--name", "key1", "--out", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(again.status.code(), Some(2));
}

/// A symlink planted at `keygen --out` (even a dangling one) is refused; the target is untouched.
#[test]
fn keygen_out_refuses_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("key.yaml");
    let target = crate::plant_symlink(&link, "precious");
    let args =
        ["keygen", "--provider", "secretbox", "--name", "k", "--out", link.to_str().unwrap()];
    crate::assert_symlink_refused(&atrest(&args, b""), &link, &target, "precious");
    fs::remove_file(&target).unwrap();
    let out = atrest(&args, b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!target.exists(), "keygen wrote through a dangling symlink");
}

/// A config that echoes a key into the apiserver's exit text: `decrypt` and `encrypt` redact it
/// and say that the real apiserver's log now holds it, as `check-config` does.
#[test]
fn decrypt_and_encrypt_say_when_the_apiserver_would_log_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nokind.yaml");
    fs::write(
        &config,
        "apiVersion: v1\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secert: hunter2hunter2\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    for command in ["decrypt", "encrypt"] {
        let out = atrest(&[command, "--config", config, "--etcd-key", SECRET_KEY], b"value");
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = stderr(&out);
        assert!(!err.contains("hunter2"), "{command}: {err}");
        assert!(err.contains("secert: REDACTED"), "{command}: {err}");
        assert!(err.contains("so treat that key as exposed"), "{command}: {err}");
    }
}

/// In auto mode, etcdctl output that holds no key is etcdctl's answer (the key does not
/// exist), not a raw value lacking `--etcd-key`.
#[test]
fn decrypt_reports_etcdctl_saying_the_key_does_not_exist() {
    let doc = br#"{"header":{"cluster_id":1,"member_id":2,"revision":7,"raft_term":2}}"#;
    let out = atrest(&["decrypt", "--config", "scenarios/configs/secretbox.yaml"], doc);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("the key does not exist"), "{err}");
    assert!(!err.contains("--etcd-key is required"), "{err}");
}
