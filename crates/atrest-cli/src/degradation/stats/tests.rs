use super::{
    Bootstrap, Estimate, MIN_ROUNDS_FOR_VERDICT, PairedRatio, Rng, Verdict, paired_ratio, quantile,
    quantile_sorted, student_t_cdf, student_t_quantile,
};

fn boot(seed: u64) -> Bootstrap {
    Bootstrap { resamples: 2000, confidence: 0.95, seed }
}

/// A skewed, latency-like sample: exponential-ish values above 1.
fn latencies(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            1.0 - (1.0 - u).ln()
        })
        .collect()
}

#[test]
fn splitmix64_matches_the_reference_implementation() {
    // Outputs of Vigna's splitmix64.c (compiled with gcc) for seeds 0 and 1234567.
    let mut r = Rng::new(0);
    assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(Rng::new(1_234_567).next_u64(), 0x599e_d017_fb08_fc85);
}

#[test]
fn below_stays_in_range_and_reaches_every_value() {
    let mut r = Rng::new(7);
    let mut seen = [0usize; 5];
    for _ in 0..1000 {
        seen[r.below(5)] += 1;
    }
    assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
    assert_eq!(Rng::new(1).below(1), 0);
}

#[test]
fn quantiles_follow_type_7() {
    // Hyndman and Fan type 7 (R's default `quantile(c(1,2,3,4), p)`):
    // h = (n-1)p; 0.25 -> h = 0.75 -> 1.75; 0.5 -> 2.5; 0.99 -> h = 2.97 -> 3.97.
    let x = [4.0, 1.0, 3.0, 2.0];
    for (p, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.99, 3.97), (1.0, 4.0)] {
        let got = quantile(&x, p).unwrap();
        assert!((got - want).abs() < 1e-12, "p={p}: {got} != {want}");
    }
    // Odd length: the median is the middle value.
    assert_eq!(quantile(&[5.0, 1.0, 3.0], 0.5), Some(3.0));
    assert_eq!(quantile_sorted(&[2.0], 0.95), Some(2.0));
    assert_eq!(quantile_sorted(&[], 0.5), None);
    assert_eq!(quantile_sorted(&[1.0], 1.5), None);
    assert_eq!(quantile_sorted(&[1.0], -0.1), None);
}

#[test]
fn quantile_intervals_bracket_the_estimate_and_are_ordered() {
    let x = latencies(3, 400);
    let est = boot(1).quantiles(&[&x], &[0.5, 0.95, 0.99], "x").unwrap();
    assert_eq!(est.len(), 3);
    for e in &est {
        assert!(e.lo <= e.value && e.value <= e.hi, "{e:?}");
        assert!(e.lo < e.hi, "{e:?}");
    }
    assert!(est[0].value < est[1].value && est[1].value < est[2].value);
    // The true median of 1 + Exp(1) is 1 + ln 2.
    assert!(est[0].contains(1.0 + std::f64::consts::LN_2), "{:?}", est[0]);
    assert_eq!(boot(1).quantiles(&[], &[0.5], "x"), None);
}

#[test]
fn a_constant_sample_has_a_degenerate_interval() {
    let est = boot(1).quantiles(&[&[2.0; 10]], &[0.5], "c").unwrap();
    assert_eq!(est, vec![Estimate { value: 2.0, lo: 2.0, hi: 2.0 }]);
}

#[test]
fn intervals_are_deterministic_given_the_seed() {
    let a = latencies(31, 200);
    let b = latencies(32, 200);
    let (a, b): (&[&[f64]], &[&[f64]]) = (&[&a[..100], &a[100..]], &[&b[..100], &b[100..]]);
    assert_eq!(boot(42).quantiles(a, &[0.95], "q"), boot(42).quantiles(a, &[0.95], "q"));
    assert_ne!(boot(42).quantiles(a, &[0.95], "q"), boot(43).quantiles(a, &[0.95], "q"));
    // Streams are independent of each other: another label draws other resamples.
    assert_ne!(boot(42).quantiles(b, &[0.95], "q"), boot(42).quantiles(b, &[0.95], "s"));
}

#[test]
fn two_stage_resampling_widens_intervals_when_rounds_differ() {
    let fast = latencies(50, 200);
    let slow: Vec<f64> = latencies(51, 200).iter().map(|x| 1.5 * x).collect();
    let grouped = boot(4).quantiles(&[&fast, &slow], &[0.5], "w").unwrap()[0];
    let pooled = boot(4).quantiles(&[&[fast, slow].concat()], &[0.5], "w").unwrap()[0];
    assert_eq!(grouped.value, pooled.value);
    assert!(grouped.hi - grouped.lo > 2.0 * (pooled.hi - pooled.lo), "{grouped:?} {pooled:?}");
}

#[test]
fn student_t_matches_published_tables() {
    // Two-sided 95% critical values from any t table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
    for (df, want) in [(1.0, 12.706), (2.0, 4.303), (5.0, 2.571), (10.0, 2.228), (30.0, 2.042)] {
        let got = student_t_quantile(0.975, df).unwrap();
        assert!((got - want).abs() < 1e-3, "df {df}: {got} != {want}");
    }
    // One-sided 80%: 1.376 (1 df), 0.920 (5 df).
    assert!((student_t_quantile(0.8, 1.0).unwrap() - 1.376).abs() < 1e-3);
    assert!((student_t_quantile(0.8, 5.0).unwrap() - 0.920).abs() < 1e-3);
    // With 1 df t is Cauchy: P(T <= 1) = 3/4.
    assert!((student_t_cdf(1.0, 1.0) - 0.75).abs() < 1e-12);
    assert!((student_t_quantile(0.025, 5.0).unwrap() + 2.571).abs() < 1e-3);
    assert_eq!(student_t_quantile(1.0, 5.0), None);
    assert_eq!(student_t_quantile(0.5, 0.0), None);
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = |rng: &mut Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (u1, u2) = (u(rng), u(rng));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The p50 of one simulated instance: 100 latencies `1 + Exp(1)`, times a log-normal
/// instance effect (sd `instance_sd`) and `scale`.
fn simulated_p50(rng: &mut Rng, instance_sd: f64, scale: f64) -> f64 {
    let effect = (instance_sd * normal(rng)).exp() * scale;
    let values: Vec<f64> = (0..100)
        .map(|_| {
            let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            effect * (1.0 - u.ln())
        })
        .collect();
    quantile(&values, 0.5).unwrap()
}

/// One simulated run of the real design: `rounds` rounds, each an instance of the baseline
/// and one of the other arm, whose latencies are `1 + Exp(1)` scaled by an instance effect
/// (log-normal, sd `instance_sd`) and by `shift` for the other arm; returns the verdict of the
/// p50 ratio as `bench degradation` computes it.
fn simulated_verdict(rng: &mut Rng, rounds: usize, instance_sd: f64, shift: f64) -> Verdict {
    let (mut num, mut den) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        den.push(simulated_p50(rng, instance_sd, 1.0));
        num.push(simulated_p50(rng, instance_sd, shift));
    }
    Verdict::of(paired_ratio(&num, &den, 0.95).as_ref())
}

#[test]
fn a_a_runs_with_instance_effects_claim_differences_at_most_at_the_level() {
    // Instances differ by 10% (sd of the log), far more than the requests' noise in a p50 of
    // 100: the request-level view would call most of these runs different.
    let mut rng = Rng::new(2024);
    let runs = 1000;
    for rounds in [4, 8] {
        let claims = (0..runs)
            .filter(|_| simulated_verdict(&mut rng, rounds, 0.10, 1.0).claims_difference())
            .count();
        // Expected 5% = 50 of 1000; the binomial sd is about 7.
        assert!(claims <= 70, "{rounds} rounds: {claims} of {runs} A/A runs claimed a difference");
        assert!(claims >= 30, "{rounds} rounds: {claims} of {runs}: the interval is too wide");
    }
}

#[test]
fn a_real_slowdown_is_found_and_its_power_matches_the_detectable_size() {
    let mut rng = Rng::new(7);
    let runs = 400;
    // 8 rounds, instance sd 5%, p50s of 100 values (about 6% sd each): the log ratio of a
    // round has an sd near 0.11, so the detectable slowdown is near 13%. A 30% slowdown is
    // found nearly always, and never called faster.
    let verdicts: Vec<Verdict> =
        (0..runs).map(|_| simulated_verdict(&mut rng, 8, 0.05, 1.3)).collect();
    let slower = verdicts.iter().filter(|v| **v == Verdict::Slower).count();
    assert!(slower >= 390, "{slower} of {runs}");
    assert!(!verdicts.contains(&Verdict::Faster));
    // At the detectable size (as the runs themselves estimate it), about 80% are found.
    let mut rng = Rng::new(8);
    let mut detectables = Vec::new();
    let (mut num, mut den) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        num.clear();
        den.clear();
        for _ in 0..8 {
            let a = simulated_p50(&mut rng, 0.05, 1.0);
            let b = simulated_p50(&mut rng, 0.05, 1.0);
            den.push(a);
            num.push(b);
        }
        detectables.push(paired_ratio(&num, &den, 0.95).unwrap().detectable);
    }
    let detectable = quantile(&detectables, 0.5).unwrap();
    let found = (0..runs)
        .filter(|_| simulated_verdict(&mut rng, 8, 0.05, 1.0 + detectable) == Verdict::Slower)
        .count();
    assert!((260..=360).contains(&found), "{found} of {runs} at {detectable}");
}

#[test]
fn paired_ratio_is_the_geometric_mean_of_round_ratios() {
    let r = paired_ratio(&[2.0, 8.0, 4.0, 4.0], &[1.0, 4.0, 2.0, 2.0], 0.95).unwrap();
    assert!((r.estimate.value - 2.0).abs() < 1e-12, "{r:?}");
    // Every round says exactly 2: no spread, a degenerate interval, nothing left to detect.
    assert!((r.estimate.lo - 2.0).abs() < 1e-12 && (r.estimate.hi - 2.0).abs() < 1e-12);
    assert!(r.detectable.abs() < 1e-12);
    assert_eq!(Verdict::of(Some(&r)), Verdict::Slower);
    // ln ratios 0.1 and -0.1 around 0: mean 0, sd 0.1414, se 0.1, t(0.975, 1) = 12.706.
    let r = paired_ratio(&[1.1f64.exp(), 0.9f64.exp()], &[1f64.exp(), 1f64.exp()], 0.95).unwrap();
    assert!((r.estimate.value - 1.0).abs() < 1e-9, "{r:?}");
    assert!((r.se_log - 0.1).abs() < 1e-9, "{r:?}");
    assert!((r.estimate.hi.ln() - 1.2706).abs() < 1e-3, "{r:?}");
}

#[test]
fn paired_ratio_refuses_what_it_cannot_estimate() {
    assert_eq!(paired_ratio(&[1.0], &[1.0], 0.95), None);
    assert_eq!(paired_ratio(&[1.0, 2.0], &[1.0], 0.95), None);
    assert_eq!(paired_ratio(&[1.0, 2.0], &[1.0, 0.0], 0.95), None);
    assert_eq!(paired_ratio(&[1.0, f64::NAN], &[1.0, 1.0], 0.95), None);
}

#[test]
fn verdicts_need_enough_rounds_and_an_interval_that_excludes_one() {
    let e = |lo: f64, hi: f64, rounds| PairedRatio {
        estimate: Estimate { value: (lo * hi).sqrt(), lo, hi },
        rounds,
        se_log: 0.01,
        detectable: 0.03,
    };
    let enough = MIN_ROUNDS_FOR_VERDICT;
    assert_eq!(Verdict::of(Some(&e(1.01, 1.2, enough))), Verdict::Slower);
    assert_eq!(Verdict::of(Some(&e(0.8, 0.99, enough))), Verdict::Faster);
    assert_eq!(Verdict::of(Some(&e(0.9, 1.1, enough))), Verdict::Inconclusive);
    assert_eq!(Verdict::of(Some(&e(1.0, 1.3, enough))), Verdict::Inconclusive);
    // Far from 1, but too few instances to trust the spread: no verdict.
    assert_eq!(Verdict::of(Some(&e(1.5, 1.6, enough - 1))), Verdict::TooFewRounds);
    assert_eq!(Verdict::of(None), Verdict::TooFewRounds);
    assert_eq!(Verdict::TooFewRounds.as_str(), "inconclusive (too few rounds to call)");
}
