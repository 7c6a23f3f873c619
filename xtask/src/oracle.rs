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

const PROGRAMS: [&str; 4] = ["config-oracle", "transform-oracle", "object-oracle", "kms-oracle"];

/// The file in the cache directory that names the oracle build made last (a directory name),
/// so tests find the oracle without `ATREST_ORACLE_DIR` (atrest-test-support's `oracle_dir`).
const CURRENT_FILE: &str = "oracle-current";

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
    let src = oracle_src();
    let name = format!("oracle-{:016x}", source_key(&src)?);
    let dir = cache_dir().join(&name);
    if PROGRAMS.iter().all(|p| dir.join(p).is_file()) {
        point_current_at(&name)?;
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
    run(go_build(&src).arg(out).arg("./cmd/...")).context("building the Go oracle")?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving the oracle to {}", dir.display()))?;
    point_current_at(&name)?;
    Ok(dir)
}

/// The cache key of a Go build of `src`: the Go version and every file of the tree.
pub(crate) fn source_key(src: &Path) -> Result<u64> {
    let mut hasher = Fnv64::default();
    hasher.write(tools::go_version()?.as_bytes());
    hash_tree(src, src, &mut hasher)?;
    Ok(hasher.0)
}

/// The Go program `package` of the module `src` (a directory of the project), built once per
/// source and Go version into `<cache>/<name>-<key>/<name>` (staged, then renamed, so a killed
/// build leaves nothing that looks finished); `what` names it in messages.
pub(crate) fn cached_go_program(
    src: &str,
    package: &str,
    name: &str,
    what: &str,
) -> Result<PathBuf> {
    let src = project_root().join(src);
    let dir = cache_dir().join(format!("{name}-{:016x}", source_key(&src)?));
    let bin = dir.join(name);
    if bin.is_file() {
        return Ok(bin);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let staged = dir.join(format!("{name}.partial"));
    eprintln!("xtask: building {what} into {}", dir.display());
    run(go_build(&src).arg(&staged).arg(package)).with_context(|| format!("building {what}"))?;
    fs::rename(&staged, &bin).with_context(|| format!("moving it to {}", bin.display()))?;
    Ok(bin)
}

/// `go build -trimpath -o` in `src`, offline-safe and reproducible: the module's own go.sum
/// (`-mod=readonly`), no workspace, the local toolchain, no cgo. The caller adds the output
/// and the packages.
pub(crate) fn go_build(src: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(src)
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-modcacherw -mod=readonly")
        .env("CGO_ENABLED", "0")
        .args(["build", "-trimpath", "-o"]);
    cmd
}

/// Writes `<cache>/oracle-current` (write, then rename, so a reader never sees half a name).
fn point_current_at(name: &str) -> Result<()> {
    let current = cache_dir().join(CURRENT_FILE);
    if fs::read_to_string(&current).is_ok_and(|text| text.trim() == name) {
        return Ok(());
    }
    let staging = current.with_extension(format!("{}.tmp", std::process::id()));
    fs::write(&staging, format!("{name}\n"))
        .with_context(|| format!("writing {}", staging.display()))?;
    fs::rename(&staging, &current).with_context(|| format!("writing {}", current.display()))
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

/// Re-runs every oracle program and fails when a committed golden file differs from what
/// upstream code produces today.
///
/// Goldens that hold upstream's random output (fresh IVs, nonces and DEKs: the transformers'
/// `upstream_random.json` and `chain.json`) cannot be compared byte for byte; the transformer
/// tests decrypt them instead.
pub(crate) fn check_goldens(oracle_dir: &Path) -> Result<()> {
    let root = project_root();
    let scratch = tempdir("goldens")?;
    let mut stale = Vec::new();
    let mut compared = 0;

    // Objects: the oracle prints the whole corpus.
    let out = oracle(oracle_dir, "object-oracle", &[], &root)?;
    compared += 1;
    compare_bytes(&root, "crates/atrest-objects/tests/data/objects.json", &out, &mut stale)?;

    // Transformers: the oracle writes every file into a directory.
    let dir = scratch.join("transformers");
    oracle(oracle_dir, "transform-oracle", &[dir.to_str().context("utf-8 temp dir")?], &root)?;
    for name in ["kat.json", "kmsv2_legacy.json", "kmsv2_proto.json", "kmsv2_decode.json"] {
        let fresh = fs::read(dir.join(name)).with_context(|| format!("reading fresh {name}"))?;
        compared += 1;
        compare_bytes(
            &root,
            &format!("crates/atrest-transformers/tests/data/{name}"),
            &fresh,
            &mut stale,
        )?;
    }

    // Config: texts embed the relative path the loader saw, so regenerate in a copy of the
    // crate's test data with the same relative layout.
    let config_dir = root.join("crates/atrest-config");
    let copy = scratch.join("config");
    copy_tree(&config_dir.join("tests/data"), &copy.join("tests/data"))?;
    let mut inputs = Vec::new();
    for sub in ["invalid", "valid", "exceptions"] {
        let mut names: Vec<String> = fs::read_dir(copy.join("tests/data").join(sub))
            .with_context(|| format!("listing tests/data/{sub}"))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let path = copy.join("tests/data").join(sub).join(&name);
            if name.ends_with(".expected") || name.ends_with(".decoded") {
                fs::remove_file(&path)?;
            } else if name.ends_with(".yaml") || name.ends_with(".json") || name.ends_with(".d") {
                inputs.push(format!("tests/data/{sub}/{name}"));
            }
        }
    }
    // The missing-file case names a path that must not exist.
    inputs.push("tests/data/invalid/read-missing-file.yaml".to_owned());
    // Generated files are removed from the copy first, so a file the oracle no longer writes
    // shows up as missing instead of comparing equal to itself.
    fs::remove_dir_all(copy.join("tests/data/vectors"))?;
    let mut args = vec!["load", "-write"];
    args.extend(inputs.iter().map(String::as_str));
    oracle(oracle_dir, "config-oracle", &args, &copy)?;
    fs::create_dir_all(copy.join("tests/data/vectors"))?;
    oracle(oracle_dir, "config-oracle", &["vectors", "tests/data/vectors"], &copy)?;
    let tables = oracle(oracle_dir, "config-oracle", &["tables"], &copy)?;
    compared += 1;
    compare_bytes(&root, "crates/atrest-gostd/src/go_tables.rs", &tables, &mut stale)?;
    for sub in ["invalid", "valid", "exceptions", "vectors"] {
        let generated = |name: &str| {
            sub == "vectors"
                || name.ends_with(".expected")
                || (name.ends_with(".decoded") && sub != "exceptions")
        };
        let committed = generated_names(&config_dir.join("tests/data").join(sub), &generated)?;
        let fresh = generated_names(&copy.join("tests/data").join(sub), &generated)?;
        for name in committed.difference(&fresh) {
            stale.push(format!(
                "crates/atrest-config/tests/data/{sub}/{name} (no longer generated)"
            ));
        }
        for name in &fresh {
            let bytes = fs::read(copy.join("tests/data").join(sub).join(name))?;
            compared += 1;
            compare_bytes(
                &root,
                &format!("crates/atrest-config/tests/data/{sub}/{name}"),
                &bytes,
                &mut stale,
            )?;
        }
    }
    // A broken oracle run that writes nothing must not pass as "everything matches".
    anyhow::ensure!(compared > 200, "only {compared} golden files were regenerated");

    fs::remove_dir_all(&scratch).ok();
    anyhow::ensure!(
        stale.is_empty(),
        "golden files differ from what upstream code produces now; regenerate them as each data \
         folder's README says, review the diff, and commit: {stale:#?}"
    );
    eprintln!("xtask: {compared} golden files match the upstream oracle");
    Ok(())
}

/// Runs one oracle program in `cwd` and returns its standard output.
fn oracle(oracle_dir: &Path, program: &str, args: &[&str], cwd: &Path) -> Result<Vec<u8>> {
    let out = Command::new(oracle_dir.join(program))
        .args(args)
        .current_dir(cwd)
        .output()
        .with_context(|| format!("running {program}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.first().copied().unwrap_or_default(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

/// The sorted names in `dir` that `generated` selects.
fn generated_names(
    dir: &Path,
    generated: &dyn Fn(&str) -> bool,
) -> Result<std::collections::BTreeSet<String>> {
    let mut names = std::collections::BTreeSet::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if generated(&name) {
            names.insert(name);
        }
    }
    Ok(names)
}

fn compare_bytes(root: &Path, rel: &str, fresh: &[u8], stale: &mut Vec<String>) -> Result<()> {
    match fs::read(root.join(rel)) {
        Ok(committed) if committed == fresh => {}
        Ok(_) => stale.push(rel.to_owned()),
        Err(err) => stale.push(format!("{rel} ({err})")),
    }
    Ok(())
}

fn tempdir(what: &str) -> Result<PathBuf> {
    let dir = env::temp_dir().join(format!("atrest-xtask-{what}-{}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
