//! The `containers` backend: the `process` backend's control plane (etcd with TLS and
//! client-certificate auth, N kube-apiservers, the cluster's file tree, KMS plugins on the host)
//! with etcd and every apiserver in a Docker container of a local image instead of a host
//! process.
//!
//! - Images: `registry.k8s.io/etcd:3.6.16-0` and `registry.k8s.io/kube-apiserver:v1.37.2`,
//!   built locally by `cargo xtask setup` (FROM scratch, the binaries at upstream's paths), or
//!   any other reference already in the engine ([`images_with`], `--etcd-image` and
//!   `--apiserver-image` on the command line), such as the published images pulled beforehand.
//!   The binary is run as an explicit entrypoint (`/usr/local/bin/etcd`, as kubeadm's `command:`),
//!   so either kind of image behaves the same. Never pulled.
//! - Networking: host networking; members listen on 127.0.0.1 ports chosen at run time.
//! - Mounts: an apiserver mounts the host directory of its encryption configuration read-only
//!   at the path its flag names (kubeadm's `hostPath` `/etc/kubernetes/enc`), its certificates,
//!   etcd's client certificates and the KMS sockets' directories read-only at their host paths;
//!   etcd mounts its instance directory read-write.
//! - Containers are created, started and removed through testcontainers-rs
//!   (`atrest_process::container`); a start is a new container: a restart re-reads the file; a
//!   file changed on the host is visible in the container at once.
//! - Exit codes come from the engine, and the container's output is copied into the member's
//!   log files before its exit is reported, so `"command failed"` text, start failures and
//!   unexpected exits read as on `process`.
//! - Every container carries `io.atrest.project=1` and `io.atrest.owner=<pid> <start time>`;
//!   [`ContainersCluster::launch`] first removes containers whose owner is gone.
//!
//! Nothing of Docker crosses the [`Cluster`] boundary.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, ClusterSpec, EtcdMaintenance, ExitHow,
    KillSignal, Kind, KmsAction, KmsPluginState, Member, MemberExit, Object, ObjectRef, RawEntry,
    StartFailure,
};
use atrest_process::container::{OWNER_LABEL, PROJECT_LABEL, owner_alive};
use atrest_process::{Assets, ContainerImages, ProcessCluster};

/// etcd's image, as `cargo xtask setup` builds it.
pub const ETCD_IMAGE: &str = "registry.k8s.io/etcd:3.6.16-0";
/// kube-apiserver's image, as `cargo xtask setup` builds it.
pub const KUBE_APISERVER_IMAGE: &str = "registry.k8s.io/kube-apiserver:v1.37.2";

/// What to do when the engine died under a run (its members' processes are killed by the
/// handles, since no engine can remove their containers any more).
pub const ENGINE_LOST_REMEDY: &str = "what is left of the run's containers is killed at \
     teardown; start the engine again (`cargo xtask setup` starts the project's own dockerd, \
     whose log is ~/.cache/atrest/docker/state/dockerd.log) and rerun";

/// The backend cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum ContainersError {
    /// No Docker engine answers.
    #[error(
        "no Docker engine answers ({detail}); `cargo xtask setup` starts the project's own \
         dockerd, and `~/.cache/atrest/docker/env` holds the DOCKER_HOST to export"
    )]
    NoEngine {
        /// What `docker version` said.
        detail: String,
    },
    /// One of the project's own images is not in the engine (nothing is ever pulled).
    #[error(
        "image {image} is missing from the Docker engine (images are never pulled); \
         `cargo xtask setup` builds it"
    )]
    NoImage {
        /// The image.
        image: String,
    },
    /// An image given in place of the project's is not in the engine (nothing is ever pulled).
    #[error(
        "image {image} ({flag}) is missing from the Docker engine (images are never pulled); \
         run `docker pull {image}` on a machine that reaches its registry (or `docker load` an \
         archive of it), or leave {flag} out to use the image `cargo xtask setup` builds"
    )]
    NoOverrideImage {
        /// The image.
        image: String,
        /// The option that named it.
        flag: &'static str,
    },
}

/// The `containers` backend. See the crate documentation.
#[derive(Debug)]
pub struct ContainersCluster {
    inner: ProcessCluster,
    /// The `docker` client, to tell a member that exited from an engine that died.
    docker: PathBuf,
}

/// The `docker` client: `ATREST_DOCKER`, else `docker` on `PATH`, else the client of the
/// project's own engine (`<cache>/docker/pkg/<version>/usr/bin/docker`, from `cargo xtask
/// setup`), else plain `docker` (whose absence `preflight` reports).
fn docker() -> PathBuf {
    if let Some(path) = std::env::var_os("ATREST_DOCKER").filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("docker")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.is_file());
    if let Some(found) = on_path {
        return found;
    }
    let pkg = atrest_process::cache_dir().join("docker").join("pkg");
    let mut own: Vec<PathBuf> = std::fs::read_dir(pkg)
        .map(|dir| dir.flatten().map(|e| e.path().join("usr/bin/docker")).collect())
        .unwrap_or_default();
    own.retain(|c| c.is_file());
    own.sort();
    own.pop().unwrap_or_else(|| PathBuf::from("docker"))
}

fn run(docker: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(docker)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", docker.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Checks that the engine answers and the project's two images are there.
pub fn preflight() -> Result<(), ContainersError> {
    preflight_images(&images())
}

/// Checks that the engine answers and both of `images` are there; an image other than the
/// project's is reported with what to do about it ([`ContainersError::NoOverrideImage`]).
pub fn preflight_images(images: &ContainerImages) -> Result<(), ContainersError> {
    run(&images.docker, &["version", "--format", "{{.Server.Version}}"])
        .map_err(|detail| ContainersError::NoEngine { detail })?;
    for (image, default, flag) in [
        (&images.etcd, ETCD_IMAGE, ETCD_IMAGE_FLAG),
        (&images.kube_apiserver, KUBE_APISERVER_IMAGE, KUBE_APISERVER_IMAGE_FLAG),
    ] {
        if image == default {
            check_images(&[image])?;
        } else if !has_image(&images.docker, image) {
            return Err(ContainersError::NoOverrideImage { image: image.clone(), flag });
        }
    }
    Ok(())
}

/// The command-line option that replaces [`ETCD_IMAGE`].
pub const ETCD_IMAGE_FLAG: &str = "--etcd-image";
/// The command-line option that replaces [`KUBE_APISERVER_IMAGE`].
pub const KUBE_APISERVER_IMAGE_FLAG: &str = "--apiserver-image";

fn has_image(docker: &std::path::Path, image: &str) -> bool {
    run(docker, &["image", "inspect", "--format", "{{.Id}}", image]).is_ok()
}

/// Checks that the engine holds `images` (never pulls).
pub fn check_images(images: &[&str]) -> Result<(), ContainersError> {
    let docker = docker();
    for image in images {
        if !has_image(&docker, image) {
            return Err(ContainersError::NoImage { image: (*image).to_owned() });
        }
    }
    Ok(())
}

/// Removes the project's containers whose owner process is gone (left by a killed run);
/// returns their ids. Failures to list or remove are logged.
pub fn sweep() -> Vec<String> {
    let docker = docker();
    let format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let filter = format!("label={PROJECT_LABEL}");
    let listing = match run(&docker, &["ps", "-a", "--filter", &filter, "--format", &format]) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%e, "cannot list the project's containers");
            return Vec::new();
        }
    };
    let dead: Vec<String> = listing
        .lines()
        .filter_map(|line| {
            let (id, owner) = line.split_once('\t')?;
            (!id.is_empty() && !owner_alive(owner)).then(|| id.to_owned())
        })
        .collect();
    for id in &dead {
        if let Err(e) = run(&docker, &["rm", "-f", id]) {
            tracing::warn!(%id, %e, "cannot remove a leftover container");
        } else {
            tracing::info!(%id, "removed a leftover container");
        }
    }
    dead
}

/// `exit` of a container member as it should be reported: unchanged while the engine answers,
/// else as lost with the engine ([`ExitHow::EngineLost`]). A dead engine ends every watch on it
/// at once (reported with exit code 125, as Docker's client reports "error waiting for
/// container") while the containers keep running, so "exited on its own" would send the user
/// to the wrong log.
pub fn explain_exit(exit: MemberExit, docker: &std::path::Path) -> MemberExit {
    if run(docker, &["version", "--format", "{{.Server.Version}}"]).is_ok() {
        return exit;
    }
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
    MemberExit {
        how: ExitHow::EngineLost {
            engine: format!("the Docker engine at {host}"),
            remedy: ENGINE_LOST_REMEDY,
        },
        ..exit
    }
}

/// The project's images and the `docker` client this backend runs members with (for callers
/// that build their own control plane, as `atrest cluster up` does).
pub fn images() -> ContainerImages {
    images_with(None, None)
}

/// [`images`] with etcd's or kube-apiserver's image replaced (a published image pulled
/// beforehand, or a retagged one); the binaries must be at upstream's paths.
pub fn images_with(etcd: Option<&str>, kube_apiserver: Option<&str>) -> ContainerImages {
    ContainerImages {
        docker: docker(),
        etcd: etcd.unwrap_or(ETCD_IMAGE).to_owned(),
        kube_apiserver: kube_apiserver.unwrap_or(KUBE_APISERVER_IMAGE).to_owned(),
    }
}

impl ContainersCluster {
    /// Checks the engine and images, sweeps leftovers, starts etcd's container and generates
    /// the cluster PKI; apiservers start on [`Cluster::start_apiserver`].
    pub async fn launch(spec: ClusterSpec) -> Result<ContainersCluster, BackendError> {
        ContainersCluster::launch_with_images(spec, images()).await
    }

    /// [`ContainersCluster::launch`] with other images ([`images_with`]); a missing image is
    /// an error before anything starts.
    pub async fn launch_with_images(
        spec: ClusterSpec,
        images: ContainerImages,
    ) -> Result<ContainersCluster, BackendError> {
        preflight_images(&images)
            .map_err(|e| BackendError::other("checking the Docker engine", e))?;
        sweep();
        // The binaries run from the images; the host paths are never executed.
        let assets = Assets { kube_apiserver: PathBuf::new(), etcd: PathBuf::new() };
        let docker = images.docker.clone();
        let inner = ProcessCluster::launch_with(&assets, spec, Some(images)).await?;
        Ok(ContainersCluster { inner, docker })
    }

    /// How long a start waits for `/readyz` before it reports [`StartFailure::NotReady`].
    #[must_use]
    pub fn with_not_ready_timeout(self, timeout: Duration) -> ContainersCluster {
        ContainersCluster { inner: self.inner.with_not_ready_timeout(timeout), ..self }
    }
}

impl Cluster for ContainersCluster {
    fn backend_name(&self) -> &'static str {
        "containers"
    }
    fn apiserver_count(&self) -> usize {
        self.inner.apiserver_count()
    }
    fn file_root(&self) -> Option<String> {
        self.inner.file_root()
    }
    async fn write_file(&mut self, path: &str, contents: &[u8]) -> Result<(), BackendError> {
        self.inner.write_file(path, contents).await
    }
    async fn remove_file(&mut self, path: &str) -> Result<(), BackendError> {
        self.inner.remove_file(path).await
    }
    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError> {
        self.inner.configure_apiserver(i, spec)
    }
    async fn start_apiserver(
        &mut self,
        i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        self.inner.start_apiserver(i).await
    }
    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        self.inner.stop_apiserver(i).await
    }
    fn is_running(&self, i: usize) -> bool {
        self.inner.is_running(i)
    }
    async fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        self.inner.create(i, object).await
    }
    async fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        self.inner.update(i, object).await
    }
    async fn get(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        self.inner.get(i, id).await
    }
    async fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        self.inner.list(i, kind, namespace).await
    }
    async fn delete(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        self.inner.delete(i, id).await
    }
    async fn metrics(&mut self, i: usize) -> Result<ApiResult<String>, BackendError> {
        self.inner.metrics(i).await
    }
    fn kms_endpoint(&self, name: &str) -> Option<String> {
        self.inner.kms_endpoint(name)
    }
    fn kms_reader(
        &self,
        name: &str,
    ) -> Option<std::sync::Arc<dyn atrest_transformers::KmsV2Plugin>> {
        self.inner.kms_reader(name)
    }
    async fn kms_plugin(
        &mut self,
        name: &str,
        action: KmsAction,
    ) -> Result<KmsPluginState, BackendError> {
        self.inner.kms_plugin(name, action).await
    }
    async fn probe(&mut self, i: usize, path: &str) -> Result<(u16, String), BackendError> {
        self.inner.probe(i, path).await
    }
    fn etcd_prefix(&self) -> &str {
        self.inner.etcd_prefix()
    }
    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        self.inner.raw_get(key).await
    }
    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        self.inner.raw_list(prefix).await
    }
    async fn kill_member(
        &mut self,
        member: &Member,
        signal: KillSignal,
    ) -> Result<(), BackendError> {
        self.inner.kill_member(member, signal).await
    }

    async fn start_etcd(&mut self) -> Result<(), BackendError> {
        self.inner.start_etcd().await
    }

    async fn start_kms_plugin(&mut self, name: &str) -> Result<(), BackendError> {
        self.inner.start_kms_plugin(name).await
    }

    async fn etcd_maintenance(&mut self, op: EtcdMaintenance) -> Result<Vec<String>, BackendError> {
        self.inner.etcd_maintenance(op).await
    }

    fn etcd_running(&self) -> bool {
        self.inner.etcd_running()
    }

    async fn pause_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.inner.pause_member(member).await
    }

    async fn resume_member(&mut self, member: &Member) -> Result<(), BackendError> {
        self.inner.resume_member(member).await
    }

    fn unexpected_exit(&self) -> Option<MemberExit> {
        Some(explain_exit(self.inner.unexpected_exit()?, &self.docker))
    }
    fn log_dir(&self) -> Option<PathBuf> {
        self.inner.log_dir()
    }
    fn keep_logs(&mut self) {
        self.inner.keep_logs();
    }
    async fn shutdown(self) -> Result<(), BackendError> {
        self.inner.shutdown().await
    }
}
