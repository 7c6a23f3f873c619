//! Project automation in the cargo-xtask style (see <https://github.com/matklad/cargo-xtask>).
//!
//! `cargo xtask test` is the README's test command: it provisions what the tests need on this
//! machine and runs every layer that can run here.
//! `cargo xtask ci` adds the formatting, lint and bench-compile gates.
//! Any other subcommand (`check-config`, `cluster`, `decrypt`, `encrypt`, `keygen`, ...) is a user
//! command and is forwarded to the `atrest` binary, so users and xtask take the same code path;
//! `cluster` and `scenario --backend process` first provision the control-plane binaries (as
//! `setup`) and pass `ATREST_ASSETS`.
//!
//! `cargo xtask setup` builds the real control plane (kube-apiserver, etcd) for the `process`
//! backend and installs the Debian packages the build needs.
//!
//! The xtask stays cheap to compile: std, anyhow, clap, indicatif and sha2; it never links the
//! engine.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "xtask talks to the terminal")]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

mod controlplane;
mod oracle;
mod tools;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "atrest project automation", version)]
struct Xtask {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the tests need (cargo-nextest, protoc, the control plane, the Go oracle)
    /// and run every test layer.
    Test {
        /// Extra arguments passed to `cargo nextest run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        nextest_args: Vec<String>,
    },
    /// Build kube-apiserver and etcd from the committed Go recipes (cached; a second run is a
    /// no-op) and install protoc; prints the binaries' directory as the last stdout line.
    ///
    /// `ATREST_ASSETS` or `KUBEBUILDER_ASSETS` naming a directory that holds both binaries is
    /// used instead of building.
    Setup {
        /// Rebuild even when a cached build or an assets directory exists.
        #[arg(long)]
        force: bool,
    },
    /// What CI runs: fmt check, clippy, `test`, doc tests, bench compilation.
    Ci,
    /// Build the Go oracle (upstream k8s.io/apiserver code) and print its directory.
    Oracle {
        /// Regenerate the golden files from the oracle and fail if any changed.
        #[arg(long)]
        check_goldens: bool,
    },
    /// A user command: forwarded to the `atrest` binary (`cargo xtask check-config FILE` runs
    /// `atrest check-config FILE`).
    #[command(external_subcommand)]
    Atrest(Vec<OsString>),
}

fn main() -> ExitCode {
    let xtask = Xtask::parse();
    let result = match xtask.command {
        Cmd::Test { nextest_args } => test(&nextest_args),
        Cmd::Setup { force } => setup_cmd(force),
        Cmd::Ci => ci(),
        Cmd::Oracle { check_goldens } => oracle_cmd(check_goldens),
        Cmd::Atrest(args) => return forward_to_atrest(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, resolved from this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

/// `cargo` as the caller invoked it (respects `CARGO` set by cargo itself).
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs a command to completion, failing with its rendering when it does not succeed.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: $ {shown}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn forward_to_atrest(args: &[OsString]) -> ExitCode {
    // atrest links atrest-process, whose etcd-client dependency needs protoc to build.
    if let Err(err) = tools::ensure_protoc() {
        eprintln!("xtask: error: {err:#}");
        return ExitCode::from(2);
    }
    // `cargo run` keeps the caller's working directory, so relative paths in args still work.
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["run", "--quiet", "--manifest-path"])
        .arg(project_root().join("Cargo.toml"))
        .args(["--package", "atrest-cli", "--bin", "atrest", "--"])
        .args(args);
    // Scenario names resolve against the project's scenarios/ wherever cargo xtask is run from.
    if env::var_os("ATREST_SCENARIOS").is_none() {
        cmd.env("ATREST_SCENARIOS", project_root().join("scenarios"));
    }
    // `cluster` and `scenario --backend process` run the real binaries: provision them (cached)
    // so that they work on a fresh machine.
    if needs_control_plane(args) {
        match controlplane::setup(false) {
            Ok(assets) => {
                cmd.env("ATREST_ASSETS", assets);
            }
            Err(err) => {
                eprintln!("xtask: error: {err:#}");
                return ExitCode::from(2);
            }
        }
    }
    let status = cmd.status();
    match status {
        // Keep atrest's own exit code (0 ok, 1 findings, 2 usage or harness error).
        Ok(status) => ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(2)),
        Err(err) => {
            eprintln!("xtask: error: starting cargo run: {err}");
            ExitCode::from(2)
        }
    }
}

/// Whether a forwarded command runs the real control plane.
fn needs_control_plane(args: &[OsString]) -> bool {
    let Some(first) = args.first() else { return false };
    if first == "cluster" {
        return true;
    }
    if first != "scenario" {
        return false;
    }
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.windows(2).any(|w| w[0] == "--backend" && w[1] != "sim")
        || args.iter().any(|a| a.starts_with("--backend=") && *a != "--backend=sim")
}

fn test(nextest_args: &[String]) -> Result<()> {
    tools::ensure_nextest()?;
    // The etcd-client crate's build script needs protoc.
    tools::ensure_protoc()?;
    let assets = controlplane::setup(false)?;
    let oracle_dir = oracle::build()?;
    // Doc tests first: the run then closes on nextest's summary of every test.
    run(cargo().args(["test", "--workspace", "--doc"]).env("ATREST_ASSETS", &assets))?;
    let profile = if env::var_os("CI").is_some() { "ci" } else { "default" };
    // Real-backend tests (atrest-process) find the binaries through ATREST_ASSETS.
    run(cargo()
        .args(["nextest", "run", "--workspace", "--profile", profile])
        .args(nextest_args)
        .env("ATREST_ASSETS", &assets))?;
    oracle::check_goldens(&oracle_dir)?;
    Ok(())
}

fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // Clippy builds the etcd-client crate, whose build script needs protoc.
    tools::ensure_protoc()?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    test(&[])?;
    run(cargo().args(["bench", "--workspace", "--no-run"]))?;
    Ok(())
}

fn oracle_cmd(check_goldens: bool) -> Result<()> {
    let dir = oracle::build()?;
    if check_goldens {
        oracle::check_goldens(&dir)?;
    }
    println!("{}", dir.display());
    Ok(())
}

fn setup_cmd(force: bool) -> Result<()> {
    tools::ensure_protoc()?;
    let dir = controlplane::setup(force)?;
    // Last stdout line, so scripts can `ASSETS=$(cargo xtask setup | tail -n1)`.
    println!("{}", dir.display());
    Ok(())
}
