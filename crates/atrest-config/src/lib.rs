//! The `EncryptionConfiguration` model: what kube-apiserver reads from
//! `--encryption-provider-config`, reproduced message for message (k8s.io/apiserver v0.37).
//!
//! Main types and entry points:
//!
//! - [`EncryptionConfiguration`]: the object model (`types.rs`, shared with atrest-transformers).
//! - [`load::load`]: the whole pipeline (read result → empty check → decode → defaults →
//!   validation → transformer plan); [`load::LoadError`]'s `Display` is exactly the `err`
//!   kube-apiserver exits with.
//! - [`decode::decode`]: strict YAML/JSON decoding with upstream's texts, a [`decode::SpanMap`]
//!   from field paths to `line:column`, and a [`decode::Budget`] against hostile input.
//! - [`defaults::apply`], [`validate::validate`]: upstream's defaulting and every validation rule.
//! - [`resolve::ResourcePlan`]: which providers govern which resource, and
//!   [`resolve::group_resource_for_etcd_key`].
//! - [`lint::lint`]: advice beyond upstream, with stable codes `AT001`… (table in [`lint`]).
//! - [`diagnostics`]: `file:line:col` rendering of load errors and lints.
//! - [`keygen::generate`]: fresh keys from the OS CSPRNG.
//! - [`goquote`], [`gourl`], [`GoDuration`], [`decode_std_base64`]: the Go standard-library
//!   behaviour the texts depend on (`%q`, JSON strings, `url.Parse`, `time.ParseDuration`,
//!   `base64.StdEncoding`).
//!
//! This crate does no I/O beyond the bytes its caller hands in, no cryptography except SHA-256
//! hashing and key generation, and no async: it is the half of the model that cannot flake.
//! Key material never appears in `Debug` or in error texts: where upstream prints it, ours say
//! `REDACTED` and the error's `upstream_prints_key_material()` is true.

pub mod decode;
pub mod defaults;
pub mod diagnostics;
pub use atrest_gostd::quote as goquote;
pub use atrest_gostd::url as gourl;
pub mod keygen;
pub mod lint;
pub mod load;
pub mod resolve;
mod types;
pub mod validate;

pub use atrest_gostd::duration::DurationError;
pub use types::*;
