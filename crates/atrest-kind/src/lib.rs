//! The `kind` backend: a real kind cluster, one control-plane node, in the Docker engine that
//! `DOCKER_HOST` names (the project's own after `cargo xtask setup`).
//!
//! What is real here and simulated nowhere else: the apiserver is kubeadm's static pod, run by a
//! real kubelet, and it reads the scenario's files through the two hops a user's kind cluster
//! needs (the host directory mounted into the node, the node's directory mounted into the pod).
//! - The cluster's file tree is a host directory (`<instance>/fs`), mounted read-only into the
//!   node at `/var/lib/atrest/fs` when the cluster is created (a kind node's mounts are fixed
//!   then). Each of the apiserver's volumes is a `hostPath` volume of its static pod into that
//!   directory, written into kubeadm's manifest at every start with the scenario's flags (so
//!   `setFlags` works as on every backend); a file written on the host is in the pod at once
//!   when a volume covers it, and otherwise only in the node, under `/var/lib/atrest/fs`.
//!   kubeadm's own volumes (the node's certificates) stay as kubeadm wrote them.
//! - Stopping the apiserver moves its manifest out of the kubelet's manifest directory; starting
//!   it writes it and moves it back. The kubelet then stops or starts the container, and the
//!   harness waits for containerd to show no apiserver task, nor pod sandbox, that is not
//!   stopped, or a new container id and
//!   `/readyz`. A container that exits is reported with the `"command failed"` line of its CRI
//!   log, as on `process`, and the exit code containerd's CRI plugin checkpointed for it (what
//!   the kubelet's container status reports).
//! - kubeadm's own objects (a bootstrap token Secret, kube-system ConfigMaps, `kube-root-ca.crt`
//!   in every namespace) are the cluster's, not the scenario's: as on `existing`, a scenario's
//!   namespace `NS` lives in a scratch namespace of its own, and lists and raw reads see only
//!   those.
//! - etcd's client port is published on 127.0.0.1 only (`extraPortMappings`); raw reads go there
//!   with the apiserver's own etcd client certificate, copied out of the node (0600).
//! - kubeadm init needs an apiserver that starts, so the cluster is created without the
//!   scenario's flags and volumes (no encryption: what identity writes), then the apiserver is
//!   stopped before the scenario's first step: the scenario starts with its apiserver stopped
//!   and its tree empty, as on every backend.
//! - Clusters are named `atrest-<pid>-<start time>-<n>`; a launch deletes those whose owner is
//!   gone, shutdown and drop delete this one, and a failed run exports kind's logs first.

mod config;
mod manifest;
mod node;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atrest_backend::wait::{deadline_after, wait_until};
use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, ClusterSpec, Controls, EtcdSpec, Kind,
    MirrorPodDeletion, Object, ObjectRef, RawEntry, StartFailure,
};
use atrest_existing::{ExistingCluster, ExistingSpec};
use atrest_process::container::{owner_alive, owner_value};
use atrest_process::{ConnectSettings, EtcdTlsFiles, InstanceDir};

use crate::config::KindConfig;
use crate::node::{MANIFEST, PARKED};

/// The prefix of every cluster this backend creates.
pub const NAME_PREFIX: &str = "atrest-";

/// The node image's label naming the etcd image tag baked into it (`cargo xtask
/// kind-node-image` sets it), when kubeadm would ask for another one.
pub const ETCD_TAG_LABEL: &str = "io.atrest.kind-node.etcd-image-tag";

/// How often the node and the apiserver are polled.
const POLL: Duration = Duration::from_millis(250);

/// Where kind and the node image are.
#[derive(Debug, Clone)]
pub struct KindSpec {
    /// The kind binary (kind runs `docker` from `PATH` against `DOCKER_HOST`).
    pub kind: PathBuf,
    /// The node image; it must be in the engine already (nothing is pulled).
    pub image: String,
    /// How long `kind create cluster` and kubeadm's apiserver may take to be ready.
    pub create_timeout: Duration,
    /// How long an apiserver start (the kubelet's) may take to be ready or to fail.
    pub start_timeout: Duration,
}

impl KindSpec {
    /// kind from `ATREST_KIND`, else the build `cargo xtask setup` left (`<cache>/kind-current`
    /// names it); the node image from `ATREST_KIND_IMAGE`, else the one `cargo xtask
    /// kind-node-image` built last (`<cache>/kind-node/image`).
    pub fn locate() -> Result<KindSpec, KindError> {
        let cache = atrest_process::cache_dir();
        let kind = match std::env::var_os("ATREST_KIND").filter(|v| !v.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => std::fs::read_to_string(cache.join("kind-current"))
                .ok()
                .map(|dir| cache.join(dir.trim()).join("kind"))
                .filter(|p| p.is_file())
                .ok_or_else(|| {
                    KindError::Prerequisite(format!(
                        "kind is not built: run `cargo xtask setup` (builds kind v0.33.0 from the Go \
                         module proxy into {}), or set ATREST_KIND to a kind binary",
                        cache.display()
                    ))
                })?,
        };
        let image = match std::env::var("ATREST_KIND_IMAGE").ok().filter(|v| !v.is_empty()) {
            Some(image) => image,
            None => std::fs::read_to_string(cache.join("kind-node/image"))
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    KindError::Prerequisite(
                        "no kind node image: run `cargo xtask kind-node-image` (builds one offline, \
                         about 2 minutes with warm Go caches), or set ATREST_KIND_IMAGE to an image \
                         the engine holds"
                            .to_owned(),
                    )
                })?,
        };
        Ok(KindSpec {
            kind,
            image,
            create_timeout: Duration::from_secs(240),
            start_timeout: Duration::from_secs(120),
        })
    }
}

/// Why the kind backend cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// Something to install or build first; the text says how.
    #[error("{0}")]
    Prerequisite(String),
    /// A command could not be started.
    #[error("cannot run `{command}`")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },
    /// A file of the instance directory.
    #[error("cannot {what} {}", .path.display())]
    File {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The scenario needs what a kind cluster here does not have.
    #[error("the kind backend cannot {0}")]
    Unsupported(String),
    /// The cluster could not be created or made ready; it is deleted, its files and kind's logs
    /// are kept.
    #[error("{source}; kind's logs and the cluster's files are kept in {}", .kept.display())]
    LaunchFailed {
        /// What failed.
        source: Box<KindError>,
        /// The kept instance directory (`kind-logs/` inside when the export worked).
        kept: PathBuf,
    },
    /// kubeadm's manifest is not what this backend edits.
    #[error("the apiserver's static pod manifest: {0}")]
    Manifest(String),
    /// A wait ran out.
    #[error("{what}: not within {}s (last observation: {last})", .waited.as_secs())]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
        /// What the last probe saw.
        last: String,
    },
    /// The cluster's apiserver or etcd cannot be used as a client would.
    #[error(transparent)]
    Connect(#[from] atrest_existing::ExistingError),
}

impl From<KindError> for BackendError {
    fn from(e: KindError) -> BackendError {
        match e {
            KindError::Prerequisite(text) => BackendError::Prerequisite(text),
            KindError::Unsupported(what) => BackendError::Unsupported { what, backend: "kind" },
            other => BackendError::other("the kind cluster", other),
        }
    }
}

/// A kind cluster the harness created. See the crate documentation.
pub struct KindCluster {
    name: String,
    node: String,
    kind: PathBuf,
    dir: InstanceDir,
    fs_root: PathBuf,
    api: ExistingCluster,
    /// The flags and mounts of the apiserver's next start.
    spec: ApiServerSpec,
    /// kubeadm's `kube-apiserver.yaml`, as kubeadm init wrote it.
    kubeadm_manifest: String,
    /// How many starts the harness has made (each start's manifest is numbered).
    starts: u64,
    start_timeout: Duration,
    running: bool,
    deleted: bool,
}

impl std::fmt::Debug for KindCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindCluster")
            .field("name", &self.name)
            .field("dir", &self.dir.path())
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

fn file_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KindError {
    let path = path.to_owned();
    move |source| KindError::File { what, path, source }
}

/// Writes `contents` to `path` (0600), creating its directories (0700).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), KindError> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(file_error("create", parent))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(file_error("write", path))
}

/// `name` is `atrest-<pid>-<start time>-<n>`: its owner as [`owner_alive`] reads it.
fn owner_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let mut parts = rest.split('-');
    let (pid, start, n) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (parts.next().is_none() && digits(pid) && digits(start) && digits(n))
        .then(|| format!("{pid} {start}"))
}

/// Deletes the clusters of atrest runs that are gone (killed before their teardown); returns
/// their names.
pub async fn sweep(kind: &Path) -> Result<Vec<String>, KindError> {
    let listed = node::output(kind, &["get", "clusters"], None).await?;
    let mut removed = Vec::new();
    for name in listed.lines().map(str::trim) {
        let Some(owner) = owner_of(name) else { continue };
        if owner_alive(&owner) {
            continue;
        }
        match node::output(kind, &["delete", "cluster", "--name", name], None).await {
            Ok(_) => {
                tracing::info!(
                    cluster = name,
                    "deleted a kind cluster left by a killed atrest run"
                );
                removed.push(name.to_owned());
            }
            Err(e) => tracing::warn!(
                cluster = name,
                error = %atrest_backend::error_chain(&e),
                "cannot delete a kind cluster left by a killed atrest run"
            ),
        }
    }
    Ok(removed)
}

/// What the kind backend can do: start and stop its one apiserver, with any flags and volumes
/// (the manifest is written at each start), write its files, read etcd. Not: faults, etcd
/// settings, KMS plugins.
pub const CONTROLS: Controls = Controls {
    apiservers: true,
    flags: true,
    members: false,
    files: true,
    kms_plugins: false,
    raw_etcd: true,
};

/// The cluster settings the kind backend refuses before it creates anything, with the reason
/// (`atrest scenarios` lists them too); the one apiserver's spec when it can.
pub fn check_spec(cluster: &ClusterSpec) -> Result<ApiServerSpec, KindError> {
    let apiserver = match cluster.apiservers.as_slice() {
        [one] => one.clone(),
        many => {
            return Err(KindError::Unsupported(format!(
                "run {} apiservers: it creates one control-plane node (several need kind's \
                 haproxy load balancer image, which is not built here)",
                many.len()
            )));
        }
    };
    if !cluster.kms_plugins.is_empty() {
        return Err(KindError::Unsupported(
            "run KMS plugins yet (their sockets would have to reach the node)".to_owned(),
        ));
    }
    if cluster.etcd != EtcdSpec::default() {
        return Err(KindError::Unsupported(
            "set etcd's space quota (kubeadm's etcd runs with its defaults)".to_owned(),
        ));
    }
    check_apiserver(&apiserver)?;
    Ok(apiserver)
}

/// An apiserver spec (the cluster's, or one a `setFlags` step makes) the kind backend refuses,
/// with the reason: volumes it cannot mount in the static pod.
pub fn check_apiserver(spec: &ApiServerSpec) -> Result<(), KindError> {
    config::volumes(spec).map(drop)
}

impl KindCluster {
    /// Creates the cluster and leaves its apiserver stopped, its tree empty. On failure kind's
    /// logs are exported into the kept instance directory, named in the error.
    pub async fn launch(spec: &KindSpec, cluster: ClusterSpec) -> Result<KindCluster, KindError> {
        let apiserver = check_spec(&cluster)?;
        let etcd_tag = image_etcd_tag(&spec.image).await?;
        sweep(&spec.kind).await?;

        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let owner = owner_value().ok_or_else(|| {
            KindError::Prerequisite("cannot read this process's start time".into())
        })?;
        let name = format!(
            "{NAME_PREFIX}{}-{}",
            owner.replace(' ', "-"),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let node = format!("{name}-control-plane");
        let mut dir =
            InstanceDir::new("kind").map_err(file_error("create", &std::env::temp_dir()))?;
        let fs_root = dir.path().join("fs");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&fs_root)
            .map_err(file_error("create", &fs_root))?;
        let etcd_port = atrest_process::free_port()
            .map_err(|e| KindError::Prerequisite(format!("no free port for etcd: {e}")))?;
        let text = KindConfig {
            image: &spec.image,
            fs_root: &fs_root,
            etcd_port,
            etcd_image_tag: etcd_tag.as_deref(),
        }
        .render();
        let config_path = dir.path().join("kind.yaml");
        write_private(&config_path, text.as_bytes())?;

        let kubeconfig = dir.path().join("kubeconfig");
        let started = Instant::now();
        tracing::info!(cluster = %name, image = %spec.image, "creating the kind cluster");
        // Armed before kind runs: a launch cancelled mid-create still deletes what kind made.
        let mut partial = Partial { name: name.clone(), kind: spec.kind.clone(), armed: true };
        let (config_arg, kubeconfig_arg) =
            (config_path.to_string_lossy().into_owned(), kubeconfig.to_string_lossy().into_owned());
        let args = [
            "create",
            "cluster",
            "--name",
            &name,
            "--config",
            &config_arg,
            "--kubeconfig",
            &kubeconfig_arg,
            "--wait",
            "0s",
            "--retain",
        ];
        let create = node::output(&spec.kind, &args, Some(dir.path()));
        let created = match tokio::time::timeout(spec.create_timeout, create).await {
            Ok(created) => created,
            Err(_) => Err(KindError::Timeout {
                what: "kind create cluster".to_owned(),
                waited: spec.create_timeout,
                last: "still running (its node's logs are exported)".to_owned(),
            }),
        };
        if let Err(e) = created {
            return Err(partial.fail(&mut dir, e).await);
        }
        tracing::info!(cluster = %name, took = ?started.elapsed(), "kind create cluster done");

        let ready = async {
            let etcd = copy_etcd_client(&node, dir.path()).await?;
            let existing = ExistingSpec {
                etcd: Some((format!("https://127.0.0.1:{etcd_port}"), etcd)),
                // As on every other backend, the apiserver's own ConfigMaps are in the view
                // (a `configmaps` rule without identity locks the apiserver out of them).
                visible: atrest_backend::APISERVER_CONFIGMAPS
                    .iter()
                    .map(|name| ObjectRef::new(Kind::ConfigMap, "kube-system", *name))
                    .collect(),
                ..ExistingSpec::new(&kubeconfig)
            };
            let deadline = deadline_after(Instant::now(), spec.create_timeout);
            let api = wait_until(deadline, POLL, || async {
                match ExistingCluster::connect(&existing).await {
                    Ok(api) => ControlFlow::Break(api),
                    Err(e) => ControlFlow::Continue(atrest_backend::error_chain(&e)),
                }
            })
            .await
            .map_err(|t| KindError::Timeout {
                what: "the kind cluster's apiserver and etcd to answer".to_owned(),
                waited: t.waited,
                last: t.last.unwrap_or_else(|| "no answer".to_owned()),
            })?;
            park(&node, spec.start_timeout).await?;
            let kubeadm_manifest = node::exec(&node, &format!("cat {PARKED}")).await?;
            // Kept beside the logs: what every start's manifest is made from.
            write_private(
                &dir.path().join("kubeadm-kube-apiserver.yaml"),
                kubeadm_manifest.as_bytes(),
            )?;
            Ok::<_, KindError>((api, kubeadm_manifest))
        }
        .await;
        let (api, kubeadm_manifest) = match ready {
            Ok(ready) => ready,
            Err(e) => return Err(partial.fail(&mut dir, e).await),
        };
        partial.armed = false;
        tracing::info!(cluster = %name, took = ?started.elapsed(), "kind cluster ready");
        Ok(KindCluster {
            name,
            node,
            kind: spec.kind.clone(),
            dir,
            fs_root,
            api,
            spec: apiserver,
            kubeadm_manifest,
            starts: 0,
            start_timeout: spec.start_timeout,
            running: false,
            deleted: false,
        })
    }

    fn check_index(i: usize) -> Result<(), BackendError> {
        if i == 0 { Ok(()) } else { Err(BackendError::NoSuchApiServer { index: i, count: 1 }) }
    }

    async fn start(&mut self) -> Result<Result<(), StartFailure>, KindError> {
        let started = Instant::now();
        let before: BTreeSet<String> =
            node::apiserver_containers(&self.node).await?.into_iter().map(|c| c.id).collect();
        self.write_manifest().await?;
        node::exec(&self.node, &format!("mv {PARKED} {MANIFEST}")).await?;
        self.running = true;
        let deadline = deadline_after(Instant::now(), self.start_timeout);
        let node_name = self.node.as_str();
        // Shared by the probes: each borrows it only while it runs.
        let api = tokio::sync::Mutex::new(&mut self.api);
        // Since when /readyz has failed only the checks a watch cache that cannot list fails
        // (as on `process`: not ready once it has done so for a while, `atrest_process::Stuck`).
        let stuck = std::sync::Mutex::new(atrest_process::Stuck::default());
        let outcome = wait_until(deadline, POLL, || {
            let (before, api, stuck) = (&before, &api, &stuck);
            async move {
                let containers = match node::apiserver_containers(node_name).await {
                    Ok(c) => c,
                    Err(e) => return ControlFlow::Break(Err(e)),
                };
                let new: Vec<node::Container> =
                    containers.into_iter().filter(|c| !before.contains(&c.id)).collect();
                // containerd deletes an exited container's task at once, so an exit shows as a
                // stopped task, as a container without one whose log has the apiserver's last
                // words, or as the kubelet's next attempt (a second new container).
                for c in &new {
                    if c.status.as_deref() == Some("RUNNING") {
                        continue;
                    }
                    let log = match node::container_log(node_name, &c.id).await {
                        Ok(log) => log,
                        Err(e) => return ControlFlow::Break(Err(e)),
                    };
                    let err = log.as_deref().and_then(atrest_process::klog::command_failed_err);
                    if c.status.as_deref() == Some("STOPPED") || err.is_some() || new.len() > 1 {
                        return ControlFlow::Break(Ok(Err(StuckOrExited::Exited(
                            c.id.clone(),
                            err,
                        ))));
                    }
                }
                let Some(new) = new.into_iter().next() else {
                    return ControlFlow::Continue((
                        "the kubelet has not created the apiserver's container yet".to_owned(),
                        None,
                    ));
                };
                match new.status.as_deref() {
                    Some("RUNNING") => match api.lock().await.probe(0, "/readyz").await {
                        Ok((200, _)) => ControlFlow::Break(Ok(Ok(()))),
                        Ok((code, body)) => {
                            if stuck
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .observe(&body)
                            {
                                return ControlFlow::Break(Ok(Err(StuckOrExited::Stuck(body))));
                            }
                            ControlFlow::Continue((
                                format!(
                                    "container {} running, /readyz answered {code}",
                                    short(&new.id)
                                ),
                                Some(body),
                            ))
                        }
                        Err(e) => ControlFlow::Continue((
                            format!(
                                "container {} running, /readyz: {}",
                                short(&new.id),
                                atrest_backend::error_chain(&e)
                            ),
                            None,
                        )),
                    },
                    other => ControlFlow::Continue((
                        format!("container {} is {}", short(&new.id), other.unwrap_or("created")),
                        None,
                    )),
                }
            }
        })
        .await;
        tracing::info!(took = ?started.elapsed(), "the kubelet's apiserver start ended");
        match outcome {
            Ok(Ok(Ok(()))) => Ok(Ok(())),
            Ok(Ok(Err(StuckOrExited::Stuck(body)))) => {
                // Running, answering, and not ready: left running, as on the other backends.
                Ok(Err(StartFailure::NotReady { failing: atrest_process::failing_checks(&body) }))
            }
            Ok(Ok(Err(StuckOrExited::Exited(id, err)))) => {
                // Read before the stop: the kubelet removes the container's checkpoint with it.
                let code = self.exit_code(&id).await;
                // The kubelet would restart it again and again: stopped, as on the other
                // backends after a failed start.
                self.stop().await?;
                Ok(Err(StartFailure::Exited { code, err }))
            }
            Ok(Err(e)) => {
                // Whatever went wrong, the kubelet is not left restarting it.
                self.stop_after_error().await;
                Err(e)
            }
            Err(timed_out) => match timed_out.last {
                // Running and not ready by the deadline: left running, as on the other backends.
                Some((_, Some(body))) => Ok(Err(StartFailure::NotReady {
                    failing: atrest_process::failing_checks(&body),
                })),
                last => {
                    self.stop_after_error().await;
                    Err(KindError::Timeout {
                        what: "the kubelet to start the apiserver".to_owned(),
                        waited: timed_out.waited,
                        last: last.map_or_else(|| "nothing".to_owned(), |(seen, _)| seen),
                    })
                }
            },
        }
    }

    /// Writes the manifest of the next start where the stopped apiserver's waits: kubeadm's with
    /// the current flags and volumes, whose directories are made in the tree first (the tree is
    /// read-only in the node). A copy is kept in the instance directory.
    async fn write_manifest(&mut self) -> Result<(), KindError> {
        self.starts += 1;
        let (text, volumes) = manifest::render(&self.kubeadm_manifest, &self.spec, self.starts)?;
        for v in &volumes {
            let host = in_tree(&self.fs_root, &v.host_path)?;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&host)
                .map_err(file_error("create", &host))?;
        }
        write_private(&self.dir.path().join("kube-apiserver.json"), text.as_bytes())?;
        node::write(&self.node, PARKED, text.as_bytes()).await
    }

    /// The exit code of container `id`, once containerd has recorded that it finished (a few
    /// seconds at most after the exit was seen); `None` if it has not by then, or on an error
    /// (logged: the exit itself is what the report needs).
    async fn exit_code(&self, id: &str) -> Option<i32> {
        let deadline = deadline_after(Instant::now(), Duration::from_secs(10));
        let node = self.node.as_str();
        let read = wait_until(deadline, POLL, || async move {
            match node::exit_code(node, id).await {
                Ok(Some(code)) => ControlFlow::Break(Ok(code)),
                Ok(None) => ControlFlow::Continue(format!(
                    "container {} has no recorded exit yet",
                    short(id)
                )),
                Err(e) => ControlFlow::Break(Err(e)),
            }
        })
        .await;
        match read {
            Ok(Ok(code)) => Some(code),
            Ok(Err(e)) => {
                tracing::warn!(error = %atrest_backend::error_chain(&e), "cannot read the exit code");
                None
            }
            Err(t) => {
                tracing::warn!(last = ?t.last, "no exit code recorded within {:?}", t.waited);
                None
            }
        }
    }

    /// Stops the apiserver after a failed start, logging (not returning) a failure to do so:
    /// the start's own error is the one to report.
    async fn stop_after_error(&mut self) {
        if let Err(e) = self.stop().await {
            tracing::warn!(error = %atrest_backend::error_chain(&e), "cannot stop the apiserver");
        }
    }

    async fn stop(&mut self) -> Result<(), KindError> {
        park(&self.node, self.start_timeout).await?;
        self.running = false;
        Ok(())
    }

    /// The tutorial's restart: deletes the apiserver's mirror pod with kubectl in the node (as
    /// the admin kubeadm wrote), waits for the kubelet to create it again (a new uid), and
    /// compares the running container before and after.
    async fn recreate_mirror_pod(&mut self) -> Result<MirrorPodDeletion, KindError> {
        let node = self.node.as_str();
        let pod = format!("kube-apiserver-{node}");
        let kubectl = |args: &str| {
            format!(
                "kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=10s \
                 -n kube-system {args}"
            )
        };
        // The pod's uid and the container id its status reports (`containerd://<id>`).
        let status_of = kubectl(&format!(
            "get pod {pod} --ignore-not-found -o \
             jsonpath='{{.metadata.uid}} {{.status.containerStatuses[0].containerID}}'"
        ));
        let deadline = deadline_after(Instant::now(), self.start_timeout);
        let running = |list: Vec<node::Container>| -> Vec<String> {
            list.into_iter()
                .filter(|c| c.status.as_deref() == Some("RUNNING"))
                .map(|c| c.id)
                .collect()
        };
        // The kubelet creates the mirror pod, and reports the running container in it, some
        // seconds after the apiserver is ready (until then a restarted one's mirror pod still
        // names the container before); `skip` is the uid the pod must no longer have. Settled
        // when the pod reports the one container containerd runs.
        let reported = |skip: Option<String>| {
            let (status_of, pod) = (&status_of, &pod);
            wait_until(deadline, POLL, move || {
                let skip = skip.clone();
                async move {
                    let out = match node::exec(node, status_of).await {
                        Ok(out) => out,
                        Err(e) => {
                            return ControlFlow::Continue(format!("kubectl get pod {pod}: {e}"));
                        }
                    };
                    match parse_pod_status(&out) {
                        None => ControlFlow::Continue(format!("no pod {pod}")),
                        Some((uid, _)) if Some(&uid) == skip.as_ref() => {
                            ControlFlow::Continue(format!("pod {pod} still has uid {uid}"))
                        }
                        Some((uid, None)) => ControlFlow::Continue(format!(
                            "pod {pod} (uid {uid}) reports no container yet"
                        )),
                        Some((uid, Some(container))) => {
                            match node::apiserver_containers(node).await.map(running) {
                                Ok(ids) if ids == [container.clone()] => {
                                    ControlFlow::Break((uid, container))
                                }
                                Ok(ids) => ControlFlow::Continue(format!(
                                    "pod {pod} (uid {uid}) reports container {}, containerd \
                                     runs [{}]",
                                    short(&container),
                                    ids.iter().map(|id| short(id)).collect::<Vec<_>>().join(", ")
                                )),
                                Err(e) => ControlFlow::Continue(format!("ctr: {e}")),
                            }
                        }
                    }
                }
            })
        };
        let timeout = |what: String| {
            move |t: atrest_backend::wait::TimedOut<String>| KindError::Timeout {
                what,
                waited: t.waited,
                last: t.last.unwrap_or_default(),
            }
        };
        let (uid, container) = reported(None)
            .await
            .map_err(timeout(format!("the kubelet to report the mirror pod {pod}")))?;
        let started = Instant::now();
        node::exec(node, &kubectl(&format!("delete pod {pod} --wait=false"))).await?;
        let (new_uid, new_container) = reported(Some(uid.clone()))
            .await
            .map_err(timeout(format!("the kubelet to create the mirror pod {pod} again")))?;
        let took = started.elapsed();
        // Both pods reported the one running container: the same one unless the kubelet
        // restarted the static pod.
        let restarted = new_container != container;
        Ok(MirrorPodDeletion::Recreated {
            restarted,
            details: vec![
                format!(
                    "kubectl delete pod -n kube-system {pod}: the mirror pod (uid {uid}) was \
                     deleted, and the kubelet created it again (uid {new_uid}) {:.1} s later",
                    took.as_secs_f64()
                ),
                if restarted {
                    format!(
                        "apiserver container: {} before, {} after (restarted)",
                        short(&container),
                        short(&new_container)
                    )
                } else {
                    format!(
                        "apiserver container: {} before and after, the only one running, in the \
                         old pod's status and the new one's (the kubelet did not touch it)",
                        short(&container)
                    )
                },
            ],
        })
    }

    async fn delete(&mut self) -> Result<(), KindError> {
        node::output(&self.kind, &["delete", "cluster", "--name", &self.name], None).await?;
        self.deleted = true;
        Ok(())
    }
}

/// `<uid> <runtime>://<container id>` (kubectl's jsonpath of a pod) as the uid and the
/// container id, `None` for no pod (empty output).
fn parse_pod_status(out: &str) -> Option<(String, Option<String>)> {
    let mut words = out.split_whitespace();
    let uid = words.next()?.to_owned();
    let container = words.next().map(|c| c.split_once("://").map_or(c, |(_, id)| id).to_owned());
    Some((uid, container))
}

/// How a start that did not become ready ended early.
enum StuckOrExited {
    /// Running and failing only the checks of a watch cache that cannot list (the body).
    Stuck(String),
    /// The container (its id) exited (its `command failed` err, if its log has one).
    Exited(String, Option<String>),
}

/// `path` of the cluster's tree on the host, for launch (`..` and relative paths refused).
fn in_tree(fs_root: &Path, path: &str) -> Result<PathBuf, KindError> {
    atrest_process::host_path(fs_root, path)
        .map_err(|e| KindError::Unsupported(atrest_backend::error_chain(&e)))
}

/// The first twelve characters of a container id, as `docker ps` shows them.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `kind export logs` into `dir/kind-logs` (a failure is logged: the run's own error matters
/// more).
async fn export_logs(kind: &Path, name: &str, dir: &Path) {
    let logs = dir.join("kind-logs");
    let args = ["export", "logs", "--name", name, &logs.to_string_lossy()];
    if let Err(e) = node::output(kind, &args, None).await {
        tracing::warn!(error = %atrest_backend::error_chain(&e), "kind export logs failed");
    }
}

/// The etcd image tag the node image names in [`ETCD_TAG_LABEL`]; an image the engine does
/// not hold is a prerequisite (kind would pull it).
async fn image_etcd_tag(image: &str) -> Result<Option<String>, KindError> {
    let format = format!("{{{{ index .Config.Labels \"{ETCD_TAG_LABEL}\" }}}}");
    match node::output(Path::new("docker"), &["image", "inspect", "--format", &format, image], None)
        .await
    {
        Ok(out) => {
            let tag = out.trim();
            Ok((!tag.is_empty() && tag != "<no value>").then(|| tag.to_owned()))
        }
        Err(KindError::Spawn { source, .. }) => Err(KindError::Prerequisite(format!(
            "cannot run the `docker` client ({source}); kind needs it on PATH, talking to \
             DOCKER_HOST (`cargo xtask` puts the project engine's own client first)"
        ))),
        Err(e) => Err(KindError::Prerequisite(format!(
            "the kind node image {image} is not in the Docker engine at DOCKER_HOST={} ({}); \
             `cargo xtask kind-node-image` builds it offline (nothing is pulled)",
            std::env::var("DOCKER_HOST").unwrap_or_default(),
            atrest_backend::error_chain(&e)
        ))),
    }
}

/// Copies the apiserver's etcd client certificate, its key and etcd's CA out of the node
/// (0600), for raw reads through the published port.
async fn copy_etcd_client(node: &str, dir: &Path) -> Result<ConnectSettings, KindError> {
    let files = [
        ("ca.crt", "/etc/kubernetes/pki/etcd/ca.crt"),
        ("client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.crt"),
        ("client.key", "/etc/kubernetes/pki/apiserver-etcd-client.key"),
    ];
    let target = dir.join("etcd-client");
    for (name, path) in files {
        let text = node::exec(node, &format!("cat {path}")).await?;
        write_private(&target.join(name), text.as_bytes())?;
    }
    Ok(ConnectSettings::new().with_tls(EtcdTlsFiles {
        ca_file: Some(target.join("ca.crt")),
        cert_file: Some(target.join("client.crt")),
        key_file: Some(target.join("client.key")),
    }))
}

/// Moves the apiserver's manifest out of the kubelet's directory (if it is there) and waits
/// until no apiserver container runs and its pod's sandbox is stopped too: until then the
/// kubelet may still start a container of the old pod (a crash-looping one's next attempt),
/// which the next start would take for its own.
async fn park(node: &str, timeout: Duration) -> Result<(), KindError> {
    let started = Instant::now();
    node::exec(node, &format!("if [ -e {MANIFEST} ]; then mv {MANIFEST} {PARKED}; fi")).await?;
    let deadline = deadline_after(Instant::now(), timeout);
    // Any task not stopped (running, created, paused) may still serve or start.
    let live = |list: Vec<node::Container>, what: &str| {
        list.into_iter().find(|c| c.status.as_deref().is_some_and(|s| s != "STOPPED")).map(|c| {
            format!("{what} {} is {}", short(&c.id), c.status.as_deref().unwrap_or_default())
        })
    };
    wait_until(deadline, POLL, || async {
        let containers = match node::apiserver_containers(node).await {
            Ok(list) => list,
            Err(e) => return ControlFlow::Break(Err(e)),
        };
        if let Some(seen) = live(containers, "container") {
            return ControlFlow::Continue(seen);
        }
        match node::apiserver_sandboxes(node).await {
            Ok(list) => {
                tracing::debug!(sandboxes = list.len(), "the apiserver's pod sandboxes");
                match live(list, "the pod's sandbox") {
                    None => ControlFlow::Break(Ok(())),
                    Some(seen) => ControlFlow::Continue(seen),
                }
            }
            Err(e) => ControlFlow::Break(Err(e)),
        }
    })
    .await
    .map_err(|t| KindError::Timeout {
        what: "the kubelet to stop the apiserver".to_owned(),
        waited: t.waited,
        last: t.last.unwrap_or_default(),
    })??;
    tracing::info!(took = ?started.elapsed(), "the kubelet stopped the apiserver");
    Ok(())
}

/// A cluster being created: deleted (after its logs are exported) unless launch succeeds.
struct Partial {
    name: String,
    kind: PathBuf,
    /// Cleared once the cluster is handed over, or deleted by [`Partial::fail`].
    armed: bool,
}

impl Partial {
    async fn fail(mut self, dir: &mut InstanceDir, e: KindError) -> KindError {
        export_logs(&self.kind, &self.name, dir.path()).await;
        let kept = dir.keep().to_owned();
        if node::output(&self.kind, &["delete", "cluster", "--name", &self.name], None)
            .await
            .is_ok()
        {
            self.armed = false;
        }
        KindError::LaunchFailed { source: Box::new(e), kept }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            delete_blocking(&self.kind, &self.name);
        }
    }
}

/// `kind delete cluster` from a destructor (no runtime to await on).
fn delete_blocking(kind: &Path, name: &str) {
    let status = std::process::Command::new(kind)
        .args(["delete", "cluster", "--name", name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        tracing::warn!(cluster = name, "cannot delete the kind cluster; the next launch sweeps it");
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if !self.deleted {
            delete_blocking(&self.kind, &self.name);
        }
    }
}

impl Cluster for KindCluster {
    fn backend_name(&self) -> &'static str {
        "kind"
    }

    fn apiserver_count(&self) -> usize {
        1
    }

    fn file_root(&self) -> Option<String> {
        Some(self.fs_root.to_string_lossy().into_owned())
    }

    fn controls(&self) -> Controls {
        CONTROLS
    }

    fn storage_namespace(&self, namespace: &str) -> String {
        self.api.storage_namespace(namespace)
    }

    async fn write_file(&mut self, path: &str, contents: &[u8]) -> Result<(), BackendError> {
        if let Some(k) = config::kubeadm_volume(path) {
            return Err(KindError::Unsupported(format!(
                "write {path}: the apiserver's {k} is kubeadm's volume of the node's own \
                 directory (certificates), which the scenario's files never reach"
            ))
            .into());
        }
        atrest_process::write_tree_file(&self.fs_root, path, contents)
    }

    async fn remove_file(&mut self, path: &str) -> Result<(), BackendError> {
        atrest_process::remove_tree_file(&self.fs_root, path)
    }

    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError> {
        Self::check_index(i)?;
        // Refused now, not at the next start.
        config::volumes(&spec)?;
        self.spec = spec;
        Ok(())
    }

    async fn start_apiserver(
        &mut self,
        i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        Self::check_index(i)?;
        if self.running {
            return Err(BackendError::MemberState {
                member: atrest_backend::Member::ApiServer(0),
                problem: "already running",
            });
        }
        Ok(self.start().await?)
    }

    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        Self::check_index(i)?;
        Ok(self.stop().await?)
    }

    fn is_running(&self, i: usize) -> bool {
        i == 0 && self.running
    }

    async fn delete_mirror_pod(&mut self, i: usize) -> Result<MirrorPodDeletion, BackendError> {
        Self::check_index(i)?;
        if !self.running {
            return Err(BackendError::MemberState {
                member: atrest_backend::Member::ApiServer(0),
                problem: "not running",
            });
        }
        Ok(self.recreate_mirror_pod().await?)
    }

    async fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        Self::check_index(i)?;
        self.api.create(0, object).await
    }

    async fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        Self::check_index(i)?;
        self.api.update(0, object).await
    }

    async fn get(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        Self::check_index(i)?;
        self.api.get(0, id).await
    }

    async fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        Self::check_index(i)?;
        self.api.list(0, kind, namespace).await
    }

    async fn delete(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        Self::check_index(i)?;
        self.api.delete(0, id).await
    }

    async fn metrics(&mut self, i: usize) -> Result<ApiResult<String>, BackendError> {
        Self::check_index(i)?;
        self.api.metrics(0).await
    }

    async fn probe(&mut self, i: usize, path: &str) -> Result<(u16, String), BackendError> {
        Self::check_index(i)?;
        self.api.probe(0, path).await
    }

    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        self.api.raw_get(key).await
    }

    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        self.api.raw_list(prefix).await
    }

    fn log_dir(&self) -> Option<PathBuf> {
        Some(self.dir.path().to_owned())
    }

    fn keep_logs(&mut self) {
        self.dir.keep();
    }

    async fn shutdown(mut self) -> Result<(), BackendError> {
        // A failed run's directory is kept (and named by the caller): kind's logs go into it.
        if self.dir.is_kept() {
            export_logs(&self.kind, &self.name, self.dir.path()).await;
        }
        Ok(self.delete().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner_of("atrest-123-456-0").as_deref(), Some("123 456"));
        assert_eq!(owner_of("atrest-123-456"), None);
        assert_eq!(owner_of("atrest-123-456-0-x"), None);
        assert_eq!(owner_of("kind"), None);
        assert_eq!(owner_of("atrest-verify"), None);
    }

    #[test]
    fn pod_status_is_a_uid_and_a_container_id() {
        assert_eq!(parse_pod_status(""), None);
        assert_eq!(parse_pod_status("u-1 "), Some(("u-1".to_owned(), None)));
        assert_eq!(
            parse_pod_status("u-1 containerd://abc\n"),
            Some(("u-1".to_owned(), Some("abc".to_owned())))
        );
    }

    #[test]
    fn tree_paths_never_leave_the_tree() {
        let root = Path::new("/r/fs");
        assert_eq!(in_tree(root, "/etc/a").expect("inside"), Path::new("/r/fs/etc/a"));
        assert!(in_tree(root, "/../../home/x").is_err());
        assert!(in_tree(root, "etc/a").is_err());
    }

    #[test]
    fn this_process_owns_its_names() {
        let owner = owner_value().expect("this process's start time");
        let name = format!("{NAME_PREFIX}{}-0", owner.replace(' ', "-"));
        assert!(owner_alive(&owner_of(&name).expect("parses")));
    }
}
