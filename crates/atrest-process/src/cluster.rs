//! [`ProcessCluster`]: the `process` backend behind [`atrest_backend::Cluster`]. One etcd and N
//! kube-apiservers as local child processes, a file tree the apiservers read their encryption
//! configuration from, and object operations through kube-rs.
//!
//! Layout: everything lives in one instance directory (`atrest-cluster-XXXXXX`): `fs/` is the
//! cluster's `/` (`/etc/x/y.yaml` is `fs/etc/x/y.yaml`), and etcd's and every apiserver's own
//! instance directories (data, certificates, logs) sit next to it. Dropping the cluster stops
//! the apiservers, then etcd, then removes the directory unless [`Cluster::keep_logs`] was
//! called.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, ClusterSpec, EtcdMaintenance, HostPathMount,
    KillSignal, Kind, KmsAction, KmsPluginState, Member, MemberExit, Object, ObjectRef, RawEntry,
    StartFailure,
};
use atrest_etcd::{RawEtcd, RawValue};
use atrest_kms::{KmsPlugin, PluginConfig, PluginStatus};

use crate::apiserver::{
    ApiServer, ApiServerOptions, Readiness, failing_checks, plain_client_from_kubeconfig,
};
use crate::assets::Assets;
use crate::container::{BindMount, ContainerRun, ETCD_ENTRYPOINT, KUBE_APISERVER_ENTRYPOINT};
use crate::control_plane::ControlPlane;
use crate::etcd::{Etcd, EtcdOptions};
use crate::launch::{StartError, retry_on_new_port};
use crate::objects::ObjectApi;
use crate::process::InstanceDir;
use crate::watch::unexpected_exit;

/// How many keys one raw etcd read returns at most.
const RAW_PAGE: i64 = 500;

/// One apiserver as the scenario sees it: its flags for the next start, and once the control
/// plane prepared its process, the scenario's client (no retries, see
/// [`plain_client_from_kubeconfig`]).
struct Slot {
    spec: ApiServerSpec,
    client: Option<kube::Client>,
}

/// The `process` backend. See the module documentation.
pub struct ProcessCluster {
    // Field order is drop order: the control plane (apiservers, then etcd), then the KMS
    // plugins the apiservers call, then the directory holding them.
    slots: Vec<Slot>,
    raw: RawEtcd,
    plane: ControlPlane,
    kms: Vec<(String, KmsPlugin)>,
    not_ready_timeout: Duration,
    stop_timeout: Duration,
    request_timeout: Duration,
    fs_root: PathBuf,
    /// Set for the `containers` backend: etcd and the apiservers run in these containers.
    containers: Option<Containers>,
    dir: InstanceDir,
}

/// Images to run etcd and the apiservers from, instead of host processes (the `containers`
/// backend, crate `atrest-containers`): the local ones or published ones, with the binaries at
/// upstream's paths ([`ETCD_ENTRYPOINT`], [`KUBE_APISERVER_ENTRYPOINT`]).
#[derive(Debug, Clone)]
pub struct ContainerImages {
    /// The `docker` client.
    pub docker: PathBuf,
    /// etcd's image (`registry.k8s.io/etcd:3.6.16-0`).
    pub etcd: String,
    /// kube-apiserver's image (`registry.k8s.io/kube-apiserver:v1.37.2`).
    pub kube_apiserver: String,
}

impl ContainerImages {
    /// A run of etcd's binary in its image, without mounts.
    pub fn etcd_run(&self) -> ContainerRun {
        let mut run = ContainerRun::new(&self.etcd, ETCD_ENTRYPOINT);
        run.docker.clone_from(&self.docker);
        run
    }

    /// A run of kube-apiserver's binary in its image, without mounts.
    pub fn kube_apiserver_run(&self) -> ContainerRun {
        let mut run = ContainerRun::new(&self.kube_apiserver, KUBE_APISERVER_ENTRYPOINT);
        run.docker.clone_from(&self.docker);
        run
    }
}

/// What a container run of the apiservers needs besides their own files.
#[derive(Debug, Clone)]
struct Containers {
    images: ContainerImages,
    /// The directories of the KMS plugins' sockets, mounted at the same paths.
    kms_dirs: Vec<PathBuf>,
}

impl fmt::Debug for ProcessCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessCluster")
            .field("dir", &self.dir.path())
            .field("plane", &self.plane)
            .finish_non_exhaustive()
    }
}

impl ProcessCluster {
    /// Starts etcd and generates the cluster PKI; apiservers start on
    /// [`Cluster::start_apiserver`].
    pub async fn launch(
        assets: &Assets,
        spec: ClusterSpec,
    ) -> Result<ProcessCluster, BackendError> {
        ProcessCluster::launch_with(assets, spec, None).await
    }

    /// [`ProcessCluster::launch`], with etcd and the apiservers in containers of `images` when
    /// given (host networking; each apiserver mounts its encryption configuration's directory
    /// read-only at the path its flag names, as kubeadm's `hostPath` does, and its certificates
    /// and the KMS sockets read-only at their host paths). `assets` is then unused.
    pub async fn launch_with(
        assets: &Assets,
        spec: ClusterSpec,
        images: Option<ContainerImages>,
    ) -> Result<ProcessCluster, BackendError> {
        let dir = InstanceDir::new("cluster")
            .map_err(|e| BackendError::other("creating the cluster directory", e))?;
        let fs_root = dir.path().join("fs");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&fs_root)
            .map_err(|source| BackendError::File { op: "write", path: "/".to_owned(), source })?;
        let mut etcd_opts = EtcdOptions::new("etcd");
        etcd_opts.parent_dir = Some(dir.path().to_owned());
        etcd_opts.container = images.as_ref().map(ContainerImages::etcd_run);
        if let Some(bytes) = spec.etcd.quota_backend_bytes {
            etcd_opts.extra_args.push(format!("--quota-backend-bytes={bytes}"));
        }
        let plane = ControlPlane::with_etcd(assets, etcd_opts)
            .await
            .map_err(|e| BackendError::other("starting etcd", e))?;
        let raw =
            plane.etcd().raw().await.map_err(|e| BackendError::other("connecting to etcd", e))?;
        let mut kms = Vec::with_capacity(spec.kms_plugins.len());
        let mut kms_dirs = Vec::new();
        for plugin in &spec.kms_plugins {
            let socket = host_path(&fs_root, &plugin.socket)?;
            let parent = socket.parent().unwrap_or(&fs_root);
            kms_dirs.push(parent.to_owned());
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(
                |source| BackendError::File { op: "write", path: plugin.socket.clone(), source },
            )?;
            // The key file stays outside the cluster's tree: no scenario step can reach it.
            let key_file = dir.path().join(format!("kms-{}.keys", plugin.name));
            let config = PluginConfig::new(socket, key_file).with_new_key_file_if_missing();
            let started = KmsPlugin::start(config).map_err(|e| {
                BackendError::other(format!("starting KMS plugin {}", plugin.name), e)
            })?;
            kms.push((plugin.name.clone(), started));
        }
        Ok(ProcessCluster {
            slots: spec.apiservers.into_iter().map(|spec| Slot { spec, client: None }).collect(),
            raw,
            plane,
            kms,
            not_ready_timeout: Duration::from_secs(20),
            stop_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            fs_root,
            containers: images.map(|images| Containers { images, kms_dirs }),
            dir,
        })
    }

    /// How long a start waits for `/readyz` before it reports [`StartFailure::NotReady`] (and
    /// leaves the process running). Default 20 s.
    #[must_use]
    pub fn with_not_ready_timeout(mut self, timeout: Duration) -> ProcessCluster {
        self.not_ready_timeout = timeout;
        self
    }

    /// How long an object request may go unanswered before it is a [`BackendError`] (applies
    /// to apiservers prepared from now on). Default 60 s.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> ProcessCluster {
        self.request_timeout = timeout;
        self
    }

    /// The host path of the cluster path `path` (absolute, `/`-rooted, without `..`).
    pub fn host_path(&self, path: &str) -> Result<PathBuf, BackendError> {
        host_path(&self.fs_root, path)
    }

    fn kms_plugin_handle(&self, name: &str) -> Result<&KmsPlugin, BackendError> {
        self.kms
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| BackendError::NoSuchKmsPlugin(name.to_owned()))
    }

    /// Apiserver `i`'s handle, once it was started (for its URL, logs, `/readyz`).
    pub fn apiserver(&self, i: usize) -> Option<&ApiServer> {
        self.plane.apiserver(i)
    }

    /// The cluster's PKI (its CA signs further client certificates for tests).
    pub fn pki(&self) -> &crate::apiserver::ClusterPki {
        self.plane.pki()
    }

    /// The etcd member.
    pub fn etcd(&self) -> &Etcd {
        self.plane.etcd()
    }

    /// The raw etcd client.
    pub fn raw_etcd(&self) -> &RawEtcd {
        &self.raw
    }

    fn slot(&self, i: usize) -> Result<&Slot, BackendError> {
        let count = self.slots.len();
        self.slots.get(i).ok_or(BackendError::NoSuchApiServer { index: i, count })
    }

    /// A client of running apiserver `i`.
    fn client(&self, i: usize) -> Result<kube::Client, BackendError> {
        match (&self.slot(i)?.client, self.plane.apiserver(i)) {
            (Some(client), Some(server)) if server.is_running() => Ok(client.clone()),
            _ => Err(BackendError::NotRunning(i)),
        }
    }

    /// Apiserver `i`'s exit on its own as an error: stopping or starting it would replace the
    /// dead process, and the report with it.
    fn no_unexpected_exit(&self, i: usize) -> Result<(), BackendError> {
        self.slot(i)?;
        let Some(server) = self.plane.apiserver(i) else {
            return Ok(());
        };
        let process = server.process().map(|p| (Member::ApiServer(i), p));
        match unexpected_exit(process.into_iter().collect()) {
            Some(exit) => Err(BackendError::MemberExited(exit)),
            None => Ok(()),
        }
    }

    /// Pauses (SIGSTOP, the container's cgroup freezer) or resumes `member`.
    async fn pause(&mut self, member: &Member, pause: bool) -> Result<(), BackendError> {
        let verb = if pause { "pausing" } else { "resuming" };
        let state = |problem| BackendError::MemberState { member: member.clone(), problem };
        let done = match member {
            Member::Etcd => {
                if self.plane.etcd().is_paused() == pause {
                    return Err(state(if pause { "already paused" } else { "not paused" }));
                }
                self.plane.etcd_mut().pause(pause).await
            }
            Member::ApiServer(i) => {
                self.slot(*i)?;
                let server = self.plane.apiserver_mut(*i).ok_or(state("not running"))?;
                if server.is_paused() == pause {
                    return Err(state(if pause { "already paused" } else { "not paused" }));
                }
                server.pause(pause).await
            }
            Member::KmsPlugin(name) => {
                let plugin = self.kms_plugin_handle(name)?;
                if plugin.is_down() {
                    return Err(state("not running"));
                }
                if plugin.is_frozen() == pause {
                    return Err(state(if pause { "already paused" } else { "not paused" }));
                }
                if pause {
                    plugin.freeze()
                } else {
                    plugin.thaw()
                }
                Ok(true)
            }
        };
        match done {
            Ok(true) => Ok(()),
            Ok(false) => Err(state("not running")),
            Err(e) => Err(BackendError::other(format!("{verb} {member}"), e)),
        }
    }

    /// The options apiserver `i` starts with.
    fn options(&self, i: usize, spec: &ApiServerSpec) -> Result<ApiServerOptions, BackendError> {
        let mut opts = ApiServerOptions::new(format!("kube-apiserver-{i}"));
        opts.parent_dir = Some(self.dir.path().to_owned());
        opts.stop_timeout = self.stop_timeout;
        let Some(containers) = &self.containers else {
            let config = match &spec.mounts {
                None => self.mapped_config(spec)?,
                Some(mounts) => {
                    let view = self.lay_out_view(i, mounts)?;
                    spec.encryption_config.as_deref().map(|p| host_path(&view, p)).transpose()?
                }
            };
            apply_spec(&mut opts, config, spec.automatic_reload);
            return Ok(opts);
        };
        // In a container the flag names the cluster path, and the host directory holding it
        // is mounted there read-only, as kubeadm's `hostPath` mounts `/etc/kubernetes/enc`.
        let mut run = containers.images.kube_apiserver_run();
        for dir in &containers.kms_dirs {
            run.mount(BindMount::same_path(dir));
        }
        let config = spec.encryption_config.as_deref().map(PathBuf::from);
        if let Some(mounts) = &spec.mounts {
            check_nesting(i, mounts)?;
            for m in mounts {
                run.mount(BindMount::read_only(self.mount_source(m)?, &m.mount_path));
            }
        } else if let (Some(path), Some(host)) = (&config, self.mapped_config(spec)?) {
            let (Some(parent), Some(host_parent)) = (path.parent(), host.parent()) else {
                return Err(BackendError::other(
                    format!("mounting the directory of {}", path.display()),
                    "the path has no parent directory",
                ));
            };
            if parent == Path::new("/") {
                return Err(BackendError::other(
                    format!("mounting the directory of {}", path.display()),
                    "the containers backend cannot mount the cluster's `/`",
                ));
            }
            // The directory must exist to be mounted; an absent file is still absent.
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(host_parent).map_err(
                |source| BackendError::File {
                    op: "write",
                    path: parent.display().to_string(),
                    source,
                },
            )?;
            run.mount(BindMount::read_only(host_parent, parent));
        }
        opts.container = Some(run);
        apply_spec(&mut opts, config, spec.automatic_reload);
        Ok(opts)
    }

    fn mapped_config(&self, spec: &ApiServerSpec) -> Result<Option<PathBuf>, BackendError> {
        spec.encryption_config.as_deref().map(|p| self.host_path(p)).transpose()
    }

    /// The host directory of a mount, created if absent (kubeadm's volumes are
    /// `DirectoryOrCreate`; Docker creates a missing bind source too).
    fn mount_source(&self, m: &HostPathMount) -> Result<PathBuf, BackendError> {
        let host = self.host_path(&m.host_path)?;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&host).map_err(|source| {
            BackendError::File { op: "write", path: m.host_path.clone(), source }
        })?;
        Ok(host)
    }

    /// Where a bare apiserver process with declared mounts looks for its files: a directory
    /// holding one symlink per mount, at the mount path, to the mounted directory. The kernel
    /// then resolves the flag's path as it would in the container: through a mount, or to
    /// nothing. Laid out afresh at each start, as a container's mounts are.
    fn lay_out_view(&self, i: usize, mounts: &[HostPathMount]) -> Result<PathBuf, BackendError> {
        check_nesting(i, mounts)?;
        let view = self.view_dir(i);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BackendError::File { op: "write", path, source }
        };
        match std::fs::remove_dir_all(&view) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&view)(e)),
            _ => {}
        }
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&view).map_err(io(&view))?;
        for m in mounts {
            let source = self.mount_source(m)?;
            let link = host_path(&view, &m.mount_path)?;
            if let Some(parent) = link.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io(parent))?;
            }
            std::os::unix::fs::symlink(&source, &link).map_err(io(&link))?;
        }
        Ok(view)
    }

    fn view_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join("views").join(format!("apiserver-{i}"))
    }

    /// A start failure's text with the view's directory read as the file tree's root, so a
    /// path reads as the flag names it (as it does in a container).
    fn as_in_tree(&self, i: usize, err: Option<String>) -> Option<String> {
        let view = self.view_dir(i).display().to_string();
        let root = self.fs_root.display().to_string();
        err.map(|e| e.replace(&view, &root))
    }
}

/// Refuses mounts inside other mounts: a bare process's view is made of symlinks, and one
/// inside another would land in the mounted host directory.
fn check_nesting(i: usize, mounts: &[HostPathMount]) -> Result<(), BackendError> {
    match HostPathMount::nested(mounts) {
        Some(problem) => {
            Err(BackendError::other(format!("laying out apiserver {i}'s mounts"), problem))
        }
        None => Ok(()),
    }
}

/// The host path of the cluster path `path` below `fs_root`: an absolute path without `..`
/// (anything else is refused, so no step reaches outside the tree). The kind backend's tree is
/// laid out the same way.
pub fn host_path(fs_root: &Path, path: &str) -> Result<PathBuf, BackendError> {
    let rel = Path::new(path);
    let bad = || {
        BackendError::other(
            format!("mapping {path:?} into the cluster's file tree"),
            "not an absolute path without `..`",
        )
    };
    if !rel.is_absolute() {
        return Err(bad());
    }
    let mut host = fs_root.to_owned();
    for c in rel.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => host.push(part),
            Component::ParentDir | Component::Prefix(_) => return Err(bad()),
        }
    }
    Ok(host)
}

/// Writes the cluster path `path` below `fs_root` (0600, also when it existed; directories
/// 0700), as `Cluster::write_file` of every backend whose tree is a host directory.
pub fn write_tree_file(fs_root: &Path, path: &str, contents: &[u8]) -> Result<(), BackendError> {
    let host = host_path(fs_root, path)?;
    let err = |source| BackendError::File { op: "write", path: path.to_owned(), source };
    if let Some(parent) = host.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&host)
        .map_err(err)?;
    // `mode` applies only to a new file; an existing one may have been written otherwise.
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)
}

/// Removes the cluster path `path` below `fs_root` (missing is fine).
pub fn remove_tree_file(fs_root: &Path, path: &str) -> Result<(), BackendError> {
    let host = host_path(fs_root, path)?;
    match std::fs::remove_file(&host) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BackendError::File { op: "remove", path: path.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

/// The plugin's fault for the boundary's.
fn plugin_state(status: PluginStatus) -> KmsPluginState {
    KmsPluginState { key_id: status.key_id, key_ids: status.key_ids, calls: status.calls.into() }
}

fn apply_spec(opts: &mut ApiServerOptions, config: Option<PathBuf>, automatic_reload: bool) {
    opts.encryption_config = config;
    opts.automatic_reload = automatic_reload;
}

fn raw_entry((key, value): (String, RawValue)) -> RawEntry {
    RawEntry { key, value: value.value, mod_revision: value.mod_revision }
}

impl Cluster for ProcessCluster {
    fn backend_name(&self) -> &'static str {
        if self.containers.is_some() { "containers" } else { "process" }
    }

    fn apiserver_count(&self) -> usize {
        self.slots.len()
    }

    fn file_root(&self) -> Option<String> {
        Some(self.fs_root.to_string_lossy().into_owned())
    }

    fn kms_endpoint(&self, name: &str) -> Option<String> {
        self.kms_plugin_handle(name).ok().map(KmsPlugin::endpoint)
    }

    fn kms_reader(
        &self,
        name: &str,
    ) -> Option<std::sync::Arc<dyn atrest_transformers::KmsV2Plugin>> {
        let plugin = self.kms_plugin_handle(name).ok()?;
        Some(std::sync::Arc::new(plugin.local_view()))
    }

    async fn kms_plugin(
        &mut self,
        name: &str,
        action: KmsAction,
    ) -> Result<KmsPluginState, BackendError> {
        let plugin = self.kms_plugin_handle(name)?;
        let what = format!("KMS plugin {name}: {action:?}");
        let status = match action {
            KmsAction::Status => Ok(plugin.status()),
            KmsAction::Rotate => plugin.rotate().map(|_| plugin.status()),
            KmsAction::SetFault(fault) => plugin.set_fault(fault.into()),
            KmsAction::ClearFaults => plugin.clear_faults(),
        };
        status.map(plugin_state).map_err(|e| BackendError::other(what, e))
    }

    async fn write_file(&mut self, path: &str, contents: &[u8]) -> Result<(), BackendError> {
        write_tree_file(&self.fs_root, path, contents)
    }

    async fn remove_file(&mut self, path: &str) -> Result<(), BackendError> {
        remove_tree_file(&self.fs_root, path)
    }

    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError> {
        self.slot(i)?;
        // Reject a bad path now, not at the next start.
        self.mapped_config(&spec)?;
        self.slots[i].spec = spec;
        Ok(())
    }

    async fn start_apiserver(
        &mut self,
        i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        let spec = self.slot(i)?.spec.clone();
        self.no_unexpected_exit(i)?;
        if self.is_running(i) {
            return Err(BackendError::other(
                format!("starting apiserver {i}"),
                "it is already running",
            ));
        }
        let opts = self.options(i, &spec)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let server = self
                .plane
                .prepare_apiserver(i, opts.clone())
                .await
                .map_err(|e| BackendError::other(format!("preparing apiserver {i}"), e))?;
            if self.slots[i].client.is_none() {
                let client =
                    plain_client_from_kubeconfig(server.kubeconfig(), self.request_timeout)
                        .await
                        .map_err(|e| BackendError::Other {
                        context: format!("building a client for apiserver {i}"),
                        source: e,
                    })?;
                self.slots[i].client = Some(client);
            }
            apply_spec(server.options_mut(), opts.encryption_config.clone(), opts.automatic_reload);
            server.options_mut().container.clone_from(&opts.container);
            match server.start_keep_unready(self.not_ready_timeout).await {
                Ok(Readiness::Ready) => return Ok(Ok(())),
                Ok(Readiness::NotReady { last, .. }) => {
                    let failing = last.as_deref().map(failing_checks).unwrap_or_default();
                    return Ok(Err(StartFailure::NotReady { failing }));
                }
                Err(e) if retry_on_new_port(attempt, &e) => {
                    tracing::debug!(apiserver = i, attempt, "port taken, retrying on a new one");
                    self.plane.forget_apiserver(i);
                    self.slots[i].client = None;
                }
                Err(StartError::Exited { code, command_failed, .. }) => {
                    let err = self.as_in_tree(i, command_failed);
                    return Ok(Err(StartFailure::Exited { code, err }));
                }
                Err(e) => return Err(BackendError::other(format!("starting apiserver {i}"), e)),
            }
        }
    }

    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        self.no_unexpected_exit(i)?;
        if let Some(server) = self.plane.apiserver_mut(i) {
            server.stop().await;
        }
        Ok(())
    }

    fn is_running(&self, i: usize) -> bool {
        self.apiserver(i).is_some_and(ApiServer::is_running)
    }

    async fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        ObjectApi::new(self.client(i)?).create(object).await
    }

    async fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        ObjectApi::new(self.client(i)?).update(object).await
    }

    async fn get(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        ObjectApi::new(self.client(i)?).get(id).await
    }

    async fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        ObjectApi::new(self.client(i)?).list(kind, namespace).await
    }

    async fn delete(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        ObjectApi::new(self.client(i)?).delete(id).await
    }

    async fn metrics(&mut self, i: usize) -> Result<ApiResult<String>, BackendError> {
        ObjectApi::new(self.client(i)?).metrics().await
    }

    async fn probe(&mut self, i: usize, path: &str) -> Result<(u16, String), BackendError> {
        ObjectApi::new(self.client(i)?)
            .probe(path)
            .await
            .map_err(|e| BackendError::other(format!("GET {path} of apiserver {i}"), e))
    }

    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        let value = self
            .raw
            .get(key)
            .await
            .map_err(|e| BackendError::other(format!("reading etcd key {key:?}"), e))?;
        Ok(value.map(|v| raw_entry((key.to_owned(), v))))
    }

    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        let entries = self
            .raw
            .list(prefix, RAW_PAGE)
            .await
            .map_err(|e| BackendError::other(format!("listing etcd prefix {prefix:?}"), e))?;
        Ok(entries.into_iter().map(raw_entry).collect())
    }

    async fn kill_member(
        &mut self,
        member: &Member,
        signal: KillSignal,
    ) -> Result<(), BackendError> {
        let kill = signal;
        let signal = match kill {
            KillSignal::Kill => nix::sys::signal::Signal::SIGKILL,
            KillSignal::Term => nix::sys::signal::Signal::SIGTERM,
        };
        let not_running =
            || BackendError::MemberState { member: member.clone(), problem: "not running" };
        if let Some(exit) = self.plane.unexpected_exit() {
            return Err(BackendError::MemberExited(exit));
        }
        match member {
            Member::Etcd => {
                if !self.plane.etcd().is_running() {
                    return Err(not_running());
                }
                self.plane.etcd_mut().kill(signal).await.ok_or_else(not_running)?;
            }
            Member::ApiServer(i) => {
                self.slot(*i)?;
                if !self.is_running(*i) {
                    return Err(not_running());
                }
                let server = self.plane.apiserver_mut(*i).ok_or_else(not_running)?;
                server.kill(signal).await.ok_or_else(not_running)?;
            }
            Member::KmsPlugin(name) => {
                let plugin = self.kms_plugin_handle(name)?;
                if plugin.is_down() {
                    return Err(not_running());
                }
                // The plugins run inside the harness: the kill cuts their connections and
                // leaves the socket as a dead process would (see `KmsPlugin::kill`).
                plugin
                    .kill(kill)
                    .map_err(|e| BackendError::other(format!("sending {signal} to {member}"), e))?;
            }
        }
        tracing::info!(%member, %signal, "killed on purpose");
        Ok(())
    }

    async fn etcd_maintenance(&mut self, op: EtcdMaintenance) -> Result<Vec<String>, BackendError> {
        let failed = |e| BackendError::other(format!("`{}`", op.command()), e);
        let names = |alarms: Vec<atrest_etcd::Alarm>| {
            alarms.iter().map(|a| a.kind.name().to_owned()).collect::<Vec<_>>()
        };
        match op {
            EtcdMaintenance::Compact => {
                let revision = self.raw.status().await.map_err(failed)?.revision;
                self.raw.compact(revision).await.map_err(failed)?;
                Ok(Vec::new())
            }
            EtcdMaintenance::Defragment => {
                self.raw.defragment().await.map_err(failed)?;
                Ok(Vec::new())
            }
            EtcdMaintenance::ListAlarms => Ok(names(self.raw.alarms().await.map_err(failed)?)),
            EtcdMaintenance::DisarmAlarms => Ok(names(self.raw.disarm().await.map_err(failed)?)),
        }
    }

    async fn start_kms_plugin(&mut self, name: &str) -> Result<(), BackendError> {
        let plugin = self.kms_plugin_handle(name)?;
        if !plugin.is_down() {
            return Err(BackendError::MemberState {
                member: Member::KmsPlugin(name.to_owned()),
                problem: "already running",
            });
        }
        plugin
            .start_again()
            .map_err(|e| BackendError::other(format!("starting KMS plugin {name} again"), e))
    }

    async fn start_etcd(&mut self) -> Result<(), BackendError> {
        if self.plane.etcd().is_running() {
            return Err(BackendError::MemberState {
                member: Member::Etcd,
                problem: "already running",
            });
        }
        self.plane
            .etcd_mut()
            .start_again()
            .await
            .map_err(|e| BackendError::other("starting etcd again on its data directory", e))
    }

    fn etcd_running(&self) -> bool {
        self.plane.etcd().is_running() && !self.plane.etcd().is_paused()
    }

    async fn pause_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.pause(member, true).await
    }

    async fn resume_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.pause(member, false).await
    }

    fn unexpected_exit(&self) -> Option<MemberExit> {
        self.plane.unexpected_exit()
    }

    fn log_dir(&self) -> Option<PathBuf> {
        Some(self.dir.path().to_owned())
    }

    fn keep_logs(&mut self) {
        self.dir.keep();
        self.plane.keep_dirs();
        tracing::info!(dir = %self.dir.path().display(), "keeping the cluster's logs");
    }

    async fn shutdown(self) -> Result<(), BackendError> {
        let ProcessCluster { slots, kms, plane, dir, raw, .. } = self;
        drop((slots, raw));
        plane.shutdown().await;
        let mut failed = None;
        for (name, plugin) in kms {
            if let Err(e) = plugin.shutdown() {
                failed.get_or_insert(BackendError::other(format!("stopping KMS plugin {name}"), e));
            }
        }
        drop(dir);
        failed.map_or(Ok(()), Err)
    }
}
