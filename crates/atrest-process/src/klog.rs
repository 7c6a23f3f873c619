//! Reading kube-apiserver's klog output: the `"command failed" err="…"` line it exits with.
//!
//! Mirrors k8s.io/klog/v2 internal/serialize/keyvalues.go (`writeStringValue`): a value without
//! a line break is printed with Go's `strconv.Quote`; a value with line breaks is printed as
//! `key=<`, then each line prefixed with a tab, then ` >` on its own line. klog cannot tell a
//! value that ends with a line break from one that does not; this reader returns the latter.
//! The line itself comes from k8s.io/component-base cli/run.go (`klog.ErrorS(err, "command
//! failed")`).

const MARKER: &str = "] \"command failed\" err=";

/// The `err` value of the last `"command failed"` line in klog output, unescaped. `None` when
/// there is no such line or it is cut short (the process was killed while writing it).
pub fn command_failed_err(log: &str) -> Option<String> {
    let start = log.rfind(MARKER)? + MARKER.len();
    let rest = &log[start..];
    if let Some(multi) = rest.strip_prefix("<\n") {
        let mut value = String::new();
        for line in multi.split_inclusive('\n') {
            if line == " >" || line == " >\n" {
                // Every content line ended with '\n'; klog added the closing line after it.
                value.pop();
                return Some(value);
            }
            value.push_str(line.strip_prefix('\t')?);
        }
        return None;
    }
    let line = rest.split('\n').next()?;
    let (value, _) = go_unquote_prefix(line)?;
    Some(value)
}

/// Decodes the Go-quoted string (`strconv.Quote` syntax) at the start of `s`; returns it and the
/// rest of `s`. Bytes written as `\xNN` that do not form UTF-8 become U+FFFD.
pub fn go_unquote_prefix(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut bytes = Vec::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = String::from_utf8_lossy(&bytes).into_owned();
                return Some((value, &body[i + 1..]));
            }
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'a' => bytes.push(0x07),
                    'b' => bytes.push(0x08),
                    'f' => bytes.push(0x0c),
                    'n' => bytes.push(b'\n'),
                    'r' => bytes.push(b'\r'),
                    't' => bytes.push(b'\t'),
                    'v' => bytes.push(0x0b),
                    '\\' => bytes.push(b'\\'),
                    '"' => bytes.push(b'"'),
                    '\'' => bytes.push(b'\''),
                    'x' => bytes.push(u8::try_from(hex_digits(&mut chars, 2)?).ok()?),
                    'u' => push_char(&mut bytes, char::from_u32(hex_digits(&mut chars, 4)?)?),
                    'U' => push_char(&mut bytes, char::from_u32(hex_digits(&mut chars, 8)?)?),
                    '0'..='7' => {
                        let mut n = e.to_digit(8)?;
                        for _ in 0..2 {
                            n = n * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        bytes.push(u8::try_from(n).ok()?);
                    }
                    _ => return None,
                }
            }
            c => push_char(&mut bytes, c),
        }
    }
    None
}

fn hex_digits(chars: &mut std::str::CharIndices<'_>, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v * 16 + chars.next()?.1.to_digit(16)?;
    }
    Some(v)
}

fn push_char(bytes: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines in the shape kube-apiserver v1.37.2 prints them (observed on this machine).
    #[test]
    fn single_line_value() {
        let log = "I1128 03:28:00.805211     469 server.go:151] Version: v1.37.2\n\
                   E1128 03:28:01.192132     469 run.go:72] \"command failed\" err=\"error reading \\\"/x.yaml\\\": open /x.yaml: no such file or directory\"\n";
        assert_eq!(
            command_failed_err(log).as_deref(),
            Some("error reading \"/x.yaml\": open /x.yaml: no such file or directory")
        );
    }

    #[test]
    fn multi_line_value() {
        let log = "E1128 run.go:72] \"command failed\" err=<\n\terror: in 'a\n\t  b\n\t'\n >\n";
        assert_eq!(command_failed_err(log).as_deref(), Some("error: in 'a\n  b\n'"));
    }

    #[test]
    fn go_escapes() {
        let (v, rest) =
            go_unquote_prefix(r#""\a\b\f\n\r\t\v\\\"\x41\u00e9\U0001F600\101\xff" tail"#)
                .expect("valid");
        assert_eq!(v, "\u{7}\u{8}\u{c}\n\r\t\u{b}\\\"A\u{e9}\u{1F600}A\u{FFFD}");
        assert_eq!(rest, " tail");
    }

    #[test]
    fn truncated_or_missing() {
        assert_eq!(command_failed_err("I1128 all fine\n"), None);
        assert_eq!(command_failed_err("E1128 run.go:72] \"command failed\" err=\"cut"), None);
        assert_eq!(command_failed_err("E1128 run.go:72] \"command failed\" err=<\n\tcut\n"), None);
    }
}
