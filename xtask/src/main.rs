//! Project automation in the cargo-xtask style (see <https://github.com/matklad/cargo-xtask>).
//!
//! `cargo xtask test` is the README's test command: it provisions what the tests need on this
//! machine and runs every layer that can run here.
//! `cargo xtask ci` adds the formatting, lint and bench-compile gates.
//! Any other subcommand (`check-config`, `cluster`, `decrypt`, `encrypt`, `keygen`, ...) is a user
//! command and is forwarded to the `atrest` binary, so users and xtask take the same code path;
//! `cluster` and `scenario --backend process` first provision the control-plane binaries (as
//! `setup`) and pass `ATREST_ASSETS`; `--backend containers` also provides the Docker engine and
//! the images and passes `DOCKER_HOST`; `--backend kind` provides the engine, kind and the node
//! image (`kind-node-image`) and passes `DOCKER_HOST`, `ATREST_KIND` and `ATREST_KIND_IMAGE`.
//!
//! `cargo xtask setup` builds the real control plane (kube-apiserver, etcd) for the `process`
//! backend, provides a Docker engine and builds the control plane's container images from those
//! binaries; `cargo xtask protos` regenerates the committed gRPC code (so no build needs `protoc`).
//!
//! The xtask stays cheap to compile: std, anyhow, clap, indicatif and sha2; it never links the
//! engine.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "xtask talks to the terminal")]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

mod bench;
mod controlplane;
mod docker;
mod images;
mod kind;
mod kindcheck;
mod kindnode;
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
    /// Install what the tests need (cargo-nextest, the control plane, a Docker engine and the
    /// control plane's images, the Go oracle) and run every test layer.
    Test {
        /// Extra arguments passed to `cargo nextest run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        nextest_args: Vec<String>,
    },
    /// Build kube-apiserver and etcd from the committed Go recipes (cached; a second run is a
    /// no-op), provide a Docker engine (`DOCKER_HOST`, the default socket, or the project's own
    /// dockerd, left running), build the container images of both binaries and kind; prints
    /// the binaries' directory as the last stdout line.
    ///
    /// `ATREST_ASSETS` or `KUBEBUILDER_ASSETS` naming a directory that holds both binaries is
    /// used instead of building.
    Setup {
        /// Rebuild even when a cached build, an assets directory or an up-to-date image exists.
        #[arg(long)]
        force: bool,
        /// Only the binaries: no Docker engine, no images, no kind.
        #[arg(long)]
        no_containers: bool,
    },
    /// Build kubectl (the release kube-apiserver is built from; cached, not part of `setup`)
    /// and print its path.
    Kubectl,
    /// Build kind v0.33.0 from the Go module proxy (cached; `setup` builds it too) and print
    /// its path.
    Kind,
    /// The project's own dockerd (the one `setup` starts when no Docker daemon answers).
    Docker {
        #[command(subcommand)]
        what: DockerCmd,
    },
    /// What CI runs (`.ci/run` only calls this): fmt, generated code, clippy, `test`, benches
    /// and fuzz targets compile, all `--locked`; prints the time of every stage.
    Ci,
    /// Decode every `kind-configs/*.yaml` strictly with kind's own v1alpha4 types and its
    /// kubeadm patches with kubeadm's own types (part of `test`).
    KindCheck,
    /// Build a kind node image `kindest/node:<kube>` offline (debootstrap root, kind's base
    /// files from the Go module cache, kubelet/kubeadm built here, the component images baked
    /// in); skipped when its inputs are unchanged. Not part of `test`.
    KindNodeImage {
        /// Rebuild even when the image's inputs are unchanged.
        #[arg(long)]
        force: bool,
        /// Then boot the node in a private dockerd, run `kubeadm init` and poll `/readyz`.
        #[arg(long)]
        verify: bool,
        /// With --verify: create the cluster with kind itself (`kind create cluster` from
        /// kind-configs/single-control-plane.yaml), then check that a Secret reaches etcd
        /// encrypted by the mounted EncryptionConfiguration.
        #[arg(long, requires = "verify")]
        kind: bool,
    },
    /// Regenerate the committed gRPC code (`crates/*/src/generated`) from the `.proto` files
    /// with a vendored protoc.
    Protos {
        /// Fail when the committed code differs from what the generator writes.
        #[arg(long)]
        check: bool,
    },
    /// Build the Go oracle (upstream k8s.io/apiserver code) and print its directory.
    Oracle {
        /// Regenerate the golden files from the oracle and fail if any changed.
        #[arg(long)]
        check_goldens: bool,
    },
    /// Benchmarks: `bench transformers` times upstream's and atrest's transformers side by
    /// side; any other `bench` command is atrest's (`atrest bench degradation ...`).
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// A user command: forwarded to the `atrest` binary (`cargo xtask check-config FILE` runs
    /// `atrest check-config FILE`).
    #[command(external_subcommand)]
    Atrest(Vec<OsString>),
}

#[derive(Subcommand)]
enum DockerCmd {
    /// Stop the project's own dockerd (refused while a run uses it).
    Stop,
    /// Remove the project's containers and networks whose creating process is gone.
    Sweep,
    /// What `test` runs for containers: provide the engine (a dockerd started here is stopped
    /// at the end), build the images if needed and run them (`--version`, etcd's `/health`).
    Smoke,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Upstream's transformers (k8s.io/apiserver v0.37.2, Go's testing.Benchmark) against
    /// atrest's for aescbc, aesgcm, secretbox and KMS v2 at 1 KiB, 64 KiB and 1 MiB, in
    /// interleaved rounds, with `openssl speed -evp` for aescbc and aesgcm; prints a Markdown
    /// table with the ratio per row.
    Transformers {
        /// Interleaved rounds (median and range are over rounds).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Time per case, side and round, in milliseconds.
        #[arg(long, default_value_t = 300)]
        budget_ms: u64,
        /// Leave out the OpenSSL column.
        #[arg(long)]
        no_openssl: bool,
    },
    /// Forwarded to `atrest bench` (`degradation`).
    #[command(external_subcommand)]
    Atrest(Vec<OsString>),
}

fn main() -> ExitCode {
    let xtask = Xtask::parse();
    let mut stages = Stages::default();
    let result = match xtask.command {
        Cmd::Test { nextest_args } => test(&mut stages, &nextest_args),
        Cmd::Setup { force, no_containers } => setup_cmd(force, no_containers),
        Cmd::Kubectl => controlplane::kubectl().map(|path| println!("{}", path.display())),
        Cmd::Kind => kind::binary().map(|path| println!("{}", path.display())),
        Cmd::Docker { what: DockerCmd::Stop } => docker::stop_own(),
        Cmd::Docker { what: DockerCmd::Sweep } => docker_sweep(),
        Cmd::Docker { what: DockerCmd::Smoke } => docker_smoke(&mut stages),
        Cmd::Ci => ci(&mut stages),
        Cmd::Protos { check } => protos(check),
        Cmd::KindCheck => kindcheck::check(),
        Cmd::KindNodeImage { force, verify, kind } => kindnode::command(force, verify, kind),
        Cmd::Oracle { check_goldens } => oracle_cmd(check_goldens),
        Cmd::Bench { what: BenchCmd::Transformers { rounds, budget_ms, no_openssl } } => {
            bench::transformers(&bench::Options { rounds, budget_ms, no_openssl })
        }
        Cmd::Bench { what: BenchCmd::Atrest(args) } => {
            let args: Vec<OsString> = std::iter::once("bench".into()).chain(args).collect();
            return forward_to_atrest(&args);
        }
        Cmd::Atrest(args) => return forward_to_atrest(&args),
    };
    stages.print();
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

/// Where `PROTOC` points for every cargo xtask runs: no such file. No build in this workspace
/// may need a protobuf compiler (the gRPC code is committed), and a build script that tried
/// would fail here, in CI, rather than on a user's fresh machine.
const NO_PROTOC: &str = "/nonexistent/atrest-builds-need-no-protoc";

/// `cargo` as the caller invoked it (respects `CARGO` set by cargo itself).
pub(crate) fn cargo() -> Command {
    cargo_tool(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A cargo command or subcommand binary (`cargo-nextest`) run from the project root with the
/// environment every build here gets.
fn cargo_tool(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(project_root()).env("PROTOC", NO_PROTOC);
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

/// Wall time per stage of `test` and `ci`, printed at the end (also after a failure), so a
/// cold run's cost can be read off one log.
#[derive(Default)]
struct Stages {
    done: Vec<(&'static str, Duration, bool)>,
}

impl Stages {
    /// Runs one stage and records how long it took and whether it passed.
    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("xtask: == {name}");
        let started = Instant::now();
        let result = f();
        self.done.push((name, started.elapsed(), result.is_ok()));
        result.with_context(|| format!("stage {name:?}"))
    }

    fn print(&self) {
        if self.done.is_empty() {
            return;
        }
        let total: Duration = self.done.iter().map(|(_, d, _)| *d).sum();
        eprintln!("xtask: stage times (total {}):", human(total));
        for (name, took, ok) in &self.done {
            let mark = if *ok { "" } else { "  FAILED" };
            eprintln!("xtask:   {name:<28} {:>9}{mark}", human(*took));
        }
    }
}

/// What a probe of [`wait_until`] saw when the state is not reached yet.
pub(crate) enum Probe {
    /// Not yet: probe again.
    Retry(String),
    /// Never: stop waiting (the process being waited for exited).
    Stop(String),
}

/// Calls `probe` every `interval` until it succeeds, gives up, or `deadline` has passed; the
/// error is the probe's last observation.
pub(crate) fn wait_until<T>(
    deadline: Instant,
    interval: Duration,
    mut probe: impl FnMut() -> Result<T, Probe>,
) -> Result<T, String> {
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(Probe::Stop(why)) => return Err(why),
            Err(Probe::Retry(last)) if Instant::now() >= deadline => return Err(last),
            Err(Probe::Retry(_)) => {}
        }
        #[expect(clippy::disallowed_methods, reason = "the pause between probes of a real state")]
        std::thread::sleep(interval);
    }
}

/// `1h 02m 03s`, `4m 05s` or `6.7s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m {:02}s", secs / 3600, secs / 60 % 60, secs % 60),
    }
}

fn forward_to_atrest(args: &[OsString]) -> ExitCode {
    // `cargo run` keeps the caller's working directory, so relative paths in args still work.
    let mut cmd = cargo();
    cmd.current_dir(env::current_dir().unwrap_or_else(|_| project_root()))
        .args(["run", "--quiet", "--locked", "--manifest-path"])
        .arg(project_root().join("Cargo.toml"))
        .args(["--package", "atrest-cli", "--bin", "atrest", "--"])
        .args(args);
    // Scenario names resolve against the project's scenarios/ wherever cargo xtask is run from.
    if env::var_os("ATREST_SCENARIOS").is_none() {
        cmd.env("ATREST_SCENARIOS", project_root().join("scenarios"));
    }
    // `cluster` and `scenario --backend process` run the real binaries: provision them (cached)
    // so that they work on a fresh machine. atrest itself finds them in the cache too; passing
    // the directory keeps this run on the binaries this checkout's recipes describe.
    // `--backend containers` also needs an engine and the images: provided (cached) the way
    // `cargo xtask test` provides them; the engine is released when atrest ends.
    let mut _engine = None;
    if needs_control_plane(args) {
        let provided = controlplane::setup(false).and_then(|assets| {
            if uses_backend(args, "containers") {
                let engine = docker::Engine::provide(docker::Lifetime::Run)?;
                images::ensure(&engine, &assets, false)?;
                cmd.env("DOCKER_HOST", &engine.host);
                _engine = Some(engine);
            } else if uses_backend(args, "kind") {
                // kind itself, and the node image with the control plane's images in it.
                let engine = docker::Engine::provide(docker::Lifetime::Run)?;
                let image = kindnode::ensure(&engine, &assets)?;
                cmd.env("DOCKER_HOST", &engine.host)
                    .env("PATH", engine.path_with_client()?)
                    .env("ATREST_KIND", kind::binary()?)
                    .env("ATREST_KIND_IMAGE", image);
                _engine = Some(engine);
            }
            Ok(assets)
        });
        match provided {
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

/// Whether a forwarded command runs `backend` (`containers`, `kind`).
fn uses_backend(args: &[OsString], backend: &str) -> bool {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.windows(2).any(|w| w == ["--backend", backend])
        || args.contains(&format!("--backend={backend}").as_str())
}

/// Whether a forwarded command runs the real control plane.
fn needs_control_plane(args: &[OsString]) -> bool {
    let Some(first) = args.first() else { return false };
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    let real_backend = args.windows(2).any(|w| w[0] == "--backend" && w[1] != "sim")
        || args.iter().any(|a| a.starts_with("--backend=") && *a != "--backend=sim");
    match first.to_str() {
        Some("cluster") => true,
        Some("scenario" | "bench" | "rehearse") => real_backend,
        _ => false,
    }
}

/// The README's test command: provisions what the tests need, then doc tests, every nextest
/// test and the golden files against the oracle.
fn test(stages: &mut Stages, nextest_args: &[String]) -> Result<()> {
    let nextest = stages.run("cargo-nextest", tools::nextest)?;
    let assets = stages.run("control plane (setup)", || controlplane::setup(false))?;
    // A dockerd this run starts is stopped when the run ends (`engine` is dropped), unless
    // another run still uses it.
    let engine = containers(stages, &assets)?;
    // The kind backend's tests: kind itself and the node image, built offline (cached).
    let kind = stages.run("kind (v0.33.0 from the Go module proxy)", kind::binary)?;
    let kind_image = stages.run("kind node image", || kindnode::ensure(&engine, &assets))?;
    let oracle_dir = stages.run("Go oracle", oracle::build)?;
    // Doc tests first: the run then closes on nextest's summary of every test.
    stages.run("doc tests", || {
        run(cargo()
            .args(["test", "--workspace", "--doc", "--locked"])
            .env("ATREST_ASSETS", &assets)
            .env("DOCKER_HOST", &engine.host))
    })?;
    let profile = if env::var_os("CI").is_some() { "ci" } else { "default" };
    stages.run("nextest (build and run)", || {
        // Real-backend tests (atrest-process) find the binaries through ATREST_ASSETS, and
        // tests that run the oracle find it through ATREST_ORACLE_DIR.
        // cargo-nextest runs as `cargo-nextest nextest …`, as cargo would invoke it.
        run(cargo_tool(&nextest)
            .env("CARGO", env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["nextest", "run", "--workspace", "--locked", "--profile", profile])
            .args(nextest_args)
            .env("ATREST_ASSETS", &assets)
            // Container tests reach the engine this run provided.
            .env("DOCKER_HOST", &engine.host)
            // kind tests create their clusters in it (kind runs the `docker` client on PATH).
            .env("ATREST_KIND", &kind)
            .env("ATREST_KIND_IMAGE", &kind_image)
            // Tests that run an oracle program against atrest (the KMS plugin's wire check).
            .env("ATREST_ORACLE_DIR", &oracle_dir))
    })?;
    stages.run("goldens against the oracle", || oracle::check_goldens(&oracle_dir))?;
    stages.run("kind configs against kind's and kubeadm's types", kindcheck::check)?;
    stages.run("docker engine (release)", || engine.release())?;
    Ok(())
}

fn ci(stages: &mut Stages) -> Result<()> {
    stages.run("fmt", || run(cargo().args(["fmt", "--all", "--", "--check"])))?;
    stages.run("generated gRPC code", || protos(true))?;
    stages.run("no build needs protoc", no_protoc_in_builds)?;
    stages.run("clippy", || {
        run(cargo()
            .args(["clippy", "--workspace", "--all-targets", "--locked", "--"])
            .args(["-D", "warnings"]))
    })?;
    test(stages, &[])?;
    // In the test profile, whose dependencies nextest has just built: clippy has already
    // type-checked the benches (`--all-targets`), so this stage proves they build and link;
    // an optimized build of every dependency only for that cost 7–9 minutes of CI.
    stages.run("benches compile", || {
        run(cargo().args(["test", "--workspace", "--benches", "--no-run", "--locked"]))
    })?;
    stages.run("fuzz targets compile", || {
        run(cargo()
            .args(["check", "--bins", "--locked", "--manifest-path"])
            .arg(project_root().join("fuzz/Cargo.toml")))
    })?;
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

fn setup_cmd(force: bool, no_containers: bool) -> Result<()> {
    let dir = controlplane::setup(force)?;
    if !no_containers {
        let kind = kind::binary()?;
        eprintln!("xtask: kind: {}", kind.display());
        let engine = docker::Engine::provide(docker::Lifetime::Persistent)?;
        engine.sweep()?;
        images::ensure(&engine, &dir, force)?;
        let image = kindnode::ensure(&engine, &dir)?;
        eprintln!("xtask: kind node image: {image}");
        eprintln!(
            "xtask: containers: DOCKER_HOST={} (`cargo xtask docker stop` stops the project's own \
             dockerd)",
            engine.host
        );
        engine.release()?;
    }
    // Last stdout line, so scripts can `ASSETS=$(cargo xtask setup | tail -n1)`.
    println!("{}", dir.display());
    Ok(())
}

fn docker_smoke(stages: &mut Stages) -> Result<()> {
    let assets = stages.run("control plane (setup)", || controlplane::setup(false))?;
    let engine = containers(stages, &assets)?;
    stages.run("docker engine (release)", || engine.release())
}

/// The container stages of `test`: the engine (leftovers swept), the images, the smoke test.
fn containers(stages: &mut Stages, assets: &Path) -> Result<docker::Engine> {
    let engine = stages.run("docker engine", || {
        let engine = docker::Engine::provide(docker::Lifetime::Run)?;
        let swept = engine.sweep()?;
        if swept > 0 {
            eprintln!("xtask: removed {swept} containers and networks left by earlier runs");
        }
        Ok(engine)
    })?;
    stages.run("container images", || images::ensure(&engine, assets, false))?;
    stages.run("container smoke test", || images::smoke(&engine))?;
    Ok(engine)
}

fn docker_sweep() -> Result<()> {
    let engine = docker::Engine::provide(docker::Lifetime::Run)?;
    let swept = engine.sweep()?;
    eprintln!("xtask: removed {swept} containers and networks whose creating process is gone");
    engine.release()
}

/// Runs the generator of the committed gRPC code (`xtask/protogen`, which brings its own
/// protoc from crates.io and ignores `PROTOC`); with `check`, fails when the committed files
/// are stale.
fn protos(check: bool) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "--locked", "--package", "protogen", "--"]);
    if check {
        cmd.arg("--check");
    }
    run(&mut cmd)
}

/// Fails when any crate that the workspace's own packages build (not the generator) depends on
/// `prost-build`, which is what runs protoc in a build script.
fn no_protoc_in_builds() -> Result<()> {
    let out = cargo()
        .args(["tree", "--workspace", "--exclude", "protogen", "--locked", "--edges"])
        .args(["normal,build,dev", "--prefix", "none", "--format", "{p}"])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let offenders: Vec<&str> = tree
        .lines()
        .filter(|line| line.starts_with("prost-build ") || line.starts_with("protoc-bin"))
        .collect();
    if !offenders.is_empty() {
        bail!(
            "the workspace build depends on {}: a build script would need protoc; commit \
             generated code instead (`cargo xtask protos`)",
            offenders.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn docker_and_setup_flags_parse() {
        let parsed = Xtask::try_parse_from(["xtask", "docker", "smoke"]).expect("parses");
        assert!(matches!(parsed.command, Cmd::Docker { what: DockerCmd::Smoke }));
        let parsed = Xtask::try_parse_from(["xtask", "setup", "--no-containers"]).expect("parses");
        assert!(matches!(parsed.command, Cmd::Setup { force: false, no_containers: true }));
    }

    #[test]
    fn only_backend_containers_needs_an_engine() {
        let os = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(uses_backend(
            &os(&["scenario", "rotate", "--backend", "containers"]),
            "containers"
        ));
        assert!(uses_backend(&os(&["scenario", "rotate", "--backend=containers"]), "containers"));
        assert!(!uses_backend(&os(&["scenario", "rotate", "--backend", "process"]), "containers"));
        assert!(uses_backend(&os(&["scenario", "rotate", "--backend", "kind"]), "kind"));
        assert!(!uses_backend(&os(&["scenario", "rotate", "--backend", "kind"]), "containers"));
        assert!(needs_control_plane(&os(&["scenario", "rotate", "--backend", "containers"])));
    }

    #[test]
    fn bench_transformers_is_ours_and_other_bench_commands_go_to_atrest() {
        let parsed = Xtask::try_parse_from(["xtask", "bench", "transformers", "--rounds", "2"])
            .expect("parses");
        assert!(matches!(
            parsed.command,
            Cmd::Bench {
                what: BenchCmd::Transformers { rounds: 2, budget_ms: 300, no_openssl: false }
            }
        ));
        let parsed = Xtask::try_parse_from([
            "xtask",
            "bench",
            "degradation",
            "--backend",
            "process",
            "--objects",
            "5",
        ])
        .expect("parses");
        let Cmd::Bench { what: BenchCmd::Atrest(args) } = parsed.command else {
            panic!("bench degradation was not forwarded");
        };
        assert_eq!(args, ["degradation", "--backend", "process", "--objects", "5"]);
    }
}
