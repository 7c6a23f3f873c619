//! kind itself: `sigs.k8s.io/kind` v0.33.0 from the Go module proxy, built by `cargo xtask
//! setup` from `xtask/go/kind` (a module whose only job is to pin kind and its dependencies in
//! its go.sum, `tool sigs.k8s.io/kind`) and cached like the control plane.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::oracle::{cache_dir, cached_go_program};

/// The kind binary (built on first use, about 10 s with a warm module cache). Its directory's
/// name goes into `<cache>/kind-current`, where atrest's kind backend looks for it.
pub(crate) fn binary() -> Result<PathBuf> {
    let kind = cached_go_program(
        "xtask/go/kind",
        "sigs.k8s.io/kind",
        "kind",
        "kind v0.33.0 (xtask/go/kind)",
    )?;
    let dir = kind.parent().and_then(|d| d.file_name()).context("kind's cache directory")?;
    let current = cache_dir().join("kind-current");
    if fs::read_to_string(&current).ok().as_deref().map(str::trim) != dir.to_str() {
        let staged = current.with_extension(format!("{}.tmp", std::process::id()));
        fs::write(&staged, dir.as_encoded_bytes())
            .with_context(|| format!("writing {}", staged.display()))?;
        fs::rename(&staged, &current).with_context(|| format!("writing {}", current.display()))?;
    }
    Ok(kind)
}
