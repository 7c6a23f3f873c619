//! The KMS v1 DEK cache (upstream envelope.go: an LRU of `cachesize` DEK transformers keyed by
//! the encrypted DEK, filled by writes and by reads; `cachesize` ≤ 0 disables it), observed
//! through a plugin that counts `Decrypt` calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use atrest_transformers::{
    Base64Plugin, KmsPlugins, KmsV1Envelope, KmsV1Plugin, PluginError, ProviderChain, SeededRandom,
    Transformer,
};

use crate::support::provider;

/// Upstream's Base64 mock, counting `Decrypt` calls.
#[derive(Debug, Default)]
struct Counting {
    inner: Base64Plugin,
    decrypts: AtomicUsize,
}

impl Counting {
    fn decrypts(&self) -> usize {
        self.decrypts.load(Ordering::SeqCst)
    }
}

impl KmsV1Plugin for Counting {
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PluginError> {
        KmsV1Plugin::encrypt(&self.inner, plaintext)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        KmsV1Plugin::decrypt(&self.inner, ciphertext)
    }
}

const AAD: &[u8] = b"/registry/secrets/ns/name";

/// Values written by a separate envelope (another apiserver), so the reader's cache is cold.
fn foreign_values(n: u8) -> Vec<Vec<u8>> {
    let writer = KmsV1Envelope::new(Arc::new(Base64Plugin::new()), Arc::new(SeededRandom::new(7)));
    (0..n).map(|i| writer.to_storage(&[i; 20], AAD).expect("write")).collect()
}

fn reader(cachesize: i32) -> (Arc<Counting>, KmsV1Envelope) {
    let plugin = Arc::new(Counting::default());
    let env =
        KmsV1Envelope::with_cache_size(plugin.clone(), Arc::new(SeededRandom::new(1)), cachesize);
    (plugin, env)
}

#[test]
fn repeated_reads_call_the_plugin_once() {
    let values = foreign_values(1);
    let (plugin, env) = reader(1000);
    for _ in 0..5 {
        assert_eq!(env.from_storage(&values[0], AAD).expect("read"), (vec![0; 20], false));
    }
    assert_eq!(plugin.decrypts(), 1);
    assert_eq!(env.cached_deks(), 1);

    // A cached DEK no longer needs the plugin at all, as upstream.
    plugin.inner.enter_failed_state();
    assert_eq!(env.from_storage(&values[0], AAD).expect("cached read"), (vec![0; 20], false));
    assert_eq!(plugin.decrypts(), 1);
}

#[test]
fn writes_fill_the_cache() {
    let (plugin, env) = reader(1000);
    let stored = env.to_storage(b"value", AAD).expect("write");
    assert_eq!(env.from_storage(&stored, AAD).expect("read"), (b"value".to_vec(), false));
    assert_eq!(plugin.decrypts(), 0, "upstream adds the write's DEK to the cache");
}

#[test]
fn zero_or_negative_cachesize_disables_the_cache() {
    let values = foreign_values(1);
    for cachesize in [-1, 0] {
        let (plugin, env) = reader(cachesize);
        let stored = env.to_storage(b"own", AAD).expect("write");
        for _ in 0..3 {
            env.from_storage(&values[0], AAD).expect("read");
        }
        env.from_storage(&stored, AAD).expect("read own");
        assert_eq!(plugin.decrypts(), 4, "cachesize {cachesize}");
        assert_eq!(env.cached_deks(), 0);
    }
}

#[test]
fn the_cache_is_a_bounded_lru() {
    let values = foreign_values(3);
    let (plugin, env) = reader(2);
    let read = |i: usize| env.from_storage(&values[i], AAD).expect("read");
    read(0);
    read(1);
    read(0); // 0 is now more recent than 1
    assert_eq!(plugin.decrypts(), 2);
    read(2); // evicts 1, the least recently used
    assert_eq!((plugin.decrypts(), env.cached_deks()), (3, 2));
    read(0);
    read(2);
    assert_eq!(plugin.decrypts(), 3, "0 and 2 stayed cached");
    read(1);
    assert_eq!(plugin.decrypts(), 4, "1 was evicted");
    assert_eq!(env.cached_deks(), 2);
}

#[test]
fn the_chain_uses_the_configured_cachesize() {
    let values = foreign_values(1);
    let mut stored = b"k8s:enc:kms:v1:v1-provider:".to_vec();
    stored.extend_from_slice(&values[0]);
    for (cachesize, calls) in [(None, 1), (Some(1000), 1), (Some(-1), 3)] {
        let plugin = Arc::new(Counting::default());
        let kms = KmsPlugins::new().with_kms_v1_gate(true).with_v1("v1-provider", plugin.clone());
        let mut p = provider("kmsv1", vec![], "v1-provider");
        if let Some(kms) = p.kms.as_mut() {
            kms.cachesize = cachesize;
        }
        let chain = ProviderChain::build_with_random(&[&p], &kms, Arc::new(SeededRandom::new(3)))
            .expect("build");
        for _ in 0..3 {
            assert_eq!(chain.from_storage(&stored, AAD).expect("read"), (vec![0; 20], false));
        }
        assert_eq!(plugin.decrypts(), calls, "cachesize {cachesize:?}");
    }
}
