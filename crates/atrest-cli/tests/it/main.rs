//! End-to-end tests of the `atrest` binary: exit codes, report shapes, and values that went
//! through the real kube-apiserver (upstream's KMS v2 golden data), and `cluster up` and
//! `inspect` against the real binaries (`ATREST_ASSETS`).

#![expect(clippy::unwrap_used, reason = "test helpers panic on broken fixtures")]

mod bench;
mod broken_pipe;
mod check_config;
mod cluster_up;
mod crypt;
mod help;
mod inspect;
mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `atrest` from the workspace root with `stdin` as standard input.
pub(crate) fn atrest(args: &[&str], stdin: &[u8]) -> Output {
    atrest_in(&root(), args, stdin)
}

/// Runs `atrest` from `dir`.
pub(crate) fn atrest_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .current_dir(dir)
        .env_remove("ATREST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}
