//! JSON input: Go's `encoding/json` syntax check (exact error texts) and a tree builder.
//!
//! Mirrors Go's encoding/json/scanner.go (the state machine behind `checkValid`, whose first
//! error `json.Unmarshal` returns) and decode.go (`unquote`: invalid UTF-8 and lone surrogates
//! become U+FFFD).

use super::tree::{JMember, JNode, JVal, LineIndex};
use super::{Budget, DecodeError};
use crate::goquote::go_json_quote_char;

/// A Go JSON syntax error (`*json.SyntaxError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonSyntaxError {
    /// The message, e.g. `invalid character '}' looking for beginning of object key string`.
    pub(crate) msg: String,
    /// Byte offset Go reports (after the offending byte).
    pub(crate) offset: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    Lit(&'static [u8], usize, &'static str),
}

const MAX_NESTING_DEPTH: usize = 10000;

struct Scanner {
    step: Step,
    parse: Vec<Parse>,
    end_top: bool,
    err: Option<String>,
}

impl Scanner {
    fn error(&mut self, c: u8, context: &str) {
        if self.err.is_none() {
            self.err = Some(format!("invalid character {} {}", go_json_quote_char(c), context));
        }
    }

    fn push(&mut self, c: u8, p: Parse) {
        self.parse.push(p);
        if self.parse.len() > MAX_NESTING_DEPTH {
            self.error(c, "exceeded max depth");
        }
    }

    fn pop(&mut self) {
        self.parse.pop();
        if self.parse.is_empty() {
            self.step = Step::EndTop;
            self.end_top = true;
        } else {
            self.step = Step::EndValue;
        }
    }

    fn begin_value(&mut self, c: u8) {
        if is_space(c) {
            return;
        }
        match c {
            b'{' => {
                self.step = Step::BeginStringOrEmpty;
                self.push(c, Parse::ObjectKey);
            }
            b'[' => {
                self.step = Step::BeginValueOrEmpty;
                self.push(c, Parse::ArrayValue);
            }
            b'"' => self.step = Step::InString,
            b'-' => self.step = Step::Neg,
            b'0' => self.step = Step::Zero,
            b't' => self.step = Step::Lit(b"true", 1, "true"),
            b'f' => self.step = Step::Lit(b"false", 1, "false"),
            b'n' => self.step = Step::Lit(b"null", 1, "null"),
            b'1'..=b'9' => self.step = Step::One,
            _ => self.error(c, "looking for beginning of value"),
        }
    }

    fn end_value(&mut self, c: u8) {
        let Some(ps) = self.parse.last().copied() else {
            self.step = Step::EndTop;
            self.end_top = true;
            self.end_top_step(c);
            return;
        };
        if is_space(c) {
            self.step = Step::EndValue;
            return;
        }
        match ps {
            Parse::ObjectKey => {
                if c == b':' {
                    if let Some(last) = self.parse.last_mut() {
                        *last = Parse::ObjectValue;
                    }
                    self.step = Step::BeginValue;
                } else {
                    self.error(c, "after object key");
                }
            }
            Parse::ObjectValue => {
                if c == b',' {
                    if let Some(last) = self.parse.last_mut() {
                        *last = Parse::ObjectKey;
                    }
                    self.step = Step::BeginString;
                } else if c == b'}' {
                    self.pop();
                } else {
                    self.error(c, "after object key:value pair");
                }
            }
            Parse::ArrayValue => {
                if c == b',' {
                    self.step = Step::BeginValue;
                } else if c == b']' {
                    self.pop();
                } else {
                    self.error(c, "after array element");
                }
            }
        }
    }

    fn end_top_step(&mut self, c: u8) {
        if !is_space(c) {
            self.error(c, "after top-level value");
        }
    }

    fn feed(&mut self, c: u8) {
        match self.step {
            Step::BeginValueOrEmpty => {
                if is_space(c) {
                } else if c == b']' {
                    self.end_value(c);
                } else {
                    self.begin_value(c);
                }
            }
            Step::BeginValue => self.begin_value(c),
            Step::BeginStringOrEmpty => {
                if is_space(c) {
                } else if c == b'}' {
                    if let Some(last) = self.parse.last_mut() {
                        *last = Parse::ObjectValue;
                    }
                    self.end_value(c);
                } else {
                    self.begin_string(c);
                }
            }
            Step::BeginString => self.begin_string(c),
            Step::EndValue => self.end_value(c),
            Step::EndTop => self.end_top_step(c),
            Step::InString => {
                if c == b'"' {
                    self.step = Step::EndValue;
                } else if c == b'\\' {
                    self.step = Step::InStringEsc;
                } else if c < 0x20 {
                    self.error(c, "in string literal");
                }
            }
            Step::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.step = Step::InString
                }
                b'u' => self.step = Step::InStringEscU(0),
                _ => self.error(c, "in string escape code"),
            },
            Step::InStringEscU(n) => {
                if c.is_ascii_hexdigit() {
                    self.step = if n == 3 { Step::InString } else { Step::InStringEscU(n + 1) };
                } else {
                    self.error(c, "in \\u hexadecimal character escape");
                }
            }
            Step::Neg => match c {
                b'0' => self.step = Step::Zero,
                b'1'..=b'9' => self.step = Step::One,
                _ => self.error(c, "in numeric literal"),
            },
            Step::One => {
                if !c.is_ascii_digit() {
                    self.zero(c);
                }
            }
            Step::Zero => self.zero(c),
            Step::Dot => {
                if c.is_ascii_digit() {
                    self.step = Step::Dot0;
                } else {
                    self.error(c, "after decimal point in numeric literal");
                }
            }
            Step::Dot0 => {
                if c.is_ascii_digit() {
                } else if c == b'e' || c == b'E' {
                    self.step = Step::E;
                } else {
                    self.end_value(c);
                }
            }
            Step::E => {
                if c == b'+' || c == b'-' {
                    self.step = Step::ESign;
                } else {
                    self.e_sign(c);
                }
            }
            Step::ESign => self.e_sign(c),
            Step::E0 => {
                if !c.is_ascii_digit() {
                    self.end_value(c);
                }
            }
            Step::Lit(word, i, name) => {
                if word.get(i) == Some(&c) {
                    self.step = if i + 1 == word.len() {
                        Step::EndValue
                    } else {
                        Step::Lit(word, i + 1, name)
                    };
                } else {
                    let expecting = word.get(i).copied().map(char::from).unwrap_or('?');
                    self.error(c, &format!("in literal {name} (expecting '{expecting}')"));
                }
            }
        }
    }

    fn begin_string(&mut self, c: u8) {
        if is_space(c) {
            return;
        }
        if c == b'"' {
            self.step = Step::InString;
        } else {
            self.error(c, "looking for beginning of object key string");
        }
    }

    fn zero(&mut self, c: u8) {
        if c == b'.' {
            self.step = Step::Dot;
        } else if c == b'e' || c == b'E' {
            self.step = Step::E;
        } else {
            self.end_value(c);
        }
    }

    fn e_sign(&mut self, c: u8) {
        if c.is_ascii_digit() {
            self.step = Step::E0;
        } else {
            self.error(c, "in exponent of numeric literal");
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `checkValid`: the first syntax error over the whole input, or `Ok`.
pub(crate) fn check_valid(data: &[u8]) -> Result<(), JsonSyntaxError> {
    let mut s = Scanner { step: Step::BeginValue, parse: Vec::new(), end_top: false, err: None };
    for (i, &c) in data.iter().enumerate() {
        s.feed(c);
        if let Some(msg) = s.err.take() {
            return Err(JsonSyntaxError { msg, offset: i });
        }
    }
    // eof(): a final space completes numbers; anything still open is a truncated input.
    if s.end_top {
        return Ok(());
    }
    s.feed(b' ');
    if s.end_top {
        return Ok(());
    }
    Err(JsonSyntaxError {
        msg: s.err.unwrap_or_else(|| "unexpected end of JSON input".to_owned()),
        offset: data.len(),
    })
}

/// Builds the tree of an input [`check_valid`] accepted.
pub(crate) fn parse(data: &[u8], budget: &Budget) -> Result<JNode, DecodeError> {
    let index = LineIndex::new(data);
    let mut p = TreeParser { data, pos: 0, index: &index, budget, nodes: 0 };
    p.skip_space();
    p.value(0)
}

struct TreeParser<'a> {
    data: &'a [u8],
    pos: usize,
    index: &'a LineIndex,
    budget: &'a Budget,
    nodes: usize,
}

impl TreeParser<'_> {
    fn skip_space(&mut self) {
        while self.data.get(self.pos).is_some_and(|c| is_space(*c)) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn malformed(&self) -> DecodeError {
        // check_valid accepted the input, so this is unreachable in practice; report it as a
        // syntax error at the current offset rather than panicking.
        DecodeError::Budget { what: "malformed JSON after validation", limit: self.pos }
    }

    fn value(&mut self, depth: usize) -> Result<JNode, DecodeError> {
        if depth > self.budget.max_depth {
            return Err(DecodeError::Budget {
                what: "nesting depth",
                limit: self.budget.max_depth,
            });
        }
        self.nodes += 1;
        if self.nodes > self.budget.max_nodes {
            return Err(DecodeError::Budget { what: "nodes", limit: self.budget.max_nodes });
        }
        let start = self.pos;
        let pos = self.index.position(self.pos);
        let v = match self.peek().ok_or_else(|| self.malformed())? {
            b'{' => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_space();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_space();
                        let key_pos = self.index.position(self.pos);
                        let key = self.string()?;
                        self.skip_space();
                        if self.peek() != Some(b':') {
                            return Err(self.malformed());
                        }
                        self.pos += 1;
                        self.skip_space();
                        let value = self.value(depth + 1)?;
                        members.push(JMember { key, key_pos, value });
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.malformed()),
                        }
                    }
                }
                JVal::Obj(members)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_space();
                        items.push(self.value(depth + 1)?);
                        self.skip_space();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.malformed()),
                        }
                    }
                }
                JVal::Arr(items)
            }
            b'"' => JVal::Str(self.string()?),
            b't' => {
                self.pos += 4;
                JVal::Bool(true)
            }
            b'f' => {
                self.pos += 5;
                JVal::Bool(false)
            }
            b'n' => {
                self.pos += 4;
                JVal::Null
            }
            _ => {
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                JVal::Num(String::from_utf8_lossy(&self.data[start..self.pos]).into_owned())
            }
        };
        Ok(JNode { v, pos, span: start..self.pos })
    }

    /// Go's `unquote`: escapes decoded, invalid UTF-8 bytes and lone surrogates become U+FFFD.
    fn string(&mut self) -> Result<String, DecodeError> {
        if self.peek() != Some(b'"') {
            return Err(self.malformed());
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or_else(|| self.malformed())?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = self.data.get(self.pos + 1).copied().ok_or_else(|| self.malformed())?;
                    self.pos += 2;
                    match e {
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let r = self.hex4(self.pos).ok_or_else(|| self.malformed())?;
                            self.pos += 4;
                            if (0xd800..0xe000).contains(&r) {
                                let pair = if self.data.get(self.pos) == Some(&b'\\')
                                    && self.data.get(self.pos + 1) == Some(&b'u')
                                {
                                    self.hex4(self.pos + 2)
                                } else {
                                    None
                                };
                                match pair {
                                    Some(r2)
                                        if (0xd800..0xdc00).contains(&r)
                                            && (0xdc00..0xe000).contains(&r2) =>
                                    {
                                        let c = 0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00);
                                        out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                        self.pos += 6;
                                    }
                                    _ => out.push('\u{fffd}'),
                                }
                            } else {
                                out.push(char::from_u32(r).unwrap_or('\u{fffd}'));
                            }
                        }
                        other => out.push(char::from(other)),
                    }
                }
                _ => match crate::goquote::decode_rune(&self.data[self.pos..]) {
                    Some((ch, width)) => {
                        out.push(ch);
                        self.pos += width;
                    }
                    None => {
                        out.push('\u{fffd}');
                        self.pos += 1;
                    }
                },
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.data.get(at..at + 4)?;
        let s = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(s, 16).ok()
    }
}
