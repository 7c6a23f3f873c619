//! Where the etcd and kube-apiserver binaries are: `ATREST_ASSETS`, else envtest's
//! `KUBEBUILDER_ASSETS`, else the build `cargo xtask setup` left in the atrest cache, so the
//! installed `atrest` binary runs the real control plane without any environment variable.

use std::path::{Path, PathBuf};

/// The binaries this backend runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
}

/// The variables that name a directory of prebuilt binaries, in lookup order.
const ASSET_VARS: [&str; 2] = ["ATREST_ASSETS", "KUBEBUILDER_ASSETS"];

/// The binaries are not where the environment says, or nowhere to be found.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// No variable is set and `cargo xtask setup` has built nothing in the cache.
    #[error(
        "no kube-apiserver and etcd found (ATREST_ASSETS is unset and {} holds no build): run \
         `cargo xtask setup` in the atrest repository once (builds both from Go modules: 8-20 \
         minutes on 2 cores, cached afterwards), or set ATREST_ASSETS to a directory holding both",
        cache.display()
    )]
    NotFound {
        /// The cache directory that was searched (`<cache>/cp-bin`).
        cache: PathBuf,
    },
    /// The directory a variable names lacks a binary.
    #[error(
        "{} does not exist ({var}={}): point {var} at a directory holding kube-apiserver and \
         etcd, or unset it to use the build of `cargo xtask setup`",
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

    /// etcd's `etcdutl` next to `etcd`, if it is there (`cargo xtask setup` builds it; an
    /// envtest directory has none).
    pub fn etcdutl(&self) -> Option<PathBuf> {
        Some(self.etcd.with_file_name("etcdutl")).filter(|p| p.is_file())
    }

    /// Whether both binaries exist as files.
    fn complete(&self) -> bool {
        self.kube_apiserver.is_file() && self.etcd.is_file()
    }

    /// `ATREST_ASSETS`, else `KUBEBUILDER_ASSETS` (a set variable must name a directory with
    /// both binaries), else the build `cargo xtask setup` made last ([`setup_build`]).
    pub fn locate() -> Result<Assets, AssetsError> {
        for var in ASSET_VARS {
            let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
            else {
                continue;
            };
            let assets = Assets::in_dir(&dir);
            for path in [&assets.kube_apiserver, &assets.etcd] {
                if !path.is_file() {
                    return Err(AssetsError::Missing { var, dir, missing: path.clone() });
                }
            }
            return Ok(assets);
        }
        let cp_bin = cache_dir().join("cp-bin");
        setup_build(&cp_bin).ok_or(AssetsError::NotFound { cache: cp_bin })
    }
}

/// The atrest cache directory: `$ATREST_CACHE_DIR`, else `$XDG_CACHE_HOME/atrest`, else
/// `~/.cache/atrest`. The same rule as xtask's `oracle::cache_dir`, which writes there (xtask
/// links none of the engine's crates, so the rule is written twice).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATREST_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("atrest");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("atrest")
}

/// The complete build in `cp_bin` (`<cache>/cp-bin`) that `cargo xtask setup` provided last:
/// the directory its `current` file names; without that file (a cache from before it existed),
/// the most recently built complete directory. Unfinished builds (`*.partial`) never count.
pub fn setup_build(cp_bin: &Path) -> Option<Assets> {
    if let Ok(key) = std::fs::read_to_string(cp_bin.join("current")) {
        let key = key.trim();
        // A key is a plain directory name; anything else is not ours to follow.
        if !key.is_empty() && !key.contains('/') && !key.starts_with('.') {
            let assets = Assets::in_dir(&cp_bin.join(key));
            if assets.complete() {
                return Some(assets);
            }
        }
    }
    std::fs::read_dir(cp_bin)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| !n.contains('.')))
        .map(|e| Assets::in_dir(&e.path()))
        .filter(Assets::complete)
        .filter_map(|a| {
            let built = std::fs::metadata(&a.kube_apiserver).and_then(|m| m.modified()).ok()?;
            Some((built, a))
        })
        .max_by_key(|(built, _)| *built)
        .map(|(_, assets)| assets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(cp_bin: &Path, key: &str) -> Assets {
        let dir = cp_bin.join(key);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for bin in ["kube-apiserver", "etcd"] {
            std::fs::write(dir.join(bin), b"").expect("write");
        }
        Assets::in_dir(&dir)
    }

    #[test]
    fn setup_build_follows_current_then_the_newest_complete_build() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cp_bin = tmp.path();
        assert_eq!(setup_build(cp_bin), None);

        // An unfinished build is never used.
        build(cp_bin, "aaaa.partial");
        assert_eq!(setup_build(cp_bin), None);

        let old = build(cp_bin, "bbbb");
        assert_eq!(setup_build(cp_bin), Some(old.clone()));

        // `current` wins over modification times.
        let newer = build(cp_bin, "cccc");
        std::fs::write(cp_bin.join("current"), "bbbb\n").expect("write current");
        assert_eq!(setup_build(cp_bin), Some(old));
        std::fs::write(cp_bin.join("current"), "cccc\n").expect("write current");
        assert_eq!(setup_build(cp_bin), Some(newer.clone()));

        // A `current` that names nothing usable falls back to the directory scan.
        std::fs::write(cp_bin.join("current"), "../elsewhere\n").expect("write current");
        assert!(setup_build(cp_bin).is_some());
        std::fs::remove_file(newer.etcd).expect("rm");
        std::fs::write(cp_bin.join("current"), "cccc\n").expect("write current");
        assert_eq!(
            setup_build(cp_bin).map(|a| a.kube_apiserver.parent().map(Path::to_owned)),
            Some(Some(cp_bin.join("bbbb")))
        );
    }

    #[test]
    fn not_found_says_what_to_run_on_one_line() {
        let text = AssetsError::NotFound { cache: PathBuf::from("/home/u/.cache/atrest/cp-bin") }
            .to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("cargo xtask setup"), "{text}");
        assert!(text.contains("/home/u/.cache/atrest/cp-bin"), "{text}");
    }
}
