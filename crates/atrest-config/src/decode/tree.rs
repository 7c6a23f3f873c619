//! The JSON-shaped tree both input formats become before typed decoding, with source positions.

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

/// Byte offset ↔ 1-based line and character column, each query in constant time (plus a binary
/// search over line starts), so that a decoder asking once per node stays linear in the input.
///
/// A character is a byte that is not a UTF-8 continuation byte (`10xxxxxx`): for valid UTF-8 that
/// is one per `char`, and an invalid byte counts as one character, as Go's decoder reads it as
/// one `RuneError`. Checkpoints every [`BLOCK`] bytes and every [`BLOCK`] characters bound the
/// bytes a query scans.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset of each line start (lines end at `\n`).
    starts: Vec<usize>,
    text: Vec<u8>,
    /// `chars_before_block[k]`: characters in `text[..k * BLOCK]`.
    chars_before_block: Vec<usize>,
    /// `char_block_starts[k]`: byte offset of character `k * BLOCK`.
    char_block_starts: Vec<usize>,
}

/// Checkpoint spacing, in bytes and in characters.
const BLOCK: usize = 64;

fn is_char_start(b: u8) -> bool {
    (b & 0xC0) != 0x80
}

impl LineIndex {
    pub(crate) fn new(data: &[u8]) -> Self {
        let mut starts = vec![0];
        let mut chars_before_block = Vec::with_capacity(data.len() / BLOCK + 1);
        let mut char_block_starts = Vec::with_capacity(data.len() / BLOCK + 1);
        let mut chars: usize = 0;
        for (i, b) in data.iter().enumerate() {
            if i.is_multiple_of(BLOCK) {
                chars_before_block.push(chars);
            }
            if is_char_start(*b) {
                if chars.is_multiple_of(BLOCK) {
                    char_block_starts.push(i);
                }
                chars += 1;
            }
            if *b == b'\n' {
                starts.push(i + 1);
            }
        }
        if data.len().is_multiple_of(BLOCK) {
            chars_before_block.push(chars);
        }
        LineIndex { starts, text: data.to_vec(), chars_before_block, char_block_starts }
    }

    /// Characters in `text[..offset]` (`offset` clamped to the text).
    fn chars_before(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        let block = end / BLOCK;
        let base = self.chars_before_block.get(block).copied().unwrap_or(0);
        let tail = self.text.get(block * BLOCK..end).unwrap_or_default();
        base + tail.iter().filter(|b| is_char_start(**b)).count()
    }

    /// Byte offset of character `index` (0-based), or the text length past the last one.
    pub(crate) fn char_offset(&self, index: usize) -> usize {
        let Some(block_start) = self.char_block_starts.get(index / BLOCK).copied() else {
            return self.text.len();
        };
        let skip = index % BLOCK;
        let rest = self.text.get(block_start..).unwrap_or_default();
        rest.iter()
            .enumerate()
            .filter(|(_, b)| is_char_start(**b))
            .nth(skip)
            .map_or(self.text.len(), |(i, _)| block_start + i)
    }

    pub(crate) fn position(&self, offset: usize) -> Position {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        let column = self.chars_before(offset) - self.chars_before(line_start);
        Position { line: line + 1, column: column + 1 }
    }

    /// Byte offset of a 1-based line and 0-based character column. The column may run past the
    /// line's end: it then counts on into the following lines, up to the end of the text. The text
    /// must be valid UTF-8 (the YAML text is a `str`), so that characters are `char`s.
    pub(crate) fn offset(&self, line: usize, col_chars: usize) -> usize {
        let Some(start) = line.checked_sub(1).and_then(|l| self.starts.get(l)).copied() else {
            return self.text.len();
        };
        self.char_offset(self.chars_before(start) + col_chars)
    }
}

#[cfg(test)]
mod tests;
