//! A KMS v2 plugin that atrest ships, and a KMS v2 client for atrest's envelope transformer.
//!
//! Main types:
//!
//! - [`KmsPlugin`]: the plugin, started from a [`PluginConfig`] (socket, key file, optional
//!   control socket). It serves `v2.KeyManagementService` (k8s.io/kms apis/v2/api.proto) with
//!   tonic on a unix socket (mode 0600; a stale socket is removed, a live one is refused).
//!   Key-encryption keys are AES-256-GCM keys from a key file ([`generate_key_file`], mode
//!   0600; a file group or others can access is refused). `Status` answers `v2`, `ok` and the
//!   current key ID; `Encrypt` wraps with the current key and returns the key ID and the
//!   annotation [`WRAP_ANNOTATION_KEY`]; `Decrypt` picks the key by the request's key ID, so
//!   data wrapped before a rotation still decrypts.
//! - Controls while it runs, from the handle ([`KmsPlugin::rotate`],
//!   [`KmsPlugin::set_fault`], [`KmsPlugin::clear_fault`], [`KmsPlugin::clear_faults`],
//!   [`KmsPlugin::status`]) or from another process through the control socket
//!   ([`send_control`], line protocol in [`ControlCommand::parse`]). Faults: [`Fault`].
//! - [`LocalKmsPlugin`]: the same keys, rotation, faults and answers without gRPC, for a
//!   caller that models transport and time itself (the simulator); latency is recorded, not
//!   waited.
//! - [`KmsV2Client`]: implements `atrest_transformers::KmsV2Plugin` over gRPC, with a deadline
//!   per call and errors as grpc-go prints them, so `KmsV2Envelope` reads and writes through
//!   any real plugin; [`parse_endpoint`] mirrors upstream's `ParseEndpoint`.
//!
//! The gRPC code (`src/generated/`) is generated from `proto/api.proto` by `cargo xtask protos`
//! and checked in, so building this crate needs no `protoc`.
//!
//! The plugin never logs key material or plaintext (only key ID hashes and sizes), and `Debug`
//! of every type holding keys prints key IDs only. It is a test plugin: keys live in a file
//! next to the data, not in a hardware or cloud KMS. It does not serve abstract sockets (the
//! client dials them) and does not implement KMS v1.

mod boundary;
mod client;
mod control;
mod faults;
mod kek;
mod local;
mod server;
mod service;

/// The code tonic-prost-build generates from `proto/` (see `xtask/protogen`). Never edited by
/// hand.
#[expect(unreachable_pub, clippy::pedantic, reason = "generated code")]
mod generated {
    pub(crate) mod v2 {
        include!("generated/v2.rs");
    }
}

pub use client::{
    ClientError, ClientOptions, DEFAULT_CALL_TIMEOUT, EndpointError, KmsV2Client, SocketAddress,
    parse_endpoint,
};
pub use control::send_control;
pub use faults::{
    CommandError, ControlCommand, Fault, FaultKind, Faults, InjectedError, USAGE, parse_code,
};
pub use kek::{
    KEK_SIZE, KEY_FILE_LIMIT, KEY_ID_PREFIX, KeyFileError, LineProblem, generate_key_file,
};
pub use local::LocalKmsPlugin;
pub use server::{
    ControlError, ControlReply, KmsPlugin, PluginConfig, PluginStatus, ServeError, StartError,
};
pub use service::{
    API_VERSION, Calls, OVERSIZED_KEY_ID_LEN, WRAP_ANNOTATION_KEY, WRAP_ANNOTATION_VALUE,
};

/// An error and its sources, `: `-separated (what `{:#}` prints with anyhow).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests;
