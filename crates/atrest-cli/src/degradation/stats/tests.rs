use super::{Bootstrap, Estimate, Rng, Verdict, quantile, quantile_sorted};

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
fn ratio_interval_contains_one_for_identical_distributions() {
    // The same multiset in another order, and an independent draw of the same distribution.
    let a = latencies(11, 300);
    let mut same = a.clone();
    same.reverse();
    let r = boot(5).ratio(&[&same], &[&a], 0.5, "same").unwrap();
    assert!((r.value - 1.0).abs() < 1e-12);
    assert!(r.contains(1.0), "{r:?}");
    assert_eq!(Verdict::of(&r), Verdict::Inconclusive);

    let b = latencies(12, 300);
    let r = boot(5).ratio(&[&b], &[&a], 0.5, "iid").unwrap();
    assert!(r.contains(1.0), "{r:?}");
    assert_eq!(Verdict::of(&r), Verdict::Inconclusive);
}

#[test]
fn ratio_interval_contains_the_true_ratio_and_flags_a_real_difference() {
    let a = latencies(21, 300);
    let doubled: Vec<f64> = latencies(22, 300).iter().map(|x| 2.0 * x).collect();
    let r = boot(9).ratio(&[&doubled], &[&a], 0.5, "x2").unwrap();
    assert!(r.contains(2.0), "{r:?}");
    assert_eq!(Verdict::of(&r), Verdict::Slower);
    let r = boot(9).ratio(&[&a], &[&doubled], 0.5, "half").unwrap();
    assert!(r.contains(0.5), "{r:?}");
    assert_eq!(Verdict::of(&r), Verdict::Faster);
}

#[test]
fn ratio_refuses_empty_samples_and_zero_baselines() {
    assert_eq!(boot(1).ratio(&[&[]], &[&[1.0]], 0.5, "e"), None);
    assert_eq!(boot(1).ratio(&[&[1.0]], &[&[]], 0.5, "e"), None);
    assert_eq!(boot(1).ratio(&[], &[], 0.5, "e"), None);
    assert_eq!(boot(1).ratio(&[&[1.0]], &[&[1.0], &[1.0]], 0.5, "groups"), None);
    assert_eq!(boot(1).ratio(&[&[1.0]], &[&[0.0, 0.0]], 0.5, "z"), None);
    assert_eq!(boot(1).quantiles(&[&[1.0], &[]], &[0.5], "e"), None);
}

#[test]
fn intervals_are_deterministic_given_the_seed() {
    let a = latencies(31, 200);
    let b = latencies(32, 200);
    let (a, b): (&[&[f64]], &[&[f64]]) = (&[&a[..100], &a[100..]], &[&b[..100], &b[100..]]);
    assert_eq!(boot(42).ratio(a, b, 0.5, "r"), boot(42).ratio(a, b, 0.5, "r"));
    assert_eq!(boot(42).quantiles(a, &[0.95], "q"), boot(42).quantiles(a, &[0.95], "q"));
    assert_ne!(boot(42).ratio(a, b, 0.5, "r"), boot(43).ratio(a, b, 0.5, "r"));
    // Streams are independent of each other: another label draws other resamples.
    assert_ne!(boot(42).ratio(a, b, 0.5, "r"), boot(42).ratio(a, b, 0.5, "s"));
}

#[test]
fn a_slow_round_does_not_make_a_difference_significant() {
    // Both providers draw from the same distribution, but one of the three rounds of `num`
    // ran while the machine was busy (everything 1.6 times slower).
    let base: Vec<Vec<f64>> = (0..6).map(|r| latencies(40 + r, 200)).collect();
    let busy: Vec<f64> = base[2].iter().map(|x| 1.6 * x).collect();
    let num: [&[f64]; 3] = [&base[0], &base[1], &busy];
    let den: [&[f64]; 3] = [&base[3], &base[4], &base[5]];
    let grouped = boot(3).ratio(&num, &den, 0.5, "rounds").unwrap();
    assert!(grouped.contains(1.0), "{grouped:?}");
    assert_eq!(Verdict::of(&grouped), Verdict::Inconclusive);
    // Pooling the rounds as if every value were independent claims a difference.
    let pooled_num: Vec<f64> = num.concat();
    let pooled_den: Vec<f64> = den.concat();
    let pooled = boot(3).ratio(&[&pooled_num], &[&pooled_den], 0.5, "rounds").unwrap();
    assert_eq!(pooled.value, grouped.value);
    assert_eq!(Verdict::of(&pooled), Verdict::Slower, "{pooled:?}");
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
fn verdict_only_flags_intervals_that_exclude_one() {
    let e = |lo, hi| Estimate { value: f64::midpoint(lo, hi), lo, hi };
    assert_eq!(Verdict::of(&e(1.01, 1.2)), Verdict::Slower);
    assert_eq!(Verdict::of(&e(0.8, 0.99)), Verdict::Faster);
    assert_eq!(Verdict::of(&e(0.9, 1.1)), Verdict::Inconclusive);
    assert_eq!(Verdict::of(&e(1.0, 1.3)), Verdict::Inconclusive);
}
