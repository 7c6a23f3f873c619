//! `atrest scenario` and `atrest scenarios`: run scenario files on a backend, list them.
//!
//! Exit codes: 0 every expectation held, 1 an expectation failed, 2 harness error (bad
//! scenario file, a backend that could not start when the scenario did not expect that).
//! Like `cluster up`, runs on a current-thread tokio runtime: children of the process backend
//! die with the thread that spawned them (PR_SET_PDEATHSIG).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use atrest_backend::{Cluster, DEFAULT_ETCD_PREFIX};
use atrest_scenario::report::{StepOutcome, StepReport};
use atrest_scenario::{Outcome as RunOutcome, Report, RunOptions, Scenario};
use atrest_sim::SimCluster;
use clap::ValueEnum;

use crate::Outcome;
use crate::images::ImageArgs;
use crate::lifecycle::{Signals, teardown};
use crate::out::{out, outln};

/// Which backend runs the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Backend {
    /// The embedded simulator (in-process, no binaries).
    #[default]
    Sim,
    /// Real etcd and kube-apiserver as local processes (built by `cargo xtask setup`, found in
    /// its cache; ATREST_ASSETS overrides).
    Process,
    /// Real etcd and kube-apiserver in Docker containers of local images (built by `cargo xtask
    /// setup`, never pulled), on host networking; needs DOCKER_HOST.
    Containers,
}

/// Where `atrest scenario` runs: a fresh cluster of a backend, or the user's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ScenarioBackend {
    /// The embedded simulator (in-process, no binaries).
    #[default]
    Sim,
    /// Real etcd and kube-apiserver as local processes (built by `cargo xtask setup`, found in
    /// its cache; ATREST_ASSETS overrides).
    Process,
    /// Real etcd and kube-apiserver in Docker containers of local images (built by `cargo xtask
    /// setup`, never pulled), on host networking; needs DOCKER_HOST.
    Containers,
    /// Your cluster, through --kubeconfig (and --etcd to check stored values): objects go to
    /// scratch namespaces that are deleted at the end; steps that restart apiservers or write
    /// their files are refused before anything runs.
    Existing,
    /// A real kind cluster (one control-plane node: kubeadm's static pods, a real kubelet) in
    /// the engine DOCKER_HOST names, created for the run and deleted after it; kind and the node
    /// image come from `cargo xtask setup` and `cargo xtask kind-node-image` (ATREST_KIND,
    /// ATREST_KIND_IMAGE override).
    Kind,
}

/// `--backend existing`: how to reach the user's cluster.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Your cluster (--backend existing)")]
pub(crate) struct ExistingArgs {
    /// The kubeconfig (default: $KUBECONFIG).
    #[arg(long, value_name = "FILE", env = "KUBECONFIG", hide_env_values = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// etcd's client URL, for the steps that read etcd (expectStored, expectAll, preflight).
    #[arg(long, value_name = "URL")]
    etcd: Option<String>,
    /// CA certificate of etcd's serving certificate (PEM), as `etcdctl --cacert`.
    #[arg(long, value_name = "FILE", requires = "etcd")]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's --client-cert-auth, as `etcdctl --cert`.
    #[arg(long, value_name = "FILE", requires_all = ["etcd", "key"])]
    cert: Option<PathBuf>,
    /// The client certificate's key (PEM), as `etcdctl --key`.
    #[arg(long, value_name = "FILE", requires_all = ["etcd", "cert"])]
    key: Option<PathBuf>,
    /// kube-apiserver's --etcd-prefix.
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_ETCD_PREFIX)]
    etcd_prefix: String,
}

impl ExistingArgs {
    fn spec(&self) -> Result<atrest_existing::ExistingSpec> {
        let Some(kubeconfig) = &self.kubeconfig else {
            bail!("--backend existing needs --kubeconfig FILE (or KUBECONFIG)");
        };
        let mut spec = atrest_existing::ExistingSpec::new(kubeconfig);
        spec.context.clone_from(&self.context);
        spec.etcd_prefix.clone_from(&self.etcd_prefix);
        spec.etcd = self.etcd.as_ref().map(|url| {
            let settings =
                atrest_process::ConnectSettings::new().with_tls(atrest_process::EtcdTlsFiles {
                    ca_file: self.cacert.clone(),
                    cert_file: self.cert.clone(),
                    key_file: self.key.clone(),
                });
            (url.clone(), settings)
        });
        Ok(spec)
    }
}

/// Report format on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ReportFormat {
    /// Human-readable.
    #[default]
    Text,
    /// JSON (the same structure as the text).
    Json,
    /// JUnit XML (one test case per step).
    Junit,
}

/// `atrest scenario`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A scenario name (a file in the scenarios directory, or one built into atrest) or a path
    /// to a scenario file; `show NAME` prints that scenario's file instead of running it.
    #[arg(value_name = "NAME|PATH", required_unless_present = "all", conflicts_with = "all")]
    scenario: Option<String>,
    /// With `show`: the scenario whose file to print (`atrest scenario show rotate`).
    #[arg(value_name = "NAME", hide = true)]
    show_name: Option<String>,
    /// Run every scenario in the scenarios directory.
    #[arg(long)]
    all: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value_t)]
    backend: ScenarioBackend,
    /// Use your own EncryptionConfiguration for a named config of the scenario: NAME=FILE, or
    /// FILE alone for the config named `user`. May be repeated. `${key:NAME}` placeholders in
    /// it are filled like the scenario's own.
    #[arg(long, value_name = "[NAME=]FILE")]
    config: Vec<String>,
    /// Format of the report on standard output.
    #[arg(long, value_enum, default_value_t)]
    report: ReportFormat,
    /// Also write every report format to DIR (<scenario>.txt, .json, .junit.xml).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The scenarios directory (default: $ATREST_SCENARIOS, else the nearest `scenarios/`
    /// directory at or above the current one, else the scenarios built into atrest).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    images: ImageArgs,
    #[command(flatten)]
    existing: ExistingArgs,
}

/// `atrest scenarios`.
#[derive(clap::Args, Debug)]
pub(crate) struct ListArgs {
    /// The scenarios directory (as for `atrest scenario`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));
}

/// The directory name built-in scenarios carry in their paths (errors, `file:` configs).
const BUILTIN_DIR: &str = "<built-in scenarios>";

/// Where scenarios come from.
enum Source {
    /// A directory of scenario files.
    Dir(PathBuf),
    /// The scenarios shipped in the repository's `scenarios/`, embedded at build time.
    Builtin,
}

/// One scenario file.
enum Entry {
    /// On disk.
    File(PathBuf),
    /// Embedded: its path under `scenarios/` and its text.
    Builtin(&'static str, &'static str),
}

impl Entry {
    /// The scenario's name (its file name without `.yaml`).
    fn stem(&self) -> String {
        let path = match self {
            Entry::File(path) => path.as_path(),
            Entry::Builtin(rel, _) => Path::new(rel),
        };
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn load(&self) -> Result<Scenario, atrest_scenario::ScenarioError> {
        match self {
            Entry::File(path) => atrest_scenario::load(path),
            Entry::Builtin(rel, text) => {
                let path = Path::new(BUILTIN_DIR).join(rel);
                atrest_scenario::parse_with(&path, text, |file| {
                    let rel = file.strip_prefix(BUILTIN_DIR).ok().and_then(Path::to_str);
                    builtin::BUILTIN
                        .iter()
                        .find(|(name, _)| Some(*name) == rel)
                        .map(|(_, text)| (*text).to_owned())
                        .ok_or_else(|| {
                            std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                "not among the built-in scenario files",
                            )
                        })
                })
            }
        }
    }

    /// The file's text, as `scenario show` prints it.
    fn text(&self) -> Result<String> {
        match self {
            Entry::File(path) => {
                Ok(atrest_input::read_limited_to_string(path, atrest_scenario::SCENARIO_LIMIT)?)
            }
            Entry::Builtin(_, text) => Ok((*text).to_owned()),
        }
    }
}

/// `--dir`, else `$ATREST_SCENARIOS`, else the nearest `scenarios/` at or above the current
/// directory (a checkout of the repository, or a user's own), else the built-in ones.
fn source(given: Option<&Path>) -> Result<Source> {
    if let Some(d) = given {
        return Ok(Source::Dir(d.to_owned()));
    }
    if let Some(d) = std::env::var_os("ATREST_SCENARIOS").filter(|d| !d.is_empty()) {
        return Ok(Source::Dir(PathBuf::from(d)));
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for dir in cwd.ancestors() {
        let candidate = dir.join("scenarios");
        if candidate.is_dir() {
            return Ok(Source::Dir(candidate));
        }
    }
    Ok(Source::Builtin)
}

/// The scenario files of a source (top level only: `configs/` holds configs), by name.
fn entries(source: &Source) -> Result<Vec<Entry>> {
    match source {
        Source::Dir(dir) => {
            let mut files: Vec<PathBuf> = fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
                .collect();
            files.sort();
            Ok(files.into_iter().map(Entry::File).collect())
        }
        Source::Builtin => Ok(builtin::BUILTIN
            .iter()
            .filter(|(rel, _)| !rel.contains('/'))
            .map(|(rel, text)| Entry::Builtin(rel, text))
            .collect()),
    }
}

fn resolve(name: &str, dir: Option<&Path>) -> Result<Entry> {
    let as_path = Path::new(name);
    if name.contains('/') && !as_path.exists() {
        // `existing/verify-encryption`: a scenario in a subdirectory of the scenarios.
        let file =
            if as_path.extension().is_some() { name.to_owned() } else { format!("{name}.yaml") };
        match source(dir)? {
            Source::Dir(d) if d.join(&file).is_file() => return Ok(Entry::File(d.join(file))),
            Source::Builtin => {
                if let Some((rel, text)) = builtin::BUILTIN.iter().find(|(rel, _)| *rel == file) {
                    return Ok(Entry::Builtin(rel, text));
                }
            }
            Source::Dir(_) => {}
        }
    }
    if name.contains('/') || as_path.extension().is_some() {
        return Ok(Entry::File(as_path.to_owned()));
    }
    let source = source(dir)?;
    let known = entries(&source)?;
    let names: Vec<String> = known.iter().map(Entry::stem).collect();
    if let Some(i) = names.iter().position(|n| n == name) {
        return Ok(known.into_iter().nth(i).expect("position is in range"));
    }
    let place = match &source {
        Source::Dir(dir) => dir.display().to_string(),
        Source::Builtin => "the built-in scenarios".to_owned(),
    };
    bail!("no scenario named {name:?} in {place} (known: {})", names.join(", "))
}

fn user_configs(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (name, file) = match a.split_once('=') {
            Some((n, f)) => (n.to_owned(), f),
            None => ("user".to_owned(), a.as_str()),
        };
        let text =
            atrest_input::read_limited_to_string(Path::new(file), atrest_scenario::CONFIG_LIMIT)
                .with_context(|| format!("--config {name}"))?;
        // Placeholders are checked here so that an error names the file and the place.
        if let Err(e) = atrest_scenario::template::Secrets::default().check(&text) {
            let (line, column) =
                atrest_scenario::template::line_col(&text, e.offset().unwrap_or(0));
            bail!("{file}:{line}:{column}: --config {name}: {e}");
        }
        out.insert(name, text);
    }
    Ok(out)
}

/// How many reasons `atrest scenarios` shows per scenario a backend cannot run.
const REASONS_SHOWN: usize = 3;

/// `atrest scenarios`: one line per scenario, then what of it the kind backend cannot run
/// (every other backend but `existing`, which says so when asked, runs them all).
pub(crate) fn list(args: &ListArgs) -> Result<Outcome> {
    let mut worst = Outcome::Ok;
    for entry in entries(&source(args.dir.as_deref())?)? {
        match entry.load() {
            Ok(s) => {
                outln!("{:<28} {}", s.name, s.description)?;
                let reasons = not_on_kind(&s);
                for r in reasons.iter().take(REASONS_SHOWN) {
                    outln!("{:<28}   not on kind: {r}", "")?;
                }
                if reasons.len() > REASONS_SHOWN {
                    outln!(
                        "{:<28}   not on kind: … and {} more",
                        "",
                        reasons.len() - REASONS_SHOWN
                    )?;
                }
            }
            Err(e) => {
                outln!("{:<28} INVALID: {e}", entry.stem())?;
                worst = Outcome::Error;
            }
        }
    }
    Ok(worst)
}

/// What of `scenario` the kind backend refuses, each with its reason: its steps and cluster
/// settings against the backend's controls, and what it refuses before creating a cluster.
fn not_on_kind(scenario: &atrest_scenario::Scenario) -> Vec<String> {
    let mut reasons = scenario.unsupported("kind", &atrest_kind::CONTROLS, 1);
    if !reasons.iter().any(|r| r.starts_with("cluster."))
        && let Err(e) = atrest_kind::check_spec(&scenario.cluster_spec())
    {
        reasons.insert(0, format!("cluster: {e}"));
    }
    for made in scenario.flag_specs() {
        if let Err(e) = atrest_kind::check_apiserver(&made.spec) {
            reasons.push(format!("step {} (line {}) `setFlags`: {e}", made.step, made.line));
        }
    }
    reasons
}

/// `atrest scenario`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let name = args.scenario.as_deref().unwrap_or_default();
    match (name, &args.show_name) {
        ("show", Some(shown)) => {
            out!("{}", resolve(shown, args.dir.as_deref())?.text()?)?;
            return Ok(Outcome::Ok);
        }
        ("show", None) => bail!("`atrest scenario show` needs a scenario name"),
        (_, Some(extra)) => bail!("unexpected argument {extra:?} after the scenario {name:?}"),
        (_, None) => {}
    }
    let files = if args.all {
        entries(&source(args.dir.as_deref())?)?
    } else {
        vec![resolve(name, args.dir.as_deref())?]
    };
    let user = user_configs(&args.config)?;
    let e = &args.existing;
    if args.backend != ScenarioBackend::Existing
        && (e.etcd.is_some() || e.context.is_some() || e.etcd_prefix != DEFAULT_ETCD_PREFIX)
    {
        bail!("--etcd, --context and --etcd-prefix are for --backend existing");
    }
    args.images.check(args.backend == ScenarioBackend::Containers)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut worst = 0;
    for file in files {
        let scenario = match file.load() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                worst = 2;
                continue;
            }
        };
        let opts = RunOptions { user_configs: user.clone(), ..RunOptions::default() };
        let backend = match args.backend {
            ScenarioBackend::Sim => Backend::Sim,
            ScenarioBackend::Process => Backend::Process,
            ScenarioBackend::Containers => Backend::Containers,
            ScenarioBackend::Existing => {
                let report =
                    runtime.block_on(run_existing(&scenario, &opts, &args.existing, false))?;
                emit(&report, args)?;
                worst = worst.max(report.outcome.exit_code());
                continue;
            }
            ScenarioBackend::Kind => {
                let report = runtime.block_on(run_kind(&scenario, &opts, false))?;
                emit(&report, args)?;
                worst = worst.max(report.outcome.exit_code());
                continue;
            }
        };
        let report = runtime.block_on(run_one(&scenario, &opts, backend, &args.images, false))?;
        emit(&report, args)?;
        worst = worst.max(report.outcome.exit_code());
    }
    Ok(match worst {
        0 => Outcome::Ok,
        1 => Outcome::Failed,
        _ => Outcome::Error,
    })
}

/// Loads a scenario by name (in the scenarios directory, or built in) or path.
pub(crate) fn load_named(name: &str, dir: Option<&Path>) -> Result<Scenario> {
    Ok(resolve(name, dir)?.load()?)
}

/// Runs one scenario on a fresh cluster of `backend` (`images` for `containers`) and tears it
/// down.
pub(crate) async fn run_one(
    scenario: &Scenario,
    opts: &RunOptions,
    backend: Backend,
    images: &ImageArgs,
    quiet: bool,
) -> Result<Report> {
    let prepared = scenario.prepare(opts)?;
    let spec = scenario.cluster_spec();
    if !quiet {
        eprintln!("scenario {} on {backend:?}: {}", scenario.name, scenario.description);
    }
    match backend {
        Backend::Sim => drive(scenario, prepared, SimCluster::new(spec), quiet).await,
        Backend::Process => {
            let assets = atrest_process::Assets::locate()?;
            let cluster = atrest_process::ProcessCluster::launch(&assets, spec)
                .await
                .context("starting etcd for the process backend")?;
            drive(scenario, prepared, cluster, quiet).await
        }
        Backend::Containers => {
            let cluster =
                atrest_containers::ContainersCluster::launch_with_images(spec, images.images())
                    .await
                    .context("starting the containers backend")?;
            drive(scenario, prepared, cluster, quiet).await
        }
    }
}

/// Runs one scenario on the user's cluster, in scratch namespaces removed at the end.
async fn run_existing(
    scenario: &Scenario,
    opts: &RunOptions,
    existing: &ExistingArgs,
    quiet: bool,
) -> Result<Report> {
    let spec = existing.spec()?;
    let prepared = scenario.prepare(opts)?;
    if !quiet {
        eprintln!("scenario {} on your cluster: {}", scenario.name, scenario.description);
    }
    let cluster = atrest_existing::ExistingCluster::connect(&spec)
        .await
        .context("connecting to your cluster (--backend existing)")?;
    drive(scenario, prepared, cluster, quiet).await
}

/// Runs one scenario on a kind cluster created for it, deleted afterwards.
pub(crate) async fn run_kind(
    scenario: &Scenario,
    opts: &RunOptions,
    quiet: bool,
) -> Result<Report> {
    // Refused before a cluster is created for it (`atrest scenarios` lists the same).
    let refused = not_on_kind(scenario);
    if !refused.is_empty() {
        bail!("scenario {} cannot run on kind:\n  {}", scenario.name, refused.join("\n  "));
    }
    let kind = atrest_kind::KindSpec::locate()?;
    let prepared = scenario.prepare(opts)?;
    if !quiet {
        eprintln!("scenario {} on kind ({}): {}", scenario.name, kind.image, scenario.description);
    }
    let cluster = atrest_kind::KindCluster::launch(&kind, scenario.cluster_spec())
        .await
        .context("creating the kind cluster")?;
    drive(scenario, prepared, cluster, quiet).await
}

async fn drive<C: Cluster>(
    scenario: &Scenario,
    prepared: atrest_scenario::Prepared,
    mut cluster: C,
    quiet: bool,
) -> Result<Report> {
    let mut signals = Signals::install()?;
    let mut progress = |s: &StepReport| {
        if !quiet {
            print_progress(s);
        }
    };
    let ran =
        signals.guard(atrest_scenario::run(scenario, prepared, &mut cluster, &mut progress)).await;
    let passed = matches!(&ran, Ok(r) if r.outcome == RunOutcome::Passed);
    let down = teardown(cluster, !passed).await;
    match ran {
        Err(stop) => {
            down.warn_if_unclean();
            bail!("{stop}; everything the scenario started is stopped{}", down.logs_note())
        }
        Ok(mut report) => {
            report.logs = down.logs.as_ref().map(|p| p.display().to_string());
            down.stopped.context("stopping the cluster")?;
            Ok(report)
        }
    }
}

fn print_progress(s: &StepReport) {
    let mark = match s.outcome {
        StepOutcome::Ok => "ok   ",
        StepOutcome::Failed => "FAIL ",
        StepOutcome::Error => "ERROR",
    };
    let ms = s.duration_ms;
    let took = if ms >= 1000.0 { format!("{:.1} s", ms / 1000.0) } else { format!("{ms:.1} ms") };
    eprintln!("  {mark} {} {} ({took})", s.label(), s.action);
}

fn emit(report: &Report, args: &Args) -> Result<()> {
    match args.report {
        ReportFormat::Text => out!("{}", report.to_text())?,
        ReportFormat::Json => outln!("{}", report.to_json())?,
        ReportFormat::Junit => outln!("{}", report.to_junit())?,
    }
    if let Some(dir) = &args.out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = format!("{}.{}", report.scenario, report.backend);
        for (ext, text) in [
            ("txt", report.to_text()),
            ("json", report.to_json()),
            ("junit.xml", report.to_junit()),
        ] {
            let path = dir.join(format!("{stem}.{ext}"));
            crate::files::write_output(&path, text)?;
        }
    }
    Ok(())
}
