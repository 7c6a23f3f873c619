//! KMS plugin contracts (so a gRPC client can plug in later) and upstream's Base64 mock.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/envelope.go (`Service`, v1),
//! k8s.io/kms pkg/service/interface.go (`Service`, v2) and
//! pkg/storage/value/encrypt/envelope/testing/{v1beta1,v2}/kms_plugin_mock.go (`Base64Plugin`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;

use crate::kms_v2::{ByteCount, key_id_hash};
use crate::random::lock;

/// A gRPC status code, named as grpc-go prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[expect(missing_docs, reason = "the standard gRPC code names")]
pub enum GrpcCode {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl GrpcCode {
    /// Every code, in grpc-go's numeric order.
    pub const ALL: [GrpcCode; 16] = {
        use GrpcCode::*;
        [
            Canceled,
            Unknown,
            InvalidArgument,
            DeadlineExceeded,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
            Unauthenticated,
        ]
    };
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An error from a KMS plugin. With a code it prints as grpc-go's status error
/// `rpc error: code = <Code> desc = <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The gRPC status code, when the failure came over gRPC.
    pub code: Option<GrpcCode>,
    /// The message (a gRPC status `desc`, or the whole text otherwise).
    pub message: String,
}

impl PluginError {
    /// A gRPC status error.
    pub fn status(code: GrpcCode, message: impl Into<String>) -> Self {
        PluginError { code: Some(code), message: message.into() }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "rpc error: code = {code} desc = {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PluginError {}

/// A KMS v1 (`v1beta1`) plugin: wraps and unwraps DEKs.
pub trait KmsV1Plugin: Send + Sync + fmt::Debug {
    /// Encrypts a DEK.
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PluginError>;
    /// Decrypts a DEK.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, PluginError>;
}

/// KMS v2 `Status` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// API version (`v2` or `v2beta1`).
    pub version: String,
    /// `ok` when healthy.
    pub healthz: String,
    /// The current key ID.
    pub key_id: String,
}

/// KMS v2 `Encrypt` response. `Debug` shows sizes only (a mock's ciphertext is the DEK).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptResponse {
    /// The wrapped DEK or seed.
    pub ciphertext: Vec<u8>,
    /// Key ID used.
    pub key_id: String,
    /// Opaque annotations stored with the object.
    pub annotations: BTreeMap<String, Vec<u8>>,
}

/// KMS v2 `Decrypt` request. `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptRequest<'a> {
    /// The wrapped DEK or seed.
    pub ciphertext: &'a [u8],
    /// Key ID stored with the object.
    pub key_id: &'a str,
    /// Annotations stored with the object.
    pub annotations: &'a BTreeMap<String, Vec<u8>>,
}

fn redacted_kms_fields(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    ciphertext: &[u8],
    key_id: &str,
    annotations: &BTreeMap<String, Vec<u8>>,
) -> fmt::Result {
    let annotations: BTreeMap<&str, ByteCount> =
        annotations.iter().map(|(k, v)| (k.as_str(), ByteCount(v.len()))).collect();
    f.debug_struct(name)
        .field("ciphertext", &ByteCount(ciphertext.len()))
        .field("key_id_hash", &key_id_hash(key_id))
        .field("annotations", &annotations)
        .finish()
}

impl fmt::Debug for EncryptResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_kms_fields(f, "EncryptResponse", &self.ciphertext, &self.key_id, &self.annotations)
    }
}

impl fmt::Debug for DecryptRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted_kms_fields(f, "DecryptRequest", self.ciphertext, self.key_id, self.annotations)
    }
}

/// A KMS v2 plugin.
pub trait KmsV2Plugin: Send + Sync + fmt::Debug {
    /// `Status`.
    fn status(&self) -> Result<StatusResponse, PluginError>;
    /// `Encrypt` of a DEK or seed.
    fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptResponse, PluginError>;
    /// `Decrypt` of a DEK or seed.
    fn decrypt(&self, request: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError>;
}

/// The annotation key upstream's mock returns.
pub const MOCK_ANNOTATION_KEY: &str = "local-kek.kms.kubernetes.io";
/// The annotation value upstream's mock returns.
pub const MOCK_ANNOTATION_VALUE: &[u8] = b"encrypted-local-kek";

#[derive(Debug)]
struct MockState {
    key_id: String,
    failed: bool,
    version: String,
}

/// Upstream's test KMS: ciphertext = base64(plaintext), key ID `1` (switchable to `2`), one
/// annotation, and a failure mode answering `FailedPrecondition`.
///
/// Implements both [`KmsV1Plugin`] and [`KmsV2Plugin`]. Plain (non-status) errors become code
/// `Unknown`, as the gRPC server does.
#[derive(Debug)]
pub struct Base64Plugin {
    state: Mutex<MockState>,
}

impl Default for Base64Plugin {
    fn default() -> Self {
        Base64Plugin {
            state: Mutex::new(MockState {
                key_id: "1".into(),
                failed: false,
                version: "v2beta1".into(),
            }),
        }
    }
}

impl Base64Plugin {
    /// A healthy mock with key ID `1`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `UpdateKeyID`: switches the key ID to `2`.
    pub fn update_key_id(&self) {
        self.set_key_id("2");
    }

    /// Sets any key ID.
    pub fn set_key_id(&self, key_id: impl Into<String>) {
        lock(&self.state).key_id = key_id.into();
    }

    /// `EnterFailedState`.
    pub fn enter_failed_state(&self) {
        lock(&self.state).failed = true;
    }

    fn check(&self) -> Result<(), PluginError> {
        if lock(&self.state).failed {
            return Err(PluginError::status(
                GrpcCode::FailedPrecondition,
                "failed precondition - key disabled",
            ));
        }
        Ok(())
    }

    fn decode(ciphertext: &[u8]) -> Result<Vec<u8>, PluginError> {
        // The mock's ciphertext is base64 of the plaintext, decoded with Go's exact rules and
        // error offsets.
        atrest_config::decode_std_base64_bytes(ciphertext)
            .map_err(|err| PluginError::status(GrpcCode::Unknown, err.to_string()))
    }
}

impl KmsV1Plugin for Base64Plugin {
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.check()?;
        Ok(base64::engine::general_purpose::STANDARD.encode(plaintext).into_bytes())
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.check()?;
        Self::decode(ciphertext)
    }
}

impl KmsV2Plugin for Base64Plugin {
    fn status(&self) -> Result<StatusResponse, PluginError> {
        self.check()?;
        let state = lock(&self.state);
        Ok(StatusResponse {
            version: state.version.clone(),
            healthz: "ok".into(),
            key_id: state.key_id.clone(),
        })
    }

    fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptResponse, PluginError> {
        self.check()?;
        Ok(EncryptResponse {
            ciphertext: base64::engine::general_purpose::STANDARD.encode(plaintext).into_bytes(),
            key_id: lock(&self.state).key_id.clone(),
            annotations: BTreeMap::from([(
                MOCK_ANNOTATION_KEY.to_string(),
                MOCK_ANNOTATION_VALUE.to_vec(),
            )]),
        })
    }

    fn decrypt(&self, request: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError> {
        self.check()?;
        Self::decode(request.ciphertext)
    }
}
