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

mod json;
mod redact;
mod tree;
mod typed;
mod yaml;

pub use redact::secret_literals;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::goquote::go_quote;
use crate::types::{EncryptionConfiguration, TypeMeta};
use atrest_gostd::duration::DurationError;
use tree::{JNode, JVal};

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where a field sits in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    /// The key (`secret:`), for object members.
    pub key: Option<Position>,
    /// The value (or the list item, for `keys[0]`-style paths).
    pub value: Position,
}

impl FieldSpan {
    /// The position a diagnostic should point at: the key when there is one.
    pub fn position(&self) -> Position {
        self.key.unwrap_or(self.value)
    }
}

/// Field path (validation syntax: `resources[0].providers[1].aescbc.keys[0].secret`) → source
/// position. Paths use the v1 field names whatever the input spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanMap {
    spans: BTreeMap<String, FieldSpan>,
}

impl SpanMap {
    pub(crate) fn insert(&mut self, path: String, span: FieldSpan) {
        self.spans.insert(path, span);
    }

    /// The span recorded for exactly this path.
    pub fn field(&self, path: &str) -> Option<&FieldSpan> {
        self.spans.get(path)
    }

    /// The position for exactly this path.
    pub fn get(&self, path: &str) -> Option<Position> {
        self.field(path).map(FieldSpan::position)
    }

    /// The position for the path or, when the field is not in the file (a defaulted `timeout`,
    /// an empty list), for its closest written ancestor. Returns the path that matched.
    pub fn nearest<'p>(&self, path: &'p str) -> Option<(&'p str, Position)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.get(p) {
                return Some((p, pos));
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Every recorded path, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldSpan)> {
        self.spans.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of recorded paths.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

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

/// One strictness complaint inside a [`DecodeError::Strict`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrictError {
    /// `unknown field "<path>"`.
    UnknownField {
        /// Strict path, e.g. `resources[0].providers[0].aescbc.keyz`.
        path: String,
    },
    /// `duplicate field "<path>"` (JSON input).
    DuplicateField {
        /// Strict path.
        path: String,
    },
    /// go-yaml's duplicate-key complaints: `yaml: unmarshal errors:` + one `line N: key "x"
    /// already set in map` per duplicate.
    YamlDuplicateKeys {
        /// The `line N: …` entries.
        lines: Vec<String>,
    },
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::UnknownField { path } => {
                write!(f, "unknown field {}", go_quote(&redact::redact_key_tokens(path).0))
            }
            StrictError::DuplicateField { path } => {
                write!(f, "duplicate field {}", go_quote(&redact::redact_key_tokens(path).0))
            }
            StrictError::YamlDuplicateKeys { lines } => {
                write!(f, "yaml: unmarshal errors:\n  {}", lines.join("\n  "))
            }
        }
    }
}

impl StrictError {
    /// Whether upstream's text for this complaint holds key material that ours redacts (a
    /// key-looking field name, or a redacted `%#v` key in a duplicate-key line).
    fn redacts_key_material(&self) -> bool {
        match self {
            StrictError::UnknownField { path } | StrictError::DuplicateField { path } => {
                redact::redact_key_tokens(path).1
            }
            StrictError::YamlDuplicateKeys { lines } => {
                lines.iter().any(|l| l.contains("\"REDACTED\""))
            }
        }
    }
}

/// The type Go's `SimpleMetaFactory.Interpret` decodes into, as `%v` prints it.
const FIND_KIND_TYPE: &str = "struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }";

/// The scheme name upstream's `runtime.NewScheme()` records (its call site), as printed in
/// `no kind … is registered` errors.
pub const SCHEME_NAME: &str = "pkg/runtime/scheme.go:111";

/// Why a document could not be decoded. `Display` is upstream's inner text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A YAML syntax or composition error: `yaml: line 4: did not find expected key`.
    #[error("yaml: {}{problem}", .line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Yaml {
        /// The line go-yaml prints (its own convention, see `yaml.rs`), if any.
        line: Option<usize>,
        /// libyaml's problem text.
        problem: String,
        /// Where our parser saw the problem (atrest diagnostics).
        at: Option<Position>,
    },
    /// An error from sigs.k8s.io/yaml's conversion (e.g. a `null` map key).
    #[error("{message}")]
    YamlToJson {
        /// The text.
        message: String,
    },
    /// `json.Marshal` refused a YAML float (`.nan`, `.inf`).
    #[error("json: unsupported value: {value}")]
    JsonUnsupportedValue {
        /// `NaN`, `+Inf` or `-Inf`.
        value: String,
    },
    /// A JSON syntax error (JSON input).
    #[error("{message}")]
    JsonSyntax {
        /// Go's text, e.g. `invalid character '}' looking for beginning of object key string`.
        message: String,
        /// Where.
        at: Position,
    },
    /// Reading `apiVersion`/`kind` failed.
    #[error("couldn't get version/kind; json parse error: {source}")]
    MetaInterpret {
        /// The JSON syntax or type error.
        source: Box<DecodeError>,
    },
    /// `apiVersion` with more than one `/`.
    #[error("unexpected GroupVersion string: {text}")]
    GroupVersion {
        /// The apiVersion text.
        text: String,
    },
    /// No `kind`. Upstream echoes the whole file here; key secrets in it are replaced by
    /// `REDACTED`.
    #[error("Object 'Kind' is missing in '{}'", .source_text.text)]
    MissingKind {
        /// The echoed source.
        source_text: EchoedSource,
    },
    /// No `apiVersion` (or no version part). Same echo as [`DecodeError::MissingKind`].
    #[error("Object 'apiVersion' is missing in '{}'", .source_text.text)]
    MissingVersion {
        /// The echoed source.
        source_text: EchoedSource,
    },
    /// A kind the loader's scheme does not know.
    #[error("{}", not_registered(.group, .version, .kind))]
    NotRegistered {
        /// API group.
        group: String,
        /// Version.
        version: String,
        /// Kind.
        kind: String,
    },
    /// A kind the scheme knows that is not an encryption configuration. Upstream reports this
    /// outside the `error decoding …` wrapper.
    #[error("got unexpected config type: {group}/{version}, Kind={kind}")]
    UnexpectedConfigType {
        /// API group.
        group: String,
        /// Version.
        version: String,
        /// Kind.
        kind: String,
    },
    /// A value of the wrong JSON type.
    #[error("json: cannot unmarshal {value} into {}", type_target(.context, .go_type))]
    TypeMismatch {
        /// Go's value word: `string`, `number`, `number 3000000000`, `bool`, `array`, `object`.
        value: String,
        /// Innermost struct and dotted JSON field path, when inside a struct.
        context: Option<(String, String)>,
        /// Go type, e.g. `[]v1.Key`.
        go_type: String,
        /// Where the offending value is (atrest diagnostics).
        at: Option<Position>,
    },
    /// A `timeout` that `time.ParseDuration` rejects.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// Unknown or duplicate fields, or duplicate YAML keys.
    #[error("strict decoding error: {}", join_strict(.errors))]
    Strict {
        /// Every complaint, in upstream's order.
        errors: Vec<StrictError>,
        /// Where each complaint points (same order; atrest diagnostics).
        positions: Vec<Option<Position>>,
    },
    /// The input exceeds the [`Budget`] (atrest-only; upstream has no such limit).
    #[error("input exceeds the decoding budget: more than {limit} {what}")]
    Budget {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Source text echoed into an error, with key secrets replaced by `REDACTED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoedSource {
    /// The text as printed.
    pub text: String,
    /// How many secrets were replaced: when non-zero, the real apiserver prints key material here.
    pub redactions: usize,
}

fn not_registered(group: &str, version: &str, kind: &str) -> String {
    if version == "__internal" {
        format!(
            "no kind {} is registered for the internal version of group {} in scheme {}",
            go_quote(kind),
            go_quote(group),
            go_quote(SCHEME_NAME)
        )
    } else {
        let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
        format!(
            "no kind {} is registered for version {} in scheme {}",
            go_quote(kind),
            go_quote(&gv),
            go_quote(SCHEME_NAME)
        )
    }
}

fn type_target(context: &Option<(String, String)>, go_type: &str) -> String {
    match context {
        Some((s, f)) => format!("Go struct field {s}.{f} of type {go_type}"),
        None => format!("Go value of type {go_type}"),
    }
}

fn join_strict(errors: &[StrictError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl DecodeError {
    /// Where the problem is, when known (atrest diagnostics; upstream prints no positions).
    pub fn position(&self) -> Option<Position> {
        match self {
            DecodeError::Yaml { at, .. } => *at,
            DecodeError::JsonSyntax { at, .. } => Some(*at),
            DecodeError::TypeMismatch { at, .. } => *at,
            DecodeError::MetaInterpret { source } => source.position(),
            DecodeError::Strict { positions, .. } => positions.iter().flatten().next().copied(),
            _ => None,
        }
    }

    /// Whether upstream's text for this error would contain key material that ours redacts.
    pub fn upstream_prints_key_material(&self) -> bool {
        match self {
            DecodeError::MissingKind { source_text }
            | DecodeError::MissingVersion { source_text } => source_text.redactions > 0,
            // Composition errors print YAML values with `%#v`, tag mismatches with backquotes;
            // ours redact key-like strings.
            DecodeError::Yaml { problem, .. } | DecodeError::YamlToJson { message: problem } => {
                problem.contains("\"REDACTED\"") || problem.contains("`REDACTED`")
            }
            DecodeError::MetaInterpret { source } => source.upstream_prints_key_material(),
            DecodeError::Strict { errors, .. } => {
                errors.iter().any(StrictError::redacts_key_material)
            }
            _ => false,
        }
    }
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

/// The strict decoding error: go-yaml's duplicate-key complaint first, then the field errors.
fn strict_error(yaml_lines: Vec<String>, fields: Vec<(StrictError, Position)>) -> DecodeError {
    let mut errors = Vec::new();
    let mut positions = Vec::new();
    if !yaml_lines.is_empty() {
        errors.push(StrictError::YamlDuplicateKeys { lines: yaml_lines });
        positions.push(None);
    }
    for (e, at) in fields {
        errors.push(e);
        positions.push(Some(at));
    }
    DecodeError::Strict { errors, positions }
}

/// `utilyaml.IsJSONBuffer`: the first non-space rune is `{`.
fn is_json_buffer(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(4096)).unwrap_or_default());
    text.trim_start().starts_with('{')
}

/// libyaml (YAML 1.1) accepts a tab as the separator after a mapping key's `:`; saphyr does not.
/// For a line that is just `key:<tab>value` with a plain key, the tab is separation whitespace in
/// both readings, so it is replaced by a space (one character for one: positions do not move).
fn tabs_after_simple_keys(text: String) -> String {
    if !text.contains(":\t") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let body = body.strip_prefix("- ").unwrap_or(body);
        let simple_key = body.find(":\t").is_some_and(|i| {
            i > 0
                && body[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
        if simple_key {
            out.push_str(&line.replacen(":\t", ": ", 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// What go-yaml's reader makes of the bytes: BOM handling, UTF-8 validation and its
/// "control characters are not allowed" rule (checked over the whole input).
fn yaml_text(bytes: &[u8]) -> Result<String, DecodeError> {
    let reader =
        |problem: &str| DecodeError::Yaml { line: None, problem: problem.to_owned(), at: None };
    let text = if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        utf16(rest, u16::from_le_bytes).ok_or_else(|| reader("incomplete UTF-16 character"))?
    } else if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        utf16(rest, u16::from_be_bytes).ok_or_else(|| reader("incomplete UTF-16 character"))?
    } else {
        let body = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
        go_yaml_utf8(body).map_err(reader)?
    };
    for c in text.chars() {
        let allowed = matches!(u32::from(c),
            0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x1_0000..=0x10_ffff);
        if !allowed {
            return Err(reader("control characters are not allowed"));
        }
    }
    Ok(text)
}

fn utf16(bytes: &[u8], conv: fn([u8; 2]) -> u16) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|c| conv([c[0], c[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

/// go-yaml's UTF-8 reader checks, in its order.
fn go_yaml_utf8(bytes: &[u8]) -> Result<String, &'static str> {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let width = if b & 0x80 == 0 {
            1
        } else if b & 0xe0 == 0xc0 {
            2
        } else if b & 0xf0 == 0xe0 {
            3
        } else if b & 0xf8 == 0xf0 {
            4
        } else {
            return Err("invalid leading UTF-8 octet");
        };
        if i + width > bytes.len() {
            return Err("incomplete UTF-8 octet sequence");
        }
        let mut value = u32::from(match width {
            1 => b & 0x7f,
            2 => b & 0x1f,
            3 => b & 0x0f,
            _ => b & 0x07,
        });
        for k in 1..width {
            let t = bytes[i + k];
            if t & 0xc0 != 0x80 {
                return Err("invalid trailing UTF-8 octet");
            }
            value = (value << 6) | u32::from(t & 0x3f);
        }
        let ok_len = width == 1
            || (width == 2 && value >= 0x80)
            || (width == 3 && value >= 0x800)
            || (width == 4 && value >= 0x1_0000);
        if !ok_len {
            return Err("invalid length of a UTF-8 sequence");
        }
        if (0xd800..=0xdfff).contains(&value) || value > 0x10_ffff {
            return Err("invalid Unicode character");
        }
        i += width;
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "invalid leading UTF-8 octet")
}

/// `SimpleMetaFactory.Interpret`: Go's case-insensitive `encoding/json` into
/// `struct{APIVersion, Kind string}`; the first type error wins, later keys override earlier ones.
fn interpret(root: &JNode) -> Result<(String, String), DecodeError> {
    let wrap = |e: DecodeError| DecodeError::MetaInterpret { source: Box::new(e) };
    let members = match &root.v {
        JVal::Null => return Ok((String::new(), String::new())),
        JVal::Obj(members) => members,
        other => {
            return Err(wrap(DecodeError::TypeMismatch {
                value: other.go_kind().to_owned(),
                context: None,
                go_type: FIND_KIND_TYPE.to_owned(),
                at: Some(root.pos),
            }));
        }
    };
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut first_error = None;
    for m in members {
        let (slot, name) = if go_fold_eq(&m.key, "apiversion") {
            (&mut api_version, "apiVersion")
        } else if go_fold_eq(&m.key, "kind") {
            (&mut kind, "kind")
        } else {
            continue;
        };
        match &m.value.v {
            JVal::Str(s) => *slot = s.clone(),
            JVal::Null => {}
            other => {
                first_error.get_or_insert_with(|| DecodeError::TypeMismatch {
                    value: other.go_kind().to_owned(),
                    context: Some((String::new(), name.to_owned())),
                    go_type: "string".to_owned(),
                    at: Some(m.value.pos),
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(wrap(e)),
        None => Ok((api_version, kind)),
    }
}

/// `bytes.EqualFold` against an ASCII lower-case word: ASCII letters fold, and so do the two
/// non-ASCII runes that simple-fold onto ASCII (K KELVIN SIGN → k, ſ LONG S → s).
fn go_fold_eq(key: &str, lower_ascii: &str) -> bool {
    let mut chars = key.chars();
    for want in lower_ascii.chars() {
        let Some(c) = chars.next() else {
            return false;
        };
        let folded = match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => c.to_ascii_lowercase(),
        };
        if folded != want {
            return false;
        }
    }
    chars.next().is_none()
}

/// `schema.ParseGroupVersion`.
fn parse_group_version(gv: &str) -> Result<(String, String), DecodeError> {
    if gv.is_empty() || gv == "/" {
        return Ok((String::new(), String::new()));
    }
    match gv.matches('/').count() {
        0 => Ok((String::new(), gv.to_owned())),
        1 => {
            let (g, v) = gv.split_once('/').unwrap_or((gv, ""));
            Ok((g.to_owned(), v.to_owned()))
        }
        _ => Err(DecodeError::GroupVersion { text: gv.to_owned() }),
    }
}

/// Kinds the loader's scheme registers besides the encryption configuration (from
/// `config-oracle kinds`), with their top-level JSON field names. Decoding them succeeds (unless a
/// field is unknown) and the loader then rejects the type. The unversioned meta kinds match on the
/// kind alone, whatever the group and version.
fn other_registered_kind(
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'static [&'static str]> {
    const OPTIONS: &[&str] = &[
        "labelSelector",
        "fieldSelector",
        "watch",
        "allowWatchBookmarks",
        "resourceVersion",
        "resourceVersionMatch",
        "timeoutSeconds",
        "limit",
        "continue",
        "sendInitialEvents",
        "gracePeriodSeconds",
        "preconditions",
        "orphanDependents",
        "propagationPolicy",
        "dryRun",
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "fieldManager",
        "fieldValidation",
        "force",
    ];
    let unversioned: Option<&'static [&'static str]> = match kind {
        "Status" => Some(&["metadata", "status", "message", "reason", "details", "code"]),
        "APIVersions" => Some(&["versions", "serverAddressByClientCIDRs"]),
        "APIGroupList" => Some(&["groups"]),
        "APIGroup" => Some(&["name", "versions", "preferredVersion", "serverAddressByClientCIDRs"]),
        "APIResourceList" => Some(&["groupVersion", "resources"]),
        _ => None,
    };
    if unversioned.is_some() {
        return unversioned;
    }
    let config_kinds = |kind: &str| -> Option<&'static [&'static str]> {
        Some(match kind {
            "AdmissionConfiguration" => &["plugins"],
            "AuthenticationConfiguration" => &["jwt", "anonymous"],
            "AuthorizationConfiguration" => &["authorizers"],
            "TracingConfiguration" => &["endpoint", "samplingRatePerMillion"],
            "WatchEvent" => &["type", "object"],
            _ => return None,
        })
    };
    match (group, version) {
        ("apiserver.config.k8s.io", "v1") => match kind {
            "CreateOptions" | "DeleteOptions" | "GetOptions" | "ListOptions" | "PatchOptions"
            | "UpdateOptions" => Some(OPTIONS),
            _ => config_kinds(kind),
        },
        ("apiserver.config.k8s.io", "__internal") => match kind {
            "EgressSelectorConfiguration" => Some(&["EgressSelections"]),
            "AdmissionConfiguration" => Some(&["Plugins"]),
            "AuthenticationConfiguration" => Some(&["JWT", "Anonymous"]),
            "AuthorizationConfiguration" => Some(&["Authorizers"]),
            "TracingConfiguration" => Some(&["Endpoint", "SamplingRatePerMillion"]),
            "WatchEvent" => Some(&["Type", "Object"]),
            _ => None,
        },
        ("apiserver.k8s.io", "__internal") => match kind {
            "AdmissionConfiguration" => Some(&["Plugins"]),
            "EgressSelectorConfiguration" => Some(&["EgressSelections"]),
            _ => None,
        },
        _ => None,
    }
}

/// Unknown top-level fields of another registered kind (only the top level is modelled).
fn other_kind_unknown_fields(root: &JNode, known: &[&str]) -> Vec<(StrictError, Position)> {
    let JVal::Obj(members) = &root.v else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for m in members {
        let k = m.key.as_str();
        if k == "kind" || k == "apiVersion" || known.contains(&k) {
            if !seen.insert(k) {
                out.push((StrictError::DuplicateField { path: k.to_owned() }, m.key_pos));
            }
            continue;
        }
        out.push((StrictError::UnknownField { path: k.to_owned() }, m.key_pos));
    }
    out
}
