//! `apiVersion`/`kind`: Go's case-insensitive reading, group/version parsing, and the other
//! kinds the loader's scheme registers.

use super::*;

/// The type Go's `SimpleMetaFactory.Interpret` decodes into, as `%v` prints it.
pub(super) const FIND_KIND_TYPE: &str = "struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }";
/// `SimpleMetaFactory.Interpret`: Go's case-insensitive `encoding/json` into
/// `struct{APIVersion, Kind string}`; the first type error wins, later keys override earlier ones.
pub(super) fn interpret(root: &JNode) -> Result<(String, String), DecodeError> {
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
pub(super) fn go_fold_eq(key: &str, lower_ascii: &str) -> bool {
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
pub(super) fn parse_group_version(gv: &str) -> Result<(String, String), DecodeError> {
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
pub(super) fn other_registered_kind(
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
pub(super) fn other_kind_unknown_fields(
    root: &JNode,
    known: &[&str],
) -> Vec<(StrictError, Position)> {
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
