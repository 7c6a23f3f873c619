//! The analysis (percentiles, ratio intervals, verdicts) and its outputs: text, JSON, samples,
//! SVG.

use super::*;

/// Everything `degradation.json` holds.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// The backend measured (`process` = real kube-apiserver and etcd).
    pub(super) backend: &'static str,
    /// Timed creates (and gets) per provider and round.
    pub(super) objects: u32,
    /// Bytes of Secret data.
    pub(super) size: u32,
    pub(super) rounds: u32,
    pub(super) warmup: u32,
    /// Latency the KMS plugin added to every call (ms), when `kms` was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) kms_latency_ms: Option<u64>,
    /// Provider order of each round.
    pub(super) round_orders: Vec<Vec<&'static str>>,
    /// How intervals were computed.
    pub(super) bootstrap: Bootstrap,
    /// Percentile definition.
    pub(super) percentiles: &'static str,
    /// How the bootstrap resamples.
    pub(super) resampling: &'static str,
    pub(super) results: Vec<ProviderResult>,
    /// Every timed latency (ms) in measured order, by provider: the intervals can be
    /// recomputed from these.
    pub(super) samples_ms: BTreeMap<&'static str, SamplesOut>,
}

#[derive(Debug, Serialize)]
pub(super) struct ProviderResult {
    pub(super) provider: &'static str,
    pub(super) create: OpResult,
    pub(super) get: OpResult,
    pub(super) transformer: TransformerCost,
}

#[derive(Debug, Serialize)]
pub(super) struct OpResult {
    pub(super) samples: usize,
    pub(super) latency_ms: Percentiles,
    pub(super) mean_ms: f64,
    /// Requests per second of the timed phases (one client, one request at a time).
    pub(super) throughput_rps: f64,
    /// p50 / identity's p50 with its interval; absent for identity itself.
    pub(super) ratio_p50_vs_identity: Option<Ratio>,
}

#[derive(Debug, Serialize)]
pub(super) struct Percentiles {
    pub(super) p50: Estimate,
    pub(super) p95: Estimate,
    pub(super) p99: Estimate,
}

#[derive(Debug, Serialize)]
pub(super) struct Ratio {
    pub(super) value: f64,
    pub(super) lo: f64,
    pub(super) hi: f64,
    /// `yes`: interval above 1; `no`: interval below 1; `inconclusive`: it contains 1.
    pub(super) slower: Verdict,
}

pub(super) fn analyse(
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
pub(super) fn by_round(s: &OpSamples, per_round: usize) -> Vec<&[f64]> {
    s.ms.chunks(per_round).collect()
}

impl Report {
    pub(super) fn to_text(&self) -> String {
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
pub(super) fn ci(value: f64, lo: f64, hi: f64) -> String {
    format!("{value:.3} [{lo:.3}, {hi:.3}]")
}

/// One provider's latencies (ms) in measured order.
#[derive(Debug, Serialize)]
pub(super) struct SamplesOut {
    pub(super) create: Vec<f64>,
    pub(super) get: Vec<f64>,
}

pub(super) fn write_outputs(dir: &Path, report: &Report, text: &str) -> Result<()> {
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

pub(super) fn provider_color(name: &str) -> RGBColor {
    Provider::value_variants()
        .iter()
        .find(|p| p.name() == name)
        .map_or(RGBColor(128, 128, 128), |p| p.color())
}
