//! Starting and stopping the project's own `dockerd`: its own process group, every path under
//! `<cache>/docker/state/`, readiness by polling `/_ping`, SIGTERM then SIGKILL, and clean-up of
//! what it leaves outside its files.

use std::env;
use std::fs::{self, File};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{Paths, lock, ping};
use crate::controlplane::tail;
use crate::{Probe, human, wait_until};

/// How long a starting `dockerd` may take to answer `/_ping` (it takes 1-2 s here).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping `dockerd` gets after SIGTERM before SIGKILL (it stops its containers
/// with a 10 s grace first).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Directories under `/run` that Docker 20.10 and containerd 1.6 create whatever their roots
/// (plugin sockets, shim sockets).
const RUN_DIRS: [&str; 4] =
    ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"];

/// Starts the project's `dockerd` (or a private one, [`super::PrivateDaemon`]) with `extra`
/// arguments in its own process group and waits until it answers.
pub(super) fn start(paths: &Paths, pkg: &Path, extra: &[String]) -> Result<Child> {
    // Unix socket paths hold at most 107 bytes; containerd's socket in the exec root is the
    // longest (`exec/containerd/containerd.sock.ttrpc`).
    let longest = paths.exec_root().join("containerd/containerd.sock.ttrpc");
    if longest.as_os_str().len() > 107 {
        bail!(
            "{} is too long for a unix socket path (at most 107 bytes); set ATREST_CACHE_DIR to a \
             shorter directory",
            longest.display()
        );
    }
    // Kept from an earlier daemon whose clean-up did not run (it was killed), plus ours.
    let mut created = fs::read_to_string(paths.created_run_dirs()).unwrap_or_default();
    for dir in RUN_DIRS.iter().filter(|d| !Path::new(d).exists()) {
        created.push_str(&format!("{dir}\n"));
    }
    fs::write(paths.created_run_dirs(), created)
        .with_context(|| format!("writing {}", paths.created_run_dirs().display()))?;
    let config = paths.state.join("daemon.json");
    // Own config file, so /etc/docker/daemon.json never applies, and the daemon's identity key
    // (default /etc/docker/key.json) stays under the cache.
    let key = paths.state.join("key.json");
    fs::write(&config, format!("{{\"deprecated-key-path\": {:?}}}\n", key.display().to_string()))
        .with_context(|| format!("writing {}", config.display()))?;
    let log_path = paths.log();
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let log_err = log.try_clone().with_context(|| format!("opening {}", log_path.display()))?;
    let path_var = env::join_paths(
        [pkg.join("usr/sbin"), pkg.join("usr/bin")]
            .into_iter()
            .chain(env::var_os("PATH").iter().flat_map(env::split_paths)),
    )
    .context("building PATH for dockerd")?;
    let mut cmd = Command::new(pkg.join("usr/sbin/dockerd"));
    cmd.arg("--host")
        .arg(paths.host())
        .arg("--config-file")
        .arg(&config)
        .arg("--data-root")
        .arg(paths.state.join("data"))
        .arg("--exec-root")
        .arg(paths.exec_root())
        .arg("--pidfile")
        .arg(paths.pidfile())
        .arg("--init-path")
        .arg(pkg.join("usr/bin/tini-static"))
        .arg("--userland-proxy-path")
        .arg(pkg.join("usr/sbin/docker-proxy"))
        // No bridge and no iptables: containers use host networking (or networks of their own).
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"])
        .args(extra)
        .env("PATH", path_var)
        .current_dir(&paths.state)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    // A killed daemon leaves its pid file, and dockerd refuses to start while the pid in it
    // exists (a zombie does).
    if read_pid(&paths.pidfile()).is_some_and(|pid| process_gone(pid) || !is_dockerd(pid)) {
        fs::remove_file(paths.pidfile())
            .with_context(|| format!("removing the stale {}", paths.pidfile().display()))?;
    }
    let mut child = cmd.spawn().context("starting dockerd")?;
    let host = paths.host();
    let client = pkg.join("usr/bin/docker");
    let waited = wait_until(Instant::now() + START_TIMEOUT, Duration::from_millis(50), || {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Probe::Stop(format!("dockerd exited with {status}")));
        }
        ping(&host, &client).map_err(Probe::Retry)
    });
    if let Err(last) = waited {
        let exited = child.try_wait().ok().flatten().is_some();
        if !exited {
            kill_group(child.id(), "KILL");
        }
        child.wait().ok();
        clean_up_after(paths);
        bail!(
            "dockerd did not answer on {host} within {}s ({last}); last lines of \
             its log {}:\n{}",
            START_TIMEOUT.as_secs(),
            log_path.display(),
            tail(&log_path, 20)
        );
    }
    Ok(child)
}

/// Stops the project's `dockerd` (SIGTERM, SIGKILL of its process group after
/// [`STOP_TIMEOUT`]) and undoes what it leaves outside its roots.
pub(super) fn stop(paths: &Paths, mut child: Option<Child>) -> Result<()> {
    // A stale pid file may name a reused pid: signal only a dockerd.
    let Some(pid) = read_pid(&paths.pidfile()).filter(|&pid| is_dockerd(pid)) else {
        clean_up_after(paths);
        return Ok(());
    };
    if let Some(c) = &child
        && c.id() != pid
    {
        // Not the daemon this process started (that one died; another run started this).
        child = None;
    }
    let started = Instant::now();
    signal(pid, "TERM");
    // A zombie counts as gone, so this also ends for the daemon this process started.
    let stopped = wait_until(Instant::now() + STOP_TIMEOUT, Duration::from_millis(50), || {
        if process_gone(pid) {
            Ok(())
        } else {
            Err(Probe::Retry(format!("pid {pid} still running")))
        }
    });
    if stopped.is_err() {
        eprintln!(
            "xtask: warning: dockerd (pid {pid}) ignored SIGTERM for {}s; killing its process \
             group",
            STOP_TIMEOUT.as_secs()
        );
        kill_group(pid, "KILL");
        // Docker starts containerd in a process group of its own.
        if let Some(containerd) = read_pid(&paths.exec_root().join("containerd/containerd.pid")) {
            signal(containerd, "KILL");
        }
    }
    if let Some(c) = &mut child {
        c.wait().ok();
    }
    clean_up_after(paths);
    eprintln!(
        "xtask: stopped the dockerd of {} in {}",
        paths.state.display(),
        human(started.elapsed())
    );
    Ok(())
}

/// Undoes what an exited dockerd leaves outside its files: mounts under its state directory
/// (its default network namespace in the exec root; after a failed start, the data root) and
/// the `/run` directories it created.
fn clean_up_after(paths: &Paths) {
    for mount in mounts_under(&paths.state) {
        if let Err(err) = crate::run(Command::new("umount").arg(&mount)) {
            eprintln!("xtask: warning: unmounting {}: {err:#}", mount.display());
        }
    }
    for dir in fs::read_to_string(paths.created_run_dirs()).unwrap_or_default().lines() {
        // Only when empty: something else may have started using it meanwhile.
        fs::remove_dir(dir).ok();
    }
    fs::remove_file(paths.created_run_dirs()).ok();
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    mounts_in(&mountinfo, dir)
}

/// Mount points at or under `dir` in a `/proc/<pid>/mountinfo` text, deepest first.
pub(super) fn mounts_in(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    // Field 5 is the mount point (octal escapes for spaces and such, never in our paths).
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(dir))
        .collect();
    // A path mounted twice is listed twice and needs two unmounts.
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found
}

/// Stops the project's own daemon if it runs, whoever started it (`cargo xtask docker stop`).
pub(crate) fn stop_own() -> Result<()> {
    let paths = Paths::new();
    if !paths.root.exists() {
        eprintln!("xtask: the project's dockerd was never set up");
        return Ok(());
    }
    let _lock = lock(&paths.root.join(".lock"))?;
    let users_path = paths.root.join("users.lock");
    let users =
        File::create(&users_path).with_context(|| format!("opening {}", users_path.display()))?;
    if users.try_lock().is_err() {
        bail!(
            "a run is using the project's dockerd ({} is locked); stop it first",
            users_path.display()
        );
    }
    if read_pid(&paths.pidfile()).is_none_or(|pid| process_gone(pid) || !is_dockerd(pid)) {
        eprintln!("xtask: the project's dockerd is not running");
        return Ok(());
    }
    stop(&paths, None)?;
    fs::remove_file(paths.ephemeral_marker()).ok();
    Ok(())
}

/// Whether `pid` has exited (no such process, or a zombie waiting to be reaped).
pub(super) fn process_gone(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z")
}

pub(super) fn is_dockerd(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "dockerd")
}

pub(super) fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Sends `SIG<name>` to `pid` with kill(1) (the xtask links no libc bindings).
fn signal(pid: u32, name: &str) {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .ok();
}

/// Sends `SIG<name>` to the process group `pgid`.
fn kill_group(pgid: u32, name: &str) {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status()
        .ok();
}

/// Whether the effective user is root (`/proc/self/status`'s second `Uid:` field).
pub(super) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}
