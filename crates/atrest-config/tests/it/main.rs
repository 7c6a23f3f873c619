//! atrest-config integration tests: one binary, one module per area.
//!
//! Expected texts come from upstream: `tests/data/**/*.expected`, `*.decoded` and
//! `tests/data/vectors/*.json` are written by the Go oracle (`xtask/go/oracle/cmd/config-oracle`),
//! see `tests/data/README.md`.

mod data;
mod decode_api;
mod diagnostics;
mod exceptions;
mod keygen;
mod large;
mod lints;
mod positions;
mod props;
mod resolve;
mod validate;
mod vectors;

use std::path::{Path, PathBuf};

/// `crates/atrest-config/tests/data`.
pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}
