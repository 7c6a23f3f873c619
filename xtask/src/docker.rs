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
//!   iptables). Its default runtime is the runc wrapper of [`wrapper_runtime`], so kind's
//!   privileged node containers run here although the sandbox's capability set is short.
//! - Lifetime: a daemon that `cargo xtask test`/`ci` starts is marked ephemeral and stopped by
//!   the last run still using it (runs hold a shared lock on `users.lock` while they use it);
//!   one that `cargo xtask setup` starts stays up until `cargo xtask docker stop`.
//! - Containers and networks the project makes carry [`PROJECT_LABEL`] and [`OWNER_LABEL`] (the
//!   creating process's pid and start time); [`Engine::sweep`] removes those whose owner is gone.
//! - `<cache>/docker/env` holds the `DOCKER_HOST=` line for the project's daemon.

use std::env;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{human, oracle, tools};

mod daemon;
mod install;

pub(crate) use daemon::stop_own;
use daemon::{is_root, start, stop};
pub(crate) use install::debootstrap;
use install::install;

/// Label on every container and network the project creates (value `1`).
pub(crate) const PROJECT_LABEL: &str = "io.atrest.project";

/// Label naming the process that created a container or network: `<pid> <start time>` (field 22
/// of `/proc/<pid>/stat`), as atrest-process's instance directories record their owner.
pub(crate) const OWNER_LABEL: &str = "io.atrest.owner";

/// The name of the runtime [`wrapper_runtime`] registers as the default.
pub(crate) const WRAPPER_RUNTIME: &str = "atrest-runc";

/// dockerd's arguments that make `xtask/go/runcwrap` (built and cached on first use) its default
/// runtime, with the wrapper copied into `dir` and the real runc of `pkg` named next to it.
///
/// Every engine the project starts runs its containers through it: Docker 20.10 asks for every
/// capability for a `--privileged` container (kind's nodes), which runc refuses where the host's
/// bounding set lacks one (this sandbox lacks CAP_SYS_RESOURCE). For every other container, and
/// on a host with every capability, the wrapper changes nothing. Engines the project does not
/// start are never touched.
pub(crate) fn wrapper_runtime(dir: &Path, pkg: &Path) -> Result<Vec<String>> {
    let built = oracle::cached_go_program(
        "xtask/go/runcwrap",
        ".",
        "runcwrap",
        "the runc wrapper (xtask/go/runcwrap)",
    )?;
    // The wrapper finds the real runc in the file named like it plus ".runc".
    let wrapper = dir.join("runc-wrap");
    let staged = dir.join("runc-wrap.partial");
    fs::copy(&built, &staged)
        .with_context(|| format!("copying the runc wrapper to {}", staged.display()))?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", staged.display()))?;
    // Renamed into place: a running daemon of an earlier start may be executing the old copy.
    fs::rename(&staged, &wrapper).with_context(|| format!("moving it to {}", wrapper.display()))?;
    let real = dir.join("runc-wrap.runc");
    fs::write(&real, pkg.join("usr/bin/runc").to_string_lossy().as_bytes())
        .with_context(|| format!("writing {}", real.display()))?;
    Ok(vec![
        format!("--add-runtime={WRAPPER_RUNTIME}={}", wrapper.display()),
        format!("--default-runtime={WRAPPER_RUNTIME}"),
    ])
}

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
    /// The `/run` directories the running daemon created (see `daemon::RUN_DIRS`), one per line.
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

    /// `PATH` with this engine's `docker` client first: kind (and atrest's kind backend) run
    /// `docker` from `PATH`, and a fresh machine may have none but the project engine's own.
    pub(crate) fn path_with_client(&self) -> Result<std::ffi::OsString> {
        let dir = self.client.parent().context("the docker client's directory")?;
        env::join_paths(
            std::iter::once(dir.to_owned())
                .chain(env::var_os("PATH").iter().flat_map(env::split_paths)),
        )
        .context("building PATH with the docker client")
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
    pub(crate) fn dead_daemon(&self) -> Option<String> {
        let why = ping(&self.host, &self.client).err()?;
        Some(match &self.own {
            Some(own) => format!(
                "the project's dockerd no longer answers on {} ({why}); last lines of its log {}:\n{}\n\
                 the next `cargo xtask test` or `setup` starts it again",
                self.host,
                own.paths.log().display(),
                crate::controlplane::tail(&own.paths.log(), 15)
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
        let default = Command::new(&client)
            .args(["--host", &host, "info", "--format", "{{.DefaultRuntime}}"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if default.as_deref() != Some(WRAPPER_RUNTIME) {
            eprintln!(
                "xtask: warning: it was started by an older xtask without the runc wrapper \
                 (default runtime {:?}), so kind's privileged nodes cannot run in it; \
                 `cargo xtask docker stop` and start it again to get the wrapper",
                default.unwrap_or_default()
            );
        }
    } else {
        let started = Instant::now();
        let extra = wrapper_runtime(&own.paths.state, &pkg)?;
        own.child = Some(start(&own.paths, &pkg, &extra)?);
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

/// A dockerd of its own next to the project's (`cargo xtask kind-node-image --verify`), started
/// and stopped by the same code as the project's ([`start`], [`stop`]: own config file, own
/// roots, the `/run` directories it creates removed, its mounts unmounted), with its state in
/// `state`. Dropping it stops it and removes `state`.
pub(crate) struct PrivateDaemon {
    paths: Paths,
    child: Option<Child>,
    /// The `DOCKER_HOST` value that reaches it.
    pub(crate) host: String,
    /// The unpacked engine (`usr/bin/docker`, `usr/bin/runc`, ...).
    pub(crate) pkg: PathBuf,
}

impl PrivateDaemon {
    /// Starts it with `state` as its directory (short: unix socket paths); `prepare` writes
    /// what it needs there and returns dockerd's extra arguments. A directory left by a killed
    /// owner is stopped and removed first; one whose owner still runs is refused.
    pub(crate) fn start(
        state: &Path,
        prepare: impl FnOnce(&Path, &Path) -> Result<Vec<String>>,
    ) -> Result<PrivateDaemon> {
        let paths = Paths { root: Paths::new().root, state: state.to_owned() };
        let owner_file = state.join("owner");
        if let Ok(owner) = fs::read_to_string(&owner_file) {
            if owner_alive(owner.trim()) {
                bail!(
                    "{} is in use by pid {} (another verify); wait for it",
                    state.display(),
                    owner.split_whitespace().next().unwrap_or("?")
                );
            }
            eprintln!("xtask: stopping what a killed run left in {}", state.display());
            stop(&paths, None)?;
            fs::remove_dir_all(state).with_context(|| format!("removing {}", state.display()))?;
        }
        let pkg = {
            fs::create_dir_all(&paths.root)
                .with_context(|| format!("creating {}", paths.root.display()))?;
            let _lock = lock(&paths.root.join(".lock"))?;
            install(&paths)?
        };
        fs::create_dir_all(state).with_context(|| format!("creating {}", state.display()))?;
        let mut private = PrivateDaemon { host: paths.host(), paths, child: None, pkg };
        // From here on, dropping it removes whatever was started and written.
        fs::write(&owner_file, owner_value()?)
            .with_context(|| format!("writing {}", owner_file.display()))?;
        let extra = prepare(state, &private.pkg)?;
        private.child = Some(start(&private.paths, &private.pkg, &extra)?);
        Ok(private)
    }

    /// A `docker` command that talks to it.
    pub(crate) fn docker(&self) -> Command {
        let mut cmd = Command::new(self.pkg.join("usr/bin/docker"));
        cmd.env("DOCKER_HOST", &self.host).stdin(Stdio::null());
        cmd
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if let Err(err) = stop(&self.paths, self.child.take()) {
            eprintln!("xtask: stopping the private dockerd: {err:#}");
        }
        match fs::remove_dir_all(&self.paths.state) {
            Ok(()) => {
                eprintln!("xtask: private dockerd stopped, {} removed", self.paths.state.display())
            }
            Err(e) => eprintln!("xtask: removing {}: {e}", self.paths.state.display()),
        }
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

/// An exclusive lock on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> Result<File> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
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
        use daemon::mounts_in;

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
        use daemon::process_gone;

        assert!(!process_gone(std::process::id()));
        assert!(process_gone(u32::MAX));
    }
}
