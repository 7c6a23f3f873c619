//! The statistics of `bench degradation`, pure and deterministic: percentiles, percentile
//! bootstrap confidence intervals of one arm's percentiles (grouped by instance and
//! resampled in two stages: instances, then values), and the ratio of two arms' medians with
//! a Student t interval over instances paired by round ([`paired_ratio`]), the verdict's basis.
//!
//! Bootstrap resampling draws from [`Rng`], a seeded SplitMix64, so the same samples and the
//! same seed give the same intervals on every machine.

use serde::Serialize;

/// SplitMix64 (Sebastiano Vigna's `splitmix64.c`): small, fast, and good enough to pick
/// resample indices. Not for keys: those come from the OS CSPRNG.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator starting from `seed`.
    pub(crate) const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// An independent stream for `label` under `seed`, so that an interval does not depend
    /// on which other intervals were computed before it.
    pub(crate) fn stream(seed: u64, label: &str) -> Rng {
        // FNV-1a of the label, mixed into the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Rng::new(seed ^ h)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`), without modulo bias (Lemire's multiply and
    /// reject).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            // The low half decides rejection, the high half is the index.
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }
}

/// The workspace's one quantile definition (type 7), shared with scenario reports.
pub(crate) use atrest_scenario::report::quantile_sorted;

/// [`quantile_sorted`] of an unsorted sample.
pub(crate) fn quantile(sample: &[f64], p: f64) -> Option<f64> {
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile_sorted(&sorted, p)
}

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Estimate {
    /// The statistic of the measured sample.
    pub(crate) value: f64,
    /// Lower bound of the interval.
    pub(crate) lo: f64,
    /// Upper bound of the interval.
    pub(crate) hi: f64,
}

impl Estimate {
    /// Whether `x` lies in the interval (bounds included).
    pub(crate) fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// How intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Bootstrap {
    /// Resamples per interval.
    pub(crate) resamples: usize,
    /// Confidence level, e.g. 0.95.
    pub(crate) confidence: f64,
    /// The seed every resampling stream derives from.
    pub(crate) seed: u64,
}

impl Bootstrap {
    /// The percentile-method interval of the bootstrap distribution `stats`.
    fn interval(&self, value: f64, mut stats: Vec<f64>) -> Estimate {
        stats.sort_by(f64::total_cmp);
        let alpha = (1.0 - self.confidence) / 2.0;
        let lo = quantile_sorted(&stats, alpha).unwrap_or(value);
        let hi = quantile_sorted(&stats, 1.0 - alpha).unwrap_or(value);
        Estimate { value, lo, hi }
    }

    /// Percentile bootstrap intervals of the quantiles `ps` of a sample measured in `groups`
    /// (rounds), from one set of two-stage resamples (stream `label`): rounds with replacement,
    /// then values with replacement within each drawn round. Values of one round share that
    /// round's conditions (machine load, drift), so resampling rounds keeps the interval from
    /// claiming a precision that only the values of one round have. With one group this is
    /// the plain bootstrap. `None` for no groups, an empty group, or a `p` outside `[0, 1]`.
    pub(crate) fn quantiles(
        &self,
        groups: &[&[f64]],
        ps: &[f64],
        label: &str,
    ) -> Option<Vec<Estimate>> {
        let pooled = pooled_sorted(groups)?;
        let values = ps.iter().map(|&p| quantile_sorted(&pooled, p)).collect::<Option<Vec<_>>>()?;
        let mut rng = Rng::stream(self.seed, label);
        let mut stats = vec![Vec::with_capacity(self.resamples); ps.len()];
        let mut picks = vec![0; groups.len()];
        let mut buf = Vec::with_capacity(pooled.len());
        for _ in 0..self.resamples {
            pick_groups(&mut picks, &mut rng);
            resample_sorted(groups, &picks, &mut buf, &mut rng);
            for (s, &p) in stats.iter_mut().zip(ps) {
                s.push(quantile_sorted(&buf, p)?);
            }
        }
        Some(values.into_iter().zip(stats).map(|(v, s)| self.interval(v, s)).collect())
    }
}

/// All values of `groups`, sorted; `None` when there is no group or one is empty.
fn pooled_sorted(groups: &[&[f64]]) -> Option<Vec<f64>> {
    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
        return None;
    }
    let mut all: Vec<f64> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    all.sort_by(f64::total_cmp);
    Some(all)
}

/// Draws as many group indices as there are groups, with replacement.
fn pick_groups(picks: &mut [usize], rng: &mut Rng) {
    let k = picks.len();
    for slot in picks.iter_mut() {
        *slot = rng.below(k);
    }
}

/// Fills `out` with the values of the picked groups, each resampled with replacement, sorted.
fn resample_sorted(groups: &[&[f64]], picks: &[usize], out: &mut Vec<f64>, rng: &mut Rng) {
    out.clear();
    for &g in picks {
        let group = groups[g];
        for _ in 0..group.len() {
            out.push(group[rng.below(group.len())]);
        }
    }
    out.sort_by(f64::total_cmp);
}

/// The ratio of two arms' medians from their instances, paired by round, with a Student t
/// interval: the unit of replication is the apiserver instance, not the request.
///
/// Each round runs every arm once on its own instance (a restart), so `num[r]` and `den[r]`
/// are the p50s of one instance each, measured minutes apart at most. The statistic is the
/// mean over rounds of `ln(num[r] / den[r])`; its interval is `mean ± t(df = rounds - 1) · sd /
/// sqrt(rounds)`, back-transformed, so the ratio is the geometric mean of the per-round ratios.
/// Whatever happens inside an instance (requests that share its caches, its GC, the load of
/// its minutes) is summarised in its p50, and instance-to-instance variation is what the sd
/// measures, so the interval is valid however requests within an instance correlate (the
/// summary-measures analysis of a cluster-randomised design). With few rounds the t quantile
/// is large, which is the honest price of few instances: a percentile bootstrap over 3 rounds
/// would draw from only 10 distinct resamples and cover far less than its nominal level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairedRatio {
    /// The ratio with its interval.
    pub(crate) estimate: Estimate,
    /// Rounds (pairs of instances) it rests on.
    pub(crate) rounds: usize,
    /// Standard error of the mean log ratio.
    pub(crate) se_log: f64,
    /// The slowdown (ratio minus 1) this many rounds with this spread would detect in 80% of
    /// runs at the interval's level: `exp((t(1 - alpha/2) + t(0.8)) · se) - 1`.
    pub(crate) detectable: f64,
}

/// See [`PairedRatio`]. `None` with fewer than two rounds (no spread to measure), group
/// counts that differ, or a p50 that is not positive.
pub(crate) fn paired_ratio(num: &[f64], den: &[f64], confidence: f64) -> Option<PairedRatio> {
    let k = num.len();
    if k < 2 || den.len() != k || num.iter().chain(den).any(|&x| !(x > 0.0 && x.is_finite())) {
        return None;
    }
    let d: Vec<f64> = num.iter().zip(den).map(|(n, d)| (n / d).ln()).collect();
    let kf = k as f64;
    let mean = d.iter().sum::<f64>() / kf;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (kf - 1.0);
    let se = (var / kf).sqrt();
    let df = kf - 1.0;
    let t = student_t_quantile(f64::midpoint(1.0, confidence), df)?;
    let t_power = student_t_quantile(0.8, df)?;
    Some(PairedRatio {
        estimate: Estimate {
            value: mean.exp(),
            lo: (mean - t * se).exp(),
            hi: (mean + t * se).exp(),
        },
        rounds: k,
        se_log: se,
        detectable: ((t + t_power) * se).exp() - 1.0,
    })
}

/// The `p`-quantile of Student's t with `df` degrees of freedom (`0 < p < 1`, `df > 0`), by
/// bisection on the CDF; `None` outside that domain.
pub(crate) fn student_t_quantile(p: f64, df: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0 && df > 0.0 && df.is_finite()) {
        return None;
    }
    if p < 0.5 {
        return student_t_quantile(1.0 - p, df).map(|t| -t);
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = f64::midpoint(lo, hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(f64::midpoint(lo, hi))
}

/// `P(T <= t)` for Student's t with `df` degrees of freedom:
/// `1 - I_x(df/2, 1/2) / 2` with `x = df / (df + t²)` for `t >= 0` (Abramowitz and Stegun
/// 26.7.1 through 26.5.27).
pub(crate) fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(x, df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularized incomplete beta function `I_x(a, b)` by Lentz's continued fraction
/// (Numerical Recipes, `betai` and `betacf`).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9, as in Numerical Recipes' third edition).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Fewer rounds (instances per arm) than this and no verdict is given: the t quantile with
/// 2 degrees of freedom is 4.3, and a spread measured from 3 values is itself a guess.
pub(crate) const MIN_ROUNDS_FOR_VERDICT: usize = 4;

/// What a ratio's interval says about "slower than the baseline".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Verdict {
    /// The whole interval is above 1.
    #[serde(rename = "yes")]
    Slower,
    /// The whole interval is below 1 (measurably faster).
    #[serde(rename = "no")]
    Faster,
    /// The interval contains 1: no difference can be claimed.
    #[serde(rename = "inconclusive")]
    Inconclusive,
    /// Fewer than [`MIN_ROUNDS_FOR_VERDICT`] instances per arm: the design cannot support a
    /// verdict, whatever the interval says.
    #[serde(rename = "too-few-rounds")]
    TooFewRounds,
}

impl Verdict {
    /// The verdict of a ratio: a difference only when the design has enough rounds and the
    /// interval excludes 1.
    pub(crate) fn of(ratio: Option<&PairedRatio>) -> Verdict {
        let Some(r) = ratio.filter(|r| r.rounds >= MIN_ROUNDS_FOR_VERDICT) else {
            return Verdict::TooFewRounds;
        };
        let e = &r.estimate;
        if e.contains(1.0) {
            Verdict::Inconclusive
        } else if e.lo > 1.0 {
            Verdict::Slower
        } else if e.hi < 1.0 {
            Verdict::Faster
        } else {
            Verdict::Inconclusive
        }
    }

    /// Whether it claims a difference.
    pub(crate) const fn claims_difference(self) -> bool {
        matches!(self, Verdict::Slower | Verdict::Faster)
    }

    /// For the table.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Verdict::Slower => "yes",
            Verdict::Faster => "no (faster)",
            Verdict::Inconclusive => "inconclusive",
            Verdict::TooFewRounds => "inconclusive (too few rounds to call)",
        }
    }
}

#[cfg(test)]
mod tests;
