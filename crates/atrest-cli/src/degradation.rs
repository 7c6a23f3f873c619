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
