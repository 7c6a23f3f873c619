//! The analysis (percentiles, ratio intervals, verdicts) and its outputs: text, JSON, samples,
//! SVG.

use super::*;

/// Everything `degradation.json` holds.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// The backend measured (`process` = real kube-apiserver and etcd).
    pub(super) backend: &'static str,
    /// Timed creates (and gets) per arm and round (per apiserver instance).
    pub(super) objects: u32,
    /// Bytes of Secret data.
    pub(super) size: u32,
    /// Rounds: apiserver instances per arm.
    pub(super) rounds: u32,
    /// How a round runs its instances (`interleaved`: at once, requests alternating).
    pub(super) design: Design,
    pub(super) warmup: u32,
    /// Latency the KMS plugin added to every call (ms), when `kms` was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) kms_latency_ms: Option<u64>,
    /// The baseline arm of every ratio.
    pub(super) baseline: String,
    /// Arm order of each round (one apiserver instance each).
    pub(super) round_orders: Vec<Vec<String>>,
    /// How the percentile intervals were computed.
    pub(super) bootstrap: Bootstrap,
    /// Percentile definition.
    pub(super) percentiles: &'static str,
    /// How the bootstrap resamples.
    pub(super) resampling: &'static str,
    /// How ratios and verdicts are computed.
    pub(super) ratio_method: &'static str,
    /// Rounds a verdict needs.
    pub(super) min_rounds_for_verdict: usize,
    pub(super) results: Vec<ArmResult>,
    /// Every timed latency (ms) in measured order, by arm: the intervals can be recomputed
    /// from these (each arm's values come in rounds of `objects`).
    pub(super) samples_ms: BTreeMap<String, SamplesOut>,
}

#[derive(Debug, Serialize)]
pub(super) struct ArmResult {
    /// The arm's label (`identity#2` when a provider is given twice).
    pub(super) arm: String,
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
    /// The p50 of each instance, in round order.
    pub(super) instance_p50_ms: Vec<f64>,
    /// Requests per second of one client sending one request at a time: the requests over
    /// the time spent in them (with interleaving, the other arms' requests are not counted).
    pub(super) throughput_rps: f64,
    /// p50 / the baseline's p50 with its interval; absent for the baseline itself.
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
    /// The interval; absent with fewer than two rounds (no spread to measure).
    pub(super) lo: Option<f64>,
    pub(super) hi: Option<f64>,
    /// `yes`: interval above 1; `no`: interval below 1; `inconclusive`: it contains 1;
    /// `too-few-rounds`: the design cannot support a verdict.
    pub(super) slower: Verdict,
    /// Rounds the ratio rests on.
    pub(super) rounds: usize,
    /// The slowdown (fraction) this run's spread would detect in 80% of runs; absent with
    /// fewer than two rounds.
    pub(super) detectable_slowdown: Option<f64>,
    /// p50 minus the baseline's p50 (µs), end to end.
    pub(super) delta_p50_us: f64,
    /// When the difference is far larger than the transformer's cost: what it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) explanation: Option<String>,
}

/// The ratio of `arm`'s p50s to `base`'s, instance by instance.
pub(super) fn ratio_of(arm: &OpSamples, base: &OpSamples, per_round: usize) -> Option<PairedRatio> {
    let p50s = |s: &OpSamples| instance_p50s(s, per_round);
    stats::paired_ratio(&p50s(arm), &p50s(base), CONFIDENCE)
}

/// The p50 of each instance (each adds `per_round` values, in round order).
pub(super) fn instance_p50s(s: &OpSamples, per_round: usize) -> Vec<f64> {
    by_round(s, per_round).iter().filter_map(|g| stats::quantile(g, 0.5)).collect()
}

/// A difference is explained in words when it is this many times the transformer's cost.
const EXPLAIN_FACTOR: f64 = 10.0;

/// Why `delta_us` is not the cipher, when it is far larger than `cost_us`. When the run called
/// a difference, the rest is work the apiserver does for the provider around the cipher (or
/// the level's chance of a false call); otherwise it cannot be told from variance.
fn explanation(
    arm: &str,
    op: &str,
    cost_us: f64,
    delta_us: f64,
    detectable: Option<f64>,
    verdict: Verdict,
) -> Option<String> {
    if delta_us.abs() < EXPLAIN_FACTOR * cost_us.max(0.1) {
        return None;
    }
    // A cipher only adds time: a negative difference is said as what it is, not as a share.
    let head = if delta_us < 0.0 {
        format!(
            "{arm} {op}: {:.0} µs faster than identity, where the cipher adds {cost_us:.1} µs",
            -delta_us
        )
    } else {
        format!("{arm} {op}: the cipher accounts for {cost_us:.1} µs of {delta_us:.0} µs")
    };
    if matches!(verdict, Verdict::Slower | Verdict::Faster) {
        return Some(format!(
            "{head}; the interval excludes 1, so the rest is work the apiserver does for this provider outside the cipher, unless this is the 1 call in 20 the level allows where there is no difference (run it again, or see `--calibrate`)"
        ));
    }
    let power = detectable.map_or_else(String::new, |d| {
        format!("; this run's design detects about {:.0}% in 80% of runs", d * 100.0)
    });
    Some(format!(
        "{head}; the rest is apiserver/etcd variance or load (see `--calibrate` for what this design can tell apart{power})"
    ))
}

pub(super) fn analyse(
    args: &DegradationArgs,
    measured: Measured,
    providers: &[Provider],
    boot: &Bootstrap,
) -> Result<Report> {
    let Measured { backend, arms, comparisons, costs, .. } = measured;
    let Comparison { samples, orders } =
        comparisons.into_iter().next().context("no comparison was measured")?;
    let base = baseline(&arms);
    let mut results = Vec::with_capacity(arms.len());
    // Every arm adds `objects` values per round, in round order.
    let per_round = args.objects as usize;
    for (i, (arm, s)) in arms.iter().zip(&samples).enumerate() {
        let cost = costs[arm.setup];
        let op = |name: &str, s: &OpSamples, b: &OpSamples, cost_us: f64| -> Result<OpResult> {
            let label = format!("{}/{name}", arm.label);
            let est = boot
                .quantiles(&by_round(s, per_round), &QUANTILES, &label)
                .with_context(|| format!("{label}: no samples"))?;
            let ratio = (i != base).then(|| {
                let r = ratio_of(s, b, per_round);
                let pooled = |x: &OpSamples| stats::quantile(&x.ms, 0.5).unwrap_or(f64::NAN);
                let delta_us = (pooled(s) - pooled(b)) * 1e3;
                let value = r.map_or(pooled(s) / pooled(b), |r| r.estimate.value);
                let detectable = r.map(|r| r.detectable);
                let verdict = Verdict::of(r.as_ref());
                Ratio {
                    value,
                    lo: r.map(|r| r.estimate.lo),
                    hi: r.map(|r| r.estimate.hi),
                    slower: verdict,
                    rounds: s.ms.len() / per_round.max(1),
                    detectable_slowdown: detectable,
                    delta_p50_us: delta_us,
                    explanation: explanation(
                        &arm.label, name, cost_us, delta_us, detectable, verdict,
                    ),
                }
            });
            Ok(OpResult {
                samples: s.ms.len(),
                latency_ms: Percentiles { p50: est[0], p95: est[1], p99: est[2] },
                mean_ms: s.ms.iter().sum::<f64>() / s.ms.len() as f64,
                instance_p50_ms: instance_p50s(s, per_round),
                // One client, one request at a time: the time spent is the latencies' sum.
                throughput_rps: s.ms.len() as f64 * 1e3
                    / s.ms.iter().sum::<f64>().max(f64::MIN_POSITIVE),
                ratio_p50_vs_identity: ratio,
            })
        };
        results.push(ArmResult {
            arm: arm.label.clone(),
            provider: arm.provider.name(),
            create: op("create", &s.create, &samples[base].create, cost.to_storage_us)?,
            get: op("get", &s.get, &samples[base].get, cost.from_storage_us)?,
            transformer: cost,
        });
    }
    Ok(Report {
        backend,
        objects: args.objects,
        size: args.size,
        rounds: args.rounds,
        design: args.design,
        warmup: args.warmup,
        kms_latency_ms: providers.contains(&Provider::Kms).then_some(args.kms_latency_ms),
        baseline: arms[base].label.clone(),
        round_orders: orders
            .iter()
            .map(|o| o.iter().map(|&i| arms[i].label.clone()).collect())
            .collect(),
        bootstrap: *boot,
        percentiles: "linear interpolation between closest ranks (Hyndman-Fan type 7)",
        resampling: RESAMPLING,
        ratio_method: RATIO_METHOD,
        min_rounds_for_verdict: stats::MIN_ROUNDS_FOR_VERDICT,
        results,
        samples_ms: arms
            .iter()
            .zip(samples)
            .map(|(a, s)| (a.label.clone(), SamplesOut { create: s.create.ms, get: s.get.ms }))
            .collect(),
    })
}

/// An arm's values split by round (each round adds `per_round`, in round order).
pub(super) fn by_round(s: &OpSamples, per_round: usize) -> Vec<&[f64]> {
    s.ms.chunks(per_round.max(1)).collect()
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
            "{} Secrets of {} bytes per arm and instance, {} rounds, design {} ({}; ABBA order), {} warm-up requests after each start",
            self.objects,
            self.size,
            self.rounds,
            self.design.name(),
            self.design.describe(),
            self.warmup
        );
        if let Some(ms) = self.kms_latency_ms {
            let _ = writeln!(
                t,
                "kms: atrest's KMS v2 plugin, {ms} ms added to every call (Status, Encrypt, Decrypt)"
            );
        }
        let _ = writeln!(
            t,
            "latency in ms with {:.0}% bootstrap intervals ({} resamples, seed {}; instances, then requests within instances);",
            self.bootstrap.confidence * 100.0,
            self.bootstrap.resamples,
            self.bootstrap.seed
        );
        let _ = writeln!(
            t,
            "ratio = geometric mean over rounds of p50 / {}'s p50 in the same round, {:.0}% Student t interval over rounds;",
            self.baseline,
            self.bootstrap.confidence * 100.0
        );
        let _ = writeln!(
            t,
            "slower = yes (or no, faster) only when the interval excludes 1 and there are at least {} rounds",
            self.min_rounds_for_verdict
        );
        for (op, pick, tcol) in [
            ("create", (|r| &r.create) as fn(&ArmResult) -> &OpResult, "to_storage µs"),
            ("get", |r| &r.get, "from_storage µs"),
        ] {
            let _ = writeln!(t, "\n{op}");
            let _ = writeln!(
                t,
                "{:<12} {:>24} {:>24} {:>24} {:>8} {:>24} {:<37} {:>11} {:>15}",
                "arm", "p50", "p95", "p99", "req/s", "ratio", "slower", "Δp50 µs", tcol
            );
            for r in &self.results {
                let o = pick(r);
                let (ratio, slower, delta) = match &o.ratio_p50_vs_identity {
                    None => ("(baseline)".to_owned(), "", String::new()),
                    Some(x) => {
                        let ratio = match (x.lo, x.hi) {
                            (Some(lo), Some(hi)) => ci(x.value, lo, hi),
                            _ => format!("{:.3} [no interval]", x.value),
                        };
                        (ratio, x.slower.as_str(), format!("{:.1}", x.delta_p50_us))
                    }
                };
                let cost = if op == "create" {
                    r.transformer.to_storage_us
                } else {
                    r.transformer.from_storage_us
                };
                let l = &o.latency_ms;
                let _ = writeln!(
                    t,
                    "{:<12} {:>24} {:>24} {:>24} {:>8.0} {:>24} {:<37} {:>11} {:>15.2}",
                    r.arm,
                    ci(l.p50.value, l.p50.lo, l.p50.hi),
                    ci(l.p95.value, l.p95.lo, l.p95.hi),
                    ci(l.p99.value, l.p99.lo, l.p99.hi),
                    o.throughput_rps,
                    ratio,
                    slower,
                    delta,
                    cost,
                );
            }
        }
        let _ = writeln!(
            t,
            "\nΔp50: p50 minus {}'s p50, end to end; the last column is the transformer alone, in-process",
            self.baseline
        );
        let _ = writeln!(
            t,
            "(mean over a {}-byte value; the apiserver transforms the whole encoded Secret, a little larger).",
            self.size
        );
        let explanations: Vec<&str> = self
            .results
            .iter()
            .flat_map(|r| [&r.create, &r.get])
            .filter_map(|o| o.ratio_p50_vs_identity.as_ref()?.explanation.as_deref())
            .collect();
        for e in &explanations {
            let _ = writeln!(t, "{e}");
        }
        if explanations.is_empty() {
            let _ = writeln!(
                t,
                "Compare the two: the part of Δp50 the transformer does not explain is apiserver and etcd work, or noise."
            );
        }
        t
    }
}

/// `value [lo, hi]` with three significant decimals.
/// A value and its interval; an interval that could not be computed (one round: no spread to
/// measure) is said so rather than printed as `NaN`.
pub(super) fn ci(value: f64, lo: f64, hi: f64) -> String {
    if lo.is_finite() && hi.is_finite() {
        format!("{value:.3} [{lo:.3}, {hi:.3}]")
    } else {
        format!("{value:.3} [no interval]")
    }
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
            let s = report.samples_ms.get(&r.arm)?;
            Some(plot::Series {
                name: &r.arm,
                color: arm_color(r.provider, &r.arm),
                create: &s.create,
                get: &s.get,
            })
        })
        .collect();
    let title = format!(
        "Secret latency by encryption provider: backend {}, {} B values, {} requests per op and arm",
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

/// The provider's colour; a second (third…) arm of the same provider is lighter.
pub(super) fn arm_color(provider: &str, arm: &str) -> RGBColor {
    let RGBColor(r, g, b) = provider_color(provider);
    let nth = arm.rsplit_once('#').and_then(|(_, k)| k.parse::<u8>().ok()).unwrap_or(1);
    let lighten = |c: u8| {
        let f = (0.3 * f64::from(nth.saturating_sub(1))).min(0.8);
        (f64::from(c) + (255.0 - f64::from(c)) * f) as u8
    };
    RGBColor(lighten(r), lighten(g), lighten(b))
}

pub(super) fn provider_color(name: &str) -> RGBColor {
    Provider::value_variants()
        .iter()
        .find(|p| p.name() == name)
        .map_or(RGBColor(128, 128, 128), |p| p.color())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_interval_from_one_round_is_not_printed_as_nan() {
        assert_eq!(super::ci(1.0, 0.9, 1.1), "1.000 [0.900, 1.100]");
        assert_eq!(super::ci(1.02, f64::NAN, f64::NAN), "1.020 [no interval]");
        assert_eq!(super::ci(1.02, f64::NEG_INFINITY, f64::INFINITY), "1.020 [no interval]");
    }

    use super::{Verdict, explanation};

    #[test]
    fn a_difference_far_beyond_the_cipher_is_explained_in_words() {
        let open = Verdict::Inconclusive;
        let e = explanation("secretbox", "create", 4.22, 406.5, Some(0.12), open).unwrap();
        assert!(e.contains("the cipher accounts for 4.2 µs of 406 µs"), "{e}");
        assert!(e.contains("apiserver/etcd variance or load") && e.contains("--calibrate"), "{e}");
        assert!(e.contains("detects about 12% in 80% of runs"), "{e}");
        // Within ten times the cost: the cipher may explain it, nothing to say.
        assert_eq!(explanation("secretbox", "create", 5.0, 40.0, None, open), None);
        assert_eq!(explanation("aesgcm", "get", 0.5, -4.0, None, open), None);
        let e = explanation("aesgcm", "get", 0.2, -4.8, Some(0.02), open).unwrap();
        assert!(e.starts_with("aesgcm get: 5 µs faster than identity, where the cipher adds 0.2 µs; the rest is apiserver/etcd variance"), "{e}");
        // A called difference is not variance: the rest is the apiserver's own work.
        let e = explanation("kms", "get", 1.0, 98.0, Some(0.08), Verdict::Slower).unwrap();
        assert!(e.contains("the cipher accounts for 1.0 µs of 98 µs"), "{e}");
        assert!(e.contains("work the apiserver does for this provider outside the cipher"), "{e}");
        assert!(!e.contains("variance or load"), "{e}");
    }
}
