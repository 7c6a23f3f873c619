//! The check of `kind-configs/`: every kind config there is decoded strictly with kind's own
//! v1alpha4 types and its kubeadm patches with kubeadm's own types (`xtask/go/kindcheck`, a Go
//! program built once per source and Go version into the cache), so a misspelt field fails the
//! test run instead of a `kind create cluster`.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::oracle::cached_go_program;
use crate::{project_root, run};

/// Builds the checker (or reuses the cached build) and runs it on every `kind-configs/*.yaml`.
pub(crate) fn check() -> Result<()> {
    let checker = build()?;
    let dir = project_root().join("kind-configs");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    if files.is_empty() {
        bail!("no kind configs in {}", dir.display());
    }
    run(Command::new(&checker).args(&files))
        .context("a kind config does not decode with kind's and kubeadm's own types")
}

fn build() -> Result<PathBuf> {
    cached_go_program(
        "xtask/go/kindcheck",
        ".",
        "kindcheck",
        "xtask/go/kindcheck (sigs.k8s.io/kind v0.33.0, k8s.io/kubernetes v1.37.2)",
    )
}
