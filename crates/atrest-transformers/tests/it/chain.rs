//! Full provider chains against upstream's: every case in tests/data/chain.json was loaded by
//! upstream's `encryptionconfig.LoadEncryptionConfig` and fed valid, foreign, truncated and
//! bit-flipped values; its result (plaintext + stale, or the exact error text) is the expectation.

use atrest_config::ProviderConfiguration;
use atrest_transformers::{ProviderChain, TransformError, Transformer};
use serde::Deserialize;

use crate::support::{any_error, data, key, plugins, provider, unhex};

#[derive(Deserialize)]
pub(crate) struct ChainCase {
    pub(crate) name: String,
    providers: Vec<Provider>,
    aad_hex: String,
    plaintext_hex: String,
    write_prefix: String,
    pub(crate) reads: Vec<ChainRead>,
}

#[derive(Deserialize)]
struct Provider {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    keys: Vec<KeyData>,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct KeyData {
    name: String,
    secret: String,
}

#[derive(Deserialize)]
pub(crate) struct ChainRead {
    pub(crate) what: String,
    aad_hex: String,
    stored_hex: String,
    pub(crate) expect: Expect,
}

#[derive(Deserialize)]
pub(crate) struct Expect {
    plaintext_hex: Option<String>,
    #[serde(default)]
    stale: bool,
    pub(crate) error: Option<String>,
    panic: Option<String>,
}

impl ChainCase {
    pub(crate) fn build(&self) -> ProviderChain {
        let providers: Vec<ProviderConfiguration> = self
            .providers
            .iter()
            .map(|p| {
                let keys = p.keys.iter().map(|k| key(&k.name, &k.secret)).collect();
                provider(&p.kind, keys, &p.name)
            })
            .collect();
        let refs: Vec<&ProviderConfiguration> = providers.iter().collect();
        ProviderChain::build(&refs, &plugins()).expect("build")
    }

    pub(crate) fn read(
        &self,
        chain: &ProviderChain,
        r: &ChainRead,
    ) -> Result<(Vec<u8>, bool), TransformError> {
        chain.from_storage(&unhex(&r.stored_hex), &unhex(&r.aad_hex))
    }
}

pub(crate) fn cases() -> Vec<ChainCase> {
    data("chain.json")
}

fn case(name: &str) -> ChainCase {
    cases().into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}"))
}

fn check(c: &ChainCase, chain: &ProviderChain, r: &ChainRead) -> Result<(), String> {
    let got = c.read(chain, r);
    let ctx = format!("{} / {}", c.name, r.what);
    match (&r.expect, got) {
        (Expect { plaintext_hex: Some(p), stale, .. }, Ok((plain, got_stale))) => {
            if hex::encode(&plain) != *p || got_stale != *stale {
                return Err(format!("{ctx}: wrong plaintext or stale (got stale={got_stale})"));
            }
        }
        (Expect { error: Some(e), .. }, Err(err)) => {
            if err.to_string() != *e {
                return Err(format!("{ctx}: error {:?}, upstream {e:?}", err.to_string()));
            }
        }
        // Upstream panics on an aescbc value that is exactly one IV; we return a deterministic
        // error instead (TransformError::EmptyCbcCiphertext).
        (Expect { panic: Some(_), .. }, Err(err)) => {
            if !any_error(&err, &|e| matches!(e, TransformError::EmptyCbcCiphertext)) {
                return Err(format!("{ctx}: upstream panicked, we said {err}"));
            }
        }
        (_, got) => return Err(format!("{ctx}: mismatch, got {got:?}")),
    }
    Ok(())
}

#[test]
fn every_read_matches_upstream() {
    let cases = cases();
    assert_eq!(cases.len(), 16);
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        let chain = c.build();
        for r in &c.reads {
            checked += 1;
            if let Err(f) = check(c, &chain, r) {
                failures.push(f);
            }
        }
    }
    assert!(checked > 1500, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked} reads differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn writes_use_the_first_provider_and_key_and_read_back_fresh() {
    for c in cases() {
        let chain = c.build();
        let aad = unhex(&c.aad_hex);
        let plaintext = unhex(&c.plaintext_hex);
        let written = chain.to_storage(&plaintext, &aad).expect("write");
        assert!(written.starts_with(c.write_prefix.as_bytes()), "{}: prefix", c.name);
        assert_eq!(
            chain.from_storage(&written, &aad).expect("read"),
            (plaintext, false),
            "{}",
            c.name
        );
    }
}

fn expect_of<'a>(c: &'a ChainCase, what: &str) -> &'a Expect {
    &c.reads.iter().find(|r| r.what == what).unwrap_or_else(|| panic!("no read {what}")).expect
}

#[test]
fn rotation_reads_old_key_data_as_stale() {
    let c = case("aescbc-rotated");
    let e = expect_of(&c, "from:aescbc");
    assert!(
        e.plaintext_hex.is_some() && e.stale,
        "upstream: key1 data under [key2, key1] is stale"
    );
    assert!(
        check(&c, &c.build(), c.reads.iter().find(|r| r.what == "from:aescbc").expect("read"))
            .is_ok()
    );
}

#[test]
fn identity_first_reads_encrypted_data_as_stale_and_plaintext_fresh() {
    let c = case("identity-first");
    let chain = c.build();
    for what in ["from:aescbc", "from:aesgcm", "from:secretbox", "from:identity"] {
        let r = c.reads.iter().find(|r| r.what == what).expect("read");
        assert!(r.expect.plaintext_hex.is_some());
        assert_eq!(r.expect.stale, what != "from:identity");
        check(&c, &chain, r).expect("matches upstream");
    }
}

#[test]
fn identity_fallback_and_unknown_prefix() {
    let c = case("aescbc-then-identity");
    let chain = c.build();
    for (what, error) in [
        ("from:identity", None),
        ("extra:plain-json", None),
        ("extra:unknown-enc-prefix", Some("no matching prefix found")),
        ("from:aesgcm", Some("no matching prefix found")),
    ] {
        let r = c.reads.iter().find(|r| r.what == what).expect("read");
        assert_eq!(r.expect.error.as_deref(), error, "{what}");
        check(&c, &chain, r).expect("matches upstream");
    }
    let bare = case("aescbc");
    let r = bare.reads.iter().find(|r| r.what == "extra:aescbc-unknown-key").expect("read");
    assert_eq!(
        r.expect.error.as_deref(),
        Some("no matching key was found for the provided AES transformer")
    );
    check(&bare, &bare.build(), r).expect("matches upstream");
}

#[test]
fn two_providers_sharing_a_prefix_try_both_and_aggregate_errors() {
    let c = case("two-aescbc");
    let chain = c.build();
    let r = c.reads.iter().find(|r| r.what == "from:aescbc").expect("read");
    assert!(r.expect.stale, "the second aescbc provider decrypts: stale");
    check(&c, &chain, r).expect("matches upstream");
    // Same key name, different secrets: the first provider fails, the second succeeds.
    let c = case("two-aescbc-same-name");
    let r = c.reads.iter().find(|r| r.what == "from:aescbc").expect("read");
    assert!(r.expect.plaintext_hex.is_some() && r.expect.stale);
    check(&c, &c.build(), r).expect("matches upstream");
    // Aggregates: some upstream texts are `[e1, e2]`.
    let aggregated = cases()
        .iter()
        .flat_map(|c| c.reads.iter().filter_map(|r| r.expect.error.clone()))
        .filter(|e| e.starts_with('['))
        .count();
    assert!(aggregated > 0);
}

#[test]
fn failures_keep_which_transformer_failed() {
    let c = case("two-aescbc-same-name");
    let chain = c.build();
    let r = c.reads.iter().find(|r| r.what == "from:aesgcm").expect("read");
    let err = c.read(&chain, r).expect_err("no aesgcm");
    assert_eq!(err.to_string(), "no matching prefix found");
    let r = c
        .reads
        .iter()
        .find(|r| {
            r.what.starts_with("flip:")
                && r.expect.error.as_deref().is_some_and(|e| e.starts_with("[invalid PKCS7"))
        })
        .expect("a flip failing in both providers");
    let err = c.read(&chain, r).expect_err("fails");
    let explained = err.explain();
    assert!(explained.contains("tried k8s:enc:aescbc:v1: key1: => "), "{err} => {explained}");
    assert_eq!(explained.lines().count(), 2, "one line per failed provider: {explained}");
    assert_eq!(err.attempts().len(), 2);
}
