//! The Go oracle: small programs that run upstream k8s.io/apiserver v0.37.2 code (the
//! encryption config loader, the storage transformers, the object serializer) so that golden
//! files hold what upstream really prints and stores, not what our code produced.
//!
//! Binaries are cached under the atrest cache directory, keyed by a hash of the Go sources and
//! the Go version, so a second run is a no-op.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::{project_root, run, tools};

const PROGRAMS: [&str; 3] = ["config-oracle", "transform-oracle", "object-oracle"];

/// The atrest cache directory: `$ATREST_CACHE_DIR`, else `$XDG_CACHE_HOME/atrest`, else
/// `~/.cache/atrest`.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("ATREST_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("atrest");
    }
    let home = env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("atrest")
}

fn oracle_src() -> PathBuf {
    project_root().join("xtask/go/oracle")
}

/// Builds the oracle programs (or reuses the cached build) and returns their directory.
pub(crate) fn build() -> Result<PathBuf> {
    let go = tools::go_version()?;
    let src = oracle_src();
    let mut hasher = Fnv64::default();
    hasher.write(go.as_bytes());
    hash_tree(&src, &src, &mut hasher)?;
    let dir = cache_dir().join(format!("oracle-{:016x}", hasher.0));
    if PROGRAMS.iter().all(|p| dir.join(p).is_file()) {
        return Ok(dir);
    }
    eprintln!(
        "xtask: building the Go oracle (upstream k8s.io/apiserver v0.37.2) into {}",
        dir.display()
    );
    let staging = dir.with_extension("partial");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut out = staging.as_os_str().to_owned();
    out.push("/");
    run(Command::new("go")
        .current_dir(&src)
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-modcacherw -mod=readonly")
        .env("CGO_ENABLED", "0")
        .args(["build", "-trimpath", "-o"])
        .arg(out)
        .arg("./cmd/..."))
    .context("building the Go oracle")?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving the oracle to {}", dir.display()))?;
    Ok(dir)
}

/// Hashes every file under `dir` (paths relative to `root`, sorted, then contents).
fn hash_tree(root: &Path, dir: &Path, hasher: &mut Fnv64) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            hash_tree(root, &path, hasher)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            hasher.write(rel.to_string_lossy().as_bytes());
            hasher.write(&fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    Ok(())
}

/// FNV-1a, 64 bit: a stable cache key without a hashing dependency.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separate fields so ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// A golden file that an oracle program regenerates deterministically.
struct Golden {
    program: &'static str,
    args: &'static [&'static str],
    path: &'static str,
}

/// Every deterministic golden file and the oracle command that produces it.
/// Goldens holding upstream's random output (fresh nonces) are not listed: they are checked by
/// decrypting them, not by comparing bytes.
const GOLDENS: &[Golden] = &[Golden {
    program: "object-oracle",
    args: &[],
    path: "crates/atrest-objects/tests/data/objects.json",
}];

/// Re-runs every oracle program and fails when a committed golden file differs from what
/// upstream code prints today.
pub(crate) fn check_goldens(oracle_dir: &Path) -> Result<()> {
    let root = project_root();
    let mut stale = Vec::new();
    for golden in GOLDENS {
        let out = Command::new(oracle_dir.join(golden.program))
            .args(golden.args)
            .current_dir(&root)
            .output()
            .with_context(|| format!("running {}", golden.program))?;
        anyhow::ensure!(
            out.status.success(),
            "{} {:?} failed: {}",
            golden.program,
            golden.args,
            String::from_utf8_lossy(&out.stderr)
        );
        let committed =
            fs::read(root.join(golden.path)).with_context(|| format!("reading {}", golden.path))?;
        if committed != out.stdout {
            stale.push(golden.path);
        }
    }
    anyhow::ensure!(
        stale.is_empty(),
        "golden files differ from what upstream code prints now (regenerate them with the \
         oracle, see each data README): {stale:?}"
    );
    eprintln!("xtask: {} golden files match the oracle", GOLDENS.len());
    Ok(())
}
