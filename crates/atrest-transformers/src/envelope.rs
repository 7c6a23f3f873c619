//! Reading a stored value's framing without decrypting it.

use crate::chain::{AESCBC_PREFIX, AESGCM_PREFIX, KMS_V1_PREFIX, KMS_V2_PREFIX, SECRETBOX_PREFIX};
use crate::kms_v1::split_kms_v1;
use crate::kms_v2::{EncryptedObject, validate_encrypted_object};
use crate::transformer::ENCRYPTED_PREFIX;
use sha2::Digest as _;

/// What a stored etcd value says about how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// No `k8s:enc:` prefix: plaintext (identity).
    Identity,
    /// `k8s:enc:aescbc:v1:<key>:`.
    Aescbc {
        /// Key name (up to the first `:`); `None` when no `:` follows.
        key_name: Option<String>,
    },
    /// `k8s:enc:aesgcm:v1:<key>:`.
    Aesgcm {
        /// Key name (up to the first `:`); `None` when no `:` follows.
        key_name: Option<String>,
    },
    /// `k8s:enc:secretbox:v1:<key>:`.
    Secretbox {
        /// Key name (up to the first `:`); `None` when no `:` follows.
        key_name: Option<String>,
    },
    /// `k8s:enc:kms:v1:<name>:`.
    KmsV1 {
        /// Provider name up to the first `:` (v1 names may contain `:`; then this is a
        /// prefix of the real name). `None` when no `:` follows.
        provider: Option<String>,
        /// Length of the encrypted DEK, when the 2-byte length prefix is readable.
        encrypted_dek_len: Option<usize>,
    },
    /// `k8s:enc:kms:v2:<name>:` + `EncryptedObject`.
    KmsV2 {
        /// Provider name (v2 names cannot contain `:`). `None` when no `:` follows.
        provider: Option<String>,
        /// What the `EncryptedObject` says, or why it could not be read.
        object: Result<KmsV2Header, String>,
    },
    /// `k8s:enc:` with a provider segment we do not know.
    Unknown {
        /// The text after `k8s:enc:` up to the next `:` (lossy UTF-8).
        provider: String,
    },
}

/// The non-secret fields of a KMS v2 `EncryptedObject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsV2Header {
    /// `keyID`.
    pub key_id: String,
    /// `encryptedDEKSourceType` as a number (0 = `AES_GCM_KEY`, 1 = HKDF seed).
    pub dek_source_type: i32,
    /// Annotation keys.
    pub annotation_keys: Vec<String>,
    /// Length of `encryptedData`.
    pub encrypted_data_len: usize,
    /// SHA-256 of `encryptedDEKSource`: names the DEK or seed the value was written with
    /// (values written with the same one share it; each distinct one costs the apiserver a
    /// `Decrypt` after a restart). The wrapped bytes themselves stay out of reports.
    pub dek_source_sha256: [u8; 32],
    /// The `ValidateEncryptedObject` error text, if it fails validation.
    pub validation_error: Option<String>,
}

impl KmsV2Header {
    /// The source type name, when known.
    pub fn dek_source_type_name(&self) -> Option<&'static str> {
        crate::DekSourceType::try_from(self.dek_source_type).ok().map(crate::DekSourceType::as_str)
    }
}

fn segment(rest: &[u8]) -> (Option<String>, &[u8]) {
    match rest.iter().position(|b| *b == b':') {
        Some(i) => (Some(String::from_utf8_lossy(&rest[..i]).into_owned()), &rest[i + 1..]),
        None => (None, &[]),
    }
}

impl Envelope {
    /// Classifies `stored` (a raw etcd value). Never fails and never panics.
    pub fn parse(stored: &[u8]) -> Envelope {
        if !stored.starts_with(ENCRYPTED_PREFIX) {
            return Envelope::Identity;
        }
        if let Some(rest) = stored.strip_prefix(AESCBC_PREFIX.as_bytes()) {
            return Envelope::Aescbc { key_name: segment(rest).0 };
        }
        if let Some(rest) = stored.strip_prefix(AESGCM_PREFIX.as_bytes()) {
            return Envelope::Aesgcm { key_name: segment(rest).0 };
        }
        if let Some(rest) = stored.strip_prefix(SECRETBOX_PREFIX.as_bytes()) {
            return Envelope::Secretbox { key_name: segment(rest).0 };
        }
        if let Some(rest) = stored.strip_prefix(KMS_V1_PREFIX.as_bytes()) {
            let (provider, body) = segment(rest);
            let encrypted_dek_len =
                provider.as_ref().and_then(|_| split_kms_v1(body)).map(|(dek, _)| dek.len());
            return Envelope::KmsV1 { provider, encrypted_dek_len };
        }
        if let Some(rest) = stored.strip_prefix(KMS_V2_PREFIX.as_bytes()) {
            let (provider, body) = segment(rest);
            let object = match provider {
                None => Err("missing provider name terminator".to_string()),
                Some(_) => EncryptedObject::decode_go(body).map_err(|e| e.to_string()).map(|o| {
                    KmsV2Header {
                        validation_error: validate_encrypted_object(&o)
                            .err()
                            .map(|e| e.to_string()),
                        key_id: o.key_id,
                        dek_source_type: o.encrypted_dek_source_type,
                        annotation_keys: o.annotations.into_keys().collect(),
                        encrypted_data_len: o.encrypted_data.len(),
                        dek_source_sha256: sha2::Sha256::digest(&o.encrypted_dek_source).into(),
                    }
                }),
            };
            return Envelope::KmsV2 { provider, object };
        }
        let rest = &stored[ENCRYPTED_PREFIX.len()..];
        let end = rest.iter().position(|b| *b == b':').unwrap_or(rest.len());
        Envelope::Unknown { provider: String::from_utf8_lossy(&rest[..end]).into_owned() }
    }

    /// The provider kind as written in configuration (`identity`, `aescbc`, `aesgcm`,
    /// `secretbox`, `kms`), or `unknown`.
    pub fn provider(&self) -> &'static str {
        match self {
            Envelope::Identity => "identity",
            Envelope::Aescbc { .. } => "aescbc",
            Envelope::Aesgcm { .. } => "aesgcm",
            Envelope::Secretbox { .. } => "secretbox",
            Envelope::KmsV1 { .. } | Envelope::KmsV2 { .. } => "kms",
            Envelope::Unknown { .. } => "unknown",
        }
    }

    /// The key name (aescbc/aesgcm/secretbox) or KMS provider name.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            Envelope::Aescbc { key_name }
            | Envelope::Aesgcm { key_name }
            | Envelope::Secretbox { key_name } => key_name.as_deref(),
            Envelope::KmsV1 { provider, .. } | Envelope::KmsV2 { provider, .. } => {
                provider.as_deref()
            }
            Envelope::Identity | Envelope::Unknown { .. } => None,
        }
    }
}
