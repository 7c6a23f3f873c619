//! Building transformers from configuration.
//!
//! Mirrors k8s.io/apiserver pkg/server/options/encryptionconfig/config.go
//! (`prefixTransformersAndProbes`, `aesPrefixTransformer`, `secretboxPrefixTransformer`,
//! `kmsPrefixTransformer`, `envelopePrefixTransformer`).

use std::collections::BTreeMap;
use std::sync::Arc;

use atrest_config::{AesConfiguration, Key, KmsConfiguration, ProviderConfiguration};

use crate::aes::{AesCbc, AesGcmTransformer};
use crate::kms::{KmsV1Plugin, KmsV2Plugin};
use crate::kms_v1::{KMS_V1_DEFAULT_CACHE_SIZE, KmsV1Envelope};
use crate::kms_v2::KmsV2Envelope;
use crate::prefix::{PrefixEntry, PrefixTransformers};
use crate::random::{OsRandom, RandomSource};
use crate::secretbox::Secretbox;
use crate::{BuildError, Identity, TransformError, Transformer};

/// Provider prefix of aescbc.
pub const AESCBC_PREFIX: &str = "k8s:enc:aescbc:v1:";
/// Provider prefix of aesgcm.
pub const AESGCM_PREFIX: &str = "k8s:enc:aesgcm:v1:";
/// Provider prefix of secretbox.
pub const SECRETBOX_PREFIX: &str = "k8s:enc:secretbox:v1:";
/// Provider prefix of KMS v1 (the provider name and `:` follow).
pub const KMS_V1_PREFIX: &str = "k8s:enc:kms:v1:";
/// Provider prefix of KMS v2 (the provider name and `:` follow).
pub const KMS_V2_PREFIX: &str = "k8s:enc:kms:v2:";

/// The KMS plugins available to providers, by provider name, and the KMS knobs upstream
/// takes from feature gates.
#[derive(Debug, Clone, Default)]
pub struct KmsPlugins {
    v1: BTreeMap<String, Arc<dyn KmsV1Plugin>>,
    v2: BTreeMap<String, Arc<dyn KmsV2Plugin>>,
    kms_v1_enabled: bool,
    aes_gcm_key_providers: Vec<String>,
}

impl KmsPlugins {
    /// No plugins; `KMSv1` gate off (the 1.37 default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a KMS v1 plugin for provider `name`.
    pub fn with_v1(mut self, name: impl Into<String>, plugin: Arc<dyn KmsV1Plugin>) -> Self {
        self.v1.insert(name.into(), plugin);
        self
    }

    /// Registers a KMS v2 plugin for provider `name`.
    pub fn with_v2(mut self, name: impl Into<String>, plugin: Arc<dyn KmsV2Plugin>) -> Self {
        self.v2.insert(name.into(), plugin);
        self
    }

    /// Sets the `KMSv1` feature gate (off by default since 1.29).
    pub fn with_kms_v1_gate(mut self, enabled: bool) -> Self {
        self.kms_v1_enabled = enabled;
        self
    }

    /// Makes KMS v2 provider `name` write `AES_GCM_KEY` instead of the default
    /// `HKDF_SHA256_XNONCE_AES_GCM_SEED` (upstream's test-only `SetKDFForTests(name, false)`).
    pub fn without_kdf(mut self, name: impl Into<String>) -> Self {
        self.aes_gcm_key_providers.push(name.into());
        self
    }
}

/// The transformer list of one resource: the outer prefix list over providers, built once.
#[derive(Debug, Clone)]
pub struct ProviderChain {
    list: PrefixTransformers,
    kms_v2: Vec<Arc<KmsV2Envelope>>,
}

impl ProviderChain {
    /// Builds the chain with OS randomness. Key schedules are expanded here, once per key.
    /// A KMS v2 provider is probed once (its first write state), and, like upstream, a
    /// failed probe does not fail the build: the provider then answers
    /// `got unexpected nil transformer` until [`ProviderChain::probe_kms`] succeeds.
    pub fn build(
        providers: &[&ProviderConfiguration],
        kms: &KmsPlugins,
    ) -> Result<ProviderChain, BuildError> {
        Self::build_with_random(providers, kms, Arc::new(OsRandom::new()))
    }

    /// [`ProviderChain::build`] with an injected random source.
    pub fn build_with_random(
        providers: &[&ProviderConfiguration],
        kms: &KmsPlugins,
        random: Arc<dyn RandomSource>,
    ) -> Result<ProviderChain, BuildError> {
        if providers.is_empty() {
            return Err(BuildError::NoProviders);
        }
        let list = ProviderList::build(providers, kms, &random)?;
        Ok(ProviderChain::concat([&list]))
    }

    /// One prefix list over several entries' built providers, in order. The transformers
    /// (and KMS v2 write state) are shared with every other chain built from the same lists.
    pub(crate) fn concat<'a>(lists: impl IntoIterator<Item = &'a ProviderList>) -> ProviderChain {
        let (mut entries, mut kms_v2) = (Vec::new(), Vec::new());
        for list in lists {
            entries.extend(list.entries.iter().cloned());
            kms_v2.extend(list.kms_v2.iter().cloned());
        }
        ProviderChain {
            list: PrefixTransformers::new(TransformError::NoMatchingPrefix, entries),
            kms_v2,
        }
    }

    /// The KMS v2 envelopes of this chain (to probe or inspect their write state).
    pub fn kms_v2(&self) -> &[Arc<KmsV2Envelope>] {
        &self.kms_v2
    }

    /// Probes every KMS v2 provider once (Status, rotation on key-ID change); returns the
    /// failures by provider name.
    pub fn probe_kms(&self) -> Vec<(String, crate::KmsV2ProbeError)> {
        self.kms_v2
            .iter()
            .filter_map(|e| e.probe().err().map(|err| (e.name().to_string(), err)))
            .collect()
    }

    /// The provider-level prefix list.
    pub fn prefix_list(&self) -> &PrefixTransformers {
        &self.list
    }
}

impl Transformer for ProviderChain {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        self.list.append_to_storage(plaintext, ctx, out)
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        self.list.from_storage(stored, ctx)
    }
}

/// The built providers of one `resources[i]` entry (upstream's `prefixTransformersAndProbes`
/// result): every resource of the entry uses these same transformers, so a KMS v2 provider has
/// one service and one DEK/seed per entry (`TestKMSv2SingleService`).
#[derive(Debug, Clone)]
pub(crate) struct ProviderList {
    entries: Vec<PrefixEntry>,
    kms_v2: Vec<Arc<KmsV2Envelope>>,
}

impl ProviderList {
    /// Builds each provider once, in order.
    pub(crate) fn build(
        providers: &[&ProviderConfiguration],
        kms: &KmsPlugins,
        random: &Arc<dyn RandomSource>,
    ) -> Result<ProviderList, BuildError> {
        let mut entries = Vec::with_capacity(providers.len());
        let mut kms_v2 = Vec::new();
        for (index, provider) in providers.iter().enumerate() {
            entries.push(build_provider(provider, index, kms, random, &mut kms_v2)?);
        }
        Ok(ProviderList { entries, kms_v2 })
    }
}

fn build_provider(
    p: &ProviderConfiguration,
    index: usize,
    kms: &KmsPlugins,
    random: &Arc<dyn RandomSource>,
    kms_v2: &mut Vec<Arc<KmsV2Envelope>>,
) -> Result<PrefixEntry, BuildError> {
    // Upstream's switch order: AESGCM, AESCBC, Secretbox, KMS, Identity.
    if let Some(cfg) = &p.aesgcm {
        return aes_entry(cfg, AESGCM_PREFIX, |key| {
            AesGcmTransformer::new(key, random.clone()).map(|t| Arc::new(t) as Arc<dyn Transformer>)
        });
    }
    if let Some(cfg) = &p.aescbc {
        return aes_entry(cfg, AESCBC_PREFIX, |key| {
            AesCbc::new(key, random.clone()).map(|t| Arc::new(t) as Arc<dyn Transformer>)
        });
    }
    if let Some(cfg) = &p.secretbox {
        check_keys(&cfg.keys, BuildError::SecretboxNoKeys)?;
        let mut keys = Vec::with_capacity(cfg.keys.len());
        for key in &cfg.keys {
            let bytes = decode(key)?;
            let array: &[u8; 32] = bytes
                .expose()
                .try_into()
                .map_err(|_| BuildError::SecretboxKeySize { len: bytes.len() })?;
            keys.push(PrefixEntry {
                prefix: format!("{}:", key.name).into_bytes(),
                transformer: Arc::new(Secretbox::new(array, random.clone())),
            });
        }
        return Ok(PrefixEntry {
            prefix: SECRETBOX_PREFIX.as_bytes().to_vec(),
            transformer: Arc::new(PrefixTransformers::new(
                TransformError::NoMatchingSecretboxKey,
                keys,
            )),
        });
    }
    if let Some(cfg) = &p.kms {
        return kms_entry(cfg, kms, random, kms_v2);
    }
    if p.identity.is_some() {
        return Ok(PrefixEntry { prefix: Vec::new(), transformer: Arc::new(Identity) });
    }
    Err(BuildError::EmptyProvider { index })
}

fn check_keys(keys: &[Key], none: BuildError) -> Result<(), BuildError> {
    if keys.is_empty() {
        return Err(none);
    }
    for key in keys {
        if key.name.is_empty() {
            return Err(BuildError::KeyWithoutName);
        }
        if key.secret.is_empty() {
            return Err(BuildError::KeyWithoutSecret { name: key.name.clone() });
        }
    }
    Ok(())
}

fn decode(key: &Key) -> Result<atrest_config::KeyBytes, BuildError> {
    key.decode_secret().map_err(|cause| BuildError::SecretDecode { name: key.name.clone(), cause })
}

fn aes_entry(
    cfg: &AesConfiguration,
    prefix: &str,
    make: impl Fn(&[u8]) -> Result<Arc<dyn Transformer>, TransformError>,
) -> Result<PrefixEntry, BuildError> {
    check_keys(&cfg.keys, BuildError::AesNoKeys)?;
    let mut keys = Vec::with_capacity(cfg.keys.len());
    for key in &cfg.keys {
        let bytes = decode(key)?;
        let transformer = make(bytes.expose())
            .map_err(|_| BuildError::AesKeySize { name: key.name.clone(), len: bytes.len() })?;
        keys.push(PrefixEntry { prefix: format!("{}:", key.name).into_bytes(), transformer });
    }
    Ok(PrefixEntry {
        prefix: prefix.as_bytes().to_vec(),
        transformer: Arc::new(PrefixTransformers::new(TransformError::NoMatchingAesKey, keys)),
    })
}

fn kms_entry(
    cfg: &KmsConfiguration,
    kms: &KmsPlugins,
    random: &Arc<dyn RandomSource>,
    kms_v2: &mut Vec<Arc<KmsV2Envelope>>,
) -> Result<PrefixEntry, BuildError> {
    let missing = || BuildError::MissingKmsPlugin {
        name: cfg.name.clone(),
        api_version: cfg.api_version.clone(),
    };
    match cfg.api_version.as_str() {
        "v1" => {
            if !kms.kms_v1_enabled {
                return Err(BuildError::KmsV1Disabled { name: cfg.name.clone() });
            }
            let plugin = kms.v1.get(&cfg.name).ok_or_else(missing)?;
            Ok(PrefixEntry {
                prefix: format!("{KMS_V1_PREFIX}{}:", cfg.name).into_bytes(),
                transformer: Arc::new(KmsV1Envelope::with_cache_size(
                    plugin.clone(),
                    random.clone(),
                    cfg.cachesize.unwrap_or(KMS_V1_DEFAULT_CACHE_SIZE),
                )),
            })
        }
        "v2" => {
            let plugin = kms.v2.get(&cfg.name).ok_or_else(missing)?;
            let use_seed = !kms.aes_gcm_key_providers.contains(&cfg.name);
            let envelope = Arc::new(KmsV2Envelope::new(
                cfg.name.clone(),
                plugin.clone(),
                random.clone(),
                use_seed,
            ));
            // primeAndProbeKMSv2: one inline probe whose failure is not fatal.
            if envelope.probe().is_err() {
                // The envelope keeps no write state and reports that on use.
            }
            kms_v2.push(envelope.clone());
            Ok(PrefixEntry {
                prefix: format!("{KMS_V2_PREFIX}{}:", cfg.name).into_bytes(),
                transformer: envelope,
            })
        }
        other => Err(BuildError::KmsApiVersion {
            name: cfg.name.clone(),
            api_version: other.to_string(),
        }),
    }
}
