//! End-to-end tests of the `atrest` binary: exit codes, report shapes, and values that went
//! through the real kube-apiserver (upstream's KMS v2 golden data), and `cluster up` and
//! `inspect` against the real binaries (`ATREST_ASSETS`).

#![expect(clippy::unwrap_used, reason = "test helpers panic on broken fixtures")]

mod bench;
mod broken_pipe;
mod check_config;
mod cluster_up;
mod crypt;
mod engine_death;
mod existing;
mod help;
mod inspect;
mod kind_config;
mod kms_plugin;
mod limits;
mod preflight;
mod rehearse;
mod rewrite;
mod scenario;
mod status;

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
        .env_remove("KUBECONFIG")
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

/// Plants a symlink at `link` pointing to a fresh file holding `precious`; returns the target.
pub(crate) fn plant_symlink(link: &Path, precious: &str) -> PathBuf {
    let target = link.with_extension("target");
    std::fs::write(&target, precious).unwrap();
    std::os::unix::fs::symlink(&target, link).unwrap();
    target
}

/// The refusal of a symlinked output: exit 2, one line naming it, the target untouched.
pub(crate) fn assert_symlink_refused(out: &Output, link: &Path, target: &Path, precious: &str) {
    assert_eq!(out.status.code(), Some(2), "{}{}", stdout(out), stderr(out));
    assert!(
        stderr(out).contains(&format!(
            "error: refusing to write {}: it is a symbolic link (remove it, or choose another path)",
            link.display()
        )),
        "{}",
        stderr(out)
    );
    assert_eq!(std::fs::read_to_string(target).unwrap(), precious);
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
}
