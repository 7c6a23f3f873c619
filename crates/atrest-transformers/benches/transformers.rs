//! Encrypt/decrypt throughput per provider (identity, aescbc, aesgcm, secretbox, KMS v2 with
//! the Base64 mock) at 1 KiB, 64 KiB and 1 MiB, and KMS v2's seed-mode DEK transformer alone
//! (HKDF-SHA256 per write, AES-256-GCM), the counterpart of upstream's
//! `aes.NewHKDFExtendedNonceGCMTransformer` in `cargo xtask bench transformers`.

use std::hint::black_box;
use std::sync::Arc;

use atrest_config::{
    AesConfiguration, IdentityConfiguration, Key, KeySecret, KmsConfiguration,
    ProviderConfiguration, SecretboxConfiguration,
};
use atrest_transformers::{
    Base64Plugin, HkdfGcmTransformer, KmsPlugins, OsRandom, ProviderChain, Transformer,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SIZES: &[(&str, usize)] = &[("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)];
/// 32 bytes of key material (base64), a fixed bench key.
const KEY: &str = "c2VjcmV0IGlzIHNlY3VyZSBzZWNyZXQgaXMgc2VjdXI=";

fn providers() -> Vec<(&'static str, ProviderConfiguration)> {
    let keys = || vec![Key { name: "key1".into(), secret: KeySecret::new(KEY) }];
    vec![
        (
            "identity",
            ProviderConfiguration { identity: Some(IdentityConfiguration), ..Default::default() },
        ),
        (
            "aescbc",
            ProviderConfiguration {
                aescbc: Some(AesConfiguration { keys: keys() }),
                ..Default::default()
            },
        ),
        (
            "aesgcm",
            ProviderConfiguration {
                aesgcm: Some(AesConfiguration { keys: keys() }),
                ..Default::default()
            },
        ),
        (
            "secretbox",
            ProviderConfiguration {
                secretbox: Some(SecretboxConfiguration { keys: keys() }),
                ..Default::default()
            },
        ),
        (
            "kmsv2",
            ProviderConfiguration {
                kms: Some(KmsConfiguration {
                    api_version: "v2".into(),
                    name: "kms-provider".into(),
                    endpoint: "unix:///@kms-provider".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let kms = KmsPlugins::new().with_v2("kms-provider", Arc::new(Base64Plugin::new()));
    let aad = b"/registry/secrets/default/secret1";
    for (name, provider) in providers() {
        let chain = ProviderChain::build(&[&provider], &kms).expect("bench config builds");
        let mut group = c.benchmark_group(name);
        for (label, size) in SIZES {
            let plaintext = vec![0x5a; *size];
            let stored = chain.to_storage(&plaintext, aad).expect("encrypt");
            group.throughput(Throughput::Bytes(*size as u64));
            group.bench_function(format!("encrypt/{label}"), |b| {
                b.iter(|| chain.to_storage(black_box(&plaintext), black_box(aad)))
            });
            group.bench_function(format!("decrypt/{label}"), |b| {
                b.iter(|| chain.from_storage(black_box(&stored), black_box(aad)))
            });
        }
        group.finish();
    }
    let hkdf = HkdfGcmTransformer::new(&[0x42; 32], Arc::new(OsRandom::new())).expect("seed");
    let mut group = c.benchmark_group("kmsv2-hkdf-gcm");
    for (label, size) in SIZES {
        let plaintext = vec![0x5a; *size];
        let stored = hkdf.to_storage(&plaintext, aad).expect("encrypt");
        group.throughput(Throughput::Bytes(*size as u64));
        group.bench_function(format!("encrypt/{label}"), |b| {
            b.iter(|| hkdf.to_storage(black_box(&plaintext), black_box(aad)))
        });
        group.bench_function(format!("decrypt/{label}"), |b| {
            b.iter(|| hkdf.from_storage(black_box(&stored), black_box(aad)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
