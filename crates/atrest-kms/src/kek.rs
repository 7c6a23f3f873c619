//! Key-encryption keys: the key file, and AES-256-GCM wrapping of DEKs and seeds.
//!
//! The key file is text, one key version per line, oldest first; the last line is the current
//! key (what `Status` reports and `Encrypt` wraps with):
//!
//! ```text
//! # atrest kms-plugin key file: `<key ID> <base64 of a 32-byte AES-256 key>` per line, ...
//! atrest-kek-1 q2V5IG1hdGVyaWFsIGdvZXMgaGVyZSwgMzIgYnl0ZXMhIQ==
//! atrest-kek-2 ...
//! ```
//!
//! Like a real KMS keeps key versions, rotation appends a new line and keeps the old ones, so
//! data wrapped with an old key still unwraps (`Decrypt` picks the key by the request's key ID).
//! The file must not be readable or writable by group or others.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

/// Size of a key-encryption key (AES-256).
pub const KEK_SIZE: usize = 32;
/// The largest key file read (a few thousand key versions).
pub const KEY_FILE_LIMIT: atrest_input::Limit =
    atrest_input::Limit { bytes: 1024 * 1024, what: "a KMS plugin key file" };
/// The prefix of key IDs this plugin generates (`atrest-kek-1`, `atrest-kek-2`, …).
pub const KEY_ID_PREFIX: &str = "atrest-kek-";
/// The longest key ID upstream accepts (`KeyIDMaxSize` in kmsv2/envelope.go).
const KEY_ID_MAX_SIZE: usize = atrest_transformers::KEY_ID_MAX_SIZE;
const HEADER: &str = "# atrest kms-plugin key file: `<key ID> <base64 of a 32-byte AES-256 key>` per line, oldest first; the last line is the current key. Keep it private (mode 0600).\n";

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Group or others may read or write it.
    #[error(
        "key file {} is accessible by group or others (mode {mode:o}); `chmod 600` it, or create a new one with `atrest kms-plugin keygen`",
        path.display()
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `stat` failed (missing file, permission denied).
    #[error("key file {}", path.display())]
    Stat {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed; the error names the file.
    #[error(transparent)]
    Read(#[from] atrest_input::InputError),
    /// A line does not hold a key.
    #[error("key file {}, line {line}: {problem}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: LineProblem,
    },
    /// No key at all.
    #[error("key file {} holds no key", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Creating or writing it failed.
    #[error("writing key file {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OS random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// What is wrong with one line of a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Not `<key ID> <base64 key>`.
    #[error("expected `<key ID> <base64 key>`")]
    Shape,
    /// The key is not standard base64.
    #[error("the key is not standard base64")]
    Base64,
    /// The key is not 32 bytes.
    #[error("the key is {0} bytes, expected 32 (AES-256)")]
    KeySize(usize),
    /// The key ID is longer than upstream's 1024 bytes.
    #[error("the key ID is {0} bytes, longer than the 1024 kube-apiserver accepts")]
    KeyIdTooLong(usize),
    /// The key ID appears twice.
    #[error("the key ID appears on an earlier line too")]
    Duplicate,
}

/// One key version. `Debug` prints the key ID only.
pub(crate) struct Kek {
    key_id: String,
    bytes: Zeroizing<[u8; KEK_SIZE]>,
    key: LessSafeKey,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Why an unwrap failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnwrapError {
    /// Shorter than a nonce and a tag.
    #[error("the ciphertext is {0} bytes, shorter than a nonce and a tag")]
    TooShort(usize),
    /// Authentication failed: another key, or altered bytes.
    #[error("message authentication failed")]
    Authentication,
}

impl Kek {
    pub(crate) fn new(key_id: String, bytes: Zeroizing<[u8; KEK_SIZE]>) -> Kek {
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes.as_ref()).expect("a 32-byte key is valid"),
        );
        Kek { key_id, bytes, key }
    }

    pub(crate) fn random(key_id: String) -> Result<Kek, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; KEK_SIZE]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Kek::new(key_id, bytes))
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `nonce (12) ‖ AES-256-GCM(plaintext) ‖ tag (16)`, with the key ID as authenticated data
    /// (so a ciphertext presented under another key ID fails).
    pub(crate) fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, getrandom::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.key_id.as_bytes()),
                &mut out[NONCE_LEN..],
            )
            .expect("sealing fits in memory");
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Reverses [`Kek::wrap`]; `key_id` is the request's (the authenticated data).
    pub(crate) fn unwrap(
        &self,
        key_id: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        if ciphertext.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(UnwrapError::TooShort(ciphertext.len()));
        }
        let (nonce, sealed) = ciphertext.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("12 bytes");
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key_id.as_bytes()), buf.as_mut_slice())
            .map_err(|_| UnwrapError::Authentication)?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

/// Every key version of a key file; the last is current. `Debug` prints key IDs only.
#[derive(Debug)]
pub(crate) struct KeyRing {
    keys: Vec<Kek>,
}

impl KeyRing {
    /// Loads `path`, refusing a file that group or others may access.
    pub(crate) fn load(path: &Path) -> Result<KeyRing, KeyFileError> {
        let meta = std::fs::metadata(path)
            .map_err(|source| KeyFileError::Stat { path: path.to_owned(), source })?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::NotPrivate { path: path.to_owned(), mode });
        }
        let text = Zeroizing::new(atrest_input::read_limited(path, KEY_FILE_LIMIT)?);
        Self::parse(path, &text)
    }

    pub(crate) fn parse(path: &Path, text: &[u8]) -> Result<KeyRing, KeyFileError> {
        let err =
            |line: usize, problem| KeyFileError::Parse { path: path.to_owned(), line, problem };
        let mut keys: Vec<Kek> = Vec::new();
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
            let (Some(id), Some(key), None) = (fields.next(), fields.next(), fields.next()) else {
                return Err(err(i + 1, LineProblem::Shape));
            };
            let Ok(id) = std::str::from_utf8(id) else {
                return Err(err(i + 1, LineProblem::Shape));
            };
            if id.len() > KEY_ID_MAX_SIZE {
                return Err(err(i + 1, LineProblem::KeyIdTooLong(id.len())));
            }
            if keys.iter().any(|k| k.key_id == id) {
                return Err(err(i + 1, LineProblem::Duplicate));
            }
            let decoded = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .map_err(|_| err(i + 1, LineProblem::Base64))?,
            );
            let bytes: [u8; KEK_SIZE] = decoded
                .as_slice()
                .try_into()
                .map_err(|_| err(i + 1, LineProblem::KeySize(decoded.len())))?;
            keys.push(Kek::new(id.to_owned(), Zeroizing::new(bytes)));
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty { path: path.to_owned() });
        }
        Ok(KeyRing { keys })
    }

    /// A ring with one fresh key, `atrest-kek-1`.
    pub(crate) fn generate() -> Result<KeyRing, KeyFileError> {
        let kek = Kek::random(format!("{KEY_ID_PREFIX}1")).map_err(KeyFileError::Random)?;
        Ok(KeyRing { keys: vec![kek] })
    }

    pub(crate) fn current(&self) -> &Kek {
        self.keys.last().expect("a ring always holds a key")
    }

    pub(crate) fn get(&self, key_id: &str) -> Option<&Kek> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    pub(crate) fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.key_id.clone()).collect()
    }

    /// Adds a fresh key after the highest `atrest-kek-<n>` and makes it current.
    pub(crate) fn rotate(&mut self) -> Result<&Kek, KeyFileError> {
        let highest = self
            .keys
            .iter()
            .filter_map(|k| k.key_id.strip_prefix(KEY_ID_PREFIX)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let kek =
            Kek::random(format!("{KEY_ID_PREFIX}{}", highest + 1)).map_err(KeyFileError::Random)?;
        self.keys.push(kek);
        Ok(self.current())
    }

    /// Undoes a [`KeyRing::rotate`] whose key could not be saved.
    pub(crate) fn drop_current(&mut self) {
        if self.keys.len() > 1 {
            self.keys.pop();
        }
    }

    fn render(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(HEADER));
        for k in &self.keys {
            text.push_str(&k.key_id);
            text.push(' ');
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(k.bytes.as_ref()));
            text.push('\n');
        }
        text
    }

    /// Writes a new key file at `path` (mode 0600, never overwriting, never following a
    /// symbolic link there).
    pub(crate) fn create_file(&self, path: &Path) -> Result<(), KeyFileError> {
        let write_err = |source| KeyFileError::Write { path: path.to_owned(), source };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .map_err(write_err)?;
        file.write_all(self.render().as_bytes()).and_then(|()| file.sync_all()).map_err(write_err)
    }

    /// Replaces the key file at `path` atomically: a new private file next to it, renamed over
    /// it, so a crash leaves either the old or the new file.
    pub(crate) fn replace_file(&self, path: &Path) -> Result<(), KeyFileError> {
        let write_err = |source| KeyFileError::Write { path: path.to_owned(), source };
        let mut staging = path.as_os_str().to_owned();
        staging.push(format!(".{}.tmp", std::process::id()));
        let staging = PathBuf::from(staging);
        let _ = std::fs::remove_file(&staging);
        self.create_file(&staging)?;
        std::fs::rename(&staging, path).map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            write_err(e)
        })
    }
}

/// Creates a key file with one fresh key at `path` (mode 0600, never overwriting an existing
/// file); returns its key ID.
pub fn generate_key_file(path: &Path) -> Result<String, KeyFileError> {
    let ring = KeyRing::generate()?;
    ring.create_file(path)?;
    Ok(ring.current().key_id.clone())
}
