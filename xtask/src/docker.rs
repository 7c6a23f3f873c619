//! The Docker engine for the `containers` backend: a daemon that answers, and the project's
//! own `dockerd` when none does.
//!
//! - `DOCKER_HOST`, then the default socket (`/var/run/docker.sock`): a daemon that answers
//!   there is used as is (Docker or Podman's Docker API) and never stopped.
//! - Otherwise the project runs its own: Debian's `docker.io`, `containerd`, `runc` and `tini`
//!   are fetched with `apt-get download` (no root) and unpacked with `dpkg-deb -x` into
//!   `<cache>/docker/pkg/<version>/`; nothing is installed system-wide. That `dockerd` (root
//!   only) keeps its socket, data, exec root, pid file, config and log under
//!   `<cache>/docker/state/` and runs without a bridge or iptables (host networking only: this
//!   machine's rules forbid traffic to a bridge's private-range addresses, and it has no
//!   iptables).
//! - Lifetime: a daemon that `cargo xtask test`/`ci` starts is marked ephemeral and stopped by
//!   the last run still using it (runs hold a shared lock on `users.lock` while they use it);
//!   one that `cargo xtask setup` starts stays up until `cargo xtask docker stop`.
//! - Containers and networks the project makes carry [`PROJECT_LABEL`] and [`OWNER_LABEL`] (the
//!   creating process's pid and start time); [`Engine::sweep`] removes those whose owner is gone.
//! - `<cache>/docker/env` holds the `DOCKER_HOST=` line for the project's daemon.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{Probe, human, oracle, tools, wait_until};

/// Label on every container and network the project creates (value `1`).
pub(crate) const PROJECT_LABEL: &str = "io.atrest.project";

/// Label naming the process that created a container or network: `<pid> <start time>` (field 22
/// of `/proc/<pid>/stat`), as atrest-process's instance directories record their owner.
pub(crate) const OWNER_LABEL: &str = "io.atrest.owner";

/// Debian packages whose files make up the project's own engine.
const PACKAGES: [&str; 4] = ["docker.io", "containerd", "runc", "tini"];

/// Files an unpacked engine must hold (relative to its root).
const ENGINE_FILES: [&str; 6] = [
    "usr/sbin/dockerd",
    "usr/bin/docker",
    "usr/bin/containerd",
    "usr/bin/containerd-shim-runc-v2",
    "usr/sbin/runc",
    "usr/bin/tini-static",
];

/// How long a starting `dockerd` may take to answer `/_ping` (it takes 1-2 s here).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping `dockerd` gets after SIGTERM before SIGKILL (it stops its containers
/// with a 10 s grace first).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether a daemon the project starts outlives the command that started it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Stopped when the last run using it ends (`test`, `ci`).
    Run,
    /// Left running (`setup`); `cargo xtask docker stop` stops it.
    Persistent,
}

/// Paths of the project's own engine under the cache.
struct Paths {
    root: PathBuf,
    state: PathBuf,
}

impl Paths {
    fn new() -> Paths {
        let root = oracle::cache_dir().join("docker");
        let state = root.join("state");
        Paths { root, state }
    }
    fn socket(&self) -> PathBuf {
        self.state.join("docker.sock")
    }
    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    fn pidfile(&self) -> PathBuf {
        self.state.join("dockerd.pid")
    }
    fn log(&self) -> PathBuf {
        self.state.join("dockerd.log")
    }
    fn exec_root(&self) -> PathBuf {
        self.state.join("exec")
    }
    fn ephemeral_marker(&self) -> PathBuf {
        self.state.join("ephemeral")
    }
    /// The `/run` directories the running daemon created (see [`RUN_DIRS`]), one per line.
    fn created_run_dirs(&self) -> PathBuf {
        self.state.join("created-run-dirs")
    }
    fn env_file(&self) -> PathBuf {
        self.root.join("env")
    }
}

/// A daemon to talk to, and the client to talk to it with. Dropping it (or [`Engine::release`])
/// ends this run's use of the project's own daemon, stopping it when this was the last run
/// using an ephemeral one.
pub(crate) struct Engine {
    /// The `DOCKER_HOST` value that reaches the daemon.
    pub(crate) host: String,
    client: PathBuf,
    own: Option<OwnUse>,
    /// Set once the use has ended (by [`Engine::release`], before drop).
    released: bool,
}

/// This run's use of the project's own daemon.
struct OwnUse {
    paths: Paths,
    /// A shared lock on `users.lock`, held while this run uses the daemon.
    user: Option<File>,
    /// The daemon, when this process started it (to reap it).
    child: Option<Child>,
}

impl Engine {
    /// A daemon that answers: `DOCKER_HOST`'s, the default socket's, or the project's own
    /// (started when it is not running).
    pub(crate) fn provide(lifetime: Lifetime) -> Result<Engine> {
        // `DOCKER_HOST` from `<cache>/docker/env` names the project's own daemon.
        if let Some(host) =
            env::var_os("DOCKER_HOST").filter(|h| !h.is_empty() && *h != *Paths::new().host())
        {
            let host = host.into_string().map_err(|h| {
                anyhow::anyhow!("DOCKER_HOST={} is not UTF-8", Path::new(&h).display())
            })?;
            let client = client()?;
            if let Err(why) = ping(&host, &client) {
                bail!(
                    "the Docker daemon at DOCKER_HOST={host} does not answer ({why}); start it, \
                     or unset DOCKER_HOST to let xtask run the project's own dockerd"
                );
            }
            eprintln!("xtask: using the Docker daemon at DOCKER_HOST={host}");
            return Ok(Engine { host, client, own: None, released: false });
        }
        let default = "unix:///var/run/docker.sock";
        if Path::new("/var/run/docker.sock").exists() {
            let client = client()?;
            match ping(default, &client) {
                Ok(()) => {
                    eprintln!("xtask: using the Docker daemon at {default}");
                    return Ok(Engine {
                        host: default.to_owned(),
                        client,
                        own: None,
                        released: false,
                    });
                }
                Err(why) => eprintln!(
                    "xtask: /var/run/docker.sock does not answer ({why}); using the project's \
                     own dockerd"
                ),
            }
        }
        own_daemon(lifetime)
    }

    /// A `docker` command that talks to this engine.
    pub(crate) fn docker(&self) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.env("DOCKER_HOST", &self.host).stdin(Stdio::null());
        cmd
    }

    /// Runs `docker ARGS` and returns its stdout; fails with its stderr.
    pub(crate) fn output(&self, args: &[&str]) -> Result<String> {
        let out = self
            .docker()
            .args(args)
            .output()
            .with_context(|| format!("running {} {}", self.client.display(), args.join(" ")))?;
        if !out.status.success() {
            let failed = anyhow::anyhow!(
                "`docker {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(match self.dead_daemon() {
                Some(why) => failed.context(why),
                None => failed,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// When the daemon no longer answers: what to say about it.
    fn dead_daemon(&self) -> Option<String> {
        let why = ping(&self.host, &self.client).err()?;
        Some(match &self.own {
            Some(own) => format!(
                "the project's dockerd no longer answers on {} ({why}); last lines of its log {}:\n{}\n\
                 the next `cargo xtask test` or `setup` starts it again",
                self.host,
                own.paths.log().display(),
                tail(&own.paths.log(), 15)
            ),
            None => format!("the Docker daemon at {} no longer answers ({why})", self.host),
        })
    }

    /// Removes the containers and networks labelled [`PROJECT_LABEL`] whose [`OWNER_LABEL`]
    /// process is gone (left by killed or finished runs), and returns how many.
    pub(crate) fn sweep(&self) -> Result<usize> {
        let filter = format!("label={PROJECT_LABEL}");
        let format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}");
        let containers = self.output(&["ps", "--all", "--filter", &filter, "--format", &format])?;
        let dead = orphans(&containers);
        if !dead.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(dead.iter().map(String::as_str));
            self.output(&args)?;
        }
        let networks = self.output(&["network", "ls", "--filter", &filter, "--format", &format])?;
        let dead_networks = orphans(&networks);
        if !dead_networks.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(dead_networks.iter().map(String::as_str));
            self.output(&args)?;
        }
        Ok(dead.len() + dead_networks.len())
    }

    /// Ends this run's use of the engine: sweeps leftovers and, when this is the last run using
    /// the project's ephemeral daemon, stops it.
    pub(crate) fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        // A daemon that died has nothing to sweep; the stop below still cleans up after it.
        let swept = if ping(&self.host, &self.client).is_ok() { self.sweep() } else { Ok(0) };
        let Some(mut own) = self.own.take() else { return swept.map(|_| ()) };
        // Leave the shared lock first: the stop below needs the daemon to have no user.
        drop(own.user.take());
        let _lock = lock(&own.paths.root.join(".lock"))?;
        if !own.paths.ephemeral_marker().exists() {
            swept?;
            return Ok(());
        }
        let users = File::create(own.paths.root.join("users.lock"))
            .with_context(|| format!("opening {}", own.paths.root.join("users.lock").display()))?;
        if users.try_lock().is_err() {
            eprintln!("xtask: the project's dockerd is still in use by another run; leaving it up");
            swept?;
            return Ok(());
        }
        stop(&own.paths, own.child.take())?;
        fs::remove_file(own.paths.ephemeral_marker()).ok();
        swept.map(|_| ())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Err(err) = self.release_inner() {
            eprintln!("xtask: warning: ending the use of the Docker engine: {err:#}");
        }
    }
}

/// The project's own daemon, started when it does not answer.
fn own_daemon(lifetime: Lifetime) -> Result<Engine> {
    let paths = Paths::new();
    fs::create_dir_all(&paths.state)
        .with_context(|| format!("creating {}", paths.state.display()))?;
    let _lock = lock(&paths.root.join(".lock"))?;
    let running = ping_unix(&paths.socket()).is_ok();
    // Before fetching anything: without root there is nothing to start it with.
    if !running && !is_root() {
        bail!(
            "no Docker daemon answers (DOCKER_HOST is unset, /var/run/docker.sock does not \
             answer), and the project's own dockerd needs root; run as root, or start Docker or \
             rootless Podman (`podman system service`) and set DOCKER_HOST to its socket"
        );
    }
    let pkg = install(&paths)?;
    let client = pkg.join("usr/bin/docker");
    let host = paths.host();
    let mut own = OwnUse { paths, user: None, child: None };
    if running {
        eprintln!("xtask: the project's dockerd is already running ({host})");
    } else {
        let started = Instant::now();
        own.child = Some(start(&own.paths, &pkg)?);
        fs::write(own.paths.ephemeral_marker(), b"")
            .with_context(|| format!("writing {}", own.paths.ephemeral_marker().display()))?;
        eprintln!(
            "xtask: started the project's dockerd in {} ({host}; log {})",
            human(started.elapsed()),
            own.paths.log().display()
        );
    }
    if lifetime == Lifetime::Persistent {
        // `setup` keeps whatever runs now running for the user.
        match fs::remove_file(own.paths.ephemeral_marker()) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).context("removing the ephemeral marker"),
        }
        // Not this process's to reap or stop any more.
        drop(own.child.take());
    }
    let users_path = own.paths.root.join("users.lock");
    let users =
        File::create(&users_path).with_context(|| format!("creating {}", users_path.display()))?;
    users.lock_shared().with_context(|| format!("locking {}", users_path.display()))?;
    own.user = Some(users);
    let env_line = format!("DOCKER_HOST={host}\n");
    if fs::read_to_string(own.paths.env_file()).ok().as_deref() != Some(env_line.as_str()) {
        fs::write(own.paths.env_file(), env_line)
            .with_context(|| format!("writing {}", own.paths.env_file().display()))?;
    }
    Ok(Engine { host, client, own: Some(own), released: false })
}

/// The unpacked engine's root, fetching and unpacking Debian's packages when missing.
fn install(paths: &Paths) -> Result<PathBuf> {
    let pkg_root = paths.root.join("pkg");
    let current = paths.root.join("current");
    if let Ok(version) = fs::read_to_string(&current) {
        let dir = pkg_root.join(version.trim());
        if engine_complete(&dir) {
            return Ok(dir);
        }
    }
    for tool in ["apt-get", "dpkg-deb"] {
        if tools::find_on_path(tool).is_none() {
            bail!(
                "no Docker daemon answers (DOCKER_HOST is unset, /var/run/docker.sock does not \
                 answer) and there is no `{tool}` to fetch Debian's docker.io: install Docker or \
                 Podman and point DOCKER_HOST at its socket"
            );
        }
    }
    let started = Instant::now();
    eprintln!(
        "xtask: fetching Debian's {} with apt-get download into {}",
        PACKAGES.join(", "),
        pkg_root.display()
    );
    let download = pkg_root.join("download.partial");
    if download.exists() {
        fs::remove_dir_all(&download)
            .with_context(|| format!("removing {}", download.display()))?;
    }
    fs::create_dir_all(&download).with_context(|| format!("creating {}", download.display()))?;
    let log = paths.root.join("apt.log");
    if let Err(first) = apt_download(&download, &log, &[]) {
        // The system's package lists may be missing or stale (nobody ran `apt-get update`):
        // refresh a private copy under the cache instead, which needs no root.
        eprintln!(
            "xtask: apt-get download with the system's package lists failed ({first:#}); \
             refreshing private lists under the cache"
        );
        let lists = paths.root.join("apt");
        let opts = private_apt_options(&lists)?;
        run_logged(
            Command::new("apt-get").args(&opts).args(["-q", "update"]).stdin(Stdio::null()),
            &log,
        )
        .context("apt-get update into the cache's private lists")?;
        apt_download(&download, &log, &opts).with_context(|| {
            format!(
                "cannot fetch Debian's {}; install Docker or Podman and point DOCKER_HOST at \
                 its socket instead (apt output: {})",
                PACKAGES.join(", "),
                log.display()
            )
        })?;
    }
    let debs: Vec<PathBuf> = fs::read_dir(&download)
        .with_context(|| format!("reading {}", download.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    let docker_deb = debs
        .iter()
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("docker.io_"))
        })
        .with_context(|| format!("apt-get left no docker.io package in {}", download.display()))?;
    let version = deb_field(docker_deb, "Version")?;
    // Debian versions may hold `:` (an epoch) and `~`; keep the directory name plain.
    let dir_name: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || ".+-".contains(c) { c } else { '_' })
        .collect();
    let dir = pkg_root.join(&dir_name);
    let staging = pkg_root.join(format!("{dir_name}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    for deb in &debs {
        crate::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&staging))
            .with_context(|| format!("unpacking {}", deb.display()))?;
    }
    if !engine_complete(&staging) {
        bail!(
            "the unpacked packages in {} lack one of {}",
            staging.display(),
            ENGINE_FILES.join(", ")
        );
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving {} to {}", staging.display(), dir.display()))?;
    fs::write(&current, format!("{dir_name}\n"))
        .with_context(|| format!("writing {}", current.display()))?;
    fs::remove_dir_all(&download).with_context(|| format!("removing {}", download.display()))?;
    eprintln!(
        "xtask: docker.io {version} unpacked into {} in {}",
        dir.display(),
        human(started.elapsed())
    );
    Ok(dir)
}

fn engine_complete(dir: &Path) -> bool {
    ENGINE_FILES.iter().all(|f| dir.join(f).is_file())
}

/// `apt-get download` of [`PACKAGES`] into `dir`, with extra `-o` options.
fn apt_download(dir: &Path, log: &Path, opts: &[OsString]) -> Result<()> {
    run_logged(
        Command::new("apt-get")
            .current_dir(dir)
            .args(opts)
            .args(["-q", "download"])
            .args(PACKAGES)
            .stdin(Stdio::null()),
        log,
    )
}

/// apt options that keep package lists and caches in `dir` (no root, the system's untouched).
fn private_apt_options(dir: &Path) -> Result<Vec<OsString>> {
    let lists = dir.join("lists");
    let cache = dir.join("cache");
    for d in [lists.join("partial"), cache.join("archives/partial")] {
        fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut opts = Vec::new();
    for (key, value) in [("Dir::State::Lists", lists), ("Dir::Cache", cache)] {
        let mut opt = OsString::from(format!("{key}="));
        opt.push(value);
        opts.push("-o".into());
        opts.push(opt);
    }
    Ok(opts)
}

/// Runs `cmd` with its output appended to `log`; fails with the log's tail.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    writeln!(file, "$ {cmd:?}").with_context(|| format!("writing {}", log.display()))?;
    let err = file.try_clone().with_context(|| format!("opening {}", log.display()))?;
    let status =
        cmd.stdout(file).stderr(err).status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status}); last lines of {}:\n{}", log.display(), tail(log, 10));
    }
    Ok(())
}

/// A field of a `.deb`'s control file.
fn deb_field(deb: &Path, field: &str) -> Result<String> {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(field)
        .output()
        .with_context(|| format!("running dpkg-deb -f {}", deb.display()))?;
    if !out.status.success() {
        bail!(
            "dpkg-deb -f {} {field} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Directories under `/run` that Docker 20.10 and containerd 1.6 create whatever their roots
/// (plugin sockets, shim sockets).
const RUN_DIRS: [&str; 4] =
    ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"];

/// Starts the project's `dockerd` in its own process group and waits until it answers.
fn start(paths: &Paths, pkg: &Path) -> Result<Child> {
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
            "the project's dockerd did not answer on {host} within {}s ({last}); last lines of \
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
fn stop(paths: &Paths, mut child: Option<Child>) -> Result<()> {
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
    eprintln!("xtask: stopped the project's dockerd in {}", human(started.elapsed()));
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
fn mounts_in(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
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

/// Probes a daemon: `GET /_ping` on a unix socket, else `docker version` through the client.
fn ping(host: &str, client: &Path) -> Result<(), String> {
    if let Some(path) = host.strip_prefix("unix://") {
        return ping_unix(Path::new(path));
    }
    let out = Command::new(client)
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .env("DOCKER_HOST", host)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", client.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn ping_unix(path: &Path) -> Result<(), String> {
    let mut stream =
        UnixStream::connect(path).map_err(|e| format!("connecting to {}: {e}", path.display()))?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let mut response = String::new();
    stream
        .take(64 * 1024)
        .read_to_string(&mut response)
        .map_err(|e| format!("reading from {}: {e}", path.display()))?;
    let status = response.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") && response.ends_with("OK") {
        Ok(())
    } else {
        Err(format!("/_ping answered {status:?}"))
    }
}

/// The `docker` client for a daemon that is not the project's own: one on PATH, else the one
/// in the unpacked engine (fetched if needed; that needs no root).
fn client() -> Result<PathBuf> {
    if let Some(docker) = tools::find_on_path("docker") {
        return Ok(docker);
    }
    let paths = Paths::new();
    fs::create_dir_all(&paths.root)
        .with_context(|| format!("creating {}", paths.root.display()))?;
    let _lock = lock(&paths.root.join(".lock"))?;
    Ok(install(&paths)?.join("usr/bin/docker"))
}

/// The containers or networks in `listing` (`ID<TAB>owner` lines) whose owner process is gone.
/// An owner that cannot be read counts as alive: never remove what is not understood.
fn orphans(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let (id, owner) = line.split_once('\t')?;
            (!id.is_empty() && !owner_alive(owner)).then(|| id.to_owned())
        })
        .collect()
}

/// The [`OWNER_LABEL`] value for this process.
pub(crate) fn owner_value() -> Result<String> {
    let pid = std::process::id();
    let start = start_time(pid).with_context(|| format!("reading the start time of pid {pid}"))?;
    Ok(format!("{pid} {start}"))
}

fn owner_alive(owner: &str) -> bool {
    let mut fields = owner.split_whitespace();
    let (Some(pid), Some(start)) = (fields.next(), fields.next()) else { return true };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return true };
    start_time(pid) == Some(start)
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, or `None` when the process does not exist.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` has exited (no such process, or a zombie waiting to be reaped).
fn process_gone(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z")
}

fn is_dockerd(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "dockerd")
}

fn read_pid(path: &Path) -> Option<u32> {
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
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// An exclusive lock on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> Result<File> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// The last `n` lines of a log file, for error messages.
fn tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read the log: {err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_containers_of_dead_owners_only() -> Result<()> {
        let me = owner_value()?;
        // No pid is that large (pid_max is at most 2^22): a dead owner.
        let listing = format!("aaa\t{me}\nbbb\t999999999 5\nccc\t\nddd\tnot an owner\n");
        assert_eq!(orphans(&listing), ["bbb"]);
        Ok(())
    }

    #[test]
    fn ping_reports_what_it_saw() {
        let err = ping_unix(Path::new("/nonexistent/atrest.sock")).expect_err("no socket");
        assert!(err.contains("/nonexistent/atrest.sock"), "{err}");
    }

    #[test]
    fn mounts_under_a_directory_deepest_first() {
        let mountinfo = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 254:0 /c/state/data /c/state/data rw - ext4 /dev/vda rw
91 22 0:4 net:[4026532] /c/state/exec/netns/default rw - nsfs nsfs rw
92 22 0:5 / /c/stateful rw - tmpfs tmpfs rw
93 22 254:0 /c/state/data /c/state/data rw - ext4 /dev/vda rw
";
        assert_eq!(
            mounts_in(mountinfo, Path::new("/c/state")),
            [
                PathBuf::from("/c/state/exec/netns/default"),
                PathBuf::from("/c/state/data"),
                PathBuf::from("/c/state/data"),
            ]
        );
    }

    #[test]
    fn this_process_is_not_gone() {
        assert!(!process_gone(std::process::id()));
        assert!(process_gone(u32::MAX));
    }
}
