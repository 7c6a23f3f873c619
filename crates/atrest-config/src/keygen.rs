//! Fresh keys for the local providers, from the operating system's CSPRNG.
//!
//! The upstream docs generate keys with `head -c 32 /dev/urandom | base64`; this is the same
//! thing through `getrandom`, always 32 bytes (valid for aescbc, aesgcm and secretbox).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::types::{Key, KeySecret};

/// Key length in bytes (AES-256, or the secretbox key).
pub const KEY_LEN: usize = 32;

/// The provider a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `aescbc`.
    Aescbc,
    /// `aesgcm`.
    Aesgcm,
    /// `secretbox`.
    Secretbox,
}

impl KeyKind {
    /// The YAML provider field name.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::Aescbc => "aescbc",
            KeyKind::Aesgcm => "aesgcm",
            KeyKind::Secretbox => "secretbox",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`KeyKind::from_str`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key kind {input:?}: expected aescbc, aesgcm or secretbox")]
pub struct UnknownKeyKind {
    /// What was given.
    pub input: String,
}

impl FromStr for KeyKind {
    type Err = UnknownKeyKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aescbc" => Ok(KeyKind::Aescbc),
            "aesgcm" => Ok(KeyKind::Aesgcm),
            "secretbox" => Ok(KeyKind::Secretbox),
            _ => Err(UnknownKeyKind { input: s.to_owned() }),
        }
    }
}

/// Why a key could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// Upstream requires a name (`name is a mandatory field for a key`).
    #[error("key name must not be empty")]
    EmptyName,
    /// The OS random source failed.
    #[error("the operating system's random source failed")]
    Random {
        /// The getrandom error.
        #[source]
        source: getrandom::Error,
    },
}

/// Generates a random 32-byte key named `name` for `kind` (all three take 32-byte keys).
pub fn generate(kind: KeyKind, name: &str) -> Result<Key, KeygenError> {
    let _ = kind;
    if name.is_empty() {
        return Err(KeygenError::EmptyName);
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(bytes.as_mut()).map_err(|source| KeygenError::Random { source })?;
    let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()));
    Ok(Key { name: name.to_owned(), secret: KeySecret::new(text.as_str()) })
}

/// The key as a YAML `keys` list item (contains the key material: for printing to the user):
///
/// ```text
/// - name: key1
///   secret: <base64>
/// ```
pub fn render_key_entry(key: &Key) -> String {
    format!("- name: {}\n  secret: {}\n", yaml_scalar(&key.name), key.secret.expose())
}

/// A whole provider item holding the key, ready to paste under `providers:`.
pub fn render_provider(kind: KeyKind, key: &Key) -> String {
    let entry = render_key_entry(key);
    let indented: String = entry.lines().map(|l| format!("    {l}\n")).collect();
    format!("- {kind}:\n    keys:\n{indented}")
}

/// Quotes a name when plain YAML would change it (numbers, booleans, special characters).
fn yaml_scalar(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "yes" | "n" | "no" | "true" | "false" | "on" | "off" | "null"
        );
    if plain_safe { s.to_owned() } else { crate::goquote::go_json_string(s) }
}
