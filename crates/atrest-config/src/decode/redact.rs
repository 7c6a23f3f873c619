//! Which bytes of a configuration's source are key material, so that texts echoing the source
//! print `REDACTED` there.
//!
//! Redaction goes by position, not by look. A value is key material when it sits
//!
//! - under a secret-like field ([`is_secret_like`]: `secret` in any case, a misspelling of it
//!   such as `secert`, any name containing `secret`, or `key`): the whole value, whatever its
//!   tag (`!!int`, `!!binary`, a custom one), style (plain, quoted, block, flow) or shape;
//! - anywhere inside an `aescbc`, `aesgcm`, `secretbox` or `keys` value: every scalar except the
//!   value of a `name` field, so that `secert: K` next to `name:` is covered too.
//!
//! The rule looks at field names at any depth and never at `kind` or at the path from the root:
//! a document whose kind is missing or unknown, a later document of the stream and a misplaced
//! `keys` list get the same treatment as a valid configuration. Aliases in such a place redact
//! their anchored node as well.
//!
//! Two text scans back the parse up (they only ever add): base64 tokens that look like key
//! material anywhere, and `secret`-like fields after the point where the YAML stopped parsing.

use std::ops::Range;

use saphyr_parser::{Event, Parser};

use super::tree::{JNode, JVal, LineIndex};
use super::{Budget, go_fold_eq};

/// Where a node sits, for redaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Ordinary configuration.
    Plain,
    /// Inside a provider's key list: every scalar is key material, except a key's `name`.
    KeyList,
    /// The value of a secret-like field: all of it is key material, keys of nested maps too.
    Secret,
}

impl Place {
    /// The place of the value of a mapping member whose key is `key` (`None`: not a scalar).
    pub(crate) fn member(self, key: Option<&str>) -> Place {
        match (self, key) {
            (Place::Secret, _) => Place::Secret,
            (_, Some(k)) if is_secret_like(k) => Place::Secret,
            (Place::KeyList, Some(k)) if go_fold_eq(k, "name") => Place::Plain,
            (_, Some(k))
                if ["aescbc", "aesgcm", "secretbox", "keys"].iter().any(|w| go_fold_eq(k, w)) =>
            {
                Place::KeyList
            }
            (place, _) => place,
        }
    }

    /// Whether a scalar value (or list item) here is key material.
    pub(crate) fn value_is_secret(self) -> bool {
        self != Place::Plain
    }

    /// Whether a mapping key here is key material.
    pub(crate) fn key_is_secret(self) -> bool {
        self == Place::Secret
    }
}

/// Whether a field name is `secret` or could be meant as it: any name containing `secret`
/// (case-insensitive, Go's folding) but the `secretbox` provider, a name within two edits of it
/// (`secert`, `scret`, `secrte`), or `key`.
pub(crate) fn is_secret_like(name: &str) -> bool {
    let lower: String = name
        .chars()
        .map(|c| match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    lower != "secretbox"
        && (lower.contains("secret")
            || lower == "key"
            || ((4..=8).contains(&lower.len()) && edit_distance(&lower, "secret") <= 2))
}

/// Optimal string alignment distance (insertions, deletions, substitutions, transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// What the position-based pass found: source ranges and the values as parsed.
#[derive(Debug, Default)]
struct Found {
    ranges: Vec<Range<usize>>,
    /// Parsed scalar values (unescaped, folded), which texts that print a value show.
    values: Vec<String>,
    /// Where parsing stopped before the end of the input (a syntax error), if it did.
    stopped_at: Option<usize>,
}

/// One open collection in the YAML event walk.
struct Frame {
    place: Place,
    map: bool,
    /// In a mapping: the next node is a key.
    next_is_key: bool,
    /// In a mapping: the place of the value that follows the last key.
    value_place: Place,
    /// The collection is the value of a secret-like field: redact it whole at its end.
    whole: bool,
    start: usize,
    anchor: usize,
}

/// Every YAML document of `text` (not only the first, which is all go-yaml reads: upstream
/// echoes the whole file).
fn yaml_pass(text: &str) -> Found {
    let index = LineIndex::new(text.as_bytes());
    let byte = |m: saphyr_parser::Marker| index.char_offset(m.index());
    let mut found = Found::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Range<usize>> =
        std::collections::HashMap::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            Err(e) => {
                found.stopped_at = Some(byte(*e.marker()).min(text.len()));
                break;
            }
        };
        let range = byte(span.start)..byte(span.end).max(byte(span.start));
        // The place of the node this event starts, and whether it is a mapping key.
        let mut place_of_new_node = |key_text: Option<&str>| -> (Place, bool) {
            let Some(top) = stack.last_mut() else {
                return (Place::Plain, false);
            };
            if !top.map {
                return (top.place, false);
            }
            if top.next_is_key {
                top.next_is_key = false;
                top.value_place = top.place.member(key_text);
                (top.place, true)
            } else {
                top.next_is_key = true;
                (top.value_place, false)
            }
        };
        match event {
            Event::Scalar(value, _, anchor, _) => {
                let (place, is_key) = place_of_new_node(Some(&value));
                let secret = if is_key { place.key_is_secret() } else { place.value_is_secret() };
                if secret {
                    found.ranges.push(range.clone());
                    found.values.push(value.into_owned());
                }
                if anchor != 0 {
                    anchors.insert(anchor, range);
                }
            }
            Event::Alias(anchor) => {
                let (place, is_key) = place_of_new_node(None);
                let secret = if is_key { place.key_is_secret() } else { place.value_is_secret() };
                if secret && let Some(target) = anchors.get(&anchor) {
                    found.ranges.push(target.clone());
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let (place, is_key) = place_of_new_node(None);
                let whole = if is_key { place.key_is_secret() } else { place == Place::Secret };
                stack.push(Frame {
                    place,
                    map: matches!(event, Event::MappingStart(..)),
                    next_is_key: true,
                    value_place: place,
                    whole,
                    start: range.start,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = stack.pop() {
                    let all = done.start..range.end.max(done.start);
                    if done.whole {
                        found.ranges.push(all.clone());
                    }
                    if done.anchor != 0 {
                        anchors.insert(done.anchor, all);
                    }
                }
            }
            Event::DocumentStart(_) | Event::DocumentEnd => stack.clear(),
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    found
}

/// The same rule over a JSON tree (JSON input, or the tree of a YAML document).
fn json_pass(n: &JNode, place: Place, found: &mut Found) {
    match &n.v {
        JVal::Arr(items) => items.iter().for_each(|i| json_pass(i, place, found)),
        JVal::Obj(members) => {
            for m in members {
                let inner = place.member(Some(&m.key));
                if inner == Place::Secret {
                    found.ranges.push(m.value.span.clone());
                    collect_strings(&m.value, &mut found.values);
                } else {
                    json_pass(&m.value, inner, found);
                }
            }
        }
        JVal::Str(s) if place.value_is_secret() => {
            found.ranges.push(n.span.clone());
            found.values.push(s.clone());
        }
        JVal::Num(t) | JVal::Unsupported(t) if place.value_is_secret() => {
            found.ranges.push(n.span.clone());
            found.values.push(t.clone());
        }
        _ => {}
    }
}

fn collect_strings(n: &JNode, out: &mut Vec<String>) {
    match &n.v {
        JVal::Str(s) | JVal::Num(s) | JVal::Unsupported(s) => out.push(s.clone()),
        JVal::Arr(items) => items.iter().for_each(|i| collect_strings(i, out)),
        JVal::Obj(members) => {
            for m in members {
                out.push(m.key.clone());
                collect_strings(&m.value, out);
            }
        }
        JVal::Null | JVal::Bool(_) => {}
    }
}

/// The position-based pass over the input bytes, ranges in `bytes`.
fn parsed(bytes: &[u8]) -> Found {
    if super::is_json_buffer(bytes) {
        let mut found = Found::default();
        match super::json::parse(bytes, &Budget::default()) {
            Ok(root) => json_pass(&root, Place::Plain, &mut found),
            Err(_) => found.stopped_at = Some(0),
        }
        return found;
    }
    let Ok(text) = super::yaml_text(bytes) else {
        return Found { stopped_at: Some(0), ..Found::default() };
    };
    let text = super::tabs_after_simple_keys(text);
    let mut found = yaml_pass(&text);
    found.ranges = found.ranges.iter().map(|r| text_range_to_raw(bytes, &text, r)).collect();
    found.stopped_at = found.stopped_at.map(|at| text_range_to_raw(bytes, &text, &(at..at)).start);
    found
}

/// Every range of `bytes` that is key material: the parse's, then the text scans', merged and
/// without trailing blanks.
fn ranges(bytes: &[u8], found: &Found) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> =
        found.ranges.iter().filter_map(|r| trim_range(bytes, r)).collect();
    // `secret:` values everywhere (as a second net); other secret-like names only where the
    // parse did not get to, where the scan stands in for it.
    let scan_from = found.stopped_at.unwrap_or(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hit = key_token_at(bytes, i).or_else(|| secret_value_at(bytes, i, i >= scan_from));
        match hit {
            Some(r) => {
                i = r.end.max(i + 1);
                ranges.push(r);
            }
            None => i += 1,
        }
    }
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// The texts a configuration holds as key material, for scrubbing texts atrest did not write
/// itself (the real kube-apiserver's log, which echoes the file in clear): each redacted range
/// of the source as [`echo`] replaces it (a quoted value without its quotes), and each value as
/// parsed. Longest first, so that a caller replacing them in order replaces a value whole.
pub fn secret_literals(bytes: &[u8]) -> Vec<String> {
    let found = parsed(bytes);
    let mut out: Vec<String> = Vec::new();
    for r in ranges(bytes, &found) {
        let raw = String::from_utf8_lossy(&bytes[r]).into_owned();
        let unquoted = match raw.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if last == q && raw.len() >= 2 => {
                raw[1..raw.len() - 1].to_owned()
            }
            _ => raw,
        };
        out.push(unquoted);
    }
    out.extend(found.values);
    out.retain(|s| !s.trim().is_empty());
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// The source as upstream echoes it, with every range of key material replaced by `REDACTED`
/// (a quoted value keeps its quotes).
pub(crate) fn echo(bytes: &[u8]) -> super::EchoedSource {
    let merged = ranges(bytes, &parsed(bytes));
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for r in &merged {
        out.extend_from_slice(&bytes[at..r.start]);
        let raw = &bytes[r.clone()];
        let quoted =
            raw.len() >= 2 && matches!(raw[0], b'"' | b'\'') && raw[raw.len() - 1] == raw[0];
        if quoted {
            out.push(raw[0]);
            out.extend_from_slice(b"REDACTED");
            out.push(raw[0]);
        } else {
            out.extend_from_slice(b"REDACTED");
        }
        at = r.end;
    }
    out.extend_from_slice(&bytes[at..]);
    super::EchoedSource {
        text: String::from_utf8_lossy(&out).into_owned(),
        redactions: merged.len(),
    }
}

/// Maps a byte range of the decoded YAML text back to the input bytes (the text lost a UTF-8
/// BOM, or was UTF-16).
fn text_range_to_raw(bytes: &[u8], text: &str, r: &Range<usize>) -> Range<usize> {
    let map = |off: usize| -> usize {
        let off = off.min(text.len());
        if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            // Spans fall on character boundaries; count UTF-16 units up to the offset.
            let units = text.get(..off).map_or(0, |t| t.encode_utf16().count());
            2 + 2 * units
        } else if bytes.starts_with(&[0xef, 0xbb, 0xbf]) {
            off + 3
        } else {
            off
        }
    };
    let start = map(r.start).min(bytes.len());
    start..map(r.end).clamp(start, bytes.len())
}

/// A range without its trailing blanks and line breaks (a block scalar's span runs to the next
/// token); `None` when nothing is left.
fn trim_range(bytes: &[u8], r: &Range<usize>) -> Option<Range<usize>> {
    let start = r.start.min(bytes.len());
    let mut end = r.end.clamp(start, bytes.len());
    while end > start && matches!(bytes[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    (end > start).then_some(start..end)
}

/// `s` with every key-looking base64 token replaced by `REDACTED`, and whether any was.
pub(super) fn redact_key_tokens(s: &str) -> (std::borrow::Cow<'_, str>, bool) {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut at = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(r) = key_token_at(b, i) {
            out.push_str(s.get(at..r.start).unwrap_or_default());
            out.push_str("REDACTED");
            at = r.end;
            i = r.end;
        } else {
            i += 1;
        }
    }
    if at == 0 {
        return (std::borrow::Cow::Borrowed(s), false);
    }
    out.push_str(s.get(at..).unwrap_or_default());
    (std::borrow::Cow::Owned(out), true)
}

/// Whether a string looks like base64 key material: at least 24 characters, decodes (Go's rules)
/// to 16 bytes or more, and holds a digit, `+`, `/` or `=` (so plain words do not qualify).
pub(crate) fn looks_like_key_material(s: &str) -> bool {
    s.len() >= 24
        && s.bytes().any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'='))
        && crate::types::decode_std_base64(s).is_ok_and(|b| b.len() >= 16)
}

/// [`looks_like_key_material`] once whitespace is removed: a multi-line or folded value prints
/// with line breaks or spaces inside the base64.
pub(crate) fn looks_like_key_material_loose(s: &str) -> bool {
    if !s.bytes().any(|b| b.is_ascii_whitespace()) {
        return looks_like_key_material(s);
    }
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    looks_like_key_material(&compact)
}

/// The byte range of a key-looking base64 token starting at `i` (delimited like a YAML or JSON
/// scalar), for echoes of the source.
fn key_token_at(b: &[u8], i: usize) -> Option<Range<usize>> {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=');
    if i > 0 && is_b64(b[i - 1]) {
        return None;
    }
    let end = i + b.get(i..)?.iter().take_while(|c| is_b64(**c)).count();
    let token = std::str::from_utf8(b.get(i..end)?).ok()?;
    looks_like_key_material(token).then_some(i..end)
}

/// If a `secret` key (bare or quoted; with `loose`, any [`is_secret_like`] name) starts at `i`,
/// the byte range of its non-empty value: a quoted scalar to its closing quote, a plain scalar
/// to the end of the line and over the more indented lines that continue it, a block scalar
/// (`|`, `>`) from its indicator over its content lines. Only a fallback for text the parse did
/// not reach, so it errs on the side of redacting more.
fn secret_value_at(b: &[u8], i: usize, loose: bool) -> Option<Range<usize>> {
    let boundary = i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b'{' | b',' | b'-');
    let (key_quote, start) = match b.get(i)? {
        b'"' | b'\'' if boundary => (Some(b[i]), i + 1),
        _ if boundary => (None, i),
        _ => return None,
    };
    // Field names are short; the cap keeps a long run of `-x-x-x` linear.
    let name_len = b
        .get(start..)?
        .iter()
        .take(64)
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
        .count();
    let name = std::str::from_utf8(b.get(start..start + name_len)?).ok()?;
    let wanted = if loose { is_secret_like(name) } else { name == "secret" };
    if !wanted {
        return None;
    }
    let mut j = start + name_len;
    if let Some(q) = key_quote {
        if b.get(j) != Some(&q) {
            return None;
        }
        j += 1;
    }
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    if b.get(j) != Some(&b':') {
        return None;
    }
    j += 1;
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let v = j;
    let key_column = i - b[..i].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
    match b.get(v) {
        Some(q @ (b'"' | b'\'')) => {
            let q = *q;
            let mut k = v + 1;
            let end = loop {
                match b.get(k) {
                    None => break k,
                    Some(b'\\') if q == b'"' => k += 2,
                    Some(c) if *c == q => {
                        if q == b'\'' && b.get(k + 1) == Some(&b'\'') {
                            k += 2;
                        } else {
                            break k + 1;
                        }
                    }
                    Some(_) => k += 1,
                }
            };
            let end = end.min(b.len());
            (end > v).then_some(v..end)
        }
        None => None,
        Some(_) => {
            let (first_end, stopped_at_flow) = plain_line_end(b, v);
            let line_done = !stopped_at_flow;
            let end = if line_done { continuation_end(b, first_end, key_column) } else { None };
            let from = if first_end > v {
                v
            } else {
                // Nothing on the key's line (or only a comment): the value starts below.
                let (from, _) = end?;
                from
            };
            let to = end.map_or(first_end, |(_, to)| to);
            (to > from).then_some(from..to)
        }
    }
}

/// End of a plain value on one line (before a flow indicator, a comment or the line break,
/// without trailing blanks), and whether a flow indicator ended it.
fn plain_line_end(b: &[u8], v: usize) -> (usize, bool) {
    let mut k = v;
    while k < b.len()
        && !matches!(b[k], b'\n' | b'\r' | b',' | b'}' | b']')
        && !(b[k] == b'#' && (k == v || matches!(b[k - 1], b' ' | b'\t')))
    {
        k += 1;
    }
    let flow = k < b.len() && matches!(b[k], b',' | b'}' | b']');
    let mut end = k;
    while end > v && matches!(b[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (end, flow)
}

/// The lines after `from`'s line that are indented deeper than `key_column` (blank lines in
/// between included): where their content starts and ends, if there are any.
fn continuation_end(b: &[u8], from: usize, key_column: usize) -> Option<(usize, usize)> {
    let mut k = from + b.get(from..)?.iter().position(|c| matches!(c, b'\n' | b'\r'))?;
    let mut found: Option<(usize, usize)> = None;
    while matches!(b.get(k), Some(b'\n' | b'\r')) {
        let line = k + 1;
        let indent = b.get(line..).unwrap_or_default().iter().take_while(|c| **c == b' ').count();
        let content = line + indent;
        let line_end = content
            + b.get(content..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| !matches!(c, b'\n' | b'\r'))
                .count();
        let blank = b[content..line_end].iter().all(|c| matches!(c, b' ' | b'\t' | b'\r'));
        if !blank {
            if indent <= key_column {
                break;
            }
            let (end, flow) = plain_line_end(b, content);
            if end > content {
                found = Some((found.map_or(content, |(s, _)| s), end));
            }
            if flow {
                break;
            }
        }
        k = line_end;
    }
    found
}
