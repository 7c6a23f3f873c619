//! Child processes that cannot outlive the harness.
//!
//! Each child runs in its own process group (so a terminal's Ctrl-C reaches the harness, not the
//! child, and the harness decides how to stop it), writes stdout and stderr to files in an
//! instance directory, and is stopped with SIGTERM to the group, then SIGKILL after a deadline,
//! on [`ManagedProcess::shutdown`] and on drop. PR_SET_PDEATHSIG kills it when the harness dies.
//!
//! Lessons from controller-runtime envtest (`pkg/internal/testing/process/process.go`) and its
//! bug reports: children in their own group outlive an interrupted `go test` (cluster-api#4278),
//! so the group is killed explicitly, and the death signal covers the harness being SIGKILLed.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::Duration;

use atrest_backend::ExitHow;

use crate::container::member::ContainerMember;
use crate::container::{ContainerRun, container_name};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::sync::watch;

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Short name, used for log file names and errors (`etcd`, `kube-apiserver-0`).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Working directory; the log directory when `None`.
    pub cwd: Option<PathBuf>,
    /// How long SIGTERM may take before SIGKILL.
    pub stop_timeout: Duration,
    /// Run `args` in this container (its [`ContainerRun::entrypoint`] replaces `program`)
    /// instead of as a host process.
    pub container: Option<ContainerRun>,
}

impl ProcessSpec {
    /// A spec with no arguments, the log directory as working directory and a 10 s stop timeout.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            stop_timeout: Duration::from_secs(10),
            container: None,
        }
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> ProcessSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// Starting a child failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A log file could not be created.
    #[error("cannot create log file {}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The executable could not be started.
    #[error("cannot start {}", program.display())]
    Exec {
        /// The executable.
        program: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The image of a container member is not in the engine (nothing is ever pulled).
    #[error("image {image} is not in the Docker engine (images are never pulled)")]
    Image {
        /// The image.
        image: String,
    },
    /// The engine did not create or start a member's container.
    #[error("cannot start container {name}: {detail}")]
    Container {
        /// The container's name.
        name: String,
        /// What the engine said.
        detail: String,
    },
    /// A container member must be started with [`ManagedProcess::start`].
    #[error("{name} runs in a container: start it with ManagedProcess::start")]
    NeedsStart {
        /// The process name.
        name: String,
    },
    /// The thread that owns the child could not be created.
    #[error("cannot create the waiter thread for {name}")]
    Thread {
        /// The process name.
        name: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// How a child ended, as the harness saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit status.
    pub status: ExitStatus,
    /// Whether the harness had asked it to stop (SIGTERM or SIGKILL sent by us).
    pub requested: bool,
}

impl Exit {
    /// The exit code, if it exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The terminating signal, if a signal ended it.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// How it ended, with the signal's name (`SIGKILL`).
    pub fn how(&self) -> ExitHow {
        match (self.code(), self.signal()) {
            (Some(code), _) => ExitHow::Code(code),
            (None, Some(number)) => ExitHow::Signal {
                number,
                name: Signal::try_from(number).map_or("an unknown signal", Signal::as_str),
            },
            (None, None) => ExitHow::Unknown,
        }
    }
}

/// Shared between the waiter (a thread for a process, a task for a container) and the handle.
#[derive(Debug)]
pub(crate) struct ExitState {
    status: Mutex<Option<ExitStatus>>,
    cond: Condvar,
    watch: watch::Sender<Option<ExitStatus>>,
}

impl ExitState {
    fn new() -> Arc<ExitState> {
        let (watch, _) = watch::channel(None);
        Arc::new(ExitState { status: Mutex::new(None), cond: Condvar::new(), watch })
    }

    fn get(&self) -> Option<ExitStatus> {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set(&self, status: ExitStatus) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
        self.cond.notify_all();
        self.watch.send_replace(Some(status));
    }

    /// Blocks until the child exited or `timeout` passed (used by `Drop`, which cannot await).
    fn wait_blocking(&self, timeout: Duration) -> Option<ExitStatus> {
        let guard = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .cond
            .wait_timeout_while(guard, timeout, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// A running (or exited) child in its own process group. Dropping it stops it.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    pid: u32,
    stdout_log: PathBuf,
    stderr_log: PathBuf,
    stop_timeout: Duration,
    state: Arc<ExitState>,
    stop_requested: bool,
    /// Frozen by [`ManagedProcess::pause`] (SIGSTOP, or the container's cgroup freezer).
    paused: bool,
    /// For a container member, its container (`pid` is then its main process's host pid).
    container: Option<ContainerMember>,
}

impl ManagedProcess {
    /// Starts `spec`, a host process or a container, with stdout and stderr going to
    /// `<log_dir>/<name>.stdout.log` and `<name>.stderr.log`.
    pub async fn start(spec: &ProcessSpec, log_dir: &Path) -> Result<ManagedProcess, SpawnError> {
        let Some(run) = &spec.container else { return ManagedProcess::spawn(spec, log_dir) };
        let (stdout_log, stdout, stderr_log, stderr) = open_logs(spec, log_dir)?;
        let state = ExitState::new();
        let name = container_name(&spec.name);
        let member =
            ContainerMember::start(run, &name, &spec.args, stdout, stderr, Arc::clone(&state))
                .await?;
        tracing::debug!(name = %spec.name, container = %member.name, pid = member.main_pid, "started");
        Ok(ManagedProcess::started(
            spec,
            member.main_pid,
            (stdout_log, stderr_log),
            state,
            Some(member),
        ))
    }

    /// The handle of a child just started.
    fn started(
        spec: &ProcessSpec,
        pid: u32,
        (stdout_log, stderr_log): (PathBuf, PathBuf),
        state: Arc<ExitState>,
        container: Option<ContainerMember>,
    ) -> ManagedProcess {
        ManagedProcess {
            name: spec.name.clone(),
            pid,
            stdout_log,
            stderr_log,
            stop_timeout: spec.stop_timeout,
            state,
            stop_requested: false,
            paused: false,
            container,
        }
    }

    /// Starts `spec`, a host process, with stdout and stderr going to
    /// `<log_dir>/<name>.stdout.log` and `<name>.stderr.log` (a container member needs
    /// [`ManagedProcess::start`]).
    ///
    /// The child is spawned by a dedicated thread that then waits for it: PR_SET_PDEATHSIG fires
    /// when the *thread* that forked the child ends, so the forking thread must live exactly as
    /// long as the child, whatever the caller's threads (tokio's blocking pool retires idle
    /// threads) do.
    pub fn spawn(spec: &ProcessSpec, log_dir: &Path) -> Result<ManagedProcess, SpawnError> {
        if spec.container.is_some() {
            return Err(SpawnError::NeedsStart { name: spec.name.clone() });
        }
        let (stdout_log, stdout, stderr_log, stderr) = open_logs(spec, log_dir)?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args);
        cmd.current_dir(spec.cwd.as_deref().unwrap_or(log_dir))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        set_parent_death_signal(&mut cmd);

        let state = ExitState::new();
        let (started_tx, started_rx) = mpsc::channel::<io::Result<u32>>();
        let thread_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name(format!("atrest-proc-{}", spec.name))
            .spawn(move || {
                let mut child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        // The receiver only goes away if the spawning caller panicked.
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(child.id()));
                match child.wait() {
                    Ok(status) => thread_state.set(status),
                    // `wait` only fails if the child was already reaped, which nothing else does;
                    // report it as killed so that waiters do not hang.
                    Err(_) => thread_state.set(ExitStatus::from_raw(sigkill_wait_status())),
                }
            })
            .map_err(|source| SpawnError::Thread { name: spec.name.clone(), source })?;
        let pid = match started_rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(source)) => {
                return Err(SpawnError::Exec { program: spec.program.clone(), source });
            }
            Err(_) => {
                return Err(SpawnError::Thread {
                    name: spec.name.clone(),
                    source: io::Error::other("waiter thread ended before spawning"),
                });
            }
        };
        tracing::debug!(name = %spec.name, pid, "started");
        Ok(ManagedProcess::started(spec, pid, (stdout_log, stderr_log), state, None))
    }

    /// The name given in the spec.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's pid (also its process group id); for a container, its main process's (0 when
    /// the container had ended before the engine was asked, see
    /// [`ManagedProcess::member_pid`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The pid of the member's binary on the host: the child's, or for a container the
    /// container's main process.
    pub fn member_pid(&self) -> io::Result<u32> {
        match &self.container {
            Some(c) if c.main_pid == 0 => {
                Err(io::Error::other(format!("the engine gave no pid for container {}", c.name)))
            }
            _ => Ok(self.pid),
        }
    }

    /// Where stdout goes.
    pub fn stdout_log(&self) -> &Path {
        &self.stdout_log
    }

    /// Where stderr goes (klog writes here).
    pub fn stderr_log(&self) -> &Path {
        &self.stderr_log
    }

    /// The exit, if the child has exited; never blocks.
    pub fn exit(&self) -> Option<Exit> {
        self.state.get().map(|status| Exit { status, requested: self.stop_requested })
    }

    /// Waits until the child exits, however long that takes.
    pub async fn exited(&self) -> Exit {
        let mut rx = self.state.watch.subscribe();
        let status = match rx.wait_for(Option::is_some).await {
            Ok(status) => *status,
            // The sender lives in `self.state`, which we hold: it cannot be dropped.
            Err(_) => self.state.get(),
        };
        Exit {
            status: status.unwrap_or_else(|| ExitStatus::from_raw(sigkill_wait_status())),
            requested: self.stop_requested,
        }
    }

    /// Stops the child: SIGTERM to its group, SIGKILL once the stop timeout has passed.
    /// Returns how it ended (at once if it had already exited).
    pub async fn shutdown(mut self) -> Exit {
        self.stop().await
    }

    /// [`ManagedProcess::shutdown`] without giving up the handle (for restarts).
    pub async fn stop(&mut self) -> Exit {
        if let Some(exit) = self.exit() {
            self.remove_container().await;
            return exit;
        }
        self.unfreeze().await;
        self.stop_requested = true;
        self.signal(Signal::SIGTERM).await;
        if let Ok(exit) = tokio::time::timeout(self.stop_timeout, self.exited()).await {
            self.remove_container().await;
            return exit;
        }
        tracing::warn!(name = %self.name, pid = self.pid, "did not stop after SIGTERM, killing");
        self.signal(Signal::SIGKILL).await;
        let exit = self.exited().await;
        self.remove_container().await;
        exit
    }

    /// After the container ended: kills what is left of it when its engine no longer manages
    /// it (a dead dockerd), see [`kill_leftovers`](crate::container::kill_leftovers).
    fn kill_container_leftovers(&self) {
        let Some(c) = &self.container else { return };
        let killed = crate::container::kill_leftovers(&c.id);
        if !killed.is_empty() {
            tracing::warn!(name = %c.name, ?killed, "killed the processes of a container its engine lost");
        }
    }

    /// Sends `signal` to the child on purpose (a fault step), so that its exit counts as
    /// requested, and waits until it exited; a SIGTERM it does not obey is followed by SIGKILL
    /// after the stop timeout, as a kubelet does.
    pub async fn kill(&mut self, signal: Signal) -> Exit {
        if let Some(exit) = self.exit() {
            return exit;
        }
        self.unfreeze().await;
        self.stop_requested = true;
        self.signal(signal).await;
        if let Ok(exit) = tokio::time::timeout(self.stop_timeout, self.exited()).await {
            self.remove_container().await;
            return exit;
        }
        tracing::warn!(name = %self.name, pid = self.pid, %signal, "still running, killing");
        self.signal(Signal::SIGKILL).await;
        let exit = self.exited().await;
        self.remove_container().await;
        exit
    }

    /// Freezes the child (`pause: true`: SIGSTOP to its group, or the cgroup freezer for a
    /// container) or lets it go on (SIGCONT, thaw). A paused child is resumed before it is
    /// stopped.
    pub async fn pause(&mut self, pause: bool) -> io::Result<()> {
        if self.exit().is_some() {
            return Err(io::Error::other(format!("{} has exited", self.name)));
        }
        match &self.container {
            Some(c) => c.pause(pause).await?,
            None => {
                let pgid = i32::try_from(self.pid).map_err(io::Error::other)?;
                let signal = if pause { Signal::SIGSTOP } else { Signal::SIGCONT };
                killpg(Pid::from_raw(pgid), signal).map_err(io::Error::from)?;
            }
        }
        self.paused = pause;
        Ok(())
    }

    /// Whether [`ManagedProcess::pause`] froze it.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Lets a paused child go on so that it can obey SIGTERM (best effort).
    async fn unfreeze(&mut self) {
        if self.paused
            && let Err(e) = self.pause(false).await
        {
            tracing::debug!(name = %self.name, %e, "cannot resume before stopping");
        }
    }

    /// Removes the container of an ended member, then whatever its engine could not stop.
    async fn remove_container(&mut self) {
        if let Some(c) = &mut self.container {
            c.remove().await;
        }
        self.kill_container_leftovers();
    }

    /// Sends `signal` to the child's process group, or through the engine to a container's
    /// main process, unless the child is known to have exited (then its pid may be reused).
    async fn signal(&self, signal: Signal) {
        if self.state.get().is_some() {
            return;
        }
        if let Some(c) = &self.container {
            if let Err(e) = c.kill(signal.as_str()).await {
                tracing::debug!(name = %self.name, container = %c.name, %e, "kill failed");
            }
            return;
        }
        self.signal_group(signal);
    }

    /// [`ManagedProcess::signal`] for a host process, which needs no engine and no await.
    fn signal_group(&self, signal: Signal) {
        if self.state.get().is_some() {
            return;
        }
        let Ok(pgid) = i32::try_from(self.pid) else { return };
        if let Err(e) = killpg(Pid::from_raw(pgid), signal) {
            tracing::debug!(name = %self.name, pid = self.pid, %e, "killpg failed");
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let running = self.state.get().is_none();
        if let Some(c) = &mut self.container {
            // Its own thread and client: the caller's runtime may be gone or blocked here.
            c.stop_blocking(running, self.paused, self.stop_timeout);
            self.kill_container_leftovers();
            return;
        }
        if !running {
            return;
        }
        if self.paused {
            self.signal_group(Signal::SIGCONT);
        }
        self.stop_requested = true;
        self.signal_group(Signal::SIGTERM);
        if self.state.wait_blocking(self.stop_timeout).is_some() {
            return;
        }
        self.signal_group(Signal::SIGKILL);
        // SIGKILL cannot be ignored; the bound only guards against a child stuck in the kernel.
        if self.state.wait_blocking(Duration::from_secs(10)).is_none() {
            tracing::warn!(name = %self.name, pid = self.pid, "still running after SIGKILL");
        }
    }
}

/// The raw wait status of a process killed by SIGKILL.
fn sigkill_wait_status() -> i32 {
    Signal::SIGKILL as i32
}

/// Makes the kernel SIGKILL the child when the thread that spawned it ends, i.e. when the
/// harness dies (its waiter threads end with it).
fn set_parent_death_signal(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    let hook = move || -> io::Result<()> {
        // Both calls are plain syscalls: async-signal-safe, no allocation, as required between
        // fork and exec. The errors are `Errno` values, converted without allocating.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
        // The parent may have died between fork and prctl; then no signal will ever come.
        if nix::unistd::getppid() != parent {
            return Err(io::Error::from(nix::errno::Errno::ESRCH));
        }
        Ok(())
    };
    #[expect(
        unsafe_code,
        reason = "PR_SET_PDEATHSIG must be set in the child between fork and exec; the hook only \
                  makes two async-signal-safe syscalls and touches no shared state"
    )]
    // SAFETY: the closure runs in the forked child before exec. It calls prctl(2) and getppid(2)
    // only, allocates nothing and takes no locks, which is what `pre_exec` requires.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// `n` distinct free ports on 127.0.0.1: all are held bound until every one is chosen, so the
/// kernel cannot hand out the same port twice (see [`free_port`] for the remaining race).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// A free TCP port on 127.0.0.1, found by binding port 0. The port is released before it is
/// returned, so another process may take it first; starts that fail on a taken port are retried
/// by callers.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A new instance directory in `parent`, or in the system temp directory.
pub(crate) fn new_dir(parent: Option<&Path>, name: &str) -> io::Result<InstanceDir> {
    match parent {
        Some(parent) => InstanceDir::new_in(parent, name),
        None => InstanceDir::new(name),
    }
}

/// A per-instance temporary directory: removed on drop unless [`InstanceDir::keep`] was called
/// (on failure, so that its logs can be read).
///
/// Drop cannot run when the harness is killed (SIGKILL, OOM), and these directories hold
/// generated keys and PKI. So a top-level directory records its owner (`.atrest-owner`: pid and
/// the process's start time, which tells a reused pid apart), and every [`InstanceDir::new`]
/// first sweeps the system temp directory of `atrest-*` directories whose owner is gone
/// ([`sweep_orphans`]). A directory kept on purpose loses its owner file and is never swept.
#[derive(Debug)]
pub struct InstanceDir {
    dir: Option<TempDir>,
    path: PathBuf,
}

/// Creates (or truncates) `path` for writing, mode 0600 when new.
/// Creates `spec`'s two log files (0600).
fn open_logs(
    spec: &ProcessSpec,
    log_dir: &Path,
) -> Result<(PathBuf, File, PathBuf, File), SpawnError> {
    let stdout_log = log_dir.join(format!("{}.stdout.log", spec.name));
    let stderr_log = log_dir.join(format!("{}.stderr.log", spec.name));
    // 0600: the logs hold whatever the process printed, which for a real apiserver can
    // include key material from a rejected configuration.
    let open = |path: &Path| {
        private_file(path).map_err(|source| SpawnError::Log { path: path.to_owned(), source })
    };
    let stdout = open(&stdout_log)?;
    let stderr = open(&stderr_log)?;
    Ok((stdout_log, stdout, stderr_log, stderr))
}

fn private_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// The file in a top-level instance directory naming the process that owns it.
const OWNER_FILE: &str = ".atrest-owner";

/// The prefix of top-level instance directories in the system temp directory.
const TOP_LEVEL_PREFIX: &str = "atrest-";

impl InstanceDir {
    /// Creates `atrest-<name>-XXXXXX` (mode 0700) under the system temp directory, after
    /// sweeping the directories that killed harnesses left there (once per process).
    pub fn new(name: &str) -> io::Result<InstanceDir> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            let removed = sweep_orphans(&std::env::temp_dir());
            if !removed.is_empty() {
                tracing::info!(
                    count = removed.len(),
                    "removed instance directories left by killed atrest runs"
                );
            }
        });
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TOP_LEVEL_PREFIX}{name}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        io::Write::write_all(
            &mut private_file(&dir.path().join(OWNER_FILE))?,
            owner_line(std::process::id())?.as_bytes(),
        )?;
        let path = dir.path().to_owned();
        Ok(InstanceDir { dir: Some(dir), path })
    }

    /// Creates `<parent>/<name>-XXXXXX` (mode 0700): the instances of one cluster share a
    /// parent, which is then the one place to look for their logs.
    pub fn new_in(parent: &Path, name: &str) -> io::Result<InstanceDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)?;
        let path = dir.path().to_owned();
        Ok(InstanceDir { dir: Some(dir), path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory on disk after drop; returns its path. A kept directory is the
    /// user's to read and remove: it loses its owner file, so no later sweep takes it.
    pub fn keep(&mut self) -> &Path {
        if let Some(dir) = self.dir.take() {
            // Disarms removal; the path stays valid.
            let _ = dir.keep();
            match std::fs::remove_file(self.path.join(OWNER_FILE)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    dir = %self.path.display(),
                    error = %e,
                    "cannot mark the kept directory as kept; a later run may remove it"
                ),
            }
        }
        &self.path
    }

    /// Whether the directory will be kept.
    pub fn is_kept(&self) -> bool {
        self.dir.is_none()
    }
}

/// `<pid> <start time>`: the start time (field 22 of `/proc/<pid>/stat`, in clock ticks since
/// boot) tells this process apart from a later one that reuses its pid.
fn owner_line(pid: u32) -> io::Result<String> {
    let start = start_time(pid)
        .ok_or_else(|| io::Error::other(format!("cannot read the start time of pid {pid}")))?;
    Ok(format!("{pid} {start}\n"))
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, or `None` when the process does not exist.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3, so field 22 is its 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the owner recorded in `line` is still running (same pid, same start time). A line
/// that cannot be read counts as alive: never remove what is not understood.
fn owner_alive(line: &str) -> bool {
    let mut fields = line.split_whitespace();
    let (Some(pid), Some(start)) = (fields.next(), fields.next()) else { return true };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return true };
    start_time(pid) == Some(start)
}

/// Removes the `atrest-*` directories in `temp` whose owner process is gone, and returns them.
///
/// Only directories of this user that carry an owner file are considered: a directory kept on
/// purpose (its logs were reported to the user), one still being created, or one made by an
/// older atrest is left alone.
pub fn sweep_orphans(temp: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;

    let Ok(entries) = std::fs::read_dir(temp) else { return Vec::new() };
    let uid = nix::unistd::geteuid().as_raw();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(TOP_LEVEL_PREFIX))
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if !is_ours {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else { continue };
        if owner_alive(&owner) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => tracing::warn!(
                dir = %path.display(),
                error = %e,
                "cannot remove an instance directory left by a killed atrest run"
            ),
        }
    }
    removed
}
