//! `${key:NAME}` placeholders in configuration templates.
//!
//! - `${key:NAME}`: 32 random bytes, standard base64 (an AES-256 / secretbox key);
//! - `${key:NAME:N}`: N random bytes (e.g. 16 for AES-128, or a wrong length on purpose);
//! - `${passphrase:NAME:N}`: N random alphanumeric characters, what a user pastes when they
//!   mistake a passphrase for a key;
//! - `${kms:NAME}`: the endpoint of the cluster's KMS plugin NAME, `unix://` + its socket path
//!   in the cluster's file tree (each backend maps that tree to its own paths when it writes
//!   the file); not a secret.
//!
//! Values are random per run, the same NAME gives the same value within a run, and they are
//! never printed: every text a report carries goes through [`Secrets::redact`].

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A template error. `Display` is the problem alone; [`TemplateError::offset`] says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A placeholder that is not `${key:…}` or `${passphrase:…}`.
    #[error(
        "unknown placeholder ${{{placeholder}}} (use ${{key:NAME}}, ${{key:NAME:BYTES}}, ${{passphrase:NAME:CHARS}} or ${{kms:PLUGIN}})"
    )]
    Unknown {
        /// The text between the braces.
        placeholder: String,
        /// Byte offset of its `${` in the template.
        offset: usize,
    },
    /// The same name used with different sizes or kinds.
    #[error("${{{placeholder}}} reuses {name:?} with another size or kind")]
    Mismatch {
        /// The placeholder.
        placeholder: String,
        /// The name.
        name: String,
        /// Byte offset of its `${` in the template.
        offset: usize,
    },
    /// A bound key's name bound again to another value, size or kind.
    #[error("bound key ${{{placeholder}}} reuses {name:?} with another value, size or kind")]
    BoundTwice {
        /// The placeholder it stands for.
        placeholder: String,
        /// The name.
        name: String,
    },
    /// The operating system random source failed.
    #[error("cannot generate key material: {0}")]
    Random(String),
}

impl TemplateError {
    /// Byte offset of the placeholder in the template, when the error is about one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            TemplateError::Unknown { offset, .. } | TemplateError::Mismatch { offset, .. } => {
                Some(*offset)
            }
            TemplateError::BoundTwice { .. } | TemplateError::Random(_) => None,
        }
    }

    /// The placeholder as written (`${…}`), when the error is about one.
    pub fn placeholder(&self) -> Option<String> {
        match self {
            TemplateError::Unknown { placeholder, .. }
            | TemplateError::Mismatch { placeholder, .. } => Some(format!("${{{placeholder}}}")),
            TemplateError::BoundTwice { .. } | TemplateError::Random(_) => None,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let head = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = head.matches('\n').count() + 1;
    let col = head.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    (line as u64, col as u64)
}

/// The endpoint `${kms:NAME}` stands for: `unix://` + the plugin's socket in the cluster's tree.
pub fn kms_endpoint(name: &str) -> String {
    format!("unix://{}/{name}.sock", crate::schema::KMS_SOCKET_DIR)
}

/// The plugin names of every `${kms:NAME}` in `template`.
pub fn kms_placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${kms:") {
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

/// Key material generated for a run and every text that must never be printed.
#[derive(Default)]
pub struct Secrets {
    values: BTreeMap<String, (String, String)>,
    extra: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// Renders `template`, generating values on first use.
    pub fn render(&mut self, template: &str) -> Result<String, TemplateError> {
        self.walk(template, true)
    }

    /// Checks `template`'s placeholders (and their sizes against earlier templates) without
    /// generating anything: what loading a scenario does, so that errors point into the file.
    pub fn check(&mut self, template: &str) -> Result<(), TemplateError> {
        self.walk(template, false).map(drop)
    }

    fn walk(&mut self, template: &str, generate: bool) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(if generate { template.len() } else { 0 });
        let mut at = 0;
        while let Some(found) = template[at..].find("${") {
            let start = at + found;
            out.push_str(&template[at..start]);
            let after = &template[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&template[start..]);
                at = template.len();
                break;
            };
            let placeholder = &after[..end];
            out.push_str(&self.value(placeholder, start, generate)?);
            at = start + 2 + end + 1;
        }
        out.push_str(&template[at..]);
        Ok(out)
    }

    fn value(
        &mut self,
        placeholder: &str,
        offset: usize,
        generate: bool,
    ) -> Result<String, TemplateError> {
        let unknown = || TemplateError::Unknown { placeholder: placeholder.to_owned(), offset };
        let parts: Vec<&str> = placeholder.split(':').collect();
        if let ["kms", name] = parts.as_slice()
            && !name.is_empty()
        {
            return Ok(kms_endpoint(name));
        }
        let (kind, name, size) = match parts.as_slice() {
            ["key", name] => ("key", *name, 32),
            ["key", name, n] => ("key", *name, n.parse().map_err(|_| unknown())?),
            ["passphrase", name, n] => ("passphrase", *name, n.parse().map_err(|_| unknown())?),
            _ => return Err(unknown()),
        };
        if name.is_empty() || size == 0 || size > 1024 {
            return Err(unknown());
        }
        let spec = format!("{kind}:{size}");
        if let Some((s, v)) = self.values.get(name) {
            if *s != spec {
                return Err(TemplateError::Mismatch {
                    placeholder: placeholder.to_owned(),
                    name: name.to_owned(),
                    offset,
                });
            }
            // A name only checked so far has no value yet.
            if !generate || !v.is_empty() {
                return Ok(v.clone());
            }
        }
        if !generate {
            self.values.insert(name.to_owned(), (spec, String::new()));
            return Ok(String::new());
        }
        let mut bytes = vec![0u8; size];
        getrandom::fill(&mut bytes).map_err(|e| TemplateError::Random(e.to_string()))?;
        let value = if kind == "key" {
            STANDARD.encode(&bytes)
        } else {
            const ALPHABET: &[u8] =
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
        };
        self.values.insert(name.to_owned(), (spec, value.clone()));
        Ok(value)
    }

    /// Binds `${key:NAME:BYTES}` to a value given by the caller instead of a fresh random one:
    /// `atrest rehearse` runs its plan with the keys of the user's own files. The value is
    /// redacted like a generated one. Binding a name twice to different values is an error.
    pub fn bind_key(&mut self, name: &str, bytes: usize, value: &str) -> Result<(), TemplateError> {
        let spec = format!("key:{bytes}");
        match self.values.get(name) {
            Some((s, v)) if *s == spec && v == value => Ok(()),
            // Only checked so far: no value yet.
            Some((s, v)) if *s == spec && v.is_empty() => {
                self.values.insert(name.to_owned(), (spec, value.to_owned()));
                Ok(())
            }
            Some(_) => Err(TemplateError::BoundTwice {
                placeholder: format!("key:{name}:{bytes}"),
                name: name.to_owned(),
            }),
            None => {
                self.values.insert(name.to_owned(), (spec, value.to_owned()));
                Ok(())
            }
        }
    }

    /// Adds a text that must never be printed (a secret value the scenario writes, a key
    /// found in a user's configuration).
    pub fn add(&mut self, text: impl Into<String>) {
        let text = text.into();
        // Very short values would redact ordinary words; they are not key material anyway.
        if text.len() >= 4 && !self.extra.contains(&text) {
            self.extra.push(text);
        }
    }

    /// Replaces every known secret in `text` with `REDACTED`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut all: Vec<&str> =
            self.values.values().map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()).collect();
        all.extend(self.extra.iter().map(String::as_str));
        // Longest first, so a value containing another is replaced whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in all {
            if out.contains(s) {
                out = out.replace(s, "REDACTED");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_value_and_redacted() {
        let mut s = Secrets::default();
        let a = s.render("x: ${key:k1}\ny: ${key:k1}\nz: ${key:k2:16}").unwrap();
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines[0][3..], lines[1][3..]);
        assert_eq!(STANDARD.decode(&lines[0][3..]).unwrap().len(), 32);
        assert_eq!(STANDARD.decode(&lines[2][3..]).unwrap().len(), 16);
        assert_eq!(s.redact(&a), "x: REDACTED\ny: REDACTED\nz: REDACTED");
        let p = s.render("${passphrase:p:24}").unwrap();
        assert_eq!(p.len(), 24);
        assert!(s.render("${key:k1:16}").is_err());
        assert!(s.render("${nope}").is_err());
    }
}

#[cfg(test)]
mod position_tests {
    use super::*;

    #[test]
    fn errors_say_where_the_placeholder_is() {
        let template = "a: 1\nb: x ${nokind:k} y\n";
        let err = Secrets::default().check(template).unwrap_err();
        assert_eq!(err.offset(), Some(10));
        assert_eq!(line_col(template, 10), (2, 6));
        assert_eq!(err.placeholder().as_deref(), Some("${nokind:k}"));
        let mut s = Secrets::default();
        s.check("${key:k}").unwrap();
        let err = s.check("x\n  ${key:k:16}").unwrap_err();
        assert!(matches!(err, TemplateError::Mismatch { offset: 4, .. }), "{err:?}");
    }
}
