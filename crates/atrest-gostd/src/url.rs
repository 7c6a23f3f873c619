//! Just enough of Go's `net/url.Parse` to reproduce the KMS endpoint checks.
//!
//! Mirrors Go 1.26 net/url/url.go (`Parse`, `parse`, `getScheme`, `parseAuthority`, `parseHost`,
//! `unescape`, `validUserinfo`, `validOptionalPort`) and encoding_table.go (which bytes a host may
//! hold). Only the scheme and the error text are produced; the test-data README lists the one
//! approximation (the reason text inside `invalid host: ParseAddr(…)` for bracketed hosts).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::quote::go_quote;

/// A `*url.Error` from `url.Parse`: `parse "<url>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse {}: {reason}", go_quote(.url))]
pub struct UrlError {
    /// The URL as Go quotes it (without the fragment, unless the fragment was at fault).
    pub url: String,
    /// What Go found wrong.
    pub reason: String,
}

/// `url.Parse(raw)`, returning the lower-cased scheme.
pub fn parse_scheme(raw: &str) -> Result<String, UrlError> {
    let (u, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let scheme = parse(u).map_err(|reason| UrlError { url: u.to_owned(), reason })?;
    if let Some(frag) = frag.filter(|f| !f.is_empty()) {
        unescape(frag, Mode::Other).map_err(|reason| UrlError { url: raw.to_owned(), reason })?;
    }
    Ok(scheme)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Zone,
    Other,
}

fn parse(raw: &str) -> Result<String, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".to_owned());
    }
    if raw == "*" {
        return Ok(String::new());
    }
    let (scheme, rest) = get_scheme(raw)?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(r, _)| r)
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            return Ok(scheme);
        }
        let segment = rest.split_once('/').map_or(rest, |(s, _)| s);
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".to_owned());
        }
    }
    let mut path = rest;
    if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority_and_path = &rest[2..];
        let (authority, p) = match authority_and_path.find('/') {
            Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
            None => (authority_and_path, ""),
        };
        parse_authority(&scheme, authority)?;
        path = p;
    }
    unescape(path, Mode::Other)?;
    Ok(scheme)
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".to_owned());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(scheme: &str, authority: &str) -> Result<(), String> {
    let at = authority.rfind('@');
    let host = match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    parse_host(scheme, host)?;
    let Some(i) = at else {
        return Ok(());
    };
    let userinfo = &authority[..i];
    let valid = userinfo.chars().all(|r| {
        r.is_ascii_alphanumeric()
            || matches!(
                r,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    });
    if !valid {
        return Err("net/url: invalid userinfo".to_owned());
    }
    match userinfo.split_once(':') {
        None => unescape(userinfo, Mode::Other).map(|_| ()),
        Some((user, pass)) => {
            unescape(user, Mode::Other)?;
            unescape(pass, Mode::Other).map(|_| ())
        }
    }
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_host(scheme: &str, host: &str) -> Result<(), String> {
    match host.rfind('[') {
        Some(i) if i > 0 => return Err("invalid IP-literal".to_owned()),
        Some(_) => {
            let Some(close) = host.rfind(']') else {
                return Err("missing ']' in host".to_owned());
            };
            let colon_port = &host[close + 1..];
            if !valid_optional_port(colon_port) {
                return Err(format!("invalid port {} after host", go_quote(colon_port)));
            }
            unescape(colon_port, Mode::Host)?;
            let hostname = &host[1..close];
            let unescaped = match hostname.find("%25") {
                Some(z) => {
                    let h = unescape(&hostname[..z], Mode::Host)?;
                    let zone = unescape(&hostname[z..], Mode::Zone)?;
                    format!("{h}{zone}")
                }
                None => unescape(hostname, Mode::Host)?,
            };
            let addr = unescaped.split_once('%').map_or(unescaped.as_str(), |(a, _)| a);
            if addr.parse::<Ipv6Addr>().is_ok() {
                return Ok(());
            }
            if addr.parse::<Ipv4Addr>().is_ok() {
                return Err("invalid IP-literal".to_owned());
            }
            return Err(format!(
                "invalid host: ParseAddr({}): unexpected character (at {})",
                go_quote(&unescaped),
                go_quote(&unescaped)
            ));
        }
        None => {
            if let Some(first) = host.find(':') {
                let last = host.rfind(':').unwrap_or(first);
                // Only http and https enforce a single colon (Go issue 75223); everyone else
                // takes the last one as the port separator.
                let i = if last != first && scheme != "http" && scheme != "https" {
                    last
                } else {
                    first
                };
                let colon_port = &host[i..];
                if !valid_optional_port(colon_port) {
                    return Err(format!("invalid port {} after host", go_quote(colon_port)));
                }
            }
        }
    }
    unescape(host, Mode::Host).map(|_| ())
}

fn host_byte_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'"'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'-'
                | b'.'
                | b':'
                | b';'
                | b'<'
                | b'='
                | b'>'
                | b'['
                | b']'
                | b'_'
                | b'~'
        )
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn escape_error(s: &[u8]) -> String {
    format!("invalid URL escape {}", go_quote(&String::from_utf8_lossy(s)))
}

/// `unescape`: only the error paths matter here, so the result is the input re-decoded.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    let end = (i + 3).min(b.len());
                    return Err(escape_error(&b[i..end]));
                }
                let v = (unhex(b[i + 1]) << 4) | unhex(b[i + 2]);
                if mode == Mode::Host && unhex(b[i + 1]) < 8 && &b[i..i + 3] != b"%25" {
                    return Err(escape_error(&b[i..i + 3]));
                }
                if mode == Mode::Zone && &b[i..i + 3] != b"%25" && v != b' ' && !host_byte_ok(v) {
                    return Err(escape_error(&b[i..i + 3]));
                }
                out.push(v);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && !host_byte_ok(c) {
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote(&char::from(c).to_string())
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
