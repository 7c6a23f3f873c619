//! A Docker engine that dies in the middle of a `--backend containers` run, on a private dockerd
//! (its own socket, data root, exec root and pid file in a temporary directory) so the
//! project's shared engine is never touched.
//!
//! What happens then, as seen on these machines (Docker 20.10, containerd 1.6): dockerd's
//! containerd dies with it, every watch on the engine's API ends (as an attached `docker run`
//! client would, with exit code 125, "error waiting for container: unexpected EOF"), and the
//! containers' processes keep running under their `containerd-shim-runc-v2`, reparented to
//! init, out of reach of `docker rm -f`.

use std::fs;
use std::ops::ControlFlow;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's Docker packages, as `cargo xtask setup` unpacked them.
fn docker_pkg() -> PathBuf {
    let docker = atrest_process::cache_dir().join("docker");
    let version = fs::read_to_string(docker.join("current")).unwrap_or_else(|e| {
        panic!("no {}/current ({e}): run `cargo xtask setup`", docker.display())
    });
    docker.join("pkg").join(version.trim())
}

/// Polls `probe` every 20 ms until it breaks; panics with its last observation after `within`.
fn poll<T>(within: Duration, mut probe: impl FnMut() -> ControlFlow<T, String>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime
        .block_on(atrest_process::wait_until(
            Instant::now() + within,
            Duration::from_millis(20),
            || std::future::ready(probe()),
        ))
        .unwrap_or_else(|t| panic!("still not there after {within:?}: {:?}", t.last))
}

/// A dockerd of the project's packages in a temporary directory, killed on drop with what it
/// leaves (its containerd, the containers' processes, its mounts).
struct PrivateDockerd {
    dir: tempfile::TempDir,
    child: Child,
    host: String,
}

impl PrivateDockerd {
    fn start() -> PrivateDockerd {
        let pkg = docker_pkg();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("daemon.json"), "{}\n").unwrap();
        let host = format!("unix://{}", d.join("docker.sock").display());
        let path = std::env::join_paths(
            [pkg.join("usr/sbin"), pkg.join("usr/bin")]
                .into_iter()
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let child = Command::new(pkg.join("usr/sbin/dockerd"))
            .arg("--host")
            .arg(&host)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("x"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("--init-path")
            .arg(pkg.join("usr/bin/tini-static"))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .env("PATH", path)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("dockerd.log")).unwrap())
            .stderr(fs::File::create(d.join("dockerd.err.log")).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut daemon = PrivateDockerd { dir, child, host };
        poll(Duration::from_secs(60), || match daemon.docker_try(&["version"]) {
            Ok(_) => ControlFlow::Break(()),
            Err(e) => ControlFlow::Continue(e),
        });
        // The project's images, copied from the shared engine (never pulled).
        let mut save = Command::new("docker")
            .args(["save", atrest_containers::ETCD_IMAGE, atrest_containers::KUBE_APISERVER_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .args(["-H", &daemon.host, "load"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save from the shared engine failed");
        assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
        if let Some(s) = daemon.child.try_wait().unwrap() {
            panic!("dockerd exited: {s}");
        }
        daemon
    }

    fn docker_try(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker").arg("-H").arg(&self.host).args(args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// SIGKILL to dockerd alone, as a crash or the OOM killer would; waits until it is gone.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn containerd_pid(&self) -> Option<i32> {
        let pidfile = self.dir.path().join("x/containerd/containerd.pid");
        fs::read_to_string(pidfile).ok()?.trim().parse().ok()
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(pid) = self.containerd_pid().filter(|&p| alive(p)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Whatever a failed assertion left: the containers' processes and shims, found by the
        // ids the engine recorded in its data root.
        for id in container_ids(self.dir.path()) {
            atrest_process::container::kill_leftovers(&id);
        }
        // Overlay and netns mounts under the directory, deepest first, so it can be removed.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(self.dir.path()))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg(m).status();
        }
    }
}

/// The ids of the containers an engine with data root `<dir>/data` created.
fn container_ids(dir: &Path) -> Vec<String> {
    fs::read_dir(dir.join("data/containers"))
        .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

/// Whether `pid` runs (a zombie has ended: only its parent's wait is missing).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// Processes still running in a cgroup of container `id`, or as its shim.
fn processes_of(id: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cgroup = fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let shim = String::from_utf8_lossy(&cmdline).contains(&format!("-id\0{id}"));
        if (cgroup.contains(id) || shim) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// SIGKILLs the private engine under a running `atrest` (whose etcd and one apiserver it
/// runs) and waits until `atrest` has ended; returns the containers' ids and how it ended.
fn kill_engine_under(
    daemon: &mut PrivateDockerd,
    atrest: &mut std::process::Child,
    within: Duration,
) -> (Vec<String>, std::process::ExitStatus) {
    let ids: Vec<String> = daemon
        .docker_try(&["ps", "-q", "--no-trunc"])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2, "etcd and one apiserver: {ids:?}");
    daemon.kill();
    let status = poll(within, || match atrest.try_wait().unwrap() {
        Some(status) => ControlFlow::Break(status),
        None => ControlFlow::Continue("atrest still running".to_owned()),
    });
    (ids, status)
}

const SCENARIO: &str =
    "description: creates and gets long enough for the Docker engine to die under them
configs:
  identity: {library: identity}
steps:
  - writeConfig: {config: identity}
  - start: {}
  - measure: {name: identity, objects: 2000, size: 64}
  - create: {secret: s, data: {k: v}}
  - expectStored: {secret: s, plaintext: true}
";

/// The engine dies after the apiserver is up: exit 2, an error naming the Docker engine and
/// what to do, and no process of the run's containers (nor their shims) left running.
#[test]
fn scenario_containers_engine_dies_mid_run() {
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    let mut daemon = PrivateDockerd::start();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("long.yaml");
    fs::write(&file, SCENARIO).unwrap();
    let err_log = work.path().join("stderr");
    let mut atrest = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["scenario", file.to_str().unwrap(), "--backend", "containers"])
        .current_dir(work.path())
        .env("DOCKER_HOST", &daemon.host)
        // The failed run keeps its logs (and says where): inside `work`, removed with it.
        .env("TMPDIR", work.path())
        .env_remove("ATREST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    // Step 2 (`start`) reported: etcd and the apiserver run, the long `measure` is under way.
    poll(Duration::from_secs(120), || {
        let err = fs::read_to_string(&err_log).unwrap_or_default();
        if err.contains("] start all apiservers") {
            ControlFlow::Break(())
        } else if let Some(status) = atrest.try_wait().unwrap() {
            panic!("atrest ended first ({status}):\n{err}");
        } else {
            ControlFlow::Continue(err)
        }
    });
    let (ids, status) = kill_engine_under(&mut daemon, &mut atrest, Duration::from_secs(120));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut atrest.stdout.take().unwrap(), &mut out).unwrap();
    let err = fs::read_to_string(&err_log).unwrap();
    assert_eq!(status.code(), Some(2), "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains(&format!("the Docker engine at {} stopped answering", daemon.host)),
        "{all}"
    );
    assert!(all.contains("start the engine again"), "{all}");
    assert!(all.contains("cargo xtask setup"), "{all}");
    // The engine's containerd went with it; the members' processes and shims must not stay.
    assert!(daemon.containerd_pid().is_none_or(|p| !alive(p)), "containerd outlived dockerd");
    for id in &ids {
        assert_eq!(processes_of(id), Vec::<i32>::new(), "container {id} still runs");
    }
}

/// The same under `atrest cluster up --backend containers`: once ready, the engine dies; exit
/// 2 naming the engine, and no process of the cluster's containers left.
#[test]
fn cluster_up_containers_engine_dies() {
    atrest_containers::preflight().unwrap_or_else(|e| panic!("{e}"));
    let mut daemon = PrivateDockerd::start();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let err_log = work.path().join("stderr");
    let mut atrest = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["cluster", "up", "--backend", "containers", "--state-dir"])
        .arg(&state)
        .env("DOCKER_HOST", &daemon.host)
        // The failed run keeps its logs (and says where): inside `work`, removed with it.
        .env("TMPDIR", work.path())
        .env_remove("ATREST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_log).unwrap())
        .spawn()
        .unwrap();
    poll(Duration::from_secs(120), || {
        if state.join("ready").exists() {
            ControlFlow::Break(())
        } else if let Some(status) = atrest.try_wait().unwrap() {
            panic!("atrest ended first ({status}):\n{}", fs::read_to_string(&err_log).unwrap());
        } else {
            ControlFlow::Continue(fs::read_to_string(&err_log).unwrap_or_default())
        }
    });
    let (ids, status) = kill_engine_under(&mut daemon, &mut atrest, Duration::from_secs(60));
    let err = fs::read_to_string(&err_log).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("the Docker engine at {} stopped answering", daemon.host)),
        "{err}"
    );
    assert!(err.contains("cargo xtask setup"), "{err}");
    for id in &ids {
        assert_eq!(processes_of(id), Vec::<i32>::new(), "container {id} still runs");
    }
}
