//! Which providers govern which resource: the per-resource transformer plan.
//!
//! Mirrors k8s.io/apiserver pkg/server/options/encryptionconfig/config.go
//! (`getTransformerOverridesAndKMSPluginProbes`, `prefixTransformersAndProbes`,
//! `transformerFromOverrides`, `grYAMLString`) and k8s.io/apimachinery
//! pkg/runtime/schema/group_version.go (`ParseGroupResource`, `GroupResource.String`).
//!
//! The plan owns a clone of the configuration, so it carries no lifetime; lookups borrow from it.

use std::collections::HashMap;
use std::fmt;

use crate::goquote::go_quote;
use crate::types::{
    AesConfiguration, EncryptionConfiguration, Key, KmsConfiguration, ProviderConfiguration,
    SecretDecodeError, SecretboxConfiguration,
};

/// A `{group, resource}` pair, as upstream's `schema.GroupResource`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupResource {
    /// API group; empty for the core group, `*` for any group.
    pub group: String,
    /// Resource (plural, lower case); `*` for any resource of the group.
    pub resource: String,
}

impl GroupResource {
    /// `schema.ParseGroupResource`: everything before the **first** dot is the resource, the rest
    /// the group (`pandas.awesome.bears.example` → {awesome.bears.example, pandas};
    /// `configmaps.` → {"", configmaps}).
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((resource, group)) => GroupResource::new(group, resource),
            None => GroupResource::new("", s),
        }
    }

    /// From a group and a resource.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        GroupResource { group: group.into(), resource: resource.into() }
    }

    /// The `{*, *}` rule.
    pub fn any() -> Self {
        GroupResource::new("*", "*")
    }

    /// Whether this is `{*, *}`.
    pub fn is_any(&self) -> bool {
        self.group == "*" && self.resource == "*"
    }

    /// How upstream prints a rule in the masking error (`grYAMLString`): the core-group wildcard
    /// as `*.`, everything else as [`GroupResource`]'s `Display`.
    pub fn yaml_string(&self) -> String {
        if self.group.is_empty() && self.resource == "*" {
            "*.".to_owned()
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for GroupResource {
    /// `GroupResource.String()`: `resource` for the core group, else `resource.group`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// Why the transformer plan could not be built. The `Display` text is upstream's, without the
/// `error while building transformers: ` wrapper that [`crate::load`] adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// An earlier entry configured `*.<group>` or `*.*`, which would hide this resource.
    #[error(
        "resource {} is masked by earlier rule {}",
        go_quote(&.resource.yaml_string()),
        go_quote(&.rule.yaml_string())
    )]
    Masked {
        /// The resource named in the later entry.
        resource: GroupResource,
        /// The earlier wildcard rule.
        rule: GroupResource,
        /// Index of the entry naming `resource`.
        entry: usize,
        /// Index of `resource` inside that entry's `resources` list.
        index: usize,
    },
    /// A KMS v1 provider while the `KMSv1` feature gate is off (the default since 1.29). The text
    /// has two spaces after `instead.`, as upstream.
    #[error(
        "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature."
    )]
    KmsV1Disabled {
        /// Entry index.
        entry: usize,
        /// Provider index.
        provider: usize,
    },
    /// A KMS provider with an apiVersion other than v1/v2 (validation normally rejects it first).
    #[error(
        "could not configure KMS plugin {}, unsupported KMS API version {}",
        go_quote(.name),
        go_quote(.api_version)
    )]
    KmsUnsupportedVersion {
        /// `kms.name`.
        name: String,
        /// `kms.apiVersion`.
        api_version: String,
    },
    /// A provider item with nothing set (validation normally rejects it first).
    #[error(
        "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity"
    )]
    NoProvider {
        /// Entry index.
        entry: usize,
        /// Provider index.
        provider: usize,
    },
    /// `aescbc`/`aesgcm` with no keys (validation normally rejects it first).
    #[error("aes provider has no valid keys")]
    AesNoKeys,
    /// `secretbox` with no keys (validation normally rejects it first).
    #[error("secretbox provider has no valid keys")]
    SecretboxNoKeys,
    /// A key with an empty name (validation normally rejects it first).
    #[error("key with invalid name provided")]
    InvalidKeyName,
    /// A key with an empty secret (validation normally rejects it first).
    #[error("key {name} has no provided secret")]
    KeyWithoutSecret {
        /// The key name.
        name: String,
    },
    /// A key secret that is not base64 (validation normally rejects it first).
    #[error("could not obtain secret for named key {name}: {source}")]
    KeySecret {
        /// The key name.
        name: String,
        /// The base64 error (offsets only, never key material).
        source: SecretDecodeError,
    },
    /// An AES key of a size `crypto/aes` refuses (validation normally rejects it first).
    #[error(
        "error while creating cipher for named key {name}: crypto/aes: invalid key size {size}"
    )]
    AesKeySize {
        /// The key name.
        name: String,
        /// Decoded length.
        size: usize,
    },
    /// A secretbox key that is not 32 bytes (validation normally rejects it first).
    #[error("expected key size 32 for secretbox provider, got {size}")]
    SecretboxKeySize {
        /// Decoded length.
        size: usize,
    },
}

/// Options for [`ResourcePlan::build_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildOptions {
    /// Whether the `KMSv1` feature gate is on (off by default since 1.29).
    pub kmsv1_enabled: bool,
    /// Whether to check the gate at all; [`ResourcePlan::build`] leaves it off.
    pub check_kmsv1_gate: bool,
}

/// Where a provider sits in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProviderRef {
    /// Index into `resources`.
    pub entry: usize,
    /// Index into that entry's `providers`.
    pub provider: usize,
}

/// The result of [`ResourcePlan::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The ordered providers for the resource: write with the first, read with all.
    Providers(Vec<&'a ProviderConfiguration>),
    /// No rule matched: the bare identity transformer, which writes plaintext and refuses to read
    /// `k8s:enc:` data.
    BareIdentity,
}

/// The resolved `GroupResource → providers` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePlan {
    config: EncryptionConfiguration,
    /// In first-configured order.
    order: Vec<GroupResource>,
    providers: HashMap<GroupResource, Vec<ProviderRef>>,
}

impl ResourcePlan {
    /// Builds the plan: masking by an earlier wildcard is an error, the same resource in two
    /// entries appends the later providers as extra read fallbacks (upstream quirk). The `KMSv1`
    /// gate is not checked here; [`ResourcePlan::build_with`] can.
    pub fn build(cfg: &EncryptionConfiguration) -> Result<ResourcePlan, BuildError> {
        ResourcePlan::build_with(cfg, &BuildOptions::default())
    }

    /// [`ResourcePlan::build`] with options. Errors come in upstream's order: for each entry,
    /// first its providers (KMSv1 gate, structural errors), then its resources (masking).
    pub fn build_with(
        cfg: &EncryptionConfiguration,
        opts: &BuildOptions,
    ) -> Result<ResourcePlan, BuildError> {
        let mut order = Vec::new();
        let mut providers: HashMap<GroupResource, Vec<ProviderRef>> = HashMap::new();
        let any = GroupResource::any();
        for (i, entry) in cfg.resources.iter().enumerate() {
            for (j, provider) in entry.providers.iter().enumerate() {
                check_provider(provider, i, j, opts)?;
            }
            let refs: Vec<ProviderRef> =
                (0..entry.providers.len()).map(|j| ProviderRef { entry: i, provider: j }).collect();
            for (k, name) in entry.resources.iter().enumerate() {
                let gr = GroupResource::parse(name);
                let group_rule = GroupResource::new(gr.group.clone(), "*");
                if providers.contains_key(&group_rule) {
                    return Err(BuildError::Masked {
                        resource: gr,
                        rule: group_rule,
                        entry: i,
                        index: k,
                    });
                }
                if providers.contains_key(&any) {
                    return Err(BuildError::Masked { resource: gr, rule: any, entry: i, index: k });
                }
                match providers.get_mut(&gr) {
                    Some(list) => list.extend(refs.iter().copied()),
                    None => {
                        order.push(gr.clone());
                        providers.insert(gr, refs.clone());
                    }
                }
            }
        }
        Ok(ResourcePlan { config: cfg.clone(), order, providers })
    }

    /// The configuration the plan was built from.
    pub fn config(&self) -> &EncryptionConfiguration {
        &self.config
    }

    /// `transformerFromOverrides`: exact `{group, resource}`, then `{group, *}`, then `{*, *}`,
    /// else the bare identity.
    pub fn lookup(&self, gr: &GroupResource) -> Lookup<'_> {
        match self.matched_rule(gr) {
            Some(rule) => Lookup::Providers(
                self.provider_refs(rule).iter().filter_map(|r| self.provider(*r)).collect(),
            ),
            None => Lookup::BareIdentity,
        }
    }

    /// The rule [`ResourcePlan::lookup`] uses for `gr`, if any.
    pub fn matched_rule(&self, gr: &GroupResource) -> Option<&GroupResource> {
        let group_rule = GroupResource::new(gr.group.clone(), "*");
        [gr.clone(), group_rule, GroupResource::any()]
            .into_iter()
            .find_map(|candidate| self.providers.get_key_value(&candidate).map(|(k, _)| k))
    }

    /// Where each provider of a rule sits in the configuration (empty for an unknown rule).
    pub fn provider_refs(&self, rule: &GroupResource) -> &[ProviderRef] {
        self.providers.get(rule).map(Vec::as_slice).unwrap_or_default()
    }

    /// The provider at a position.
    pub fn provider(&self, r: ProviderRef) -> Option<&ProviderConfiguration> {
        self.config.resources.get(r.entry).and_then(|e| e.providers.get(r.provider))
    }

    /// Every configured rule with its providers, in the order rules first appear.
    pub fn entries(
        &self,
    ) -> impl Iterator<Item = (&GroupResource, Vec<&ProviderConfiguration>)> + '_ {
        self.order.iter().map(move |gr| {
            (gr, self.provider_refs(gr).iter().filter_map(|r| self.provider(*r)).collect())
        })
    }
}

/// The per-provider part of `prefixTransformersAndProbes`, without building ciphers. Upstream
/// checks the kinds in switch order AESGCM, AESCBC, Secretbox, KMS, Identity.
fn check_provider(
    p: &ProviderConfiguration,
    entry: usize,
    provider: usize,
    opts: &BuildOptions,
) -> Result<(), BuildError> {
    if let Some(aes) = p.aesgcm.as_ref().or(p.aescbc.as_ref()) {
        check_aes(aes)
    } else if let Some(sb) = &p.secretbox {
        check_secretbox(sb)
    } else if let Some(kms) = &p.kms {
        check_kms(kms, entry, provider, opts)
    } else if p.identity.is_some() {
        Ok(())
    } else {
        Err(BuildError::NoProvider { entry, provider })
    }
}

fn check_key_presence(keys: &[Key]) -> Result<(), BuildError> {
    for key in keys {
        if key.name.is_empty() {
            return Err(BuildError::InvalidKeyName);
        }
        if key.secret.is_empty() {
            return Err(BuildError::KeyWithoutSecret { name: key.name.clone() });
        }
    }
    Ok(())
}

/// Mirrors `aesPrefixTransformer`.
fn check_aes(aes: &AesConfiguration) -> Result<(), BuildError> {
    if aes.keys.is_empty() {
        return Err(BuildError::AesNoKeys);
    }
    check_key_presence(&aes.keys)?;
    for key in &aes.keys {
        let bytes = key
            .decode_secret()
            .map_err(|source| BuildError::KeySecret { name: key.name.clone(), source })?;
        if !matches!(bytes.len(), 16 | 24 | 32) {
            return Err(BuildError::AesKeySize { name: key.name.clone(), size: bytes.len() });
        }
    }
    Ok(())
}

/// Mirrors `secretboxPrefixTransformer`.
fn check_secretbox(sb: &SecretboxConfiguration) -> Result<(), BuildError> {
    if sb.keys.is_empty() {
        return Err(BuildError::SecretboxNoKeys);
    }
    check_key_presence(&sb.keys)?;
    for key in &sb.keys {
        let bytes = key
            .decode_secret()
            .map_err(|source| BuildError::KeySecret { name: key.name.clone(), source })?;
        if bytes.len() != 32 {
            return Err(BuildError::SecretboxKeySize { size: bytes.len() });
        }
    }
    Ok(())
}

/// Mirrors `kmsPrefixTransformer` up to service construction (which dials lazily).
fn check_kms(
    kms: &KmsConfiguration,
    entry: usize,
    provider: usize,
    opts: &BuildOptions,
) -> Result<(), BuildError> {
    match kms.api_version.as_str() {
        "v1" if opts.check_kmsv1_gate && !opts.kmsv1_enabled => {
            Err(BuildError::KmsV1Disabled { entry, provider })
        }
        "v1" | "v2" => Ok(()),
        other => Err(BuildError::KmsUnsupportedVersion {
            name: kms.name.clone(),
            api_version: other.to_owned(),
        }),
    }
}

/// Built-in resources whose etcd path omits the group, as `(path segment, group, resource)`.
///
/// Derived from kubernetes/kubernetes test/integration/etcd/data.go (`ExpectedEtcdPath` of every
/// resource served by 1.37) and pkg/kubeapiserver/default_storage_factory_builder.go
/// (`SpecialDefaultResourcePrefixes`: `controllers`, `services/endpoints`, `minions`,
/// `services/specs`, `ingress`). Everything else in kube-apiserver is stored under its lower-case
/// resource name; the aggregator and apiextensions store under `<group>/<resource>`.
const BUILTIN_STORAGE_PATHS: &[(&str, &str, &str)] = &[
    // Core group.
    ("configmaps", "", "configmaps"),
    ("services/specs", "", "services"),
    ("services/endpoints", "", "endpoints"),
    ("podtemplates", "", "podtemplates"),
    ("pods", "", "pods"),
    ("resourcequotas", "", "resourcequotas"),
    ("limitranges", "", "limitranges"),
    ("namespaces", "", "namespaces"),
    ("minions", "", "nodes"),
    ("persistentvolumes", "", "persistentvolumes"),
    // events.k8s.io Events cohabit with core events and are stored as core events.
    ("events", "", "events"),
    ("persistentvolumeclaims", "", "persistentvolumeclaims"),
    ("serviceaccounts", "", "serviceaccounts"),
    ("secrets", "", "secrets"),
    ("controllers", "", "replicationcontrollers"),
    // apps.
    ("daemonsets", "apps", "daemonsets"),
    ("deployments", "apps", "deployments"),
    ("statefulsets", "apps", "statefulsets"),
    ("replicasets", "apps", "replicasets"),
    ("controllerrevisions", "apps", "controllerrevisions"),
    // autoscaling.
    ("horizontalpodautoscalers", "autoscaling", "horizontalpodautoscalers"),
    // batch.
    ("jobs", "batch", "jobs"),
    ("cronjobs", "batch", "cronjobs"),
    // certificates.k8s.io.
    ("certificatesigningrequests", "certificates.k8s.io", "certificatesigningrequests"),
    ("clustertrustbundles", "certificates.k8s.io", "clustertrustbundles"),
    ("podcertificaterequests", "certificates.k8s.io", "podcertificaterequests"),
    // coordination.k8s.io.
    ("leases", "coordination.k8s.io", "leases"),
    ("leasecandidates", "coordination.k8s.io", "leasecandidates"),
    // discovery.k8s.io.
    ("endpointslices", "discovery.k8s.io", "endpointslices"),
    // networking.k8s.io.
    ("ingress", "networking.k8s.io", "ingresses"),
    ("ingressclasses", "networking.k8s.io", "ingressclasses"),
    ("networkpolicies", "networking.k8s.io", "networkpolicies"),
    ("ipaddresses", "networking.k8s.io", "ipaddresses"),
    ("servicecidrs", "networking.k8s.io", "servicecidrs"),
    // policy.
    ("poddisruptionbudgets", "policy", "poddisruptionbudgets"),
    // storagemigration.k8s.io.
    ("storageversionmigrations", "storagemigration.k8s.io", "storageversionmigrations"),
    // flowcontrol.apiserver.k8s.io.
    ("flowschemas", "flowcontrol.apiserver.k8s.io", "flowschemas"),
    ("prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    // storage.k8s.io.
    ("volumeattachments", "storage.k8s.io", "volumeattachments"),
    ("volumeattributesclasses", "storage.k8s.io", "volumeattributesclasses"),
    ("storageclasses", "storage.k8s.io", "storageclasses"),
    ("csistoragecapacities", "storage.k8s.io", "csistoragecapacities"),
    ("csinodes", "storage.k8s.io", "csinodes"),
    ("csidrivers", "storage.k8s.io", "csidrivers"),
    // rbac.authorization.k8s.io.
    ("roles", "rbac.authorization.k8s.io", "roles"),
    ("clusterroles", "rbac.authorization.k8s.io", "clusterroles"),
    ("rolebindings", "rbac.authorization.k8s.io", "rolebindings"),
    ("clusterrolebindings", "rbac.authorization.k8s.io", "clusterrolebindings"),
    // admissionregistration.k8s.io.
    (
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    (
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    ("validatingadmissionpolicies", "admissionregistration.k8s.io", "validatingadmissionpolicies"),
    (
        "validatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("mutatingadmissionpolicies", "admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "mutatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    // scheduling.k8s.io.
    ("priorityclasses", "scheduling.k8s.io", "priorityclasses"),
    ("workloads", "scheduling.k8s.io", "workloads"),
    ("podgroups", "scheduling.k8s.io", "podgroups"),
    // node.k8s.io.
    ("runtimeclasses", "node.k8s.io", "runtimeclasses"),
    // resource.k8s.io.
    ("devicetaintrules", "resource.k8s.io", "devicetaintrules"),
    ("resourcepoolstatusrequests", "resource.k8s.io", "resourcepoolstatusrequests"),
    ("deviceclasses", "resource.k8s.io", "deviceclasses"),
    ("resourceclaims", "resource.k8s.io", "resourceclaims"),
    ("resourceclaimtemplates", "resource.k8s.io", "resourceclaimtemplates"),
    ("resourceslices", "resource.k8s.io", "resourceslices"),
    // internal.apiserver.k8s.io.
    ("storageversions", "internal.apiserver.k8s.io", "storageversions"),
];

/// Maps an etcd key to the resource whose storage wrote it.
///
/// `/registry/secrets/ns/name` → `secrets`; `/registry/deployments/ns/n` → `deployments.apps`;
/// `/registry/minions/node1` → `nodes`; `/registry/<group>/<resource>/...` (custom resources,
/// CRDs, APIServices) → `<resource>.<group>`. `etcd_prefix` is `--etcd-prefix` (`/registry` by
/// default; leading and trailing slashes are optional).
///
/// Returns `None` for keys outside the prefix, unknown ungrouped segments, and the non-REST
/// allocator and lease keys (`ranges/serviceips`, `ranges/servicenodeports`, `masterleases`,
/// `peerserverleases`), which the encryption configuration never applies to.
pub fn group_resource_for_etcd_key(key: &str, etcd_prefix: &str) -> Option<GroupResource> {
    let prefix = etcd_prefix.trim_matches('/');
    let rest = key.strip_prefix('/')?;
    let rest =
        if prefix.is_empty() { rest } else { rest.strip_prefix(prefix)?.strip_prefix('/')? };
    for (path, group, resource) in BUILTIN_STORAGE_PATHS {
        if let Some(after) = rest.strip_prefix(path)
            && (after.is_empty() || after.starts_with('/'))
        {
            return Some(GroupResource::new(*group, *resource));
        }
    }
    let mut segments = rest.split('/');
    let first = segments.next().filter(|s| !s.is_empty())?;
    if first.contains('.') {
        let resource = segments.next().filter(|s| !s.is_empty())?;
        return Some(GroupResource::new(first, resource));
    }
    None
}
