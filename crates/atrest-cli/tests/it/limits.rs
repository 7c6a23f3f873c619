//! Every user input is read bounded (`atrest-input`): devices refused, oversized files refused
//! with the limit, pipes read with a deadline.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{root, stderr, stdout};

const CONFIG: &str = "scenarios/configs/secretbox.yaml";
const SECRET_KEY: &str = "/registry/secrets/default/s1";

/// Runs `atrest` from the workspace root with a short pipe deadline, writing `stdin` from a
/// thread (the child may stop reading early, so a broken pipe is expected, not a failure).
fn run(args: &[&str], stdin: Vec<u8>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(root())
        .env_remove("ATREST_LOG")
        .env("ATREST_FIFO_TIMEOUT_MS", "500")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&stdin);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn both(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// A failure whose output names `path` and contains `text`.
fn assert_refused(out: &Output, path: &str, text: &str) {
    assert_ne!(out.status.code(), Some(0), "{}", both(out));
    let all = both(out);
    assert!(all.contains(path) && all.contains(text), "want {path:?} and {text:?} in:\n{all}");
}

#[test]
fn dev_zero_is_refused_as_every_kind_of_input() {
    let not_regular = "not a regular file but a character device";
    let cases: [&[&str]; 7] = [
        &["check-config", "/dev/zero"],
        &["decrypt", "--config", "/dev/zero", "--etcd-key", SECRET_KEY],
        &["encrypt", "--config", "/dev/zero", "--etcd-key", SECRET_KEY],
        &["decrypt", "--config", CONFIG, "--etcd-key", SECRET_KEY, "--in", "/dev/zero"],
        &["encrypt", "--config", CONFIG, "--etcd-key", SECRET_KEY, "--in", "/dev/zero"],
        &["scenario", "/dev/zero"],
        &["scenario", "rotate", "--config", "/dev/zero"],
    ];
    for args in cases {
        let out = run(args, Vec::new());
        assert_refused(&out, "/dev/zero", not_regular);
    }
    let out =
        run(&["inspect", "--config", "/dev/zero", "--etcd", "http://127.0.0.1:1"], Vec::new());
    assert_refused(&out, "/dev/zero", not_regular);
}

#[test]
fn stdin_over_the_value_limit_is_refused() {
    let too_much = vec![b'x'; (16 << 20) + 1];
    let out =
        run(&["decrypt", "--config", CONFIG, "--etcd-key", SECRET_KEY, "--in", "-"], too_much);
    assert_refused(&out, "standard input", "larger than the 16 MiB limit for an etcd value");
}

#[test]
fn oversized_regular_files_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = |name: &str, len: usize| {
        let path = dir.path().join(name);
        std::fs::write(&path, vec![b'#'; len]).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // A config gets the decoder's own budget error, so the read stops at one byte over.
    let config = big("big-config.yaml", (4 << 20) + 1);
    let out = run(&["check-config", &config], Vec::new());
    assert_refused(&out, &config, "input exceeds the decoding budget: more than 4194304 bytes");

    let value = big("big-value", (16 << 20) + 1);
    let out =
        run(&["decrypt", "--config", CONFIG, "--etcd-key", SECRET_KEY, "--in", &value], Vec::new());
    assert_refused(&out, &value, "larger than the 16 MiB limit for an etcd value");

    let scenario = big("big.yaml", (1 << 20) + 1);
    let out = run(&["scenario", &scenario], Vec::new());
    assert_refused(&out, &scenario, "larger than the 1 MiB limit for a scenario file");

    let user_config = big("big-user.yaml", (4 << 20) + 1);
    let out = run(&["scenario", "rotate", "--config", &user_config], Vec::new());
    assert_refused(
        &out,
        &user_config,
        "larger than the 4 MiB limit for an encryption configuration",
    );
}

fn fifo(dir: &Path) -> String {
    let path = dir.join("fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_fifo_without_a_writer_fails_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    for args in [
        vec!["check-config", &path],
        vec!["decrypt", "--config", CONFIG, "--etcd-key", SECRET_KEY, "--in", &path],
    ] {
        let started = Instant::now();
        let out = run(&args, Vec::new());
        // The deadline is 500 ms; a hang would block this test until nextest's timeout.
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        assert_refused(&out, &path, "no data for 500 ms");
    }
}

#[test]
fn a_fifo_with_a_writer_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let text = std::fs::read(root().join(CONFIG)).unwrap();
    let writer_path = path.clone();
    // Opening for writing blocks until atrest opens the FIFO for reading.
    let writer = std::thread::spawn(move || std::fs::write(writer_path, text).unwrap());
    let out = run(&["check-config", &path], Vec::new());
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}
