//! KMS v1 envelope encryption.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/envelope.go
//! (`envelopeTransformer`) with the GCM-then-CBC DEK transformer of
//! pkg/server/options/encryptionconfig/config.go (`envelopePrefixTransformer`).

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::aes::GcmCbcUnion;
use crate::kms::KmsV1Plugin;
use crate::random::RandomSource;
use crate::{TransformError, Transformer};

/// DEK size: a fresh AES-256 key on every write.
pub const KMS_V1_DEK_SIZE: usize = 32;

/// `uint16 BE length ‖ encrypted DEK ‖ AES-GCM(nonce ‖ ciphertext ‖ tag)`.
///
/// Reads fall back to AES-CBC with the same DEK (pre-1.25 writers) and then report stale.
/// Upstream's DEK LRU cache is not modelled: every read asks the plugin.
#[derive(Debug)]
pub struct KmsV1Envelope {
    plugin: Arc<dyn KmsV1Plugin>,
    random: Arc<dyn RandomSource>,
}

impl KmsV1Envelope {
    /// An envelope transformer over `plugin`.
    pub fn new(plugin: Arc<dyn KmsV1Plugin>, random: Arc<dyn RandomSource>) -> Self {
        KmsV1Envelope { plugin, random }
    }
}

impl Transformer for KmsV1Envelope {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let mut dek = Zeroizing::new([0u8; KMS_V1_DEK_SIZE]);
        self.random.fill(dek.as_mut()).map_err(|cause| TransformError::DekGeneration { cause })?;
        let encrypted = self.plugin.encrypt(dek.as_ref()).map_err(TransformError::KmsV1Plugin)?;
        let union = GcmCbcUnion::new(dek.as_ref())?;
        let len = u16::try_from(encrypted.len())
            .map_err(|_| TransformError::KmsV1DekTooLong { len: encrypted.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&encrypted);
        union.seal_append(self.random.as_ref(), plaintext, ctx, out)
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let (encrypted, payload) = split_kms_v1(stored).ok_or(TransformError::KmsV1LengthPrefix)?;
        let dek =
            Zeroizing::new(self.plugin.decrypt(encrypted).map_err(TransformError::KmsV1Plugin)?);
        GcmCbcUnion::new(&dek)?.open(payload, ctx)
    }
}

/// Splits a KMS v1 value (after its prefix) into encrypted DEK and payload.
pub(crate) fn split_kms_v1(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = stored.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}
