//! `Debug` never shows key material: random scripts and seeds (future IVs, DEKs, seeds), the
//! wrapped DEK in an `EncryptedObject` (with the Base64 mock that is the DEK, base64-encoded)
//! and plugin requests/responses.

use std::collections::BTreeMap;

use atrest_transformers::{
    DecryptRequest, EncryptResponse, EncryptedObject, RandomSource, ScriptedRandom, SeededRandom,
};

/// Fails when `text` shows `secret` as text, as hex, or as Rust's `[a, b, c` byte list.
fn assert_hidden(text: &str, secret: &[u8]) {
    let as_list = format!("{:?}", &secret[..4]);
    let as_list = as_list.trim_end_matches(']');
    let as_hex = hex::encode(&secret[..4]);
    assert!(!text.contains(as_list), "{text} shows {as_list}");
    assert!(!text.to_lowercase().contains(&as_hex), "{text} shows {as_hex}");
    if let Ok(s) = std::str::from_utf8(&secret[..8]) {
        assert!(!text.contains(s), "{text} shows {s}");
    }
}

#[test]
fn scripted_random_shows_only_what_remains() {
    let script: Vec<u8> = (200..=255).collect();
    let random = ScriptedRandom::new(script.clone());
    for text in [format!("{random:?}"), format!("{random:#?}")] {
        assert_hidden(&text, &script);
        assert!(text.contains("56"), "{text}: remaining count");
    }
    let mut iv = [0u8; 16];
    random.fill(&mut iv).expect("scripted bytes");
    let text = format!("{random:?}");
    assert_hidden(&text, &script[16..]);
    assert!(text.contains("40"), "{text}: remaining count");
}

#[test]
fn seeded_random_hides_its_state() {
    let seed = 0x1234_5678_9abc_def0_u64;
    let random = SeededRandom::new(seed);
    let before = format!("{random:#?}");
    for shown in [seed.to_string(), format!("{seed:x}"), format!("{seed:X}")] {
        assert!(!before.contains(&shown), "{before} shows the seed");
    }
    let mut dek = [0u8; 32];
    random.fill(&mut dek).expect("seeded");
    let after = format!("{random:#?}");
    assert_eq!(before, after, "the state must not show either");
    assert_hidden(&after, &dek);
}

#[test]
fn encrypted_object_and_plugin_messages_show_sizes_only() {
    let dek_source = b"c2VjcmV0LWRlay1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm".to_vec();
    let annotation = b"wrapped-local-kek-bytes".to_vec();
    let data = b"sealed-payload-and-tag-bytes".to_vec();
    let annotations = BTreeMap::from([("local-kek.kms.kubernetes.io".to_string(), annotation)]);
    let obj = EncryptedObject {
        encrypted_data: data.clone(),
        key_id: "key-id-1".into(),
        encrypted_dek_source: dek_source.clone(),
        annotations: annotations.clone(),
        encrypted_dek_source_type: 1,
    };
    let resp = EncryptResponse {
        ciphertext: dek_source.clone(),
        key_id: "key-id-1".into(),
        annotations: annotations.clone(),
    };
    let req =
        DecryptRequest { ciphertext: &dek_source, key_id: "key-id-1", annotations: &annotations };
    for text in [format!("{obj:?}"), format!("{obj:#?}"), format!("{resp:#?}"), format!("{req:#?}")]
    {
        assert_hidden(&text, &dek_source);
        assert_hidden(&text, b"wrapped-local-kek-bytes");
        assert_hidden(&text, &data);
        assert!(text.contains(&format!("<{} bytes>", dek_source.len())), "{text}: DEK source size");
        assert!(text.contains("local-kek.kms.kubernetes.io"), "{text}: annotation keys stay");
    }
    assert!(format!("{obj:?}").contains(&format!("<{} bytes>", data.len())));
}
