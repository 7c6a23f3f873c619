//! What a raw etcd value says about itself: provider, key name, plaintext or not, and whether a
//! given configuration decrypts it.

use atrest_config::load::{self, LoadOptions};
use atrest_config::resolve::{GroupResource, ResourcePlan};
use atrest_inspect::ObjectState;
use std::sync::Arc;

use atrest_transformers::{Envelope, KmsPlugins, KmsV2Plugin, ResourceTransformers};

/// The framing of one stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`, `unknown`.
    pub provider: String,
    /// Key name (or KMS provider name).
    pub key: Option<String>,
    /// A KMS v2 value's key ID, when its `EncryptedObject` decodes.
    pub kms_key_id: Option<String>,
}

impl StoredValue {
    /// Reads the framing of `value`.
    pub fn of(value: &[u8]) -> StoredValue {
        let env = Envelope::parse(value);
        let kms_key_id = match &env {
            Envelope::KmsV2 { object: Ok(header), .. } => Some(header.key_id.clone()),
            _ => None,
        };
        StoredValue {
            provider: env.provider().to_owned(),
            key: env.key_name().map(str::to_owned),
            kms_key_id,
        }
    }

    /// Whether anyone with etcd access reads it without a key.
    pub fn is_plaintext(&self) -> bool {
        self.provider == "identity"
    }

    /// `aescbc/key1`, `identity`.
    pub fn describe(&self) -> String {
        match &self.key {
            Some(k) => format!("{}/{k}", self.provider),
            None => self.provider.clone(),
        }
    }
}

/// Transformers built from a configuration text, to classify values as an apiserver with that
/// configuration would: the same classification `atrest inspect` reports.
#[derive(Debug)]
pub struct Decrypter {
    transformers: ResourceTransformers,
    plan: ResourcePlan,
}

impl Decrypter {
    /// Loads `text` (named `name` in errors) as kube-apiserver would. A KMS v2 provider reads
    /// through the plugin of `kms` whose endpoint it names (endpoint, plugin); without one its
    /// values do not decrypt.
    pub fn new(
        name: &str,
        text: &str,
        kms: &[(String, Arc<dyn KmsV2Plugin>)],
    ) -> Result<Decrypter, String> {
        let loaded = load::load(name, Ok(text.as_bytes().to_vec()), &LoadOptions::default())
            .map_err(|e| e.to_string())?;
        let mut plugins = KmsPlugins::new();
        for provider in loaded.config.resources.iter().flat_map(|r| &r.providers) {
            if let Some(k) = provider.kms.as_ref().filter(|k| k.api_version == "v2")
                && let Some((_, plugin)) = kms.iter().find(|(endpoint, _)| *endpoint == k.endpoint)
            {
                plugins = plugins.with_v2(k.name.clone(), plugin.clone());
            }
        }
        let transformers =
            ResourceTransformers::new(&loaded.plan, &plugins).map_err(|e| e.to_string())?;
        Ok(Decrypter { transformers, plan: loaded.plan })
    }

    /// An inspector under this configuration (`preflight` steps), resolving keys against
    /// `etcd_prefix`.
    pub fn inspector(&self, etcd_prefix: &str) -> atrest_inspect::Inspector {
        atrest_inspect::Inspector::new(&self.plan, self.transformers.clone(), etcd_prefix)
    }

    /// What `value` stored at `key` for `resource` is under this configuration
    /// ([`atrest_inspect::classify`]).
    pub fn classify(&self, resource: &str, key: &str, value: &[u8]) -> ObjectState {
        atrest_inspect::classify(
            &self.transformers,
            &self.plan,
            &GroupResource::parse(resource),
            key.as_bytes(),
            value,
        )
    }
}
