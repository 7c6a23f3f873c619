//! `atrest bench degradation`: the harness runs end to end and its reports are complete.
//! The numbers themselves are measurements and are never asserted.

use serde_json::Value;

use crate::{atrest, stderr, stdout};

const PROVIDERS: [&str; 4] = ["identity", "aescbc", "aesgcm", "secretbox"];

/// Runs `bench degradation` with tiny counts into a fresh directory and checks the outputs.
fn check_degradation(backend: &str, objects: u64, rounds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let (n, r) = (objects.to_string(), rounds.to_string());
    let out = atrest(
        &[
            "bench",
            "degradation",
            "--backend",
            backend,
            "--objects",
            &n,
            "--rounds",
            &r,
            "--warmup",
            "2",
            "--resamples",
            "200",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("bench degradation on backend {backend} (")), "{text}");

    let file = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    assert_eq!(file("degradation.txt"), text);
    let svg = file("degradation.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for p in PROVIDERS {
        assert!(svg.contains(&format!(">\n{p}\n</text>")), "legend lacks {p}");
    }
    let json = file("degradation.json");
    check_json(&serde_json::from_str(&json).unwrap(), backend, objects * rounds, rounds);

    for (what, body) in [("stdout", &text), ("stderr", &stderr(&out)), ("json", &json)] {
        assert_no_key_material(what, body);
    }
    assert_no_key_material("svg", &svg);
    // Nothing but the three reports.
    let mut names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["degradation.json", "degradation.svg", "degradation.txt"]);
}

fn check_json(v: &Value, backend: &str, samples: u64, rounds: u64) {
    assert_eq!(v["backend"], backend);
    // The default: every arm's instance at once, requests alternating.
    assert_eq!(v["design"], "interleaved");
    assert_eq!(v["bootstrap"]["resamples"], 200);
    assert_eq!(v["bootstrap"]["confidence"], 0.95);
    assert_eq!(v["baseline"], "identity");
    let orders = v["round_orders"].as_array().unwrap();
    assert_eq!(orders.len() as u64, rounds);
    // Rounds in pairs, the second reversed (ABBA), rotated by one every pair.
    assert_eq!(orders[0], serde_json::json!(PROVIDERS));
    if rounds > 1 {
        assert_eq!(orders[1], serde_json::json!(["secretbox", "aesgcm", "aescbc", "identity"]));
    }
    let results = v["results"].as_array().unwrap();
    let names: Vec<_> = results.iter().map(|r| r["provider"].as_str().unwrap()).collect();
    assert_eq!(names, PROVIDERS);
    let arms: Vec<_> = results.iter().map(|r| r["arm"].as_str().unwrap()).collect();
    assert_eq!(arms, PROVIDERS);
    for r in results {
        let p = r["provider"].as_str().unwrap();
        for op in ["create", "get"] {
            let o = &r[op];
            assert_eq!(o["samples"].as_u64(), Some(samples), "{p} {op}");
            for q in ["p50", "p95", "p99"] {
                let e = &o["latency_ms"][q];
                let (lo, val, hi) = (
                    e["lo"].as_f64().unwrap(),
                    e["value"].as_f64().unwrap(),
                    e["hi"].as_f64().unwrap(),
                );
                assert!(0.0 < lo && lo <= val && val <= hi, "{p} {op} {q}: {e}");
            }
            assert!(o["throughput_rps"].as_f64().unwrap() > 0.0);
            assert_eq!(o["instance_p50_ms"].as_array().unwrap().len() as u64, rounds);
            let ratio = &o["ratio_p50_vs_identity"];
            if p == "identity" {
                assert!(ratio.is_null(), "{ratio}");
            } else {
                check_ratio(ratio, rounds, &format!("{p} {op}"));
            }
            let raw = v["samples_ms"][p][op].as_array().unwrap();
            assert_eq!(raw.len() as u64, samples);
        }
        let t = &r["transformer"];
        assert_eq!(t["value_bytes"], 1024);
        assert!(t["to_storage_us"].as_f64().unwrap() > 0.0);
        assert!(t["from_storage_us"].as_f64().unwrap() > 0.0);
        assert!(t["iterations"].as_u64().unwrap() > 0);
    }
}

/// A ratio's interval brackets it, and its verdict follows from the interval and the rounds.
fn check_ratio(ratio: &Value, rounds: u64, what: &str) {
    let val = ratio["value"].as_f64().unwrap();
    assert!(val > 0.0, "{what}: {ratio}");
    assert_eq!(ratio["rounds"].as_u64(), Some(rounds), "{what}: {ratio}");
    assert!(ratio["delta_p50_us"].as_f64().is_some(), "{what}: {ratio}");
    if rounds < 2 {
        assert!(ratio["lo"].is_null() && ratio["hi"].is_null(), "{what}: {ratio}");
        assert_eq!(ratio["slower"], "too-few-rounds", "{what}: {ratio}");
        return;
    }
    let (lo, hi) = (ratio["lo"].as_f64().unwrap(), ratio["hi"].as_f64().unwrap());
    assert!(0.0 < lo && lo <= val && val <= hi, "{what}: {ratio}");
    assert!(ratio["detectable_slowdown"].as_f64().unwrap() >= 0.0, "{what}: {ratio}");
    let want = if rounds < 4 {
        "too-few-rounds"
    } else if lo > 1.0 {
        "yes"
    } else if hi < 1.0 {
        "no"
    } else {
        "inconclusive"
    };
    assert_eq!(ratio["slower"], want, "{what}: {ratio}");
}

/// No 32-byte key in standard base64 (44 characters ending in `=`) in any output.
fn assert_no_key_material(what: &str, body: &str) {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    for token in body.split(|c: char| !is_b64(c)) {
        assert!(
            !(token.len() >= 44 && token.contains('=') && token.trim_end_matches('=').len() >= 43),
            "{what} contains something like a key: {token}"
        );
    }
}

#[test]
fn bench_degradation_sim() {
    check_degradation("sim", 3, 2);
}

#[test]
fn bench_degradation_refuses_bad_provider_lists() {
    for providers in ["aescbc,aesgcm", "aescbc,aescbc", "identity,rot13"] {
        let out =
            atrest(&["bench", "degradation", "--backend", "sim", "--providers", providers], b"");
        assert_eq!(out.status.code(), Some(2), "{providers}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    // --backend is required: a number must never silently come from the simulator.
    let out = atrest(&["bench", "degradation"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--backend"), "{}", stderr(&out));
    // --calibrate chooses its own arms; its options need it.
    for args in [
        &["--calibrate", "--providers", "identity,aescbc"][..],
        &["--comparisons", "3"],
        &["--inject-percent", "5"],
        &["--calibrate", "--inject-percent", "-1"],
    ] {
        let out = atrest(&[&["bench", "degradation", "--backend", "sim"][..], args].concat(), b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

/// `atrest bench degradation --backend sim … --out DIR` with `args`, tiny counts (1 warm-up,
/// 200 resamples); it must exit 0. Returns stdout and the parsed degradation.json.
fn sim_degradation(dir: &std::path::Path, args: &[&str]) -> (String, Value) {
    let mut all = vec!["bench", "degradation", "--backend", "sim"];
    all.extend_from_slice(args);
    all.extend(["--warmup", "1", "--resamples", "200", "--out", dir.to_str().unwrap()]);
    let out = atrest(&all, b"");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let json = std::fs::read_to_string(dir.join("degradation.json")).unwrap();
    (stdout(&out), serde_json::from_str(&json).unwrap())
}

/// The same provider twice is two arms (the A/A check), labelled apart everywhere, run in
/// ABBA order.
#[test]
fn bench_degradation_sim_a_a() {
    let dir = tempfile::tempdir().unwrap();
    let (text, v) = sim_degradation(
        dir.path(),
        &["--providers", "identity,identity", "--objects", "4", "--rounds", "4"],
    );
    for arm in ["identity#1", "identity#2"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{arm} "))), "{arm}: {text}");
    }
    assert_eq!(v["baseline"], "identity#1");
    let (a, b) = ("identity#1", "identity#2");
    assert_eq!(v["round_orders"], serde_json::json!([[a, b], [b, a], [b, a], [a, b]]));
    let arms: Vec<_> = v["results"].as_array().unwrap().iter().map(|r| &r["arm"]).collect();
    assert_eq!(arms, [a, b]);
    for op in ["create", "get"] {
        check_ratio(&v["results"][1][op]["ratio_p50_vs_identity"], 4, op);
        assert_eq!(v["samples_ms"][b][op].as_array().unwrap().len(), 16);
    }
    let svg = std::fs::read_to_string(dir.path().join("degradation.svg")).unwrap();
    assert!(svg.contains(&format!(">\n{b}\n</text>")), "legend lacks {b}");
}

/// `--design sequential`: one instance after the other, the same reports.
#[test]
fn bench_degradation_sim_sequential() {
    let dir = tempfile::tempdir().unwrap();
    let (text, v) = sim_degradation(
        dir.path(),
        &[
            "--design",
            "sequential",
            "--providers",
            "identity,aesgcm",
            "--objects",
            "3",
            "--rounds",
            "4",
        ],
    );
    assert!(
        text.contains("design sequential (one apiserver instance per arm and round, one after the other; ABBA order)"),
        "{text}"
    );
    assert_eq!(v["design"], "sequential");
    for op in ["create", "get"] {
        check_ratio(&v["results"][1][op]["ratio_p50_vs_identity"], 4, op);
        assert_eq!(v["samples_ms"]["aesgcm"][op].as_array().unwrap().len(), 12);
    }
}

/// `--calibrate`: a pilot sets the delay, every comparison has an A/A and a delayed ratio,
/// and the counts add up.
fn check_calibrate(backend: &str, comparisons: u64, rounds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (c, r) = (comparisons.to_string(), rounds.to_string());
    let out = atrest(
        &[
            "bench",
            "degradation",
            "--backend",
            backend,
            "--calibrate",
            "--comparisons",
            &c,
            "--rounds",
            &r,
            "--objects",
            "3",
            "--warmup",
            "1",
            "--inject-percent",
            "50",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("bench degradation --calibrate on backend {backend}\n")));
    assert_eq!(std::fs::read_to_string(dir.path().join("calibration.txt")).unwrap(), text);
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("calibration.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["comparisons"].as_u64(), Some(comparisons));
    let pilot = &v["pilot"];
    assert_eq!(pilot["inject_percent"], 50.0);
    for op in ["create", "get"] {
        // The delay is half the pilot's p50 (to the ns a Duration keeps).
        let p50_us = pilot[format!("{op}_p50_ms")].as_f64().unwrap() * 1e3;
        let injected = pilot[format!("injected_{op}_us")].as_f64().unwrap();
        assert!((injected - p50_us / 2.0).abs() < 0.01, "{op}: {pilot}");
        let o = &v[op];
        let runs = o["runs"].as_array().unwrap();
        assert_eq!(runs.len() as u64, comparisons);
        for run in runs {
            for which in ["a_a", "injected"] {
                let want = if rounds < 4 { Some("too-few-rounds") } else { None };
                let verdict = run[which]["verdict"].as_str().unwrap();
                if let Some(w) = want {
                    assert_eq!(verdict, w, "{op} {which}: {run}");
                }
            }
        }
        let claims = runs
            .iter()
            .filter(|r| matches!(r["a_a"]["verdict"].as_str(), Some("yes" | "no")))
            .count();
        assert_eq!(o["false_positives"].as_u64(), Some(claims as u64));
        let found = runs.iter().filter(|r| r["injected"]["verdict"] == "yes").count();
        assert_eq!(o["detections"].as_u64(), Some(found as u64));
        let callable = if rounds < 4 { 0 } else { comparisons };
        assert_eq!(o["comparisons"].as_u64(), Some(callable));
    }
    if rounds < 4 {
        assert!(text.contains("no comparison could give a verdict"), "{text}");
    } else {
        assert!(text.contains("create: A/A false positives "), "{text}");
        assert!(text.contains("smallest slowdown this design detects in 80% of runs"), "{text}");
    }
    assert_no_key_material("stdout", &text);
    assert_no_key_material("stderr", &stderr(&out));
}

#[test]
fn bench_degradation_calibrate_sim() {
    check_calibrate("sim", 2, 4);
}

#[test]
fn bench_degradation_process_calibrate() {
    atrest_process::Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    check_calibrate("process", 1, 1);
}

#[test]
fn bench_degradation_process() {
    // Fails loudly, saying what to run, when no control plane was built.
    atrest_process::Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    check_degradation("process", 4, 1);
}

/// A symlink planted where a degradation output goes is refused; the target is untouched.
#[test]
fn bench_degradation_out_refuses_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("degradation.svg");
    let target = crate::plant_symlink(&link, "precious");
    let args = [
        "bench",
        "degradation",
        "--backend",
        "sim",
        "--objects",
        "3",
        "--rounds",
        "2",
        "--warmup",
        "2",
        "--resamples",
        "200",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    crate::assert_symlink_refused(&atrest(&args, b""), &link, &target, "precious");
}

/// `kms` as a provider: the backend runs atrest's plugin, the configurations point at it, the
/// raw etcd check proves the KMS v2 envelope wrote the values, and the latency is reported.
fn check_degradation_kms(backend: &str) {
    let out = atrest(
        &[
            "bench",
            "degradation",
            "--backend",
            backend,
            "--providers",
            "identity,kms",
            "--kms-latency-ms",
            "5",
            "--objects",
            "3",
            "--rounds",
            "2",
            "--warmup",
            "1",
            "--resamples",
            "200",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "kms: atrest's KMS v2 plugin, 5 ms added to every call (Status, Encrypt, Decrypt)"
        ),
        "{text}"
    );
    assert!(text.lines().any(|l| l.trim_start().starts_with("kms ")), "{text}");
    assert_no_key_material("stdout", &text);
    assert_no_key_material("stderr", &stderr(&out));
}

#[test]
fn bench_degradation_kms_sim() {
    check_degradation_kms("sim");
}

#[test]
fn bench_degradation_process_kms() {
    atrest_process::Assets::locate().unwrap_or_else(|e| panic!("{e}"));
    check_degradation_kms("process");
}
