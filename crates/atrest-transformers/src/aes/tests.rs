//! The HKDF-GCM read cache changes speed, never results.

use std::sync::Arc;

use super::*;
use crate::SeededRandom;

fn hkdf() -> HkdfGcmTransformer {
    HkdfGcmTransformer::new(&[0x42; 32], Arc::new(SeededRandom::new(7))).expect("seed")
}

#[test]
fn a_cached_key_still_checks_the_aad_and_the_tag() {
    let t = hkdf();
    let stored = t.to_storage(b"secret", b"/registry/secrets/a/b").expect("seal");
    for _ in 0..2 {
        assert_eq!(t.from_storage(&stored, b"/registry/secrets/a/b").expect("open").0, b"secret");
    }
    assert!(matches!(
        t.from_storage(&stored, b"/registry/secrets/a/c"),
        Err(TransformError::Authentication { cipher: CipherKind::HkdfAesGcm })
    ));
    let mut bad = stored.clone();
    *bad.last_mut().expect("tag") ^= 1;
    assert!(matches!(
        t.from_storage(&bad, b"/registry/secrets/a/b"),
        Err(TransformError::Authentication { cipher: CipherKind::HkdfAesGcm })
    ));
}

#[test]
fn reads_past_the_cache_bound_still_decrypt() {
    let t = hkdf();
    let values: Vec<(Vec<u8>, Vec<u8>)> = (0..HKDF_READ_CACHE_MAX + 10)
        .map(|i| {
            let plain = i.to_le_bytes().to_vec();
            (t.to_storage(&plain, b"aad").expect("seal"), plain)
        })
        .collect();
    for _ in 0..2 {
        for (stored, plain) in &values {
            assert_eq!(&t.from_storage(stored, b"aad").expect("open").0, plain);
        }
    }
    assert!(crate::random::lock(&t.reads).len() <= HKDF_READ_CACHE_MAX);
}
