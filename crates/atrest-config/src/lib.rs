//! The `EncryptionConfiguration` model: what kube-apiserver reads from
//! `--encryption-provider-config`.
//!
//! Main types: [`EncryptionConfiguration`] (the object model), [`load::load`] (the whole loading
//! pipeline, with kube-apiserver's exact error texts), [`decode::decode`] (strict YAML/JSON
//! decoding with a span map), [`validate::validate`] (every upstream rule),
//! [`resolve::ResourcePlan`] (which providers govern which resource), [`lint::lint`] (advice
//! beyond upstream) and [`keygen::generate`] (fresh keys).
//!
//! This crate does no I/O beyond the bytes its caller hands in, no cryptography except SHA-256
//! hashing and key generation, and no async: it is the half of the model that cannot flake.

mod go_tables_mod {
    #![cfg_attr(rustfmt, rustfmt_skip)]
    include!("go_tables.rs");
}
use go_tables_mod as go_tables;

pub mod decode;
pub mod defaults;
pub mod diagnostics;
mod duration;
pub mod goquote;
pub mod gourl;
pub mod keygen;
pub mod lint;
pub mod load;
pub mod resolve;
mod types;
pub mod validate;

pub use duration::DurationError;
pub use types::*;
