//! Go's text encodings that show up inside upstream error messages.
//!
//! Mirrors Go's strconv/quote.go (`Quote`, `%q`), encoding/json/encode.go (string encoding with
//! HTML escaping) and encoding/json/scanner.go (`quoteChar`). Printability comes from
//! `atrest-gostd/src/go_tables.rs`, generated from Go's own `unicode.IsPrint`, so the Unicode version matches
//! the Go toolchain that built kube-apiserver.

use std::fmt::Write as _;

use crate::go_tables::{GO_HAS_LOWER, GO_IS_PRINT};

fn in_table(table: &[(u32, u32)], c: u32) -> bool {
    table
        .binary_search_by(|(lo, hi)| {
            if *hi < c {
                std::cmp::Ordering::Less
            } else if *lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go's `unicode.IsPrint` (and `strconv.IsPrint`).
pub fn go_is_print(c: char) -> bool {
    in_table(GO_IS_PRINT, u32::from(c))
}

/// Whether Go's `unicode.ToLower` changes `c` (so `strings.ToLower(s) != s` for a string holding it).
pub fn go_has_lower_mapping(c: char) -> bool {
    in_table(GO_HAS_LOWER, u32::from(c))
}

/// Go's `strconv.Quote` (the `%q` verb) for a valid UTF-8 string.
pub fn go_quote(s: &str) -> String {
    go_quote_bytes(s.as_bytes())
}

/// Go's `strconv.Quote` for arbitrary bytes: invalid UTF-8 bytes print as `\xNN`.
pub fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        match decode_rune(rest) {
            Some((c, width)) => {
                push_escaped_rune(&mut out, c);
                rest = &rest[width..];
            }
            None => {
                let _ = write!(out, "\\x{:02x}", rest[0]);
                rest = &rest[1..];
            }
        }
    }
    out.push('"');
    out
}

/// Decodes one UTF-8 sequence the way Go's `utf8.DecodeRune` does; `None` means Go's `RuneError`
/// with width 1 (an invalid or truncated sequence, a surrogate, or an overlong form).
pub fn decode_rune(bytes: &[u8]) -> Option<(char, usize)> {
    let first = *bytes.first()?;
    let width = match first {
        0x00..=0x7f => return Some((char::from(first), 1)),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let chunk = bytes.get(..width)?;
    let s = std::str::from_utf8(chunk).ok()?;
    s.chars().next().map(|c| (c, width))
}

fn push_escaped_rune(out: &mut String, c: char) {
    if c == '"' || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if go_is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{07}' => out.push_str("\\a"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0b}' => out.push_str("\\v"),
        c if c < ' ' || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if u32::from(c) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\U{:08x}", u32::from(c));
        }
    }
}

/// Go's `encoding/json` encoding of a string (HTML-safe, as `json.Marshal` does): `<`, `>`, `&`,
/// U+2028 and U+2029 escaped, invalid UTF-8 replaced by `\ufffd`.
pub fn go_json_string(s: &str) -> String {
    go_json_string_bytes(s.as_bytes())
}

/// [`go_json_string`] for arbitrary bytes.
pub fn go_json_string_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        match decode_rune(rest) {
            Some((c, width)) => {
                rest = &rest[width..];
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{08}' => out.push_str("\\b"),
                    '\u{0c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                        let _ = write!(out, "\\u{:04x}", u32::from(c));
                    }
                    c if c < ' ' => {
                        let _ = write!(out, "\\u{:04x}", u32::from(c));
                    }
                    c => out.push(c),
                }
            }
            None => {
                out.push_str("\\ufffd");
                rest = &rest[1..];
            }
        }
    }
    out.push('"');
    out
}

/// Go's `encoding/json` `quoteChar`, used in JSON syntax errors: `'x'`, `'\''`, `'"'`.
pub fn go_json_quote_char(b: u8) -> String {
    match b {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        _ => {
            // Go converts the byte to a rune (Latin-1), then quotes it.
            let q = go_quote(&char::from(b).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `json.Marshal(float64)` text.
/// `None` for NaN and infinities, which Go refuses (`json: unsupported value: NaN`).
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Shortest round-trip digits in exponent form, then Go's exponent spelling (`e+21`,
        // `e-7`: JSON drops the leading zero Go's 'e' format would print).
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let sign = if exp < 0 { '-' } else { '+' };
        let digits = exp.unsigned_abs();
        return Some(if exp >= 0 {
            format!("{mantissa}e{sign}{digits:02}")
        } else {
            format!("{mantissa}e{sign}{digits}")
        });
    }
    Some(format!("{f}"))
}

/// Go's `strconv.FormatFloat(f, 'g', -1, bits)` (also the `%v` spelling of a float): shortest
/// round-trip digits, exponent form when the exponent is below -4 or at least 6.
pub fn go_format_float_g(f: f64, bits: u32) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    #[expect(clippy::cast_possible_truncation, reason = "Go formats float32 keys at 32 bits")]
    let (e_form, plain) = if bits == 32 {
        let g = f as f32;
        (format!("{g:e}"), format!("{g}"))
    } else {
        (format!("{f:e}"), format!("{f}"))
    };
    let Some((mantissa, exp)) = e_form.split_once('e') else {
        return plain;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return plain;
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        plain
    }
}
