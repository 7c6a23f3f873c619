//! What a start does besides loading the configuration: system namespaces, watch caches
//! filled by listing every resource, and the readiness checks that fail when one cannot list.

use super::*;

/// Namespaces a fresh cluster has (the apiserver's system namespaces controller).
pub(super) const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-node-lease", "kube-public", "kube-system"];

/// The readiness check that fails while any resource's watch cache cannot list its objects
/// (`/readyz?verbose` of kube-apiserver v1.37.2), until [`STORAGE_INITIALIZATION_TIMEOUT`].
pub(super) const STORAGE_READINESS: &str = "poststarthook/storage-readiness";

/// How long the storage-readiness hook waits before it logs "Deadline exceeded while waiting
/// for storage readiness... ignoring" and passes: `--storage-initialization-timeout`, 1m by
/// default (k8s.io/apiserver pkg/server/storage_readiness_hook.go, `Hook`; pkg/server/config.go).
/// Measured on v1.37.2: unreadable ConfigMaps alone keep /readyz failing about a minute.
pub(super) const STORAGE_INITIALIZATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Fails as well when the stuck resource is Secrets: the apiserver's own informers (whose sync
/// `informer-sync` waits for) list Secrets but not ConfigMaps (seen on v1.37.2).
pub(super) const INFORMER_SYNC: &str = "informer-sync";

/// How many watch events kube-apiserver decodes at once (`processEventConcurrency`).
pub(super) const WATCH_DECODE_CONCURRENCY: usize = 10;

impl SimCluster {
    /// Loads apiserver `i`'s configuration as the real one does at start.
    pub(super) fn load_transformers(
        &self,
        spec: &ApiServerSpec,
    ) -> Result<(ResourceTransformers, Option<String>), String> {
        let Some(path) = &spec.encryption_config else {
            let empty = atrest_config::EncryptionConfiguration {
                type_meta: atrest_config::TypeMeta::V1,
                resources: Vec::new(),
            };
            let plan =
                atrest_config::resolve::ResourcePlan::build(&empty).map_err(|e| e.to_string())?;
            let t =
                ResourceTransformers::with_random(&plan, &KmsPlugins::new(), self.random.clone())
                    .map_err(|e| e.to_string())?;
            return Ok((t, None));
        };
        let opts = LoadOptions { reload: spec.automatic_reload, kmsv1_enabled: false };
        let content = self
            .file_seen_by(spec, path)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound));
        let loaded = load::load(path, content, &opts).map_err(|e| e.to_string())?;
        let plugins = self.kms_plugins_for(path, &loaded.config)?;
        let t = ResourceTransformers::with_random(&loaded.plan, &plugins, self.random.clone())
            .map_err(|e| format!("error while building transformers: {e}"))?;
        Ok((t, Some(loaded.content_hash)))
    }

    /// What a fresh kube-apiserver writes before it is ready, as far as it matters here: the
    /// configmaps it keeps in kube-system (namespaces and other kinds are not modelled in etcd).
    pub(super) fn bootstrap(&mut self, i: usize) {
        if self.bootstrapped {
            return;
        }
        self.bootstrapped = true;
        let [authentication, tracking] = atrest_backend::APISERVER_CONFIGMAPS;
        for (name, key) in [(authentication, "client-ca-file"), (tracking, "since")] {
            let id = ObjectRef::new(Kind::ConfigMap, "kube-system", name);
            let meta = self.new_meta(&id);
            let data = Data(BTreeMap::from([(key.to_owned(), b"atrest-sim".to_vec())]));
            // A write failure here is the apiserver's own problem; real ones log and retry.
            let _ = self.write(i, &id, &meta, &data);
        }
    }

    /// The watch caches' first list at start, as far as a KMS v2 plugin sees it. kube-apiserver
    /// 1.37 decodes watch events, the initial ones included, up to
    /// [`WATCH_DECODE_CONCURRENCY`] at a time, in key order (k8s.io/apiserver
    /// pkg/storage/etcd3/watcher.go, `concurrentOrderedEventProcessing`; `ConcurrentWatchObjectDecode`
    /// is on by default since 1.37), and has no single-flight around `Decrypt`
    /// (pkg/storage/value/encrypt/envelope/kmsv2/envelope.go): every value read while its seed is
    /// still being unwrapped unwraps it again. Modelled for a plugin that answers slower than a
    /// cached value decodes (any real one): a value whose seed is not cached holds its place while
    /// the next ones start, so each such value opens a window of that many values in flight, and
    /// each of them whose seed was not cached when the window opened calls `Decrypt`. Errors are
    /// left to the reads that follow.
    pub(super) fn warm_watch_caches(&self, running: &Running) {
        for kind in [Kind::Secret, Kind::ConfigMap] {
            let gr = GroupResource::parse(kind.resource());
            let Some(chain) = running.transformers.chain_for(&gr) else { continue };
            if chain.kms_v2().is_empty() {
                continue;
            }
            let prefix = format!("{}/{}/", self.etcd_prefix(), kind.resource());
            let values: Vec<Option<(&KmsV2Envelope, &[u8])>> = self
                .etcd
                .range(&prefix)
                .map(|(_, kv)| {
                    chain.kms_v2().iter().find_map(|e| {
                        let tag = format!("k8s:enc:kms:v2:{}:", e.name());
                        kv.value.strip_prefix(tag.as_bytes()).map(|rest| (e.as_ref(), rest))
                    })
                })
                .collect();
            let needs = |v: &Option<(&KmsV2Envelope, &[u8])>| {
                v.is_some_and(|(envelope, stored)| envelope.needs_decrypt(stored))
            };
            let mut i = 0;
            while i < values.len() {
                if !needs(&values[i]) {
                    i += 1;
                    continue;
                }
                let window = &values[i..values.len().min(i + WATCH_DECODE_CONCURRENCY)];
                let misses: Vec<_> = window.iter().filter(|v| needs(v)).flatten().collect();
                for (envelope, stored) in misses {
                    let _ = envelope.decrypt_uncached(stored);
                }
                i += window.len();
            }
        }
    }

    /// The readiness checks that fail: a watch cache that cannot list its resource (one
    /// unreadable value) fails storage-readiness until the hook gives up, and a stuck Secrets
    /// cache fails `informer-sync` for ever (that check has no deadline: k8s.io/apiserver
    /// pkg/server/healthz/healthz.go, `informerSync`).
    pub(super) fn failing_checks(&self, running: &Running) -> Vec<String> {
        let stuck = |k: Kind| {
            let prefix = format!("{}/{}/", self.etcd_prefix(), k.resource());
            self.first_untransformable(running, &prefix, k).is_some()
        };
        let mut failing = Vec::new();
        if stuck(Kind::Secret) {
            failing.push(INFORMER_SYNC.to_owned());
        }
        let hook_waiting =
            self.now < running.started_at.saturating_add(STORAGE_INITIALIZATION_TIMEOUT);
        if hook_waiting && (stuck(Kind::Secret) || stuck(Kind::ConfigMap)) {
            failing.push(STORAGE_READINESS.to_owned());
        }
        failing
    }

    /// The first value under `prefix` (in key order) that does not transform, its error, and
    /// how many more do not.
    pub(super) fn first_untransformable(
        &self,
        running: &Running,
        prefix: &str,
        kind: Kind,
    ) -> Option<(String, String, usize)> {
        let t = Self::transformer(running, kind);
        let mut first = None;
        let mut more = 0;
        for (key, kv) in self.etcd.range(prefix) {
            let err = match t.from_storage(&kv.value, key.as_bytes()) {
                Ok((plain, _)) if decode_object(&plain).is_some() => continue,
                Ok(_) => "object not decodable".to_owned(),
                Err(e) => e.to_string(),
            };
            if first.is_none() {
                first = Some((key.clone(), err));
            } else {
                more += 1;
            }
        }
        first.map(|(k, e)| (k, e, more))
    }
}
