//! Error types. `Display` of [`TransformError`] is the exact upstream error text, so the
//! inner cause is part of the message where upstream wraps with `%w`; those variants keep the
//! cause as a field (not `#[source]`) so `{:#}`-style chain printing does not repeat it.

use std::fmt;

use crate::kms::PluginError;
use crate::kms_v2::EncryptedObjectError;
use crate::random::RandomError;

/// Which cipher produced a length error, for diagnostics (the text is the same for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherKind {
    /// AES-CBC (aescbc, KMS v1 fallback).
    AesCbc,
    /// AES-GCM (aesgcm, KMS v1, KMS v2 `AES_GCM_KEY`).
    AesGcm,
    /// HKDF-derived AES-GCM (KMS v2 `HKDF_SHA256_XNONCE_AES_GCM_SEED`).
    HkdfAesGcm,
    /// XSalsa20-Poly1305.
    Secretbox,
}

/// A failed storage transformation. `Display` is the upstream text, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// The bare identity transformer saw `k8s:enc:` data.
    #[error("identity transformer tried to read encrypted data")]
    IdentityEncryptedData,
    /// Stored data shorter than the cipher's minimum.
    #[error("the stored data was shorter than the required size")]
    ShortData {
        /// The cipher whose minimum was not met.
        cipher: CipherKind,
        /// Bytes available after the prefixes.
        len: usize,
        /// Bytes required.
        min: usize,
    },
    /// CBC ciphertext length not a multiple of 16.
    #[error("the stored data is not a multiple of the block size")]
    NotBlockMultiple {
        /// Ciphertext length after the IV.
        len: usize,
    },
    /// CBC pad byte is 0 or longer than the plaintext.
    #[error("invalid PKCS7 data (empty or not padded)")]
    InvalidPkcs7Data,
    /// CBC value that is exactly one IV with no ciphertext.
    ///
    /// Upstream indexes `result[-1]` here and panics (spec §1.7, unconfirmed client-visible
    /// result). We return the PKCS#7 "empty" text: the data is empty and unpadded, and the
    /// read fails like any other undecryptable CBC value (a prefix list keeps trying others).
    #[error("invalid PKCS7 data (empty or not padded)")]
    EmptyCbcCiphertext,
    /// CBC padding bytes differ from the pad value.
    #[error("invalid padding on input")]
    InvalidPadding,
    /// AEAD tag check failed (wrong key, wrong AAD, corrupted or truncated data).
    #[error("cipher: message authentication failed")]
    Authentication {
        /// The AEAD that failed.
        cipher: CipherKind,
    },
    /// secretbox `Open` failed; upstream's (misleading) text.
    #[error("output array was not large enough for encryption")]
    SecretboxOpen,
    /// The random source failed while writing an aescbc IV or a secretbox nonce.
    #[error("unable to read sufficient random bytes")]
    InsufficientRandom {
        /// The underlying failure.
        cause: RandomError,
    },
    /// The random source failed while writing an AES-GCM nonce.
    #[error("failed to write nonce for AES-GCM: {cause}")]
    GcmNonce {
        /// The underlying failure.
        cause: RandomError,
    },
    /// The random source failed while generating the KDF info of a KMS v2 seed write.
    #[error("failed to generate info for KDF: {cause}")]
    KdfInfo {
        /// The underlying failure.
        cause: RandomError,
    },
    /// The random source failed while generating a DEK or seed.
    #[error("{cause}")]
    DekGeneration {
        /// The underlying failure.
        cause: RandomError,
    },
    /// The counter nonce of a KMS v2 `AES_GCM_KEY` DEK wrapped around (upstream: `klog.Fatal`).
    #[error("aes-gcm detected nonce overflow - cryptographic wear out has occurred")]
    NonceOverflow,
    /// A DEK returned by a KMS plugin is not a valid AES key (Go's `aes.KeySizeError`).
    #[error("crypto/aes: invalid key size {len}")]
    InvalidAesKeySize {
        /// Length of the key returned.
        len: usize,
    },
    /// A KMS v2 seed returned by the plugin is shorter than 32 bytes.
    #[error("invalid seed length {len} used for key generation")]
    InvalidSeedLength {
        /// Length of the seed returned.
        len: usize,
    },
    /// KMS v1 value without a readable 2-byte length-prefixed DEK.
    #[error(
        "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data"
    )]
    KmsV1LengthPrefix,
    /// KMS v1 encrypted DEK longer than 65535 bytes (cryptobyte's builder error upstream).
    #[error("cryptobyte: pending child length {len} exceeds 2-byte length prefix")]
    KmsV1DekTooLong {
        /// Length of the plugin ciphertext.
        len: usize,
    },
    /// A KMS v1 plugin error, returned unwrapped as upstream does (to keep the gRPC code).
    #[error("{0}")]
    KmsV1Plugin(PluginError),
    /// KMS v2 plugin `Decrypt` failed.
    #[error("failed to decrypt DEK, error: {cause}")]
    DecryptDek {
        /// The plugin error.
        cause: PluginError,
    },
    /// KMS v2 plugin `Encrypt` failed while generating a write DEK or seed.
    #[error("failed to encrypt DEK, error: {cause}")]
    EncryptDek {
        /// The plugin error.
        cause: PluginError,
    },
    /// The KMS v2 `EncryptedObject` is not valid protobuf.
    #[error("{0}")]
    Proto(ProtoError),
    /// The KMS v2 `EncryptedObject` failed `ValidateEncryptedObject`.
    #[error("{0}")]
    InvalidEncryptedObject(EncryptedObjectError),
    /// No KMS v2 write state yet (no successful `Status` + `Encrypt`); reads fail too.
    #[error("got unexpected nil transformer")]
    KmsV2NoState {
        /// KMS provider name.
        provider: String,
    },
    /// Nothing in the provider list matched the stored prefix.
    #[error("no matching prefix found")]
    NoMatchingPrefix,
    /// Inside an aescbc/aesgcm provider, no key name matched.
    #[error("no matching key was found for the provided AES transformer")]
    NoMatchingAesKey,
    /// Inside a secretbox provider, no key name matched.
    #[error("no matching key was found for the provided Secretbox transformer")]
    NoMatchingSecretboxKey,
    /// Every matching transformer failed. One attempt prints bare; several print as an
    /// apimachinery aggregate `[e1, e2]` (flattened, duplicates removed).
    #[error("{}", AggregateDisplay(attempts))]
    Failed {
        /// Which transformer produced which error, in try order.
        attempts: Vec<Attempt>,
    },
}

/// One failed try inside a prefix list (or the KMS v1 GCM/CBC union).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The transformer's label: its prefix (`k8s:enc:aescbc:v1:`, `key1:`) or, for the KMS v1
    /// union, `gcm` / `cbc`.
    pub transformer: String,
    /// What it returned.
    pub error: TransformError,
}

impl TransformError {
    /// The attempts of a [`TransformError::Failed`] (empty for other variants).
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            TransformError::Failed { attempts } => attempts,
            _ => &[],
        }
    }

    /// A multi-line explanation naming the transformer behind every failure, e.g.
    /// `tried k8s:enc:aescbc:v1: key1: => invalid padding on input`.
    pub fn explain(&self) -> String {
        let mut lines = Vec::new();
        explain_into(self, &mut Vec::new(), &mut lines);
        lines.join("\n")
    }

    /// The leaf messages apimachinery's aggregate would visit, in order.
    fn leaves(&self, out: &mut Vec<String>) {
        match self {
            TransformError::Failed { attempts } if attempts.len() > 1 => {
                for attempt in attempts {
                    attempt.error.leaves(out);
                }
            }
            TransformError::Failed { attempts } if attempts.len() == 1 => {
                attempts[0].error.leaves(out);
            }
            other => out.push(other.to_string()),
        }
    }
}

fn explain_into(err: &TransformError, path: &mut Vec<String>, lines: &mut Vec<String>) {
    match err {
        TransformError::Failed { attempts } => {
            for attempt in attempts {
                path.push(attempt.transformer.clone());
                explain_into(&attempt.error, path, lines);
                path.pop();
            }
        }
        other => {
            if path.is_empty() {
                lines.push(other.to_string());
            } else {
                lines.push(format!("tried {} => {other}", path.join(" ")));
            }
        }
    }
}

/// apimachinery `aggregate.Error()` over a list of attempts (after `errors.Reduce`).
struct AggregateDisplay<'a>(&'a [Attempt]);

impl fmt::Display for AggregateDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => Ok(()),
            [only] => write!(f, "{}", only.error),
            many => {
                let mut leaves = Vec::new();
                for attempt in many {
                    attempt.error.leaves(&mut leaves);
                }
                let mut seen: Vec<&str> = Vec::new();
                for leaf in &leaves {
                    if !seen.contains(&leaf.as_str()) {
                        seen.push(leaf);
                    }
                }
                if seen.len() == 1 {
                    return f.write_str(seen[0]);
                }
                write!(f, "[{}]", seen.join(", "))
            }
        }
    }
}

/// A protobuf decoding failure, with Go's `google.golang.org/protobuf` texts.
///
/// Go randomises the space after `proto:` per binary (U+0020 or U+00A0) to discourage string
/// matching; we always print U+0020.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Malformed wire format (`errDecode`).
    #[error("proto: cannot parse invalid wire-format data")]
    InvalidWireFormat,
    /// A proto3 `string` field (keyID or an annotation key) holds invalid UTF-8.
    #[error("string field contains invalid UTF-8")]
    InvalidUtf8,
}

/// Building transformers from configuration failed. Texts follow
/// k8s.io/apiserver pkg/server/options/encryptionconfig/config.go; validation normally makes
/// them unreachable. The caller adds `error while building transformers: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Empty provider list (upstream would panic on the first write).
    #[error("no providers configured")]
    NoProviders,
    /// A provider item with nothing set.
    #[error(
        "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity"
    )]
    EmptyProvider {
        /// Index in the provider list.
        index: usize,
    },
    /// aescbc/aesgcm without keys.
    #[error("aes provider has no valid keys")]
    AesNoKeys,
    /// secretbox without keys.
    #[error("secretbox provider has no valid keys")]
    SecretboxNoKeys,
    /// A key with an empty name.
    #[error("key with invalid name provided")]
    KeyWithoutName,
    /// A key with an empty secret.
    #[error("key {name} has no provided secret")]
    KeyWithoutSecret {
        /// Key name.
        name: String,
    },
    /// The secret is not valid base64.
    #[error("could not obtain secret for named key {name}: {cause}")]
    SecretDecode {
        /// Key name.
        name: String,
        /// Go's base64 error.
        cause: atrest_config::SecretDecodeError,
    },
    /// An AES key of the wrong length.
    #[error("error while creating cipher for named key {name}: crypto/aes: invalid key size {len}")]
    AesKeySize {
        /// Key name.
        name: String,
        /// Decoded length.
        len: usize,
    },
    /// A secretbox key that is not 32 bytes.
    #[error("expected key size 32 for secretbox provider, got {len}")]
    SecretboxKeySize {
        /// Decoded length.
        len: usize,
    },
    /// A KMS v1 provider while the `KMSv1` feature gate is off (the default since 1.29).
    #[error(
        "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature."
    )]
    KmsV1Disabled {
        /// KMS provider name.
        name: String,
    },
    /// A KMS `apiVersion` other than v1/v2.
    #[error("could not configure KMS plugin {name:?}, unsupported KMS API version {api_version:?}")]
    KmsApiVersion {
        /// KMS provider name.
        name: String,
        /// The version written.
        api_version: String,
    },
    /// No plugin registered in [`crate::KmsPlugins`] for a KMS provider (ours: upstream dials).
    #[error("no KMS {api_version} plugin registered for provider {name:?}")]
    MissingKmsPlugin {
        /// KMS provider name.
        name: String,
        /// `v1` or `v2`.
        api_version: String,
    },
}
