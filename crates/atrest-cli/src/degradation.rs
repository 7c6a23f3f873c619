//! `atrest bench degradation`: how much slower Secret creates and gets get with each
//! encryption provider, measured end to end against a kube-apiserver (`--backend process`,
//! or the simulator), with bootstrap confidence intervals, next to the cost of the
//! transformer alone measured in-process in the same run.
//!
//! Method:
//! - One cluster (one etcd) for every arm; each arm's apiserver instance is started with a
//!   configuration that writes with the arm's provider and reads every other one (provider
//!   first, the other providers with their keys, then identity), since a restarted apiserver
//!   lists Secrets and never becomes ready when it cannot read one.
//! - An arm is a provider with a label: the same provider may be given twice (`identity#1`,
//!   `identity#2`), which is the A/A check of the method itself.
//! - The unit of replication is the apiserver instance: every round starts one fresh instance
//!   per arm, in an order that is reversed every other round and rotated every two (ABBA for
//!   two arms). `--design interleaved` (the default) keeps a round's instances running at once
//!   and alternates the requests between them, request k of every arm before request k + 1 of
//!   any (in a seeded random order per k; the arms take the instance slots in turn, one
//!   further each round), so that the machine's drift (other load, CPU
//!   frequency, etcd's compaction and fsyncs) falls on every arm alike and cancels in the
//!   per-round ratio; `--design sequential` starts, warms up and times one instance after the
//!   other, so drift between them stays in the ratio. After each start a discarded warm-up,
//!   then N timed creates and N timed gets of new names; at the end of the round its objects
//!   are deleted (untimed), so every round meets a store of the same size.
//! - The first object of each instance is read back raw from etcd to prove the provider in
//!   question wrote it.
//! - Statistics (module `stats`): type-7 percentiles; each arm's percentiles with two-stage
//!   bootstrap intervals (instances, then requests); the ratio of an arm's p50 to the
//!   baseline's as the geometric mean of the per-round ratios of instance p50s, with a Student
//!   t interval over rounds. A verdict ("slower" or "faster") needs at least
//!   [`stats::MIN_ROUNDS_FOR_VERDICT`] rounds and an interval that excludes 1.
//! - `--calibrate` (module `calibrate`) runs the same design as A/A comparisons, plus an arm
//!   whose requests are delayed on purpose, and counts the verdicts: the false-positive rate
//!   and the detection rate of this machine, measured rather than assumed.

mod calibrate;
mod measure;
mod plot;
mod report;
mod setup;
mod stats;

use measure::*;
use report::*;
use setup::*;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use atrest_backend::{
    ApiServerSpec, Cluster, ClusterSpec, Data, Kind, KmsAction, KmsFault, KmsPluginSpec, Object,
    ObjectRef,
};
use atrest_config::keygen::{self, KeyKind};
use atrest_config::load::LoadOptions;
use atrest_config::resolve::GroupResource;
use atrest_sim::SimCluster;
use atrest_transformers::{KmsPlugins, ResourceTransformers};
use clap::ValueEnum;
use plotters::style::RGBColor;
use serde::Serialize;
use zeroize::Zeroizing;

use self::stats::{Bootstrap, Estimate, PairedRatio, Rng, Verdict};
use crate::Outcome;
use crate::lifecycle::{Signals, teardown};
use crate::out::out;
use crate::scenario::Backend;

/// Where the encryption configurations go in the cluster's file tree (one per provider).
const CONFIG_DIR: &str = "/etc/atrest/bench";

/// The file of the configuration that writes with `provider`.
fn config_path(provider: Provider) -> String {
    format!("{CONFIG_DIR}/encryption-config-{}.yaml", provider.name())
}

/// The namespace of every benchmark object (it exists in a fresh cluster).
const NAMESPACE: &str = "default";

/// The percentiles reported.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// How the percentile intervals resample (in the report).
const RESAMPLING: &str = "two-stage: instances (rounds) with replacement, then requests with replacement within each drawn instance";

/// How the ratio and its verdict are computed (in the report).
const RATIO_METHOD: &str = "geometric mean over rounds of (arm's instance p50 / baseline's instance p50 in the same round), Student t interval over rounds (df = rounds - 1); a verdict needs enough rounds and an interval that excludes 1";

/// Confidence level of every interval.
const CONFIDENCE: f64 = 0.95;

/// How long each in-process transformer operation is timed (after as long a warm-up / 4).
const TRANSFORMER_BUDGET: Duration = Duration::from_millis(200);

/// The KMS v2 provider's name, and the plugin's (atrest's own, run by the backend).
const KMS_NAME: &str = "bench-kms";

/// The plugin's socket in the cluster's file tree.
const KMS_SOCKET: &str = "/var/run/kmsplugin/bench-kms.sock";

/// The providers that can be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Provider {
    /// No encryption: the baseline.
    Identity,
    /// AES-CBC with PKCS#7 padding.
    Aescbc,
    /// AES-GCM with a random nonce.
    Aesgcm,
    /// XSalsa20-Poly1305.
    Secretbox,
    /// KMS v2 through atrest's plugin (`--kms-latency-ms` slows it down).
    Kms,
}

impl Provider {
    const fn name(self) -> &'static str {
        match self {
            Provider::Identity => "identity",
            Provider::Aescbc => "aescbc",
            Provider::Aesgcm => "aesgcm",
            Provider::Secretbox => "secretbox",
            Provider::Kms => "kms",
        }
    }

    const fn key_kind(self) -> Option<KeyKind> {
        match self {
            Provider::Identity | Provider::Kms => None,
            Provider::Aescbc => Some(KeyKind::Aescbc),
            Provider::Aesgcm => Some(KeyKind::Aesgcm),
            Provider::Secretbox => Some(KeyKind::Secretbox),
        }
    }

    /// The key name, which is also the inner prefix of every value it writes.
    fn key_name(self) -> String {
        format!("bench-{}", self.name())
    }

    const fn color(self) -> RGBColor {
        match self {
            Provider::Identity => RGBColor(0, 0, 0),
            Provider::Aescbc => RGBColor(214, 39, 40),
            Provider::Aesgcm => RGBColor(31, 119, 180),
            Provider::Secretbox => RGBColor(44, 160, 44),
            Provider::Kms => RGBColor(148, 103, 189),
        }
    }
}

/// How the arms' apiserver instances share a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Design {
    /// Every arm's instance runs at once on the one etcd and the timed requests alternate
    /// between them (request k of every arm, in a random order, before request k + 1 of any),
    /// so what the machine does in any second falls on every arm alike.
    Interleaved,
    /// One instance at a time: each arm's instance is started, warmed up and timed in turn.
    Sequential,
}

impl Design {
    const fn name(self) -> &'static str {
        match self {
            Design::Interleaved => "interleaved",
            Design::Sequential => "sequential",
        }
    }

    /// What one round is, in words (reports).
    const fn describe(self) -> &'static str {
        match self {
            Design::Interleaved => {
                "one apiserver instance per arm and round, all running at once, requests alternating between them"
            }
            Design::Sequential => "one apiserver instance per arm and round, one after the other",
        }
    }
}

/// `atrest bench degradation`.
#[derive(clap::Args, Debug)]
pub(crate) struct DegradationArgs {
    /// Where to measure: `process` is the real kube-apiserver and etcd; `sim` the simulator
    /// (it tests the harness; its numbers say nothing about a real cluster).
    #[arg(long, value_enum)]
    backend: Backend,
    /// The arms to compare, comma-separated; identity (the first one is the baseline) must be
    /// one. A provider given twice is two arms (`identity,identity` is an A/A check).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "identity,aescbc,aesgcm,secretbox",
        conflicts_with = "calibrate"
    )]
    providers: Vec<Provider>,
    /// Timed creates, and as many timed gets, per arm and round (per apiserver instance).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    objects: u32,
    /// Bytes of data in each Secret (one data key).
    #[arg(long, value_name = "BYTES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    size: u32,
    /// Latency the KMS plugin adds to every call (provider `kms`): writes reuse one DEK and
    /// reads cache the ones they unwrapped, so it shows at restarts, not per request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    kms_latency_ms: u64,
    /// Rounds; each starts one fresh apiserver instance per arm (ABBA order). A verdict needs
    /// at least 4.
    #[arg(long, value_name = "R", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// How a round runs its instances: `interleaved` starts one per arm and alternates the
    /// timed requests between them; `sequential` runs them one after the other.
    #[arg(long, value_enum, default_value_t = Design::Interleaved)]
    design: Design,
    /// Discarded creates, and as many gets, after each restart.
    #[arg(long, value_name = "N", default_value_t = 20)]
    warmup: u32,
    /// Bootstrap resamples per confidence interval.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(100..))]
    resamples: u32,
    /// Seed of the bootstrap resampling (the same samples and seed give the same intervals)
    /// and of the Secret data (random-looking bytes, not secret).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write degradation.json, degradation.txt and degradation.svg (with --calibrate:
    /// calibration.json and calibration.txt) to DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Measure the method instead of the providers: COMPARISONS runs of the same design with
    /// arms identity#1 (baseline), identity#2 (A/A) and identity#3, whose every timed request
    /// is delayed by --inject-percent of identity#1's p50 in a pilot round of the design;
    /// reports how often A/A calls a difference (false positives) and how often the delay is
    /// found (power).
    #[arg(long)]
    calibrate: bool,
    /// Comparisons run by --calibrate.
    #[arg(long, value_name = "N", default_value_t = 20, requires = "calibrate", value_parser = clap::value_parser!(u32).range(1..))]
    comparisons: u32,
    /// The slowdown --calibrate injects, in percent of the pilot round's baseline p50 (create
    /// and get each): a wait on the monotonic clock inside the timed request, before it is sent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0, requires = "calibrate", value_parser = parse_percent)]
    inject_percent: f64,
    #[command(flatten)]
    images: crate::images::ImageArgs,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1000.0).contains(&p) => Ok(p),
        Ok(_) => Err("must be between 0 and 1000".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// One arm of a comparison: a provider under a label, and a delay (`--calibrate` only).
#[derive(Debug, Clone)]
struct Arm {
    provider: Provider,
    /// The provider's name, with `#k` when the provider is given more than once.
    label: String,
    /// Index of the provider's [`Setup`].
    setup: usize,
    /// Spent inside every timed request of this arm.
    delay: Delay,
}

/// Time added inside each timed request, before it is sent (calibration).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Delay {
    create: Duration,
    get: Duration,
}

/// One provider's part of the run: the configuration that writes with it.
struct Setup {
    provider: Provider,
    /// The encryption configuration (holds every key).
    config: Zeroizing<String>,
}

/// Timed requests of one operation.
#[derive(Debug, Default)]
struct OpSamples {
    /// Latency of each request, in measured order (ms).
    ms: Vec<f64>,
}

#[derive(Debug, Default)]
struct ArmSamples {
    create: OpSamples,
    get: OpSamples,
}

/// What the measurement returns: the backend, the arms as measured (with their delays), the
/// pilot (calibration), one comparison per run of the design, and the transformer costs by
/// setup.
struct Measured {
    backend: &'static str,
    arms: Vec<Arm>,
    pilot: Option<calibrate::Pilot>,
    comparisons: Vec<Comparison>,
    costs: Vec<TransformerCost>,
}

/// One run of the design: samples by arm, and each round's arm order (indices).
struct Comparison {
    samples: Vec<ArmSamples>,
    orders: Vec<Vec<usize>>,
}

/// `atrest bench degradation`.
pub(crate) fn run(args: &DegradationArgs) -> Result<Outcome> {
    args.images.check(args.backend == Backend::Containers)?;
    let given = if args.calibrate { vec![Provider::Identity; 3] } else { args.providers.clone() };
    let (providers, arms) = arms(&given)?;
    let payload = payload(args.size as usize, args.seed);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let kms_plugins = if providers.contains(&Provider::Kms) {
        vec![KmsPluginSpec { name: KMS_NAME.to_owned(), socket: KMS_SOCKET.to_owned() }]
    } else {
        Vec::new()
    };
    // Interleaved: one apiserver per arm, all on the one etcd.
    let instances = match args.design {
        Design::Interleaved => arms.len(),
        Design::Sequential => 1,
    };
    let spec = ClusterSpec {
        apiservers: vec![ApiServerSpec::default(); instances],
        kms_plugins,
        ..ClusterSpec::default()
    };
    let work = Work { args, providers: &providers, arms: &arms, payload: &payload };
    let measured = match args.backend {
        Backend::Sim => runtime.block_on(prepare_and_measure(SimCluster::new(spec), &work))?,
        Backend::Process => {
            let assets = atrest_process::Assets::locate()?;
            runtime.block_on(async {
                let cluster = atrest_process::ProcessCluster::launch(&assets, spec)
                    .await
                    .context("starting etcd for the process backend")?;
                prepare_and_measure(cluster, &work).await
            })?
        }
        Backend::Containers => runtime.block_on(async {
            let images = args.images.images();
            let cluster = atrest_containers::ContainersCluster::launch_with_images(spec, images)
                .await
                .context("starting the containers backend")?;
            prepare_and_measure(cluster, &work).await
        })?,
    };

    let boot =
        Bootstrap { resamples: args.resamples as usize, confidence: CONFIDENCE, seed: args.seed };
    if args.calibrate {
        let report = calibrate::analyse(args, &measured)?;
        let text = report.to_text();
        out!("{text}")?;
        if let Some(dir) = &args.out {
            calibrate::write_outputs(dir, &report, &text)?;
        }
        return Ok(Outcome::Ok);
    }
    let report = analyse(args, measured, &providers, &boot)?;
    let text = report.to_text();
    out!("{text}")?;
    if let Some(dir) = &args.out {
        write_outputs(dir, &report, &text)?;
    }
    Ok(Outcome::Ok)
}

/// What to measure.
struct Work<'a> {
    args: &'a DegradationArgs,
    /// Distinct providers, in the order of their setups.
    providers: &'a [Provider],
    arms: &'a [Arm],
    payload: &'a [u8],
}

/// Writes the configurations (the KMS plugin's endpoint comes from the cluster), times the
/// transformers in-process, then runs the design (with --calibrate: the pilot, then every
/// comparison). The cluster is stopped on every path.
async fn prepare_and_measure<C: Cluster>(mut cluster: C, work: &Work<'_>) -> Result<Measured> {
    let (args, providers, payload) = (work.args, work.providers, work.payload);
    let prepared = async {
        let endpoint = if providers.contains(&Provider::Kms) {
            let endpoint = cluster
                .kms_endpoint(KMS_NAME)
                .context("the backend runs no KMS plugin for provider kms")?;
            if args.kms_latency_ms > 0 {
                let latency = Duration::from_millis(args.kms_latency_ms);
                cluster
                    .kms_plugin(KMS_NAME, KmsAction::SetFault(KmsFault::Latency(latency)))
                    .await
                    .context("slowing the KMS plugin down")?;
            }
            Some(endpoint)
        } else {
            None
        };
        let setups = setups(providers, endpoint.as_deref())?;
        eprintln!("transformer cost in-process ({}-byte values)…", payload.len());
        let costs =
            setups.iter().map(|s| transformer_cost(s, payload)).collect::<Result<Vec<_>>>()?;
        Ok::<_, anyhow::Error>((setups, costs))
    }
    .await;
    let (setups, costs) = match prepared {
        Ok(p) => p,
        Err(e) => {
            teardown(cluster, false).await.warn_if_unclean();
            return Err(e);
        }
    };
    fn plan<'a>(
        work: &Work<'a>,
        setups: &'a [Setup],
        arms: &'a [Arm],
        rounds: usize,
        tag: String,
    ) -> Plan<'a> {
        let args = work.args;
        Plan {
            setups,
            arms,
            objects: args.objects as usize,
            warmup: args.warmup as usize,
            rounds,
            design: args.design,
            seed: args.seed,
            payload: work.payload,
            tag,
        }
    }
    let files: Vec<String> = providers.iter().map(|&p| config_path(p)).collect();
    let (backend, (arms, pilot, comparisons)) =
        measure(cluster, &files, async |cluster: &mut C| {
            let mut arms = work.arms.to_vec();
            let mut pilot = None;
            let runs = if args.calibrate { args.comparisons as usize } else { 1 };
            if args.calibrate {
                // A round of the same design (every arm, no delay yet): the delay is a share
                // of the baseline's p50 under the conditions the comparisons measure in (with
                // interleaving, every instance running).
                eprintln!(
                    "pilot: one round of the design; {}'s p50 sets the injected delay",
                    arms[0].label
                );
                let pilot_plan = plan(work, &setups, &arms, 1, "pilot-".to_owned());
                let p = rounds(cluster, &pilot_plan).await?;
                let p = calibrate::Pilot::new(&p.samples[0], args.inject_percent)?;
                if let Some(last) = arms.last_mut() {
                    last.delay = p.delay;
                }
                pilot = Some(p);
            }
            let mut comparisons = Vec::with_capacity(runs);
            for c in 0..runs {
                if runs > 1 {
                    eprintln!("comparison {}/{runs}", c + 1);
                }
                let tag = if runs > 1 { format!("c{c}-") } else { String::new() };
                let design = plan(work, &setups, &arms, args.rounds as usize, tag);
                comparisons.push(rounds(cluster, &design).await?);
            }
            Ok((arms, pilot, comparisons))
        })
        .await?;
    Ok(Measured { backend, arms, pilot, comparisons, costs })
}

/// The distinct providers (in first-given order) and the arms, labelled `name#k` when a
/// provider is given more than once. Identity must be one: the first identity arm is the
/// baseline of every ratio.
fn arms(given: &[Provider]) -> Result<(Vec<Provider>, Vec<Arm>)> {
    if !given.contains(&Provider::Identity) {
        bail!("--providers must include identity: every ratio is to identity");
    }
    let mut providers = Vec::new();
    let mut arms = Vec::with_capacity(given.len());
    for &p in given {
        let setup = providers.iter().position(|&q| q == p).unwrap_or_else(|| {
            providers.push(p);
            providers.len() - 1
        });
        let total = given.iter().filter(|&&q| q == p).count();
        let nth = arms.iter().filter(|a: &&Arm| a.provider == p).count() + 1;
        let label = if total > 1 { format!("{}#{nth}", p.name()) } else { p.name().to_owned() };
        arms.push(Arm { provider: p, label, setup, delay: Delay::default() });
    }
    Ok((providers, arms))
}

/// The baseline arm: the first identity.
fn baseline(arms: &[Arm]) -> usize {
    arms.iter().position(|a| a.provider == Provider::Identity).expect("arms() requires identity")
}
