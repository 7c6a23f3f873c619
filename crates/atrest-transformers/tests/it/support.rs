//! Shared helpers: test data loading and configuration builders.

use std::sync::Arc;

use atrest_config::{
    AesConfiguration, IdentityConfiguration, Key, KeySecret, KmsConfiguration,
    ProviderConfiguration, SecretboxConfiguration,
};
use atrest_transformers::{Base64Plugin, KmsPlugins, TransformError};
use base64::Engine as _;
use serde::de::DeserializeOwned;

pub(crate) fn data<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("valid hex in test data")
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn key(name: &str, secret_b64: &str) -> Key {
    Key { name: name.into(), secret: KeySecret::new(secret_b64) }
}

/// A provider item of `kind` (`aescbc`, `aesgcm`, `secretbox`, `identity`, `kms` (v2),
/// `kmsv1`).
pub(crate) fn provider(kind: &str, keys: Vec<Key>, kms_name: &str) -> ProviderConfiguration {
    let mut p = ProviderConfiguration::default();
    match kind {
        "aescbc" => p.aescbc = Some(AesConfiguration { keys }),
        "aesgcm" => p.aesgcm = Some(AesConfiguration { keys }),
        "secretbox" => p.secretbox = Some(SecretboxConfiguration { keys }),
        "identity" => p.identity = Some(IdentityConfiguration),
        "kms" | "kmsv1" => {
            p.kms = Some(KmsConfiguration {
                api_version: if kind == "kms" { "v2" } else { "v1" }.into(),
                name: kms_name.into(),
                endpoint: format!("unix:///@{kms_name}"),
                ..KmsConfiguration::default()
            })
        }
        other => panic!("unknown provider kind {other}"),
    }
    p
}

/// Base64 mocks for every KMS name the oracle uses; `kms-gcm` writes `AES_GCM_KEY`, as the
/// oracle's `SetKDFForTests("kms-gcm", false)`.
pub(crate) fn plugins() -> KmsPlugins {
    let mut kms = KmsPlugins::new().with_kms_v1_gate(true).without_kdf("kms-gcm");
    for name in ["kms-provider", "kms-gcm", "v2-provider"] {
        kms = kms.with_v2(name, Arc::new(Base64Plugin::new()));
    }
    for name in ["kms-provider", "v1-provider"] {
        kms = kms.with_v1(name, Arc::new(Base64Plugin::new()));
    }
    kms
}

/// Whether `err` or any nested attempt is `pred`.
pub(crate) fn any_error(err: &TransformError, pred: &dyn Fn(&TransformError) -> bool) -> bool {
    pred(err) || err.attempts().iter().any(|a| any_error(&a.error, pred))
}
