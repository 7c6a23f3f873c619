//! Aggregation: entries in, per-object reports out, counts and verdicts at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use atrest_config::resolve::{GroupResource, ResourcePlan, group_resource_for_etcd_key};
use atrest_transformers::{
    AESCBC_PREFIX, AESGCM_PREFIX, ENCRYPTED_PREFIX, Envelope, KMS_V1_PREFIX, KMS_V2_PREFIX,
    ProviderChain, ResourceTransformers, SECRETBOX_PREFIX,
};

use crate::classify::{ObjectState, WriteTarget, classify, write_target};

/// One inspected object. It names keys and sizes only, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// The etcd key (lossy UTF-8).
    pub etcd_key: String,
    /// The resource the key belongs to.
    pub resource: GroupResource,
    /// The provider the stored prefix names (`identity` without `k8s:enc:`, `unknown` for a
    /// `k8s:enc:` provider atrest does not know).
    pub provider: &'static str,
    /// The key (or KMS provider) name the stored prefix names.
    pub key_name: Option<String>,
    /// Size of the stored value in bytes.
    pub size: usize,
    /// How the configured apiserver reads it.
    pub state: ObjectState,
    /// The configured key that reads it (or that its prefix names, when unreadable), as a field
    /// path: `resources[0].providers[1].aescbc.keys[0]`.
    pub config_key: Option<String>,
}

/// Counts of objects by state, and their stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateCounts {
    /// All objects.
    pub objects: u64,
    /// [`ObjectState::Current`].
    pub current: u64,
    /// [`ObjectState::Stale`].
    pub stale: u64,
    /// [`ObjectState::Plaintext`].
    pub plaintext: u64,
    /// [`ObjectState::Undecryptable`].
    pub undecryptable: u64,
    /// Sum of stored value sizes.
    pub bytes: u64,
}

impl StateCounts {
    fn add(&mut self, state: &ObjectState, size: usize) {
        self.objects += 1;
        self.bytes = self.bytes.saturating_add(u64::try_from(size).unwrap_or(u64::MAX));
        match state {
            ObjectState::Current => self.current += 1,
            ObjectState::Stale => self.stale += 1,
            ObjectState::Plaintext { .. } => self.plaintext += 1,
            ObjectState::Undecryptable { .. } => self.undecryptable += 1,
        }
    }
}

/// The objects of one resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResourceSummary {
    /// `secrets`, `deployments.apps`, … (upstream's `GroupResource.String()`).
    pub resource: String,
    /// What the configuration writes this resource with.
    pub writes_with: WriteTarget,
    /// Counts by state.
    pub counts: StateCounts,
}

/// The objects whose stored prefix names one provider/key, whatever the configuration says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredKeySummary {
    /// The provider the prefix names (`identity` for plaintext).
    pub provider: &'static str,
    /// The key or KMS provider name the prefix names.
    pub key: Option<String>,
    /// Counts by state.
    pub counts: StateCounts,
}

/// The KMS v2 objects of one provider written under one plugin key ID (`EncryptedObject.keyID`):
/// which key versions the plugin must still keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyIdSummary {
    /// The KMS provider name (from the stored prefix).
    pub provider: String,
    /// The plugin's key ID.
    pub key_id: String,
    /// How many distinct DEKs or seeds (`encryptedDEKSource`) the values under it were written
    /// with: one per apiserver start or key-ID change. A restarted apiserver unwraps each with a
    /// `Decrypt` (up to 10 times each, as 1.37 decodes watch events concurrently).
    pub deks: u64,
    /// Counts by state (stale: written under another key ID than the current one, or another
    /// DEK source type; the next update rewrites them).
    pub counts: StateCounts,
    /// Whether it is the key ID the provider writes with now (the plugin's `Status`).
    pub writes: bool,
    /// Whether the plugin can retire it: `Needed` while readable objects use it.
    pub verdict: Verdict,
}

/// Whether a configured key can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Some objects are read only through this key (for identity: plaintext objects of a
    /// resource whose configuration lists identity).
    Needed {
        /// How many.
        objects: u64,
    },
    /// No stored object is read through it.
    SafeToRemove,
}

/// One key (or KMS provider, or identity) of the configuration, with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKeyReport {
    /// Field path: `resources[0].providers[1].aescbc.keys[0]`, `resources[0].providers[2].kms`,
    /// `resources[0].providers[3].identity`.
    pub path: String,
    /// `aescbc`, `aesgcm`, `secretbox`, `kms` or `identity`.
    pub provider: &'static str,
    /// The key name or KMS provider name (`None` for identity).
    pub name: Option<String>,
    /// The `resources` of its configuration entry, as written.
    pub resources: Vec<String>,
    /// The rules whose new values it writes (the first provider's first key).
    pub writes_for: Vec<String>,
    /// Objects read through it.
    pub needed_by: u64,
    /// Objects whose prefix names it but that it cannot read (they do not need it).
    pub undecryptable: u64,
    /// Whether it can go.
    pub verdict: Verdict,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectReport {
    /// `--etcd-prefix` the keys were resolved against.
    pub etcd_prefix: String,
    /// Entries whose key names no resource (allocator ranges, leases, non-UTF-8 keys): not
    /// objects the configuration applies to; not classified.
    pub skipped: u64,
    /// Counts over every object.
    pub totals: StateCounts,
    /// Per resource, sorted by group, then resource.
    pub resources: Vec<ResourceSummary>,
    /// Per stored provider/key, sorted.
    pub stored_keys: Vec<StoredKeySummary>,
    /// Every configured key in configuration order, with its verdict.
    pub config_keys: Vec<ConfigKeyReport>,
    /// KMS v2 objects per provider and plugin key ID, sorted, with the key ID each provider
    /// writes with now (listed even without objects).
    pub kms_key_ids: Vec<KmsKeyIdSummary>,
}

impl InspectReport {
    /// Whether some object cannot be read (the CLI's exit 1).
    pub fn has_undecryptable(&self) -> bool {
        self.totals.undecryptable > 0
    }
}

/// One configured key and how a stored value names it.
#[derive(Debug)]
struct ConfigKey {
    path: String,
    provider: &'static str,
    name: Option<String>,
    entry: usize,
    /// The full stored prefix (`k8s:enc:aescbc:v1:key1:`); `None` for identity, which reads
    /// every value without `k8s:enc:`.
    prefix: Option<Vec<u8>>,
    /// Whether it is the first key of its provider (the one the provider writes with).
    first: bool,
}

impl ConfigKey {
    fn names(&self, value: &[u8]) -> bool {
        match &self.prefix {
            Some(prefix) => value.starts_with(prefix),
            None => !value.starts_with(ENCRYPTED_PREFIX),
        }
    }
}

/// Feeds on `(etcd key, value)` entries and aggregates. See the crate documentation.
#[derive(Debug)]
pub struct Inspector {
    transformers: ResourceTransformers,
    plan: ResourcePlan,
    etcd_prefix: String,
    chains: HashMap<GroupResource, Arc<ProviderChain>>,
    keys: Vec<ConfigKey>,
    /// Configured keys of each `(entry, provider)` position.
    by_position: HashMap<(usize, usize), Vec<usize>>,
    /// Per configured key: objects read through it, unreadable objects naming it.
    needed: Vec<(u64, u64)>,
    skipped: u64,
    totals: StateCounts,
    resources: BTreeMap<GroupResource, (WriteTarget, StateCounts)>,
    stored: BTreeMap<(&'static str, Option<String>), StateCounts>,
    kms_key_ids: BTreeMap<(String, String), (StateCounts, DekSources)>,
}

/// The distinct `encryptedDEKSource` digests seen under one KMS key ID.
type DekSources = HashSet<[u8; 32]>;

impl Inspector {
    /// An inspector for the configuration `plan` (the plan `transformers` was built from, e.g.
    /// `atrest_config::load::Loaded::plan`), resolving keys against `etcd_prefix`
    /// (kube-apiserver's `--etcd-prefix`, `/registry` by default).
    pub fn new(
        plan: &ResourcePlan,
        transformers: ResourceTransformers,
        etcd_prefix: impl Into<String>,
    ) -> Inspector {
        let chains = transformers.chains().map(|(rule, c)| (rule.clone(), c.clone())).collect();
        let mut keys = Vec::new();
        let mut by_position: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        for (i, entry) in plan.config().resources.iter().enumerate() {
            for (j, p) in entry.providers.iter().enumerate() {
                let base = format!("resources[{i}].providers[{j}]");
                let mut add = |key: ConfigKey| {
                    by_position.entry((i, j)).or_default().push(keys.len());
                    keys.push(key);
                };
                let mut keyed = |provider: &'static str, prefix: &str, names: Vec<&str>| {
                    for (k, name) in names.into_iter().enumerate() {
                        add(ConfigKey {
                            path: format!("{base}.{provider}.keys[{k}]"),
                            provider,
                            name: Some(name.to_owned()),
                            entry: i,
                            prefix: Some(format!("{prefix}{name}:").into_bytes()),
                            first: k == 0,
                        });
                    }
                };
                // Upstream's build order: AESGCM, AESCBC, Secretbox, KMS, Identity.
                if let Some(c) = &p.aesgcm {
                    keyed(
                        "aesgcm",
                        AESGCM_PREFIX,
                        c.keys.iter().map(|k| k.name.as_str()).collect(),
                    );
                } else if let Some(c) = &p.aescbc {
                    keyed(
                        "aescbc",
                        AESCBC_PREFIX,
                        c.keys.iter().map(|k| k.name.as_str()).collect(),
                    );
                } else if let Some(c) = &p.secretbox {
                    let names = c.keys.iter().map(|k| k.name.as_str()).collect();
                    keyed("secretbox", SECRETBOX_PREFIX, names);
                } else if let Some(c) = &p.kms {
                    let prefix = if c.api_version == "v1" { KMS_V1_PREFIX } else { KMS_V2_PREFIX };
                    add(ConfigKey {
                        path: format!("{base}.kms"),
                        provider: "kms",
                        name: Some(c.name.clone()),
                        entry: i,
                        prefix: Some(format!("{prefix}{}:", c.name).into_bytes()),
                        first: true,
                    });
                } else if p.identity.is_some() {
                    add(ConfigKey {
                        path: format!("{base}.identity"),
                        provider: "identity",
                        name: None,
                        entry: i,
                        prefix: None,
                        first: true,
                    });
                }
            }
        }
        let needed = vec![(0, 0); keys.len()];
        Inspector {
            transformers,
            plan: plan.clone(),
            etcd_prefix: etcd_prefix.into(),
            chains,
            keys,
            by_position,
            needed,
            skipped: 0,
            totals: StateCounts::default(),
            resources: BTreeMap::new(),
            stored: BTreeMap::new(),
            kms_key_ids: BTreeMap::new(),
        }
    }

    /// Classifies and counts one entry. `None` when the key names no resource (counted as
    /// skipped).
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Option<ObjectReport> {
        let Some(resource) = std::str::from_utf8(key)
            .ok()
            .and_then(|k| group_resource_for_etcd_key(k, &self.etcd_prefix))
        else {
            self.skipped += 1;
            return None;
        };
        let state = classify(&self.transformers, &self.plan, &resource, key, value);
        let envelope = Envelope::parse(value);
        let provider = envelope.provider();
        let key_name = envelope.key_name().map(str::to_owned);
        let config_key = self.attribute(&resource, key, value, state.is_readable());
        if let Some(k) = config_key
            && let Some(slot) = self.needed.get_mut(k)
        {
            if state.is_readable() {
                slot.0 += 1;
            } else {
                slot.1 += 1;
            }
        }
        self.totals.add(&state, value.len());
        if let Some((_, counts)) = self.resources.get_mut(&resource) {
            counts.add(&state, value.len());
        } else {
            let mut counts = StateCounts::default();
            counts.add(&state, value.len());
            let target = write_target(&self.plan, &resource);
            self.resources.insert(resource.clone(), (target, counts));
        }
        self.stored.entry((provider, key_name.clone())).or_default().add(&state, value.len());
        if let Envelope::KmsV2 { provider: Some(name), object: Ok(header) } = &envelope {
            let (counts, deks) =
                self.kms_key_ids.entry((name.clone(), header.key_id.clone())).or_default();
            counts.add(&state, value.len());
            deks.insert(header.dek_source_sha256);
        }
        Some(ObjectReport {
            etcd_key: String::from_utf8_lossy(key).into_owned(),
            resource,
            provider,
            key_name,
            size: value.len(),
            state,
            config_key: config_key.and_then(|k| self.keys.get(k)).map(|k| k.path.clone()),
        })
    }

    /// The configured key that reads `value` (or, when unreadable, the first one whose prefix
    /// it names) among the providers of the rule that applies to `resource`.
    fn attribute(
        &self,
        resource: &GroupResource,
        key: &[u8],
        value: &[u8],
        readable: bool,
    ) -> Option<usize> {
        let rule = self.plan.matched_rule(resource)?;
        let refs = self.plan.provider_refs(rule);
        let candidates: Vec<(usize, usize)> = refs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let keys = self.by_position.get(&(r.entry, r.provider))?;
                keys.iter()
                    .copied()
                    .find(|&k| self.keys.get(k).is_some_and(|c| c.names(value)))
                    .map(|k| (i, k))
            })
            .collect();
        let &[(_, first), ref rest @ ..] = candidates.as_slice() else { return None };
        if !readable || rest.is_empty() {
            return Some(first);
        }
        // The same name at several positions (a resource listed in two entries, or two
        // providers of one kind): the prefix list tries them in order and the first that
        // reads the value is the one it needs. The chain's entries are the rule's provider
        // refs, in order (`ResourceTransformers` concatenates whole entry lists).
        let entries = self.chains.get(rule)?.prefix_list().entries();
        if entries.len() != refs.len() {
            return Some(first);
        }
        for &(i, k) in &candidates {
            let Some(entry) = entries.get(i) else { continue };
            if let Some(rest) = value.strip_prefix(entry.prefix.as_slice())
                && entry.transformer.from_storage(rest, key).is_ok()
            {
                return Some(k);
            }
        }
        Some(first)
    }

    /// The report over everything added.
    pub fn finish(self) -> InspectReport {
        let mut writes_for: Vec<Vec<String>> = vec![Vec::new(); self.keys.len()];
        for (rule, _) in self.plan.entries() {
            let Some(first) = self.plan.provider_refs(rule).first() else { continue };
            if let Some(k) = self.by_position.get(&(first.entry, first.provider)).and_then(|keys| {
                keys.iter().copied().find(|&k| self.keys.get(k).is_some_and(|c| c.first))
            }) && let Some(slot) = writes_for.get_mut(k)
            {
                slot.push(rule.yaml_string());
            }
        }
        // The key ID each KMS v2 provider writes with (its last successful Status).
        let mut writes: BTreeMap<String, String> = BTreeMap::new();
        for chain in self.chains.values() {
            for envelope in chain.kms_v2() {
                if let Some((key_id, _)) = envelope.write_key() {
                    writes.insert(envelope.name().to_owned(), key_id);
                }
            }
        }
        let mut kms_key_ids = self.kms_key_ids;
        for (provider, key_id) in &writes {
            kms_key_ids.entry((provider.clone(), key_id.clone())).or_default();
        }
        let kms_key_ids = kms_key_ids
            .into_iter()
            .map(|((provider, key_id), (counts, deks))| {
                let readable = counts.current + counts.stale + counts.plaintext;
                KmsKeyIdSummary {
                    writes: writes.get(&provider) == Some(&key_id),
                    provider,
                    key_id,
                    deks: deks.len() as u64,
                    counts,
                    verdict: if readable > 0 {
                        Verdict::Needed { objects: readable }
                    } else {
                        Verdict::SafeToRemove
                    },
                }
            })
            .collect();
        let config = self.plan.config();
        let config_keys = self
            .keys
            .into_iter()
            .zip(self.needed)
            .zip(writes_for)
            .map(|((k, (needed_by, undecryptable)), writes_for)| ConfigKeyReport {
                path: k.path,
                provider: k.provider,
                name: k.name,
                resources: config
                    .resources
                    .get(k.entry)
                    .map(|e| e.resources.clone())
                    .unwrap_or_default(),
                writes_for,
                needed_by,
                undecryptable,
                verdict: if needed_by > 0 {
                    Verdict::Needed { objects: needed_by }
                } else {
                    Verdict::SafeToRemove
                },
            })
            .collect();
        InspectReport {
            etcd_prefix: self.etcd_prefix,
            skipped: self.skipped,
            totals: self.totals,
            resources: self
                .resources
                .into_iter()
                .map(|(gr, (writes_with, counts))| ResourceSummary {
                    resource: gr.to_string(),
                    writes_with,
                    counts,
                })
                .collect(),
            stored_keys: self
                .stored
                .into_iter()
                .map(|((provider, key), counts)| StoredKeySummary { provider, key, counts })
                .collect(),
            config_keys,
            kms_key_ids,
        }
    }
}
