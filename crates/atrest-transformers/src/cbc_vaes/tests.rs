//! The VAES decryptor against RustCrypto's `cbc` over `aes` (the fallback path) and against the
//! oracle's vectors, through the transformer with and without VAES.

use std::sync::Arc;

use aes::cipher::{BlockModeDecrypt, KeyIvInit};

use super::*;
use crate::{AesCbc, ScriptedRandom, Transformer};

/// This machine's CPU has VAES; a test that silently fell back would prove nothing.
fn vaes(key: &[u8]) -> VaesCbcDecrypt {
    VaesCbcDecrypt::new(key).expect("these tests expect a CPU with AES-NI, VAES and AVX2")
}

fn reference(key: &[u8], iv: &[u8; 16], input: &[u8]) -> Vec<u8> {
    let mut buf = input.to_vec();
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut buf);
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .expect("key")
            .decrypt_blocks(blocks),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .expect("key")
            .decrypt_blocks(blocks),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .expect("key")
            .decrypt_blocks(blocks),
    }
    buf
}

/// Deterministic bytes (xorshift), so failures reproduce.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn every_key_size_and_block_count_matches_the_cbc_crate() {
    for key_len in [16, 24, 32] {
        for seed in 1..4u64 {
            let key = bytes(seed * 100 + key_len as u64, key_len);
            let iv: [u8; 16] = bytes(seed * 7, 16).try_into().expect("16");
            let d = vaes(&key);
            // Around one and several 16-block batches.
            for blocks in (0..=40).chain([63, 64, 65, 255, 256, 257]) {
                let input = bytes(seed ^ blocks as u64, blocks * 16);
                let mut ours = vec![0u8; input.len()];
                d.decrypt(&iv, &input, &mut ours);
                assert_eq!(ours, reference(&key, &iv, &input), "key {key_len}, {blocks} blocks");
            }
        }
    }
}

#[test]
fn fips_197_appendix_c_decryptions() {
    // FIPS-197 C.1–C.3: one block, so CBC with a zero IV is the bare cipher.
    let plain = hex::decode("00112233445566778899aabbccddeeff").expect("hex");
    for (key, cipher) in [
        ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
        ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "8ea2b7ca516745bfeafc49904b496089",
        ),
    ] {
        let key = hex::decode(key).expect("hex");
        let mut out = [0u8; 16];
        vaes(&key).decrypt(&[0; 16], &hex::decode(cipher).expect("hex"), &mut out);
        assert_eq!(out.as_slice(), plain, "{}-bit key", key.len() * 8);
    }
}

#[derive(serde::Deserialize)]
struct Kat {
    name: String,
    provider: String,
    key_hex: Option<String>,
    iv_hex: Option<String>,
    plaintext_hex: String,
    stored_hex: String,
}

#[test]
fn oracle_vectors_with_and_without_vaes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kat.json");
    let kats: Vec<Kat> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("kat.json")).expect("json");
    let kats: Vec<&Kat> = kats.iter().filter(|k| k.provider == "aescbc").collect();
    assert!(kats.len() >= 26, "the long aescbc vectors are missing");
    for k in kats {
        let key = hex::decode(k.key_hex.as_deref().expect("key")).expect("hex");
        let iv = hex::decode(k.iv_hex.as_deref().expect("iv")).expect("hex");
        let plaintext = hex::decode(&k.plaintext_hex).expect("hex");
        let stored = hex::decode(&k.stored_hex).expect("hex");
        let body = stored.strip_prefix(b"k8s:enc:aescbc:v1:key1:".as_slice()).expect("prefix");
        let random = || Arc::new(ScriptedRandom::new(iv.clone()));
        for (what, t) in [
            ("vaes", AesCbc::new(&key, random()).expect("key")),
            ("cbc crate", AesCbc::without_vaes(&key, random()).expect("key")),
        ] {
            assert!(
                (what == "vaes") == t.block.vaes.is_some(),
                "{}: {what} path not taken",
                k.name
            );
            assert_eq!(t.to_storage(&plaintext, b"").expect("seal"), body, "{} {what}", k.name);
            assert_eq!(t.from_storage(body, b"").expect("open").0, plaintext, "{} {what}", k.name);
        }
    }
}
