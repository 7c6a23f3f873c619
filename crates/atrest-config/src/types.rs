//! The `EncryptionConfiguration` object model.
//!
//! Mirrors k8s.io/apiserver pkg/apis/apiserver/v1/types_encryption.go (the v1 wire shape) and
//! pkg/apis/apiserver/types_encryption.go (the internal shape, whose Go field names show up in
//! upstream error values).
//! Types here are plain data: decoding lives in `decode`, rules in `validate`.

use std::fmt;

use zeroize::Zeroizing;

/// Which `apiVersion`/`kind` pair the document used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeMeta {
    /// `apiVersion: apiserver.config.k8s.io/v1`, `kind: EncryptionConfiguration`.
    V1,
    /// The pre-1.13 `apiVersion: v1`, `kind: EncryptionConfig`, still accepted upstream.
    LegacyEncryptionConfig,
}

/// A decoded (and defaulted, once `defaults::apply` ran) encryption configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionConfiguration {
    /// The document's type meta.
    pub type_meta: TypeMeta,
    /// `resources`: ordered entries, first match wins at lookup time.
    pub resources: Vec<ResourceConfiguration>,
}

/// One `resources[i]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceConfiguration {
    /// `resources[i].resources`: group/resource strings as written (`secrets`, `*.apps`, `*.*`).
    pub resources: Vec<String>,
    /// `resources[i].providers`: write with the first, read with all.
    pub providers: Vec<ProviderConfiguration>,
}

/// One `providers[j]` item. Upstream allows exactly one field to be set; validation enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderConfiguration {
    /// `aesgcm`.
    pub aesgcm: Option<AesConfiguration>,
    /// `aescbc`.
    pub aescbc: Option<AesConfiguration>,
    /// `secretbox`.
    pub secretbox: Option<SecretboxConfiguration>,
    /// `identity`. `identity: {}` is `Some`; `identity:` (YAML null) is `None`, as upstream.
    pub identity: Option<IdentityConfiguration>,
    /// `kms`.
    pub kms: Option<KmsConfiguration>,
}

/// The kind of a provider item, in upstream's field order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// `aesgcm`.
    Aesgcm,
    /// `aescbc`.
    Aescbc,
    /// `secretbox`.
    Secretbox,
    /// `identity`.
    Identity,
    /// `kms` (v1 or v2, see [`KmsConfiguration::api_version`]).
    Kms,
}

impl ProviderKind {
    /// The YAML field name, which is also the provider segment of the storage prefix.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Aesgcm => "aesgcm",
            ProviderKind::Aescbc => "aescbc",
            ProviderKind::Secretbox => "secretbox",
            ProviderKind::Identity => "identity",
            ProviderKind::Kms => "kms",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProviderConfiguration {
    /// The kinds set in this item, in upstream's field order (more than one is a validation error).
    pub fn kinds(&self) -> Vec<ProviderKind> {
        let mut kinds = Vec::new();
        if self.aesgcm.is_some() {
            kinds.push(ProviderKind::Aesgcm);
        }
        if self.aescbc.is_some() {
            kinds.push(ProviderKind::Aescbc);
        }
        if self.secretbox.is_some() {
            kinds.push(ProviderKind::Secretbox);
        }
        if self.identity.is_some() {
            kinds.push(ProviderKind::Identity);
        }
        if self.kms.is_some() {
            kinds.push(ProviderKind::Kms);
        }
        kinds
    }

    /// The single kind of a valid item, or `None` when zero or several are set.
    pub fn kind(&self) -> Option<ProviderKind> {
        match self.kinds().as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }
}

/// `aescbc` / `aesgcm` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AesConfiguration {
    /// `keys`: the first encrypts, all decrypt.
    pub keys: Vec<Key>,
}

/// `secretbox` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretboxConfiguration {
    /// `keys`: the first encrypts, all decrypt.
    pub keys: Vec<Key>,
}

/// `identity: {}` body (no fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentityConfiguration;

/// A named key. The secret is the base64 text as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    /// `name`: becomes the inner storage prefix `<name>:`.
    pub name: String,
    /// `secret`: base64 of the key bytes; never printed.
    pub secret: KeySecret,
}

/// The base64 `secret` text of a key. `Debug` and `Display` print `REDACTED`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeySecret(Zeroizing<String>);

impl KeySecret {
    /// Wraps the base64 text as written in the file.
    pub fn new(text: impl Into<String>) -> Self {
        KeySecret(Zeroizing::new(text.into()))
    }

    /// The base64 text. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl fmt::Display for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// Decoded key material. `Debug` prints only the length; bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes(Zeroizing<Vec<u8>>);

impl KeyBytes {
    /// Wraps raw key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        KeyBytes(Zeroizing::new(bytes))
    }

    /// The raw bytes. Callers must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes(REDACTED, {} bytes)", self.0.len())
    }
}

/// `kms` body (after defaulting: `api_version` is never empty, `timeout` is set,
/// `cachesize` is set for v1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsConfiguration {
    /// `apiVersion`: `v1` or `v2` (defaults to `v1`).
    pub api_version: String,
    /// `name`: the storage prefix segment `k8s:enc:kms:<v>:<name>:`.
    pub name: String,
    /// `cachesize`: KMS v1 DEK cache size; defaults to 1000 for v1 only.
    pub cachesize: Option<i32>,
    /// `endpoint`: `unix:///path` or `unix:///@abstract`.
    pub endpoint: String,
    /// `timeout`: defaults to 3s.
    pub timeout: Option<GoDuration>,
}

pub use atrest_gostd::duration::GoDuration;

/// Why a key's `secret` text does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretDecodeError {
    /// Not valid padded standard base64 (Go's `base64.StdEncoding`).
    #[error("illegal base64 data at input byte {offset}")]
    IllegalBase64 {
        /// Byte offset as Go reports it: an index into the original text, newlines included.
        offset: usize,
    },
}

impl Key {
    /// Decodes the secret as upstream does (`base64.StdEncoding.DecodeString`): padded standard
    /// alphabet, `\r` and `\n` ignored, non-canonical trailing bits accepted.
    ///
    /// Mirrors k8s.io/apiserver pkg/server/options/encryptionconfig/config.go
    /// (`aesPrefixTransformer`, `secretboxPrefixTransformer`).
    pub fn decode_secret(&self) -> Result<KeyBytes, SecretDecodeError> {
        decode_std_base64(self.secret.expose()).map(KeyBytes::new)
    }
}

/// Go `base64.StdEncoding.DecodeString` semantics, including its error offsets
/// ([`atrest_gostd::base64::decode_std`]).
pub fn decode_std_base64(text: &str) -> Result<Vec<u8>, SecretDecodeError> {
    decode_std_base64_bytes(text.as_bytes())
}

/// [`decode_std_base64`] over bytes (Go's `base64.StdEncoding.Decode`), e.g. a KMS plugin's
/// ciphertext.
pub fn decode_std_base64_bytes(src: &[u8]) -> Result<Vec<u8>, SecretDecodeError> {
    atrest_gostd::base64::decode_std(src)
        .map_err(|e| SecretDecodeError::IllegalBase64 { offset: e.offset })
}
