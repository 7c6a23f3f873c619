//! Property tests: roundtrips with random keys/plaintexts/AAD, corruption always yields an
//! upstream error text (never a panic), and the per-provider AAD binding.

use std::sync::Arc;

use atrest_config::ProviderConfiguration;
use atrest_transformers::{KmsPlugins, ProviderChain, SeededRandom, Transformer};
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
    fn corruption_gives_upstream_texts(kind in prop::sample::select(&KINDS[..5]), pick in 0usize..3,
                 key in prop::collection::vec(any::<u8>(), 32), seed in any::<u64>(),
                 plaintext in prop::collection::vec(any::<u8>(), 0..100),
                 pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let chain = chain_for(kind, &key[..key_len(kind, pick)], seed);
        let aad = b"/registry/secrets/ns/name";
        let stored = chain.to_storage(&plaintext, aad).expect("write");
        let mut flipped = stored.clone();
        flipped[pos.index(stored.len())] ^= xor;
        if let Err(e) = chain.from_storage(&flipped, aad) {
            check_text(&e.to_string())?;
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
