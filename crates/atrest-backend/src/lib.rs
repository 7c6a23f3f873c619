//! The `Cluster` boundary: what the scenario engine can ask of a cluster, whichever backend runs
//! it (the embedded simulator, real processes, containers, kind).
//!
//! No type of a concrete backend (tonic, kube, `std::process`, bollard) crosses this
//! boundary: requests and answers are plain values, and a client-visible API failure is an
//! [`ApiError`] carrying what the apiserver answered (HTTP code, reason, message).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub mod wait;

/// A resource kind the scenarios write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// core/v1 Secret.
    Secret,
    /// core/v1 ConfigMap.
    ConfigMap,
}

impl Kind {
    /// The resource name (`secrets`, `configmaps`), as in etcd keys and encryption rules.
    pub const fn resource(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::ConfigMap => "configmaps",
        }
    }

    /// The kind name (`Secret`, `ConfigMap`).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The etcd key prefix kube-apiserver uses by default (`--etcd-prefix`).
pub const DEFAULT_ETCD_PREFIX: &str = "/registry";

/// A namespaced object's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// Secret or ConfigMap.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A reference.
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> ObjectRef {
        ObjectRef { kind, namespace: namespace.into(), name: name.into() }
    }

    /// The key below the storage prefix, `/secrets/<ns>/<name>` (what upstream's storage
    /// errors print as `Key:`).
    pub fn storage_key(&self) -> String {
        format!("/{}/{}/{}", self.kind.resource(), self.namespace, self.name)
    }

    /// The full etcd key, `<prefix>/secrets/<ns>/<name>` (also the AES-GCM/CBC authenticated data).
    pub fn etcd_key(&self, prefix: &str) -> String {
        format!("{}{}", prefix.trim_end_matches('/'), self.storage_key())
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind.resource(), self.namespace, self.name)
    }
}

/// An object's data: Secret `data` bytes or ConfigMap `data` strings (as UTF-8 bytes).
///
/// `Debug` shows the keys and sizes only: values are secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Data(pub BTreeMap<String, Vec<u8>>);

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, format!("<{} bytes>", v.len()))))
            .finish()
    }
}

/// An object as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Identity.
    pub id: ObjectRef,
    /// Data.
    pub data: Data,
    /// `metadata.resourceVersion`; on update, `Some` is a precondition (409 Conflict if stale).
    pub resource_version: Option<String>,
}

/// A failed API request, as the client sees it (the `Status` body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`InternalError`, `NotFound`, `Conflict`, …).
    pub reason: String,
    /// `Status.message`.
    pub message: String,
}

/// The answer to an API request: the object, or the apiserver's error.
pub type ApiResult<T> = Result<T, ApiError>;

/// The ConfigMaps every kube-apiserver writes in kube-system at its first start (its client CA
/// bundle for aggregated apiservers, and when legacy token tracking began), whatever else runs
/// in the cluster: the simulator writes them too, and the kind backend's view includes them.
pub const APISERVER_CONFIGMAPS: [&str; 2] =
    ["extension-apiserver-authentication", "kube-apiserver-legacy-service-account-token-tracking"];

/// What the tutorial's "restart", `kubectl delete pod -n kube-system kube-apiserver-<node>`,
/// did to an apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorPodDeletion {
    /// The apiserver is not a kubelet's static pod (a process or container the harness runs):
    /// there is no pod to delete, and the apiserver is left as it is, which is what deleting a
    /// static pod's mirror pod does to it as well.
    NoKubelet,
    /// The kubelet's mirror pod was deleted and the kubelet created it again.
    Recreated {
        /// Whether the apiserver's container was replaced (a new container id).
        restarted: bool,
        /// What the backend saw (pod uids, container ids, how long it took): backend-specific,
        /// so never compared across backends.
        details: Vec<String>,
    },
}

/// How an apiserver start went, when it did not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFailure {
    /// The process exited (an invalid encryption config, a missing file…); `err` is the `err`
    /// of kube-apiserver's `"command failed"` line.
    Exited {
        /// Exit code, when it exited normally.
        code: Option<i32>,
        /// The `"command failed"` err text, if found.
        err: Option<String>,
    },
    /// It kept running but did not become ready (stuck on a watch cache that cannot list:
    /// for ever, or until the storage-readiness hook gives up); `failing` lists the `/readyz`
    /// checks that failed on the last probe (e.g. `informer-sync`).
    NotReady {
        /// Names of the failing readiness checks.
        failing: Vec<String>,
    },
}

/// One apiserver's flags that matter here. Changes apply at its next start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiServerSpec {
    /// `--encryption-provider-config`, a path in the cluster's file tree (absolute, `/`-rooted).
    pub encryption_config: Option<String>,
    /// `--encryption-provider-config-automatic-reload`.
    pub automatic_reload: bool,
    /// The static pod's `hostPath` volumes, when the scenario lays them out: the apiserver sees
    /// the cluster's file tree only through them, so a flag naming a path no mount covers finds
    /// no file even when the host has one there (the tutorial's "API server fails to start").
    /// `None`: the directory of the `--encryption-provider-config` file is mounted at itself
    /// (kubeadm's `/etc/kubernetes/enc` layout), which is what a bare process sees too.
    pub mounts: Option<Vec<HostPathMount>>,
}

/// One `hostPath` volume of the apiserver's static pod, mounted read-only: the directory
/// `host_path` of the cluster's file tree appears at `mount_path` inside the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathMount {
    /// A directory of the cluster's file tree (absolute, `/`-rooted).
    pub host_path: String,
    /// Where the apiserver sees it (absolute, `/`-rooted).
    pub mount_path: String,
}

impl HostPathMount {
    /// The first mount laid inside another's mount path, said as a problem (`None`: none
    /// nests). Nesting is valid in a pod; atrest refuses it so every backend lays mounts out
    /// the same way.
    pub fn nested(mounts: &[HostPathMount]) -> Option<String> {
        let inside = |inner: &str, outer: &str| {
            let (inner, outer) = (inner.trim_end_matches('/'), outer.trim_end_matches('/'));
            inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        mounts.iter().enumerate().find_map(|(a, inner)| {
            mounts.iter().enumerate().find_map(|(b, outer)| {
                (a != b && inside(&inner.mount_path, &outer.mount_path)).then(|| {
                    format!(
                        "mountPath {:?} is at or inside mountPath {:?}; nested mounts are not supported",
                        inner.mount_path, outer.mount_path
                    )
                })
            })
        })
    }
}

impl ApiServerSpec {
    /// An apiserver reading `config`, without automatic reload, laid out the default way.
    pub fn with_config(config: &str) -> ApiServerSpec {
        ApiServerSpec { encryption_config: Some(config.to_owned()), ..ApiServerSpec::default() }
    }

    /// Where in the cluster's file tree the apiserver finds what it calls `path`: through the
    /// mount whose `mount_path` is the longest one holding `path` (as the kernel resolves nested
    /// bind mounts); `None` when no mount covers it. Without declared mounts, every path is
    /// itself. `path` is absolute and free of `..` (the scenario loader checks).
    pub fn resolve(&self, path: &str) -> Option<String> {
        let Some(mounts) = &self.mounts else { return Some(path.to_owned()) };
        mounts
            .iter()
            .filter_map(|m| {
                let mount = m.mount_path.trim_end_matches('/');
                let rest = path.strip_prefix(mount)?;
                (rest.is_empty() || rest.starts_with('/')).then_some((mount.len(), m, rest))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, m, rest)| format!("{}{rest}", m.host_path.trim_end_matches('/')))
    }
}

/// What to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSpec {
    /// One entry per apiserver, all on one etcd. Nothing starts until asked.
    pub apiservers: Vec<ApiServerSpec>,
    /// KMS v2 plugins that run from launch to shutdown, next to the apiservers.
    pub kms_plugins: Vec<KmsPluginSpec>,
    /// The etcd member's settings.
    pub etcd: EtcdSpec,
}

/// etcd's text for a write refused by its space quota or a raised `NOSPACE` alarm
/// (go.etcd.io/etcd api/v3rpc/rpctypes `ErrNoSpace`), which kube-apiserver passes on unchanged
/// as a 500 without a reason.
pub const ETCD_NO_SPACE: &str = "etcdserver: mvcc: database space exceeded";

/// One of etcd's maintenance calls: the recovery from a `NOSPACE` alarm is compact,
/// defragment, disarm (etcd.io, "Maintenance: Space quota").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdMaintenance {
    /// Compact the history up to the current revision, physically (`etcdctl compact REV
    /// --physical`): superseded revisions are dropped, their space is free inside the file.
    Compact,
    /// `etcdctl defrag`: the file shrinks to the data it holds.
    Defragment,
    /// `etcdctl alarm list`.
    ListAlarms,
    /// `etcdctl alarm disarm`.
    DisarmAlarms,
}

impl EtcdMaintenance {
    /// The `etcdctl` command it is.
    pub const fn command(self) -> &'static str {
        match self {
            EtcdMaintenance::Compact => "etcdctl compact --physical",
            EtcdMaintenance::Defragment => "etcdctl defrag",
            EtcdMaintenance::ListAlarms => "etcdctl alarm list",
            EtcdMaintenance::DisarmAlarms => "etcdctl alarm disarm",
        }
    }
}

/// How etcd runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdSpec {
    /// `--quota-backend-bytes`: once the database would grow past it, etcd raises the `NOSPACE`
    /// alarm and refuses every write until the alarm is disarmed (`None`: etcd's 2 GiB).
    pub quota_backend_bytes: Option<u64>,
}

/// A KMS v2 plugin the cluster runs (one gRPC service, shared by every apiserver that names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsPluginSpec {
    /// Its name (the scenario's, usually the provider name of the configuration).
    pub name: String,
    /// Its unix socket, a path in the cluster's file tree (absolute, `/`-rooted); a
    /// configuration reaches it through [`Cluster::kms_endpoint`].
    pub socket: String,
}

/// A fault a KMS plugin shows until it is cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsFault {
    /// The socket is closed: every call fails as a dial failure.
    Unavailable,
    /// Every call is answered this much later.
    Latency(Duration),
    /// `Encrypt` fails.
    FailEncrypt,
    /// `Decrypt` fails.
    FailDecrypt,
    /// `Status` fails.
    FailStatus,
    /// `Status` answers this `healthz` instead of `ok`.
    Unhealthy(String),
    /// Another key-encryption key under the same key IDs (a botched restore).
    WrongKek,
}

/// What to do to a running KMS plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsAction {
    /// Nothing: just report its state.
    Status,
    /// A new key version becomes current (a new `key_id`).
    Rotate,
    /// Switch a fault on.
    SetFault(KmsFault),
    /// Switch every fault off.
    ClearFaults,
}

/// A KMS plugin's state after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsPluginState {
    /// The key ID `Status` reports when healthy.
    pub key_id: String,
    /// Every key version, oldest first.
    pub key_ids: Vec<String>,
    /// The calls the plugin received since it started.
    pub calls: KmsCalls,
}

/// Calls a KMS plugin received, by method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KmsCalls {
    /// `Status`.
    pub status: u64,
    /// `Encrypt`.
    pub encrypt: u64,
    /// `Decrypt`.
    pub decrypt: u64,
}

/// One raw etcd entry.
#[derive(Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The full key.
    pub key: String,
    /// The stored bytes.
    pub value: Vec<u8>,
    /// The revision that last modified it.
    pub mod_revision: i64,
}

impl fmt::Debug for RawEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEntry")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// A member of a cluster: something that runs on its own and can die on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// The etcd.
    Etcd,
    /// Apiserver `i` (index in the [`ClusterSpec`]).
    ApiServer(usize),
    /// A KMS plugin, by name.
    KmsPlugin(String),
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::Etcd => f.write_str("etcd"),
            Member::ApiServer(i) => write!(f, "apiserver {i}"),
            Member::KmsPlugin(name) => write!(f, "KMS plugin {name}"),
        }
    }
}

/// How a member's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitHow {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal {
        /// The signal number.
        number: i32,
        /// Its name (`SIGKILL`), as the backend's platform spells it.
        name: &'static str,
    },
    /// Its status is not known (a container runtime that lost it).
    Unknown,
    /// What ran it stopped answering (a container engine that died), so the member was lost
    /// with it; the backend has killed what was left.
    EngineLost {
        /// What stopped answering (`the Docker engine at unix:///…`).
        engine: String,
        /// What to do about it.
        remedy: &'static str,
    },
}

impl fmt::Display for ExitHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitHow::Code(code) => write!(f, "exit code {code}"),
            ExitHow::Signal { number, name } => write!(f, "killed by {name} (signal {number})"),
            ExitHow::Unknown => f.write_str("unknown exit status"),
            ExitHow::EngineLost { engine, remedy } => {
                write!(f, "{engine} stopped answering; {remedy}")
            }
        }
    }
}

/// The signal a fault step sends a member (`kill`): what a node's OOM killer or a crash does
/// (`KILL`), or what a kubelet sends a pod it stops (`TERM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    /// SIGKILL: the member dies at once, with no chance to clean up.
    Kill,
    /// SIGTERM: the member shuts down on its own terms (a backend sends SIGKILL after the
    /// member's stop grace, as a kubelet does).
    Term,
}

impl fmt::Display for KillSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KillSignal::Kill => "SIGKILL",
            KillSignal::Term => "SIGTERM",
        })
    }
}

/// A member that exited without the harness asking it to (see [`Cluster::unexpected_exit`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{member} {}{}",
    match .how {
        ExitHow::EngineLost { .. } => format!("was lost: {}", .how),
        how => format!("exited on its own ({how})"),
    },
    .log.as_ref().map(|l| format!("; its log is kept at {}", l.display())).unwrap_or_default()
)]
pub struct MemberExit {
    /// Which member.
    pub member: Member,
    /// How it ended.
    pub how: ExitHow,
    /// Its log file, kept on disk, when the backend writes one.
    pub log: Option<PathBuf>,
}

/// The backend itself failed (not a client-visible API answer): the harness cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A prerequisite is missing (binaries, Docker…); the text says how to get it.
    #[error("{0}")]
    Prerequisite(String),
    /// No apiserver with this index.
    #[error("no apiserver {index} (the cluster has {count})")]
    NoSuchApiServer {
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// The apiserver is not running.
    #[error("apiserver {0} is not running")]
    NotRunning(usize),
    /// A file in the cluster's tree could not be written or removed.
    #[error("cannot {op} {path}")]
    File {
        /// `write` or `remove`.
        op: &'static str,
        /// The path in the cluster's tree.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cluster runs no KMS plugin of this name.
    #[error("no KMS plugin {0:?} in this cluster")]
    NoSuchKmsPlugin(String),
    /// The backend does not do this (see [`Cluster::controls`]), or not yet.
    #[error("the {backend} backend cannot {what}")]
    Unsupported {
        /// What was asked, as a verb phrase (`start an apiserver`, `pause the KMS plugin kms1`).
        what: String,
        /// The backend's name.
        backend: &'static str,
    },
    /// The member is not in the state the operation needs (etcd started while running…).
    #[error("{member}: {problem}")]
    MemberState {
        /// Which member.
        member: Member,
        /// What is wrong.
        problem: &'static str,
    },
    /// A member exited without being asked to: the cluster is not what the run set up.
    #[error(transparent)]
    MemberExited(MemberExit),
    /// Anything else the backend reports (transport failures, etcd errors…).
    #[error("{context}")]
    Other {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BackendError {
    /// Wraps any error with what was being done.
    pub fn other(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> BackendError {
        BackendError::Other { context: context.into(), source: source.into() }
    }
}

/// What a backend can do to its cluster. The harness's own clusters can do everything; a
/// user's cluster (`existing`) is only written to through the API. The scenario engine refuses
/// a scenario that needs more than its backend's controls before any step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Start, stop and restart apiservers (with the flags and mounts the cluster was made with).
    pub apiservers: bool,
    /// Change an apiserver's flags and mounts after the cluster was created (`setFlags`).
    pub flags: bool,
    /// Kill, pause and resume members, and set, fill or maintain etcd (fault injection).
    pub members: bool,
    /// Write and remove files in the cluster's file tree.
    pub files: bool,
    /// Run and control KMS plugins.
    pub kms_plugins: bool,
    /// Read etcd's raw values.
    pub raw_etcd: bool,
}

impl Controls {
    /// Everything: a cluster the harness runs.
    pub const FULL: Controls = Controls {
        apiservers: true,
        flags: true,
        members: true,
        files: true,
        kms_plugins: true,
        raw_etcd: true,
    };

    /// Nothing but the API (a user's cluster without an etcd endpoint).
    pub const API_ONLY: Controls = Controls {
        apiservers: false,
        flags: false,
        members: false,
        files: false,
        kms_plugins: false,
        raw_etcd: false,
    };
}

/// A cluster: one etcd, N apiservers, a file tree the apiservers read their encryption
/// configuration from.
///
/// Index `i` names an apiserver of the [`ClusterSpec`]. Object operations go through
/// apiserver `i` and return what a client would see; `raw_*` read etcd directly, below any
/// apiserver.
pub trait Cluster: Send {
    /// Backend name (`sim`, `process`, …) for reports.
    fn backend_name(&self) -> &'static str;

    /// How many apiservers the cluster has.
    fn apiserver_count(&self) -> usize;

    /// The host path that the cluster's `/` stands for, if the files are real (texts that
    /// name files are reported relative to it).
    fn file_root(&self) -> Option<String>;

    /// Writes a file in the cluster's tree (0600), creating directories.
    fn write_file(
        &mut self,
        path: &str,
        contents: &[u8],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes a file from the cluster's tree (missing is fine).
    fn remove_file(&mut self, path: &str) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Changes apiserver `i`'s flags for its next start.
    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError>;

    /// Starts apiserver `i` (it must be stopped) and waits until it is ready, exited, or never
    /// became ready.
    fn start_apiserver(
        &mut self,
        i: usize,
    ) -> impl Future<Output = Result<Result<(), StartFailure>, BackendError>> + Send;

    /// Stops apiserver `i` (a stopped one stays stopped).
    fn stop_apiserver(&mut self, i: usize)
    -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether apiserver `i` is running.
    fn is_running(&self, i: usize) -> bool;

    /// `POST` an object.
    fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> impl Future<Output = Result<ApiResult<Object>, BackendError>> + Send;

    /// `PUT` an object (with its resourceVersion as precondition when given).
    fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> impl Future<Output = Result<ApiResult<Object>, BackendError>> + Send;

    /// `GET` an object.
    fn get(
        &mut self,
        i: usize,
        id: &ObjectRef,
    ) -> impl Future<Output = Result<ApiResult<Object>, BackendError>> + Send;

    /// `LIST` a kind across all namespaces, or in one.
    fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<ApiResult<Vec<Object>>, BackendError>> + Send;

    /// `DELETE` an object.
    fn delete(
        &mut self,
        i: usize,
        id: &ObjectRef,
    ) -> impl Future<Output = Result<ApiResult<()>, BackendError>> + Send;

    /// apiserver `i`'s `/metrics` text.
    fn metrics(
        &mut self,
        i: usize,
    ) -> impl Future<Output = Result<ApiResult<String>, BackendError>> + Send;

    /// The endpoint (`unix://<path>`) a configuration names to reach KMS plugin `name`, as the
    /// apiservers see it; `None` when the cluster runs no such plugin.
    fn kms_endpoint(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }

    /// Plugin `name` as the harness reads stored KMS v2 values with it (`expectStored …
    /// decryptableWith`, `preflight`): the same keys and faults, but its calls are not counted,
    /// so `expectKmsCalls` shows only what the apiservers asked. `None` when the cluster runs no
    /// such plugin.
    fn kms_reader(
        &self,
        name: &str,
    ) -> Option<std::sync::Arc<dyn atrest_transformers::KmsV2Plugin>> {
        let _ = name;
        None
    }

    /// Acts on KMS plugin `name` and returns its state after.
    fn kms_plugin(
        &mut self,
        name: &str,
        action: KmsAction,
    ) -> impl Future<Output = Result<KmsPluginState, BackendError>> + Send {
        let _ = action;
        let name = name.to_owned();
        async move { Err(BackendError::NoSuchKmsPlugin(name)) }
    }

    /// Lets `by` pass for a cluster whose clock is simulated (timers due in that time fire) and
    /// returns `true`; a real cluster returns `false`, as its time passes by itself (a poll
    /// loop then waits in real time instead).
    fn advance_clock(&mut self, by: Duration) -> bool {
        let _ = by;
        false
    }

    /// `kubectl delete pod -n kube-system kube-apiserver-<node>` for apiserver `i` (running),
    /// waiting for the kubelet to create the mirror pod again. Backends without a kubelet have
    /// no such pod: [`MirrorPodDeletion::NoKubelet`], and the apiserver is untouched.
    fn delete_mirror_pod(
        &mut self,
        i: usize,
    ) -> impl Future<Output = Result<MirrorPodDeletion, BackendError>> + Send {
        let _ = i;
        async { Ok(MirrorPodDeletion::NoKubelet) }
    }

    /// `GET` a non-resource path of apiserver `i` (`/healthz/kms-providers`, `/readyz`): the
    /// HTTP status code and the body, whether the check passed or not.
    fn probe(
        &mut self,
        i: usize,
        path: &str,
    ) -> impl Future<Output = Result<(u16, String), BackendError>> + Send {
        let what = format!("GET {path} of apiserver {i}");
        async move { Err(BackendError::other(what, "this backend answers no health probes")) }
    }

    /// The etcd prefix the apiservers use.
    fn etcd_prefix(&self) -> &str {
        DEFAULT_ETCD_PREFIX
    }

    /// What this backend can do (the default: a cluster the harness runs).
    fn controls(&self) -> Controls {
        Controls::FULL
    }

    /// The namespace where objects the scenario places in `namespace` live in this cluster
    /// (and so in etcd keys, which are also the authenticated data of AES-GCM and KMS values).
    /// Clusters the harness owns use the scenario's names; a user's cluster puts them in
    /// scratch namespaces of its own. Objects crossing the boundary carry the scenario's names.
    fn storage_namespace(&self, namespace: &str) -> String {
        namespace.to_owned()
    }

    /// Reads one raw etcd value.
    fn raw_get(
        &mut self,
        key: &str,
    ) -> impl Future<Output = Result<Option<RawEntry>, BackendError>> + Send;

    /// Reads every raw etcd entry under `prefix`, in key order.
    fn raw_list(
        &mut self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<RawEntry>, BackendError>> + Send;

    /// Sends `signal` to `member` and waits until it exited (a fault step): the exit is
    /// expected, so [`Cluster::unexpected_exit`] does not report it. A killed apiserver is
    /// stopped, as after [`Cluster::stop_apiserver`], and starts again with
    /// [`Cluster::start_apiserver`]; a killed etcd starts again with [`Cluster::start_etcd`].
    /// Requests that need etcd while it is down are not modelled the same way by every backend
    /// (a real apiserver blocks up to its request timeout): scenarios make none.
    fn kill_member(
        &mut self,
        member: &Member,
        signal: KillSignal,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let what = format!("send {signal} to {member}");
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what, backend }) }
    }

    /// Runs one of etcd's maintenance calls, as `etcdctl` makes it, on the cluster's own etcd;
    /// returns the alarms it listed or disarmed (`NOSPACE`, `CORRUPT`), none for the others.
    fn etcd_maintenance(
        &mut self,
        op: EtcdMaintenance,
    ) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send {
        let what = format!("run `{}` on etcd", op.command());
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what, backend }) }
    }

    /// Starts a killed KMS plugin again with its key file; it serves its socket when this
    /// returns (the apiservers redial it on their own).
    fn start_kms_plugin(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let what = format!("start KMS plugin {name}");
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what, backend }) }
    }

    /// Starts a killed etcd again on its data directory, with the same ports and certificates,
    /// and waits until it is healthy (not until the apiservers reconnected: the caller probes
    /// their `/readyz`).
    fn start_etcd(&mut self) -> impl Future<Output = Result<(), BackendError>> + Send {
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what: "start etcd".to_owned(), backend }) }
    }

    /// Whether etcd runs and answers (it does not after [`Cluster::kill_member`] until
    /// [`Cluster::start_etcd`], nor while [`Cluster::pause_member`] holds it).
    fn etcd_running(&self) -> bool {
        true
    }

    /// Freezes `member` (SIGSTOP, or the container runtime's pause): a member that hangs rather
    /// than dies. It keeps its sockets open and answers nothing until
    /// [`Cluster::resume_member`]; scenarios make no request that needs it meanwhile (a real
    /// client waits up to its timeout).
    fn pause_member(
        &mut self,
        member: &Member,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let what = format!("pause {member}");
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what, backend }) }
    }

    /// Lets a paused member go on (SIGCONT, or the runtime's unpause).
    fn resume_member(
        &mut self,
        member: &Member,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let what = format!("resume {member}");
        let backend = self.backend_name();
        async move { Err(BackendError::Unsupported { what, backend }) }
    }

    /// A member (etcd, an apiserver, a KMS plugin) that exited without being asked to, if one
    /// did since it was started; never blocks. Members stopped on purpose (`stop_apiserver`,
    /// `shutdown`) are not reported.
    ///
    /// The scenario engine asks after every step and turns an answer into a harness error. The
    /// default is for clusters with nothing that can die on its own, like the simulator.
    fn unexpected_exit(&self) -> Option<MemberExit> {
        None
    }

    /// Where real processes keep their logs, if any.
    fn log_dir(&self) -> Option<PathBuf>;

    /// Keeps logs and state on disk after the cluster is gone (a failed run).
    fn keep_logs(&mut self);

    /// Stops everything.
    fn shutdown(self) -> impl Future<Output = Result<(), BackendError>> + Send
    where
        Self: Sized;
}

/// An error and its sources in one line, `: `-separated, each source once: one whose text the
/// line already holds is skipped (many errors print their cause in their own text as well).
/// The one error-chain printer of the workspace (reports, readiness observations, the CLI).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("starting apiserver 0")]
    struct Wraps(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Inner;

    #[test]
    fn each_cause_once() {
        assert_eq!(error_chain(&Wraps(Inner)), "starting apiserver 0: connection refused");
        assert_eq!(error_chain(&Repeats(Inner)), "outer: connection refused");
    }
}

#[cfg(test)]
mod mount_tests {
    use super::{ApiServerSpec, HostPathMount};

    fn mount(host: &str, at: &str) -> HostPathMount {
        HostPathMount { host_path: host.to_owned(), mount_path: at.to_owned() }
    }

    #[test]
    fn paths_resolve_through_the_mount_that_holds_them() {
        let spec = ApiServerSpec {
            mounts: Some(vec![mount("/srv/enc", "/etc/kubernetes/enc/"), mount("/pki", "/pki")]),
            ..ApiServerSpec::default()
        };
        assert_eq!(spec.resolve("/etc/kubernetes/enc/c.yaml").as_deref(), Some("/srv/enc/c.yaml"));
        assert_eq!(spec.resolve("/etc/kubernetes/enc").as_deref(), Some("/srv/enc"));
        // A sibling that shares the prefix as text is not inside the mount.
        assert_eq!(spec.resolve("/etc/kubernetes/encryption.yaml"), None);
        assert_eq!(spec.resolve("/etc/kubernetes/c.yaml"), None);
        // Without declared mounts every path is itself (the bare process's view).
        assert_eq!(ApiServerSpec::default().resolve("/x/y").as_deref(), Some("/x/y"));
        // No mounts at all: nothing is visible.
        let bare = ApiServerSpec { mounts: Some(Vec::new()), ..ApiServerSpec::default() };
        assert_eq!(bare.resolve("/etc/kubernetes/enc/c.yaml"), None);
    }

    #[test]
    fn nesting_is_named() {
        assert_eq!(HostPathMount::nested(&[mount("/a", "/etc/a"), mount("/b", "/etc/ab")]), None);
        assert_eq!(
            HostPathMount::nested(&[mount("/a", "/etc"), mount("/b", "/etc/b")]).as_deref(),
            Some(
                "mountPath \"/etc/b\" is at or inside mountPath \"/etc\"; nested mounts are not \
                 supported"
            )
        );
        assert!(HostPathMount::nested(&[mount("/a", "/etc"), mount("/b", "/etc/")]).is_some());
    }
}
