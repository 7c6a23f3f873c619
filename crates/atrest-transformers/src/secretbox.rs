//! NaCl secretbox (XSalsa20-Poly1305).
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/secretbox/secretbox.go.

use std::fmt;
use std::sync::Arc;

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, Tag, XSalsa20Poly1305};

use crate::error::CipherKind;
use crate::random::RandomSource;
use crate::{TransformError, Transformer};

/// secretbox nonce size.
pub const SECRETBOX_NONCE_SIZE: usize = 24;
/// secretbox overhead (the Poly1305 tag, stored before the ciphertext).
pub const SECRETBOX_OVERHEAD: usize = 16;

/// nonce(24) ‖ tag(16) ‖ ciphertext, as Go's `secretbox.Seal`. Not bound to the AAD.
pub struct Secretbox {
    cipher: XSalsa20Poly1305,
    random: Arc<dyn RandomSource>,
}

impl fmt::Debug for Secretbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secretbox(REDACTED)")
    }
}

impl Secretbox {
    /// A transformer for a 32-byte key.
    pub fn new(key: &[u8; 32], random: Arc<dyn RandomSource>) -> Self {
        Secretbox { cipher: XSalsa20Poly1305::new(key.into()), random }
    }
}

impl Transformer for Secretbox {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        _ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let mut nonce = [0u8; SECRETBOX_NONCE_SIZE];
        self.random
            .fill(&mut nonce)
            .map_err(|cause| TransformError::InsufficientRandom { cause })?;
        out.reserve(SECRETBOX_NONCE_SIZE + SECRETBOX_OVERHEAD + plaintext.len());
        out.extend_from_slice(&nonce);
        let tag_at = out.len();
        out.extend_from_slice(&[0u8; SECRETBOX_OVERHEAD]);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut out[start..])
            .expect("XSalsa20-Poly1305 has no practical length limit");
        out[tag_at..start].copy_from_slice(&tag);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], _ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let min = SECRETBOX_NONCE_SIZE + SECRETBOX_OVERHEAD;
        if stored.len() < min {
            return Err(TransformError::ShortData {
                cipher: CipherKind::Secretbox,
                len: stored.len(),
                min,
            });
        }
        let (nonce, boxed) = stored.split_at(SECRETBOX_NONCE_SIZE);
        let (tag, body) = boxed.split_at(SECRETBOX_OVERHEAD);
        let mut plain = body.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                b"",
                &mut plain,
                Tag::from_slice(tag),
            )
            .map_err(|_| TransformError::SecretboxOpen)?;
        Ok((plain, false))
    }
}
