//! Go's `time.Duration` text forms, as `metav1.Duration` reads and writes them.
//!
//! Mirrors Go's time/format.go (`ParseDuration`, including its private `quote` for error texts)
//! and time/time.go (`Duration.String`).

use std::fmt;

/// A Go `time.Duration` (as `metav1.Duration`), in nanoseconds. `Display` is Go's `String()`,
/// [`GoDuration::parse`] is Go's `time.ParseDuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoDuration {
    /// Signed nanoseconds.
    pub nanos: i64,
}

impl GoDuration {
    /// From whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        GoDuration { nanos: secs * 1_000_000_000 }
    }
}

/// Why `time.ParseDuration` rejected a text. `Display` is Go's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// `time: invalid duration "<text>"` (syntax or overflow).
    #[error("time: invalid duration {}", time_quote(.text))]
    Invalid {
        /// The whole input.
        text: String,
    },
    /// `time: missing unit in duration "<text>"`.
    #[error("time: missing unit in duration {}", time_quote(.text))]
    MissingUnit {
        /// The whole input.
        text: String,
    },
    /// `time: unknown unit "<unit>" in duration "<text>"`.
    #[error("time: unknown unit {} in duration {}", time_quote(.unit), time_quote(.text))]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        text: String,
    },
}

/// The time package's own `quote`: ASCII printable as is (with `"` and `\` escaped), any other
/// byte as `\xNN`.
fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if !c.is_ascii() || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1000 * NANOSECOND;
const MILLISECOND: u64 = 1000 * MICROSECOND;
const SECOND: u64 = 1000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

fn unit(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => NANOSECOND,
        "us" | "\u{b5}s" | "\u{3bc}s" => MICROSECOND,
        "ms" => MILLISECOND,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        _ => return None,
    })
}

impl GoDuration {
    /// Go's `time.ParseDuration`.
    pub fn parse(text: &str) -> Result<GoDuration, DurationError> {
        let invalid = || DurationError::Invalid { text: text.to_owned() };
        const LIMIT: u64 = 1 << 63;
        let mut s = text.as_bytes();
        let mut neg = false;
        if let Some(&c) = s.first()
            && (c == b'-' || c == b'+')
        {
            neg = c == b'-';
            s = &s[1..];
        }
        if s == b"0" {
            return Ok(GoDuration { nanos: 0 });
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut d: u64 = 0;
        while !s.is_empty() {
            if !(s[0] == b'.' || s[0].is_ascii_digit()) {
                return Err(invalid());
            }
            // Leading integer.
            let mut v: u64 = 0;
            let mut i = 0;
            while i < s.len() && s[i].is_ascii_digit() {
                if v > LIMIT / 10 {
                    return Err(invalid());
                }
                v = v * 10 + u64::from(s[i] - b'0');
                if v > LIMIT {
                    return Err(invalid());
                }
                i += 1;
            }
            let pre = i > 0;
            s = &s[i..];
            // Fraction.
            let mut f: u64 = 0;
            let mut scale: f64 = 1.0;
            let mut post = false;
            if s.first() == Some(&b'.') {
                s = &s[1..];
                let mut i = 0;
                let mut overflow = false;
                while i < s.len() && s[i].is_ascii_digit() {
                    if !overflow {
                        if f > (LIMIT - 1) / 10 {
                            overflow = true;
                        } else {
                            let y = f * 10 + u64::from(s[i] - b'0');
                            if y > LIMIT {
                                overflow = true;
                            } else {
                                f = y;
                                scale *= 10.0;
                            }
                        }
                    }
                    i += 1;
                }
                post = i > 0;
                s = &s[i..];
            }
            if !pre && !post {
                return Err(invalid());
            }
            // Unit.
            let end = s.iter().position(|c| *c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
            if end == 0 {
                return Err(DurationError::MissingUnit { text: text.to_owned() });
            }
            let u = String::from_utf8_lossy(&s[..end]).into_owned();
            s = &s[end..];
            let Some(unit) = unit(&u) else {
                return Err(DurationError::UnknownUnit { unit: u, text: text.to_owned() });
            };
            if v > LIMIT / unit {
                return Err(invalid());
            }
            v *= unit;
            if f > 0 {
                #[expect(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "Go computes the fraction in float64 and truncates, so do we"
                )]
                let add = (f as f64 * (unit as f64 / scale)) as u64;
                v = v.saturating_add(add);
                if v > LIMIT {
                    return Err(invalid());
                }
            }
            d = d.saturating_add(v);
            if d > LIMIT {
                return Err(invalid());
            }
        }
        if neg {
            #[expect(
                clippy::cast_possible_wrap,
                reason = "d <= 2^63, and -2^63 is representable"
            )]
            return Ok(GoDuration { nanos: (d as i64).wrapping_neg() });
        }
        i64::try_from(d).map(|nanos| GoDuration { nanos }).map_err(|_| invalid())
    }
}

/// Digits of `v / 10^prec` with the fraction's trailing zeros (and a bare point) removed.
fn frac(v: u64, prec: u32) -> (u64, String) {
    let p = 10u64.pow(prec);
    let whole = v / p;
    let rest = v % p;
    if rest == 0 {
        return (whole, String::new());
    }
    let digits = format!("{rest:0width$}", width = prec as usize);
    (whole, format!(".{}", digits.trim_end_matches('0')))
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.nanos < 0;
        let u = self.nanos.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u < SECOND {
            let (prec, unit) = match u {
                0 => return f.write_str("0s"),
                u if u < MICROSECOND => (0, "ns"),
                u if u < MILLISECOND => (3, "\u{b5}s"),
                _ => (6, "ms"),
            };
            let (whole, fraction) = frac(u, prec);
            return write!(f, "{sign}{whole}{fraction}{unit}");
        }
        let (secs, fraction) = frac(u, 9);
        let s = secs % 60;
        let mins = secs / 60;
        if mins == 0 {
            return write!(f, "{sign}{s}{fraction}s");
        }
        let m = mins % 60;
        let hours = mins / 60;
        if hours == 0 {
            return write!(f, "{sign}{m}m{s}{fraction}s");
        }
        write!(f, "{sign}{hours}h{m}m{s}{fraction}s")
    }
}
