//! kube-apiserver storage transformers, byte for byte and message for message
//! (k8s.io/apiserver v0.37).
//!
//! Main types:
//! - [`Transformer`]: `to_storage(plaintext, ctx)` / `from_storage(stored, ctx)` with `ctx`
//!   the authenticated data (the full etcd key).
//! - Providers: [`Identity`], [`AesCbc`], [`AesGcmTransformer`], [`Secretbox`],
//!   [`KmsV1Envelope`], [`KmsV2Envelope`] (with [`EncryptedObject`]).
//! - [`PrefixTransformers`] and [`ProviderChain`]: the `k8s:enc:<provider>:v<n>:<key>:`
//!   framing, written with the first provider's first key and read by every matching one.
//!   [`ProviderChain::build`] turns configuration into ciphers once;
//!   [`ResourceTransformers`] does it once per configuration entry of an
//!   `atrest_config::resolve::ResourcePlan` and shares the result among the entry's rules.
//! - [`TransformError`]: `Display` is upstream's text; [`TransformError::Failed`] keeps which
//!   transformer produced which error.
//! - KMS plugin traits [`KmsV1Plugin`] / [`KmsV2Plugin`] and upstream's [`Base64Plugin`] mock.
//! - [`RandomSource`]: every IV, nonce, DEK and seed is drawn from an injected source.
//! - [`Envelope::parse`]: what a stored value says about its writer, without decrypting.
//!
//! The crate is sync and does no I/O: no files, no network, no clock. KMS plugins are traits;
//! the gRPC client, polling schedules, KMS v2 write expiry, DEK cache TTLs and metrics live
//! elsewhere. Deliberate deviation: an aescbc value that is exactly one IV returns
//! [`TransformError::EmptyCbcCiphertext`] where upstream panics.
//!
//! Ciphers: RustCrypto (aes, cbc, aes-gcm for AES-192, hkdf), ring for AES-128/256-GCM, whose
//! stitched assembly is about twice as fast here
//! (`cargo run --release -p atrest-transformers --example speed`), and our own XSalsa20 (AVX2,
//! eight blocks at a time) and Poly1305 for secretbox, faster than upstream's assembly where
//! the one-block-at-a-time `crypto_secretbox` was slower, and VAES CBC decryption where the CPU
//! has it (`cargo xtask bench transformers`).

mod aes;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod cbc_vaes;
mod chain;
mod envelope;
mod error;
mod kms;
mod kms_v1;
mod kms_v2;
mod prefix;
mod random;
mod resources;

mod poly1305;
mod secretbox;
mod transformer;
mod xsalsa20;

pub use crate::aes::{
    AesCbc, AesGcmTransformer, BLOCK_SIZE, COUNTER_NONCE_ZERO, GCM_NONCE_SIZE, GCM_TAG_SIZE,
    HkdfGcmTransformer, KDF_INFO_SIZE,
};
pub use crate::chain::{
    AESCBC_PREFIX, AESGCM_PREFIX, KMS_V1_PREFIX, KMS_V2_PREFIX, KmsPlugins, ProviderChain,
    SECRETBOX_PREFIX,
};
pub use crate::envelope::{Envelope, KmsV2Header};
pub use crate::error::{Attempt, BuildError, CipherKind, ProtoError, TransformError};
pub use crate::kms::{
    Base64Plugin, DecryptRequest, EncryptResponse, GrpcCode, KmsV1Plugin, KmsV2Plugin,
    MOCK_ANNOTATION_KEY, MOCK_ANNOTATION_VALUE, PluginError, StatusResponse,
};
pub use crate::kms_v1::{KMS_V1_DEFAULT_CACHE_SIZE, KMS_V1_DEK_SIZE, KmsV1Envelope};
pub use crate::kms_v2::{
    ANNOTATIONS_MAX_SIZE, AnnotationProblem, DekSourceType, ENCRYPTED_DEK_SOURCE_MAX_SIZE,
    EncryptedObject, EncryptedObjectError, KEY_ID_MAX_SIZE, KmsV2Envelope, KmsV2ProbeError,
    key_id_hash, validate_encrypted_object,
};
pub use crate::prefix::{PrefixEntry, PrefixTransformers};
pub use crate::random::{OsRandom, RandomError, RandomSource, ScriptedRandom, SeededRandom};
pub use crate::resources::ResourceTransformers;

pub use crate::secretbox::{SECRETBOX_NONCE_SIZE, SECRETBOX_OVERHEAD, Secretbox};
pub use crate::transformer::{ENCRYPTED_PREFIX, Identity, Transformer};
