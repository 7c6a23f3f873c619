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

mod clock;
mod health;
mod kms;
mod startup;
mod status;
mod storage;
mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, ClusterSpec, Data, EtcdMaintenance,
    KillSignal, Kind, KmsAction, KmsPluginState, Member, Object, ObjectRef, RawEntry, StartFailure,
};

/// The checks that fail while etcd is down (read from the real apiserver's `/readyz?verbose`
/// with its etcd killed; pinned by the differential test's `etcd-crash-mid-rewrite`).
const ETCD_DOWN_FAILING: [&str; 2] = ["etcd", "etcd-readiness"];
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

use crate::clock::*;
use crate::kms::*;
use crate::startup::*;
use crate::storage::*;
use crate::store::{MemEtcd, NoSpace};

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
    /// etcd was killed (`Cluster::kill_member`) and not started again.
    etcd_down: bool,
    /// etcd is frozen (`Cluster::pause_member`): health checks fail on it as when it is down.
    etcd_paused: bool,
    /// The wall clock (Unix seconds) when the cluster was created: simulated time `t` reads
    /// as `epoch_unix + t` in texts.
    epoch_unix: i64,
}

#[derive(Debug)]
struct SimApiServer {
    spec: ApiServerSpec,
    running: Option<Running>,
    /// Frozen (`Cluster::pause_member`): it answers nothing, as a stopped process.
    paused: bool,
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
    /// When it started (simulated time): its storage-readiness hook gives up
    /// [`STORAGE_INITIALIZATION_TIMEOUT`] later.
    started_at: Duration,
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
            etcd: MemEtcd::new(spec.etcd.quota_backend_bytes),
            apiservers: spec
                .apiservers
                .into_iter()
                .map(|spec| SimApiServer { spec, running: None, paused: false })
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
            etcd_down: false,
            etcd_paused: false,
            epoch_unix: now_unix(),
        }
    }

    fn server(&self, i: usize) -> Result<&SimApiServer, BackendError> {
        self.apiservers
            .get(i)
            .ok_or(BackendError::NoSuchApiServer { index: i, count: self.apiservers.len() })
    }

    /// The file an apiserver laid out as `spec` finds at `path`: through its mounts, so a path
    /// no mount covers is absent whatever the node holds there.
    fn file_seen_by(&self, spec: &ApiServerSpec, path: &str) -> Option<&Vec<u8>> {
        spec.resolve(path).and_then(|host| self.files.get(&host))
    }

    /// Checks etcd is up: what a real apiserver does with a request while it is down (it
    /// blocks up to its request timeout, then fails) is not modelled, so a scenario makes none.
    fn etcd_up(&self, what: &str) -> Result<(), BackendError> {
        if self.etcd_down || self.etcd_paused {
            return Err(BackendError::other(
                what.to_owned(),
                "etcd is down or paused: the simulator does not model requests that need it then",
            ));
        }
        Ok(())
    }

    /// Checks apiserver `i` serves requests (after a due reload), and that etcd is up, and
    /// returns its index.
    fn serving(&mut self, i: usize) -> Result<usize, BackendError> {
        self.etcd_up(&format!("a request to apiserver {i}"))?;
        self.answering(i)
    }

    /// Checks apiserver `i` runs (its health endpoints answer with etcd down too).
    fn answering(&mut self, i: usize) -> Result<usize, BackendError> {
        if self.server(i)?.paused {
            return Err(BackendError::other(
                format!("a request to apiserver {i}"),
                "it is paused: the simulator does not model requests to a frozen apiserver",
            ));
        }
        if self.apiservers[i].running.is_none() {
            return Err(BackendError::NotRunning(i));
        }
        Ok(i)
    }

    /// Freezes or thaws `member`.
    fn set_paused(&mut self, member: &Member, pause: bool) -> Result<(), BackendError> {
        let state = |problem| BackendError::MemberState { member: member.clone(), problem };
        let wrong = if pause { "already paused" } else { "not paused" };
        match member {
            Member::Etcd if self.etcd_down => Err(state("not running")),
            Member::Etcd if self.etcd_paused == pause => Err(state(wrong)),
            Member::Etcd => {
                self.etcd_paused = pause;
                Ok(())
            }
            Member::ApiServer(i) => {
                self.server(*i)?;
                let server = &mut self.apiservers[*i];
                if server.running.is_none() {
                    return Err(state("not running"));
                }
                if server.paused == pause {
                    return Err(state(wrong));
                }
                server.paused = pause;
                Ok(())
            }
            Member::KmsPlugin(name) => {
                let plugin = self.plugin(name)?;
                if plugin.is_down() {
                    return Err(state("not running"));
                }
                if plugin.is_frozen() == pause {
                    return Err(state(wrong));
                }
                if pause {
                    plugin.freeze()
                } else {
                    plugin.thaw()
                }
                Ok(())
            }
        }
    }

    fn plugin(&self, name: &str) -> Result<&LocalKmsPlugin, BackendError> {
        self.kms
            .get(name)
            .map(|(_, plugin)| plugin)
            .ok_or_else(|| BackendError::NoSuchKmsPlugin(name.to_owned()))
    }

    fn running(&self, i: usize) -> &Running {
        self.apiservers[i].running.as_ref().expect("checked by serving()")
    }
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
        self.etcd_up(&format!("starting apiserver {i}"))?;
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
            started_at: self.now,
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
            // It keeps running and answering requests, not ready (for ever when Secrets are
            // stuck, until the storage-readiness hook gives up when only ConfigMaps are).
            Ok(Err(StartFailure::NotReady { failing }))
        }
    }

    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        self.server(i)?;
        self.apiservers[i].running = None;
        self.apiservers[i].paused = false;
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
        let i = self.answering(i)?;
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
        let i = self.answering(i)?;
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
                let mut watch = self.failing_checks(running);
                if self.etcd_down || self.etcd_paused {
                    // The etcd client's health and readiness checks (storagebackend/factory).
                    watch.extend(ETCD_DOWN_FAILING.iter().map(|c| (*c).to_owned()));
                }
                failing.extend(listed.iter().copied().filter(|c| watch.iter().any(|w| w == c)));
                Ok(health::root_answer(request.root, kms_listed, request.verbose, &failing))
            }
            Some(check) if !listed.contains(&check) => Ok(health::not_found()),
            Some(health::KMS_PROVIDERS) => Ok(health::check_answer(kms(running))),
            Some(check) => {
                let running = self.running(i);
                if self.failing_checks(running).iter().any(|w| w == check)
                    || ((self.etcd_down || self.etcd_paused) && ETCD_DOWN_FAILING.contains(&check))
                {
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
        self.etcd_up(&format!("reading etcd key {key:?}"))?;
        Ok(self.etcd.entry(key))
    }

    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        self.etcd_up(&format!("listing etcd prefix {prefix:?}"))?;
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

    /// etcd: down until [`Cluster::start_etcd`] (the in-memory store keeps everything, as the
    /// real member's data directory does). An apiserver: stopped.
    async fn kill_member(
        &mut self,
        member: &Member,
        signal: KillSignal,
    ) -> Result<(), BackendError> {
        let not_running =
            || BackendError::MemberState { member: member.clone(), problem: "not running" };
        match member {
            Member::Etcd if self.etcd_down => return Err(not_running()),
            Member::Etcd => {
                // SIGKILL ends a frozen process too.
                self.etcd_down = true;
                self.etcd_paused = false;
            }
            Member::ApiServer(i) => {
                self.server(*i)?;
                if self.apiservers[*i].running.take().is_none() {
                    return Err(not_running());
                }
                self.apiservers[*i].paused = false;
            }
            Member::KmsPlugin(name) => {
                let plugin = self.plugin(name)?;
                if plugin.is_down() {
                    return Err(not_running());
                }
                plugin.kill(signal);
            }
        }
        Ok(())
    }

    /// The quota model's maintenance (see [`store`]).
    async fn etcd_maintenance(&mut self, op: EtcdMaintenance) -> Result<Vec<String>, BackendError> {
        self.etcd_up(&format!("`{}`", op.command()))?;
        Ok(match op {
            EtcdMaintenance::Compact => {
                self.etcd.compact();
                Vec::new()
            }
            EtcdMaintenance::Defragment => {
                self.etcd.defragment();
                Vec::new()
            }
            EtcdMaintenance::ListAlarms => self.etcd.alarms(),
            EtcdMaintenance::DisarmAlarms => self.etcd.disarm(),
        })
    }

    async fn start_kms_plugin(&mut self, name: &str) -> Result<(), BackendError> {
        let plugin = self.plugin(name)?;
        if !plugin.is_down() {
            return Err(BackendError::MemberState {
                member: Member::KmsPlugin(name.to_owned()),
                problem: "already running",
            });
        }
        plugin.start_again();
        Ok(())
    }

    async fn start_etcd(&mut self) -> Result<(), BackendError> {
        if !self.etcd_down {
            return Err(BackendError::MemberState {
                member: Member::Etcd,
                problem: "already running",
            });
        }
        self.etcd_down = false;
        Ok(())
    }

    fn etcd_running(&self) -> bool {
        !self.etcd_down && !self.etcd_paused
    }

    async fn pause_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.set_paused(member, true)
    }

    async fn resume_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.set_paused(member, false)
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
