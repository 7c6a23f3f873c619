//! KMS v1 envelope encryption.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/envelope.go
//! (`envelopeTransformer`) with the GCM-then-CBC DEK transformer of
//! pkg/server/options/encryptionconfig/config.go (`envelopePrefixTransformer`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::aes::GcmCbcUnion;
use crate::kms::KmsV1Plugin;
use crate::random::{RandomSource, lock};
use crate::{TransformError, Transformer};

/// DEK size: a fresh AES-256 key on every write.
pub const KMS_V1_DEK_SIZE: usize = 32;

/// `cachesize` when the configuration leaves it unset (`defaultCacheSize`).
pub const KMS_V1_DEFAULT_CACHE_SIZE: i32 = 1000;

/// `uint16 BE length ‖ encrypted DEK ‖ AES-GCM(nonce ‖ ciphertext ‖ tag)`.
///
/// Reads fall back to AES-CBC with the same DEK (pre-1.25 writers) and then report stale.
/// Like upstream, DEK transformers are kept in an LRU cache keyed by the encrypted DEK
/// (`cachesize` entries; zero or negative disables it): writes add their new DEK, and reads of
/// a cached encrypted DEK neither call the plugin nor expand a key schedule.
pub struct KmsV1Envelope {
    plugin: Arc<dyn KmsV1Plugin>,
    random: Arc<dyn RandomSource>,
    cache: Option<Mutex<DekCache>>,
}

impl fmt::Debug for KmsV1Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("KmsV1Envelope");
        d.field("plugin", &self.plugin);
        match &self.cache {
            Some(cache) => {
                let cache = lock(cache);
                d.field("cache_capacity", &cache.capacity).field("cached_deks", &cache.len())
            }
            None => d.field("cache_capacity", &0),
        };
        d.finish_non_exhaustive()
    }
}

impl KmsV1Envelope {
    /// An envelope transformer over `plugin` with upstream's default cache of
    /// [`KMS_V1_DEFAULT_CACHE_SIZE`] DEKs.
    pub fn new(plugin: Arc<dyn KmsV1Plugin>, random: Arc<dyn RandomSource>) -> Self {
        Self::with_cache_size(plugin, random, KMS_V1_DEFAULT_CACHE_SIZE)
    }

    /// An envelope transformer whose DEK cache holds `cachesize` entries; zero or negative
    /// disables the cache, so every read asks the plugin (mirrors `NewEnvelopeTransformer`).
    pub fn with_cache_size(
        plugin: Arc<dyn KmsV1Plugin>,
        random: Arc<dyn RandomSource>,
        cachesize: i32,
    ) -> Self {
        let cache = usize::try_from(cachesize)
            .ok()
            .filter(|&capacity| capacity > 0)
            .map(|capacity| Mutex::new(DekCache::new(capacity)));
        KmsV1Envelope { plugin, random, cache }
    }

    /// How many DEK transformers are cached.
    pub fn cached_deks(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| lock(c).len())
    }

    fn cached(&self, encrypted: &[u8]) -> Option<Arc<GcmCbcUnion>> {
        self.cache.as_ref().and_then(|c| lock(c).get(encrypted))
    }

    fn remember(&self, encrypted: &[u8], union: &Arc<GcmCbcUnion>) {
        if let Some(cache) = &self.cache {
            lock(cache).insert(encrypted.to_vec(), union.clone());
        }
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
        let union = Arc::new(GcmCbcUnion::new(dek.as_ref())?);
        // Upstream caches the new DEK before encrypting, so reading this write back is free.
        self.remember(&encrypted, &union);
        let len = u16::try_from(encrypted.len())
            .map_err(|_| TransformError::KmsV1DekTooLong { len: encrypted.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&encrypted);
        union.seal_append(self.random.as_ref(), plaintext, ctx, out)
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let (encrypted, payload) = split_kms_v1(stored).ok_or(TransformError::KmsV1LengthPrefix)?;
        let union = match self.cached(encrypted) {
            Some(union) => union,
            None => {
                let dek = Zeroizing::new(
                    self.plugin.decrypt(encrypted).map_err(TransformError::KmsV1Plugin)?,
                );
                let union = Arc::new(GcmCbcUnion::new(&dek)?);
                self.remember(encrypted, &union);
                union
            }
        };
        union.open(payload, ctx)
    }
}

/// A least-recently-used map from encrypted DEK to its transformer (k8s.io/utils/lru:
/// `Get` and `Add` make an entry the most recent; adding beyond capacity drops the least
/// recent). Recency is a counter; `order` finds the oldest entry in O(log n).
struct DekCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<Vec<u8>, (u64, Arc<GcmCbcUnion>)>,
    order: BTreeMap<u64, Vec<u8>>,
}

impl DekCache {
    fn new(capacity: usize) -> Self {
        DekCache { capacity, tick: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn touch(&mut self, key: &[u8]) -> Option<Arc<GcmCbcUnion>> {
        self.tick += 1;
        let tick = self.tick;
        let (used, union) = self.entries.get_mut(key)?;
        let key = self.order.remove(used).unwrap_or_else(|| key.to_vec());
        *used = tick;
        let union = union.clone();
        self.order.insert(tick, key);
        Some(union)
    }

    fn get(&mut self, key: &[u8]) -> Option<Arc<GcmCbcUnion>> {
        self.touch(key)
    }

    fn insert(&mut self, key: Vec<u8>, union: Arc<GcmCbcUnion>) {
        if self.touch(&key).is_some() {
            if let Some((_, slot)) = self.entries.get_mut(&key) {
                *slot = union;
            }
            return;
        }
        if self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (self.tick, union));
    }
}

/// Splits a KMS v1 value (after its prefix) into encrypted DEK and payload.
pub(crate) fn split_kms_v1(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = stored.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}
