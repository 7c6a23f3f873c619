//! The `EncryptionConfiguration` model: what kube-apiserver reads from
//! `--encryption-provider-config`.
//!
//! Main types: [`EncryptionConfiguration`] (the object model) and
//! [`resolve::ResourcePlan`] (which providers govern which resource).
//!
//! This crate does no I/O beyond the bytes its caller hands in, no cryptography and no async:
//! it is the half of the model that cannot flake.

mod go_tables_mod {
    #![cfg_attr(rustfmt, rustfmt_skip)]
    include!("go_tables.rs");
}
use go_tables_mod as go_tables;

pub mod goquote;
pub mod resolve;
mod types;

pub use types::*;
