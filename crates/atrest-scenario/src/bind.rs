//! Binding a scenario's key placeholders to the keys of a user's configuration.
//!
//! `--config NAME=FILE` replaces the template NAME with the user's file. The keys in that file
//! sit where the template had placeholders: the key with the same provider and key name gives
//! the placeholder its value, so every other template that names the placeholder (the
//! intermediate steps of a rotation, say) uses the user's key too. `atrest rehearse`'s runbook
//! relies on this: `atrest scenario rehearsal.yaml --config current=CURRENT.yaml --config
//! target=TARGET.yaml` reruns the plan with the user's own keys.

use std::collections::BTreeMap;

use atrest_config::{EncryptionConfiguration, ProviderKind};

/// A placeholder bound to a key of the user's file.
pub(crate) struct Binding {
    /// The placeholder name (`${key:NAME…}`).
    pub(crate) name: String,
    /// Bytes the placeholder asks for.
    pub(crate) bytes: usize,
    /// Bytes the user's key has.
    pub(crate) user_bytes: usize,
    /// Provider and key name, for messages.
    pub(crate) place: String,
    /// The user's base64 text.
    pub(crate) value: String,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("name", &self.name)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

fn keys(cfg: &EncryptionConfiguration) -> Vec<(ProviderKind, String, String)> {
    let mut out = Vec::new();
    for r in &cfg.resources {
        for p in &r.providers {
            let (kind, list) = match (&p.aescbc, &p.aesgcm, &p.secretbox) {
                (Some(a), _, _) => (ProviderKind::Aescbc, &a.keys),
                (_, Some(a), _) => (ProviderKind::Aesgcm, &a.keys),
                (_, _, Some(s)) => (ProviderKind::Secretbox, &s.keys),
                _ => continue,
            };
            for k in list {
                out.push((kind, k.name.clone(), k.secret.expose().to_owned()));
            }
        }
    }
    out
}

/// `${key:NAME}` / `${key:NAME:BYTES}` placeholders of a template: `(text, name, bytes)`.
fn placeholders(template: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${key:") {
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[..end];
        let (name, bytes) = match inner.split_once(':') {
            Some((n, b)) => (n, b.parse().unwrap_or(0)),
            None => (inner, 32),
        };
        if !name.is_empty() && bytes > 0 {
            out.push((format!("${{key:{inner}}}"), name.to_owned(), bytes));
        }
        rest = &after[end + 1..];
    }
    out
}

/// The placeholders of `template` that a key of `user` stands in for. Nothing when either does
/// not decode, or when the user's file holds one provider and key name with two secrets.
pub(crate) fn bindings(template: &str, user: &str) -> Vec<Binding> {
    let found = placeholders(template);
    if found.is_empty() {
        return Vec::new();
    }
    // Each placeholder becomes a sentinel the decoder keeps as the key's secret text.
    let mut marked = template.to_owned();
    for (i, (text, _, _)) in found.iter().enumerate() {
        marked = marked.replace(text.as_str(), &format!("atrestplaceholder{i}x"));
    }
    let (Ok(t), Ok(u)) = (
        atrest_config::decode::decode(marked.as_bytes()),
        atrest_config::decode::decode(user.as_bytes()),
    ) else {
        return Vec::new();
    };
    let mut theirs: BTreeMap<(ProviderKind, String), Option<String>> = BTreeMap::new();
    for (kind, name, secret) in keys(&u.config) {
        theirs
            .entry((kind, name))
            .and_modify(|v| {
                if v.as_deref() != Some(secret.as_str()) {
                    *v = None;
                }
            })
            .or_insert(Some(secret));
    }
    let mut out: Vec<Binding> = Vec::new();
    for (kind, key_name, secret) in keys(&t.config) {
        let Some(i) = secret
            .strip_prefix("atrestplaceholder")
            .and_then(|s| s.strip_suffix('x'))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let (Some((_, name, bytes)), Some(Some(value))) =
            (found.get(i), theirs.get(&(kind, key_name.clone())))
        else {
            continue;
        };
        if out.iter().any(|b| b.name == *name) {
            continue;
        }
        let user_bytes = atrest_config::decode_std_base64(value).map_or(0, |b| b.len());
        out.push(Binding {
            name: name.clone(),
            bytes: *bytes,
            user_bytes,
            place: format!("{kind} key {key_name:?}"),
            value: value.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key2\n        secret: ${key:k2}\n      - name: key1\n        secret: ${key:k1:16}\n  - identity: {}\n";

    #[test]
    fn keys_bind_by_provider_and_name() {
        let user = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0IGlzIHNlY3VyZQ==\n";
        let b = bindings(TEMPLATE, user);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!((b[0].name.as_str(), b[0].bytes, b[0].user_bytes), ("k1", 16, 16));
        assert_eq!(b[0].place, "aescbc key \"key1\"");
        assert!(!format!("{b:?}").contains("c2Vj"), "Debug shows no key");
    }

    #[test]
    fn undecodable_files_bind_nothing() {
        assert!(bindings(TEMPLATE, "{not yaml").is_empty());
        assert!(bindings("no placeholders", "x").is_empty());
    }
}
