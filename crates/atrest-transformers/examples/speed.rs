//! Compares our aesgcm and aescbc transformers with `openssl speed` on this machine.
//!
//! Run: `cargo run --release -p atrest-transformers --example speed`.
//! Goals (issue): aesgcm and aescbc decrypt at 64 KiB reach at least 90% of OpenSSL's
//! throughput, and a 1 KiB aesgcm operation takes at most 1.5 µs. Our numbers go through the
//! `Transformer` API (allocation and copies included), as the apiserver model uses it.
#![expect(clippy::print_stdout, reason = "an example that prints a report")]

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atrest_transformers::{AesCbc, AesGcmTransformer, OsRandom, Transformer};

const SIZES: &[usize] = &[1 << 10, 64 << 10, 1 << 20];
const KEY: [u8; 32] = [0x42; 32];
const AAD: &[u8] = b"/registry/secrets/default/secret1";
const BUDGET: Duration = Duration::from_millis(600);

/// Bytes per second of `op` over `size`-byte inputs, and seconds per operation.
fn measure(size: usize, mut op: impl FnMut()) -> (f64, f64) {
    // Warm up caches and CPU frequency.
    let warm = Instant::now();
    while warm.elapsed() < BUDGET / 4 {
        op();
    }
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < BUDGET {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    let secs = start.elapsed().as_secs_f64();
    (n as f64 * size as f64 / secs, secs / n as f64)
}

/// `openssl speed -evp <cipher> [-decrypt] -bytes <size>`, in bytes per second.
fn openssl(cipher: &str, decrypt: bool, size: usize) -> Option<f64> {
    let mut cmd = Command::new("openssl");
    cmd.args(["speed", "-evp", cipher, "-seconds", "1", "-bytes", &size.to_string()]);
    if decrypt {
        cmd.arg("-decrypt");
    }
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The result row: "<name> <n>k" (1000s of bytes per second).
    let row = text.lines().find(|l| {
        l.split_whitespace().next().is_some_and(|name| name.eq_ignore_ascii_case(cipher))
    })?;
    let k = row.split_whitespace().last()?.trim_end_matches('k').parse::<f64>().ok()?;
    Some(k * 1000.0)
}

fn main() {
    let random = Arc::new(OsRandom::new());
    let gcm = AesGcmTransformer::new(&KEY, random.clone()).expect("32-byte key");
    let cbc = AesCbc::new(&KEY, random).expect("32-byte key");
    println!(
        "{:<8} {:<8} {:>8} {:>12} {:>12} {:>7}",
        "cipher", "op", "size", "ours MB/s", "openssl MB/s", "ratio"
    );
    let mut gcm_1k = (0.0, 0.0);
    for (name, t, openssl_name) in [
        ("aesgcm", &gcm as &dyn Transformer, "aes-256-gcm"),
        ("aescbc", &cbc as &dyn Transformer, "aes-256-cbc"),
    ] {
        for &size in SIZES {
            let plaintext = vec![0x5a; size];
            let stored = t.to_storage(&plaintext, AAD).expect("encrypt");
            let (enc, enc_op) = measure(size, || {
                black_box(t.to_storage(black_box(&plaintext), AAD).expect("encrypt"));
            });
            let (dec, dec_op) = measure(size, || {
                black_box(t.from_storage(black_box(&stored), AAD).expect("decrypt"));
            });
            if name == "aesgcm" && size == 1 << 10 {
                gcm_1k = (enc_op, dec_op);
            }
            for (op, ours, decrypt) in [("encrypt", enc, false), ("decrypt", dec, true)] {
                let theirs = openssl(openssl_name, decrypt, size);
                let (theirs_txt, ratio) = match theirs {
                    Some(v) => (format!("{:.0}", v / 1e6), format!("{:.0}%", 100.0 * ours / v)),
                    None => ("n/a".to_string(), "n/a".to_string()),
                };
                println!(
                    "{name:<8} {op:<8} {:>8} {:>12.0} {theirs_txt:>12} {ratio:>7}",
                    format!("{}KiB", size >> 10),
                    ours / 1e6
                );
            }
        }
    }
    println!(
        "aesgcm 1 KiB per operation: encrypt {:.2} µs, decrypt {:.2} µs (goal ≤ 1.5 µs)",
        gcm_1k.0 * 1e6,
        gcm_1k.1 * 1e6
    );
}
