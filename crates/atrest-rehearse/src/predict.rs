//! What the naive direct switch CURRENT → TARGET does, predicted with the transformer model:
//! each seeded group is written by the reader CURRENT used and read back through TARGET's
//! chain, with the user's keys. The rehearsal then checks the prediction on the backend.

use atrest_config::{
    AesConfiguration, IdentityConfiguration, Key, KeySecret, ProviderConfiguration, ProviderKind,
    SecretboxConfiguration,
};
use atrest_transformers::{KmsPlugins, ProviderChain, Transformer as _};

use crate::plan::{Concrete, chain_for};
use crate::{Keys, Plan, Reader};

/// How one seeded group fares after the naive switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveOutcome {
    /// The resource.
    pub resource: Concrete,
    /// Object name prefix (`seed-1`, `current`), or `kube-system` for what the apiserver wrote
    /// itself at its first start.
    pub group: String,
    /// How it was stored under CURRENT.
    pub written: Reader,
    /// `None`: TARGET reads it. `Some(text)`: the transformer error TARGET's chain answers.
    pub error: Option<String>,
    /// Readable, but not with TARGET's write provider: stays where it is until rewritten.
    pub stale: bool,
}

/// The prediction for the naive switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// Whether the apiservers become ready under TARGET when they start: a watch cache that
    /// cannot list its resource (one unreadable Secret or ConfigMap) keeps `/readyz` failing,
    /// for ever for Secrets ([`Prediction::never_ready`]), until
    /// `--storage-initialization-timeout` (1m by default) for ConfigMaps.
    pub ready: bool,
    /// Per seeded group.
    pub outcomes: Vec<NaiveOutcome>,
}

impl Prediction {
    /// Whether the naive switch loses access to nothing.
    pub fn is_safe(&self) -> bool {
        self.ready && self.outcomes.iter().all(|o| o.error.is_none())
    }

    /// Whether an unreadable Secret keeps `informer-sync` failing for ever (unreadable
    /// ConfigMaps alone only delay readiness until the storage-readiness hook gives up).
    pub fn never_ready(&self) -> bool {
        self.outcomes.iter().any(|o| o.error.is_some() && o.resource == Concrete::Secrets)
    }
}

/// Provider items for a chain, with the user's keys: consecutive keys of one provider become
/// one item, as a user writes them.
pub(crate) fn provider_items(
    chain: &[Reader],
    secret: &dyn Fn(&str) -> KeySecret,
) -> Vec<ProviderConfiguration> {
    let mut items: Vec<ProviderConfiguration> = Vec::new();
    let mut last_kind = None;
    for r in chain {
        match r {
            Reader::Identity => {
                items.push(ProviderConfiguration {
                    identity: Some(IdentityConfiguration),
                    ..Default::default()
                });
                last_kind = None;
            }
            Reader::Kms(k) => {
                items.push(ProviderConfiguration { kms: Some(k.clone()), ..Default::default() });
                last_kind = None;
            }
            Reader::Key { kind, name, alias } => {
                let key = Key { name: name.clone(), secret: secret(alias) };
                if last_kind == Some(*kind)
                    && let Some(item) = items.last_mut()
                {
                    match kind {
                        ProviderKind::Aescbc => item.aescbc.get_or_insert_default().keys.push(key),
                        ProviderKind::Aesgcm => item.aesgcm.get_or_insert_default().keys.push(key),
                        _ => item.secretbox.get_or_insert_default().keys.push(key),
                    }
                    continue;
                }
                let mut item = ProviderConfiguration::default();
                match kind {
                    ProviderKind::Aescbc => {
                        item.aescbc = Some(AesConfiguration { keys: vec![key] })
                    }
                    ProviderKind::Aesgcm => {
                        item.aesgcm = Some(AesConfiguration { keys: vec![key] })
                    }
                    _ => item.secretbox = Some(SecretboxConfiguration { keys: vec![key] }),
                }
                items.push(item);
                last_kind = Some(*kind);
            }
        }
    }
    items
}

fn real_secret(keys: &Keys) -> impl Fn(&str) -> KeySecret + '_ {
    |alias| keys.get(alias).map(|k| k.secret.clone()).unwrap_or_default()
}

/// Writes a probe with `writer` and reads it through `chain`; `Err` is the transformer's text.
fn read_back(
    keys: &Keys,
    writer: &Reader,
    chain: &[Reader],
    etcd_key: &str,
) -> Result<bool, String> {
    let secret = real_secret(keys);
    let build = |c: &[Reader]| {
        let items = provider_items(c, &secret);
        let refs: Vec<&ProviderConfiguration> = items.iter().collect();
        ProviderChain::build(&refs, &KmsPlugins::new()).map_err(|e| e.to_string())
    };
    let w = build(std::slice::from_ref(writer))?;
    let stored =
        w.to_storage(b"atrest rehearse probe", etcd_key.as_bytes()).map_err(|e| e.to_string())?;
    let r = build(chain)?;
    match r.from_storage(&stored, etcd_key.as_bytes()) {
        Ok((_, stale)) => Ok(stale),
        Err(e) => Err(e.to_string()),
    }
}

/// Predicts the naive switch; `None` when a KMS provider takes part (no plugin to model).
pub fn predict(plan: &Plan) -> Option<Prediction> {
    if plan.uses_kms() {
        return None;
    }
    let target = plan.config("target")?;
    let first = plan.seeds.first()?;
    let first_config = plan.config(&first.config)?;
    let mut outcomes = Vec::new();
    let mut groups: Vec<(Concrete, String, Reader)> = Vec::new();
    // What the apiserver wrote itself at its first start: ConfigMaps in kube-system.
    let cm = Concrete::Configmaps.group_resource();
    groups.push((
        Concrete::Configmaps,
        "kube-system".to_owned(),
        chain_for(&first_config.rules, &cm)[0].clone(),
    ));
    for seed in &plan.seeds {
        for (c, r) in &seed.written {
            groups.push((*c, seed.name.clone(), r.clone()));
        }
    }
    for (resource, group, written) in groups {
        let chain = chain_for(&target.rules, &resource.group_resource());
        let etcd_key = format!("/registry/{}/default/{group}-0", resource.resource());
        let (error, stale) = match read_back(&plan.keys, &written, &chain, &etcd_key) {
            Ok(stale) => (None, stale),
            Err(e) => (Some(e), false),
        };
        outcomes.push(NaiveOutcome { resource, group, written, error, stale });
    }
    let ready = outcomes.iter().all(|o| o.error.is_none());
    Some(Prediction { ready, outcomes })
}
