//! What a run proved: per step, what was done, observed and checked. Rendered as text, JSON
//! (the same structure) or JUnit XML.

use std::fmt::Write as _;

use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// At least one expectation failed.
    Failed,
    /// The harness could not go on (exit 2).
    Error,
}

impl Outcome {
    /// The process exit code: 0, 1 or 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed => 1,
            Outcome::Error => 2,
        }
    }
}

/// One checked expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was expected, in words.
    pub what: String,
    /// Whether it held.
    pub held: bool,
    /// The expected value, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was observed.
    pub actual: String,
}

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    /// Done; every check held.
    Ok,
    /// A check failed.
    Failed,
    /// The harness failed here; the run stopped.
    Error,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// 1-based position.
    pub index: usize,
    /// The step's `name`, when the scenario gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Line in the scenario file.
    pub line: u64,
    /// What the step does.
    pub action: String,
    /// How it went.
    pub outcome: StepOutcome,
    /// What was seen (texts normalized: cluster paths as the apiserver sees them, secrets redacted).
    pub observations: Vec<String>,
    /// Expectations and the checks the harness always makes.
    pub checks: Vec<Check>,
    /// What only this backend can show (a kubelet's pod uids, container ids): never compared
    /// across backends ([`Report::comparable`] drops it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_notes: Vec<String>,
    /// Wall time.
    pub duration_ms: f64,
}

impl StepReport {
    /// How reports label the step: `[ 7]`, or `[ 7 promote-key2]` when it has a name.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("[{:>2} {n}]", self.index),
            None => format!("[{:>2}]", self.index),
        }
    }
}

/// Latency percentiles of one operation, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Requests timed.
    pub count: usize,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles ([`quantile_sorted`], type 7) of `samples_us`.
    pub fn of(samples_us: &mut [f64]) -> Latency {
        samples_us.sort_by(f64::total_cmp);
        let n = samples_us.len();
        let rank = |p: f64| quantile_sorted(samples_us, p).unwrap_or(0.0);
        #[expect(clippy::cast_precision_loss, reason = "n is small")]
        let mean = if n == 0 { 0.0 } else { samples_us.iter().sum::<f64>() / n as f64 };
        Latency {
            count: n,
            p50_us: rank(0.50),
            p95_us: rank(0.95),
            p99_us: rank(0.99),
            mean_us: mean,
        }
    }
}

/// One `measure` step's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Label.
    pub name: String,
    /// Bytes per object.
    pub size: usize,
    /// Creates.
    pub create: Latency,
    /// Gets.
    pub get: Latency,
    /// p50 create latency over the baseline's (when a baseline was measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_p50_ratio: Option<f64>,
    /// p50 get latency over the baseline's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get_p50_ratio: Option<f64>,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// Backend it ran on.
    pub backend: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The harness error that stopped the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Steps, in order.
    pub steps: Vec<StepReport>,
    /// `measure` results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Where the logs of real processes were kept (failed runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// Wall time.
    pub duration_ms: f64,
}

impl Report {
    /// Checks that held and that failed.
    pub fn check_counts(&self) -> (usize, usize) {
        let all = self.steps.iter().flat_map(|s| &s.checks);
        let failed = all.clone().filter(|c| !c.held).count();
        (all.count() - failed, failed)
    }

    /// The JSON report.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The report without what legitimately differs between backends and runs: timings, the
    /// backend's name, log paths and measured numbers. Two backends that behave the same give
    /// equal values.
    pub fn comparable(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a report always serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("backend");
            o.remove("logs");
            o.remove("duration_ms");
            if let Some(ms) = o.get_mut("measurements").and_then(|m| m.as_array_mut()) {
                for m in ms {
                    if let Some(m) = m.as_object_mut() {
                        m.retain(|k, _| k == "name" || k == "size");
                    }
                }
            }
            if let Some(steps) = o.get_mut("steps").and_then(|s| s.as_array_mut()) {
                for s in steps {
                    if let Some(s) = s.as_object_mut() {
                        s.remove("duration_ms");
                        s.remove("backend_notes");
                    }
                }
            }
        }
        v
    }

    /// The human report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let (held, failed) = self.check_counts();
        let _ =
            writeln!(out, "scenario {} on {}: {}", self.scenario, self.backend, self.description);
        for s in &self.steps {
            let mark = match s.outcome {
                StepOutcome::Ok => "ok   ",
                StepOutcome::Failed => "FAIL ",
                StepOutcome::Error => "ERROR",
            };
            let _ = writeln!(out, "{mark} {} line {:<3} {}", s.label(), s.line, s.action);
            for o in &s.observations {
                let _ = writeln!(out, "             {o}");
            }
            for n in &s.backend_notes {
                let _ = writeln!(out, "             ({}) {n}", self.backend);
            }
            for c in &s.checks {
                if c.held {
                    let _ = writeln!(out, "             ✓ {}", c.what);
                } else {
                    let _ = writeln!(out, "             ✗ {}", c.what);
                    if let Some(e) = &c.expected {
                        let _ = writeln!(out, "                 expected: {e}");
                    }
                    let _ = writeln!(out, "                 actual:   {}", c.actual);
                }
            }
        }
        if !self.measurements.is_empty() {
            let _ = writeln!(out, "\n{}", measurement_table(&self.measurements));
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "harness error: {e}");
        }
        if let Some(l) = &self.logs {
            let _ = writeln!(out, "logs kept in {l}");
        }
        let verdict = match self.outcome {
            Outcome::Passed => "PASSED",
            Outcome::Failed => "FAILED",
            Outcome::Error => "ERROR",
        };
        let _ = writeln!(
            out,
            "{verdict}: {} steps, {held} checks held, {failed} failed, {:.0} ms",
            self.steps.len(),
            self.duration_ms
        );
        out
    }

    /// The JUnit XML report: one test suite per scenario, one test case per step.
    pub fn to_junit(&self) -> String {
        Report::junit_of(&[self])
    }

    /// One JUnit XML document with a test suite per report (`atrest rehearse` runs two).
    pub fn junit_of(reports: &[&Report]) -> String {
        let mut report = quick_junit::Report::new("atrest");
        for r in reports {
            report.add_test_suite(r.junit_suite());
        }
        report.to_string().unwrap_or_else(|e| format!("<!-- cannot render JUnit: {e} -->"))
    }

    fn junit_suite(&self) -> quick_junit::TestSuite {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(format!("{} ({})", self.scenario, self.backend));
        for s in &self.steps {
            let status = match s.outcome {
                StepOutcome::Ok => TestCaseStatus::success(),
                StepOutcome::Failed | StepOutcome::Error => {
                    let kind = if s.outcome == StepOutcome::Failed {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut st = TestCaseStatus::non_success(kind);
                    let failed: Vec<String> = s
                        .checks
                        .iter()
                        .filter(|c| !c.held)
                        .map(|c| match &c.expected {
                            Some(e) => format!("{}: expected {e}, actual {}", c.what, c.actual),
                            None => format!("{}: {}", c.what, c.actual),
                        })
                        .collect();
                    let message = if failed.is_empty() {
                        self.error.clone().unwrap_or_else(|| "step failed".to_owned())
                    } else {
                        failed.join("; ")
                    };
                    st.set_message(message);
                    st
                }
            };
            let mut case = TestCase::new(format!("{} {}", s.label(), s.action), status);
            case.set_classname(format!("{}.line{}", self.scenario, s.line));
            case.set_time(std::time::Duration::from_secs_f64(s.duration_ms / 1000.0));
            let mut out = s.observations.clone();
            out.extend(
                s.checks.iter().map(|c| format!("{} {}", if c.held { "✓" } else { "✗" }, c.what)),
            );
            case.set_system_out(out.join("\n"));
            suite.add_test_case(case);
        }
        suite
    }
}

/// The `p`-quantile (`0 ≤ p ≤ 1`) of an ascending sample by linear interpolation between the
/// closest ranks (Hyndman and Fan's type 7, the default of R, NumPy and spreadsheets):
/// with `h = (n - 1) p`, `x[⌊h⌋] + (h - ⌊h⌋) (x[⌊h⌋ + 1] - x[⌊h⌋])`.
/// `None` for an empty sample or `p` outside `[0, 1]`.
///
/// The one quantile definition of the workspace: scenario reports and `bench degradation` both
/// use it, so their p50/p95/p99 agree on the same samples.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&p) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// The measurement table (text).
pub fn measurement_table(ms: &[Measurement]) -> String {
    let mut out = String::new();
    // The name column fits the longest name (at least 12, as before names grew).
    let w = ms.iter().map(|m| m.name.chars().count()).max().unwrap_or(0).max(12);
    let _ = writeln!(
        out,
        "{:<w$} {:>6} {:>10} {:>10} {:>10} {:>7} {:>10} {:>10} {:>10} {:>7}",
        "name", "size", "create p50", "p95", "p99", "ratio", "get p50", "p95", "p99", "ratio"
    );
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
    for m in ms {
        let _ = writeln!(
            out,
            "{:<w$} {:>6} {:>8.0}µs {:>8.0}µs {:>8.0}µs {:>7} {:>8.0}µs {:>8.0}µs {:>8.0}µs {:>7}",
            m.name,
            m.size,
            m.create.p50_us,
            m.create.p95_us,
            m.create.p99_us,
            ratio(m.create_p50_ratio),
            m.get.p50_us,
            m.get.p95_us,
            m.get.p99_us,
            ratio(m.get_p50_ratio),
        );
    }
    out
}
