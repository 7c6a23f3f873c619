//! `Envelope::parse` on every value the oracle produced, and on arbitrary bytes.

use atrest_transformers::Envelope;
use proptest::prelude::*;
use serde::Deserialize;

use crate::support::{data, unhex};

#[derive(Deserialize)]
struct Stored {
    name: String,
    stored_hex: String,
}

#[test]
fn classifies_known_answer_values() {
    let kats: Vec<Stored> = data("kat.json");
    for k in &kats {
        let env = Envelope::parse(&unhex(&k.stored_hex));
        let (provider, name) = match k.name.split('-').next() {
            Some("aescbc") => ("aescbc", "key1"),
            Some("aesgcm") => ("aesgcm", "key1"),
            Some("secretbox") => ("secretbox", "key1"),
            Some("kmsv1" | "kmsv2") => ("kms", "kms-provider"),
            other => panic!("{other:?}"),
        };
        assert_eq!(env.provider(), provider, "{}", k.name);
        assert_eq!(env.key_name(), Some(name), "{}", k.name);
        match env {
            Envelope::KmsV1 { encrypted_dek_len, .. } => assert_eq!(encrypted_dek_len, Some(44)),
            Envelope::KmsV2 { object: Ok(h), .. } => {
                assert_eq!(h.key_id, "1");
                let want = if k.name.starts_with("kmsv2-seed") {
                    "HKDF_SHA256_XNONCE_AES_GCM_SEED"
                } else {
                    "AES_GCM_KEY"
                };
                assert_eq!(h.dek_source_type_name(), Some(want));
            }
            Envelope::KmsV2 { object: Err(e), .. } => panic!("{}: {e}", k.name),
            _ => {}
        }
    }
}

#[test]
fn classifies_plaintext_and_unknown_providers() {
    assert_eq!(Envelope::parse(b"k8s\x00\n\x02v1"), Envelope::Identity);
    assert_eq!(Envelope::parse(b"{\"kind\":\"Secret\"}"), Envelope::Identity);
    assert_eq!(
        Envelope::parse(b"k8s:enc:rot13:v1:k:x"),
        Envelope::Unknown { provider: "rot13".into() }
    );
    assert_eq!(Envelope::parse(b"k8s:enc:aescbc:v1:nokey"), Envelope::Aescbc { key_name: None });
    assert!(matches!(
        Envelope::parse(b"k8s:enc:kms:v2:p:\xff\xff"),
        Envelope::KmsV2 { object: Err(_), .. }
    ));
}

proptest! {
    #[test]
    fn never_panics(prefix in prop::sample::select(vec![
        "", "k8s:enc:", "k8s:enc:aescbc:v1:", "k8s:enc:kms:v1:", "k8s:enc:kms:v2:", "k8s:enc:kms:v2:p:",
    ]), tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut v = prefix.as_bytes().to_vec();
        v.extend_from_slice(&tail);
        let env = Envelope::parse(&v);
        prop_assert!(!env.provider().is_empty());
    }
}
