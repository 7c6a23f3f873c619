//! YAML input: what `sigs.k8s.io/yaml.YAMLToJSON` (and `YAMLToJSONStrict`) do with it.
//!
//! Mirrors sigs.k8s.io/yaml v1.6.0 yaml.go (`yamlToJSONTarget`, `convertToJSONableObject`) on top
//! of go.yaml.in/yaml/v2 v2.4.4: decode.go (decoding into `interface{}`, aliases and their
//! excessive-aliasing guard, merge keys, strict duplicate-key errors), resolve.go (YAML 1.1 scalar
//! resolution: `yes`/`on` are booleans, `0x1F` is an int, timestamps stay strings) and yaml.go
//! (`yaml: line N: …` error framing). Parsing itself uses `saphyr-parser`; its error messages are
//! mapped to libyaml's (see `map_scan_error`); the test-data README lists where they still differ.
//!
//! Only the first document is read, as go-yaml's `Unmarshal` does; later documents are ignored.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::redact::Place;
use super::tree::{JMember, JNode, JVal, LineIndex};
use super::{Budget, DecodeError, Position};
use crate::goquote::{go_format_float_g, go_json_float, go_quote};

const TAG_PREFIX: &str = "tag:yaml.org,2002:";
const STR_TAG: &str = "tag:yaml.org,2002:str";
const BOOL_TAG: &str = "tag:yaml.org,2002:bool";
const INT_TAG: &str = "tag:yaml.org,2002:int";
const FLOAT_TAG: &str = "tag:yaml.org,2002:float";
const NULL_TAG: &str = "tag:yaml.org,2002:null";
const TIMESTAMP_TAG: &str = "tag:yaml.org,2002:timestamp";
const BINARY_TAG: &str = "tag:yaml.org,2002:binary";
const MERGE_TAG: &str = "tag:yaml.org,2002:merge";

/// A parsed YAML node (go-yaml's `node`).
#[derive(Debug, Clone)]
enum Kind {
    Scalar {
        value: String,
        /// Full tag (`tag:yaml.org,2002:int`, `!foo`), empty when none.
        tag: String,
        /// libyaml's `plain_implicit`: a plain scalar without a tag (or with the `!` tag).
        implicit: bool,
    },
    Seq(Vec<usize>),
    /// Keys and values, alternating.
    Map(Vec<usize>),
    Alias {
        name: String,
        target: usize,
    },
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// 0-based line, as go-yaml's `node.line`.
    line: usize,
    pos: Position,
    span: std::ops::Range<usize>,
}

/// A value decoded into Go's `interface{}`.
#[derive(Debug, Clone, PartialEq)]
enum GoVal {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<GoNode>),
    Map(Vec<GoEntry>),
}

#[derive(Debug, Clone, PartialEq)]
struct GoNode {
    v: GoVal,
    pos: Position,
    span: std::ops::Range<usize>,
    /// Key material by its place in the document (`redact::Place`).
    secret: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct GoEntry {
    key: GoVal,
    key_pos: Position,
    key_secret: bool,
    value: GoNode,
}

/// A map being filled (by its own mapping node and the maps merged into it): the entries in
/// insertion order, and where each key is, so that a key is found without rescanning the entries.
#[derive(Default)]
struct MapBuilder {
    entries: Vec<GoEntry>,
    index: HashMap<MapKey, usize>,
}

/// A map key up to Go's interface equality (see [`go_key_eq`]), hashable.
#[derive(Debug, PartialEq, Eq, Hash)]
enum MapKey {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    /// The bits of a float that is not NaN, with `-0` as `0` (they compare equal).
    Float(u64),
    Str(String),
}

impl MapKey {
    /// `None` for keys equal to no other key: NaN, and collections (which never get this far).
    fn of(v: &GoVal) -> Option<MapKey> {
        Some(match v {
            GoVal::Nil => MapKey::Nil,
            GoVal::Bool(b) => MapKey::Bool(*b),
            GoVal::Int(i) => MapKey::Int(*i),
            GoVal::Uint(u) => MapKey::Uint(*u),
            GoVal::Float(f) if f.is_nan() => return None,
            GoVal::Float(f) => {
                MapKey::Float(if *f == 0.0 { 0.0_f64.to_bits() } else { f.to_bits() })
            }
            GoVal::Str(s) => MapKey::Str(s.clone()),
            GoVal::Seq(_) | GoVal::Map(_) => return None,
        })
    }
}

/// Result of reading YAML input.
pub(crate) struct YamlJson {
    /// The JSON tree (`None` for a stream without documents: Go's `null`).
    pub(crate) root: JNode,
    /// `yaml: unmarshal errors:` lines from the strict pass (duplicate keys), if any.
    pub(crate) strict_lines: Vec<String>,
}

/// YAML bytes → the JSON tree `YAMLToJSON` would produce, plus `YAMLToJSONStrict`'s complaints.
pub(crate) fn to_json(text: &str, budget: &Budget) -> Result<YamlJson, DecodeError> {
    let index = LineIndex::new(text.as_bytes());
    let (nodes, root) = parse_first_document(text, &index, budget)?;
    let Some(root) = root else {
        let pos = Position { line: 1, column: 1 };
        return Ok(YamlJson {
            root: JNode { v: JVal::Null, pos, span: 0..0 },
            strict_lines: Vec::new(),
        });
    };
    let secret = secret_nodes(&nodes, root);
    let mut lax = Decoder::new(&nodes, &secret, false, budget);
    let value = lax.document(root)?;
    let mut strict = Decoder::new(&nodes, &secret, true, budget);
    strict.document(root)?;
    let json = to_jsonable(value)?;
    if let Some(value) = first_unsupported(&json) {
        return Err(DecodeError::JsonUnsupportedValue { value: value.to_owned() });
    }
    Ok(YamlJson { root: json, strict_lines: strict.terrors })
}

/// Which nodes are key material by their place (the rule is `redact::Place`'s): texts that
/// print a value (a tag mismatch, `%#v` of a map key) print `REDACTED` for them. An alias in
/// such a place marks everything it refers to.
fn secret_nodes(nodes: &[Node], root: usize) -> Vec<bool> {
    let mut secret = vec![false; nodes.len()];
    // Each node is reached once from its parent; aliases are followed only by `mark_all`.
    let mut work = vec![(root, Place::Plain, false)];
    while let Some((id, place, is_key)) = work.pop() {
        let Some(n) = nodes.get(id) else {
            continue;
        };
        let here = if is_key { place.key_is_secret() } else { place.value_is_secret() };
        match &n.kind {
            Kind::Scalar { .. } => secret[id] |= here,
            Kind::Alias { target, .. } => {
                if here {
                    mark_all(nodes, *target, &mut secret);
                }
            }
            Kind::Seq(items) => {
                secret[id] |= place == Place::Secret;
                work.extend(items.iter().map(|i| (*i, place, false)));
            }
            Kind::Map(children) => {
                secret[id] |= place == Place::Secret;
                for pair in children.chunks(2) {
                    let [k, v] = pair else {
                        continue;
                    };
                    let key = match nodes.get(*k).map(|k| &k.kind) {
                        Some(Kind::Scalar { value, .. }) => Some(value.as_str()),
                        _ => None,
                    };
                    work.push((*k, place, true));
                    work.push((*v, place.member(key), false));
                }
            }
        }
    }
    secret
}

/// Marks `id` and everything under it (through aliases too) as key material.
fn mark_all(nodes: &[Node], id: usize, secret: &mut [bool]) {
    let mut work = vec![id];
    while let Some(id) = work.pop() {
        let Some(n) = nodes.get(id) else {
            continue;
        };
        if std::mem::replace(&mut secret[id], true) && !matches!(n.kind, Kind::Scalar { .. }) {
            // Already marked whole (a collection is marked only together with its contents).
            continue;
        }
        match &n.kind {
            Kind::Scalar { .. } => {}
            Kind::Alias { target, .. } => work.push(*target),
            Kind::Seq(items) | Kind::Map(items) => work.extend(items.iter().copied()),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Parsing (events → node arena).

fn parse_first_document(
    text: &str,
    index: &LineIndex,
    budget: &Budget,
) -> Result<(Vec<Node>, Option<usize>), DecodeError> {
    let mut parser = Parser::new_from_str(text);
    let mut nodes: Vec<Node> = Vec::new();
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    // Open containers: (node index, pending anchor-less key count is implicit in the vector).
    let mut stack: Vec<usize> = Vec::new();
    let mut root = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            // saphyr checks what follows a finished document; go-yaml never looks past the first
            // one, so a complete root means the document is done.
            Err(e)
                if root.is_some()
                    && stack.is_empty()
                    && e.info().ends_with("did not find expected <document start>") =>
            {
                break;
            }
            // saphyr counts flow nesting in a u8; go-yaml has no limit (Go's JSON decoder stops
            // at 10000). Either way it is a resource limit, not a syntax error.
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Err(DecodeError::Budget { what: "nested flow collections", limit: 255 });
            }
            Err(e) => return Err(map_scan_error(&e, text, index)),
        };
        if nodes.len() > budget.max_nodes {
            return Err(DecodeError::Budget { what: "nodes", limit: budget.max_nodes });
        }
        let start = span.start;
        let pos = Position { line: start.line(), column: start.col() + 1 };
        let line = start.line().saturating_sub(1);
        let byte_span = byte_range(index, span);
        let new_node = |kind: Kind| Node { kind, line, pos, span: byte_span.clone() };
        let created = match event {
            Event::StreamStart | Event::Nothing => None,
            Event::DocumentStart(_) => None,
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = stack.pop() {
                    // Extend the container's span to its end, for redaction ranges.
                    if let Some(n) = nodes.get_mut(done) {
                        n.span.end = byte_span.end.max(n.span.end);
                    }
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tag = full_tag(tag.as_deref());
                let implicit = (style == ScalarStyle::Plain && tag.is_empty()) || tag == "!";
                let id = nodes.len();
                nodes.push(new_node(Kind::Scalar { value: value.into_owned(), tag, implicit }));
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                Some(id)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let is_seq = matches!(event, Event::SequenceStart(..));
                let id = nodes.len();
                nodes.push(new_node(if is_seq {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                }));
                if anchor != 0 {
                    anchors.insert(anchor, id);
                }
                if stack.len() >= budget.max_depth {
                    return Err(DecodeError::Budget {
                        what: "nesting depth",
                        limit: budget.max_depth,
                    });
                }
                attach(&mut nodes, &stack, &mut root, id);
                stack.push(id);
                continue;
            }
            Event::Alias(anchor) => {
                let name = alias_name(text, index, span);
                let Some(target) = anchors.get(&anchor).copied() else {
                    return Err(DecodeError::Yaml {
                        line: None,
                        problem: format!("unknown anchor '{name}' referenced"),
                        at: Some(pos),
                    });
                };
                let id = nodes.len();
                nodes.push(new_node(Kind::Alias { name, target }));
                Some(id)
            }
        };
        if let Some(id) = created {
            attach(&mut nodes, &stack, &mut root, id);
        }
    }
    Ok((nodes, root))
}

fn attach(nodes: &mut [Node], stack: &[usize], root: &mut Option<usize>, id: usize) {
    match stack.last().and_then(|parent| nodes.get_mut(*parent)) {
        Some(Node { kind: Kind::Seq(items) | Kind::Map(items), .. }) => items.push(id),
        _ => {
            if root.is_none() {
                *root = Some(id);
            }
        }
    }
}

fn full_tag(tag: Option<&saphyr_parser::Tag>) -> String {
    match tag {
        None => String::new(),
        Some(t) if t.handle == "!" => format!("!{}", t.suffix),
        Some(t) => format!("{}{}", t.handle, t.suffix),
    }
}

/// The span's bytes, from the parser's character index (its line and column count a bare `\r`
/// as a line break, which [`LineIndex`] does not).
fn byte_range(index: &LineIndex, span: Span) -> std::ops::Range<usize> {
    let start = index.char_offset(span.start.index());
    let end = index.char_offset(span.end.index()).max(start);
    start..end
}

fn alias_name(text: &str, index: &LineIndex, span: Span) -> String {
    let r = byte_range(index, span);
    let raw = text.get(r).unwrap_or_default();
    raw.trim_start_matches('*').trim().to_owned()
}

/// Maps a saphyr error to go-yaml's `yaml: [line N: ]<problem>`.
///
/// go-yaml prints `problem_mark.line` (0-based) for parser errors and `problem_mark.line + 1` for
/// scanner errors, and no line at all when the problem is on the first line.
fn map_scan_error(e: &ScanError, text: &str, index: &LineIndex) -> DecodeError {
    let info = e.info();
    let tail = if info.starts_with("while ") {
        info.split_once(", ").map_or(info, |(_, t)| t)
    } else {
        info
    };
    let saphyr_line = e.marker().line();
    enum Style {
        Parser,
        Scanner,
        /// The problem mark is the end of the input.
        Eof,
        /// The problem mark is the first tab at or after the reported position.
        Tab,
        NoLine,
    }
    let (style, problem): (Style, String) = match tail {
        "did not find expected key"
        | "did not find expected ',' or '}'"
        | "did not find expected '-' indicator"
        | "did not find expected node content"
        | "did not find expected <document start>"
        | "did not find expected <stream-start>" => (Style::Parser, tail.to_owned()),
        "expected ',' or ']'" => (Style::Parser, "did not find expected ',' or ']'".to_owned()),
        "misplaced bracket" => {
            // libyaml's message depends on what the parser expected: a bracket that starts a
            // line after earlier content sits where a mapping key goes.
            let at = index.offset(saphyr_line, 0);
            let line_start = text.get(at..).unwrap_or_default();
            let first_on_line = line_start.trim_start_matches([' ', '\t']).starts_with([']', '}']);
            let content_before = text.get(..at).unwrap_or_default().lines().any(|l| {
                let t = l.trim_start();
                !t.is_empty() && !t.starts_with('#') && t != "---"
            });
            if first_on_line && content_before {
                (Style::Parser, "did not find expected key".to_owned())
            } else {
                (Style::Parser, "did not find expected node content".to_owned())
            }
        }
        "invalid trailing content after double-quoted scalar" => {
            (Style::Parser, "did not find expected key".to_owned())
        }
        "the handle wasn't declared" => (Style::Parser, "found undefined tag handle".to_owned()),
        "duplicate version directive" => {
            (Style::Parser, "found duplicate %YAML directive".to_owned())
        }
        "the TAG directive must only be given at most once per handle in the same document" => {
            (Style::Parser, "found duplicate %TAG directive".to_owned())
        }
        "found unknown anchor" => {
            let from = index.offset(saphyr_line, e.marker().col());
            let rest = text.get(from..).unwrap_or_default();
            let rest = rest.find('*').map_or(rest, |i| &rest[i + 1..]);
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
                .collect();
            (Style::NoLine, format!("unknown anchor '{name}' referenced"))
        }
        "simple key expect ':'" => (Style::Scanner, "could not find expected ':'".to_owned()),
        "found unexpected end of stream" => (Style::Eof, tail.to_owned()),
        // YAML 1.2 wants quoted continuation lines indented; libyaml does not care and only
        // fails when the quote never closes.
        "invalid indentation in quoted scalar"
            if !quote_closes(text, index.offset(saphyr_line + 1, 0)) =>
        {
            (Style::Eof, "found unexpected end of stream".to_owned())
        }
        "did not find expected hexadecimal number" => {
            (Style::Scanner, "did not find expected hexdecimal number".to_owned())
        }
        "tabs disallowed within this context (block indentation)" => {
            (Style::Scanner, "found character that cannot start any token".to_owned())
        }
        "found a tab" => (Style::Tab, "found a tab character that violates indentation".to_owned()),
        t if t.starts_with("unexpected character") => {
            (Style::Scanner, "found character that cannot start any token".to_owned())
        }
        t => (Style::Scanner, t.to_owned()),
    };
    let at = Some(Position { line: saphyr_line.max(1), column: e.marker().col() + 1 });
    let line0 = match style {
        Style::Parser => {
            let l0 = saphyr_line.saturating_sub(1);
            return DecodeError::Yaml { line: (l0 != 0).then_some(l0), problem, at };
        }
        Style::NoLine => return DecodeError::Yaml { line: None, problem, at },
        Style::Scanner => saphyr_line.saturating_sub(1),
        Style::Eof => count_breaks(text),
        Style::Tab => {
            let from = index.offset(saphyr_line, e.marker().col());
            let tab = text.get(from..).and_then(|rest| rest.find('\t')).map(|i| from + i);
            tab.map_or(saphyr_line.saturating_sub(1), |t| count_breaks(&text[..t]))
        }
    };
    DecodeError::Yaml { line: (line0 != 0).then_some(line0 + 1), problem, at }
}

/// Whether the quoted scalar opened by the last quote before `offset` (the end of the line saphyr
/// complained about) is closed later.
fn quote_closes(text: &str, offset: usize) -> bool {
    let head = text.get(..offset.min(text.len())).unwrap_or_default();
    let Some(open) = head.rfind(['"', '\'']) else {
        return true;
    };
    let quote = head.as_bytes()[open];
    let rest = &text.as_bytes()[open + 1..];
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && rest.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return true,
            _ => i += 1,
        }
    }
    false
}

/// libyaml's line count: `\r\n`, `\r`, `\n`, NEL, LS and PS each end a line.
fn count_breaks(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                n += 1;
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => n += 1,
            _ => {}
        }
    }
    n
}

// ----------------------------------------------------------------------------------------------
// Decoding into interface{} (go-yaml v2 decode.go).

struct Decoder<'a> {
    nodes: &'a [Node],
    /// `secret_nodes` of `nodes`.
    secret: &'a [bool],
    strict: bool,
    budget: &'a Budget,
    decode_count: usize,
    alias_count: usize,
    alias_depth: usize,
    active_aliases: Vec<usize>,
    terrors: Vec<String>,
}

fn yaml_err(problem: impl Into<String>) -> DecodeError {
    DecodeError::Yaml { line: None, problem: problem.into(), at: None }
}

/// go-yaml's `allowedAliasRatio`.
fn allowed_alias_ratio(decode_count: usize) -> f64 {
    const LOW: usize = 400_000;
    const HIGH: usize = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let frac = (decode_count - LOW) as f64 / (HIGH - LOW) as f64;
        0.99 - 0.89 * frac
    }
}

impl<'a> Decoder<'a> {
    fn new(nodes: &'a [Node], secret: &'a [bool], strict: bool, budget: &'a Budget) -> Self {
        Decoder {
            nodes,
            secret,
            strict,
            budget,
            decode_count: 0,
            alias_count: 0,
            alias_depth: 0,
            active_aliases: Vec::new(),
            terrors: Vec::new(),
        }
    }

    fn is_secret(&self, id: usize) -> bool {
        self.secret.get(id).copied().unwrap_or(false)
    }

    fn node(&self, id: usize) -> Result<&'a Node, DecodeError> {
        self.nodes.get(id).ok_or_else(|| yaml_err("internal error: dangling node"))
    }

    fn document(&mut self, root: usize) -> Result<GoNode, DecodeError> {
        // The document node itself counts, as in go-yaml.
        self.decode_count += 1;
        self.unmarshal(root)
    }

    fn count(&mut self) -> Result<(), DecodeError> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let ratio = self.alias_count as f64 / self.decode_count as f64;
        if self.alias_count > 100
            && self.decode_count > 1000
            && ratio > allowed_alias_ratio(self.decode_count)
        {
            return Err(yaml_err("document contains excessive aliasing"));
        }
        if self.decode_count > self.budget.max_expanded_nodes {
            return Err(DecodeError::Budget {
                what: "expanded nodes",
                limit: self.budget.max_expanded_nodes,
            });
        }
        Ok(())
    }

    fn unmarshal(&mut self, id: usize) -> Result<GoNode, DecodeError> {
        self.count()?;
        let n = self.node(id)?;
        match &n.kind {
            Kind::Alias { name, target } => {
                let mut out = self.enter_alias(id, name, *target, |d, t| d.unmarshal(t))?;
                // The alias's own position is where the value is used.
                out.pos = n.pos;
                Ok(out)
            }
            Kind::Scalar { value, tag, implicit } => {
                let secret = self.is_secret(id);
                let v = scalar(value, tag, *implicit, secret)?;
                Ok(GoNode { v, pos: n.pos, span: n.span.clone(), secret })
            }
            Kind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.unmarshal(*item)?);
                }
                let secret = self.is_secret(id);
                Ok(GoNode { v: GoVal::Seq(out), pos: n.pos, span: n.span.clone(), secret })
            }
            Kind::Map(children) => {
                let mut map = MapBuilder::default();
                self.mapping(children, &mut map)?;
                let secret = self.is_secret(id);
                Ok(GoNode { v: GoVal::Map(map.entries), pos: n.pos, span: n.span.clone(), secret })
            }
        }
    }

    fn enter_alias<T>(
        &mut self,
        id: usize,
        name: &str,
        target: usize,
        f: impl FnOnce(&mut Self, usize) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if self.active_aliases.contains(&id) {
            return Err(yaml_err(format!("anchor '{name}' value contains itself")));
        }
        self.active_aliases.push(id);
        self.alias_depth += 1;
        let out = f(self, target);
        self.alias_depth -= 1;
        self.active_aliases.pop();
        out
    }

    /// Decodes a mapping's children into `out` (a fresh map, or the map a merge key fills).
    fn mapping(&mut self, children: &[usize], out: &mut MapBuilder) -> Result<(), DecodeError> {
        for pair in children.chunks(2) {
            let [k, v] = pair else {
                continue;
            };
            if self.is_merge(*k)? {
                self.merge(*v, out)?;
                continue;
            }
            let key = self.unmarshal(*k)?;
            if matches!(key.v, GoVal::Seq(_) | GoVal::Map(_)) {
                return Err(yaml_err(format!(
                    "invalid map key: {}",
                    go_sharp_v(&key.v, false, key.secret)
                )));
            }
            let value = self.unmarshal(*v)?;
            let value_line = self.node(*v)?.line;
            self.set_map_index(out, key, value, value_line);
        }
        Ok(())
    }

    fn set_map_index(&mut self, out: &mut MapBuilder, key: GoNode, value: GoNode, line: usize) {
        let map_key = MapKey::of(&key.v);
        let found = map_key.as_ref().and_then(|k| out.index.get(k)).copied();
        if let Some(existing) = found.and_then(|i| out.entries.get_mut(i)) {
            debug_assert!(go_key_eq(&existing.key, &key.v), "MapKey follows go_key_eq");
            if self.strict {
                self.terrors.push(format!(
                    "line {}: key {} already set in map",
                    line + 1,
                    go_sharp_v(&key.v, false, key.secret)
                ));
                return;
            }
            existing.key_pos = key.pos;
            existing.value = value;
            return;
        }
        if let Some(k) = map_key {
            out.index.insert(k, out.entries.len());
        }
        out.entries.push(GoEntry { key: key.v, key_pos: key.pos, key_secret: key.secret, value });
    }

    fn is_merge(&self, id: usize) -> Result<bool, DecodeError> {
        Ok(match &self.node(id)?.kind {
            Kind::Scalar { value, tag, implicit } => {
                value == "<<" && (*implicit || tag == MERGE_TAG)
            }
            _ => false,
        })
    }

    fn merge(&mut self, id: usize, out: &mut MapBuilder) -> Result<(), DecodeError> {
        let want_map = || yaml_err("map merge requires map or sequence of maps as the value");
        let n = self.node(id)?;
        match &n.kind {
            Kind::Map(_) => self.merge_one(id, out),
            Kind::Alias { target, .. } => {
                if !matches!(self.node(*target)?.kind, Kind::Map(_)) {
                    return Err(want_map());
                }
                self.merge_one(id, out)
            }
            Kind::Seq(items) => {
                // Earlier maps take precedence, so go backwards.
                for item in items.iter().rev() {
                    match &self.node(*item)?.kind {
                        Kind::Alias { target, .. } => {
                            if !matches!(self.node(*target)?.kind, Kind::Map(_)) {
                                return Err(want_map());
                            }
                        }
                        Kind::Map(_) => {}
                        _ => return Err(want_map()),
                    }
                    self.merge_one(*item, out)?;
                }
                Ok(())
            }
            Kind::Scalar { .. } => Err(want_map()),
        }
    }

    /// `d.unmarshal(n, out)` where `out` is the existing map.
    fn merge_one(&mut self, id: usize, out: &mut MapBuilder) -> Result<(), DecodeError> {
        self.count()?;
        let n = self.node(id)?;
        match &n.kind {
            Kind::Alias { name, target } => {
                self.enter_alias(id, name, *target, |d, t| d.merge_one(t, out))
            }
            Kind::Map(children) => self.mapping(children, out),
            _ => Err(yaml_err("map merge requires map or sequence of maps as the value")),
        }
    }
}

/// Go interface equality for map keys.
fn go_key_eq(a: &GoVal, b: &GoVal) -> bool {
    match (a, b) {
        (GoVal::Nil, GoVal::Nil) => true,
        (GoVal::Bool(x), GoVal::Bool(y)) => x == y,
        (GoVal::Int(x), GoVal::Int(y)) => x == y,
        (GoVal::Uint(x), GoVal::Uint(y)) => x == y,
        (GoVal::Float(x), GoVal::Float(y)) => x == y,
        (GoVal::Str(x), GoVal::Str(y)) => x == y,
        _ => false,
    }
}

/// go-yaml's `d.scalar` into an `interface{}`.
fn scalar(value: &str, tag: &str, implicit: bool, secret: bool) -> Result<GoVal, DecodeError> {
    if tag.is_empty() && !implicit {
        return Ok(GoVal::Str(value.to_owned()));
    }
    let (rtag, resolved) = resolve(tag, value, secret)?;
    if rtag == BINARY_TAG {
        let GoVal::Str(text) = &resolved else {
            return Ok(resolved);
        };
        let bytes = crate::types::decode_std_base64(text)
            .map_err(|_| yaml_err("!!binary value contains invalid base64 data"))?;
        return Ok(GoVal::Str(String::from_utf8_lossy(&bytes).into_owned()));
    }
    if rtag == TIMESTAMP_TAG {
        // Timestamps decoded into interface{} stay strings (go-yaml v2 compatibility rule).
        return Ok(GoVal::Str(value.to_owned()));
    }
    Ok(resolved)
}

fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_owned(),
    }
}

/// go-yaml v2 `resolve`.
fn resolve(tag: &str, input: &str, secret: bool) -> Result<(String, GoVal), DecodeError> {
    let resolvable =
        matches!(tag, "" | STR_TAG | BOOL_TAG | INT_TAG | FLOAT_TAG | NULL_TAG | TIMESTAMP_TAG);
    if !resolvable {
        return Ok((tag.to_owned(), GoVal::Str(input.to_owned())));
    }
    let (rtag, out) = resolve_plain(tag, input);
    match tag {
        "" | STR_TAG | BINARY_TAG => Ok((rtag.to_owned(), out)),
        t if t == rtag => Ok((rtag.to_owned(), out)),
        FLOAT_TAG if rtag == INT_TAG => {
            #[expect(clippy::cast_precision_loss, reason = "Go converts the int the same way")]
            let f = match out {
                GoVal::Int(i) => i as f64,
                GoVal::Uint(_) => return Err(tag_mismatch(rtag, input, tag, secret)),
                _ => 0.0,
            };
            Ok((FLOAT_TAG.to_owned(), GoVal::Float(f)))
        }
        _ => Err(tag_mismatch(rtag, input, tag, secret)),
    }
}

/// go-yaml prints the scalar verbatim; key material (by its place, or by its look) prints as
/// `REDACTED` (upstream prints it).
fn tag_mismatch(rtag: &str, input: &str, tag: &str, secret: bool) -> DecodeError {
    let shown = if secret || super::redact::looks_like_key_material_loose(input) {
        "REDACTED"
    } else {
        input
    };
    yaml_err(format!("cannot decode {} `{}` as a {}", short_tag(rtag), shown, short_tag(tag)))
}

fn resolve_plain(tag: &str, input: &str) -> (&'static str, GoVal) {
    let hint = match input.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == STR_TAG || tag == BINARY_TAG {
        return (STR_TAG, GoVal::Str(input.to_owned()));
    }
    match input {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return (BOOL_TAG, GoVal::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return (BOOL_TAG, GoVal::Bool(false));
        }
        "" | "~" | "null" | "Null" | "NULL" => return (NULL_TAG, GoVal::Nil),
        ".nan" | ".NaN" | ".NAN" => return (FLOAT_TAG, GoVal::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return (FLOAT_TAG, GoVal::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return (FLOAT_TAG, GoVal::Float(f64::NEG_INFINITY)),
        "<<" => return (MERGE_TAG, GoVal::Str(input.to_owned())),
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float_dot(input) {
                return (FLOAT_TAG, GoVal::Float(f));
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag == TIMESTAMP_TAG) && is_timestamp(input) {
                return (TIMESTAMP_TAG, GoVal::Str(input.to_owned()));
            }
            let plain: String = input.chars().filter(|c| *c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return (INT_TAG, GoVal::Int(i));
            }
            if let Some(u) = go_parse_uint(&plain) {
                return (INT_TAG, GoVal::Uint(u));
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return (FLOAT_TAG, GoVal::Float(f));
            }
            if let Some(bin) = plain.strip_prefix("0b") {
                if let Some(i) = parse_radix_i64(bin, 2, false) {
                    return (INT_TAG, GoVal::Int(i));
                }
                if let Some(u) = parse_radix_u64(bin, 2) {
                    return (INT_TAG, GoVal::Uint(u));
                }
            } else if let Some(bin) = plain.strip_prefix("-0b")
                && let Some(i) = parse_radix_i64(bin, 2, true)
            {
                return (INT_TAG, GoVal::Int(i));
            }
        }
        _ => {}
    }
    (STR_TAG, GoVal::Str(input.to_owned()))
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat` for the inputs starting with `.` that go-yaml hands it.
fn go_parse_float_dot(s: &str) -> Option<f64> {
    let rest = s.strip_prefix('.')?;
    let (frac, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `strconv.ParseInt(s, 0, 64)` (no underscores: go-yaml removed them).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = radix_of(body)?;
    parse_radix_i64(digits, radix, neg)
}

/// `strconv.ParseUint(s, 0, 64)`.
fn go_parse_uint(s: &str) -> Option<u64> {
    let (radix, digits) = radix_of(s)?;
    parse_radix_u64(digits, radix)
}

fn radix_of(body: &str) -> Option<(u32, &str)> {
    let b = body.as_bytes();
    if b.first() == Some(&b'0') && b.len() > 1 {
        match b[1] {
            b'x' | b'X' => Some((16, &body[2..])),
            b'o' | b'O' => Some((8, &body[2..])),
            b'b' | b'B' => Some((2, &body[2..])),
            _ => Some((8, &body[1..])),
        }
    } else {
        Some((10, body))
    }
}

fn parse_radix_u64(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn parse_radix_i64(digits: &str, radix: u32, neg: bool) -> Option<i64> {
    let u = parse_radix_u64(digits, radix)?;
    if neg {
        if u <= i64::MAX as u64 + 1 { Some((u as i128).wrapping_neg() as i64) } else { None }
    } else {
        i64::try_from(u).ok()
    }
}

/// go-yaml's `parseTimestamp` precondition plus the date forms it accepts
/// (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00`, `2006-1-2 15:4:5.999999999`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some((&rest[i..i + 1], &rest[i + 1..]))),
        None => (rest, None),
    };
    let mut parts = date.split('-');
    let (Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let num = |x: &str, max: u32| {
        (1..=2).contains(&x.len())
            && x.bytes().all(|c| c.is_ascii_digit())
            && x.parse::<u32>().is_ok_and(|v| (1..=max).contains(&v))
    };
    if !num(m, 12) || !num(d, 31) {
        return false;
    }
    let Some((sep, time)) = time else {
        return true;
    };
    let (clock, zone) = if sep == " " {
        (time, "")
    } else {
        match time.find(['Z', '+', '-']) {
            Some(i) => (&time[..i], &time[i..]),
            None => return false,
        }
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    let mut hp = hms.split(':');
    let (Some(h), Some(mi), Some(se), None) = (hp.next(), hp.next(), hp.next(), hp.next()) else {
        return false;
    };
    let small = |x: &str, max: u32| {
        (1..=2).contains(&x.len())
            && x.bytes().all(|c| c.is_ascii_digit())
            && x.parse::<u32>().is_ok_and(|v| v <= max)
    };
    if !small(h, 23) || !small(mi, 59) || !small(se, 59) {
        return false;
    }
    if frac.is_some_and(|f| f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    if sep == " " {
        return true;
    }
    zone == "Z"
        || (zone.len() == 6
            && zone.as_bytes()[3] == b':'
            && small(&zone[1..3], 23)
            && small(&zone[4..6], 59))
}

/// Go's `%#v` of a decoded YAML value (used in `invalid map key` and duplicate-key errors).
/// Key material prints as `"REDACTED"` (upstream prints it): a value that is `secret` by its
/// place, or a string that looks like a key, or a secret-like field's value.
fn go_sharp_v(v: &GoVal, nested: bool, secret: bool) -> String {
    match v {
        GoVal::Str(_) | GoVal::Int(_) | GoVal::Uint(_) | GoVal::Float(_) | GoVal::Bool(_)
            if secret =>
        {
            go_quote("REDACTED")
        }
        GoVal::Str(s) if super::redact::looks_like_key_material_loose(s) => go_quote("REDACTED"),
        GoVal::Nil if nested => "interface {}(nil)".to_owned(),
        GoVal::Nil => "<nil>".to_owned(),
        GoVal::Bool(b) => b.to_string(),
        GoVal::Int(i) => i.to_string(),
        GoVal::Uint(u) => format!("0x{u:x}"),
        GoVal::Float(f) => go_format_float_g(*f, 64),
        GoVal::Str(s) => go_quote(s),
        GoVal::Seq(items) => {
            let inner: Vec<String> =
                items.iter().map(|i| go_sharp_v(&i.v, true, secret || i.secret)).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        GoVal::Map(entries) => {
            let mut inner: Vec<(String, String)> = entries
                .iter()
                .map(|e| {
                    let secret_key =
                        matches!(&e.key, GoVal::Str(k) if super::redact::is_secret_like(k));
                    let value =
                        go_sharp_v(&e.value.v, true, secret || secret_key || e.value.secret);
                    (go_sharp_v(&e.key, true, secret || e.key_secret), value)
                })
                .collect();
            inner.sort();
            let inner: Vec<String> = inner.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[interface {{}}]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

// ----------------------------------------------------------------------------------------------
// interface{} → JSON (convertToJSONableObject + json.Marshal).

/// The first value `json.Marshal` refuses, in its (sorted-key) order.
fn first_unsupported(n: &JNode) -> Option<&str> {
    match &n.v {
        JVal::Unsupported(v) => Some(v),
        JVal::Arr(items) => items.iter().find_map(first_unsupported),
        JVal::Obj(members) => members.iter().find_map(|m| first_unsupported(&m.value)),
        _ => None,
    }
}

fn to_jsonable(n: GoNode) -> Result<JNode, DecodeError> {
    let GoNode { v, pos, span, .. } = n;
    let v = match v {
        GoVal::Nil => JVal::Null,
        GoVal::Bool(b) => JVal::Bool(b),
        GoVal::Int(i) => JVal::Num(i.to_string()),
        GoVal::Uint(u) => JVal::Num(u.to_string()),
        // NaN and infinities fail in json.Marshal, which runs after the whole conversion and
        // walks keys in sorted order: mark them here, report the first in that order below.
        GoVal::Float(f) => match go_json_float(f) {
            Some(text) => JVal::Num(text),
            None => JVal::Unsupported(go_format_float_g(f, 64)),
        },
        GoVal::Str(s) => JVal::Str(s),
        GoVal::Seq(items) => {
            JVal::Arr(items.into_iter().map(to_jsonable).collect::<Result<_, _>>()?)
        }
        GoVal::Map(entries) => {
            let mut members: Vec<JMember> = Vec::with_capacity(entries.len());
            // Where each key's member is, to replace it in place.
            let mut index: HashMap<String, usize> = HashMap::with_capacity(entries.len());
            for e in entries {
                let key = match &e.key {
                    GoVal::Str(s) => s.clone(),
                    GoVal::Int(i) => i.to_string(),
                    GoVal::Float(f) => match go_format_float_g(*f, 32).as_str() {
                        "+Inf" => ".inf".to_owned(),
                        "-Inf" => "-.inf".to_owned(),
                        "NaN" => ".nan".to_owned(),
                        s => s.to_owned(),
                    },
                    GoVal::Bool(b) => b.to_string(),
                    other => {
                        let ty = match other {
                            GoVal::Uint(_) => "uint64",
                            _ => "%!s(<nil>)",
                        };
                        return Err(DecodeError::YamlToJson {
                            message: format!(
                                "unsupported map key of type: {ty}, key: {}, value: {}",
                                go_sharp_v(other, false, e.key_secret),
                                go_sharp_v(&e.value.v, false, e.value.secret)
                            ),
                        });
                    }
                };
                let value = to_jsonable(e.value)?;
                // Two YAML keys with the same string form collide in Go's map[string]; Go keeps
                // whichever its map iteration visits last, we keep the later one. Its place in
                // `members` does not matter: keys are sorted below, and they are unique.
                match index.get(&key).and_then(|i| members.get_mut(*i)) {
                    Some(member) => *member = JMember { key, key_pos: e.key_pos, value },
                    None => {
                        index.insert(key.clone(), members.len());
                        members.push(JMember { key, key_pos: e.key_pos, value });
                    }
                }
            }
            // json.Marshal sorts map keys bytewise.
            members.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
            JVal::Obj(members)
        }
    };
    Ok(JNode { v, pos, span })
}
