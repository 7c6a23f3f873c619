//! The statistics of `bench degradation`, pure and deterministic: percentiles, percentile
//! bootstrap confidence intervals, and the interval of a ratio of two samples' percentiles.
//! Samples come grouped by round and are resampled in two stages (rounds, then values).
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

    /// The ratio of the `p`-quantiles of `num` and `den` (each grouped by round, the same
    /// rounds) with a two-stage bootstrap interval (stream `label`): the same rounds are drawn
    /// for both, as both were measured under that round's conditions, then each sample is
    /// resampled within its rounds independently. `None` for group counts that differ or are
    /// zero, an empty group, a `p` outside `[0, 1]`, or a denominator quantile that is not
    /// positive.
    pub(crate) fn ratio(
        &self,
        num: &[&[f64]],
        den: &[&[f64]],
        p: f64,
        label: &str,
    ) -> Option<Estimate> {
        if num.len() != den.len() {
            return None;
        }
        let d = quantile_sorted(&pooled_sorted(den)?, p)?;
        let n = quantile_sorted(&pooled_sorted(num)?, p)?;
        if d <= 0.0 {
            return None;
        }
        let mut rng = Rng::stream(self.seed, label);
        let mut stats = Vec::with_capacity(self.resamples);
        let mut picks = vec![0; num.len()];
        let (mut nb, mut db) = (Vec::new(), Vec::new());
        for _ in 0..self.resamples {
            pick_groups(&mut picks, &mut rng);
            resample_sorted(num, &picks, &mut nb, &mut rng);
            resample_sorted(den, &picks, &mut db, &mut rng);
            // A zero denominator gives +inf, which sorts last: the interval then says so.
            stats.push(quantile_sorted(&nb, p)? / quantile_sorted(&db, p)?);
        }
        Some(self.interval(n / d, stats))
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
}

impl Verdict {
    /// The verdict of a ratio estimate: a difference only when the interval excludes 1.
    pub(crate) fn of(ratio: &Estimate) -> Verdict {
        if ratio.contains(1.0) {
            Verdict::Inconclusive
        } else if ratio.lo > 1.0 {
            Verdict::Slower
        } else if ratio.hi < 1.0 {
            Verdict::Faster
        } else {
            Verdict::Inconclusive
        }
    }

    /// For the table.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Verdict::Slower => "yes",
            Verdict::Faster => "no (faster)",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

#[cfg(test)]
mod tests;
