//! One stored value under a configuration.

use std::fmt;

use atrest_config::ProviderConfiguration;
use atrest_config::resolve::{GroupResource, Lookup, ResourcePlan};
use atrest_transformers::{ENCRYPTED_PREFIX, ResourceTransformers, TransformError};

/// What a stored value is to an apiserver running the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectState {
    /// Readable with the provider and key the configuration writes with.
    Current,
    /// Readable, but not with the write provider/key: upstream's `stale` flag
    /// (pkg/storage/value/transformer.go), so the next update of the object rewrites it.
    Stale,
    /// Stored unencrypted (identity) and readable.
    Plaintext {
        /// Whether the resource's configuration writes new values encrypted (so this one is
        /// left over from before encryption was turned on).
        config_writes_encrypted: bool,
    },
    /// The apiserver cannot read it: a GET answers `500 ... data from the storage is not
    /// transformable`.
    Undecryptable {
        /// Upstream's error; its `Display` is the apiserver's text.
        error: TransformError,
    },
}

impl ObjectState {
    /// `current`, `stale`, `plaintext` or `undecryptable`.
    pub fn name(&self) -> &'static str {
        match self {
            ObjectState::Current => "current",
            ObjectState::Stale => "stale",
            ObjectState::Plaintext { .. } => "plaintext",
            ObjectState::Undecryptable { .. } => "undecryptable",
        }
    }

    /// Whether the apiserver can read the value.
    pub fn is_readable(&self) -> bool {
        !matches!(self, ObjectState::Undecryptable { .. })
    }
}

impl fmt::Display for ObjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Classifies the value stored at `key` for `resource`, reading it exactly as the apiserver
/// would (`key` is the authenticated data). The decrypted bytes are dropped at once.
///
/// `plan` must be the plan `transformers` was built from; it says whether the resource's
/// configuration writes encrypted values.
pub fn classify(
    transformers: &ResourceTransformers,
    plan: &ResourcePlan,
    resource: &GroupResource,
    key: &[u8],
    value: &[u8],
) -> ObjectState {
    match transformers.for_resource(resource).from_storage(value, key) {
        Err(error) => ObjectState::Undecryptable { error },
        // Only the identity transformer (empty prefix) reads a value without `k8s:enc:`.
        Ok(_) if !value.starts_with(ENCRYPTED_PREFIX) => ObjectState::Plaintext {
            config_writes_encrypted: write_target(plan, resource).encrypts(),
        },
        Ok((_, true)) => ObjectState::Stale,
        Ok((_, false)) => ObjectState::Current,
    }
}

/// What the configuration writes a resource with: the first provider's first key
/// (pkg/storage/value/transformer.go `prefixTransformers.TransformToStorage`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteTarget {
    /// `identity`, `aescbc`, `aesgcm`, `secretbox` or `kms`.
    pub provider: &'static str,
    /// The key name (aescbc, aesgcm, secretbox) or KMS provider name.
    pub key: Option<String>,
    /// The configuration rule that applies (`secrets`, `*.apps`, `*.*`); `None` when no rule
    /// matches and the apiserver uses the bare identity transformer.
    pub rule: Option<String>,
}

impl WriteTarget {
    /// Whether new values are written encrypted.
    pub fn encrypts(&self) -> bool {
        self.provider != "identity"
    }
}

impl fmt::Display for WriteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.provider)?;
        if let Some(key) = &self.key {
            write!(f, "/{key}")?;
        }
        if self.rule.is_none() {
            f.write_str(" (not in config)")?;
        }
        Ok(())
    }
}

/// The provider and key `plan` writes `resource` with.
pub fn write_target(plan: &ResourcePlan, resource: &GroupResource) -> WriteTarget {
    let rule = plan.matched_rule(resource).map(GroupResource::yaml_string);
    let first = match plan.lookup(resource) {
        Lookup::Providers(providers) => providers.first().copied(),
        Lookup::BareIdentity => None,
    };
    match first {
        Some(p) => {
            let (provider, key) = provider_and_first_key(p);
            WriteTarget { provider, key, rule }
        }
        None => WriteTarget { provider: "identity", key: None, rule },
    }
}

/// A provider's kind (in upstream's build order) and its first key name or KMS name.
pub(crate) fn provider_and_first_key(p: &ProviderConfiguration) -> (&'static str, Option<String>) {
    if let Some(c) = &p.aesgcm {
        ("aesgcm", c.keys.first().map(|k| k.name.clone()))
    } else if let Some(c) = &p.aescbc {
        ("aescbc", c.keys.first().map(|k| k.name.clone()))
    } else if let Some(c) = &p.secretbox {
        ("secretbox", c.keys.first().map(|k| k.name.clone()))
    } else if let Some(c) = &p.kms {
        ("kms", Some(c.name.clone()))
    } else {
        ("identity", None)
    }
}
