//! Both builds of the XSalsa20 batch loop (AVX2 and portable) against the oracle's vectors and
//! against RustCrypto's `crypto_secretbox`, which computes one block at a time.

use std::sync::Arc;

use crypto_secretbox::aead::{Aead, KeyInit};
use proptest::prelude::*;

use super::*;
use crate::ScriptedRandom;

/// Every build this machine can run; the AVX2 one must be among them on x86-64 (the project's
/// machines have it), so that its test cannot pass by skipping it.
fn all_lanes() -> Vec<Lanes> {
    let mut lanes = vec![Lanes::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        assert!(std::arch::is_x86_feature_detected!("avx2"), "these tests expect an AVX2 CPU");
        lanes.push(Lanes::Avx2);
    }
    lanes
}

fn seal(lanes: Lanes, key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
    let random = Arc::new(ScriptedRandom::new(nonce.to_vec()));
    Secretbox::with_lanes(key, random, lanes).to_storage(plaintext, b"").expect("seal")
}

fn open(lanes: Lanes, key: &[u8; 32], stored: &[u8]) -> Result<Vec<u8>, TransformError> {
    let random = Arc::new(ScriptedRandom::new(Vec::new()));
    Secretbox::with_lanes(key, random, lanes).from_storage(stored, b"").map(|(plain, _)| plain)
}

/// nonce ‖ tag ‖ ciphertext from the reference implementation.
fn reference(key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
    let boxed = crypto_secretbox::XSalsa20Poly1305::new(key.into())
        .encrypt(nonce.into(), plaintext)
        .expect("reference seal");
    [nonce.as_slice(), &boxed].concat()
}

#[derive(serde::Deserialize)]
struct Kat {
    name: String,
    provider: String,
    key_hex: Option<String>,
    nonce_hex: Option<String>,
    plaintext_hex: String,
    stored_hex: String,
}

#[test]
fn oracle_vectors_on_every_build() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kat.json");
    let kats: Vec<Kat> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("kat.json")).expect("json");
    let prefix = b"k8s:enc:secretbox:v1:key1:";
    let kats: Vec<&Kat> = kats.iter().filter(|k| k.provider == "secretbox").collect();
    assert!(kats.len() >= 19, "the long secretbox vectors are missing");
    for lanes in all_lanes() {
        for k in &kats {
            let key: [u8; 32] = hex::decode(k.key_hex.as_deref().expect("key")).expect("hex")[..]
                .try_into()
                .expect("32 bytes");
            let nonce: [u8; 24] = hex::decode(k.nonce_hex.as_deref().expect("nonce")).expect("hex")
                [..]
                .try_into()
                .expect("24 bytes");
            let plaintext = hex::decode(&k.plaintext_hex).expect("hex");
            let stored = hex::decode(&k.stored_hex).expect("hex");
            let body = stored.strip_prefix(prefix.as_slice()).expect("secretbox prefix");
            assert_eq!(seal(lanes, &key, &nonce, &plaintext), body, "{} {lanes:?}", k.name);
            assert_eq!(open(lanes, &key, body).expect("open"), plaintext, "{} {lanes:?}", k.name);
        }
    }
}

#[test]
fn every_length_up_to_three_avx2_batches_matches_the_reference() {
    let key = [7u8; 32];
    let nonce: [u8; 24] = std::array::from_fn(|i| i as u8);
    for len in 0..1600 {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
        let want = reference(&key, &nonce, &plaintext);
        for lanes in all_lanes() {
            assert_eq!(seal(lanes, &key, &nonce, &plaintext), want, "len {len} {lanes:?}");
            assert_eq!(open(lanes, &key, &want).expect("open"), plaintext, "len {len} {lanes:?}");
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_fails_to_open_on_every_build() {
    let key = [9u8; 32];
    let nonce = [3u8; 24];
    let stored = reference(&key, &nonce, &[0x5a; 700]);
    for lanes in all_lanes() {
        for at in [0, 23, 24, 39, 40, 41, 500, stored.len() - 1] {
            let mut bad = stored.clone();
            bad[at] ^= 0x10;
            assert!(
                matches!(open(lanes, &key, &bad), Err(TransformError::SecretboxOpen)),
                "byte {at} {lanes:?}"
            );
        }
    }
}

#[test]
fn block_counters_past_32_bits_match_the_reference_stream() {
    // The counter's high word (state word 9) is filled per lane; check it with a direct
    // stream position, as no message reaches 2^32 blocks.
    let key = [1u8; 32];
    let nonce = [2u8; 24];
    let start = (1u64 << 32) - 3;
    let mut reference_stream = [0u8; 8 * 64];
    {
        use crypto_secretbox::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
        let mut c = salsa20::XSalsa20::new(&key.into(), &nonce.into());
        c.seek(start * 64);
        c.apply_keystream(&mut reference_stream);
    }
    for lanes in all_lanes() {
        let mut s = crate::xsalsa20::XSalsa20::new(&key, &nonce);
        s.seek_block(start);
        let mut rest = [0u8; 8 * 64 - 32];
        let first = s.poly_key_and_xor(lanes, &[0u8; 8 * 64 - 32], &mut rest);
        assert_eq!([first.as_slice(), &rest].concat(), reference_stream, "{lanes:?}");
    }
}

proptest! {
    #[test]
    fn matches_the_reference_on_every_build(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..5000),
    ) {
        let want = reference(&key, &nonce, &plaintext);
        for lanes in all_lanes() {
            prop_assert_eq!(&seal(lanes, &key, &nonce, &plaintext), &want);
            prop_assert_eq!(open(lanes, &key, &want).expect("open"), plaintext.clone());
        }
    }
}
