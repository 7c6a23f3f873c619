//! Strict typed decoding of the JSON tree into [`EncryptionConfiguration`].
//!
//! Mirrors sigs.k8s.io/json `UnmarshalStrict` (a fork of Go's encoding/json with `CaseSensitive`,
//! `DisallowUnknownFields`, `DisallowDuplicateFields`): unknown and duplicate fields are collected
//! with `resources[0].providers[1].aescbc.keyz`-style paths (at most 100, deduplicated); the
//! first type mismatch wins and hides them (`json: cannot unmarshal string into Go struct field
//! AESConfiguration.resources.providers.aescbc.keys of type []v1.Key`); an error from
//! `metav1.Duration.UnmarshalJSON` stops decoding at once.

use std::collections::{BTreeSet, HashSet};

use super::tree::{JMember, JNode, JVal};
use super::{DecodeError, FieldSpan, Position, SpanMap, StrictError};
use crate::types::{
    AesConfiguration, EncryptionConfiguration, GoDuration, IdentityConfiguration, Key, KeySecret,
    KmsConfiguration, ProviderConfiguration, ResourceConfiguration, SecretboxConfiguration,
    TypeMeta,
};

/// Which Go type the document decodes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `apiserver.config.k8s.io/v1` (and the legacy `EncryptionConfig` kind): JSON names.
    V1,
    /// `apiserver.config.k8s.io/__internal`: Go field names, no defaulting.
    Internal,
}

/// Field names per flavor: (v1 JSON name, internal Go name). The v1 name is also the span path.
const F_KIND: (&str, &str) = ("kind", "kind");
const F_API_VERSION: (&str, &str) = ("apiVersion", "apiVersion");
const F_RESOURCES: (&str, &str) = ("resources", "Resources");
const F_PROVIDERS: (&str, &str) = ("providers", "Providers");
const F_AESGCM: (&str, &str) = ("aesgcm", "AESGCM");
const F_AESCBC: (&str, &str) = ("aescbc", "AESCBC");
const F_SECRETBOX: (&str, &str) = ("secretbox", "Secretbox");
const F_IDENTITY: (&str, &str) = ("identity", "Identity");
const F_KMS: (&str, &str) = ("kms", "KMS");
const F_KEYS: (&str, &str) = ("keys", "Keys");
const F_NAME: (&str, &str) = ("name", "Name");
const F_SECRET: (&str, &str) = ("secret", "Secret");
const F_KMS_API_VERSION: (&str, &str) = ("apiVersion", "APIVersion");
const F_CACHESIZE: (&str, &str) = ("cachesize", "CacheSize");
const F_ENDPOINT: (&str, &str) = ("endpoint", "Endpoint");
const F_TIMEOUT: (&str, &str) = ("timeout", "Timeout");

pub(crate) struct Typed {
    flavor: Flavor,
    /// Strict path of the current position (`resources[0].providers`).
    strict_path: String,
    /// Canonical (v1) path for spans; equal to `strict_path` for v1.
    span_path: String,
    /// Type-error context: innermost struct name and the JSON names from the root.
    err_struct: Option<&'static str>,
    err_fields: Vec<&'static str>,
    saved: Option<DecodeError>,
    /// An error that stops decoding at once (upstream returns it from `d.value`).
    abort: Option<DecodeError>,
    strict: Vec<(StrictError, Position)>,
    seen_strict: HashSet<StrictError>,
    spans: SpanMap,
    empty_key_lists: BTreeSet<String>,
}

/// The outcome of typed decoding when it did not stop early.
pub(crate) struct TypedOutcome {
    pub(crate) config: EncryptionConfiguration,
    pub(crate) spans: SpanMap,
    /// Unknown/duplicate fields (upstream returns these as a strict decoding error), with the
    /// position of the offending key.
    pub(crate) strict: Vec<(StrictError, Position)>,
    /// Paths of `keys` lists written as `[]`.
    pub(crate) empty_key_lists: BTreeSet<String>,
}

impl Typed {
    pub(crate) fn run(
        root: &JNode,
        flavor: Flavor,
        type_meta: TypeMeta,
    ) -> Result<TypedOutcome, DecodeError> {
        let mut t = Typed {
            flavor,
            strict_path: String::new(),
            span_path: String::new(),
            err_struct: None,
            err_fields: Vec::new(),
            saved: None,
            abort: None,
            strict: Vec::new(),
            seen_strict: HashSet::new(),
            spans: SpanMap::default(),
            empty_key_lists: BTreeSet::new(),
        };
        let mut config = EncryptionConfiguration { type_meta, resources: Vec::new() };
        t.object(root, "EncryptionConfiguration", |t, m, name| match name {
            n if n == t.name(F_KIND) => {
                t.embedded_string(m, "kind");
                true
            }
            n if n == t.name(F_API_VERSION) => {
                t.embedded_string(m, "apiVersion");
                true
            }
            n if n == t.name(F_RESOURCES) => {
                t.field(m, F_RESOURCES, "EncryptionConfiguration", |t| {
                    config.resources = t.slice(&m.value, "ResourceConfiguration", |t, n| {
                        t.resource_configuration(n)
                    });
                });
                true
            }
            _ => false,
        });
        if let Some(err) = t.abort {
            return Err(err);
        }
        if let Some(err) = t.saved {
            return Err(err);
        }
        Ok(TypedOutcome {
            config,
            spans: t.spans,
            strict: t.strict,
            empty_key_lists: t.empty_key_lists,
        })
    }

    fn name(&self, names: (&'static str, &'static str)) -> &'static str {
        match self.flavor {
            Flavor::V1 => names.0,
            Flavor::Internal => names.1,
        }
    }

    fn go_type(&self, v1: &str) -> String {
        match self.flavor {
            Flavor::V1 => v1.to_owned(),
            Flavor::Internal => v1.replace("v1.", "apiserver."),
        }
    }

    fn save_type_error(&mut self, node: &JNode, value: String, go_type: String) {
        if self.saved.is_some() {
            return;
        }
        let context = self.err_struct.map(|s| (s.to_owned(), self.err_fields.join(".")));
        self.saved =
            Some(DecodeError::TypeMismatch { value, context, go_type, at: Some(node.pos) });
    }

    fn abort_with_context(&self, node: &JNode, value: &str, go_type: &str) -> DecodeError {
        let context = self.err_struct.map(|s| (s.to_owned(), self.err_fields.join(".")));
        DecodeError::TypeMismatch {
            value: value.to_owned(),
            context,
            go_type: go_type.to_owned(),
            at: Some(node.pos),
        }
    }

    fn strict_error(&mut self, err: StrictError, at: Position) {
        if self.strict.len() >= 100 || !self.seen_strict.insert(err.clone()) {
            return;
        }
        self.strict.push((err, at));
    }

    fn child_path(base: &str, name: &str) -> String {
        if base.is_empty() { name.to_owned() } else { format!("{base}.{name}") }
    }

    /// Decodes an object into a struct. `field` returns whether it knew the member (it decodes
    /// the value itself through [`Typed::field`]). Non-objects are type errors, `null` is a no-op.
    fn object(
        &mut self,
        node: &JNode,
        go_struct: &'static str,
        mut field: impl FnMut(&mut Self, &JMember, &str) -> bool,
    ) {
        let members = match &node.v {
            JVal::Obj(members) => members,
            JVal::Null => return,
            other => {
                let go_type = self.go_type(&format!("v1.{go_struct}"));
                self.save_type_error(node, other.go_kind().to_owned(), go_type);
                return;
            }
        };
        let mut seen: HashSet<&str> = HashSet::new();
        for m in members {
            if self.abort.is_some() {
                return;
            }
            let key = m.key.as_str();
            if field(self, m, key) {
                if !seen.insert(key) {
                    let path = Self::child_path(&self.strict_path, key);
                    self.strict_error(StrictError::DuplicateField { path }, m.key_pos);
                }
            } else {
                let path = Self::child_path(&self.strict_path, key);
                self.strict_error(StrictError::UnknownField { path }, m.key_pos);
            }
        }
    }

    /// Enters a known struct field: pushes the error context and the strict/span paths.
    fn field(
        &mut self,
        m: &JMember,
        names: (&'static str, &'static str),
        go_struct: &'static str,
        decode: impl FnOnce(&mut Self),
    ) {
        let name = self.name(names);
        let saved_struct = self.err_struct;
        let saved_fields = self.err_fields.len();
        let saved_strict = self.strict_path.len();
        let saved_span = self.span_path.len();
        self.err_struct = Some(go_struct);
        self.err_fields.push(name);
        self.strict_path = Self::child_path(&self.strict_path, name);
        self.span_path = Self::child_path(&self.span_path, names.0);
        self.spans
            .insert(self.span_path.clone(), FieldSpan { key: Some(m.key_pos), value: m.value.pos });
        decode(self);
        self.err_struct = saved_struct;
        self.err_fields.truncate(saved_fields);
        self.strict_path.truncate(saved_strict);
        self.span_path.truncate(saved_span);
    }

    /// `kind` / `apiVersion` of the embedded `TypeMeta` (already read by the meta pass).
    fn embedded_string(&mut self, m: &JMember, json_name: &'static str) {
        let saved_struct = self.err_struct;
        let saved_fields = self.err_fields.len();
        self.err_struct = Some("EncryptionConfiguration");
        self.err_fields.push("TypeMeta");
        self.err_fields.push(json_name);
        self.spans
            .insert(json_name.to_owned(), FieldSpan { key: Some(m.key_pos), value: m.value.pos });
        let _ = self.string(&m.value);
        self.err_struct = saved_struct;
        self.err_fields.truncate(saved_fields);
    }

    fn slice<T: Default>(
        &mut self,
        node: &JNode,
        elem: &'static str,
        mut decode: impl FnMut(&mut Self, &JNode) -> T,
    ) -> Vec<T> {
        let items = match &node.v {
            JVal::Arr(items) => items,
            JVal::Null => return Vec::new(),
            other => {
                let go_type = if elem == "string" {
                    "[]string".to_owned()
                } else {
                    self.go_type(&format!("[]v1.{elem}"))
                };
                self.save_type_error(node, other.go_kind().to_owned(), go_type);
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if self.abort.is_some() {
                break;
            }
            let saved_strict = self.strict_path.len();
            let saved_span = self.span_path.len();
            self.strict_path.push_str(&format!("[{i}]"));
            self.span_path.push_str(&format!("[{i}]"));
            self.spans.insert(self.span_path.clone(), FieldSpan { key: None, value: item.pos });
            out.push(decode(self, item));
            self.strict_path.truncate(saved_strict);
            self.span_path.truncate(saved_span);
        }
        out
    }

    fn string(&mut self, node: &JNode) -> String {
        match &node.v {
            JVal::Str(s) => s.clone(),
            JVal::Null => String::new(),
            other => {
                self.save_type_error(node, other.go_kind().to_owned(), "string".to_owned());
                String::new()
            }
        }
    }

    fn resource_configuration(&mut self, node: &JNode) -> ResourceConfiguration {
        let mut rc = ResourceConfiguration::default();
        self.object(node, "ResourceConfiguration", |t, m, name| match name {
            n if n == t.name(F_RESOURCES) => {
                t.field(m, F_RESOURCES, "ResourceConfiguration", |t| {
                    rc.resources = t.slice(&m.value, "string", Typed::string);
                });
                true
            }
            n if n == t.name(F_PROVIDERS) => {
                t.field(m, F_PROVIDERS, "ResourceConfiguration", |t| {
                    rc.providers = t.slice(&m.value, "ProviderConfiguration", |t, n| t.provider(n));
                });
                true
            }
            _ => false,
        });
        rc
    }

    fn provider(&mut self, node: &JNode) -> ProviderConfiguration {
        let mut p = ProviderConfiguration::default();
        self.object(node, "ProviderConfiguration", |t, m, name| {
            let s = "ProviderConfiguration";
            match name {
                n if n == t.name(F_AESGCM) => {
                    t.field(m, F_AESGCM, s, |t| p.aesgcm = t.aes(&m.value, "AESConfiguration"));
                    true
                }
                n if n == t.name(F_AESCBC) => {
                    t.field(m, F_AESCBC, s, |t| p.aescbc = t.aes(&m.value, "AESConfiguration"));
                    true
                }
                n if n == t.name(F_SECRETBOX) => {
                    t.field(m, F_SECRETBOX, s, |t| {
                        p.secretbox = t
                            .aes(&m.value, "SecretboxConfiguration")
                            .map(|a| SecretboxConfiguration { keys: a.keys });
                    });
                    true
                }
                n if n == t.name(F_IDENTITY) => {
                    t.field(m, F_IDENTITY, s, |t| {
                        p.identity = if matches!(m.value.v, JVal::Null) {
                            None
                        } else {
                            t.object(&m.value, "IdentityConfiguration", |_, _, _| false);
                            Some(IdentityConfiguration)
                        };
                    });
                    true
                }
                n if n == t.name(F_KMS) => {
                    t.field(m, F_KMS, s, |t| p.kms = t.kms(&m.value));
                    true
                }
                _ => false,
            }
        });
        p
    }

    fn aes(&mut self, node: &JNode, go_struct: &'static str) -> Option<AesConfiguration> {
        if matches!(node.v, JVal::Null) {
            return None;
        }
        let mut aes = AesConfiguration::default();
        self.object(node, go_struct, |t, m, name| {
            if name == t.name(F_KEYS) {
                t.field(m, F_KEYS, go_struct, |t| {
                    if matches!(&m.value.v, JVal::Arr(items) if items.is_empty()) {
                        t.empty_key_lists.insert(t.span_path.clone());
                    }
                    aes.keys = t.slice(&m.value, "Key", |t, n| t.key(n));
                });
                true
            } else {
                false
            }
        });
        Some(aes)
    }

    fn key(&mut self, node: &JNode) -> Key {
        let mut key = Key::default();
        self.object(node, "Key", |t, m, name| match name {
            n if n == t.name(F_NAME) => {
                t.field(m, F_NAME, "Key", |t| key.name = t.string(&m.value));
                true
            }
            n if n == t.name(F_SECRET) => {
                t.field(m, F_SECRET, "Key", |t| key.secret = KeySecret::new(t.string(&m.value)));
                true
            }
            _ => false,
        });
        key
    }

    fn kms(&mut self, node: &JNode) -> Option<KmsConfiguration> {
        if matches!(node.v, JVal::Null) {
            return None;
        }
        let mut kms = KmsConfiguration::default();
        let s = "KMSConfiguration";
        self.object(node, s, |t, m, name| match name {
            n if n == t.name(F_KMS_API_VERSION) => {
                t.field(m, F_KMS_API_VERSION, s, |t| kms.api_version = t.string(&m.value));
                true
            }
            n if n == t.name(F_NAME) => {
                t.field(m, F_NAME, s, |t| kms.name = t.string(&m.value));
                true
            }
            n if n == t.name(F_CACHESIZE) => {
                t.field(m, F_CACHESIZE, s, |t| kms.cachesize = t.int32(&m.value));
                true
            }
            n if n == t.name(F_ENDPOINT) => {
                t.field(m, F_ENDPOINT, s, |t| kms.endpoint = t.string(&m.value));
                true
            }
            n if n == t.name(F_TIMEOUT) => {
                t.field(m, F_TIMEOUT, s, |t| kms.timeout = t.duration(&m.value));
                true
            }
            _ => false,
        });
        Some(kms)
    }

    /// `*int32`: `null` leaves it unset; a number must be an integer that fits.
    fn int32(&mut self, node: &JNode) -> Option<i32> {
        match &node.v {
            JVal::Null => None,
            JVal::Num(text) => match text.parse::<i64>().ok().and_then(|n| i32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    self.save_type_error(node, format!("number {text}"), "int32".to_owned());
                    Some(0)
                }
            },
            other => {
                self.save_type_error(node, other.go_kind().to_owned(), "int32".to_owned());
                Some(0)
            }
        }
    }

    /// `*metav1.Duration`: its `UnmarshalJSON` decodes a string and parses it with Go's
    /// `time.ParseDuration`; any failure stops decoding.
    fn duration(&mut self, node: &JNode) -> Option<GoDuration> {
        match &node.v {
            JVal::Null => None,
            JVal::Str(s) => match GoDuration::parse(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.abort = Some(DecodeError::Duration(e));
                    None
                }
            },
            other => {
                self.abort = Some(self.abort_with_context(node, other.go_kind(), "string"));
                None
            }
        }
    }
}
