//! Rehearse a change of `EncryptionConfiguration`: from the configuration a cluster runs
//! (CURRENT) to the one wanted (TARGET), derive the safe sequence of intermediate
//! configurations, and render it as a scenario that proves it on any backend, a scenario that
//! shows what the naive direct switch does, and a runbook.
//!
//! The procedures are upstream's (kubernetes.io/docs/tasks/administer-cluster/encrypt-data/,
//! "Rotate a decryption key", "Decrypt all data", "Ensure all secrets are encrypted"), applied
//! per resource rule:
//!
//! - **one apiserver**: the new write provider first with every old reader kept after it,
//!   restart, rewrite, then TARGET;
//! - **N apiservers**: first the new write provider *second* on every server and restart all
//!   (every server can read what any other will write), then promote it to first, restart all,
//!   rewrite, then TARGET and restart all;
//! - turning encryption on keeps `identity` as the read fallback until the rewrite; turning it
//!   off puts `identity` first and keeps the old provider until the rewrite.
//!
//! The planner is a pure function of the two decoded configurations. Key material stays in
//! [`Keys`]: the rendered texts carry `${key:ALIAS:BYTES}` placeholders, never a key.

mod plan;
mod predict;
mod render;

pub use plan::{
    Concrete, NamedConfig, Plan, PlanError, PlanOptions, PlanStep, ResourceChange, Seed, StepKind,
    chain_for, describe_changes, plan,
};
pub use predict::{NaiveOutcome, Prediction, predict};
pub use render::Runbook;

use std::collections::BTreeMap;
use std::fmt;

use atrest_config::{KeySecret, KmsConfiguration, ProviderKind};

/// One way a stored value can be read: a single key of a keyed provider, `identity`, or a KMS
/// provider. A provider item with several keys is several readers, in order.
#[derive(Clone, PartialEq, Eq)]
pub enum Reader {
    /// `identity: {}`: writes plaintext, reads anything that is not `k8s:enc:`-prefixed.
    Identity,
    /// One key of `aescbc`, `aesgcm` or `secretbox`.
    Key {
        /// The provider.
        kind: ProviderKind,
        /// The key's `name` (the storage prefix segment).
        name: String,
        /// The placeholder alias of this exact key (kind, name and secret): see [`Keys`].
        alias: String,
    },
    /// A `kms` provider (compared by its whole configuration).
    Kms(KmsConfiguration),
}

impl Reader {
    /// `provider` as `expectStored` and `atrest inspect` name it.
    pub fn provider(&self) -> &'static str {
        match self {
            Reader::Identity => "identity",
            Reader::Key { kind, .. } => kind.as_str(),
            Reader::Kms(_) => "kms",
        }
    }

    /// The storage prefix a value written by this reader starts with.
    pub fn prefix(&self) -> String {
        match self {
            Reader::Identity => String::new(),
            Reader::Key { kind, name, .. } => format!("k8s:enc:{kind}:v1:{name}:"),
            Reader::Kms(k) => format!("k8s:enc:kms:{}:{}:", k.api_version, k.name),
        }
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reader::Identity => f.write_str("identity"),
            Reader::Key { kind, name, .. } => write!(f, "{kind} {name}"),
            Reader::Kms(k) => write!(f, "kms {} {}", k.api_version, k.name),
        }
    }
}

/// The ordered readers of one resource rule: write with the first, read with all.
pub type Chain = Vec<Reader>;

/// Describes a chain in one line (`aescbc key2, aescbc key1, identity`).
pub fn describe_chain(chain: &[Reader]) -> String {
    chain.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// One key of the user's files, under its placeholder alias.
#[derive(Clone)]
pub struct KeyEntry {
    /// The placeholder name: `${key:ALIAS:BYTES}`.
    pub alias: String,
    /// The provider.
    pub kind: ProviderKind,
    /// The key's `name`.
    pub name: String,
    /// Decoded length in bytes.
    pub bytes: usize,
    /// The base64 text as written in the user's file.
    pub secret: KeySecret,
    decoded: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("alias", &self.alias)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// Every key of CURRENT and TARGET, each under an alias derived from its provider and name
/// (`aescbc-key1`; `aescbc-key1-2` when the same name holds another secret). `Debug` never
/// shows a secret.
#[derive(Clone, Default, Debug)]
pub struct Keys {
    entries: Vec<KeyEntry>,
}

impl Keys {
    /// The alias of a key, adding it on first sight.
    fn alias_for(&mut self, kind: ProviderKind, name: &str, secret: &KeySecret) -> String {
        let decoded = atrest_config::decode_std_base64(secret.expose()).unwrap_or_default();
        if let Some(e) =
            self.entries.iter().find(|e| e.kind == kind && e.name == name && *e.decoded == decoded)
        {
            return e.alias.clone();
        }
        let base = format!("{kind}-{}", sanitize(name));
        let mut alias = base.clone();
        let mut n = 2;
        while self.entries.iter().any(|e| e.alias == alias) {
            alias = format!("{base}-{n}");
            n += 1;
        }
        self.entries.push(KeyEntry {
            alias: alias.clone(),
            kind,
            name: name.to_owned(),
            bytes: decoded.len(),
            secret: secret.clone(),
            decoded: zeroize::Zeroizing::new(decoded),
        });
        alias
    }

    /// The entry of an alias.
    pub fn get(&self, alias: &str) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.alias == alias)
    }

    /// Every key, in first-seen order (CURRENT before TARGET).
    pub fn iter(&self) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter()
    }

    /// `alias → (bytes, base64 text)`, to bind the placeholders of a rendered scenario to the
    /// user's keys (`atrest_scenario::RunOptions::bound_keys`).
    pub fn bindings(&self) -> BTreeMap<String, (usize, zeroize::Zeroizing<String>)> {
        self.entries
            .iter()
            .map(|e| {
                (e.alias.clone(), (e.bytes, zeroize::Zeroizing::new(e.secret.expose().to_owned())))
            })
            .collect()
    }
}

/// A placeholder name may not hold `:` or `}`; keep it readable and DNS-safe.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' })
        .collect();
    if s.is_empty() { "key".to_owned() } else { s }
}
