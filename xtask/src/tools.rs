//! Tools the tests need, installed from the registries this project's machines reach.

use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run};

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
    run(cargo().args(["install", "--locked", "cargo-nextest"]))
        .context("installing cargo-nextest (`cargo install --locked cargo-nextest`)")
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
