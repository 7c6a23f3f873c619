//! Rendering: a text table and a JSON document, both streamable object by object (the caller
//! prints each [`ObjectReport`] as it arrives, then the summary), so a walk over a large etcd
//! holds no per-object list.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    ConfigKeyReport, InspectReport, KmsKeyIdSummary, ObjectReport, ObjectState, StateCounts,
    Verdict,
};

const STATE_WIDTH: usize = 14;
const RESOURCE_WIDTH: usize = 24;
const PROVIDER_WIDTH: usize = 10;
const KEY_WIDTH: usize = 16;
const SIZE_WIDTH: usize = 8;

/// The header line of the per-object table (no trailing newline).
pub fn object_header() -> String {
    format!(
        "{:<STATE_WIDTH$} {:<RESOURCE_WIDTH$} {:<PROVIDER_WIDTH$} {:<KEY_WIDTH$} {:>SIZE_WIDTH$}  ETCD KEY",
        "STATE", "RESOURCE", "PROVIDER", "KEY", "SIZE"
    )
}

/// One object as a table row, plus an indented second line for a plaintext object whose
/// configuration writes encrypted values and for an undecryptable one (upstream's error text).
/// No trailing newline.
pub fn object_line(o: &ObjectReport) -> String {
    let mut line = format!(
        "{:<STATE_WIDTH$} {:<RESOURCE_WIDTH$} {:<PROVIDER_WIDTH$} {:<KEY_WIDTH$} {:>SIZE_WIDTH$}  {}",
        o.state.name(),
        o.resource.to_string(),
        o.provider,
        o.key_name.as_deref().unwrap_or("-"),
        o.size,
        o.etcd_key
    );
    let indent = " ".repeat(STATE_WIDTH + 1);
    match &o.state {
        ObjectState::Plaintext { config_writes_encrypted: true } => {
            let _ = write!(
                line,
                "\n{indent}note: stored unencrypted, but the config writes {} encrypted; an update rewrites it",
                o.resource
            );
        }
        ObjectState::Undecryptable { error } => {
            let _ = write!(line, "\n{indent}error: {error}");
        }
        ObjectState::Current | ObjectState::Stale | ObjectState::Plaintext { .. } => {}
    }
    line
}

/// The verdict as a sentence: `still needed by N objects` or `safe to remove`, with what else
/// matters (it is a write key; undecryptable objects name it).
pub fn verdict_text(k: &ConfigKeyReport) -> String {
    let mut text = match k.verdict {
        Verdict::Needed { objects } => format!("still needed by {}", plural(objects, "object")),
        Verdict::SafeToRemove => "safe to remove".to_owned(),
    };
    if !k.writes_for.is_empty() {
        let rules = k.writes_for.join(", ");
        match k.verdict {
            Verdict::Needed { .. } => {
                let _ = write!(text, "; writes new {rules}");
            }
            Verdict::SafeToRemove => {
                let _ = write!(
                    text,
                    " as far as stored objects go, but it writes new {rules} (removing it changes the write key)"
                );
            }
        }
    }
    if k.undecryptable > 0 {
        let _ = write!(
            text,
            "; {} its name but cannot be read with it",
            plural_verb(
                k.undecryptable,
                "undecryptable object carries",
                "undecryptable objects carry"
            )
        );
    }
    text
}

/// A KMS key ID's verdict as a sentence: whether the plugin must keep that key version.
pub fn kms_key_id_text(k: &KmsKeyIdSummary) -> String {
    let mut text = match k.verdict {
        Verdict::Needed { objects } => {
            let mut text = format!("still needed by {}", plural(objects, "object"));
            if k.counts.stale > 0 {
                let _ =
                    write!(text, " ({} stale: an update or a rewrite moves them)", k.counts.stale);
            }
            text
        }
        Verdict::SafeToRemove if k.writes => "no stored object uses it yet".to_owned(),
        Verdict::SafeToRemove => "safe to retire in the plugin".to_owned(),
    };
    if k.writes {
        text.push_str("; the plugin's current key ID: new values are written with it");
    }
    if k.counts.undecryptable > 0 {
        let _ = write!(
            text,
            "; {} it but cannot be read",
            plural_verb(
                k.counts.undecryptable,
                "undecryptable object names",
                "undecryptable objects name"
            )
        );
    }
    text
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

fn plural_verb(n: u64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// Bytes in B, KiB, MiB or GiB with one decimal.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A left/right aligned table with two-space gaps, each line indented by two spaces.
fn table(out: &mut String, header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from(" ");
        for (i, cell) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count());
            text.push(' ');
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push(' ');
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

fn count_cells(c: &StateCounts) -> [String; 5] {
    [c.objects, c.current, c.stale, c.plaintext, c.undecryptable].map(|n| n.to_string())
}

/// The summary: totals, per resource, per stored provider/key, and a verdict per configured
/// key. Ends with a newline.
pub fn summary_text(r: &InspectReport) -> String {
    let mut out = String::new();
    let t = &r.totals;
    let _ = writeln!(
        out,
        "{} ({}); {} skipped (not a resource under {})",
        plural(t.objects, "object"),
        human_bytes(t.bytes),
        plural(r.skipped, "key"),
        r.etcd_prefix,
    );
    let _ = writeln!(
        out,
        "  current {}, stale {}, plaintext {}, undecryptable {}",
        t.current, t.stale, t.plaintext, t.undecryptable
    );

    let counts_header = ["OBJECTS", "CURRENT", "STALE", "PLAINTEXT", "UNDECRYPTABLE"];
    if !r.resources.is_empty() {
        out.push_str("\nBy resource:\n");
        let mut header = vec!["RESOURCE"];
        header.extend(counts_header);
        header.push("WRITES WITH");
        let rows: Vec<Vec<String>> = r
            .resources
            .iter()
            .map(|s| {
                let mut row = vec![s.resource.clone()];
                row.extend(count_cells(&s.counts));
                row.push(s.writes_with.to_string());
                row
            })
            .collect();
        table(&mut out, &header, &[false, true, true, true, true, true, false], &rows);
    }

    if !r.stored_keys.is_empty() {
        out.push_str("\nBy stored provider and key:\n");
        let mut header = vec!["PROVIDER", "KEY"];
        header.extend(counts_header);
        let rows: Vec<Vec<String>> = r
            .stored_keys
            .iter()
            .map(|s| {
                let mut row =
                    vec![s.provider.to_owned(), s.key.clone().unwrap_or_else(|| "-".into())];
                row.extend(count_cells(&s.counts));
                row
            })
            .collect();
        table(&mut out, &header, &[false, false, true, true, true, true, true], &rows);
    }

    if !r.kms_key_ids.is_empty() {
        out.push_str("\nKMS v2 key IDs:\n");
        let mut header = vec!["PROVIDER", "KEY ID", "DEKS"];
        header.extend(counts_header);
        header.push("VERDICT");
        let rows: Vec<Vec<String>> = r
            .kms_key_ids
            .iter()
            .map(|k| {
                let mut row = vec![k.provider.clone(), k.key_id.clone(), k.deks.to_string()];
                row.extend(count_cells(&k.counts));
                row.push(kms_key_id_text(k));
                row
            })
            .collect();
        table(&mut out, &header, &[false, false, true, true, true, true, true, true, false], &rows);
    }

    out.push_str("\nKeys in the config:\n");
    if r.config_keys.is_empty() {
        out.push_str("  (none: the config lists no providers)\n");
    }
    let rows: Vec<Vec<String>> = r
        .config_keys
        .iter()
        .map(|k| {
            vec![k.path.clone(), k.name.clone().unwrap_or_else(|| "-".into()), verdict_text(k)]
        })
        .collect();
    if !rows.is_empty() {
        table(&mut out, &["FIELD", "NAME", "VERDICT"], &[false, false, false], &rows);
    }
    out
}

#[derive(Serialize)]
struct ObjectJson<'a> {
    etcd_key: &'a str,
    resource: String,
    provider: &'a str,
    key: Option<&'a str>,
    size: usize,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_writes_encrypted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    config_key: Option<&'a str>,
}

/// One object as compact one-line JSON, fields in a fixed order.
pub fn object_json(o: &ObjectReport) -> String {
    let (config_writes_encrypted, error) = match &o.state {
        ObjectState::Plaintext { config_writes_encrypted } => {
            (Some(*config_writes_encrypted), None)
        }
        ObjectState::Undecryptable { error } => (None, Some(error.to_string())),
        ObjectState::Current | ObjectState::Stale => (None, None),
    };
    let view = ObjectJson {
        etcd_key: &o.etcd_key,
        resource: o.resource.to_string(),
        provider: o.provider,
        key: o.key_name.as_deref(),
        size: o.size,
        state: o.state.name(),
        config_writes_encrypted,
        error,
        config_key: o.config_key.as_deref(),
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string(&view).unwrap_or_default()
}

#[derive(Serialize)]
struct ConfigKeyJson<'a> {
    path: &'a str,
    provider: &'a str,
    name: Option<&'a str>,
    resources: &'a [String],
    writes_for: &'a [String],
    needed_by: u64,
    undecryptable: u64,
    verdict: &'static str,
    verdict_text: String,
}

#[derive(Serialize)]
struct KmsKeyIdJson<'a> {
    provider: &'a str,
    key_id: &'a str,
    deks: u64,
    counts: &'a StateCounts,
    writes: bool,
    verdict: &'static str,
    verdict_text: String,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    etcd_prefix: &'a str,
    skipped: u64,
    totals: &'a StateCounts,
    resources: &'a [crate::ResourceSummary],
    stored_keys: &'a [crate::StoredKeySummary],
    config_keys: Vec<ConfigKeyJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kms_key_ids: Vec<KmsKeyIdJson<'a>>,
}

/// The summary as pretty-printed JSON, fields in a fixed order.
pub fn summary_json(r: &InspectReport) -> String {
    let view = SummaryJson {
        etcd_prefix: &r.etcd_prefix,
        skipped: r.skipped,
        totals: &r.totals,
        resources: &r.resources,
        stored_keys: &r.stored_keys,
        config_keys: r
            .config_keys
            .iter()
            .map(|k| ConfigKeyJson {
                path: &k.path,
                provider: k.provider,
                name: k.name.as_deref(),
                resources: &k.resources,
                writes_for: &k.writes_for,
                needed_by: k.needed_by,
                undecryptable: k.undecryptable,
                verdict: match k.verdict {
                    Verdict::Needed { .. } => "needed",
                    Verdict::SafeToRemove => "safe-to-remove",
                },
                verdict_text: verdict_text(k),
            })
            .collect(),
        kms_key_ids: r
            .kms_key_ids
            .iter()
            .map(|k| KmsKeyIdJson {
                provider: &k.provider,
                key_id: &k.key_id,
                deks: k.deks,
                counts: &k.counts,
                writes: k.writes,
                verdict: match k.verdict {
                    Verdict::Needed { .. } => "needed",
                    Verdict::SafeToRemove => "safe-to-remove",
                },
                verdict_text: kms_key_id_text(k),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&view).unwrap_or_default()
}

/// Writes `{"objects": [...], "summary": {...}}` piece by piece: [`JsonStream::start`], one
/// [`JsonStream::object`] per object, then [`JsonStream::finish`]. Concatenated, the pieces
/// are one JSON document.
#[derive(Debug, Default)]
pub struct JsonStream {
    objects: u64,
}

impl JsonStream {
    /// The stream and its opening text.
    pub fn start() -> (JsonStream, &'static str) {
        (JsonStream::default(), "{\n  \"objects\": [")
    }

    /// The text for one more object.
    pub fn object(&mut self, o: &ObjectReport) -> String {
        let sep = if self.objects == 0 { "\n    " } else { ",\n    " };
        self.objects += 1;
        format!("{sep}{}", object_json(o))
    }

    /// The closing text, with the summary. Ends with a newline.
    pub fn finish(self, r: &InspectReport) -> String {
        let close = if self.objects == 0 { "]" } else { "\n  ]" };
        let summary = summary_json(r).replace('\n', "\n  ");
        format!("{close},\n  \"summary\": {summary}\n}}\n")
    }
}
