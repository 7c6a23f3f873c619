//! Property tests: roundtrips with random keys/plaintexts/AAD, corruption gives what upstream
//! gives (an authentication failure where the cipher guarantees one, otherwise the result of
//! upstream's algorithm on the corrupted bytes; never a panic), and the per-provider AAD
//! binding.

use std::sync::Arc;

use aes::cipher::{BlockCipherDecrypt, KeyInit};
use atrest_config::ProviderConfiguration;
use atrest_transformers::{
    Base64Plugin, EncryptedObject, KmsPlugins, KmsV1Plugin, KmsV2Plugin, ProviderChain,
    SeededRandom, Transformer, validate_encrypted_object,
};
use proptest::prelude::*;

use crate::support::{b64, key, plugins, provider};

/// Every text a failed read may print (leaves of aggregates), from upstream sources.
const UPSTREAM_LEAVES: &[&str] = &[
    "the stored data was shorter than the required size",
    "the stored data is not a multiple of the block size",
    "invalid PKCS7 data (empty or not padded)",
    "invalid padding on input",
    "cipher: message authentication failed",
    "output array was not large enough for encryption",
    "no matching prefix found",
    "no matching key was found for the provided AES transformer",
    "no matching key was found for the provided Secretbox transformer",
    "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data",
    "proto: cannot parse invalid wire-format data",
    "string field contains invalid UTF-8",
    "encrypted data is empty",
    "unknown encryptedDEKSourceType: ",
    "failed to validate ",
    "failed to decrypt DEK, error: rpc error: code = Unknown desc = illegal base64 data at input byte ",
    "crypto/aes: invalid key size ",
    // KMS v1 returns plugin errors unwrapped.
    "rpc error: code = Unknown desc = illegal base64 data at input byte ",
    "invalid seed length ",
];

const KINDS: &[&str] = &["aescbc", "aesgcm", "secretbox", "kmsv1", "kms", "identity"];

fn chain_for(kind: &str, key_bytes: &[u8], seed: u64) -> ProviderChain {
    let p: ProviderConfiguration = match kind {
        "aescbc" | "aesgcm" | "secretbox" => provider(kind, vec![key("k", &b64(key_bytes))], ""),
        "kmsv1" => provider("kmsv1", vec![], "kms-provider"),
        "kms" => provider("kms", vec![], "kms-provider"),
        _ => provider("identity", vec![], ""),
    };
    let kms: KmsPlugins = plugins();
    ProviderChain::build_with_random(&[&p], &kms, Arc::new(SeededRandom::new(seed))).expect("build")
}

fn key_len(kind: &str, pick: usize) -> usize {
    match kind {
        "aescbc" | "aesgcm" => [16, 24, 32][pick % 3],
        _ => 32,
    }
}

fn check_text(text: &str) -> Result<(), TestCaseError> {
    // Leaves may themselves contain ", " (field errors), so only the first leaf of an
    // aggregate is checked by prefix; the chain test compares whole texts with upstream.
    let first = text.strip_prefix('[').unwrap_or(text);
    prop_assert!(
        UPSTREAM_LEAVES.iter().any(|u| first.starts_with(u)),
        "not an upstream text: {text:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn roundtrip(kind in prop::sample::select(KINDS), pick in 0usize..3,
                 key in prop::collection::vec(any::<u8>(), 32), seed in any::<u64>(),
                 plaintext in prop::collection::vec(any::<u8>(), 0..300),
                 aad in prop::collection::vec(any::<u8>(), 0..64)) {
        let chain = chain_for(kind, &key[..key_len(kind, pick)], seed);
        let stored = chain.to_storage(&plaintext, &aad).expect("write");
        prop_assert_eq!(chain.from_storage(&stored, &aad).expect("read"), (plaintext.clone(), false));
        if kind != "identity" && !plaintext.is_empty() {
            prop_assert_ne!(&stored[stored.len().saturating_sub(plaintext.len())..], &plaintext[..]);
        }
    }

    #[test]
    fn corruption_gives_upstream_texts(kind in prop::sample::select(KINDS), pick in 0usize..3,
                 key in prop::collection::vec(any::<u8>(), 32), seed in any::<u64>(),
                 plaintext in prop::collection::vec(any::<u8>(), 0..100),
                 pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let key = &key[..key_len(kind, pick)];
        let chain = chain_for(kind, key, seed);
        let aad = b"/registry/secrets/ns/name";
        let stored = chain.to_storage(&plaintext, aad).expect("write");
        prop_assume!(!stored.is_empty());
        let pos = pos.index(stored.len());
        let mut flipped = stored.clone();
        flipped[pos] ^= xor;
        let got = chain.from_storage(&flipped, aad);
        match flip_outcome(kind, key, &stored, &flipped, pos, &plaintext) {
            Outcome::Exact(want) => prop_assert_eq!(
                got.map_err(|e| e.to_string()), want, "{} flip at {}", kind, pos
            ),
            Outcome::Fails => match got {
                Err(e) => check_text(&e.to_string())?,
                Ok(read) => prop_assert!(false, "{kind} flip at {pos} decrypted: {read:?}"),
            },
            Outcome::FailsOrStale => match got {
                Err(e) => check_text(&e.to_string())?,
                Ok((plain, stale)) => {
                    prop_assert!(stale, "{kind} flip at {pos}: only the CBC fallback can succeed");
                    prop_assert_ne!(&plain, &plaintext);
                }
            },
        }
        if kind == "identity" {
            return Ok(());
        }
        let truncated = &stored[..cut.index(stored.len())];
        match chain.from_storage(truncated, aad) {
            Err(e) => check_text(&e.to_string())?,
            Ok((plain, _)) => prop_assert_ne!(plain, plaintext, "a truncated value must not decrypt"),
        }
    }

    #[test]
    fn aad_binding(kind in prop::sample::select(&KINDS[..5]), key in prop::collection::vec(any::<u8>(), 32),
                   seed in any::<u64>(), plaintext in prop::collection::vec(any::<u8>(), 0..100)) {
        let chain = chain_for(kind, &key, seed);
        let stored = chain.to_storage(&plaintext, b"/registry/secrets/a/b").expect("write");
        let moved = chain.from_storage(&stored, b"/registry/secrets/a/c");
        match kind {
            // Spec §1.2: aescbc and secretbox ignore the AAD; KMS v1 GCM, aesgcm and KMS v2 bind it.
            "aescbc" | "secretbox" => prop_assert_eq!(moved.expect("not bound"), (plaintext, false)),
            "kmsv1" => {
                // GCM fails, then the CBC fallback fails too: an aggregate.
                let text = moved.expect_err("bound").to_string();
                prop_assert!(text.starts_with("[cipher: message authentication failed, "), "{}", text);
            }
            _ => prop_assert_eq!(moved.expect_err("bound").to_string(), "cipher: message authentication failed"),
        }
    }
}

/// What upstream does with a stored value that has one byte flipped.
#[derive(Debug)]
enum Outcome {
    /// Exactly this plaintext + stale flag, or this error text.
    Exact(Result<(Vec<u8>, bool), String>),
    /// An error (authentication guarantees it; the text is one of upstream's).
    Fails,
    /// KMS v1 with a corrupted DEK: GCM fails for certain, the unauthenticated CBC fallback may
    /// decrypt to garbage, which upstream returns as stale.
    FailsOrStale,
}

const AUTH_FAILED: &str = "cipher: message authentication failed";

fn flip_outcome(
    kind: &str,
    key: &[u8],
    stored: &[u8],
    flipped: &[u8],
    pos: usize,
    plaintext: &[u8],
) -> Outcome {
    let (outer, inner) = match kind {
        "identity" => {
            // The identity transformer reads anything that is not `k8s:enc:`; on `k8s:enc:`
            // it errors, which the prefix list (empty prefix) skips.
            return Outcome::Exact(if flipped.starts_with(b"k8s:enc:") {
                Err("no matching prefix found".into())
            } else {
                Ok((flipped.to_vec(), false))
            });
        }
        "aescbc" | "aesgcm" | "secretbox" => (format!("k8s:enc:{kind}:v1:"), "k:"),
        "kmsv1" => ("k8s:enc:kms:v1:kms-provider:".to_string(), ""),
        _ => ("k8s:enc:kms:v2:kms-provider:".to_string(), ""),
    };
    let header = outer.len() + inner.len();
    if pos < outer.len() {
        return Outcome::Exact(Err("no matching prefix found".into()));
    }
    if pos < header {
        let provider = if kind == "secretbox" { "Secretbox" } else { "AES" };
        return Outcome::Exact(Err(format!(
            "no matching key was found for the provided {provider} transformer"
        )));
    }
    let (body, new_body) = (&stored[header..], &flipped[header..]);
    match kind {
        "aesgcm" => Outcome::Exact(Err(AUTH_FAILED.into())),
        "secretbox" => {
            Outcome::Exact(Err("output array was not large enough for encryption".into()))
        }
        "aescbc" => Outcome::Exact(cbc_model(key, new_body).map(|p| (p, false))),
        "kmsv1" => kms_v1_outcome(body, new_body, plaintext),
        _ => kms_v2_outcome(body, new_body, plaintext),
    }
}

/// KMS v1: uint16 length, wrapped DEK (Base64 mock: base64 of the DEK), AES-GCM payload; reads
/// fall back to AES-CBC and mark a CBC success stale. A wrapped DEK that still decodes to the
/// same DEK (Go's base64 ignores line breaks and non-zero trailing bits) reads normally.
fn kms_v1_outcome(body: &[u8], new_body: &[u8], plaintext: &[u8]) -> Outcome {
    let dek_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let plugin = Base64Plugin::new();
    let dek = KmsV1Plugin::decrypt(&plugin, &body[2..2 + dek_len]).expect("our DEK");
    if new_body[..2] != body[..2] {
        return Outcome::FailsOrStale;
    }
    if new_body[2..2 + dek_len] != body[2..2 + dek_len] {
        return match KmsV1Plugin::decrypt(&plugin, &new_body[2..2 + dek_len]) {
            // KMS v1 returns plugin errors unwrapped.
            Err(e) => Outcome::Exact(Err(e.to_string())),
            Ok(same) if same == dek => Outcome::Exact(Ok((plaintext.to_vec(), false))),
            Ok(_) => Outcome::FailsOrStale,
        };
    }
    let payload = &new_body[2 + dek_len..];
    Outcome::Exact(match cbc_model(&dek, payload) {
        Ok(garbage) => Ok((garbage, true)),
        Err(cbc) => Err(format!("[{AUTH_FAILED}, {cbc}]")),
    })
}

/// KMS v2: the `EncryptedObject` as Go decodes it (decode_go matches Go, kmsv2_decode.json and
/// kmsv2_proto.json). The mock ignores key ID and annotations, so a flip there that still
/// validates decrypts (stale when the key ID changed); the payload and DEK source type are
/// authenticated; a DEK source that base64-decodes to the same seed (Go ignores line breaks
/// and non-zero trailing bits) still works.
fn kms_v2_outcome(body: &[u8], new_body: &[u8], plaintext: &[u8]) -> Outcome {
    let orig = EncryptedObject::decode_go(body).expect("our write decodes");
    let obj = match EncryptedObject::decode_go(new_body) {
        Ok(obj) => obj,
        Err(e) => return Outcome::Exact(Err(e.to_string())),
    };
    if let Err(e) = validate_encrypted_object(&obj) {
        return Outcome::Exact(Err(e.to_string()));
    }
    if obj.encrypted_data != orig.encrypted_data {
        let mut same_but_data = obj.clone();
        same_but_data.encrypted_data.clone_from(&orig.encrypted_data);
        // A flip inside the payload itself: the GCM tag check fails, whatever the byte.
        if same_but_data == orig {
            return Outcome::Exact(Err(AUTH_FAILED.into()));
        }
        return Outcome::Fails;
    }
    if obj.encrypted_dek_source_type != orig.encrypted_dek_source_type {
        return Outcome::Fails;
    }
    let request = |o: &EncryptedObject| {
        KmsV2Plugin::decrypt(
            &Base64Plugin::new(),
            &atrest_transformers::DecryptRequest {
                ciphertext: &o.encrypted_dek_source,
                key_id: &o.key_id,
                annotations: &o.annotations,
            },
        )
    };
    let seed = request(&orig).expect("our seed");
    match request(&obj) {
        Err(e) => Outcome::Exact(Err(format!("failed to decrypt DEK, error: {e}"))),
        Ok(s) if same_hmac_key(&s, &seed) => {
            Outcome::Exact(Ok((plaintext.to_vec(), obj.key_id != orig.key_id)))
        }
        Ok(_) => Outcome::Fails,
    }
}

/// Whether two HKDF seeds (HMAC-SHA256 keys; upstream requires at least 32 bytes) derive the
/// same keys: HMAC zero-pads keys up to its 64-byte block, so `seed` and `seed || 0x00` are
/// the same key. A flip of the base64 `=` to `A` appends exactly that zero byte.
fn same_hmac_key(a: &[u8], b: &[u8]) -> bool {
    let padded = |k: &[u8]| {
        let mut v = k.to_vec();
        v.resize(64, 0);
        v
    };
    let hmac_sized = |k: &[u8]| (32..=64).contains(&k.len());
    a == b || hmac_sized(a) && hmac_sized(b) && padded(a) == padded(b)
}

/// Upstream's CBC read (aes.go `cbc.TransformFromStorage`) for values at least one block
/// long, written independently of the crate: raw AES block decryption, CBC chaining, PKCS#7
/// checks in upstream's order.
fn cbc_model(key: &[u8], stored: &[u8]) -> Result<Vec<u8>, String> {
    if stored.len() < 16 {
        return Err("the stored data was shorter than the required size".into());
    }
    let (iv, data) = stored.split_at(16);
    if data.len() % 16 != 0 {
        return Err("the stored data is not a multiple of the block size".into());
    }
    assert!(!data.is_empty(), "a flip never produces a one-block value");
    let mut out = match key.len() {
        16 => cbc_decrypt::<aes::Aes128>(key, iv, data),
        24 => cbc_decrypt::<aes::Aes192>(key, iv, data),
        _ => cbc_decrypt::<aes::Aes256>(key, iv, data),
    };
    let c = out[out.len() - 1];
    let pad = usize::from(c);
    if pad == 0 || pad > out.len() {
        return Err("invalid PKCS7 data (empty or not padded)".into());
    }
    let size = out.len() - pad;
    if out[size..].iter().any(|b| *b != c) {
        return Err("invalid padding on input".into());
    }
    out.truncate(size);
    Ok(out)
}

fn cbc_decrypt<C: BlockCipherDecrypt<BlockSize = aes::cipher::consts::U16> + KeyInit>(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let cipher = C::new_from_slice(key).expect("valid AES key");
    let mut out = Vec::with_capacity(data.len());
    let mut prev = iv;
    for block in data.chunks(16) {
        let mut b = aes::Block::try_from(block).expect("16-byte block");
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev).map(|(x, p)| x ^ p));
        prev = block;
    }
    out
}
