//! Decoding errors and their upstream texts.

use super::*;

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

pub(super) fn not_registered(group: &str, version: &str, kind: &str) -> String {
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

pub(super) fn type_target(context: &Option<(String, String)>, go_type: &str) -> String {
    match context {
        Some((s, f)) => format!("Go struct field {s}.{f} of type {go_type}"),
        None => format!("Go value of type {go_type}"),
    }
}

pub(super) fn join_strict(errors: &[StrictError]) -> String {
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

/// The strict decoding error: go-yaml's duplicate-key complaint first, then the field errors.
pub(super) fn strict_error(
    yaml_lines: Vec<String>,
    fields: Vec<(StrictError, Position)>,
) -> DecodeError {
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
