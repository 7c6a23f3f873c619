//! Strict decoding of `EncryptionConfiguration` documents, YAML or JSON, with upstream's texts.
//!
//! Mirrors what kube-apiserver's loader does with the file bytes
//! (k8s.io/apiserver pkg/server/options/encryptionconfig/config.go `loadConfig`, through
//! k8s.io/apimachinery's strict `UniversalDecoder`):
//!
//! 1. Input whose first non-space character is `{` is JSON; everything else is YAML, converted
//!    to JSON by sigs.k8s.io/yaml (YAML 1.1 scalars, sorted keys,
//!    first document only).
//! 2. `apiVersion`/`kind` are read case-insensitively with Go's encoding/json
//!    (`SimpleMetaFactory.Interpret`); errors there read `couldn't get version/kind; json parse
//!    error: …`.
//! 3. The kind must be registered: `apiserver.config.k8s.io/v1` `EncryptionConfiguration`, or the
//!    legacy `v1` `EncryptionConfig`.
//! 4. The body is decoded strictly: unknown and duplicate fields, duplicate YAML keys and type
//!    mismatches all fail.
//!
//! [`DecodeError`]'s `Display` is the inner text upstream prints after
//! `error decoding encryption provider configuration file "<path>": `. Besides upstream's
//! behaviour, [`decode`] returns a [`SpanMap`] from validation-style field paths to source
//! positions, and enforces a [`Budget`] (input size, nesting, node count, alias expansion).

mod error;
mod input;
mod json;
mod meta;
mod redact;
mod span;
mod tree;
mod typed;
mod yaml;

pub use error::*;
use input::*;
use meta::*;
pub use redact::secret_literals;
pub use span::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::goquote::go_quote;
use crate::types::{EncryptionConfiguration, TypeMeta};
use atrest_gostd::duration::DurationError;
use tree::{JNode, JVal};

/// The largest encryption configuration decoded, in bytes (the default [`Budget::max_bytes`]).
/// Readers stop at one byte more, so that a larger file gets the decoder's own error.
pub const MAX_CONFIG_BYTES: usize = 4 << 20;

/// Limits that keep hostile input (alias bombs, deep nesting, huge files) cheap. Exceeding one
/// is a [`DecodeError::Budget`], an atrest-only error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Input size in bytes.
    pub max_bytes: usize,
    /// Nesting depth of collections.
    pub max_depth: usize,
    /// Parsed nodes.
    pub max_nodes: usize,
    /// Nodes visited while expanding YAML aliases (go-yaml's own ratio guard also applies).
    pub max_expanded_nodes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_bytes: MAX_CONFIG_BYTES,
            max_depth: 100,
            max_nodes: 200_000,
            max_expanded_nodes: 200_000,
        }
    }
}

/// Which syntax the input used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Starts (after whitespace) with `{`.
    Json,
    /// Anything else.
    Yaml,
}

/// A successfully decoded document (not yet defaulted or validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The configuration as written.
    pub config: EncryptionConfiguration,
    /// Field positions.
    pub spans: SpanMap,
    /// Input syntax.
    pub format: SourceFormat,
    /// `apiVersion: apiserver.config.k8s.io/__internal`: upstream decodes into the internal type
    /// and skips defaulting.
    pub internal_version: bool,
    /// Paths of `keys` lists written as `[]` (upstream prints them as `[]`, absent ones as
    /// `null`, in the provider-item validation errors).
    pub empty_key_lists: BTreeSet<String>,
}

/// What `sigs.k8s.io/yaml` makes of a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlToJson {
    /// `YAMLToJSON`'s output (compact JSON, keys sorted).
    pub json: String,
    /// `YAMLToJSONStrict`'s complaint (duplicate keys), if any.
    pub strict_error: Option<StrictError>,
}

/// `sigs.k8s.io/yaml.YAMLToJSON` (and the strict variant's duplicate-key check): go-yaml v2's
/// YAML 1.1 reading of the first document, as the JSON the strict decoder sees. Useful to show
/// why a value has the type it has (`yes` is `true`, `0x1F` is `31`).
pub fn yaml_to_json(bytes: &[u8], budget: &Budget) -> Result<YamlToJson, DecodeError> {
    if bytes.len() > budget.max_bytes {
        return Err(DecodeError::Budget { what: "bytes", limit: budget.max_bytes });
    }
    let text = tabs_after_simple_keys(yaml_text(bytes)?);
    let out = yaml::to_json(&text, budget)?;
    let mut json = String::new();
    write_json(&out.root, &mut json);
    let strict_error = (!out.strict_lines.is_empty())
        .then_some(StrictError::YamlDuplicateKeys { lines: out.strict_lines });
    Ok(YamlToJson { json, strict_error })
}

/// Go's compact `json.Marshal` of the tree.
fn write_json(n: &JNode, out: &mut String) {
    match &n.v {
        JVal::Null => out.push_str("null"),
        JVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JVal::Num(t) | JVal::Unsupported(t) => out.push_str(t),
        JVal::Str(s) => out.push_str(&crate::goquote::go_json_string(s)),
        JVal::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        JVal::Obj(members) => {
            out.push('{');
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&crate::goquote::go_json_string(&m.key));
                out.push(':');
                write_json(&m.value, out);
            }
            out.push('}');
        }
    }
}

/// Decodes with the default [`Budget`].
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    decode_with(bytes, &Budget::default())
}

/// Decodes `bytes` as kube-apiserver would, within `budget`.
pub fn decode_with(bytes: &[u8], budget: &Budget) -> Result<Decoded, DecodeError> {
    if bytes.len() > budget.max_bytes {
        return Err(DecodeError::Budget { what: "bytes", limit: budget.max_bytes });
    }
    let (format, root, yaml_strict) = if is_json_buffer(bytes) {
        json::check_valid(bytes).map_err(|e| DecodeError::MetaInterpret {
            source: Box::new(DecodeError::JsonSyntax {
                message: e.msg,
                at: tree::LineIndex::new(bytes).position(e.offset),
            }),
        })?;
        (SourceFormat::Json, json::parse(bytes, budget)?, Vec::new())
    } else {
        let text = tabs_after_simple_keys(yaml_text(bytes)?);
        let out = yaml::to_json(&text, budget)?;
        (SourceFormat::Yaml, out.root, out.strict_lines)
    };
    let (api_version, kind) = interpret(&root)?;
    let (group, version) = parse_group_version(&api_version)?;
    if kind.is_empty() {
        return Err(DecodeError::MissingKind { source_text: redact::echo(bytes) });
    }
    if version.is_empty() {
        return Err(DecodeError::MissingVersion { source_text: redact::echo(bytes) });
    }
    let (flavor, type_meta) = match (group.as_str(), version.as_str(), kind.as_str()) {
        ("apiserver.config.k8s.io", "v1", "EncryptionConfiguration") => {
            (typed::Flavor::V1, TypeMeta::V1)
        }
        ("", "v1", "EncryptionConfig") => (typed::Flavor::V1, TypeMeta::LegacyEncryptionConfig),
        ("apiserver.config.k8s.io", "__internal", "EncryptionConfiguration") => {
            (typed::Flavor::Internal, TypeMeta::V1)
        }
        _ => {
            if let Some(known) = other_registered_kind(&group, &version, &kind) {
                let unknown = other_kind_unknown_fields(&root, known);
                if unknown.is_empty() && yaml_strict.is_empty() {
                    return Err(DecodeError::UnexpectedConfigType { group, version, kind });
                }
                return Err(strict_error(yaml_strict, unknown));
            }
            return Err(DecodeError::NotRegistered { group, version, kind });
        }
    };
    let outcome = typed::Typed::run(&root, flavor, type_meta)?;
    if !yaml_strict.is_empty() || !outcome.strict.is_empty() {
        return Err(strict_error(yaml_strict, outcome.strict));
    }
    Ok(Decoded {
        config: outcome.config,
        spans: outcome.spans,
        format,
        internal_version: flavor == typed::Flavor::Internal,
        empty_key_lists: outcome.empty_key_lists,
    })
}
