//! `bench degradation --calibrate`: the design measured on itself. Each comparison is one
//! full run of the design with three identity arms: `identity#1` (the baseline), `identity#2`
//! (A/A: any verdict about it is a false positive) and `identity#3`, whose every timed request
//! waits a set time before it is sent (a known slowdown: a verdict "yes" about it is a
//! detection). The delay is a fixed share of `identity#1`'s p50 in a pilot round of the same
//! design measured first (not of a lone instance: with interleaving, three instances running
//! make every request slower, and a share of a lone instance's p50 would inject less than
//! asked).

use super::*;

/// The pilot instance and the delay it sets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pilot {
    pub(super) create_p50_ms: f64,
    pub(super) get_p50_ms: f64,
    pub(super) percent: f64,
    pub(super) delay: Delay,
}

impl Pilot {
    /// The delay of `percent` of the pilot's p50s.
    pub(super) fn new(samples: &ArmSamples, percent: f64) -> Result<Pilot> {
        let p50 = |s: &OpSamples, op: &str| {
            stats::quantile(&s.ms, 0.5).with_context(|| format!("the pilot timed no {op}"))
        };
        let (create_p50_ms, get_p50_ms) =
            (p50(&samples.create, "create")?, p50(&samples.get, "get")?);
        let share = |ms: f64| Duration::from_secs_f64(ms * 1e-3 * percent / 100.0);
        let delay = Delay { create: share(create_p50_ms), get: share(get_p50_ms) };
        Ok(Pilot { create_p50_ms, get_p50_ms, percent, delay })
    }
}

/// Everything `calibration.json` holds.
#[derive(Debug, Serialize)]
pub(super) struct CalibrationReport {
    pub(super) backend: &'static str,
    pub(super) objects: u32,
    pub(super) size: u32,
    pub(super) rounds: u32,
    pub(super) design: Design,
    pub(super) warmup: u32,
    pub(super) comparisons: u32,
    /// Confidence level of every interval (a verdict is a claim at 1 minus this).
    pub(super) confidence: f64,
    pub(super) ratio_method: &'static str,
    pub(super) min_rounds_for_verdict: usize,
    pub(super) pilot: PilotOut,
    pub(super) create: OpCalibration,
    pub(super) get: OpCalibration,
}

#[derive(Debug, Serialize)]
pub(super) struct PilotOut {
    pub(super) create_p50_ms: f64,
    pub(super) get_p50_ms: f64,
    /// The injected slowdown, in percent of the pilot's p50.
    pub(super) inject_percent: f64,
    pub(super) injected_create_us: f64,
    pub(super) injected_get_us: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct OpCalibration {
    /// A/A comparisons that gave "yes" or "no (faster)".
    pub(super) false_positives: usize,
    /// Comparisons with the injected delay that gave "yes".
    pub(super) detections: usize,
    /// Comparisons that could give a verdict at all (enough rounds).
    pub(super) comparisons: usize,
    /// Median over A/A comparisons of the slowdown each would detect in 80% of runs.
    pub(super) median_detectable_slowdown: Option<f64>,
    /// Each comparison's ratios.
    pub(super) runs: Vec<CalibrationRun>,
}

#[derive(Debug, Serialize)]
pub(super) struct CalibrationRun {
    pub(super) a_a: RatioOut,
    pub(super) injected: RatioOut,
}

#[derive(Debug, Serialize)]
pub(super) struct RatioOut {
    pub(super) value: f64,
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) verdict: Verdict,
    pub(super) detectable_slowdown: Option<f64>,
}

impl RatioOut {
    fn new(r: Option<PairedRatio>) -> RatioOut {
        RatioOut {
            value: r.map_or(f64::NAN, |r| r.estimate.value),
            lo: r.map_or(f64::NAN, |r| r.estimate.lo),
            hi: r.map_or(f64::NAN, |r| r.estimate.hi),
            verdict: Verdict::of(r.as_ref()),
            detectable_slowdown: r.map(|r| r.detectable),
        }
    }
}

pub(super) fn analyse(args: &DegradationArgs, m: &Measured) -> Result<CalibrationReport> {
    let pilot = m.pilot.context("a calibration without its pilot")?;
    let [base, a_a, injected] = [0, 1, 2];
    if m.arms.len() != 3 || baseline(&m.arms) != base {
        bail!("a calibration has the arms identity#1, identity#2 and identity#3");
    }
    let per_round = args.objects as usize;
    let op = |pick: fn(&ArmSamples) -> &OpSamples| {
        let runs: Vec<CalibrationRun> = m
            .comparisons
            .iter()
            .map(|c| {
                let ratio = |arm: usize| {
                    RatioOut::new(ratio_of(
                        pick(&c.samples[arm]),
                        pick(&c.samples[base]),
                        per_round,
                    ))
                };
                CalibrationRun { a_a: ratio(a_a), injected: ratio(injected) }
            })
            .collect();
        let detectable: Vec<f64> = runs.iter().filter_map(|r| r.a_a.detectable_slowdown).collect();
        OpCalibration {
            false_positives: runs.iter().filter(|r| r.a_a.verdict.claims_difference()).count(),
            detections: runs.iter().filter(|r| r.injected.verdict == Verdict::Slower).count(),
            comparisons: runs.iter().filter(|r| r.a_a.verdict != Verdict::TooFewRounds).count(),
            median_detectable_slowdown: stats::quantile(&detectable, 0.5),
            runs,
        }
    };
    Ok(CalibrationReport {
        backend: m.backend,
        objects: args.objects,
        size: args.size,
        rounds: args.rounds,
        design: args.design,
        warmup: args.warmup,
        comparisons: args.comparisons,
        confidence: CONFIDENCE,
        ratio_method: RATIO_METHOD,
        min_rounds_for_verdict: stats::MIN_ROUNDS_FOR_VERDICT,
        pilot: PilotOut {
            create_p50_ms: pilot.create_p50_ms,
            get_p50_ms: pilot.get_p50_ms,
            inject_percent: pilot.percent,
            injected_create_us: pilot.delay.create.as_secs_f64() * 1e6,
            injected_get_us: pilot.delay.get.as_secs_f64() * 1e6,
        },
        create: op(|s| &s.create),
        get: op(|s| &s.get),
    })
}

impl CalibrationReport {
    pub(super) fn to_text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "bench degradation --calibrate on backend {}", self.backend);
        let _ = writeln!(
            t,
            "{} comparisons, each {} rounds of identity#1 (baseline), identity#2 (A/A) and identity#3 (delayed), design {} ({}), {} Secrets of {} bytes per instance, {} warm-up requests",
            self.comparisons,
            self.rounds,
            self.design.name(),
            self.design.describe(),
            self.objects,
            self.size,
            self.warmup
        );
        let p = &self.pilot;
        let _ = writeln!(
            t,
            "pilot p50: create {:.3} ms, get {:.3} ms; identity#3 waits {:.0}% of it inside every timed request: {:.1} µs per create, {:.1} µs per get",
            p.create_p50_ms,
            p.get_p50_ms,
            p.inject_percent,
            p.injected_create_us,
            p.injected_get_us
        );
        let level = (1.0 - self.confidence) * 100.0;
        for (name, o) in [("create", &self.create), ("get", &self.get)] {
            let _ = writeln!(t, "\n{name}");
            let _ = writeln!(
                t,
                "{:>4} {:>24} {:<38} {:>24} verdict",
                "run", "A/A ratio", "verdict", "delayed ratio"
            );
            for (i, r) in o.runs.iter().enumerate() {
                let _ = writeln!(
                    t,
                    "{:>4} {:>24} {:<38} {:>24} {}",
                    i + 1,
                    ci(r.a_a.value, r.a_a.lo, r.a_a.hi),
                    r.a_a.verdict.as_str(),
                    ci(r.injected.value, r.injected.lo, r.injected.hi),
                    r.injected.verdict.as_str()
                );
            }
            if o.comparisons == 0 {
                let _ = writeln!(
                    t,
                    "{name}: no comparison could give a verdict (fewer than {} rounds): nothing calibrated",
                    self.min_rounds_for_verdict
                );
                continue;
            }
            let _ = writeln!(
                t,
                "{name}: A/A false positives {} of {} ({:.1}%, level {level:.0}%); injected {:.0}% slowdown detected in {} of {} ({:.0}%)",
                o.false_positives,
                o.comparisons,
                100.0 * o.false_positives as f64 / o.comparisons as f64,
                self.pilot.inject_percent,
                o.detections,
                o.comparisons,
                100.0 * o.detections as f64 / o.comparisons as f64,
            );
            if let Some(d) = o.median_detectable_slowdown {
                let _ = writeln!(
                    t,
                    "{name}: smallest slowdown this design detects in 80% of runs (median over the A/A comparisons): {:.1}%",
                    d * 100.0
                );
            }
        }
        t
    }
}

pub(super) fn write_outputs(dir: &Path, report: &CalibrationReport, text: &str) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("encoding calibration.json")?;
    for (file, body) in [("calibration.json", json.as_str()), ("calibration.txt", text)] {
        crate::files::write_output(&dir.join(file), body)?;
    }
    eprintln!("wrote calibration.json and calibration.txt to {}", dir.display());
    Ok(())
}
