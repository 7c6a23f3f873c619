//! Running a member in a container instead of as a host process, through testcontainers-rs
//! ([`member`]): [`ContainerRun`] says which image, binary and mounts; everything
//! [`ManagedProcess`](crate::ManagedProcess) does (logs to files, exit status, SIGTERM then SIGKILL,
//! pause) applies to the container:
//!
//! - the entrypoint is given explicitly (`/usr/local/bin/etcd`, `/usr/local/bin/kube-apiserver`),
//!   as kubeadm's static pods give `command:`, so a published image (whose own entrypoint may be
//!   a wrapper or absent) and the image `cargo xtask setup` builds run the same binary;
//! - the container's stdout and stderr are copied into the member's log files, and its exit code
//!   is the member's (a SIGKILLed binary reads as 137, as Docker reports it);
//! - signals go through the engine (`kill` with the signal), freezing through its cgroup freezer
//!   (`pause`);
//! - a container is removed once its member stopped, exited or was dropped;
//! - when the engine dies (its containerd with it, while the shims and the containers' processes
//!   keep running) the handle still finds and kills what is left, by the container's id and
//!   cgroups ([`kill_leftovers`]);
//! - host networking: members listen on 127.0.0.1 ports of the host;
//! - every container carries `io.atrest.project=1` and `io.atrest.owner=<pid> <start time>`,
//!   as xtask's containers do, so that leftovers of a killed run can be swept by owner;
//! - nothing is ever pulled: a missing image is an error before anything is created.

pub(crate) mod member;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The label every container of the project carries.
pub const PROJECT_LABEL: &str = "io.atrest.project";
/// The label naming the creating process: `<pid> <start time>` (field 22 of `/proc/<pid>/stat`).
pub const OWNER_LABEL: &str = "io.atrest.owner";

/// One bind mount: a host directory at a path in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host directory.
    pub host: PathBuf,
    /// Where the container sees it.
    pub container: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

impl BindMount {
    /// A read-only mount of `host` at `container`.
    pub fn read_only(host: impl Into<PathBuf>, container: impl Into<PathBuf>) -> BindMount {
        BindMount { host: host.into(), container: container.into(), read_only: true }
    }

    /// A read-only mount of `dir` at the same path.
    pub fn same_path(dir: impl Into<PathBuf>) -> BindMount {
        let dir = dir.into();
        BindMount { host: dir.clone(), container: dir, read_only: true }
    }
}

/// Where etcd's binary is in upstream's image (`registry.k8s.io/etcd`) and in ours.
pub const ETCD_ENTRYPOINT: &str = "/usr/local/bin/etcd";
/// Where kube-apiserver's binary is in upstream's image (`registry.k8s.io/kube-apiserver`) and
/// in ours.
pub const KUBE_APISERVER_ENTRYPOINT: &str = "/usr/local/bin/kube-apiserver";

/// How to run a member in a container: the image, the binary, the mounts.
#[derive(Debug, Clone)]
pub struct ContainerRun {
    /// The `docker` client that asks whether the engine still answers when a member ended
    /// (`atrest_containers::explain_exit`); containers are run through the engine's API.
    pub docker: PathBuf,
    /// The image (`registry.k8s.io/etcd:3.6.16-0`).
    pub image: String,
    /// The binary in the image, run as `--entrypoint` whatever the image's own entrypoint is.
    pub entrypoint: String,
    /// Bind mounts.
    pub mounts: Vec<BindMount>,
}

impl ContainerRun {
    /// A run of `entrypoint` in `image`, without mounts (`docker` on `PATH` as the client).
    pub fn new(image: impl Into<String>, entrypoint: impl Into<String>) -> ContainerRun {
        ContainerRun {
            docker: PathBuf::from("docker"),
            image: image.into(),
            entrypoint: entrypoint.into(),
            mounts: Vec::new(),
        }
    }

    /// Adds a mount unless an equal one is there.
    pub fn mount(&mut self, mount: BindMount) {
        if !self.mounts.contains(&mount) {
            self.mounts.push(mount);
        }
    }
}

/// Kills the processes of container `id` that its engine no longer manages: every process in
/// a cgroup of the container, then its `containerd-shim` (`-id <id>`). When dockerd dies, its
/// containerd dies with it, but the shims and the containers' processes keep running (reparented
/// to init) and `docker rm -f` cannot reach them. Returns the pids signalled; nothing is
/// signalled while the engine still runs the container, since its processes then end with the
/// container and are gone by the time the attached client has exited.
pub fn kill_leftovers(id: &str) -> Vec<u32> {
    // A full id only: a prefix could match another container's cgroup.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Vec::new();
    }
    let Ok(proc_dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let pids: Vec<u32> =
        proc_dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    let in_container = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|c| c.lines().any(|l| l.rsplit(':').next().is_some_and(|p| p.contains(id))))
    };
    let is_shim = |pid: u32| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|&b| b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"))
                && args.windows(2).any(|w| w[0] == b"-id" && w[1] == id.as_bytes())
        })
    };
    // A zombie has ended already; signalling it again would only repeat the report.
    let running = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    };
    let mut killed = Vec::new();
    // The container's processes first, so the shim cannot restart or wait on them.
    for pass in [&in_container as &dyn Fn(u32) -> bool, &is_shim] {
        for &pid in &pids {
            if pid != std::process::id() && pass(pid) && running(pid) && sigkill_and_reap(pid) {
                killed.push(pid);
            }
        }
    }
    killed
}

/// How long a SIGKILLed leftover may take to end (a large etcd unmaps its memory first).
const LEFTOVER_EXIT_TIMEOUT: rustix::time::Timespec =
    rustix::time::Timespec { tv_sec: 10, tv_nsec: 0 };

/// SIGKILL through a pidfd (no race with a reused pid), then waits until the process has ended:
/// the pidfd becomes readable at its exit, so the wait is the kernel's, not a timer's. Without
/// the wait, a caller that returns at once could leave the process running for a moment.
fn sigkill_and_reap(pid: u32) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else { return false };
    let Ok(pidfd) = pidfd_open(pid, PidfdFlags::empty()) else { return false };
    if pidfd_send_signal(&pidfd, Signal::KILL).is_err() {
        return false;
    }
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    match poll(&mut fds, Some(&LEFTOVER_EXIT_TIMEOUT)) {
        Ok(1..) => {}
        Ok(0) => tracing::warn!(
            pid = pid.as_raw_nonzero().get(),
            "a killed leftover has not ended after 10 s"
        ),
        Err(e) => {
            tracing::warn!(pid = pid.as_raw_nonzero().get(), %e, "waiting for a killed leftover")
        }
    }
    true
}

/// A container name unique to this process and call: `atrest-<pid>-<n>-<member>`.
pub fn container_name(member: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("atrest-{}-{n}-{member}", std::process::id())
}

/// The [`OWNER_LABEL`] value for this process, `None` if `/proc` cannot say.
pub fn owner_value() -> Option<String> {
    let pid = std::process::id();
    Some(format!("{pid} {}", start_time(pid)?))
}

/// Whether the owner named by an [`OWNER_LABEL`] value still runs. A value that cannot be
/// parsed counts as alive: never remove what is not understood.
pub fn owner_alive(owner: &str) -> bool {
    let mut fields = owner.split_whitespace();
    let (Some(pid), Some(start)) = (fields.next(), fields.next()) else { return true };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return true };
    start_time(pid) == Some(start)
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, or `None` when the process does not exist.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The directories holding `files`, each once, as same-path read-only mounts.
pub fn parent_dirs<'a>(files: impl IntoIterator<Item = &'a Path>) -> Vec<BindMount> {
    let mut out: Vec<BindMount> = Vec::new();
    for f in files {
        if let Some(parent) = f.parent() {
            let m = BindMount::same_path(parent);
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_need_a_full_container_id() {
        // A short or foreign id would match unrelated cgroups (or every one): nothing is killed.
        assert_eq!(kill_leftovers(""), Vec::<u32>::new());
        assert_eq!(kill_leftovers("docker"), Vec::<u32>::new());
        assert_eq!(kill_leftovers(&"0".repeat(64)), Vec::<u32>::new());
    }

    #[test]
    fn owners_alive_and_dead() {
        assert!(owner_alive(&owner_value().unwrap_or_default()));
        assert!(!owner_alive("999999999 5"));
        assert!(owner_alive("garbage"));
    }
}
