//! The JSON-shaped tree both input formats become before typed decoding, with source positions.

use std::cell::Cell;
use std::ops::Range;

use super::Position;

/// A JSON value as upstream's strict decoder sees it (after YAML→JSON conversion for YAML input).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JNode {
    pub(crate) v: JVal,
    /// Where the value starts in the source.
    pub(crate) pos: Position,
    /// The value's bytes in the source (used to redact secrets from texts that echo the source).
    pub(crate) span: Range<usize>,
}

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JVal {
    Null,
    Bool(bool),
    /// The number's JSON text (Go reports it verbatim in `number <text>` errors).
    Num(String),
    Str(String),
    Arr(Vec<JNode>),
    /// Members in JSON order: document order for JSON input, sorted keys for YAML input (Go's
    /// `json.Marshal` of a map).
    Obj(Vec<JMember>),
    /// A YAML float JSON cannot hold (`NaN`, `+Inf`, `-Inf`); never reaches typed decoding.
    Unsupported(String),
}

/// One object member.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JMember {
    pub(crate) key: String,
    pub(crate) key_pos: Position,
    pub(crate) value: JNode,
}

impl JVal {
    /// Go's `UnmarshalTypeError.Value` word for this kind of JSON value.
    pub(crate) fn go_kind(&self) -> &'static str {
        match self {
            JVal::Null => "null",
            JVal::Bool(_) => "bool",
            JVal::Num(_) | JVal::Unsupported(_) => "number",
            JVal::Str(_) => "string",
            JVal::Arr(_) => "array",
            JVal::Obj(_) => "object",
        }
    }
}

/// Byte offset → 1-based line and column (columns count characters).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    text: Vec<u8>,
    /// Last answer (offset, line index, column): queries are mostly increasing, so columns are
    /// counted incrementally instead of from the line start each time.
    memo: Cell<(usize, usize, usize)>,
}

impl LineIndex {
    pub(crate) fn new(data: &[u8]) -> Self {
        let mut starts = vec![0];
        for (i, b) in data.iter().enumerate() {
            if *b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex { starts, text: data.to_vec(), memo: Cell::new((0, 0, 0)) }
    }

    pub(crate) fn position(&self, offset: usize) -> Position {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        let end = offset.min(self.text.len());
        let (memo_offset, memo_line, memo_col) = self.memo.get();
        let (from, base) = if memo_line == line && memo_offset <= end {
            (memo_offset, memo_col)
        } else {
            (line_start, 0)
        };
        let counted = self
            .text
            .get(from..end)
            .map(|s| s.iter().filter(|b| (**b & 0xC0) != 0x80).count())
            .unwrap_or(0);
        let column = base + counted;
        self.memo.set((end, line, column));
        Position { line: line + 1, column: column + 1 }
    }

    /// Byte offset of a 1-based line and 0-based character column.
    pub(crate) fn offset(&self, line: usize, col_chars: usize) -> usize {
        let Some(start) = line.checked_sub(1).and_then(|l| self.starts.get(l)).copied() else {
            return self.text.len();
        };
        let rest = self.text.get(start..).unwrap_or_default();
        let s = String::from_utf8_lossy(rest);
        let bytes: usize = s.chars().take(col_chars).map(char::len_utf8).sum();
        (start + bytes).min(self.text.len())
    }
}
