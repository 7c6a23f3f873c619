//! Advice beyond upstream validation: configurations kube-apiserver accepts but that are risky.
//!
//! Each [`Lint`] has a stable code, the field path it points at (validation path syntax, so
//! [`crate::decode::SpanMap`] can place it in the file) and a one-line reason. Lints never print
//! key material: key bytes are compared and measured, never shown.
//!
//! | code | severity | what | why |
//! |---|---|---|---|
//! | `AT001` | warning | `identity` is the first provider of an entry that also encrypts | new writes are stored in plaintext; identity belongs last, as a read fallback |
//! | `AT002` | info | an encrypting entry has no `identity` fallback | if this config turns encryption on, objects already stored in plaintext fail to read (`no matching prefix found`) until rewritten |
//! | `AT003` | warning | `aescbc` provider | CBC without authentication is open to padding-oracle attacks; prefer kms v2, secretbox, or aesgcm with automated rotation |
//! | `AT004` | warning | `aesgcm` provider | random 96-bit nonces: each key must be rotated before about 200,000 writes |
//! | `AT005` | warning | two keys with the same name in one provider | they share the `<name>:` prefix; reads try both, only the first writes |
//! | `AT006` | warning | the same key bytes under two key names, under two provider kinds, or twice in one provider | one compromise exposes both, and rotation does not change the key (the same key, same name and kind, shared by several entries is fine) |
//! | `AT007` | warning | low-entropy key material (printable ASCII, repeated or sequential bytes) | the key looks human-chosen rather than random |
//! | `AT008` | warning | KMS `apiVersion: v1` | deprecated since 1.28, disabled by default since 1.29 (`KMSv1` gate); use v2 |
//! | `AT009` | warning | a resource named in two entries | the later entry only adds read fallbacks to the earlier one (upstream quirk) |
//! | `AT010` | warning | every provider is `identity` | the configuration encrypts nothing |
//! | `AT011` | warning | the providers that apply to Secrets (exact rule or wildcard) are none, identity only, or start with identity (unless `AT001`/`AT010` already report that) | Secrets are written in plaintext |

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroizing;

use crate::goquote::go_quote;
use crate::resolve::{GroupResource, ResourcePlan};
use crate::types::{EncryptionConfiguration, Key, ProviderConfiguration, ProviderKind};

/// A lint code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LintCode {
    /// `identity` first while encrypting.
    IdentityFirst,
    /// No `identity` read fallback.
    NoIdentityFallback,
    /// `aescbc` is weak.
    AescbcWeak,
    /// `aesgcm` needs rotation.
    AesgcmRotation,
    /// Duplicate key names in a provider.
    DuplicateKeyName,
    /// The same key bytes twice.
    ReusedKeyMaterial,
    /// Low-entropy key bytes.
    LowEntropyKey,
    /// KMS v1.
    KmsV1Deprecated,
    /// A resource in two entries.
    ResourceInTwoEntries,
    /// Nothing is encrypted.
    IdentityOnly,
    /// Secrets not covered.
    SecretsNotCovered,
}

impl LintCode {
    /// The stable code, e.g. `AT003`.
    pub const fn code(self) -> &'static str {
        match self {
            LintCode::IdentityFirst => "AT001",
            LintCode::NoIdentityFallback => "AT002",
            LintCode::AescbcWeak => "AT003",
            LintCode::AesgcmRotation => "AT004",
            LintCode::DuplicateKeyName => "AT005",
            LintCode::ReusedKeyMaterial => "AT006",
            LintCode::LowEntropyKey => "AT007",
            LintCode::KmsV1Deprecated => "AT008",
            LintCode::ResourceInTwoEntries => "AT009",
            LintCode::IdentityOnly => "AT010",
            LintCode::SecretsNotCovered => "AT011",
        }
    }

    /// How serious it is.
    pub const fn severity(self) -> Severity {
        match self {
            LintCode::NoIdentityFallback => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for LintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Lint severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Likely a problem.
    Warning,
    /// Worth knowing; may be intended.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Stable code.
    pub code: LintCode,
    /// The field path it points at (validation syntax).
    pub field: String,
    /// One-line reason (never contains key material).
    pub message: String,
}

impl Lint {
    /// The code's severity.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

impl fmt::Display for Lint {
    /// `warning[AT003] resources[0].providers[0].aescbc: <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}] {}: {}", self.severity(), self.code, self.field, self.message)
    }
}

/// Lints a configuration (normally a loaded, valid one; invalid parts are skipped quietly).
pub fn lint(cfg: &EncryptionConfiguration) -> Vec<Lint> {
    let mut out = Vec::new();
    let mut push = |code: LintCode, field: String, message: String| {
        out.push(Lint { code, field, message });
    };
    let mut all_identity = true;
    let mut any_provider = false;
    // First place each GroupResource was named: (entry, index).
    let mut named: HashMap<GroupResource, (usize, usize)> = HashMap::new();
    // Every decoded key seen so far.
    let mut material: Vec<SeenKey> = Vec::new();
    for (i, entry) in cfg.resources.iter().enumerate() {
        let entry_path = format!("resources[{i}]");
        for (k, name) in entry.resources.iter().enumerate() {
            let gr = GroupResource::parse(name);
            match named.get(&gr) {
                Some((e, idx)) if *e != i => push(
                    LintCode::ResourceInTwoEntries,
                    format!("{entry_path}.resources[{k}]"),
                    format!(
                        "{} is also listed in resources[{e}].resources[{idx}]; this entry's providers only add read fallbacks after that entry's",
                        gr.yaml_string()
                    ),
                ),
                Some(_) => {}
                None => {
                    named.insert(gr, (i, k));
                }
            }
        }
        let kinds: Vec<Option<ProviderKind>> =
            entry.providers.iter().map(ProviderConfiguration::kind).collect();
        let encrypts = kinds.iter().flatten().any(|k| *k != ProviderKind::Identity);
        any_provider |= !kinds.is_empty();
        all_identity &= !encrypts;
        if encrypts && kinds.first() == Some(&Some(ProviderKind::Identity)) {
            push(
                LintCode::IdentityFirst,
                format!("{entry_path}.providers[0].identity"),
                "identity is the first provider, so new writes are stored in plaintext; put it last as a read fallback".to_owned(),
            );
        }
        if encrypts && !kinds.contains(&Some(ProviderKind::Identity)) {
            push(
                LintCode::NoIdentityFallback,
                format!("{entry_path}.providers"),
                "no identity fallback: if this config turns encryption on, objects already stored in plaintext fail to read (no matching prefix found) until rewritten".to_owned(),
            );
        }
        for (j, p) in entry.providers.iter().enumerate() {
            let pp = format!("{entry_path}.providers[{j}]");
            if p.aescbc.is_some() {
                push(
                    LintCode::AescbcWeak,
                    format!("{pp}.aescbc"),
                    "aescbc is open to padding-oracle attacks; prefer kms v2, secretbox, or aesgcm with automated key rotation".to_owned(),
                );
            }
            if p.aesgcm.is_some() {
                push(
                    LintCode::AesgcmRotation,
                    format!("{pp}.aesgcm"),
                    "aesgcm uses random 96-bit nonces: rotate each key before about 200,000 writes, or use kms v2 or secretbox".to_owned(),
                );
            }
            if let Some(kms) = &p.kms
                && (kms.api_version.is_empty() || kms.api_version == "v1")
            {
                push(
                        LintCode::KmsV1Deprecated,
                        format!("{pp}.kms.apiVersion"),
                        "KMS v1 is deprecated since 1.28 and disabled by default since 1.29 (KMSv1 feature gate); use apiVersion v2".to_owned(),
                    );
            }
            for (kind, keys) in key_lists(p) {
                let kp = format!("{pp}.{kind}.keys");
                lint_keys(keys, (kind, (i, j)), &kp, &mut material, &mut push);
            }
        }
    }
    if any_provider && all_identity {
        push(
            LintCode::IdentityOnly,
            "resources".to_owned(),
            "every provider is identity: nothing is encrypted at rest".to_owned(),
        );
    }
    if let Some((field, message)) = secrets_in_plaintext(cfg)
        && !out.iter().any(|l| {
            // AT001 on that very provider, or AT010 (everything is identity): same cause.
            (l.code == LintCode::IdentityFirst && l.field == field)
                || l.code == LintCode::IdentityOnly
        })
    {
        out.push(Lint { code: LintCode::SecretsNotCovered, field, message });
    }
    out
}

/// AT011: where and why Secrets (`GroupResource{"", "secrets"}`, as the apiserver looks them up,
/// wildcards included) are written in plaintext, if they are.
fn secrets_in_plaintext(cfg: &EncryptionConfiguration) -> Option<(String, String)> {
    let plan = ResourcePlan::build(cfg).ok()?;
    let secrets = GroupResource::new("", "secrets");
    let Some(rule) = plan.matched_rule(&secrets) else {
        return Some((
            "resources".to_owned(),
            "no entry covers secrets (nor '*.' or '*.*'), so Secrets are written in plaintext"
                .to_owned(),
        ));
    };
    let refs = plan.provider_refs(rule);
    let first = *refs.first()?;
    if plan.provider(first).and_then(ProviderConfiguration::kind) != Some(ProviderKind::Identity) {
        return None;
    }
    let field = format!("resources[{}].providers[{}].identity", first.entry, first.provider);
    let rule = rule.yaml_string();
    let identity_only = refs.iter().all(|r| {
        plan.provider(*r).and_then(ProviderConfiguration::kind) == Some(ProviderKind::Identity)
    });
    let message = if identity_only {
        format!(
            "secrets resolve (through {}) to identity only, so Secrets are written in plaintext",
            go_quote(&rule)
        )
    } else {
        format!(
            "identity is the first provider for secrets (through {}; later entries only add read fallbacks), so Secrets are written in plaintext",
            go_quote(&rule)
        )
    };
    Some((field, message))
}

fn key_lists(p: &ProviderConfiguration) -> Vec<(&'static str, &[Key])> {
    let mut out = Vec::new();
    if let Some(a) = &p.aesgcm {
        out.push(("aesgcm", a.keys.as_slice()));
    }
    if let Some(a) = &p.aescbc {
        out.push(("aescbc", a.keys.as_slice()));
    }
    if let Some(s) = &p.secretbox {
        out.push(("secretbox", s.keys.as_slice()));
    }
    out
}

/// A decoded key and where it was configured, for AT006.
struct SeenKey {
    bytes: Zeroizing<Vec<u8>>,
    name: String,
    /// Provider kind (`aescbc`, …).
    kind: &'static str,
    /// (entry, provider) indices.
    provider: (usize, usize),
    /// Field path of the `secret`.
    path: String,
}

/// Why reusing `earlier`'s bytes for a key named `name` in provider `kind` at `provider` is a
/// problem, if it is: the same key (name, kind, bytes) shared by several entries is the normal
/// way to encrypt several resources with one key.
fn reuse_problem(
    earlier: &SeenKey,
    name: &str,
    kind: &str,
    provider: (usize, usize),
) -> Option<&'static str> {
    if earlier.provider == provider {
        Some("in the same provider")
    } else if earlier.kind != kind {
        Some("under another provider kind")
    } else if earlier.name != name {
        Some("under another key name")
    } else {
        None
    }
}

fn lint_keys(
    keys: &[Key],
    (kind, provider): (&'static str, (usize, usize)),
    path: &str,
    material: &mut Vec<SeenKey>,
    push: &mut impl FnMut(LintCode, String, String),
) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (k, key) in keys.iter().enumerate() {
        let kp = format!("{path}[{k}]");
        if let Some(first) = names.get(key.name.as_str()) {
            push(
                LintCode::DuplicateKeyName,
                format!("{kp}.name"),
                format!(
                    "key name {} is also used by {path}[{first}]: both share the {} prefix, reads try both and only the first writes",
                    go_quote(&key.name),
                    go_quote(&format!("{}:", key.name))
                ),
            );
        } else {
            names.insert(&key.name, k);
        }
        let Ok(bytes) = key.decode_secret() else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let secret_path = format!("{kp}.secret");
        let reuse = material.iter().find_map(|m| {
            (m.bytes.as_slice() == bytes.expose())
                .then(|| reuse_problem(m, &key.name, kind, provider).map(|why| (m, why)))
                .flatten()
        });
        if let Some((other, why)) = reuse {
            push(
                LintCode::ReusedKeyMaterial,
                secret_path.clone(),
                format!(
                    "same key bytes as {} ({why}): one compromise exposes both, and rotating to it changes nothing",
                    other.path
                ),
            );
        }
        material.push(SeenKey {
            bytes: Zeroizing::new(bytes.expose().to_vec()),
            name: key.name.clone(),
            kind,
            provider,
            path: secret_path.clone(),
        });
        if let Some(why) = low_entropy(bytes.expose()) {
            push(
                LintCode::LowEntropyKey,
                secret_path,
                format!(
                    "key bytes {why}, so the key looks human-chosen; generate keys with a CSPRNG (head -c 32 /dev/urandom | base64)"
                ),
            );
        }
    }
}

/// Why key bytes look non-random, if they do.
fn low_entropy(b: &[u8]) -> Option<&'static str> {
    if b.len() < 2 {
        return None;
    }
    let distinct = {
        let mut seen = [false; 256];
        b.iter().for_each(|x| seen[usize::from(*x)] = true);
        seen.iter().filter(|s| **s).count()
    };
    if distinct <= b.len() / 4 {
        return Some("repeat a few values");
    }
    let ascending = b.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
    let descending = b.windows(2).all(|w| w[1] == w[0].wrapping_sub(1));
    if ascending || descending {
        return Some("are a sequence");
    }
    if b.iter().all(|x| (0x20..=0x7e).contains(x)) {
        return Some("are all printable ASCII");
    }
    None
}
