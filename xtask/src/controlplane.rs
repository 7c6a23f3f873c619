//! The real control plane for the `process` backend: `kube-apiserver` and `etcd` built from the
//! committed Go recipes (`xtask/go/kube`, `xtask/go/etcd`; see
//! the kubernetes and etcd Go modules) into a content-keyed cache directory.
//!
//! - The key is 16 hex digits of sha256 over both recipes' `go.mod` and `go.sum`, the exact
//!   `go build` arguments (ldflags and tags included) and `go env GOVERSION`, so a changed pin,
//!   stamp or toolchain builds into a new directory and an unchanged one is a no-op.
//! - Builds go into `<key>.partial` and are renamed into place only after both binaries built
//!   and reported the expected version: an interrupted build never looks complete.
//! - A lock file serialises concurrent `cargo xtask setup` runs (a cold build is 15 minutes of
//!   both cores; two at once would only thrash).
//! - `ATREST_ASSETS`, then envtest's `KUBEBUILDER_ASSETS`, may name a directory that already
//!   holds both binaries; it is used as is and nothing is built.

use std::env;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest as _, Sha256};

use crate::{human, oracle, project_root};

/// The binaries a complete assets directory holds (envtest's file names).
pub(crate) const BINARIES: [&str; 2] = ["kube-apiserver", "etcd"];

/// Environment variables naming a directory of prebuilt binaries, in lookup order.
const ASSET_VARS: [&str; 2] = ["ATREST_ASSETS", "KUBEBUILDER_ASSETS"];

/// The environment every control-plane `go` command runs with:
/// a newer-Go requirement fails loudly instead of fetching a toolchain, no `go.work` leaks in,
/// the module cache stays deletable and the binaries are static.
const GO_ENV: [(&str, &str); 4] =
    [("GOWORK", "off"), ("GOTOOLCHAIN", "local"), ("GOFLAGS", "-modcacherw"), ("CGO_ENABLED", "0")];

/// How one binary is built from its recipe.
struct Recipe {
    /// File name in the assets directory.
    binary: &'static str,
    /// The Go module directory, relative to the project root.
    module: &'static str,
    /// The release the recipe pins, as its go.mod requires it (`v1.37.2`, `v3.6.16`).
    version: String,
    /// `go build` arguments before `-o <out> <package>`.
    args: Vec<String>,
    /// The main package.
    package: &'static str,
    /// How the binary prints its version (`--version`; etcdutl has a `version` command).
    version_args: &'static [&'static str],
    /// A line the version command must print.
    expected_version_line: String,
    /// What a cold build costs, for the progress line.
    cold_cost: &'static str,
}

/// Returns a directory holding `kube-apiserver` and `etcd`, building them when needed.
///
/// `force` rebuilds into the cache even when a complete build or an assets variable exists.
pub(crate) fn setup(force: bool) -> Result<PathBuf> {
    let recipes = recipes()?;
    if !force && let Some(dir) = assets_from_env(&recipes)? {
        return Ok(dir);
    }
    let key = cache_key(&recipes)?;
    let root = oracle::cache_dir().join("cp-bin");
    let dir = root.join(&key);
    if !force && complete(&dir) {
        announce(&recipes, &dir, &key);
        point_current_at(&root, &key)?;
        return Ok(dir);
    }

    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let _lock = lock(&root.join(".lock"))?;
    // Another run may have finished the build while this one waited for the lock.
    if !force && complete(&dir) {
        announce(&recipes, &dir, &key);
        point_current_at(&root, &key)?;
        return Ok(dir);
    }

    let staging = root.join(format!("{key}.partial"));
    if staging.exists() {
        // Left by an interrupted build; the lock says nobody else is using it.
        fs::remove_dir_all(&staging)
            .with_context(|| format!("removing the unfinished build {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let log = root.join(format!("{key}.log"));
    File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    eprintln!(
        "xtask: building the control plane into {} (cache key {key}); Go output goes to {}",
        dir.display(),
        log.display()
    );
    let started = Instant::now();
    for recipe in &recipes {
        build(recipe, &staging, &log)?;
        verify_built(recipe, &staging.join(recipe.binary))?;
    }
    if dir.exists() {
        // Only with --force (an incomplete `dir` cannot exist: it is created by rename).
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving {} to {}", staging.display(), dir.display()))?;
    eprintln!("xtask: control plane built in {}", human(started.elapsed()));
    announce(&recipes, &dir, &key);
    point_current_at(&root, &key)?;
    Ok(dir)
}

/// Builds `kubectl` (the release the kube recipe pins) into `tools/kubectl-<key>/` of the cache
/// and returns its path; a second call is a no-op. Not part of `setup`: only the benchmarks
/// that compare with it (`rewrite_bench`'s `kubectl get | kubectl replace`) and users without a
/// kubectl need it.
pub(crate) fn kubectl() -> Result<PathBuf> {
    let kube = required_version("xtask/go/kube", "k8s.io/kubernetes")?;
    let recipe = Recipe {
        binary: "kubectl",
        module: "xtask/go/kube",
        args: build_args(&[format!("-ldflags={}", version_ldflags(&kube)?)]),
        package: "k8s.io/kubernetes/cmd/kubectl",
        version_args: &["version", "--client"],
        expected_version_line: format!("Client Version: {kube}"),
        cold_cost: "3-8 minutes",
        version: kube,
    };
    let recipes = [recipe];
    let key = cache_key(&recipes)?;
    let root = oracle::cache_dir().join("tools");
    let dir = root.join(format!("kubectl-{key}"));
    let binary = dir.join("kubectl");
    if binary.is_file() {
        return Ok(binary);
    }
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let _lock = lock(&root.join(".kubectl.lock"))?;
    if binary.is_file() {
        return Ok(binary);
    }
    let staging = root.join(format!("kubectl-{key}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("removing the unfinished build {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let log = root.join(format!("kubectl-{key}.log"));
    File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    build(&recipes[0], &staging, &log)?;
    verify_built(&recipes[0], &staging.join("kubectl"))?;
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving {} to {}", staging.display(), dir.display()))?;
    Ok(binary)
}

/// Name of the file in `cp-bin/` that holds the key of the last build `setup` provided: how
/// the installed `atrest` binary finds the control plane without `ATREST_ASSETS`
/// (`atrest_process::Assets::locate` reads it).
const CURRENT_FILE: &str = "current";

/// Points `cp-bin/current` at `key`, atomically (write, then rename), so a reader never sees a
/// half-written name.
fn point_current_at(root: &Path, key: &str) -> Result<()> {
    let current = root.join(CURRENT_FILE);
    if fs::read_to_string(&current).is_ok_and(|text| text.trim() == key) {
        return Ok(());
    }
    let staging = root.join(format!("{CURRENT_FILE}.{}.partial", std::process::id()));
    fs::write(&staging, format!("{key}\n"))
        .with_context(|| format!("writing {}", staging.display()))?;
    fs::rename(&staging, &current).with_context(|| format!("writing {}", current.display()))
}

/// The recipes (kube-apiserver, etcd, and etcdutl for snapshots), with versions and stamps read from the committed go.mod files so a pin
/// bump cannot leave a stale version stamp behind (never stamp another minor: kubeadm and the
/// apiserver compare versions).
fn recipes() -> Result<Vec<Recipe>> {
    let kube = required_version("xtask/go/kube", "k8s.io/kubernetes")?;
    let ldflags = version_ldflags(&kube)?;
    let etcd = required_version("xtask/go/etcd", "go.etcd.io/etcd/server/v3")?;
    let etcd_bare = etcd.strip_prefix('v').unwrap_or(&etcd).to_owned();
    Ok(vec![
        Recipe {
            binary: "kube-apiserver",
            module: "xtask/go/kube",
            args: build_args(&["-tags=selinux,notest".to_owned(), format!("-ldflags={ldflags}")]),
            package: "k8s.io/kubernetes/cmd/kube-apiserver",
            version_args: &["--version"],
            expected_version_line: format!("Kubernetes {kube}"),
            cold_cost: "7-20 minutes",
            version: kube,
        },
        Recipe {
            binary: "etcd",
            module: "xtask/go/etcd",
            // The version is a compiled-in constant; GitSHA is what upstream's build stamps.
            args: build_args(&[format!(
                "-ldflags=-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={etcd}"
            )]),
            package: "go.etcd.io/etcd/server/v3",
            version_args: &["--version"],
            expected_version_line: format!("etcd Version: {etcd_bare}"),
            cold_cost: "1-2 minutes",
            version: etcd.clone(),
        },
        // `inspect --snapshot` restores a backup with etcd's own tool into a private etcd.
        Recipe {
            binary: "etcdutl",
            module: "xtask/go/etcd",
            args: build_args(&[format!(
                "-ldflags=-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={etcd}"
            )]),
            package: "go.etcd.io/etcd/etcdutl/v3",
            version_args: &["version"],
            expected_version_line: format!("etcdutl version: {etcd_bare}"),
            cold_cost: "under a minute after etcd",
            version: etcd,
        },
    ])
}

/// `-s -w` and the version stamp of release `kube` (`v1.37.2`), as upstream
/// hack/lib/version.sh stamps it: both version packages carry the same values.
pub(crate) fn version_ldflags(kube: &str) -> Result<String> {
    let (major, minor) = major_minor(kube)?;
    let mut ldflags = String::from("-s -w");
    for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        write!(
            ldflags,
            " -X {pkg}.gitVersion={kube} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor} \
             -X {pkg}.gitTreeState=clean -X {pkg}.buildDate=1970-01-01T00:00:00Z"
        )?;
    }
    Ok(ldflags)
}

/// The pinned releases: (`k8s.io/kubernetes`, `go.etcd.io/etcd/server/v3`), e.g. (`v1.37.2`,
/// `v3.6.16`).
pub(crate) fn versions() -> Result<(String, String)> {
    Ok((
        required_version("xtask/go/kube", "k8s.io/kubernetes")?,
        required_version("xtask/go/etcd", "go.etcd.io/etcd/server/v3")?,
    ))
}

fn build_args(extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["build", "-trimpath", "-buildvcs=false", "-mod=readonly"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend_from_slice(extra);
    args
}

/// The version `module_dir/go.mod` requires of `module` (`// indirect` or not).
fn required_version(module_dir: &str, module: &str) -> Result<String> {
    let path = project_root().join(module_dir).join("go.mod");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_required_version(&text, module)
        .with_context(|| format!("{} does not require {module}", path.display()))
}

fn parse_required_version(go_mod: &str, module: &str) -> Option<String> {
    let mut in_require = false;
    for line in go_mod.lines() {
        let line = line.trim();
        let spec = if in_require {
            if line == ")" {
                in_require = false;
                continue;
            }
            line
        } else if line == "require (" {
            in_require = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("require ") {
            rest.trim()
        } else {
            continue;
        };
        let mut fields = spec.split_whitespace();
        if fields.next() == Some(module) {
            return fields.next().map(str::to_owned);
        }
    }
    None
}

/// `v1.37.2` → (`1`, `37`).
fn major_minor(version: &str) -> Result<(String, String)> {
    let mut parts = version.strip_prefix('v').unwrap_or(version).split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => {
            Ok((major.to_owned(), minor.to_owned()))
        }
        _ => bail!("cannot read major.minor from version {version:?}"),
    }
}

/// The first assets variable naming a directory with both binaries, made absolute.
fn assets_from_env(recipes: &[Recipe]) -> Result<Option<PathBuf>> {
    for var in ASSET_VARS {
        let Some(value) = env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let dir = std::path::absolute(&value)
            .with_context(|| format!("resolving {var}={}", value.display()))?;
        if !complete(&dir) {
            eprintln!(
                "xtask: warning: {var}={} does not hold executable {}; ignoring it",
                dir.display(),
                BINARIES.join(" and ")
            );
            continue;
        }
        eprintln!("xtask: using the binaries in {var}={}", dir.display());
        for recipe in recipes {
            if !BINARIES.contains(&recipe.binary) && !dir.join(recipe.binary).is_file() {
                eprintln!(
                    "xtask: note: {var} has no {}; what needs it (`inspect --snapshot` restoring \
                     with etcd's own tool) falls back to atrest's reader",
                    recipe.binary
                );
                continue;
            }
            // Someone else's binaries: report a different version, but use them.
            if let Err(err) = verify(recipe, &dir.join(recipe.binary)) {
                eprintln!("xtask: warning: {err:#}");
            }
        }
        return Ok(Some(dir));
    }
    Ok(None)
}

/// Whether `dir` holds every binary as an executable file.
pub(crate) fn complete(dir: &Path) -> bool {
    BINARIES.iter().all(|name| {
        fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn announce(recipes: &[Recipe], dir: &Path, key: &str) {
    let what: Vec<String> = recipes.iter().map(|r| format!("{} {}", r.binary, r.version)).collect();
    eprintln!("xtask: {} are in {} (cache key {key})", what.join(" and "), dir.display());
}

/// 16 hex digits of sha256 over the recipes' go.mod/go.sum, their build arguments and the Go
/// version, with the flags added so a new stamp rebuilds.
fn cache_key(recipes: &[Recipe]) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        // Length-prefixed, so field boundaries cannot shift between inputs.
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for recipe in recipes {
        field(recipe.binary.as_bytes());
        for file in ["go.mod", "go.sum"] {
            let path = project_root().join(recipe.module).join(file);
            field(&fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        }
        for arg in &recipe.args {
            field(arg.as_bytes());
        }
        field(recipe.package.as_bytes());
    }
    for (name, value) in GO_ENV {
        field(format!("{name}={value}").as_bytes());
    }
    field(go_version()?.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        write!(hex, "{byte:02x}")?;
    }
    Ok(hex)
}

/// `go env GOVERSION` under the build environment (it reflects `GOTOOLCHAIN`).
fn go_version() -> Result<String> {
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .envs(GO_ENV)
        .current_dir(project_root())
        .output()
        .context(
            "running `go env GOVERSION`: the Go toolchain (go 1.26 or newer on PATH) is required \
             to build kube-apiserver and etcd",
        )?;
    if !out.status.success() {
        bail!("`go env GOVERSION` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// An exclusive lock on `path`, held until the returned file is dropped (or the process dies).
fn lock(path: &Path) -> Result<File> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!(
                "xtask: another `cargo xtask setup` is building the control plane; waiting for it \
                 ({})",
                path.display()
            );
            file.lock().with_context(|| format!("locking {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(file)
}

/// Runs `go build` for one recipe into `out_dir`, output appended to `log`, with a spinner.
fn build(recipe: &Recipe, out_dir: &Path, log: &Path) -> Result<()> {
    let out = out_dir.join(recipe.binary);
    let mut cmd = Command::new("go");
    cmd.current_dir(project_root().join(recipe.module))
        .envs(GO_ENV)
        .args(&recipe.args)
        .arg("-o")
        .arg(&out)
        .arg(recipe.package)
        .stdin(Stdio::null());
    let mut log_file = fs::OpenOptions::new()
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    // Command's Debug rendering shows the directory and the environment too.
    writeln!(log_file, "$ {cmd:?}").with_context(|| format!("writing {}", log.display()))?;
    let stderr = log_file.try_clone().with_context(|| format!("opening {}", log.display()))?;
    cmd.stdout(log_file).stderr(stderr);

    // Go reports no percentage: a spinner with the elapsed time, plus plain lines for logs
    // (indicatif draws nothing when stderr is not a terminal, as in CI).
    eprintln!(
        "xtask: building {} {} (cold Go build cache: {} on 2 cores; warm: under a minute)",
        recipe.binary, recipe.version, recipe.cold_cost
    );
    let started = Instant::now();
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .context("the spinner template")?,
    );
    spinner.set_message(format!("go build {} {}", recipe.binary, recipe.version));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let status = cmd.status();
    spinner.finish_and_clear();
    let status = status.with_context(|| format!("starting `go build` for {}", recipe.binary))?;
    if !status.success() {
        bail!(
            "`go build` of {} failed ({status}) after {}; last lines of its output:\n{}\nfull log: {}",
            recipe.binary,
            human(started.elapsed()),
            tail(log, 20),
            log.display()
        );
    }
    let size = fs::metadata(&out).map(|m| m.len()).unwrap_or_default();
    eprintln!(
        "xtask: built {} {} in {} ({} MB)",
        recipe.binary,
        recipe.version,
        human(started.elapsed()),
        size / 1_000_000
    );
    Ok(())
}

/// Checks that a binary built here is static (CGO_ENABLED=0 took effect: it goes unchanged
/// into `docker import` images) and prints the recipe's version.
fn verify_built(recipe: &Recipe, binary: &Path) -> Result<()> {
    let head = read_head(binary, 4096)?;
    if elf_interpreter(&head) != Some(false) {
        bail!(
            "{} is not a static ELF executable (it has a program interpreter, or is not ELF64)",
            binary.display()
        );
    }
    verify(recipe, binary)
}

/// Checks that `binary --version` prints the recipe's version line.
fn verify(recipe: &Recipe, binary: &Path) -> Result<()> {
    let out =
        Command::new(binary).args(recipe.version_args).stdin(Stdio::null()).output().with_context(
            || format!("running {} {}", binary.display(), recipe.version_args.join(" ")),
        )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.lines().any(|l| l.trim() == recipe.expected_version_line) {
        bail!(
            "{} {} ({}) printed {:?}, expected a line {:?}",
            binary.display(),
            recipe.version_args.join(" "),
            out.status,
            stdout.trim(),
            recipe.expected_version_line
        );
    }
    Ok(())
}

fn read_head(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut head = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max).read_to_end(&mut head))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(head)
}

/// Whether a little-endian ELF64 file (its first bytes in `head`) has a `PT_INTERP` program
/// header, i.e. is dynamically linked; `None` when `head` is not such a file or is too short.
fn elf_interpreter(head: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    // EI_CLASS 2 = ELF64, EI_DATA 1 = little endian.
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let phoff = usize::try_from(u64::from_le_bytes(head.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    let mut found = false;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?);
        found |= p_type == PT_INTERP;
    }
    Some(found)
}

/// The last `n` lines of a log file, for error messages (CI shows no terminal history).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read the log: {err})"),
    }
}

/// `14m 13s`, `52s`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_version_in_block_and_single_line() {
        let go_mod = "module x\n\ngo 1.26.0\n\nrequire (\n\tcel.dev/expr v0.25.1 // indirect\n\t\
                      k8s.io/kubernetes v1.37.2 // indirect\n)\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n\n\
                      replace k8s.io/api => k8s.io/api v0.37.2\n";
        assert_eq!(parse_required_version(go_mod, "k8s.io/kubernetes").as_deref(), Some("v1.37.2"));
        assert_eq!(
            parse_required_version(go_mod, "go.etcd.io/etcd/server/v3").as_deref(),
            Some("v3.6.16")
        );
        // A replace line is not a requirement.
        assert_eq!(parse_required_version(go_mod, "k8s.io/api"), None);
        // Prefixes do not match.
        assert_eq!(parse_required_version(go_mod, "k8s.io/kube"), None);
    }

    #[test]
    fn major_minor_of_tags() {
        assert_eq!(major_minor("v1.37.2").ok(), Some(("1".to_owned(), "37".to_owned())));
        assert!(major_minor("v1").is_err());
        assert!(major_minor("").is_err());
    }

    #[test]
    fn recipes_stamp_the_committed_pins() -> Result<()> {
        let recipes = recipes()?;
        let kube = &recipes[0];
        let ldflags = kube.args.iter().find(|a| a.starts_with("-ldflags=")).context("ldflags")?;
        // Upstream hack/lib/version.sh stamps both packages; /version reads component-base.
        for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
            assert!(ldflags.contains(&format!("-X {pkg}.gitVersion={}", kube.version)));
        }
        assert_eq!(kube.expected_version_line, format!("Kubernetes {}", kube.version));
        assert!(recipes[1].expected_version_line.starts_with("etcd Version: 3."));
        // etcdutl is etcd's release, from the same module, printing through `version`.
        assert_eq!((recipes[2].binary, recipes[2].module), ("etcdutl", recipes[1].module));
        assert_eq!(recipes[2].version, recipes[1].version);
        assert_eq!(recipes[2].version_args, ["version"]);
        Ok(())
    }

    #[test]
    fn complete_needs_both_executables() -> Result<()> {
        let dir = env::temp_dir().join(format!("atrest-xtask-complete-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        assert!(!complete(&dir));
        for name in BINARIES {
            fs::write(dir.join(name), b"")?;
        }
        // Present but not executable.
        assert!(!complete(&dir));
        for name in BINARIES {
            fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o755))?;
        }
        assert!(complete(&dir));
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// A minimal ELF64 header with the given program header types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..6].copy_from_slice(b"\x7fELF\x02\x01");
        head[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        head[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        head[0x38..0x3a].copy_from_slice(&u16::try_from(types.len()).unwrap_or(0).to_le_bytes());
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            head.extend(ph);
        }
        head
    }

    #[test]
    fn elf_interpreter_detection() -> Result<()> {
        // PT_LOAD (1), PT_NOTE (4), GNU_STACK: static; with PT_INTERP (3): dynamic.
        assert_eq!(elf_interpreter(&elf(&[1, 4, 0x6474_e551])), Some(false));
        assert_eq!(elf_interpreter(&elf(&[6, 3, 1])), Some(true));
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        let mut truncated = elf(&[1, 3]);
        truncated.truncate(64 + 56 + 2);
        assert_eq!(elf_interpreter(&truncated), None);
        // This test binary is a dynamically linked Rust executable.
        let me = read_head(&env::current_exe()?, 4096)?;
        assert_eq!(elf_interpreter(&me), Some(true));
        Ok(())
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(52_300)), "52.3s");
        assert_eq!(human(Duration::from_secs(853)), "14m 13s");
    }
}
