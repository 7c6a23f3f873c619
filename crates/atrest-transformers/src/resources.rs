//! Per-resource transformers from a resolved configuration plan.
//!
//! Mirrors k8s.io/apiserver pkg/server/options/encryptionconfig/config.go
//! (`getTransformerOverridesAndKMSPluginProbes`, `transformerFromOverrides`).

use std::collections::HashMap;
use std::sync::Arc;

use atrest_config::ProviderConfiguration;
use atrest_config::resolve::{GroupResource, Lookup, ResourcePlan};

use crate::chain::{KmsPlugins, ProviderChain, ProviderList};
use crate::random::{OsRandom, RandomSource};
use crate::{BuildError, Identity, Transformer};

/// The transformer of every configured rule, plus the bare identity for resources the
/// configuration does not mention. Providers are built once per configuration entry and
/// shared (through `Arc`) by all rules of that entry.
#[derive(Debug, Clone)]
pub struct ResourceTransformers {
    plan: ResourcePlan,
    chains: HashMap<GroupResource, Arc<ProviderChain>>,
}

impl ResourceTransformers {
    /// Builds each entry's providers once and a chain per rule of `plan`, with OS randomness.
    pub fn new(plan: &ResourcePlan, kms: &KmsPlugins) -> Result<Self, BuildError> {
        Self::with_random(plan, kms, Arc::new(OsRandom::new()))
    }

    /// [`ResourceTransformers::new`] with an injected random source.
    ///
    /// As upstream, the providers of each `resources[i]` entry are built once, in entry order,
    /// and shared by every resource of that entry; a rule named in several entries reads
    /// through all of their lists, concatenated in entry order.
    pub fn with_random(
        plan: &ResourcePlan,
        kms: &KmsPlugins,
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, BuildError> {
        let mut lists = Vec::with_capacity(plan.config().resources.len());
        for entry in &plan.config().resources {
            let providers: Vec<&ProviderConfiguration> = entry.providers.iter().collect();
            lists.push(ProviderList::build(&providers, kms, &random)?);
        }
        let mut chains = HashMap::new();
        for (rule, _) in plan.entries() {
            // The plan appends an entry's whole provider list each time the entry names the
            // rule, so every run of refs starts at provider 0.
            let runs: Vec<&ProviderList> = plan
                .provider_refs(rule)
                .iter()
                .filter(|r| r.provider == 0)
                .filter_map(|r| lists.get(r.entry))
                .collect();
            if runs.is_empty() {
                return Err(BuildError::NoProviders);
            }
            chains.insert(rule.clone(), Arc::new(ProviderChain::concat(runs)));
        }
        Ok(ResourceTransformers { plan: plan.clone(), chains })
    }

    /// The transformer for `gr`: exact rule, then `<group>.*`, then `*.*`, else the bare
    /// identity (plaintext writes, `identity transformer tried to read encrypted data`).
    pub fn for_resource(&self, gr: &GroupResource) -> &dyn Transformer {
        static BARE_IDENTITY: Identity = Identity;
        match self.plan.lookup(gr) {
            Lookup::BareIdentity => &BARE_IDENTITY,
            Lookup::Providers(_) => self
                .plan
                .matched_rule(gr)
                .and_then(|rule| self.chains.get(rule))
                .map_or(&BARE_IDENTITY as &dyn Transformer, |c| c.as_ref() as &dyn Transformer),
        }
    }

    /// The chain built for `gr`'s rule (`None` when it falls back to the bare identity).
    pub fn chain_for(&self, gr: &GroupResource) -> Option<&Arc<ProviderChain>> {
        match self.plan.lookup(gr) {
            Lookup::BareIdentity => None,
            Lookup::Providers(_) => {
                self.plan.matched_rule(gr).and_then(|rule| self.chains.get(rule))
            }
        }
    }

    /// Whether `gr` falls back to the bare identity (no rule matches).
    pub fn is_bare_identity(&self, gr: &GroupResource) -> bool {
        matches!(self.plan.lookup(gr), Lookup::BareIdentity)
    }

    /// Every built chain by rule.
    pub fn chains(&self) -> impl Iterator<Item = (&GroupResource, &Arc<ProviderChain>)> {
        self.chains.iter()
    }
}
