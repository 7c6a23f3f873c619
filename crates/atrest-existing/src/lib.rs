//! The `existing` backend: a user's cluster, reached through a kubeconfig and, where given,
//! etcd's client endpoint with its TLS files.
//!
//! atrest does not own this cluster, so it only writes through the API and only into scratch
//! namespaces of its own:
//! - A scenario's namespace `NS` lives in `atrest-<run>-NS` ([`Cluster::storage_namespace`]),
//!   created on first use with the label `app.kubernetes.io/managed-by=atrest`; objects cross
//!   the boundary with the scenario's names.
//! - Lists without a namespace list the scratch namespaces only; raw etcd reads are refused
//!   outside them and listings are filtered to them, so no other object of the cluster is read
//!   (but the objects [`ExistingSpec::visible`] names, none for a user's cluster). The
//!   `kube-root-ca.crt` ConfigMap kube-controller-manager puts into every namespace is the
//!   cluster's: left out of them.
//! - [`Cluster::controls`] says it cannot start or restart apiservers, write their files or run
//!   KMS plugins (and reads etcd only when an endpoint is given); the scenario engine refuses a
//!   scenario that needs those before any step runs.
//! - [`Cluster::shutdown`] deletes every Secret and ConfigMap in the scratch namespaces, then
//!   the namespaces. Without a namespace controller (kube-controller-manager) a deleted
//!   namespace stays `Terminating`; it is empty by then.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, Controls, DEFAULT_ETCD_PREFIX, Kind, Object,
    ObjectRef, RawEntry, StartFailure,
};
use atrest_process::{ConnectSettings, ObjectApi, RawEtcd};

/// The label every scratch namespace carries (and its value).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "atrest");

/// Keys per raw etcd range request.
const RAW_PAGE: i64 = 500;

/// The longest namespace name (a DNS label).
const MAX_NAMESPACE: usize = 63;

/// Where the user's cluster is.
#[derive(Debug, Clone)]
pub struct ExistingSpec {
    /// The kubeconfig file.
    pub kubeconfig: PathBuf,
    /// Its context to use (default: the current one).
    pub context: Option<String>,
    /// etcd's client URL and how to connect, for the steps that read etcd.
    pub etcd: Option<(String, ConnectSettings)>,
    /// kube-apiserver's `--etcd-prefix`.
    pub etcd_prefix: String,
    /// How long one API request may take.
    pub request_timeout: Duration,
    /// Objects outside the scratch namespaces that this view includes under their own names:
    /// lists across namespaces, raw lists, reads and writes reach them. Empty for a user's
    /// cluster; the kind backend, which owns its cluster, names the ConfigMaps every
    /// kube-apiserver writes in kube-system, which the simulator and `process` have too.
    pub visible: Vec<ObjectRef>,
}

/// The ConfigMap kube-controller-manager publishes into every namespace (the cluster's CA):
/// the cluster's, never the scenario's, so lists and raw lists of scratch namespaces leave it
/// out (it appears whenever the controller gets to it, which is no step's doing).
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

impl ExistingSpec {
    /// `kubeconfig`'s current context, no etcd, the default prefix, 60 s per request.
    pub fn new(kubeconfig: impl Into<PathBuf>) -> ExistingSpec {
        ExistingSpec {
            kubeconfig: kubeconfig.into(),
            context: None,
            etcd: None,
            etcd_prefix: DEFAULT_ETCD_PREFIX.to_owned(),
            request_timeout: Duration::from_secs(60),
            visible: Vec::new(),
        }
    }
}

/// Why the cluster cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExistingError {
    /// The kubeconfig cannot be read or used.
    #[error("cannot use kubeconfig {path}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The apiserver does not answer `/readyz`, or answers it with a failure.
    #[error("the apiserver of {path} is not ready: {detail}")]
    NotReady {
        /// The kubeconfig.
        path: PathBuf,
        /// What it answered, or the transport error.
        detail: String,
    },
    /// etcd cannot be reached.
    #[error("cannot reach etcd at {url}")]
    Etcd {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: atrest_process::RawEtcdError,
    },
}

/// The `existing` backend. See the crate documentation.
pub struct ExistingCluster {
    api: ObjectApi,
    raw: Option<RawEtcd>,
    prefix: String,
    run: String,
    /// Scratch namespace → the scenario's.
    names: Mutex<BTreeMap<String, String>>,
    /// Scratch namespaces created so far.
    created: BTreeSet<String>,
    /// [`ExistingSpec::visible`].
    visible: Vec<ObjectRef>,
}

impl std::fmt::Debug for ExistingCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExistingCluster")
            .field("run", &self.run)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl ExistingCluster {
    /// Connects: the apiserver must answer `/readyz` with 200, etcd (if given) its status.
    /// Creates nothing yet; scratch namespaces left by earlier runs are named in a warning.
    pub async fn connect(spec: &ExistingSpec) -> Result<ExistingCluster, ExistingError> {
        let kubeconfig = |source: Box<dyn std::error::Error + Send + Sync>| {
            ExistingError::Kubeconfig { path: spec.kubeconfig.clone(), source }
        };
        let kc = kube::config::Kubeconfig::read_from(&spec.kubeconfig)
            .map_err(|e| kubeconfig(e.into()))?;
        let options = kube::config::KubeConfigOptions {
            context: spec.context.clone(),
            ..kube::config::KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| kubeconfig(e.into()))?;
        // Every answer as the apiserver sent it, and no request hangs past the timeout.
        config.default_retry = false;
        config.read_timeout = Some(spec.request_timeout);
        let client = kube::Client::try_from(config).map_err(|e| kubeconfig(e.into()))?;
        let api = ObjectApi::new(client);
        let not_ready =
            |detail: String| ExistingError::NotReady { path: spec.kubeconfig.clone(), detail };
        match api.probe("/readyz").await {
            Ok((200, _)) => {}
            Ok((code, body)) => return Err(not_ready(format!("/readyz answered {code}: {body}"))),
            Err(e) => return Err(not_ready(atrest_backend::error_chain(&e))),
        }
        let raw = match &spec.etcd {
            None => None,
            Some((url, settings)) => Some(
                RawEtcd::connect_url(url, settings)
                    .await
                    .map_err(|source| ExistingError::Etcd { url: url.clone(), source })?,
            ),
        };
        let mut id = [0u8; 4];
        getrandom::fill(&mut id).map_err(|e| kubeconfig(e.to_string().into()))?;
        let cluster = ExistingCluster {
            api,
            raw,
            prefix: spec.etcd_prefix.trim_end_matches('/').to_owned(),
            run: hex::encode(id),
            names: Mutex::new(BTreeMap::new()),
            created: BTreeSet::new(),
            visible: spec.visible.clone(),
        };
        cluster.warn_leftovers().await;
        Ok(cluster)
    }

    /// This run's scratch-namespace prefix (`atrest-<run>-`).
    pub fn scratch_prefix(&self) -> String {
        format!("atrest-{}-", self.run)
    }

    /// Scratch namespaces of earlier runs (killed before their teardown), as a warning: the
    /// cluster is the user's, so nothing is removed without being asked.
    async fn warn_leftovers(&self) {
        let (key, value) = MANAGED_BY;
        match self.api.namespaces_labelled(key, value).await {
            Ok(Ok(names)) if !names.is_empty() => tracing::warn!(
                namespaces = %names.join(" "),
                "scratch namespaces of earlier atrest runs are still there; \
                 `kubectl delete namespace NAME` removes one"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(%e, "cannot list namespaces to look for leftovers"),
            Err(e) => {
                tracing::debug!(e = %atrest_backend::error_chain(&e), "cannot list namespaces")
            }
        }
    }

    fn scenario_namespace(&self, scratch: &str) -> String {
        let names = self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.get(scratch).cloned().unwrap_or_else(|| scratch.to_owned())
    }

    /// `id` with its scratch namespace (a [`ExistingSpec::visible`] object keeps its own).
    fn stored(&self, id: &ObjectRef) -> ObjectRef {
        if self.visible.contains(id) {
            return id.clone();
        }
        ObjectRef { namespace: self.storage_namespace(&id.namespace), ..id.clone() }
    }

    /// Whether a raw etcd key is in this view: a scratch namespace of this run (but not the
    /// cluster's CA ConfigMap there), or a visible object's.
    fn in_view(&self, key: &str, scratch: impl Fn(&str) -> bool) -> bool {
        let Some((resource, namespace, name)) = self.key_parts(key) else {
            return false;
        };
        if scratch(namespace) {
            return !(resource == Kind::ConfigMap.resource() && name == ROOT_CA_CONFIGMAP);
        }
        self.visible
            .iter()
            .any(|v| v.kind.resource() == resource && v.namespace == namespace && v.name == name)
    }

    /// `object` as the scenario names it.
    fn as_scenario(&self, mut object: Object) -> Object {
        object.id.namespace = self.scenario_namespace(&object.id.namespace);
        object
    }

    /// Creates the scratch namespace of `namespace` unless this run already did.
    async fn ensure_namespace(&mut self, namespace: &str) -> Result<(), BackendError> {
        let scratch = self.storage_namespace(namespace);
        if self.created.contains(&scratch) {
            return Ok(());
        }
        match self.api.create_namespace(&scratch, &[MANAGED_BY]).await? {
            Ok(()) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => {
                return Err(BackendError::other(format!("creating namespace {scratch}"), e));
            }
        }
        tracing::info!(namespace = %scratch, "created a scratch namespace");
        self.created.insert(scratch);
        Ok(())
    }

    /// The resource, namespace and name of an etcd key `<prefix>/<resource>/<namespace>/<name>`.
    fn key_parts<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str, &'k str)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let mut parts = rest.splitn(3, '/');
        Some((parts.next()?, parts.next()?, parts.next()?))
    }

    fn unsupported(&self, what: &str) -> BackendError {
        BackendError::Unsupported { backend: "existing", what: what.to_owned() }
    }

    fn raw(&self) -> Result<&RawEtcd, BackendError> {
        self.raw.as_ref().ok_or_else(|| {
            BackendError::Prerequisite(
                "this step reads etcd: give the existing backend etcd's client URL \
                 (--etcd, with --cacert/--cert/--key for TLS)"
                    .to_owned(),
            )
        })
    }
}

impl Cluster for ExistingCluster {
    fn backend_name(&self) -> &'static str {
        "existing"
    }

    fn apiserver_count(&self) -> usize {
        1
    }

    fn file_root(&self) -> Option<String> {
        None
    }

    fn controls(&self) -> Controls {
        Controls { raw_etcd: self.raw.is_some(), ..Controls::API_ONLY }
    }

    fn etcd_prefix(&self) -> &str {
        &self.prefix
    }

    fn storage_namespace(&self, namespace: &str) -> String {
        let mut scratch = format!("{}{namespace}", self.scratch_prefix());
        if scratch.len() > MAX_NAMESPACE {
            // Still one name per namespace: a cut and a hash of the whole name.
            use std::hash::{Hash as _, Hasher as _};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            namespace.hash(&mut h);
            let hash = format!("-{:08x}", h.finish() as u32);
            scratch.truncate(MAX_NAMESPACE - hash.len());
            let cut = scratch.trim_end_matches('-').len();
            scratch.truncate(cut);
            scratch.push_str(&hash);
        }
        let mut names = self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.entry(scratch.clone()).or_insert_with(|| namespace.to_owned());
        scratch
    }

    async fn write_file(&mut self, _path: &str, _contents: &[u8]) -> Result<(), BackendError> {
        Err(self.unsupported("write the files the apiservers read"))
    }

    async fn remove_file(&mut self, _path: &str) -> Result<(), BackendError> {
        Err(self.unsupported("write the files the apiservers read"))
    }

    fn configure_apiserver(&mut self, _i: usize, _spec: ApiServerSpec) -> Result<(), BackendError> {
        Err(self.unsupported("change an apiserver's flags"))
    }

    async fn start_apiserver(
        &mut self,
        _i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        Err(self.unsupported("start an apiserver"))
    }

    async fn stop_apiserver(&mut self, _i: usize) -> Result<(), BackendError> {
        Err(self.unsupported("stop an apiserver"))
    }

    fn is_running(&self, i: usize) -> bool {
        i == 0
    }

    async fn create(
        &mut self,
        _i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        if !self.visible.contains(&object.id) {
            self.ensure_namespace(&object.id.namespace).await?;
        }
        let stored = Object { id: self.stored(&object.id), ..object.clone() };
        Ok(self.api.create(&stored).await?.map(|o| self.as_scenario(o)))
    }

    async fn update(
        &mut self,
        _i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        if !self.visible.contains(&object.id) {
            self.ensure_namespace(&object.id.namespace).await?;
        }
        let stored = Object { id: self.stored(&object.id), ..object.clone() };
        Ok(self.api.update(&stored).await?.map(|o| self.as_scenario(o)))
    }

    async fn get(&mut self, _i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        Ok(self.api.get(&self.stored(id)).await?.map(|o| self.as_scenario(o)))
    }

    async fn list(
        &mut self,
        _i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        // Never the whole cluster: a list across namespaces is one per scratch namespace, and
        // the visible objects.
        let scratch: Vec<String> = match namespace {
            Some(ns) => vec![self.storage_namespace(ns)],
            None => self.created.iter().cloned().collect(),
        };
        let mut objects = Vec::new();
        for ns in scratch {
            match self.api.list(kind, Some(&ns)).await? {
                Ok(found) => objects.extend(
                    found
                        .into_iter()
                        .filter(|o| {
                            !(o.id.kind == Kind::ConfigMap && o.id.name == ROOT_CA_CONFIGMAP)
                        })
                        .map(|o| self.as_scenario(o)),
                ),
                Err(e) => return Ok(Err(e)),
            }
        }
        let visible: Vec<ObjectRef> = self
            .visible
            .iter()
            .filter(|v| v.kind == kind && namespace.is_none_or(|ns| v.namespace == ns))
            .cloned()
            .collect();
        for id in visible {
            match self.api.get(&id).await? {
                Ok(o) => objects.push(o),
                Err(e) if e.code == 404 => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(objects))
    }

    async fn delete(&mut self, _i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        self.api.delete(&self.stored(id)).await
    }

    async fn metrics(&mut self, _i: usize) -> Result<ApiResult<String>, BackendError> {
        self.api.metrics().await
    }

    async fn probe(&mut self, _i: usize, path: &str) -> Result<(u16, String), BackendError> {
        self.api
            .probe(path)
            .await
            .map_err(|e| BackendError::other(format!("GET {path} of the existing apiserver"), e))
    }

    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        let prefix = self.scratch_prefix();
        if !self.in_view(key, |ns| ns.starts_with(&prefix)) {
            return Err(BackendError::other(
                format!("reading etcd key {key:?}"),
                "outside this run's scratch namespaces; the existing backend reads nothing else",
            ));
        }
        let value = self
            .raw()?
            .get(key)
            .await
            .map_err(|e| BackendError::other(format!("reading etcd key {key:?}"), e))?;
        Ok(value.map(|v| RawEntry {
            key: key.to_owned(),
            value: v.value,
            mod_revision: v.mod_revision,
        }))
    }

    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        let entries = self
            .raw()?
            .list(prefix, RAW_PAGE)
            .await
            .map_err(|e| BackendError::other(format!("listing etcd prefix {prefix:?}"), e))?;
        // Only this run's objects: the user's other values are neither returned nor kept.
        Ok(entries
            .into_iter()
            .filter(|(key, _)| self.in_view(key, |ns| self.created.contains(ns)))
            .map(|(key, v)| RawEntry { key, value: v.value, mod_revision: v.mod_revision })
            .collect())
    }

    fn log_dir(&self) -> Option<PathBuf> {
        None
    }

    fn keep_logs(&mut self) {}

    async fn shutdown(self) -> Result<(), BackendError> {
        let mut problems = Vec::new();
        for ns in &self.created {
            for kind in [Kind::Secret, Kind::ConfigMap] {
                let objects = match self.api.list(kind, Some(ns)).await {
                    Ok(Ok(objects)) => objects,
                    Ok(Err(e)) => {
                        problems.push(format!("listing {} in {ns}: {e}", kind.resource()));
                        continue;
                    }
                    Err(e) => {
                        problems.push(atrest_backend::error_chain(&e));
                        continue;
                    }
                };
                for o in objects {
                    match self.api.delete(&o.id).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) if e.code == 404 => {}
                        Ok(Err(e)) => problems.push(format!("deleting {}: {e}", o.id)),
                        Err(e) => problems.push(atrest_backend::error_chain(&e)),
                    }
                }
            }
            match self.api.delete_namespace(ns).await {
                Ok(Ok(())) => tracing::info!(namespace = %ns, "deleted the scratch namespace"),
                Ok(Err(e)) if e.code == 404 => {}
                Ok(Err(e)) => problems.push(format!("deleting namespace {ns}: {e}")),
                Err(e) => problems.push(atrest_backend::error_chain(&e)),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackendError::other(
                "cleaning up the scratch namespaces",
                format!(
                    "{} (remove what is left with `kubectl delete namespace -l {}={}`)",
                    problems.join("; "),
                    MANAGED_BY.0,
                    MANAGED_BY.1
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
