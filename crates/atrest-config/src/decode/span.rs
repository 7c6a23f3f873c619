//! Source positions: where each field of the decoded document sits.

use super::*;

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
