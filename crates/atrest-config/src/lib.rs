//! The `EncryptionConfiguration` model: what kube-apiserver reads from
//! `--encryption-provider-config`.
//!
//! Main types: [`EncryptionConfiguration`] (the object model).
//!
//! This crate does no I/O beyond the bytes its caller hands in, no cryptography and no async:
//! it is the half of the model that cannot flake.

mod types;

pub use types::*;
