//! Upstream's two KMS v2 golden values (TestKMSv2ProviderLegacyData in kubernetes/kubernetes
//! test/integration/controlplane/transformation/kmsv2_transformation_test.go at commit
//! 6f137b77b15db02ba928582345afbcfe1faa9bd1), written by v1.27.0 (`AES_GCM_KEY`) and v1.28.0
//! (HKDF seed) with the Base64 mock. The bytes in tests/data/kmsv2_legacy.json come from the
//! Go string literals compiled by Go (xtask/go/oracle/cmd/transform-oracle/legacy.go), which
//! also decrypted them with upstream's transformer. Also `EncryptedObject` encoding and
//! decoding against Go's protobuf library (kmsv2_proto.json, kmsv2_decode.json).

use std::sync::Arc;

use atrest_transformers::{
    Base64Plugin, DekSourceType, EncryptedObject, Envelope, KmsPlugins, KmsV2Envelope, OsRandom,
    ProviderChain, Transformer, validate_encrypted_object,
};
use serde::Deserialize;

use crate::support::{data, provider, unhex};

#[derive(Deserialize)]
struct Legacy {
    name: String,
    aad: String,
    stored_hex: String,
    plaintext_hex: String,
    key_id: String,
    dek_source_type: i32,
    encrypted_data_len: usize,
    encrypted_dek_source: String,
    secret_value: String,
}

#[test]
fn upstream_golden_values_decode_validate_and_decrypt() {
    let values: Vec<Legacy> = data("kmsv2_legacy.json");
    assert_eq!(values.len(), 2);
    let prefix = b"k8s:enc:kms:v2:kms-provider:";
    for v in &values {
        let stored = unhex(&v.stored_hex);
        let body = stored.strip_prefix(&prefix[..]).expect("prefix");
        let obj = EncryptedObject::decode_go(body).expect("decodes");
        validate_encrypted_object(&obj).expect("validates");
        assert_eq!(obj.key_id, v.key_id);
        assert_eq!(obj.encrypted_dek_source_type, v.dek_source_type);
        assert_eq!(obj.encrypted_data.len(), v.encrypted_data_len);
        assert_eq!(obj.encrypted_dek_source, v.encrypted_dek_source.as_bytes());
        assert_eq!(obj.encode_go(), body, "{}: re-encoding is byte-exact", v.name);

        let p = provider("kms", vec![], "kms-provider");
        let kms = KmsPlugins::new().with_v2("kms-provider", Arc::new(Base64Plugin::new()));
        let chain = ProviderChain::build(&[&p], &kms).expect("build");
        let (plain, stale) = chain.from_storage(&stored, v.aad.as_bytes()).expect("decrypts");
        assert_eq!(hex::encode(&plain), v.plaintext_hex);
        assert!(plain.starts_with(b"k8s\x00"), "protobuf-framed Secret");
        assert!(plain.windows(v.secret_value.len()).any(|w| w == v.secret_value.as_bytes()));
        // Our write state is a seed with key ID "1": only the AES_GCM_KEY value is stale.
        assert_eq!(stale, v.dek_source_type == DekSourceType::AesGcmKey as i32);

        match Envelope::parse(&stored) {
            Envelope::KmsV2 { provider, object: Ok(h) } => {
                assert_eq!(provider.as_deref(), Some("kms-provider"));
                assert_eq!(h.key_id, "1");
                assert_eq!(h.dek_source_type, v.dek_source_type);
                assert_eq!(h.annotation_keys, ["local-kek.kms.kubernetes.io"]);
                assert_eq!(h.validation_error, None);
            }
            other => panic!("{}: parsed as {other:?}", v.name),
        }
        // Moved to another key, the AAD no longer matches.
        let err = chain.from_storage(&stored, b"/registry/secrets/other/name").expect_err("aad");
        assert_eq!(err.to_string(), "cipher: message authentication failed");
    }
}

#[derive(Deserialize)]
struct ProtoCase {
    name: String,
    encrypted_data_hex: String,
    key_id: String,
    encrypted_dek_source_hex: String,
    annotations_hex: std::collections::BTreeMap<String, String>,
    dek_source_type: i32,
    wire_hex: String,
}

/// Wire encodings from upstream's generated type and Go's `proto.Marshal`
/// (tests/data/kmsv2_proto.json), including map entries with an empty key or value.
#[test]
fn encrypted_object_encoding_matches_go() {
    let cases: Vec<ProtoCase> = data("kmsv2_proto.json");
    assert_eq!(cases.len(), 7);
    for c in &cases {
        let obj = EncryptedObject {
            encrypted_data: unhex(&c.encrypted_data_hex),
            key_id: c.key_id.clone(),
            encrypted_dek_source: unhex(&c.encrypted_dek_source_hex),
            annotations: c.annotations_hex.iter().map(|(k, v)| (k.clone(), unhex(v))).collect(),
            encrypted_dek_source_type: c.dek_source_type,
        };
        assert_eq!(hex::encode(obj.encode_go()), c.wire_hex, "{}: encode", c.name);
        assert_eq!(EncryptedObject::decode_go(&unhex(&c.wire_hex)), Ok(obj), "{}: decode", c.name);
    }
}

#[derive(Deserialize)]
struct DecodePart {
    hex: String,
    count: usize,
}

#[derive(Deserialize)]
struct Expect {
    error: Option<String>,
}

#[derive(Deserialize)]
struct DecodeCase {
    name: String,
    parts: Vec<DecodePart>,
    unmarshal_error: String,
    read: Expect,
}

/// Hostile `EncryptedObject` bytes (tests/data/kmsv2_decode.json): megabytes of start-group
/// tags and groups nested just below and above protowire's recursion limit. Decoding must
/// neither overflow the stack nor differ from Go's `proto.Unmarshal`; the transformer and
/// `Envelope::parse` must give upstream's read error.
#[test]
fn hostile_group_nesting_matches_go() {
    let cases: Vec<DecodeCase> = data("kmsv2_decode.json");
    assert_eq!(cases.len(), 12);
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for want in ["start-groups-1MiB", "nested-groups-10001", "nested-groups-10002"] {
        assert!(names.contains(&want), "{want} missing from kmsv2_decode.json");
    }
    let env =
        KmsV2Envelope::new("p", Arc::new(Base64Plugin::new()), Arc::new(OsRandom::new()), true);
    env.probe().expect("probe with the Base64 mock");
    for c in &cases {
        let mut body = Vec::new();
        for p in &c.parts {
            body.extend(unhex(&p.hex).repeat(p.count));
        }
        let decoded = EncryptedObject::decode_go(&body);
        match &decoded {
            Ok(_) => assert_eq!(c.unmarshal_error, "", "{}: Go fails, we decode", c.name),
            Err(e) => assert_eq!(e.to_string(), c.unmarshal_error, "{}", c.name),
        }
        let want = c.read.error.as_deref().expect("every case fails to read upstream");
        let err = env.from_storage(&body, b"aad").expect_err(&c.name);
        assert_eq!(err.to_string(), want, "{}: read", c.name);

        let mut stored = b"k8s:enc:kms:v2:p:".to_vec();
        stored.extend_from_slice(&body);
        match Envelope::parse(&stored) {
            Envelope::KmsV2 { provider, object } => {
                assert_eq!(provider.as_deref(), Some("p"), "{}", c.name);
                match object {
                    Ok(_) => assert_eq!(c.unmarshal_error, "", "{}", c.name),
                    Err(e) => assert_eq!(e, c.unmarshal_error, "{}", c.name),
                }
            }
            other => panic!("{}: {other:?}", c.name),
        }
    }
}
