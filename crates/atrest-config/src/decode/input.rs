//! From file bytes to text as go-yaml reads it: JSON sniffing, BOMs, UTF-8/UTF-16, control
//! characters, tabs.

use super::*;

/// `utilyaml.IsJSONBuffer`: the first non-space rune is `{`.
pub(super) fn is_json_buffer(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(4096)).unwrap_or_default());
    text.trim_start().starts_with('{')
}

/// libyaml (YAML 1.1) accepts a tab as the separator after a mapping key's `:`; saphyr does not.
/// For a line that is just `key:<tab>value` with a plain key, the tab is separation whitespace in
/// both readings, so it is replaced by a space (one character for one: positions do not move).
pub(super) fn tabs_after_simple_keys(text: String) -> String {
    if !text.contains(":\t") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let body = body.strip_prefix("- ").unwrap_or(body);
        let simple_key = body.find(":\t").is_some_and(|i| {
            i > 0
                && body[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
        if simple_key {
            out.push_str(&line.replacen(":\t", ": ", 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// What go-yaml's reader makes of the bytes: BOM handling, UTF-8 validation and its
/// "control characters are not allowed" rule (checked over the whole input).
pub(super) fn yaml_text(bytes: &[u8]) -> Result<String, DecodeError> {
    let reader =
        |problem: &str| DecodeError::Yaml { line: None, problem: problem.to_owned(), at: None };
    let text = if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        utf16(rest, u16::from_le_bytes).ok_or_else(|| reader("incomplete UTF-16 character"))?
    } else if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        utf16(rest, u16::from_be_bytes).ok_or_else(|| reader("incomplete UTF-16 character"))?
    } else {
        let body = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
        go_yaml_utf8(body).map_err(reader)?
    };
    for c in text.chars() {
        let allowed = matches!(u32::from(c),
            0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x1_0000..=0x10_ffff);
        if !allowed {
            return Err(reader("control characters are not allowed"));
        }
    }
    Ok(text)
}

pub(super) fn utf16(bytes: &[u8], conv: fn([u8; 2]) -> u16) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|c| conv([c[0], c[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

/// go-yaml's UTF-8 reader checks, in its order.
pub(super) fn go_yaml_utf8(bytes: &[u8]) -> Result<String, &'static str> {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let width = if b & 0x80 == 0 {
            1
        } else if b & 0xe0 == 0xc0 {
            2
        } else if b & 0xf0 == 0xe0 {
            3
        } else if b & 0xf8 == 0xf0 {
            4
        } else {
            return Err("invalid leading UTF-8 octet");
        };
        if i + width > bytes.len() {
            return Err("incomplete UTF-8 octet sequence");
        }
        let mut value = u32::from(match width {
            1 => b & 0x7f,
            2 => b & 0x1f,
            3 => b & 0x0f,
            _ => b & 0x07,
        });
        for k in 1..width {
            let t = bytes[i + k];
            if t & 0xc0 != 0x80 {
                return Err("invalid trailing UTF-8 octet");
            }
            value = (value << 6) | u32::from(t & 0x3f);
        }
        let ok_len = width == 1
            || (width == 2 && value >= 0x80)
            || (width == 3 && value >= 0x800)
            || (width == 4 && value >= 0x1_0000);
        if !ok_len {
            return Err("invalid length of a UTF-8 sequence");
        }
        if (0xd800..=0xdfff).contains(&value) || value > 0x10_ffff {
            return Err("invalid Unicode character");
        }
        i += width;
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "invalid leading UTF-8 octet")
}
