//! `atrest … | head -1`: when the reader of standard output stops early, the writes that follow
//! fail with EPIPE, and the binary ends quietly with exit code 0 (as ripgrep does) instead of
//! panicking. Each command below exits non-zero when its output is read to the end, and prints
//! more than a pipe holds (64 KiB), so an exit code of 0 shows that the broken pipe was hit.
//! A closed standard error is dropped silently and keeps each command's own exit code.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use crate::{atrest_in, root, stderr};

/// Runs `atrest` from `dir` with standard output a pipe whose reader reads one line and then
/// closes it. Returns the line, the exit status and standard error.
fn atrest_head_1(dir: &Path, args: &[&str]) -> (String, ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(dir)
        .env_remove("ATREST_LOG")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    // The reader is gone now: the child's next write to standard output fails.
    let out = child.wait_with_output().unwrap();
    (first, out.status, String::from_utf8(out.stderr).unwrap())
}

fn assert_quiet(command: &str, status: ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(0), "{command}: {stderr}");
    for noise in ["panicked", "Broken pipe", "error:"] {
        assert!(!stderr.contains(noise), "{command} printed {noise:?}: {stderr}");
    }
}

/// A scenario whose expectation fails on the sim backend (exit 1), with a long description.
fn failing_scenario() -> String {
    let config = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
resources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: mine\n        \
secret: ${key:mine}\n  - identity: {}\n";
    format!(
        "description: expects plaintext where aesgcm writes{}\nconfigs:\n  c: |\n{}\nsteps:\n  \
         - writeConfig: {{config: c}}\n  - start: {{}}\n  - create: {{secret: s, data: {{k: v}}}}\n  \
         - expectStored: {{secret: s, plaintext: true}}\n",
        ", and says so at length".repeat(60),
        config.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    )
}

#[test]
fn check_config_ends_quietly_when_the_reader_stops() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-version.yaml");
    fs::write(&file, "kind: EncryptionConfiguration\nresources: []\n").unwrap();
    let file = file.display().to_string();
    let mut args = vec!["check-config"];
    args.extend(std::iter::repeat_n(file.as_str(), 1000));
    assert_eq!(atrest_in(&root(), &args, b"").status.code(), Some(1), "read to the end");

    let (first, status, stderr) = atrest_head_1(&root(), &args);
    assert_eq!(first, format!("{file}: INVALID: kube-apiserver would exit with:\n"));
    assert_quiet("check-config", status, &stderr);
    args.insert(1, "--format=json");
    let (first, status, stderr) = atrest_head_1(&root(), &args);
    assert_eq!(first, "{\n");
    assert_quiet("check-config --format=json", status, &stderr);
}

#[test]
fn scenarios_ends_quietly_when_the_reader_stops() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300 {
        fs::write(dir.path().join(format!("s{i:03}.yaml")), failing_scenario()).unwrap();
    }
    // Listed last: an invalid file makes the listing exit 2.
    fs::write(dir.path().join("z-invalid.yaml"), "steps: 3\n").unwrap();
    let dir = dir.path().display().to_string();
    let args = ["scenarios", "--dir", &dir];
    let out = atrest_in(&root(), &args, b"");
    assert_eq!(out.status.code(), Some(2), "read to the end: {}", stderr(&out));

    let (first, status, stderr) = atrest_head_1(&root(), &args);
    assert!(first.starts_with("s000 "), "{first}");
    assert_quiet("scenarios", status, &stderr);
}

#[test]
fn scenario_report_ends_quietly_when_the_reader_stops() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        fs::write(dir.path().join(format!("s{i:02}.yaml")), failing_scenario()).unwrap();
    }
    let dir = dir.path().display().to_string();
    let args = ["scenario", "--all", "--dir", &dir, "--report", "json"];
    let out = atrest_in(&root(), &args, b"");
    assert_eq!(out.status.code(), Some(1), "read to the end: {}", stderr(&out));
    assert!(out.stdout.len() > 64 << 10, "more than a pipe holds: {}", out.stdout.len());

    let (first, status, stderr) = atrest_head_1(&root(), &args);
    assert!(first.starts_with('{'), "{first}");
    assert_quiet("scenario --report json", status, &stderr);
}

/// Runs `atrest` from the workspace root with standard error a pipe whose reader has already
/// gone, and `stdin` as standard input. Returns the exit status and standard output.
fn atrest_closed_stderr(args: &[&str], stdin: &[u8]) -> (ExitStatus, Vec<u8>) {
    use std::io::Write as _;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(root())
        .env_remove("ATREST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(writer)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status, out.stdout)
}

/// A closed standard error loses the diagnostics, never the exit code: no panic (101), whether
/// the command failed (1), could not run (2) or passed while printing progress there (0).
#[test]
fn a_closed_stderr_keeps_the_exit_code() {
    let value = b"k8s:enc:aescbc:v1:key1:0123456789abcdef0123456789abcdef";
    let secretbox = "scenarios/configs/secretbox.yaml";
    let key = "/registry/secrets/default/s1";
    let cases: [(&[&str], i32); 4] = [
        (&["decrypt", "--config", secretbox, "--etcd-key", key], 1),
        (&["encrypt", "--config", "scenarios/configs/tutorial-step1.yaml", "--etcd-key", key], 1),
        (&["decrypt", "--config", secretbox], 2),
        (&["scenario", "rotate"], 0),
    ];
    for (args, code) in cases {
        let (status, stdout) = atrest_closed_stderr(args, value);
        assert_eq!(status.code(), Some(code), "{args:?}");
        if code == 0 {
            assert!(String::from_utf8(stdout).unwrap().contains("PASSED"), "{args:?}");
        }
    }
}
