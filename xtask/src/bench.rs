//! `cargo xtask bench transformers`: upstream's transformers (k8s.io/apiserver v0.37.2 under
//! Go's `testing.Benchmark`, `transform-oracle bench`) against atrest's (the
//! atrest-transformers `sidebyside` example, timed the same way), case by case, in interleaved
//! rounds so that machine load hits both sides alike; plus `openssl speed -evp` where OpenSSL
//! has the same cipher. Prints a Markdown table (median and range per side, the speed ratio,
//! the goal of issue 16 and whether it is met).

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, oracle, project_root, run, tools};

/// Providers in table order: the name both benchmark programs take, and the row label.
const PROVIDERS: [(&str, &str); 5] = [
    ("aescbc", "aescbc"),
    ("aesgcm", "aesgcm"),
    ("secretbox", "secretbox"),
    ("kmsv2-gcm", "kms v2 HKDF-GCM DEK"),
    ("kmsv2", "kms v2 envelope"),
];
const OPS: [&str; 2] = ["encrypt", "decrypt"];
const SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];

/// Every provider and size must run at least this many times upstream's speed.
const GOAL_RATIO: f64 = 1.2;
/// aescbc decrypt at 64 KiB must reach this share of OpenSSL's throughput.
const GOAL_OPENSSL_CBC_DECRYPT: f64 = 0.9;

/// Options of `cargo xtask bench transformers`.
pub(crate) struct Options {
    /// Interleaved rounds (each side runs every case once per round).
    pub(crate) rounds: usize,
    /// Time per case and run, in milliseconds (Go's `-benchtime`).
    pub(crate) budget_ms: u64,
    /// Skip `openssl speed` (its column then reads "-").
    pub(crate) no_openssl: bool,
}

/// ns/op per case, one entry per round.
type Samples = BTreeMap<String, Vec<f64>>;

pub(crate) fn transformers(opts: &Options) -> Result<()> {
    anyhow::ensure!(opts.rounds >= 1, "--rounds must be at least 1");
    let openssl = if opts.no_openssl { None } else { Some(openssl_binary()?) };
    // `oracle::build` names the Go toolchain it needs when `go` is missing.
    let oracle_dir = oracle::build().context("building the Go oracle (upstream's side)")?;
    let upstream = oracle_dir.join("transform-oracle");
    let ours = build_sidebyside()?;

    let load_before = load_average();
    let started = now_utc();
    let budget = opts.budget_ms.to_string();
    let mut go: Samples = BTreeMap::new();
    let mut rust: Samples = BTreeMap::new();
    let mut rust_cpu: Samples = BTreeMap::new();
    let mut ssl: Samples = BTreeMap::new();
    for round in 0..opts.rounds {
        eprintln!("xtask: bench round {}/{}", round + 1, opts.rounds);
        for (provider, _) in PROVIDERS {
            let cases: Vec<String> = OPS
                .iter()
                .flat_map(|op| SIZES.iter().map(move |size| format!("{provider}/{op}/{size}")))
                .collect();
            // One process per case and side, so that no case inherits another's heap (a
            // 1 MiB case after others can pay page faults the same case alone does not);
            // which side goes first alternates by round.
            for case in &cases {
                let mut sides = [Side::Upstream, Side::Atrest];
                if round % 2 == 1 {
                    sides.reverse();
                }
                for side in sides {
                    let (cmd, into, cpu_into) = match side {
                        Side::Upstream => {
                            let mut cmd = Command::new(&upstream);
                            cmd.args(["bench", "-benchtime", &format!("{budget}ms")]);
                            (cmd, &mut go, None)
                        }
                        Side::Atrest => {
                            let mut cmd = Command::new(&ours);
                            cmd.args(["--budget-ms", &budget]);
                            (cmd, &mut rust, Some(&mut rust_cpu))
                        }
                    };
                    collect(cmd, std::slice::from_ref(case), into, cpu_into)?;
                }
            }
            if let (Some(openssl), Some(cipher)) = (&openssl, openssl_cipher(provider)) {
                for op in OPS {
                    for size in SIZES {
                        let ns = openssl_ns_per_op(openssl, cipher, op == "decrypt", size)?;
                        ssl.entry(format!("{provider}/{op}/{size}")).or_default().push(ns);
                    }
                }
            }
        }
    }
    let load_after = load_average();
    println!(
        "{}",
        render(
            &go,
            &rust,
            &rust_cpu,
            &ssl,
            opts,
            &Context { started, load_before, load_after, cpu: cpu() }
        )
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Side {
    Upstream,
    Atrest,
}

/// Runs one benchmark program on `cases` and appends its wall ns/op figures to `into` and its
/// CPU ns/op figures, where it prints them, to `cpu_into`.
fn collect(
    mut cmd: Command,
    cases: &[String],
    into: &mut Samples,
    mut cpu_into: Option<&mut Samples>,
) -> Result<()> {
    cmd.args(cases);
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (case, ns, cpu) =
            parse_line(line).with_context(|| format!("{shown} printed {line:?}"))?;
        if let (Some(cpu_into), Some(cpu)) = (cpu_into.as_deref_mut(), cpu) {
            cpu_into.entry(case.clone()).or_default().push(cpu);
        }
        into.entry(case).or_default().push(ns);
        seen += 1;
    }
    anyhow::ensure!(
        seen == cases.len(),
        "{shown} printed {seen} results for {} cases",
        cases.len()
    );
    Ok(())
}

/// `{"case":"aesgcm/encrypt/1024","ns_per_op":712.4,"cpu_ns_per_op":700.1,...}` → (case,
/// ns/op, CPU ns/op if printed). Both programs print exactly this shape; a JSON parser would be
/// the xtask's only use of serde.
fn parse_line(line: &str) -> Result<(String, f64, Option<f64>)> {
    let field = |name: &str| -> Result<&str> {
        let key = format!("\"{name}\":");
        let at = line.find(&key).with_context(|| format!("no {name:?}"))? + key.len();
        let rest = &line[at..];
        let end = rest.find([',', '}']).context("unterminated field")?;
        Ok(rest[..end].trim().trim_matches('"'))
    };
    let ns: f64 = field("ns_per_op")?.parse().context("ns_per_op is not a number")?;
    let cpu = match field("cpu_ns_per_op") {
        Ok(v) => Some(v.parse().context("cpu_ns_per_op is not a number")?),
        Err(_) => None,
    };
    Ok((field("case")?.to_owned(), ns, cpu))
}

/// Builds the `sidebyside` example (release) and returns its path.
fn build_sidebyside() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--release",
        "--locked",
        "--quiet",
        "--package",
        "atrest-transformers",
        "--example",
        "sidebyside",
    ]))
    .context("building atrest's side (the atrest-transformers sidebyside example)")?;
    let target = env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    let bin = target.join("release/examples/sidebyside");
    anyhow::ensure!(bin.is_file(), "the sidebyside example is not at {}", bin.display());
    Ok(bin)
}

fn openssl_binary() -> Result<PathBuf> {
    tools::find_on_path("openssl").context(
        "`openssl` is not on PATH; it gives the OpenSSL column (install Debian's `openssl` \
         package, or pass --no-openssl)",
    )
}

/// OpenSSL's name for the cipher behind `provider` (AES-256: the benches use 32-byte keys).
fn openssl_cipher(provider: &str) -> Option<&'static str> {
    match provider {
        "aescbc" => Some("aes-256-cbc"),
        "aesgcm" => Some("aes-256-gcm"),
        _ => None,
    }
}

/// `openssl speed -evp <cipher> [-decrypt] -seconds 1 -bytes <size>` as ns per `size` bytes.
fn openssl_ns_per_op(openssl: &Path, cipher: &str, decrypt: bool, size: usize) -> Result<f64> {
    let mut cmd = Command::new(openssl);
    cmd.args(["speed", "-evp", cipher, "-seconds", "1", "-bytes", &size.to_string()]);
    if decrypt {
        cmd.arg("-decrypt");
    }
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    anyhow::ensure!(out.status.success(), "{shown} failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    // The result row: "<NAME> <n>k", in 1000s of bytes per second.
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next().is_some_and(|n| n.eq_ignore_ascii_case(cipher)))
        .with_context(|| format!("{shown} printed no {cipher} row"))?;
    let k: f64 = row
        .split_whitespace()
        .last()
        .and_then(|v| v.trim_end_matches('k').parse().ok())
        .with_context(|| format!("{shown}: unreadable row {row:?}"))?;
    anyhow::ensure!(k > 0.0, "{shown}: zero throughput");
    Ok(size as f64 / (k * 1000.0) * 1e9)
}

struct Context {
    started: String,
    load_before: String,
    load_after: String,
    cpu: String,
}

/// The median of `v` (not empty).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
}

/// `0.71 µs`, `10.9 µs`, `1.56 ms`.
fn time(ns: f64) -> String {
    match ns {
        ns if ns < 10_000.0 => format!("{:.2} µs", ns / 1e3),
        ns if ns < 1_000_000.0 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{:.2} ms", ns / 1e6),
    }
}

fn time_range(v: &[f64]) -> String {
    let (lo, hi) = range(v);
    format!("{} [{}–{}]", time(median(v)), time(lo), time(hi))
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 { format!("{} MiB", size >> 20) } else { format!("{} KiB", size >> 10) }
}

fn render(
    go: &Samples,
    rust: &Samples,
    rust_cpu: &Samples,
    ssl: &Samples,
    opts: &Options,
    ctx: &Context,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} on {} ({} rounds of {} ms per case and side, interleaved); load average \
         {} before, {} after.",
        ctx.started, ctx.cpu, opts.rounds, opts.budget_ms, ctx.load_before, ctx.load_after
    );
    let _ = writeln!(
        out,
        "Time per operation, median [min–max] over rounds; ratio = upstream / atrest time \
         (median of the per-round ratios, [min–max]); goal: atrest at least {GOAL_RATIO}× \
         upstream, and aescbc decrypt at 64 KiB at least {:.0}% of OpenSSL. Upstream and \
         atrest are wall time; `openssl speed` reports per CPU second, so its column is \
         compared with atrest's CPU time (`/proc/thread-self/schedstat`) in the same runs.",
        GOAL_OPENSSL_CBC_DECRYPT * 100.0
    );
    out.push('\n');
    out.push_str(
        "| provider | op | size | upstream Go | atrest | atrest / Go speed | OpenSSL | atrest / \
         OpenSSL speed | goal |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut missed = 0;
    for (provider, label) in PROVIDERS {
        for op in OPS {
            for size in SIZES {
                let case = format!("{provider}/{op}/{size}");
                let (Some(g), Some(r)) = (go.get(&case), rust.get(&case)) else { continue };
                let ratios: Vec<f64> = g.iter().zip(r).map(|(g, r)| g / r).collect();
                let ratio = median(&ratios);
                let (rlo, rhi) = range(&ratios);
                let mut met = ratio >= GOAL_RATIO;
                let (ssl_txt, ssl_ratio) = match ssl.get(&case) {
                    Some(s) => {
                        // `openssl speed` counts CPU time: compare with atrest's CPU time.
                        let r = rust_cpu.get(&case).unwrap_or(r);
                        let share: Vec<f64> = s.iter().zip(r).map(|(s, r)| s / r).collect();
                        let m = median(&share);
                        if provider == "aescbc" && op == "decrypt" && size == 64 << 10 {
                            met &= m >= GOAL_OPENSSL_CBC_DECRYPT;
                        }
                        let (lo, hi) = range(&share);
                        (
                            time_range(s),
                            format!("{:.0}% [{:.0}–{:.0}%]", m * 100.0, lo * 100.0, hi * 100.0),
                        )
                    }
                    None => ("–".to_owned(), "–".to_owned()),
                };
                if !met {
                    missed += 1;
                }
                let _ = writeln!(
                    out,
                    "| {label} | {op} | {} | {} | {} | {ratio:.2}× [{rlo:.2}–{rhi:.2}] | {ssl_txt} \
                     | {ssl_ratio} | {} |",
                    size_label(size),
                    time_range(g),
                    time_range(r),
                    if met { "met" } else { "**missed**" }
                );
            }
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{}",
        if missed == 0 {
            "Every row meets its goal.".to_owned()
        } else {
            format!("{missed} row(s) miss their goal.")
        }
    );
    let _ = write!(
        out,
        "Reproduce: `cargo xtask bench transformers --rounds {} --budget-ms {}`.",
        opts.rounds, opts.budget_ms
    );
    out
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn cpu() -> String {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores")
}

/// `date -u` without a time dependency.
fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "at an unknown time".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_programs_lines() {
        let (case, ns, cpu) =
            parse_line(r#"{"case":"aesgcm/encrypt/1024","ns_per_op":712.4,"iterations":421337}"#)
                .expect("go's line");
        assert_eq!((case.as_str(), ns, cpu), ("aesgcm/encrypt/1024", 712.4, None));
        let line = r#"{"case":"kmsv2/decrypt/65536","ns_per_op":14143.3,"cpu_ns_per_op":14000.5,"iterations":9}"#;
        let (case, ns, cpu) = parse_line(line).expect("atrest's line");
        assert_eq!((case.as_str(), ns, cpu), ("kmsv2/decrypt/65536", 14143.3, Some(14000.5)));
        assert!(parse_line("PASS").is_err());
    }

    #[test]
    fn medians_and_labels() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(time(712.4), "0.71 µs");
        assert_eq!(time(14_143.3), "14.1 µs");
        assert_eq!(time(1_560_184.5), "1.56 ms");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(64 << 10), "64 KiB");
    }
}
