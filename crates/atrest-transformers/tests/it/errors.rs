//! Every decryption error text of spec §1.7 (plus the KMS texts) is produced by our code on
//! inputs for which upstream produced the same text (chain.json), and encrypt-side texts are
//! triggered with a failing random source.

use std::collections::BTreeSet;
use std::sync::Arc;

use atrest_transformers::{
    AesCbc, AesGcmTransformer, Base64Plugin, KmsV1Envelope, KmsV1Plugin, KmsV2Envelope,
    ScriptedRandom, Secretbox, TransformError, Transformer,
};

use crate::chain::cases;

const SPEC_TEXTS: &[&str] = &[
    "the stored data was shorter than the required size",
    "the stored data is not a multiple of the block size",
    "invalid PKCS7 data (empty or not padded)",
    "invalid padding on input",
    "cipher: message authentication failed",
    "output array was not large enough for encryption",
    "identity transformer tried to read encrypted data",
    "no matching prefix found",
    "no matching key was found for the provided AES transformer",
    "no matching key was found for the provided Secretbox transformer",
    "proto: cannot parse invalid wire-format data",
    "encrypted data is empty",
];

#[test]
fn every_spec_decryption_text_is_produced_where_upstream_produced_it() {
    let mut ours = BTreeSet::new();
    for c in cases() {
        let chain = c.build();
        for r in &c.reads {
            if let (Some(upstream), Err(err)) = (&r.expect.error, c.read(&chain, r)) {
                assert_eq!(&err.to_string(), upstream, "{} / {}", c.name, r.what);
                let mut leaves = vec![err.to_string()];
                leaves.extend(
                    err.explain().lines().map(|l| l.rsplit(" => ").next().unwrap_or(l).to_string()),
                );
                ours.extend(leaves);
            }
        }
    }
    for text in SPEC_TEXTS.iter().filter(|t| !t.starts_with("identity")) {
        assert!(ours.iter().any(|o| o.contains(text)), "never produced: {text}");
    }
    // The bare identity (resource outside the config) is not a chain case.
    let err = atrest_transformers::Identity
        .from_storage(b"k8s:enc:aescbc:v1:k:x", b"")
        .expect_err("encrypted");
    assert_eq!(err.to_string(), SPEC_TEXTS[6]);
}

#[test]
fn random_failures_on_write_use_upstream_texts() {
    let empty = || Arc::new(ScriptedRandom::new([]));
    let cbc = AesCbc::new(&[7; 32], empty()).expect("key");
    assert_eq!(
        cbc.to_storage(b"x", b"").expect_err("no IV").to_string(),
        "unable to read sufficient random bytes"
    );
    let sb = Secretbox::new(&[7; 32], empty());
    assert_eq!(
        sb.to_storage(b"x", b"").expect_err("no nonce").to_string(),
        "unable to read sufficient random bytes"
    );
    let gcm = AesGcmTransformer::new(&[7; 16], empty()).expect("key");
    let err = gcm.to_storage(b"x", b"").expect_err("no nonce");
    assert!(matches!(err, TransformError::GcmNonce { .. }));
    assert!(err.to_string().starts_with("failed to write nonce for AES-GCM: "), "{err}");
}

#[test]
fn kms_texts() {
    // Length prefix unreadable.
    let v1 = KmsV1Envelope::new(Arc::new(Base64Plugin::new()), Arc::new(ScriptedRandom::new([])));
    for bad in [&b""[..], b"\x00", b"\x00\x05abc"] {
        assert_eq!(
            v1.from_storage(bad, b"").expect_err("short").to_string(),
            "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data"
        );
    }
    // Plugin errors come back unwrapped (gRPC status text).
    let plugin = Arc::new(Base64Plugin::new());
    plugin.enter_failed_state();
    let v1 = KmsV1Envelope::new(plugin.clone(), Arc::new(ScriptedRandom::new([])));
    let wrapped = KmsV1Plugin::encrypt(&Base64Plugin::new(), &[1; 32]).expect("encrypt");
    let mut value = (wrapped.len() as u16).to_be_bytes().to_vec();
    value.extend_from_slice(&wrapped);
    value.extend_from_slice(&[0; 40]);
    assert_eq!(
        v1.from_storage(&value, b"").expect_err("plugin down").to_string(),
        "rpc error: code = FailedPrecondition desc = failed precondition - key disabled"
    );
    // KMS v2 without a write state (no successful probe): reads and writes fail.
    let v2 = KmsV2Envelope::new("p", plugin.clone(), Arc::new(ScriptedRandom::new([0; 64])), true);
    assert!(v2.probe().is_err());
    assert_eq!(
        v2.to_storage(b"x", b"").expect_err("no state").to_string(),
        "got unexpected nil transformer"
    );
    assert_eq!(
        v2.probe().expect_err("down").to_string(),
        "failed to perform status section of the healthz check for KMS Provider p, error: rpc error: code = FailedPrecondition desc = failed precondition - key disabled"
    );
}

/// `ValidateEncryptedObject` texts (spec §1.8, from kmsv2/envelope.go) and the DEK/seed size
/// texts of aes_extended_nonce.go and Go's `aes.KeySizeError`.
#[test]
fn kms_v2_validation_and_dek_texts() {
    use atrest_transformers::{EncryptedObject, validate_encrypted_object};
    let ok = || EncryptedObject {
        encrypted_data: vec![1],
        key_id: "1".into(),
        encrypted_dek_source: b"c2VlZA==".to_vec(),
        annotations: [("local-kek.kms.kubernetes.io".to_string(), b"x".to_vec())].into(),
        encrypted_dek_source_type: 1,
    };
    assert_eq!(validate_encrypted_object(&ok()), Ok(()));
    let cases: Vec<(EncryptedObject, &str)> = vec![
        (
            EncryptedObject { encrypted_dek_source_type: 7, ..ok() },
            "unknown encryptedDEKSourceType: 7",
        ),
        (EncryptedObject { encrypted_data: vec![], ..ok() }, "encrypted data is empty"),
        (
            EncryptedObject { encrypted_dek_source: vec![], ..ok() },
            "failed to validate encrypted DEK source: encrypted DEK source is empty",
        ),
        (
            EncryptedObject { encrypted_dek_source: vec![b'A'; 1025], ..ok() },
            "failed to validate encrypted DEK source: encrypted DEK source is 1025 bytes, which exceeds the max size of 1024",
        ),
        (
            EncryptedObject { key_id: String::new(), ..ok() },
            "failed to validate key id: keyID is empty",
        ),
        (
            EncryptedObject { key_id: "k".repeat(1025), ..ok() },
            "failed to validate key id: keyID is 1025 bytes, which exceeds the max size of 1024",
        ),
        (
            EncryptedObject {
                annotations: [("a.b".to_string(), vec![0; 32 * 1024])].into(),
                ..ok()
            },
            "failed to validate annotations: total size of annotations is 32771, which exceeds the max size of 32768",
        ),
    ];
    for (obj, text) in cases {
        assert_eq!(validate_encrypted_object(&obj).expect_err(text).to_string(), text);
    }

    // A seed shorter than 32 bytes and an AES key of a bad size, as returned by the plugin.
    let envelope = KmsV2Envelope::new(
        "kms-provider",
        Arc::new(Base64Plugin::new()),
        Arc::new(atrest_transformers::SeededRandom::new(1)),
        true,
    );
    envelope.probe().expect("probe");
    for (source_type, dek_len, text) in [
        (1, 16, "invalid seed length 16 used for key generation"),
        (0, 20, "crypto/aes: invalid key size 20"),
    ] {
        let obj = EncryptedObject {
            encrypted_dek_source: crate::support::b64(&vec![3; dek_len]).into_bytes(),
            encrypted_dek_source_type: source_type,
            encrypted_data: vec![0; 64],
            ..ok()
        };
        let err = envelope.from_storage(&obj.encode_go(), b"aad").expect_err(text);
        assert_eq!(err.to_string(), text);
    }
}
