//! A read-only audit of stored values under an EncryptionConfiguration: what `atrest inspect`
//! reports for every object of an etcd.
//!
//! Main types and entry points:
//!
//! - [`classify`]: one `(etcd key, value)` of a resource under a loaded configuration →
//!   [`ObjectState`]: `current` (read with the provider and key the configuration writes
//!   with), `stale` (readable, but upstream's stale flag is set: not the write provider/key),
//!   `plaintext` (identity-stored and readable) or `undecryptable` (with upstream's
//!   [`atrest_transformers::TransformError`]). The scenario engine's "every object on key X"
//!   checks use the same function.
//! - [`Inspector`]: feed entries one by one ([`Inspector::add`], so a caller can page through
//!   etcd in constant memory), each answered with an [`ObjectReport`] (provider, key name, size,
//!   state, which configured key reads it); [`Inspector::finish`] gives the [`InspectReport`]:
//!   counts per resource and per stored provider/key, a [`Verdict`] per configured key
//!   ("still needed by N objects" or "safe to remove"), and per KMS v2 plugin key ID
//!   ([`KmsKeyIdSummary`]: which key versions the plugin must keep, which it may retire).
//! - [`render`]: the text table and the JSON document (serde).
//!
//! How a value is read mirrors kube-apiserver's storage path: the resource comes from the etcd
//! key (`atrest_config::resolve::group_resource_for_etcd_key`), its transformer from
//! `atrest_transformers::ResourceTransformers` (k8s.io/apiserver
//! pkg/server/options/encryptionconfig/config.go), the stale flag from the prefix list
//! (pkg/storage/value/transformer.go), and the stored provider/key names from
//! `atrest_transformers::Envelope::parse`.
//!
//! This crate does no I/O and no async: it never talks to etcd (the CLI pages and feeds it), and
//! it never keeps or prints decrypted bytes, key material or values: reports carry etcd keys,
//! key names and sizes only.

mod classify;
mod inspector;
pub mod render;

pub use crate::classify::{ObjectState, WriteTarget, classify, write_target};
pub use crate::inspector::{
    ConfigKeyReport, InspectReport, Inspector, KmsKeyIdSummary, ObjectReport, ResourceSummary,
    StateCounts, StoredKeySummary, Verdict,
};

#[cfg(test)]
mod tests;
