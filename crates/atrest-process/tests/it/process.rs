//! Process hygiene with ordinary programs (`sh`, `sleep`): groups, logs, stop, drop, death signal.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use atrest_process::{InstanceDir, ManagedProcess, ProcessSpec, free_port, wait_until};

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

/// Whether `pid` is gone (no /proc entry) or a zombie nobody reaped yet (a container's PID 1
/// may not reap orphans).
pub(crate) fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
    }
}

fn sh(name: &str, script: &str) -> ProcessSpec {
    let mut spec = ProcessSpec::new(name, "/bin/sh").args(["-c", script]);
    spec.stop_timeout = Duration::from_millis(500);
    spec
}

/// Waits (up to 10 s) until `path` holds a complete line, and returns the text.
async fn read_line_from(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    wait_until(deadline, Duration::from_millis(20), || async {
        match std::fs::read_to_string(path) {
            Ok(text) if text.ends_with('\n') => ControlFlow::Break(text),
            Ok(text) => ControlFlow::Continue(text),
            Err(e) => ControlFlow::Continue(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|t| panic!("{}: no line after {:?}: {:?}", path.display(), t.waited, t.last))
}

#[tokio::test]
async fn logs_go_to_files_and_shutdown_terminates_the_group() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    // The grandchild `sleep` is in the same group; `wait` keeps sh alive.
    let script = "echo to-stderr >&2; sleep 1000 & echo $!; wait";
    let child = ManagedProcess::spawn(&sh("group", script), dir.path()).expect("spawn");
    let grandchild: u32 = read_line_from(child.stdout_log()).await.trim().parse().expect("pid");
    assert_eq!(read_line_from(child.stderr_log()).await, "to-stderr\n");
    assert!(child.exit().is_none());
    let pid = child.pid();

    let exit = child.shutdown().await;
    assert_eq!(exit.signal(), Some(SIGTERM), "{exit:?}");
    assert!(exit.requested);
    assert!(is_dead(pid));
    // The grandchild got the group's SIGTERM too; it is reaped by whoever adopted it.
    let deadline = Instant::now() + Duration::from_secs(5);
    wait_until(deadline, Duration::from_millis(20), || async {
        if is_dead(grandchild) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .await
    .unwrap_or_else(|_| panic!("grandchild {grandchild} survived the group's SIGTERM"));
}

#[tokio::test]
async fn sigkill_after_the_stop_timeout() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let child = ManagedProcess::spawn(
        &sh("stubborn", "trap '' TERM; echo ready; while :; do :; done"),
        dir.path(),
    )
    .expect("spawn");
    read_line_from(child.stdout_log()).await;
    let started = Instant::now();
    let exit = child.shutdown().await;
    assert_eq!(exit.signal(), Some(SIGKILL), "{exit:?}");
    // The stop timeout is 500 ms: SIGKILL comes after it, not long after.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn drop_stops_the_child() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let child = ManagedProcess::spawn(&sh("dropped", "echo ready; exec sleep 1000"), dir.path())
        .expect("spawn");
    read_line_from(child.stdout_log()).await;
    let pid = child.pid();
    assert!(!is_dead(pid));
    drop(child);
    assert!(is_dead(pid), "pid {pid} still alive after drop");
}

#[tokio::test]
async fn early_exit_is_observed_with_its_code() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let child = ManagedProcess::spawn(&sh("fails", "exit 3"), dir.path()).expect("spawn");
    let exit = child.exited().await;
    assert_eq!(exit.code(), Some(3));
    assert!(!exit.requested);
    assert_eq!(child.exit(), Some(exit));
    // Shutting down an exited child returns its exit and signals nothing.
    assert_eq!(child.shutdown().await.code(), Some(3));
}

#[test]
fn spawn_error_names_the_program() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let err = ManagedProcess::spawn(&ProcessSpec::new("nope", "/nonexistent/bin"), dir.path())
        .expect_err("must fail");
    assert_eq!(err.to_string(), "cannot start /nonexistent/bin");
}

/// The harness dies (SIGKILL, or SIGTERM with its default action, as nextest sends on timeout):
/// its child must die too (PR_SET_PDEATHSIG). The test re-runs this very test binary as the
/// "harness" (`ATREST_PDEATHSIG_HARNESS_PIDFILE` set), which starts `sleep`, writes its pid to a
/// file and blocks; this side kills the harness and watches the `sleep`.
#[tokio::test]
async fn child_dies_with_the_harness() {
    if let Ok(pid_file) = std::env::var("ATREST_PDEATHSIG_HARNESS_PIDFILE") {
        // Logs go next to the pid file: the outer test's directory, which it removes.
        let log_dir = Path::new(&pid_file).parent().expect("pid file has a directory");
        let child =
            ManagedProcess::spawn(&sh("orphan", "exec sleep 1000"), log_dir).expect("spawn");
        std::fs::write(&pid_file, format!("{}\n", child.pid())).expect("write pid file");
        // Block until killed by the outer test.
        let exit = child.exited().await;
        panic!("the child exited before the harness was killed: {exit:?}");
    }

    for signal in ["KILL", "TERM"] {
        let dir = InstanceDir::new("proc-test").expect("temp dir");
        let pid_file = dir.path().join("child.pid");
        let exe = std::env::current_exe().expect("current exe");
        let mut harness = std::process::Command::new(exe)
            .args(["process::child_dies_with_the_harness", "--exact", "--nocapture"])
            .env("ATREST_PDEATHSIG_HARNESS_PIDFILE", &pid_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn harness");
        let child: u32 = read_line_from(&pid_file).await.trim().parse().expect("pid");
        assert!(!is_dead(child));

        let killed = std::process::Command::new("kill")
            .args([format!("-{signal}"), harness.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let status = harness.wait().expect("reap harness");
        assert!(!status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        wait_until(deadline, Duration::from_millis(20), || async {
            if is_dead(child) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .await
        .unwrap_or_else(|_| panic!("child {child} outlived its SIG{signal}ed harness"));
    }
}

#[tokio::test]
async fn wait_until_returns_the_value_or_the_last_observation() {
    let mut n = 0u32;
    let got = wait_until(Instant::now() + Duration::from_secs(5), Duration::from_millis(1), || {
        n += 1;
        let n = n;
        async move { if n == 3 { ControlFlow::Break("done") } else { ControlFlow::Continue(n) } }
    })
    .await;
    assert_eq!(got, Ok("done"));

    let mut n = 0u32;
    let timed_out =
        wait_until(Instant::now() + Duration::from_millis(50), Duration::from_millis(5), || {
            n += 1;
            let n = n;
            async move { ControlFlow::<(), u32>::Continue(n) }
        })
        .await
        .expect_err("never ready");
    assert!(timed_out.attempts >= 2, "{timed_out:?}");
    assert_eq!(timed_out.last, Some(timed_out.attempts));
    assert!(timed_out.waited >= Duration::from_millis(50));

    // A probe that hangs is cancelled at the deadline; nothing was observed.
    let hung =
        wait_until(Instant::now() + Duration::from_millis(30), Duration::from_millis(5), || {
            std::future::pending::<ControlFlow<(), ()>>()
        })
        .await
        .expect_err("hangs");
    assert_eq!((hung.last, hung.attempts), (None, 1));
}

#[test]
fn instance_dirs_are_removed_unless_kept() {
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let path = dir.path().to_owned();
    assert!(path.is_dir());
    assert!(path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("atrest-proc-test-")));
    drop(dir);
    assert!(!path.exists());

    let mut dir = InstanceDir::new("proc-test").expect("temp dir");
    let kept = dir.keep().to_owned();
    assert!(dir.is_kept());
    drop(dir);
    assert!(kept.is_dir());
    std::fs::remove_dir_all(&kept).expect("clean up");
}

#[test]
fn free_ports_are_distinct() {
    let mut ports = atrest_process::free_ports(8).expect("ports");
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8);
}

#[test]
fn free_ports_are_bindable() {
    let port = free_port().expect("port");
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

/// A harness killed with SIGKILL never runs its drop handlers, so its instance directory (keys,
/// PKI, logs) stays behind; the next run's sweep removes it, but leaves a directory that was
/// kept on purpose and one whose owner still runs. The test re-runs this very test binary as
/// the "harness" (`ATREST_SWEEP_HARNESS` set) with a private TMPDIR: it creates one ordinary and
/// one kept instance directory, prints both paths and blocks until killed.
#[test]
fn directories_of_killed_harnesses_are_swept() {
    use std::io::{BufRead as _, BufReader};

    if std::env::var_os("ATREST_SWEEP_HARNESS").is_some() {
        let ordinary = InstanceDir::new("swept").expect("temp dir");
        let mut kept = InstanceDir::new("kept").expect("temp dir");
        kept.keep();
        println!("{}\n{}", ordinary.path().display(), kept.path().display());
        // Blocks until the outer test kills this process (stdin is a pipe it never closes).
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        panic!("the harness was not killed");
    }

    let tmp = tempfile::tempdir().expect("private TMPDIR");
    let exe = std::env::current_exe().expect("current exe");
    let mut harness = std::process::Command::new(exe)
        .args(["process::directories_of_killed_harnesses_are_swept", "--exact", "--nocapture"])
        .env("ATREST_SWEEP_HARNESS", "1")
        .env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn harness");
    // The harness prints test-runner lines too: take the two that are our directories.
    let mut paths = Vec::new();
    for line in BufReader::new(harness.stdout.take().expect("stdout")).lines() {
        let line = line.expect("read harness stdout");
        if Path::new(&line).starts_with(tmp.path()) {
            paths.push(std::path::PathBuf::from(line));
            if paths.len() == 2 {
                break;
            }
        }
    }
    let [ordinary, kept] = <[_; 2]>::try_from(paths).expect("two directories");

    // The owner runs: nothing is swept.
    assert_eq!(
        atrest_process::process::sweep_orphans(tmp.path()),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(ordinary.is_dir() && kept.is_dir());

    harness.kill().expect("SIGKILL the harness");
    assert!(!harness.wait().expect("reap harness").success());
    assert!(ordinary.is_dir(), "drop cannot have run after SIGKILL");

    assert_eq!(atrest_process::process::sweep_orphans(tmp.path()), std::slice::from_ref(&ordinary));
    assert!(!ordinary.exists());
    assert!(kept.is_dir(), "a kept directory is the user's: never swept");
}

/// Logs can hold what a real apiserver printed (key material from a rejected configuration
/// included): they are created 0600, whatever the umask.
#[tokio::test]
async fn logs_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = InstanceDir::new("proc-test").expect("temp dir");
    let child = ManagedProcess::spawn(&sh("private", "echo secret; echo secret >&2"), dir.path())
        .expect("spawn");
    read_line_from(child.stdout_log()).await;
    for log in [child.stdout_log(), child.stderr_log()] {
        let mode = std::fs::metadata(log).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", log.display());
    }
    child.shutdown().await;
}
