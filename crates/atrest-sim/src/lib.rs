//! The `sim` backend: an in-process model of kube-apiserver's storage encryption.
//!
//! One in-memory etcd ([`store`]) shared by N simulated apiservers. Each apiserver reads its
//! `--encryption-provider-config` from the cluster's (in-memory) file tree **at start only**,
//! through the same loader as `atrest check-config` (so a start fails with the apiserver's
//! exact `err`), unless automatic reload is on, in which case it hashes the file once a
//! simulated minute after its start (upstream's poll since 1.29) and loads it when the hash
//! changed, keeping the old configuration when the new one does not load.
//!
//! The storage path is upstream's (k8s.io/apiserver pkg/storage/etcd3/store.go):
//! objects are encoded as kube-apiserver encodes them (`k8s\0` + protobuf), written through
//! the resource's transformer with the etcd key as authenticated data, read through the
//! prefix chain with its stale flag; an update whose encoded object equals the stored
//! plaintext is skipped unless the read was stale (the resourceVersion then stays).
//!
//! KMS v2: each `ClusterSpec::kms_plugins` entry is an `atrest_kms::LocalKmsPlugin` (the
//! plugin's own keys, rotation and faults, without gRPC); a `kms` provider whose endpoint is
//! `unix://<socket>` of one of them calls it through the model's `KmsV2Envelope`. Time is a
//! simulated clock that moves only in [`Cluster::advance_clock`]: every running apiserver
//! polls `Status` once a minute after its start (upstream's `kmsv2PluginProbe` loop in
//! k8s.io/apiserver pkg/server/options/encryptionconfig/config.go), which is when a new
//! `key_id` gets a new DEK seed; a failed `Status` is retried 10 s later, and a write state
//! expires 3 minutes after the last healthy one. `/healthz/kms-providers` shares the poll's
//! check and its result cache (20 s healthy, 3 s failed); `/healthz`, `/livez` and `/readyz`
//! answer with upstream's check lists ([`health`]).

mod health;
mod status;
mod store;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, ClusterSpec, Data, Kind, KmsAction,
    KmsPluginState, Object, ObjectRef, RawEntry, StartFailure,
};
use atrest_config::load::{self, LoadOptions};
use atrest_config::resolve::GroupResource;
use atrest_kms::LocalKmsPlugin;
use atrest_objects::{
    ConfigMap, ObjectMeta, Secret, StoredObject, Time, decode_stored, encode_configmap,
    encode_secret,
};
use atrest_transformers::{
    KmsPlugins, KmsV2Envelope, KmsV2Plugin, OsRandom, RandomSource, ResourceTransformers,
    Transformer,
};

use crate::store::MemEtcd;

/// Namespaces a fresh cluster has (the apiserver's system namespaces controller).
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];

/// The readiness check that fails while any resource's watch cache cannot list its objects
/// (`/readyz?verbose` of kube-apiserver v1.37.2).
const STORAGE_READINESS: &str = "poststarthook/storage-readiness";

/// Fails as well when the stuck resource is Secrets: the apiserver's own informers (whose sync
/// `informer-sync` waits for) list Secrets but not ConfigMaps (seen on v1.37.2).
const INFORMER_SYNC: &str = "informer-sync";

/// How often automatic reload hashes the configuration file
/// (`EncryptionConfigFileChangePollDuration`, k8s.io/apiserver
/// pkg/server/options/encryptionconfig/controller).
const RELOAD_POLL: Duration = Duration::from_secs(60);

/// How many watch events kube-apiserver decodes at once (`processEventConcurrency`).
const WATCH_DECODE_CONCURRENCY: usize = 10;

/// The embedded simulator.
#[derive(Debug)]
pub struct SimCluster {
    files: BTreeMap<String, Vec<u8>>,
    etcd: MemEtcd,
    apiservers: Vec<SimApiServer>,
    random: Arc<dyn RandomSource>,
    bootstrapped: bool,
    /// KMS v2 plugins by name, with their socket path in the cluster's tree.
    kms: BTreeMap<String, (String, LocalKmsPlugin)>,
    /// The simulated clock: time since the cluster was created.
    now: Duration,
    /// The wall clock (Unix seconds) when the cluster was created: simulated time `t` reads
    /// as `epoch_unix + t` in texts.
    epoch_unix: i64,
}

/// How often a running apiserver polls a healthy KMS v2 plugin's `Status`
/// (`kmsv2PluginProbe`'s one-minute ticker).
const KMS_STATUS_POLL: Duration = Duration::from_secs(60);

/// How soon it polls again after a failed `Status`.
const KMS_STATUS_RETRY: Duration = Duration::from_secs(10);

/// How long a healthy check result is reused (`kmsPluginHealthzPositiveTTL`).
const KMS_HEALTHZ_POSITIVE_TTL: Duration = Duration::from_secs(20);

/// How long a failed check result is reused (`kmsPluginHealthzNegativeTTL`).
const KMS_HEALTHZ_NEGATIVE_TTL: Duration = Duration::from_secs(3);

/// How long a write state stays valid after the last healthy `Status`
/// (`kmsv2PluginWriteDEKSourceMaxTTL`).
const KMS_WRITE_TTL: Duration = Duration::from_secs(180);

#[derive(Debug)]
struct SimApiServer {
    spec: ApiServerSpec,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    transformers: ResourceTransformers,
    /// `sha256:<hex>` of the configuration file in use, if any.
    config_hash: Option<String>,
    reload_successes: u64,
    reload_failures: u64,
    /// When the next KMS v2 `Status` poll is due (simulated time).
    next_kms_poll: Duration,
    /// When automatic reload next hashes the configuration file (simulated time).
    next_reload_poll: Duration,
    /// KMS v2 key IDs seen in a healthy `Status`, by provider, with the simulated time last seen
    /// (`apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds`).
    kms_status_key_ids: BTreeMap<(String, String), Duration>,
    /// Until when each KMS v2 provider's write state is valid (simulated time).
    kms_write_valid_until: BTreeMap<String, Duration>,
    /// Each KMS v2 provider's last check: when, its raw error if it failed, how long it holds.
    kms_last_check: BTreeMap<String, (Duration, Option<String>, Duration)>,
}

/// A stored object read back through a transformer.
struct Current {
    meta: ObjectMeta,
    data: Data,
    plaintext: Vec<u8>,
    stale: bool,
    mod_revision: i64,
}

impl SimCluster {
    /// A cluster with OS randomness (IVs, nonces, UIDs).
    pub fn new(spec: ClusterSpec) -> SimCluster {
        SimCluster::with_random(spec, Arc::new(OsRandom::new()))
    }

    /// A cluster with an injected random source.
    pub fn with_random(spec: ClusterSpec, random: Arc<dyn RandomSource>) -> SimCluster {
        SimCluster {
            files: BTreeMap::new(),
            etcd: MemEtcd::new(),
            apiservers: spec
                .apiservers
                .into_iter()
                .map(|spec| SimApiServer { spec, running: None })
                .collect(),
            random,
            bootstrapped: false,
            kms: spec
                .kms_plugins
                .into_iter()
                .map(|p| {
                    let plugin = LocalKmsPlugin::new()
                        .expect("the OS random source gives a fresh key")
                        .with_socket_path(&p.socket);
                    (p.name, (p.socket, plugin))
                })
                .collect(),
            now: Duration::ZERO,
            epoch_unix: now_unix(),
        }
    }

    /// The KMS plugins a configuration's providers reach: by provider name, the plugin whose
    /// socket its endpoint names. An endpoint no plugin serves is an error (the simulator has
    /// nothing to dial).
    fn kms_plugins_for(
        &self,
        path: &str,
        config: &atrest_config::EncryptionConfiguration,
    ) -> Result<KmsPlugins, String> {
        let mut plugins = KmsPlugins::new();
        for kms in config.resources.iter().flat_map(|r| &r.providers).filter_map(|p| p.kms.as_ref())
        {
            let served =
                self.kms.values().find(|(socket, _)| kms.endpoint == format!("unix://{socket}"));
            match served {
                Some((_, plugin)) if kms.api_version == "v2" => {
                    let plugin: Arc<dyn KmsV2Plugin> = Arc::new(plugin.clone());
                    plugins = plugins.with_v2(kms.name.clone(), plugin);
                }
                _ => {
                    return Err(format!(
                        "atrest sim: {path} configures KMS provider {:?} at {}; the simulator \
                         serves only KMS v2 plugins of the cluster's spec",
                        kms.name, kms.endpoint
                    ));
                }
            }
        }
        Ok(plugins)
    }

    /// Moves the clock to `now`, running every KMS v2 `Status` poll and every automatic-reload
    /// poll of the configuration file that falls due on the way, in time order.
    fn run_timers(&mut self, now: Duration) {
        for i in 0..self.apiservers.len() {
            loop {
                let server = &self.apiservers[i];
                let Some(running) = server.running.as_ref() else { break };
                let reload_due = server.spec.automatic_reload.then_some(running.next_reload_poll);
                let kms_due = running.next_kms_poll;
                let at = reload_due.map_or(kms_due, |r| r.min(kms_due));
                if at > now {
                    break;
                }
                if reload_due == Some(at) {
                    // The reload sees the clock of its tick (its KMS probes, its timestamps).
                    self.now = at;
                    self.maybe_reload(i);
                    if let Some(running) = self.apiservers[i].running.as_mut() {
                        running.next_reload_poll = at + RELOAD_POLL;
                    }
                } else if let Some(running) = self.apiservers[i].running.as_mut() {
                    let healthy = Self::poll_kms(running, at);
                    running.next_kms_poll =
                        at + if healthy { KMS_STATUS_POLL } else { KMS_STATUS_RETRY };
                }
            }
        }
        self.now = now;
    }

    /// One `Status` poll of every KMS v2 provider of `running`, at simulated time `at`. Returns
    /// whether all were healthy.
    fn poll_kms(running: &mut Running, at: Duration) -> bool {
        Self::check_kms(running, at).iter().all(Result::is_ok)
    }

    /// Upstream's `kmsv2PluginProbe.check`, shared by the `Status` poll and
    /// `/healthz/kms-providers`: within the last result's TTL (20 s healthy, 3 s failed) the last
    /// result again (a failure as its raw error); else a fresh probe, whose success extends the
    /// provider's write state to `at` + 3 min and records the key ID. One result per provider,
    /// in configuration order.
    fn check_kms(running: &mut Running, at: Duration) -> Vec<Result<(), String>> {
        let envelopes: Vec<_> = running
            .transformers
            .chains()
            .flat_map(|(_, chain)| chain.kms_v2().iter().cloned())
            .collect();
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let name = envelope.name().to_owned();
            if let Some((received, err, ttl)) = running.kms_last_check.get(&name)
                && at.saturating_sub(*received) < *ttl
            {
                results.push(err.clone().map_or(Ok(()), Err));
                continue;
            }
            match envelope.probe() {
                Ok(()) => {
                    let key_id = envelope.write_key().map(|(k, _)| k).unwrap_or_default();
                    running.kms_write_valid_until.insert(name.clone(), at + KMS_WRITE_TTL);
                    running.kms_status_key_ids.insert((name.clone(), key_id), at);
                    running.kms_last_check.insert(name, (at, None, KMS_HEALTHZ_POSITIVE_TTL));
                    results.push(Ok(()));
                }
                Err(e) => {
                    let raw = match &e {
                        atrest_transformers::KmsV2ProbeError::Status { cause, .. } => {
                            cause.to_string()
                        }
                        other => other.to_string(),
                    };
                    running.kms_last_check.insert(name, (at, Some(raw), KMS_HEALTHZ_NEGATIVE_TTL));
                    results.push(Err(e.to_string()));
                }
            }
        }
        results
    }

    /// Upstream's `ValidateEncryptCapability` for a KMS v2 value about to be written: its
    /// provider's write state must still be valid.
    fn kms_write_capability(&self, running: &Running, stored: &[u8]) -> Result<(), String> {
        let atrest_transformers::Envelope::KmsV2 { provider: Some(provider), object: Ok(header) } =
            atrest_transformers::Envelope::parse(stored)
        else {
            return Ok(());
        };
        let until = running.kms_write_valid_until.get(&provider).copied().unwrap_or_default();
        if self.now <= until {
            return Ok(());
        }
        let wall = |t: Duration| {
            let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
            Time::from_unix_seconds(self.epoch_unix.saturating_add(secs)).to_rfc3339()
        };
        Err(format!(
            "encryptedDEKSource with keyID hash {:?} expired at {} (current time is {})",
            atrest_transformers::key_id_hash(&header.key_id),
            wall(until),
            wall(self.now)
        ))
    }

    fn server(&self, i: usize) -> Result<&SimApiServer, BackendError> {
        self.apiservers
            .get(i)
            .ok_or(BackendError::NoSuchApiServer { index: i, count: self.apiservers.len() })
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, io::Error> {
        self.files.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// Loads apiserver `i`'s configuration as the real one does at start.
    fn load_transformers(
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
        let loaded = load::load(path, self.read_file(path), &opts).map_err(|e| e.to_string())?;
        let plugins = self.kms_plugins_for(path, &loaded.config)?;
        let t = ResourceTransformers::with_random(&loaded.plan, &plugins, self.random.clone())
            .map_err(|e| format!("error while building transformers: {e}"))?;
        Ok((t, Some(loaded.content_hash)))
    }

    /// With automatic reload, re-reads the file as the reload controller would before the next
    /// request is served; a file that does not load keeps the old configuration.
    fn maybe_reload(&mut self, i: usize) {
        let Some(server) = self.apiservers.get(i) else { return };
        let (Some(path), Some(running)) = (&server.spec.encryption_config, &server.running) else {
            return;
        };
        if !server.spec.automatic_reload {
            return;
        }
        let now = self.files.get(path).map(|b| load::content_hash(b));
        if now.is_none() || now == running.config_hash {
            // A missing file is a failed reload; an unchanged one is no reload.
            if now.is_none()
                && let Some(r) = self.apiservers[i].running.as_mut()
            {
                r.reload_failures += 1;
            }
            return;
        }
        let spec = server.spec.clone();
        let result = self.load_transformers(&spec);
        let Some(running) = self.apiservers[i].running.as_mut() else { return };
        match result {
            Ok((t, hash)) => {
                running.transformers = t;
                running.config_hash = hash;
                running.reload_successes += 1;
            }
            Err(_) => running.reload_failures += 1,
        }
    }

    /// Checks apiserver `i` serves requests (after a due reload) and returns its index.
    fn serving(&mut self, i: usize) -> Result<usize, BackendError> {
        self.server(i)?;
        if self.apiservers[i].running.is_none() {
            return Err(BackendError::NotRunning(i));
        }
        Ok(i)
    }

    fn running(&self, i: usize) -> &Running {
        self.apiservers[i].running.as_ref().expect("checked by serving()")
    }

    fn transformer(running: &Running, kind: Kind) -> &dyn Transformer {
        running.transformers.for_resource(&GroupResource::parse(kind.resource()))
    }

    /// Reads and decodes one stored object as the etcd3 store does.
    fn read(&self, running: &Running, id: &ObjectRef) -> Result<Option<Current>, String> {
        let key = id.etcd_key(self.etcd_prefix());
        let Some(kv) = self.etcd.get(&key) else { return Ok(None) };
        let (plaintext, stale) = Self::transformer(running, id.kind)
            .from_storage(&kv.value, key.as_bytes())
            .map_err(|e| e.to_string())?;
        let (meta, data) =
            decode_object(&plaintext).ok_or_else(|| "object not decodable".to_owned())?;
        Ok(Some(Current { meta, data, plaintext, stale, mod_revision: kv.mod_revision }))
    }

    fn write(
        &mut self,
        i: usize,
        id: &ObjectRef,
        meta: &ObjectMeta,
        data: &Data,
    ) -> ApiResult<i64> {
        let plaintext = encode_object(id.kind, meta, data);
        let key = id.etcd_key(self.etcd_prefix());
        let Some(running) = self.apiservers[i].running.as_ref() else {
            return Err(status::internal("apiserver not running"));
        };
        let stored = Self::transformer(running, id.kind)
            .to_storage(&plaintext, key.as_bytes())
            .map_err(|e| status::internal(&e.to_string()))?;
        self.kms_write_capability(running, &stored).map_err(|e| status::internal(&e))?;
        Ok(self.etcd.put(&key, stored))
    }

    fn new_meta(&self, id: &ObjectRef) -> ObjectMeta {
        let mut uid = [0u8; 16];
        // A UID only needs to be unique; fall back to the revision if the source is exhausted.
        if self.random.fill(&mut uid).is_err() {
            uid[..8].copy_from_slice(&self.etcd_revision().to_be_bytes());
        }
        uid[6] = (uid[6] & 0x0f) | 0x40;
        uid[8] = (uid[8] & 0x3f) | 0x80;
        let h = |r: &[u8]| r.iter().map(|b| format!("{b:02x}")).collect::<String>();
        ObjectMeta {
            name: id.name.clone(),
            namespace: id.namespace.clone(),
            uid: format!(
                "{}-{}-{}-{}-{}",
                h(&uid[0..4]),
                h(&uid[4..6]),
                h(&uid[6..8]),
                h(&uid[8..10]),
                h(&uid[10..16])
            ),
            creation_timestamp: Time::from_unix_seconds(now_unix()),
            ..ObjectMeta::default()
        }
    }

    fn etcd_revision(&self) -> i64 {
        self.etcd.range("").map(|(_, kv)| kv.mod_revision).max().unwrap_or(1)
    }

    /// What a fresh kube-apiserver writes before it is ready, as far as it matters here: the
    /// configmaps it keeps in kube-system (namespaces and other kinds are not modelled in etcd).
    fn bootstrap(&mut self, i: usize) {
        if self.bootstrapped {
            return;
        }
        self.bootstrapped = true;
        for (name, key) in [
            ("extension-apiserver-authentication", "client-ca-file"),
            ("kube-apiserver-legacy-service-account-token-tracking", "since"),
        ] {
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
    fn warm_watch_caches(&self, running: &Running) {
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
    /// unreadable value) keeps the apiserver from ever becoming ready.
    fn failing_checks(&self, running: &Running) -> Vec<String> {
        let stuck = |k: Kind| {
            let prefix = format!("{}/{}/", self.etcd_prefix(), k.resource());
            self.first_untransformable(running, &prefix, k).is_some()
        };
        let mut failing = Vec::new();
        if stuck(Kind::Secret) {
            failing.push(INFORMER_SYNC.to_owned());
        }
        if stuck(Kind::Secret) || stuck(Kind::ConfigMap) {
            failing.push(STORAGE_READINESS.to_owned());
        }
        failing
    }

    /// The first value under `prefix` (in key order) that does not transform, its error, and
    /// how many more do not.
    fn first_untransformable(
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

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn encode_object(kind: Kind, meta: &ObjectMeta, data: &Data) -> Vec<u8> {
    let mut meta = meta.clone();
    meta.prepare_for_storage();
    match kind {
        Kind::Secret => encode_secret(&Secret {
            metadata: meta,
            data: data.0.clone(),
            type_: "Opaque".to_owned(),
            ..Secret::default()
        }),
        Kind::ConfigMap => encode_configmap(&ConfigMap {
            metadata: meta,
            data: data
                .0
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            ..ConfigMap::default()
        }),
    }
}

fn decode_object(plaintext: &[u8]) -> Option<(ObjectMeta, Data)> {
    match decode_stored(plaintext).ok()? {
        StoredObject::Secret(s) => Some((s.metadata, Data(s.data))),
        StoredObject::ConfigMap(c) => {
            Some((c.metadata, Data(c.data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())))
        }
        _ => None,
    }
}

fn to_object(id: &ObjectRef, data: Data, revision: i64) -> Object {
    Object { id: id.clone(), data, resource_version: Some(revision.to_string()) }
}

impl Cluster for SimCluster {
    fn backend_name(&self) -> &'static str {
        "sim"
    }

    fn apiserver_count(&self) -> usize {
        self.apiservers.len()
    }

    fn file_root(&self) -> Option<String> {
        None
    }

    fn kms_endpoint(&self, name: &str) -> Option<String> {
        self.kms.get(name).map(|(socket, _)| format!("unix://{socket}"))
    }

    fn kms_reader(&self, name: &str) -> Option<Arc<dyn KmsV2Plugin>> {
        self.kms.get(name).map(|(_, plugin)| Arc::new(plugin.uncounted()) as Arc<dyn KmsV2Plugin>)
    }

    async fn kms_plugin(
        &mut self,
        name: &str,
        action: KmsAction,
    ) -> Result<KmsPluginState, BackendError> {
        let (_, plugin) =
            self.kms.get(name).ok_or_else(|| BackendError::NoSuchKmsPlugin(name.to_owned()))?;
        let what = format!("KMS plugin {name}: {action:?}");
        let done = match action {
            KmsAction::Status => Ok(()),
            KmsAction::Rotate => plugin.rotate().map(drop),
            KmsAction::SetFault(fault) => plugin.set_fault(fault.into()).map(drop),
            KmsAction::ClearFaults => plugin.clear_faults().map(drop),
        };
        done.map_err(|e| BackendError::other(what, e))?;
        let calls = plugin.calls();
        Ok(KmsPluginState {
            key_id: plugin.key_id(),
            key_ids: plugin.key_ids(),
            calls: calls.into(),
        })
    }

    fn advance_clock(&mut self, by: Duration) -> bool {
        self.run_timers(self.now.saturating_add(by));
        true
    }

    async fn write_file(&mut self, path: &str, contents: &[u8]) -> Result<(), BackendError> {
        self.files.insert(path.to_owned(), contents.to_vec());
        Ok(())
    }

    async fn remove_file(&mut self, path: &str) -> Result<(), BackendError> {
        self.files.remove(path);
        Ok(())
    }

    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError> {
        self.server(i)?;
        self.apiservers[i].spec = spec;
        Ok(())
    }

    async fn start_apiserver(
        &mut self,
        i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        let spec = self.server(i)?.spec.clone();
        if self.apiservers[i].running.is_some() {
            return Err(BackendError::other(
                format!("starting apiserver {i}"),
                "it is already running",
            ));
        }
        let (transformers, config_hash) = match self.load_transformers(&spec) {
            Ok(t) => t,
            Err(err) => return Ok(Err(StartFailure::Exited { code: Some(1), err: Some(err) })),
        };
        let mut running = Running {
            transformers,
            config_hash,
            reload_successes: 0,
            reload_failures: 0,
            next_kms_poll: self.now + KMS_STATUS_POLL,
            next_reload_poll: self.now + RELOAD_POLL,
            kms_status_key_ids: BTreeMap::new(),
            kms_write_valid_until: BTreeMap::new(),
            kms_last_check: BTreeMap::new(),
        };
        // The inline probe of the build gave the first write state; it counts as a Status seen.
        Self::poll_kms(&mut running, self.now);
        self.warm_watch_caches(&running);
        self.apiservers[i].running = Some(running);
        self.bootstrap(i);
        let failing =
            self.apiservers[i].running.as_ref().map(|r| self.failing_checks(r)).unwrap_or_default();
        if failing.is_empty() {
            Ok(Ok(()))
        } else {
            // It keeps running and answering requests, but never becomes ready.
            Ok(Err(StartFailure::NotReady { failing }))
        }
    }

    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        self.server(i)?;
        self.apiservers[i].running = None;
        Ok(())
    }

    fn is_running(&self, i: usize) -> bool {
        self.apiservers.get(i).is_some_and(|s| s.running.is_some())
    }

    async fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        self.serving(i)?;
        let id = &object.id;
        if !SYSTEM_NAMESPACES.contains(&id.namespace.as_str()) {
            return Ok(Err(status::not_found("namespaces", &id.namespace)));
        }
        // Admission (the namespace) runs before validation, validation before the store.
        if let Some(invalid) = status::invalid_name(id.kind, &id.name) {
            return Ok(Err(invalid));
        }
        if self.etcd.get(&id.etcd_key(self.etcd_prefix())).is_some() {
            return Ok(Err(status::already_exists(id.kind, &id.name)));
        }
        let meta = self.new_meta(id);
        Ok(self
            .write(i, id, &meta, &object.data)
            .map(|rev| to_object(id, object.data.clone(), rev)))
    }

    async fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        let id = &object.id;
        let i = self.serving(i)?;
        let running = self.running(i);
        let current = match self.read(running, id) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(Err(status::not_found(id.kind.resource(), &id.name))),
            Err(err) => return Ok(Err(status::update_untransformable(&err))),
        };
        if let Some(rv) = &object.resource_version
            && *rv != current.mod_revision.to_string()
        {
            return Ok(Err(status::conflict(id.kind, &id.name)));
        }
        // GuaranteedUpdate: skip the write when nothing changed and the read was not stale.
        let encoded = encode_object(id.kind, &current.meta, &object.data);
        if encoded == current.plaintext && !current.stale {
            return Ok(Ok(to_object(id, current.data, current.mod_revision)));
        }
        Ok(self
            .write(i, id, &current.meta, &object.data)
            .map(|rev| to_object(id, object.data.clone(), rev)))
    }

    async fn get(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        let i = self.serving(i)?;
        let running = self.running(i);
        Ok(match self.read(running, id) {
            Ok(Some(c)) => Ok(to_object(id, c.data, c.mod_revision)),
            Ok(None) => Err(status::not_found(id.kind.resource(), &id.name)),
            Err(err) => Err(status::corrupt_object(&id.storage_key(), &err)),
        })
    }

    async fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        let i = self.serving(i)?;
        let running = self.running(i);
        let mut prefix = format!("{}/{}/", self.etcd_prefix(), kind.resource());
        if let Some(ns) = namespace {
            prefix.push_str(ns);
            prefix.push('/');
        }
        let t = Self::transformer(running, kind);
        // A paged list is served by etcd when the watch cache cannot be used; every value under
        // the prefix is transformed and the failures aggregated.
        if let Some((first, err, more)) = self.first_untransformable(running, &prefix, kind) {
            return Ok(Err(status::list_store_read_error(kind, &first, &err, more)));
        }
        let resource_prefix = format!("{}/{}/", self.etcd_prefix(), kind.resource());
        let mut objects = Vec::new();
        for (key, kv) in self.etcd.range(&prefix) {
            let Some((ns, name)) =
                key.strip_prefix(&resource_prefix).and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            let id = ObjectRef::new(kind, ns, name);
            let Ok((plain, _)) = t.from_storage(&kv.value, key.as_bytes()) else { continue };
            if let Some((_, data)) = decode_object(&plain) {
                objects.push(to_object(&id, data, kv.mod_revision));
            }
        }
        Ok(Ok(objects))
    }

    async fn delete(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        let i = self.serving(i)?;
        let running = self.running(i);
        match self.read(running, id) {
            Ok(Some(_)) => {
                self.etcd.delete(&id.etcd_key(self.etcd_prefix()));
                Ok(Ok(()))
            }
            Ok(None) => Ok(Err(status::not_found(id.kind.resource(), &id.name))),
            Err(err) => Ok(Err(status::corrupt_object(&id.storage_key(), &err))),
        }
    }

    async fn metrics(&mut self, i: usize) -> Result<ApiResult<String>, BackendError> {
        let i = self.serving(i)?;
        let running = self.running(i);
        let mut text = String::new();
        if let Some(hash) = &running.config_hash {
            text.push_str(&format!(
                "apiserver_encryption_config_controller_last_config_info{{apiserver_id_hash=\"sim\",hash=\"{hash}\"}} 1\n"
            ));
        }
        text.push_str(&format!(
            "apiserver_encryption_config_controller_automatic_reloads_total{{apiserver_id_hash=\"sim\",status=\"success\"}} {}\n\
             apiserver_encryption_config_controller_automatic_reloads_total{{apiserver_id_hash=\"sim\",status=\"failure\"}} {}\n",
            running.reload_successes, running.reload_failures
        ));
        for ((provider, key_id), at) in &running.kms_status_key_ids {
            text.push_str(&format!(
                "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{{apiserver_id_hash=\"sim\",key_id_hash=\"{}\",provider_name=\"{provider}\"}} {}\n",
                atrest_transformers::key_id_hash(key_id),
                at.as_secs_f64()
            ));
        }
        Ok(Ok(text))
    }

    /// Answers `/healthz`, `/livez`, `/readyz` (verbose or not) and their `kms-providers`
    /// check as kube-apiserver does (see [`health`]): the KMS v2 check of every provider
    /// (cached as upstream caches it), failures joined as `kms-provider-<i>: <err>` in a
    /// `internal server error: …` body (k8s.io/apiserver pkg/server/options/encryptionconfig,
    /// `kmsHealthChecker`), and the watch-cache checks of [`Self::failing_checks`]. Other paths,
    /// and the reasons of other failing checks, are a backend error: the simulator does not
    /// model them.
    async fn probe(&mut self, i: usize, path: &str) -> Result<(u16, String), BackendError> {
        let i = self.serving(i)?;
        let unmodelled = |what: &str| {
            BackendError::other(format!("GET {path} of apiserver {i}"), what.to_owned())
        };
        let Some(request) = health::HealthPath::parse(path) else {
            return Err(unmodelled(
                "the simulator answers only /healthz, /livez and /readyz (optionally ?verbose) and \
                 their checks",
            ));
        };
        let now = self.now;
        let reload = self.apiservers[i].spec.automatic_reload;
        let running = self.apiservers[i].running.as_mut().expect("checked by serving()");
        let has_kms = running.transformers.chains().any(|(_, chain)| !chain.kms_v2().is_empty());
        let kms_listed = has_kms || reload;
        let kms = |running: &mut Running| {
            let failures: Vec<String> = Self::check_kms(running, now)
                .into_iter()
                .enumerate()
                .filter_map(|(index, r)| r.err().map(|e| format!("kms-provider-{index}: {e}")))
                .collect();
            if failures.is_empty() { Ok(()) } else { Err(failures.join(", ")) }
        };
        let listed = request.root.checks(kms_listed);
        match request.check {
            None => {
                let mut failing: Vec<&str> = Vec::new();
                // Listed only when configured (or reloading), and never on /livez.
                if listed.contains(&health::KMS_PROVIDERS) && kms(running).is_err() {
                    failing.push(health::KMS_PROVIDERS);
                }
                let running = self.running(i);
                let watch = self.failing_checks(running);
                failing.extend(listed.iter().copied().filter(|c| watch.iter().any(|w| w == c)));
                Ok(health::root_answer(request.root, kms_listed, request.verbose, &failing))
            }
            Some(check) if !listed.contains(&check) => Ok(health::not_found()),
            Some(health::KMS_PROVIDERS) => Ok(health::check_answer(kms(running))),
            Some(check) => {
                let running = self.running(i);
                if self.failing_checks(running).iter().any(|w| w == check) {
                    Err(unmodelled(&format!(
                        "the simulator does not model the reason check {check} gives"
                    )))
                } else {
                    Ok(health::check_answer(Ok(())))
                }
            }
        }
    }

    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        Ok(self.etcd.entry(key))
    }

    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        Ok(self
            .etcd
            .range(prefix)
            .map(|(k, kv)| RawEntry {
                key: k.clone(),
                value: kv.value.clone(),
                mod_revision: kv.mod_revision,
            })
            .collect())
    }

    fn log_dir(&self) -> Option<PathBuf> {
        None
    }

    fn keep_logs(&mut self) {}

    async fn shutdown(self) -> Result<(), BackendError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
