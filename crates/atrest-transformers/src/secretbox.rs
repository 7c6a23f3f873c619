//! NaCl secretbox (XSalsa20-Poly1305): our batched XSalsa20 (`crate::xsalsa20`) and scalar
//! Poly1305 (`crate::poly1305`), composed as golang.org/x/crypto nacl/secretbox/secretbox.go
//! does.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/secretbox/secretbox.go.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::CipherKind;
use crate::random::RandomSource;
use crate::xsalsa20::{Lanes, XSalsa20};
use crate::{TransformError, Transformer};

/// secretbox nonce size.
pub const SECRETBOX_NONCE_SIZE: usize = 24;
/// secretbox overhead (the Poly1305 tag, stored before the ciphertext).
pub const SECRETBOX_OVERHEAD: usize = 16;

/// nonce(24) ‖ tag(16) ‖ ciphertext, as Go's `secretbox.Seal`. Not bound to the AAD.
pub struct Secretbox {
    key: Zeroizing<[u8; 32]>,
    lanes: Lanes,
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
        Secretbox::with_lanes(key, random, Lanes::detect())
    }

    /// A transformer on one build of the XSalsa20 batch loop (tests run each).
    pub(crate) fn with_lanes(key: &[u8; 32], random: Arc<dyn RandomSource>, lanes: Lanes) -> Self {
        Secretbox { key: Zeroizing::new(*key), lanes, random }
    }

    /// Writes the encryption of `plaintext` to `out` (same length) and returns its Poly1305
    /// tag.
    fn seal_into(
        &self,
        nonce: &[u8; SECRETBOX_NONCE_SIZE],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> [u8; 16] {
        let poly_key = Zeroizing::new(
            XSalsa20::new(&self.key, nonce).poly_key_and_xor(self.lanes, plaintext, out),
        );
        crate::poly1305::tag(&poly_key, out)
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
        out.resize(start + plaintext.len(), 0);
        let tag = self.seal_into(&nonce, plaintext, &mut out[start..]);
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
        let (nonce, boxed) = stored.split_first_chunk().expect("length checked above");
        let (tag, body) = boxed.split_first_chunk::<SECRETBOX_OVERHEAD>().expect("length checked");
        // Decrypt while the first key stream batch (which holds the Poly1305 key) is at hand, then
        // authenticate the ciphertext; unauthenticated plaintext is wiped, never returned.
        let mut plain = Zeroizing::new(vec![0u8; body.len()]);
        let poly_key = Zeroizing::new(
            XSalsa20::new(&self.key, nonce).poly_key_and_xor(self.lanes, body, &mut plain),
        );
        let expected = crate::poly1305::tag(&poly_key, body);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(TransformError::SecretboxOpen);
        }
        Ok((std::mem::take(&mut *plain), false))
    }
}

#[cfg(test)]
mod tests;
