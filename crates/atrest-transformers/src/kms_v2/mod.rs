//! KMS v2 envelope encryption: the `EncryptedObject` message, its validation, the envelope
//! transformer and its write state.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/kmsv2/envelope.go,
//! kmsv2/v2/api.proto, and the probe/rotation logic of
//! pkg/server/options/encryptionconfig/config.go (`kmsv2PluginProbe`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use crate::aes::{
    AesGcmTransformer, GCM_NONCE_SIZE, GCM_TAG_SIZE, HkdfGcmTransformer, KDF_INFO_SIZE,
};
use crate::error::ProtoError;
use crate::kms::{DecryptRequest, KmsV2Plugin, PluginError};
use crate::random::{RandomSource, lock};
use crate::{TransformError, Transformer};
use atrest_config::goquote::go_quote;

/// `KeyIDMaxSize`.
pub const KEY_ID_MAX_SIZE: usize = 1024;
/// `encryptedDEKSourceMaxSize`.
pub const ENCRYPTED_DEK_SOURCE_MAX_SIZE: usize = 1024;
/// `annotationsMaxSize`.
pub const ANNOTATIONS_MAX_SIZE: u64 = 32 * 1024;

mod envelope;
mod validate;
mod wire;

pub use envelope::*;
pub use validate::*;
pub use wire::*;
