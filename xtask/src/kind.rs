//! kind itself: `sigs.k8s.io/kind` v0.33.0 from the Go module proxy, built by `cargo xtask
//! setup` from `xtask/go/kind` (a module whose only job is to pin kind and its dependencies in
//! its go.sum, `tool sigs.k8s.io/kind`) and cached like the control plane.

use std::path::PathBuf;

use anyhow::Result;

use crate::oracle::cached_go_program;

/// The kind binary (built on first use, about 10 s with a warm module cache).
pub(crate) fn binary() -> Result<PathBuf> {
    cached_go_program("xtask/go/kind", "sigs.k8s.io/kind", "kind", "kind v0.33.0 (xtask/go/kind)")
}
