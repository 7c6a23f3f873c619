//! A member's container, driven through testcontainers-rs: [`ContainerMember::start`] creates
//! and starts it from a [`ContainerRun`] (testcontainers' `GenericImage` with the explicit
//! entrypoint, host networking, the project's labels and the bind mounts), then a watcher task
//! copies its stdout and stderr into the member's log files and records its exit code, so that
//! [`ManagedProcess`](crate::ManagedProcess) reads a container's end exactly as a process's.
//!
//! The calls testcontainers does not wrap (wait, kill with a given signal, inspect, the log
//! stream) go through its re-exported `bollard`, on the same engine (`DOCKER_HOST`, else the
//! default socket).
//!
//! Three things testcontainers would do on its own are done here instead:
//! - **No pull, ever.** Its runner pulls when the engine answers 404 for the image; the image is
//!   looked up first and a missing one is a [`SpawnError::Image`].
//! - **Removal from `Drop` without a runtime.** Its `Drop` needs the caller's tokio runtime, which
//!   a member's handle may outlive (a test's runtime ends before its cluster value is dropped);
//!   the handle's removal runs on a thread of its own with a client of its own, and the
//!   testcontainers value is then released without its drop ([`ContainerMember::release`]).
//! - **Removal errors.** Its `rm` leaves the handle to its drop when the engine fails, which
//!   tries again and logs an error of its own; removal goes through `bollard` here too.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use testcontainers::bollard::Docker;
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::errors::Error as DockerError;
use testcontainers::bollard::query_parameters::{
    KillContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptions,
};
use testcontainers::core::{AccessMode, Mount};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt as _};

use super::{ContainerRun, OWNER_LABEL, PROJECT_LABEL, owner_value};
use crate::process::{ExitState, SpawnError};

/// The exit code Docker's own client gives when it loses its engine ("error waiting for
/// container"); a watcher whose engine stopped answering reports the same, and
/// `atrest_containers::explain_exit` then tells an engine that died from a member that exited.
const ENGINE_GONE_CODE: i32 = 125;

/// A started container and the client that watches it.
pub(crate) struct ContainerMember {
    /// The container's name (`atrest-<pid>-<n>-<member>`).
    pub(crate) name: String,
    /// Its full id.
    pub(crate) id: String,
    /// The host pid of its main process (the member's binary), fixed for its lifetime.
    pub(crate) main_pid: u32,
    /// The testcontainers handle; `None` once removed.
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
}

impl std::fmt::Debug for ContainerMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerMember")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("main_pid", &self.main_pid)
            .finish_non_exhaustive()
    }
}

/// A client of the engine `DOCKER_HOST` names (testcontainers' rule too), else the default
/// socket.
fn client() -> Result<Docker, DockerError> {
    Docker::connect_with_defaults()
}

/// `registry.k8s.io/etcd:3.6.16-0` as testcontainers' name and tag. A reference by digest
/// (`name@sha256:…`) cannot be written as `name:tag`, so it is run by the image id the engine
/// holds for it (`sha256:<hex>` reads as name `sha256`, tag `<hex>`).
fn name_and_tag(reference: &str, id: &str) -> (String, String) {
    if reference.contains('@') {
        return match id.split_once(':') {
            Some((algo, hex)) => (algo.to_owned(), hex.to_owned()),
            None => (reference.to_owned(), "latest".to_owned()),
        };
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => {
            let at = slash + colon;
            (reference[..at].to_owned(), reference[at + 1..].to_owned())
        }
        None => (reference.to_owned(), "latest".to_owned()),
    }
}

/// What testcontainers creates for `run`: the image by `image_name`/`tag`, the binary as
/// entrypoint with `args`, host networking, container `name`, the project's labels and the bind
/// mounts.
fn request(
    run: &ContainerRun,
    name: &str,
    image_name: String,
    tag: String,
    args: &[OsString],
) -> ContainerRequest<GenericImage> {
    let mut request = GenericImage::new(image_name, tag)
        .with_entrypoint(&run.entrypoint)
        .with_cmd(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .with_network("host")
        .with_container_name(name)
        .with_label(PROJECT_LABEL, "1");
    if let Some(owner) = owner_value() {
        request = request.with_label(OWNER_LABEL, owner);
    }
    for m in &run.mounts {
        let mode = if m.read_only { AccessMode::ReadOnly } else { AccessMode::ReadWrite };
        request = request.with_mount(
            Mount::bind_mount(m.host.to_string_lossy(), m.container.to_string_lossy())
                .with_access_mode(mode),
        );
    }
    request
}

impl ContainerMember {
    /// Creates and starts container `name` running `run` with `args`, its stdout and stderr
    /// appended to `stdout`/`stderr`; `state` gets its exit status once it ended and its logs
    /// were copied.
    pub(crate) async fn start(
        run: &ContainerRun,
        name: &str,
        args: &[OsString],
        stdout: File,
        stderr: File,
        state: Arc<ExitState>,
    ) -> Result<ContainerMember, SpawnError> {
        let engine = |source: DockerError| SpawnError::Container {
            name: name.to_owned(),
            detail: source.to_string(),
        };
        let docker = client().map_err(engine)?;
        let image = match docker.inspect_image(&run.image).await {
            Ok(image) => image,
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(SpawnError::Image { image: run.image.clone() });
            }
            Err(e) => return Err(engine(e)),
        };
        let (image_name, tag) = name_and_tag(&run.image, image.id.as_deref().unwrap_or_default());
        let request = request(run, name, image_name, tag, args);
        let container = match request.start().await {
            Ok(container) => container,
            Err(e) => {
                // A container created but not started (a mount the engine refuses) is removed
                // here: nothing else knows it exists.
                remove(&docker, name).await;
                return Err(SpawnError::Container { name: name.to_owned(), detail: e.to_string() });
            }
        };
        let id = container.id().to_owned();
        let main_pid = docker
            .inspect_container(&id, None)
            .await
            .ok()
            .and_then(|c| c.state?.pid)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0);
        tokio::spawn(watch(docker.clone(), id.clone(), stdout, stderr, state));
        Ok(ContainerMember {
            name: name.to_owned(),
            id,
            main_pid,
            container: Some(container),
            docker,
        })
    }

    /// Sends `signal` (`SIGTERM`, `SIGKILL`, …) to the container's main process.
    pub(crate) async fn kill(&self, signal: &str) -> io::Result<()> {
        let options = KillContainerOptionsBuilder::default().signal(signal).build();
        self.docker.kill_container(&self.id, Some(options)).await.map_err(io::Error::other)
    }

    /// Freezes the container (the cgroup freezer, `docker pause`) or thaws it.
    pub(crate) async fn pause(&self, pause: bool) -> io::Result<()> {
        let Some(container) = &self.container else {
            return Err(io::Error::other(format!("container {} was removed", self.name)));
        };
        let done = if pause { container.pause().await } else { container.unpause().await };
        done.map_err(io::Error::other)
    }

    /// Removes the container (forcibly, so a running one is killed first). Not through
    /// testcontainers' `rm`: when that fails (a dead engine) its handle's drop tries again and
    /// logs an error of its own, which would tell the user about the wrong thing.
    pub(crate) async fn remove(&mut self) {
        if self.container.is_some() {
            remove(&self.docker, &self.id).await;
            self.release();
        }
    }

    /// From `Drop`: thaws the container if `paused`, stops it if it runs (SIGTERM, then
    /// SIGKILL after `stop_timeout`)
    /// and removes it, on a thread with a runtime and a client of its own; then releases the
    /// testcontainers handle without running its drop, which needs the caller's runtime.
    pub(crate) fn stop_blocking(&mut self, running: bool, paused: bool, stop_timeout: Duration) {
        let id = self.id.clone();
        let name = self.name.clone();
        let work = move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => return tracing::warn!(%name, %e, "cannot stop the container"),
            };
            runtime.block_on(async {
                let Ok(docker) = client() else { return };
                // A frozen container can neither obey nor be sent a signal.
                if paused && let Err(e) = docker.unpause_container(&id).await {
                    tracing::debug!(%name, %e, "cannot thaw the container before stopping it");
                }
                if running {
                    let term = KillContainerOptionsBuilder::default().signal("SIGTERM").build();
                    if docker.kill_container(&id, Some(term)).await.is_ok() {
                        let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
                        if tokio::time::timeout(stop_timeout, wait.next()).await.is_err() {
                            tracing::warn!(%name, "did not stop after SIGTERM, killing");
                        }
                    }
                }
                remove(&docker, &id).await;
            });
        };
        if std::thread::Builder::new()
            .name("atrest-container-stop".into())
            .spawn(work)
            .map(std::thread::JoinHandle::join)
            .is_err()
        {
            tracing::warn!(name = %self.name, "cannot stop the container: no thread");
        }
        self.release();
    }

    /// Lets go of the testcontainers handle without its `Drop` (whose removal needs the
    /// caller's runtime and logs its own errors); the container itself is removed by the
    /// caller.
    fn release(&mut self) {
        if let Some(container) = self.container.take() {
            std::mem::forget(container);
        }
    }
}

/// Removes container `id` (or name), running or not; an absent one is fine.
async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => tracing::debug!(%id, %e, "cannot remove the container"),
    }
}

/// Copies the container's output into the log files until it ended, then records its exit:
/// the logs are complete by the time an exit is seen, so a start failure's text is there.
async fn watch(docker: Docker, id: String, stdout: File, stderr: File, state: Arc<ExitState>) {
    let options = LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).build();
    let mut logs = docker.logs(&id, Some(options));
    let (mut out, mut err) = (stdout, stderr);
    let mut lost = None;
    while let Some(frame) = logs.next().await {
        let written = match frame {
            Ok(LogOutput::StdErr { message }) => err.write_all(&message),
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                out.write_all(&message)
            }
            Ok(LogOutput::StdIn { .. }) => Ok(()),
            Err(e) => {
                lost = Some(e.to_string());
                break;
            }
        };
        if let Err(e) = written {
            tracing::warn!(%id, %e, "cannot write a container log");
        }
    }
    let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
    let code = match wait.next().await {
        Some(Ok(r)) => i32::try_from(r.status_code).unwrap_or(ENGINE_GONE_CODE),
        // bollard reports a non-zero exit as this error.
        Some(Err(DockerError::DockerContainerWaitError { code, .. })) => {
            i32::try_from(code).unwrap_or(ENGINE_GONE_CODE)
        }
        Some(Err(e)) => {
            tracing::warn!(%id, %e, ?lost, "lost the container's engine");
            ENGINE_GONE_CODE
        }
        None => ENGINE_GONE_CODE,
    };
    state.set(ExitStatus::from_raw((code & 0xff) << 8));
}

#[cfg(test)]
mod tests {
    use super::{AccessMode, ContainerRun, name_and_tag, request};
    use crate::container::BindMount;

    #[test]
    fn requests_carry_the_binary_labels_mounts_and_host_network() {
        let mut run = ContainerRun::new("img:1", "/usr/local/bin/x");
        run.mount(BindMount::read_only("/h/enc", "/etc/kubernetes/enc"));
        run.mount(BindMount::read_only("/h/enc", "/etc/kubernetes/enc"));
        run.mount(BindMount { read_only: false, ..BindMount::same_path("/h/data") });
        let req = request(&run, "n", "img".into(), "1".into(), &["--x=1".into()]);
        assert_eq!(req.descriptor(), "img:1");
        assert_eq!(req.entrypoint(), Some("/usr/local/bin/x"));
        assert_eq!(req.cmd().collect::<Vec<_>>(), ["--x=1"]);
        assert_eq!(req.network().as_deref(), Some("host"));
        assert_eq!(req.container_name().as_deref(), Some("n"));
        assert_eq!(req.labels().get("io.atrest.project").map(String::as_str), Some("1"));
        assert!(req.labels().contains_key("io.atrest.owner"));
        let mounts: Vec<_> = req
            .mounts()
            .map(|m| {
                (m.source().map(str::to_owned), m.target().map(str::to_owned), m.access_mode())
            })
            .collect();
        assert_eq!(
            mounts,
            [
                (Some("/h/enc".into()), Some("/etc/kubernetes/enc".into()), AccessMode::ReadOnly),
                (Some("/h/data".into()), Some("/h/data".into()), AccessMode::ReadWrite),
            ]
        );
    }

    #[test]
    fn references_split_into_name_and_tag() {
        let split = |r: &str| name_and_tag(r, "sha256:abc");
        assert_eq!(
            split("registry.k8s.io/etcd:3.6.16-0"),
            ("registry.k8s.io/etcd".into(), "3.6.16-0".into())
        );
        assert_eq!(split("localhost:5000/etcd"), ("localhost:5000/etcd".into(), "latest".into()));
        assert_eq!(split("localhost:5000/etcd:v1"), ("localhost:5000/etcd".into(), "v1".into()));
        assert_eq!(split("etcd"), ("etcd".into(), "latest".into()));
        assert_eq!(split("registry.k8s.io/etcd@sha256:0123"), ("sha256".into(), "abc".into()));
    }
}
