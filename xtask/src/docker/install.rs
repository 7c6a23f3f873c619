//! Debian's `docker.io`, `containerd`, `runc` and `tini`, fetched with `apt-get download` (no
//! root) and unpacked with `dpkg-deb -x` into `<cache>/docker/pkg/<version>/`; `current` names
//! the unpacked version. Nothing is installed system-wide.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use super::Paths;
use crate::controlplane::tail;
use crate::{human, tools};

/// Debian packages whose files make up the project's own engine.
const PACKAGES: [&str; 4] = ["docker.io", "containerd", "runc", "tini"];

/// Files an unpacked engine must hold (relative to its root).
const ENGINE_FILES: [&str; 6] = [
    "usr/sbin/dockerd",
    "usr/bin/docker",
    "usr/bin/containerd",
    "usr/bin/containerd-shim-runc-v2",
    "usr/sbin/runc",
    "usr/bin/tini-static",
];

/// The unpacked engine's root, fetching and unpacking Debian's packages when missing.
pub(super) fn install(paths: &Paths) -> Result<PathBuf> {
    let pkg_root = paths.root.join("pkg");
    let current = paths.root.join("current");
    if let Ok(version) = fs::read_to_string(&current) {
        let dir = pkg_root.join(version.trim());
        if engine_complete(&dir) {
            return Ok(dir);
        }
    }
    for tool in ["apt-get", "dpkg-deb"] {
        if tools::find_on_path(tool).is_none() {
            bail!(
                "no Docker daemon answers (DOCKER_HOST is unset, /var/run/docker.sock does not \
                 answer) and there is no `{tool}` to fetch Debian's docker.io: install Docker or \
                 Podman and point DOCKER_HOST at its socket"
            );
        }
    }
    let started = Instant::now();
    eprintln!(
        "xtask: fetching Debian's {} with apt-get download into {}",
        PACKAGES.join(", "),
        pkg_root.display()
    );
    let download = pkg_root.join("download.partial");
    if download.exists() {
        fs::remove_dir_all(&download)
            .with_context(|| format!("removing {}", download.display()))?;
    }
    fs::create_dir_all(&download).with_context(|| format!("creating {}", download.display()))?;
    let log = paths.root.join("apt.log");
    fetch_debs(paths, &download, &log, &PACKAGES)
        .context("install Docker or Podman and point DOCKER_HOST at its socket instead")?;
    let debs: Vec<PathBuf> = fs::read_dir(&download)
        .with_context(|| format!("reading {}", download.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    let docker_deb = debs
        .iter()
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("docker.io_"))
        })
        .with_context(|| format!("apt-get left no docker.io package in {}", download.display()))?;
    let version = deb_field(docker_deb, "Version")?;
    // Debian versions may hold `:` (an epoch) and `~`; keep the directory name plain.
    let dir_name: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || ".+-".contains(c) { c } else { '_' })
        .collect();
    let dir = pkg_root.join(&dir_name);
    let staging = pkg_root.join(format!("{dir_name}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    for deb in &debs {
        crate::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&staging))
            .with_context(|| format!("unpacking {}", deb.display()))?;
    }
    if !engine_complete(&staging) {
        bail!(
            "the unpacked packages in {} lack one of {}",
            staging.display(),
            ENGINE_FILES.join(", ")
        );
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("moving {} to {}", staging.display(), dir.display()))?;
    fs::write(&current, format!("{dir_name}\n"))
        .with_context(|| format!("writing {}", current.display()))?;
    fs::remove_dir_all(&download).with_context(|| format!("removing {}", download.display()))?;
    eprintln!(
        "xtask: docker.io {version} unpacked into {} in {}",
        dir.display(),
        human(started.elapsed())
    );
    Ok(dir)
}

/// `apt-get download` of `packages` into `dir`: with the system's package lists, else with a
/// private copy refreshed under the cache.
fn fetch_debs(paths: &Paths, dir: &Path, log: &Path, packages: &[&str]) -> Result<()> {
    let Err(first) = apt_download(dir, log, &[], packages) else { return Ok(()) };
    // The system's package lists may be missing or stale (nobody ran `apt-get update`):
    // refresh a private copy under the cache instead, which needs no root.
    eprintln!(
        "xtask: apt-get download with the system's package lists failed ({first:#}); \
             refreshing private lists under the cache"
    );
    let lists = paths.root.join("apt");
    let opts = private_apt_options(&lists)?;
    run_logged(
        Command::new("apt-get").args(&opts).args(["-q", "update"]).stdin(Stdio::null()),
        log,
    )
    .context("apt-get update into the cache's private lists")?;
    apt_download(dir, log, &opts, packages).with_context(|| {
        format!("cannot fetch Debian's {} (apt output: {})", packages.join(", "), log.display())
    })
}

/// `debootstrap` for the kind node's root: the one on PATH, else Debian's package fetched with
/// `apt-get download` and unpacked under `<cache>/docker/debootstrap` (no root needed for that;
/// its only dependency, wget, must be on PATH). The second value is the `DEBOOTSTRAP_DIR` the
/// unpacked one needs.
pub(crate) fn debootstrap() -> Result<(PathBuf, Option<PathBuf>)> {
    if let Some(path) = tools::find_on_path("debootstrap") {
        return Ok((path, None));
    }
    let paths = Paths::new();
    let dir = paths.root.join("debootstrap");
    let unpacked =
        |dir: &Path| (dir.join("usr/sbin/debootstrap"), dir.join("usr/share/debootstrap"));
    if unpacked(&dir).0.is_file() {
        let (bin, share) = unpacked(&dir);
        return Ok((bin, Some(share)));
    }
    let staging = paths.root.join("debootstrap.partial");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    let download = staging.join("download");
    fs::create_dir_all(&download).with_context(|| format!("creating {}", download.display()))?;
    eprintln!("xtask: fetching Debian's debootstrap with apt-get download");
    fetch_debs(&paths, &download, &paths.root.join("apt.log"), &["debootstrap"])?;
    for deb in fs::read_dir(&download).with_context(|| format!("reading {}", download.display()))? {
        let deb = deb?.path();
        crate::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&staging))
            .with_context(|| format!("unpacking {}", deb.display()))?;
    }
    fs::remove_dir_all(&download).with_context(|| format!("removing {}", download.display()))?;
    if !unpacked(&staging).0.is_file() {
        bail!(
            "the debootstrap package unpacked into {} has no usr/sbin/debootstrap",
            staging.display()
        );
    }
    fs::rename(&staging, &dir).with_context(|| format!("moving it to {}", dir.display()))?;
    let (bin, share) = unpacked(&dir);
    Ok((bin, Some(share)))
}

fn engine_complete(dir: &Path) -> bool {
    ENGINE_FILES.iter().all(|f| dir.join(f).is_file())
}

/// `apt-get download` of `packages` into `dir`, with extra `-o` options.
fn apt_download(dir: &Path, log: &Path, opts: &[OsString], packages: &[&str]) -> Result<()> {
    run_logged(
        Command::new("apt-get")
            .current_dir(dir)
            .args(opts)
            .args(["-q", "download"])
            .args(packages)
            .stdin(Stdio::null()),
        log,
    )
}

/// apt options that keep package lists and caches in `dir` (no root, the system's untouched).
fn private_apt_options(dir: &Path) -> Result<Vec<OsString>> {
    let lists = dir.join("lists");
    let cache = dir.join("cache");
    for d in [lists.join("partial"), cache.join("archives/partial")] {
        fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut opts = Vec::new();
    for (key, value) in [("Dir::State::Lists", lists), ("Dir::Cache", cache)] {
        let mut opt = OsString::from(format!("{key}="));
        opt.push(value);
        opts.push("-o".into());
        opts.push(opt);
    }
    Ok(opts)
}

/// Runs `cmd` with its output appended to `log`; fails with the log's tail.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    writeln!(file, "$ {cmd:?}").with_context(|| format!("writing {}", log.display()))?;
    let err = file.try_clone().with_context(|| format!("opening {}", log.display()))?;
    let status =
        cmd.stdout(file).stderr(err).status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status}); last lines of {}:\n{}", log.display(), tail(log, 10));
    }
    Ok(())
}

/// A field of a `.deb`'s control file.
fn deb_field(deb: &Path, field: &str) -> Result<String> {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(field)
        .output()
        .with_context(|| format!("running dpkg-deb -f {}", deb.display()))?;
    if !out.status.success() {
        bail!(
            "dpkg-deb -f {} {field} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
