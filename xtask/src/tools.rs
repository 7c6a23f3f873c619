//! Tools the tests need, installed from the registries this project's machines reach.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run};

/// The cargo-nextest release the project's runs are checked with.
const NEXTEST_VERSION: &str = "0.9.151";

/// Installs cargo-nextest from crates.io when `cargo nextest` is missing.
pub(crate) fn ensure_nextest() -> Result<()> {
    let present = cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!(
        "xtask: cargo-nextest is missing; installing it from crates.io (a few minutes, once)"
    );
    run(cargo().args(["install", "--locked", "cargo-nextest", "--version", NEXTEST_VERSION]))
        .with_context(|| {
            format!(
                "installing cargo-nextest (`cargo install --locked cargo-nextest --version {NEXTEST_VERSION}`)"
            )
        })
}

/// The `go` toolchain's version line; fails with instructions when Go is missing.
pub(crate) fn go_version() -> Result<String> {
    let out = Command::new("go").arg("version").output();
    match out {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => bail!("`go version` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(err) => bail!(
            "the Go toolchain is required to build the upstream oracle and the control plane \
             (go 1.26 or newer on PATH): {err}"
        ),
    }
}

/// Installs Debian's `protobuf-compiler` when `protoc` is missing: the etcd-client crate's build
/// script runs it (control-plane.md §10). Skipped when `PROTOC` is set or `protoc` is on `PATH`.
pub(crate) fn ensure_protoc() -> Result<()> {
    if env::var_os("PROTOC").is_some_and(|v| !v.is_empty()) || find_on_path("protoc").is_some() {
        return Ok(());
    }
    let manual = "install Debian's protobuf-compiler (`apt-get install protobuf-compiler`) or set \
                  PROTOC to a protoc binary";
    if find_on_path("apt-get").is_none() {
        bail!("protoc is missing and this machine has no apt-get: {manual}");
    }
    // apt-get needs root; use sudo only when it works without a password prompt.
    let sudo = !is_root();
    if sudo && find_on_path("sudo").is_none() {
        bail!("protoc is missing and installing it needs root: {manual}");
    }
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            let mut cmd = Command::new("sudo");
            cmd.args(["-n", "--preserve-env=DEBIAN_FRONTEND", "apt-get"]);
            cmd
        } else {
            Command::new("apt-get")
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
        cmd
    };
    eprintln!(
        "xtask: protoc is missing (the etcd-client crate's build needs it); installing Debian's \
         protobuf-compiler"
    );
    // The package lists may be absent or stale on a fresh machine: update once first.
    run(&mut apt(&["update", "-q"]))
        .with_context(|| format!("`apt-get update` failed; {manual}"))?;
    run(&mut apt(&["install", "-y", "-q", "--no-install-recommends", "protobuf-compiler"]))
        .with_context(|| format!("installing protobuf-compiler failed; {manual}"))?;
    if find_on_path("protoc").is_none() {
        bail!("protobuf-compiler is installed but protoc is not on PATH: {manual}");
    }
    Ok(())
}

/// The first executable file called `name` in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| {
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether this process runs as root (`id -u` prints 0); std has no geteuid.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_on_path_only() {
        // `sh` is on PATH on every machine this runs on; a made-up name is not.
        assert!(find_on_path("sh").is_some_and(|p| p.is_absolute() || p.starts_with(".")));
        assert!(find_on_path("atrest-no-such-tool-7f3a").is_none());
    }
}
