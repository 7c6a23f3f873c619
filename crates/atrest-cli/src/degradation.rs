//! `atrest bench degradation`: how much slower Secret creates and gets get with each
//! encryption provider, measured end to end against a kube-apiserver (`--backend process`,
//! or the simulator), with bootstrap confidence intervals, next to the cost of the
//! transformer alone measured in-process in the same run.
//!
//! Method:
//! - One cluster (one etcd) for every provider; the apiserver restarts between providers with
//!   a configuration that writes with that provider and reads every other one (provider first,
//!   the other providers with their keys, then identity), since a restarted apiserver lists
//!   Secrets and never becomes ready when it cannot read one.
//! - Keys are fresh from the OS CSPRNG each run; they live in the backend's 0600 config file
//!   and in memory only, never on the terminal or in the report.
//! - Interleaved rounds: for each round, every provider in an order rotated by one per round
//!   (so drift of the machine spreads over all of them); after each restart a discarded
//!   warm-up, then N timed creates and N timed gets of new names.
//! - The first object of each round is read back raw from etcd to prove the provider in
//!   question wrote it.
//! - Statistics (module `stats`): type-7 percentiles, percentile bootstrap intervals from a
//!   seeded generator, resampling rounds and then requests within rounds (requests of one
//!   round share its machine load, so they are not independent); the ratio to identity
//!   resamples both samples over the same drawn rounds. "slower" is only claimed when the
//!   ratio's interval excludes 1.

mod plot;
mod stats;

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

use self::stats::{Bootstrap, Estimate, Rng, Verdict};
use crate::Outcome;
use crate::lifecycle::{Signals, teardown};
use crate::out::out;
use crate::scenario::Backend;

/// Where the encryption configuration goes in the cluster's file tree.
const CONFIG_PATH: &str = "/etc/atrest/bench/encryption-config.yaml";

/// The namespace of every benchmark object (it exists in a fresh cluster).
const NAMESPACE: &str = "default";

/// The percentiles reported.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// How intervals resample (in the report).
const RESAMPLING: &str = "two-stage: rounds with replacement (the same rounds for both samples of a ratio), then requests with replacement within each drawn round";

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

/// `atrest bench degradation`.
#[derive(clap::Args, Debug)]
pub(crate) struct DegradationArgs {
    /// Where to measure: `process` is the real kube-apiserver and etcd; `sim` the simulator
    /// (it tests the harness; its numbers say nothing about a real cluster).
    #[arg(long, value_enum)]
    backend: Backend,
    /// The providers to compare, comma-separated; identity (the baseline) must be one.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "identity,aescbc,aesgcm,secretbox"
    )]
    providers: Vec<Provider>,
    /// Timed creates, and as many timed gets, per provider and round.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    objects: u32,
    /// Bytes of data in each Secret (one data key).
    #[arg(long, value_name = "BYTES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    size: u32,
    /// Latency the KMS plugin adds to every call (provider `kms`): writes reuse one DEK and
    /// reads cache the ones they unwrapped, so it shows at restarts, not per request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    kms_latency_ms: u64,
    /// Rounds; each restarts the apiserver once per provider, in a rotated order.
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
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
    /// Also write degradation.json, degradation.txt and degradation.svg to DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// One provider's part of the run: its key and the configuration that writes with it.
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
    /// Wall time of the timed phases (for throughput).
    wall: Duration,
}

#[derive(Debug, Default)]
struct ProviderSamples {
    create: OpSamples,
    get: OpSamples,
}

/// `atrest bench degradation`.
pub(crate) fn run(args: &DegradationArgs) -> Result<Outcome> {
    let providers = check_providers(&args.providers)?;
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
    let spec = ClusterSpec { apiservers: vec![ApiServerSpec::default()], kms_plugins };
    let (backend, samples, orders, costs) = match args.backend {
        Backend::Sim => runtime.block_on(prepare_and_measure(
            SimCluster::new(spec),
            args,
            &providers,
            &payload,
        ))?,
        Backend::Process => {
            let assets = atrest_process::Assets::locate()?;
            runtime.block_on(async {
                let cluster = atrest_process::ProcessCluster::launch(&assets, spec)
                    .await
                    .context("starting etcd for the process backend")?;
                prepare_and_measure(cluster, args, &providers, &payload).await
            })?
        }
        Backend::Containers => runtime.block_on(async {
            let cluster = atrest_containers::ContainersCluster::launch(spec)
                .await
                .context("starting the containers backend")?;
            prepare_and_measure(cluster, args, &providers, &payload).await
        })?,
    };

    let boot =
        Bootstrap { resamples: args.resamples as usize, confidence: CONFIDENCE, seed: args.seed };
    let report = analyse(args, backend, &providers, &samples, costs, orders, &boot)?;
    let text = report.to_text();
    out!("{text}")?;
    if let Some(dir) = &args.out {
        write_outputs(dir, &report, &text)?;
    }
    Ok(Outcome::Ok)
}

/// Writes the configurations (the KMS plugin's endpoint comes from the cluster), times the
/// transformers in-process, then runs the rounds. The cluster is stopped on every path.
async fn prepare_and_measure<C: Cluster>(
    mut cluster: C,
    args: &DegradationArgs,
    providers: &[Provider],
    payload: &[u8],
) -> Result<(&'static str, Vec<ProviderSamples>, Vec<Vec<Provider>>, Vec<TransformerCost>)> {
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
    let plan = Plan {
        setups: &setups,
        objects: args.objects as usize,
        warmup: args.warmup as usize,
        rounds: args.rounds as usize,
        payload,
    };
    let (backend, samples, orders) = measure(cluster, &plan).await?;
    Ok((backend, samples, orders, costs))
}

fn check_providers(given: &[Provider]) -> Result<Vec<Provider>> {
    let mut seen = Vec::new();
    for &p in given {
        if seen.contains(&p) {
            bail!("--providers names {} twice", p.name());
        }
        seen.push(p);
    }
    if !seen.contains(&Provider::Identity) {
        bail!("--providers must include identity: every ratio is to identity");
    }
    Ok(seen)
}

/// Fresh keys, and for each provider the configuration writing with it and reading all;
/// `kms_endpoint` is the plugin's when `kms` is one of them.
fn setups(providers: &[Provider], kms_endpoint: Option<&str>) -> Result<Vec<Setup>> {
    // Each provider's YAML item, with its key.
    let mut items = Vec::with_capacity(providers.len());
    for &p in providers {
        let item = match p.key_kind() {
            None if p == Provider::Kms => Zeroizing::new(format!(
                "- kms:\n    apiVersion: v2\n    name: {KMS_NAME}\n    endpoint: {}\n",
                kms_endpoint.context("no KMS plugin endpoint for provider kms")?
            )),
            None => Zeroizing::new("- identity: {}\n".to_owned()),
            Some(kind) => {
                let key = keygen::generate(kind, &p.key_name())
                    .with_context(|| format!("generating the {} key", p.name()))?;
                Zeroizing::new(keygen::render_provider(kind, &key))
            }
        };
        items.push((p, item));
    }
    let mut setups = Vec::with_capacity(providers.len());
    for &first in providers {
        let order = std::iter::once(first)
            .chain(providers.iter().copied().filter(|&p| p != first && p != Provider::Identity))
            .chain((first != Provider::Identity).then_some(Provider::Identity));
        let mut config = Zeroizing::new(String::from(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n",
        ));
        for p in order {
            let (_, item) =
                items.iter().find(|(q, _)| *q == p).expect("every provider has an item");
            for line in item.lines() {
                config.push_str("      ");
                config.push_str(line);
                config.push('\n');
            }
        }
        setups.push(Setup { provider: first, config });
    }
    Ok(setups)
}

/// The Secret data: not secret, just bytes that do not compress (seeded).
fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::stream(seed, "payload");
    (0..size).map(|_| rng.next_u64() as u8).collect()
}

/// Mean cost of the provider's transformer (the chain the apiserver builds from the same
/// configuration) on a `payload`-sized value.
#[derive(Debug, Clone, Copy, Serialize)]
struct TransformerCost {
    /// Bytes of the plaintext value.
    value_bytes: usize,
    /// Mean µs of `to_storage` (encrypt and frame).
    to_storage_us: f64,
    /// Mean µs of `from_storage` (find the prefix, decrypt).
    from_storage_us: f64,
    /// Timed iterations of each.
    iterations: u64,
}

fn transformer_cost(setup: &Setup, payload: &[u8]) -> Result<TransformerCost> {
    let name = setup.provider.name();
    let loaded = atrest_config::load::load(
        CONFIG_PATH,
        Ok(setup.config.as_bytes().to_vec()),
        &LoadOptions::default(),
    )
    .with_context(|| format!("the generated {name} configuration does not load"))?;
    // An in-process plugin (no socket, no latency): after the first write and read, KMS v2
    // costs what its cached DEK costs, which is what this measures.
    let plugin = atrest_kms::LocalKmsPlugin::new().context("generating an in-process KMS key")?;
    let plugins = KmsPlugins::new().with_v2(KMS_NAME, Arc::new(plugin));
    let transformers = ResourceTransformers::new(&loaded.plan, &plugins)
        .with_context(|| format!("building the {name} transformers"))?;
    let t = transformers.for_resource(&GroupResource::parse("secrets"));
    let ctx = ObjectRef::new(Kind::Secret, NAMESPACE, "bench-transformer")
        .etcd_key(atrest_backend::DEFAULT_ETCD_PREFIX);
    let ctx = ctx.as_bytes();
    let stored = t.to_storage(payload, ctx).with_context(|| format!("{name} to_storage"))?;
    let (back, _) = t.from_storage(&stored, ctx).with_context(|| format!("{name} from_storage"))?;
    if back != payload {
        bail!("{name} did not read back what it wrote");
    }
    let (to_s, n1) = time_per_op(|| t.to_storage(black_box(payload), ctx).map(black_box).is_ok());
    let (from_s, n2) =
        time_per_op(|| t.from_storage(black_box(&stored), ctx).map(black_box).is_ok());
    Ok(TransformerCost {
        value_bytes: payload.len(),
        to_storage_us: to_s * 1e6,
        from_storage_us: from_s * 1e6,
        iterations: n1.min(n2),
    })
}

/// Mean seconds per call of `op` over [`TRANSFORMER_BUDGET`], after a warm-up.
fn time_per_op(mut op: impl FnMut() -> bool) -> (f64, u64) {
    let warm = Instant::now();
    while warm.elapsed() < TRANSFORMER_BUDGET / 4 {
        black_box(op());
    }
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < TRANSFORMER_BUDGET {
        for _ in 0..16 {
            black_box(op());
        }
        n += 16;
    }
    (start.elapsed().as_secs_f64() / n as f64, n)
}

/// What the rounds do.
struct Plan<'a> {
    setups: &'a [Setup],
    objects: usize,
    warmup: usize,
    rounds: usize,
    payload: &'a [u8],
}

type Measured = (&'static str, Vec<ProviderSamples>, Vec<Vec<Provider>>);

/// Runs the rounds on `cluster`, stops it, and returns the backend name, the samples (in
/// `plan.setups` order) and each round's provider order. Ctrl-C stops everything started.
async fn measure<C: Cluster>(mut cluster: C, plan: &Plan<'_>) -> Result<Measured> {
    let backend = cluster.backend_name();
    let mut signals = Signals::install()?;
    let result = match signals.guard(rounds(&mut cluster, plan)).await {
        Ok(r) => r,
        Err(stop) => Err(anyhow::anyhow!("{stop}")),
    };
    // The keys are in the config file: gone before any logs are kept.
    let removed = cluster.remove_file(CONFIG_PATH).await;
    match result {
        Ok((samples, orders)) => {
            removed.context("removing the encryption configuration")?;
            teardown(cluster, false).await.stopped.context("stopping the cluster")?;
            Ok((backend, samples, orders))
        }
        Err(e) => {
            let down = teardown(cluster, removed.is_ok()).await;
            down.warn_if_unclean();
            let logs = down.logs.map(|l| format!(" (logs kept in {})", l.display()));
            Err(e.context(format!(
                "measuring on {backend}; everything started is stopped{}",
                logs.unwrap_or_default()
            )))
        }
    }
}

async fn rounds<C: Cluster>(
    cluster: &mut C,
    plan: &Plan<'_>,
) -> Result<(Vec<ProviderSamples>, Vec<Vec<Provider>>)> {
    let n = plan.setups.len();
    let mut samples: Vec<ProviderSamples> = (0..n).map(|_| ProviderSamples::default()).collect();
    let mut orders = Vec::with_capacity(plan.rounds);
    let data = Data([("value".to_owned(), plan.payload.to_vec())].into_iter().collect());
    for round in 0..plan.rounds {
        let order: Vec<usize> = (0..n).map(|i| (i + round) % n).collect();
        orders.push(order.iter().map(|&i| plan.setups[i].provider).collect());
        for &i in &order {
            let setup = &plan.setups[i];
            let name = setup.provider.name();
            let restart = Instant::now();
            restart_with(cluster, setup).await?;
            let restart = restart.elapsed();
            let tag = format!("r{round}-{name}");
            for k in 0..plan.warmup {
                let object = object(&format!("warm-{tag}-{k}"), &data);
                create(cluster, &object).await?;
                get(cluster, &object.id).await?;
            }
            let names: Vec<String> =
                (0..plan.objects).map(|k| format!("bench-{tag}-{k}")).collect();
            let out = &mut samples[i];
            let phase = Instant::now();
            for k in &names {
                let object = object(k, &data);
                let t = Instant::now();
                create(cluster, &object).await?;
                out.create.ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            out.create.wall += phase.elapsed();
            let phase = Instant::now();
            for k in &names {
                let id = ObjectRef::new(Kind::Secret, NAMESPACE, k.as_str());
                let t = Instant::now();
                get(cluster, &id).await?;
                out.get.ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            out.get.wall += phase.elapsed();
            if let Some(first) = names.first() {
                check_written_by(cluster, setup.provider, first).await?;
            }
            let tail = |s: &OpSamples| s.ms[s.ms.len() - plan.objects..].to_vec();
            eprintln!(
                "round {}/{}: {name:<9} restart {:>6.1} s, create p50 {:.3} ms, get p50 {:.3} ms",
                round + 1,
                plan.rounds,
                restart.as_secs_f64(),
                stats::quantile(&tail(&out.create), 0.5).unwrap_or(f64::NAN),
                stats::quantile(&tail(&out.get), 0.5).unwrap_or(f64::NAN),
            );
        }
    }
    if let Some(i) = (0..cluster.apiserver_count()).find(|&i| cluster.is_running(i)) {
        cluster.stop_apiserver(i).await.context("stopping the apiserver")?;
    }
    Ok((samples, orders))
}

/// Stops the apiserver if it runs and starts it with `setup`'s configuration.
async fn restart_with<C: Cluster>(cluster: &mut C, setup: &Setup) -> Result<()> {
    let name = setup.provider.name();
    if cluster.is_running(0) {
        cluster.stop_apiserver(0).await.context("stopping the apiserver")?;
    }
    cluster
        .write_file(CONFIG_PATH, setup.config.as_bytes())
        .await
        .with_context(|| format!("writing the {name} configuration"))?;
    cluster.configure_apiserver(
        0,
        ApiServerSpec { encryption_config: Some(CONFIG_PATH.to_owned()), automatic_reload: false },
    )?;
    match cluster.start_apiserver(0).await.with_context(|| format!("starting with {name}"))? {
        Ok(()) => Ok(()),
        Err(failure) => bail!("the apiserver with {name} first did not become ready: {failure:?}"),
    }
}

fn object(name: &str, data: &Data) -> Object {
    Object {
        id: ObjectRef::new(Kind::Secret, NAMESPACE, name),
        data: data.clone(),
        resource_version: None,
    }
}

async fn create<C: Cluster>(cluster: &mut C, object: &Object) -> Result<()> {
    cluster
        .create(0, object)
        .await
        .with_context(|| format!("creating {}", object.id))?
        .with_context(|| format!("creating {}", object.id))?;
    Ok(())
}

async fn get<C: Cluster>(cluster: &mut C, id: &ObjectRef) -> Result<()> {
    cluster
        .get(0, id)
        .await
        .with_context(|| format!("getting {id}"))?
        .with_context(|| format!("getting {id}"))?;
    Ok(())
}

/// Reads `name` raw from etcd: its prefix must be `provider`'s, else the numbers would be
/// attributed to the wrong provider.
async fn check_written_by<C: Cluster>(
    cluster: &mut C,
    provider: Provider,
    name: &str,
) -> Result<()> {
    let key = ObjectRef::new(Kind::Secret, NAMESPACE, name).etcd_key(cluster.etcd_prefix());
    let entry = cluster
        .raw_get(&key)
        .await
        .with_context(|| format!("reading {key} from etcd"))?
        .with_context(|| format!("{key} is not in etcd"))?;
    let ok = match provider {
        // kube-apiserver's protobuf envelope, unencrypted.
        Provider::Identity => entry.value.starts_with(b"k8s\0"),
        Provider::Kms => entry.value.starts_with(format!("k8s:enc:kms:v2:{KMS_NAME}:").as_bytes()),
        p => {
            entry.value.starts_with(format!("k8s:enc:{}:v1:{}:", p.name(), p.key_name()).as_bytes())
        }
    };
    if !ok {
        bail!(
            "{key} was not written by {}: the configuration did not take effect",
            provider.name()
        );
    }
    Ok(())
}

/// Everything `degradation.json` holds.
#[derive(Debug, Serialize)]
struct Report {
    /// The backend measured (`process` = real kube-apiserver and etcd).
    backend: &'static str,
    /// Timed creates (and gets) per provider and round.
    objects: u32,
    /// Bytes of Secret data.
    size: u32,
    rounds: u32,
    warmup: u32,
    /// Latency the KMS plugin added to every call (ms), when `kms` was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_latency_ms: Option<u64>,
    /// Provider order of each round.
    round_orders: Vec<Vec<&'static str>>,
    /// How intervals were computed.
    bootstrap: Bootstrap,
    /// Percentile definition.
    percentiles: &'static str,
    /// How the bootstrap resamples.
    resampling: &'static str,
    results: Vec<ProviderResult>,
    /// Every timed latency (ms) in measured order, by provider: the intervals can be
    /// recomputed from these.
    samples_ms: BTreeMap<&'static str, SamplesOut>,
}

#[derive(Debug, Serialize)]
struct ProviderResult {
    provider: &'static str,
    create: OpResult,
    get: OpResult,
    transformer: TransformerCost,
}

#[derive(Debug, Serialize)]
struct OpResult {
    samples: usize,
    latency_ms: Percentiles,
    mean_ms: f64,
    /// Requests per second of the timed phases (one client, one request at a time).
    throughput_rps: f64,
    /// p50 / identity's p50 with its interval; absent for identity itself.
    ratio_p50_vs_identity: Option<Ratio>,
}

#[derive(Debug, Serialize)]
struct Percentiles {
    p50: Estimate,
    p95: Estimate,
    p99: Estimate,
}

#[derive(Debug, Serialize)]
struct Ratio {
    value: f64,
    lo: f64,
    hi: f64,
    /// `yes`: interval above 1; `no`: interval below 1; `inconclusive`: it contains 1.
    slower: Verdict,
}

fn analyse(
    args: &DegradationArgs,
    backend: &'static str,
    providers: &[Provider],
    samples: &[ProviderSamples],
    costs: Vec<TransformerCost>,
    orders: Vec<Vec<Provider>>,
    boot: &Bootstrap,
) -> Result<Report> {
    let base = providers.iter().position(|&p| p == Provider::Identity).expect("checked");
    let mut results = Vec::with_capacity(providers.len());
    // Every provider adds `objects` values per round, in round order.
    let per_round = args.objects as usize;
    for ((&p, s), cost) in providers.iter().zip(samples).zip(costs) {
        let op = |name: &str, s: &OpSamples, b: &OpSamples| -> Result<OpResult> {
            let label = format!("{}/{name}", p.name());
            let est = boot
                .quantiles(&by_round(s, per_round), &QUANTILES, &label)
                .with_context(|| format!("{label}: no samples"))?;
            let ratio = if p == Provider::Identity {
                None
            } else {
                let r = boot
                    .ratio(
                        &by_round(s, per_round),
                        &by_round(b, per_round),
                        0.5,
                        &format!("{label}/ratio"),
                    )
                    .with_context(|| format!("{label}: no ratio to identity"))?;
                Some(Ratio { value: r.value, lo: r.lo, hi: r.hi, slower: Verdict::of(&r) })
            };
            Ok(OpResult {
                samples: s.ms.len(),
                latency_ms: Percentiles { p50: est[0], p95: est[1], p99: est[2] },
                mean_ms: s.ms.iter().sum::<f64>() / s.ms.len() as f64,
                throughput_rps: s.ms.len() as f64 / s.wall.as_secs_f64().max(f64::MIN_POSITIVE),
                ratio_p50_vs_identity: ratio,
            })
        };
        results.push(ProviderResult {
            provider: p.name(),
            create: op("create", &s.create, &samples[base].create)?,
            get: op("get", &s.get, &samples[base].get)?,
            transformer: cost,
        });
    }
    Ok(Report {
        backend,
        objects: args.objects,
        size: args.size,
        rounds: args.rounds,
        warmup: args.warmup,
        kms_latency_ms: providers.contains(&Provider::Kms).then_some(args.kms_latency_ms),
        round_orders: orders.iter().map(|o| o.iter().map(|p| p.name()).collect()).collect(),
        bootstrap: *boot,
        percentiles: "linear interpolation between closest ranks (Hyndman-Fan type 7)",
        resampling: RESAMPLING,
        results,
        samples_ms: providers
            .iter()
            .zip(samples)
            .map(|(p, s)| {
                (p.name(), SamplesOut { create: s.create.ms.clone(), get: s.get.ms.clone() })
            })
            .collect(),
    })
}

/// A provider's values split by round (each round adds `per_round`, in round order).
fn by_round(s: &OpSamples, per_round: usize) -> Vec<&[f64]> {
    s.ms.chunks(per_round).collect()
}

impl Report {
    fn to_text(&self) -> String {
        let mut t = String::new();
        let what = match self.backend {
            "process" => "real kube-apiserver and etcd",
            "sim" => "the simulator: these numbers say nothing about a real cluster",
            _ => "",
        };
        let _ = writeln!(t, "bench degradation on backend {} ({what})", self.backend);
        let _ = writeln!(
            t,
            "{} Secrets of {} bytes per provider and round, {} rounds, {} warm-up requests after each restart",
            self.objects, self.size, self.rounds, self.warmup
        );
        if let Some(ms) = self.kms_latency_ms {
            let _ = writeln!(
                t,
                "kms: atrest's KMS v2 plugin, {ms} ms added to every call (Status, Encrypt, Decrypt)"
            );
        }
        let _ = writeln!(
            t,
            "latency in ms with {:.0}% bootstrap intervals ({} resamples, seed {}); ratio = p50 / identity's p50;",
            self.bootstrap.confidence * 100.0,
            self.bootstrap.resamples,
            self.bootstrap.seed
        );
        let _ = writeln!(t, "slower = yes only when the ratio's interval is above 1");
        let _ = writeln!(
            t,
            "intervals resample rounds, then requests within rounds: they include the variation between rounds, so few rounds give wide intervals"
        );
        for (op, pick, tcol) in [
            ("create", (|r| &r.create) as fn(&ProviderResult) -> &OpResult, "to_storage µs"),
            ("get", |r| &r.get, "from_storage µs"),
        ] {
            let _ = writeln!(t, "\n{op}");
            let _ = writeln!(
                t,
                "{:<10} {:>24} {:>24} {:>24} {:>8} {:>24} {:<13} {:>11} {:>15}",
                "provider", "p50", "p95", "p99", "req/s", "ratio", "slower", "Δp50 µs", tcol
            );
            let base_p50 = self
                .results
                .iter()
                .find(|r| r.provider == "identity")
                .map_or(f64::NAN, |r| pick(r).latency_ms.p50.value);
            for r in &self.results {
                let o = pick(r);
                let (ratio, slower) = match &o.ratio_p50_vs_identity {
                    None => ("(baseline)".to_owned(), ""),
                    Some(x) => (ci(x.value, x.lo, x.hi), x.slower.as_str()),
                };
                let cost = if op == "create" {
                    r.transformer.to_storage_us
                } else {
                    r.transformer.from_storage_us
                };
                let l = &o.latency_ms;
                let _ = writeln!(
                    t,
                    "{:<10} {:>24} {:>24} {:>24} {:>8.0} {:>24} {:<13} {:>11.1} {:>15.2}",
                    r.provider,
                    ci(l.p50.value, l.p50.lo, l.p50.hi),
                    ci(l.p95.value, l.p95.lo, l.p95.hi),
                    ci(l.p99.value, l.p99.lo, l.p99.hi),
                    o.throughput_rps,
                    ratio,
                    slower,
                    (l.p50.value - base_p50) * 1e3,
                    cost,
                );
            }
        }
        let _ = writeln!(
            t,
            "\nΔp50: p50 minus identity's p50, end to end; the last column is the transformer alone, in-process"
        );
        let _ = writeln!(
            t,
            "(mean over a {}-byte value; the apiserver transforms the whole encoded Secret, a little larger).",
            self.size
        );
        let _ = writeln!(
            t,
            "Compare the two: the part of Δp50 the transformer does not explain is apiserver and etcd work, or noise."
        );
        t
    }
}

/// `value [lo, hi]` with three significant decimals.
fn ci(value: f64, lo: f64, hi: f64) -> String {
    format!("{value:.3} [{lo:.3}, {hi:.3}]")
}

/// One provider's latencies (ms) in measured order.
#[derive(Debug, Serialize)]
struct SamplesOut {
    create: Vec<f64>,
    get: Vec<f64>,
}

fn write_outputs(dir: &Path, report: &Report, text: &str) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("encoding degradation.json")?;
    let series: Vec<plot::Series<'_>> = report
        .results
        .iter()
        .filter_map(|r| {
            let s = report.samples_ms.get(r.provider)?;
            Some(plot::Series {
                name: r.provider,
                color: provider_color(r.provider),
                create: &s.create,
                get: &s.get,
            })
        })
        .collect();
    let title = format!(
        "Secret latency by encryption provider: backend {}, {} B values, {} requests per op and provider",
        report.backend,
        report.size,
        report.objects * report.rounds
    );
    let svg = plot::render(&title, &series)?;
    for (file, body) in
        [("degradation.json", json.as_str()), ("degradation.txt", text), ("degradation.svg", &svg)]
    {
        let path = dir.join(file);
        crate::files::write_output(&path, body)?;
    }
    eprintln!("wrote degradation.json, degradation.txt and degradation.svg to {}", dir.display());
    Ok(())
}

fn provider_color(name: &str) -> RGBColor {
    Provider::value_variants()
        .iter()
        .find(|p| p.name() == name)
        .map_or(RGBColor(128, 128, 128), |p| p.color())
}
