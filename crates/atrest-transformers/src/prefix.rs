//! The ordered prefix list: writes with the first entry, reads with every matching entry.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/transformer.go (`NewPrefixTransformers`,
//! `prefixTransformers`).

use std::sync::Arc;

use crate::{Attempt, TransformError, Transformer};

/// One `PrefixTransformer`: a prefix and what handles the bytes after it.
#[derive(Debug, Clone)]
pub struct PrefixEntry {
    /// The prefix (empty for identity).
    pub prefix: Vec<u8>,
    /// The transformer for the rest of the value.
    pub transformer: Arc<dyn Transformer>,
}

/// An ordered list of prefixed transformers with its "nothing matched" error.
#[derive(Debug, Clone)]
pub struct PrefixTransformers {
    entries: Vec<PrefixEntry>,
    no_match: TransformError,
}

impl PrefixTransformers {
    /// A list that answers `no_match` when no prefix matches.
    pub fn new(no_match: TransformError, entries: Vec<PrefixEntry>) -> Self {
        PrefixTransformers { entries, no_match }
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[PrefixEntry] {
        &self.entries
    }
}

impl Transformer for PrefixTransformers {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        // Upstream indexes transformers[0] (a panic when empty); configuration building never
        // creates an empty list, so answering the no-match error is only defensive.
        let Some(first) = self.entries.first() else {
            return Err(self.no_match.clone());
        };
        let start = out.len();
        out.extend_from_slice(&first.prefix);
        first.transformer.append_to_storage(plaintext, ctx, out).inspect_err(|_| {
            out.truncate(start);
        })
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let mut attempts = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let Some(rest) = stored.strip_prefix(entry.prefix.as_slice()) else {
                continue;
            };
            match entry.transformer.from_storage(rest, ctx) {
                Ok((plain, stale)) => return Ok((plain, stale || i != 0)),
                // The empty-prefix (identity) transformer's error is skipped silently, so
                // "identity first" configurations still read encrypted data.
                Err(_) if entry.prefix.is_empty() => continue,
                // Never short-circuit: several entries may share a prefix.
                Err(error) => attempts.push(Attempt {
                    transformer: String::from_utf8_lossy(&entry.prefix).into_owned(),
                    error,
                }),
            }
        }
        if attempts.is_empty() {
            Err(self.no_match.clone())
        } else {
            Err(TransformError::Failed { attempts })
        }
    }
}
