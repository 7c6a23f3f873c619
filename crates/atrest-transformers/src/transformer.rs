//! The [`Transformer`] abstraction and the identity transformer.

use std::fmt;

use crate::TransformError;

/// Mirrors k8s.io/apiserver pkg/storage/value/transformer.go (`value.Transformer`).
///
/// `ctx` is the authenticated data: the full etcd key bytes
/// (`authenticatedDataString` in pkg/storage/etcd3/store.go).
pub trait Transformer: Send + Sync + fmt::Debug {
    /// Appends the storage form of `plaintext` to `out` (which may already hold a prefix).
    /// On error `out` may contain partial output; callers discard it.
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError>;

    /// Decrypts `stored` (with this transformer's prefix already stripped). The flag is
    /// upstream's `stale`: the value should be rewritten even if unchanged.
    #[expect(
        clippy::wrong_self_convention,
        reason = "the name mirrors upstream's TransformFromStorage and the brief's API"
    )]
    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError>;

    /// The storage form of `plaintext`.
    fn to_storage(&self, plaintext: &[u8], ctx: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut out = Vec::new();
        self.append_to_storage(plaintext, ctx, &mut out)?;
        Ok(out)
    }
}

/// The reserved prefix of encrypted data.
pub const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// Writes bytes unchanged; refuses to read `k8s:enc:` data.
///
/// Mirrors k8s.io/apiserver pkg/storage/value/encrypt/identity/identity.go
/// (`NewEncryptCheckTransformer`). Used both as the bare transformer of resources outside the
/// config and as the `identity: {}` provider (empty prefix), where the prefix list swallows
/// its error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Transformer for Identity {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        _ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        out.extend_from_slice(plaintext);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], _ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        if stored.starts_with(ENCRYPTED_PREFIX) {
            return Err(TransformError::IdentityEncryptedData);
        }
        Ok((stored.to_vec(), false))
    }
}
