//! Where the etcd and kube-apiserver binaries are: `ATREST_ASSETS`, else envtest's
//! `KUBEBUILDER_ASSETS`; `cargo xtask setup` builds them and exports `ATREST_ASSETS`.

use std::path::{Path, PathBuf};

/// The binaries this backend runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
}

/// The binaries are not where the environment says, or the environment says nothing.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// Neither variable is set.
    #[error(
        "neither ATREST_ASSETS nor KUBEBUILDER_ASSETS is set: run `cargo xtask setup` (it builds \
         kube-apiserver and etcd and prints the directory), then export ATREST_ASSETS=<dir>"
    )]
    NotSet,
    /// The directory lacks a binary.
    #[error(
        "{} does not exist ({var}={}): run `cargo xtask setup` and export ATREST_ASSETS=<dir>",
        missing.display(), dir.display()
    )]
    Missing {
        /// The variable that named the directory.
        var: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The missing file.
        missing: PathBuf,
    },
}

impl Assets {
    /// The binaries in `dir`.
    pub fn in_dir(dir: &Path) -> Assets {
        Assets { kube_apiserver: dir.join("kube-apiserver"), etcd: dir.join("etcd") }
    }

    /// From `ATREST_ASSETS` or `KUBEBUILDER_ASSETS`; both binaries must exist.
    pub fn from_env() -> Result<Assets, AssetsError> {
        let (var, dir) = ["ATREST_ASSETS", "KUBEBUILDER_ASSETS"]
            .into_iter()
            .find_map(|var| {
                std::env::var_os(var).filter(|v| !v.is_empty()).map(|v| (var, PathBuf::from(v)))
            })
            .ok_or(AssetsError::NotSet)?;
        let assets = Assets::in_dir(&dir);
        for path in [&assets.kube_apiserver, &assets.etcd] {
            if !path.is_file() {
                return Err(AssetsError::Missing { var, dir, missing: path.clone() });
            }
        }
        Ok(assets)
    }
}
