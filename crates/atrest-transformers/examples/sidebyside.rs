//! atrest's side of `cargo xtask bench transformers`: times the same cases as upstream's
//! `transform-oracle bench` (xtask/go/oracle/cmd/transform-oracle/bench.go), the same way
//! (Go's `testing.Benchmark`: grow the iteration count until one batch takes the time budget),
//! and prints the same JSON lines, plus `cpu_ns_per_op` (CPU time, to compare with
//! `openssl speed`, which counts CPU time).
//!
//! Run: `cargo run --release -p atrest-transformers --example sidebyside -- \
//!   [--budget-ms 300] aesgcm/encrypt/1024 secretbox/decrypt/65536 ...`
//!
//! Providers: aescbc ([`AesCbc`]), aesgcm ([`AesGcmTransformer`]), secretbox ([`Secretbox`]),
//! kmsv2-gcm ([`HkdfGcmTransformer`], the KMS v2 seed-mode DEK transformer) and kmsv2 (the
//! whole envelope behind its `k8s:enc:kms:v2:<name>:` prefix with the Base64 mock plugin).
//! Keys are 32 bytes of 0x42, the AAD a Secret's etcd key, the plaintext bytes of 0x5a.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "an example that prints a report")]

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atrest_config::{KmsConfiguration, ProviderConfiguration};
use atrest_transformers::{
    AesCbc, AesGcmTransformer, Base64Plugin, HkdfGcmTransformer, KmsPlugins, OsRandom,
    ProviderChain, Secretbox, Transformer,
};

const KEY: [u8; 32] = [0x42; 32];
const AAD: &[u8] = b"/registry/secrets/default/secret1";

/// Something that encrypts and decrypts: a bare transformer or a provider chain.
trait Subject {
    fn encrypt(&self, plaintext: &[u8]) -> Vec<u8>;
    fn decrypt(&self, stored: &[u8]) -> Vec<u8>;
}

struct Bare(Box<dyn Transformer>);

impl Subject for Bare {
    fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        self.0.to_storage(plaintext, AAD).expect("encrypt")
    }
    fn decrypt(&self, stored: &[u8]) -> Vec<u8> {
        self.0.from_storage(stored, AAD).expect("decrypt").0
    }
}

impl Subject for ProviderChain {
    fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        self.to_storage(plaintext, AAD).expect("encrypt")
    }
    fn decrypt(&self, stored: &[u8]) -> Vec<u8> {
        self.from_storage(stored, AAD).expect("decrypt").0
    }
}

fn subject(provider: &str) -> Result<Box<dyn Subject>, String> {
    let random = Arc::new(OsRandom::new());
    let bare = |t: Box<dyn Transformer>| Ok(Box::new(Bare(t)) as Box<dyn Subject>);
    match provider {
        "aescbc" => bare(Box::new(AesCbc::new(&KEY, random).expect("32-byte key"))),
        "aesgcm" => bare(Box::new(AesGcmTransformer::new(&KEY, random).expect("32-byte key"))),
        "secretbox" => bare(Box::new(Secretbox::new(&KEY, random))),
        "kmsv2-gcm" => bare(Box::new(HkdfGcmTransformer::new(&KEY, random).expect("32-byte seed"))),
        "kmsv2" => {
            let kms = KmsPlugins::new().with_v2("kms-provider", Arc::new(Base64Plugin::new()));
            let provider = ProviderConfiguration {
                kms: Some(KmsConfiguration {
                    api_version: "v2".into(),
                    name: "kms-provider".into(),
                    endpoint: "unix:///@kms-provider".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let chain = ProviderChain::build(&[&provider], &kms).map_err(|e| e.to_string())?;
            Ok(Box::new(chain))
        }
        other => Err(format!("unknown provider {other:?}")),
    }
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`, Linux), if
/// known. `openssl speed` reports throughput per CPU second, so the OpenSSL column is compared
/// with this figure rather than with wall time, which a loaded machine inflates.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Per call of `op`: wall nanoseconds and, where known, CPU nanoseconds, with the iteration
/// count, measured as `testing.Benchmark` does: run 1, then predict the count that fills
/// `budget` (at most 100× the last, at least one more), until a batch lasts `budget`.
fn measure(budget: Duration, mut op: impl FnMut()) -> (f64, Option<f64>, u64) {
    let mut n: u64 = 1;
    loop {
        let cpu_start = cpu_ns();
        let start = Instant::now();
        for _ in 0..n {
            op();
        }
        let took = start.elapsed();
        let cpu = cpu_start.zip(cpu_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / n as f64);
        if took >= budget || n >= 1_000_000_000 {
            return (took.as_nanos() as f64 / n as f64, cpu, n);
        }
        let per_op = (took.as_nanos() as f64 / n as f64).max(1.0);
        let predicted = (budget.as_nanos() as f64 * 1.2 / per_op) as u64;
        n = predicted.min(n * 100).max(n + 1);
    }
}

fn run_case(name: &str, budget: Duration) -> Result<(f64, Option<f64>, u64), String> {
    let parts: Vec<&str> = name.split('/').collect();
    let [provider, op, size] = parts[..] else {
        return Err(format!("case {name:?} is not <provider>/<op>/<bytes>"));
    };
    let size: usize = size.parse().map_err(|e| format!("case {name:?}: size: {e}"))?;
    let subject = subject(provider)?;
    let plaintext = vec![0x5a; size];
    let stored = subject.encrypt(&plaintext);
    assert_eq!(subject.decrypt(&stored), plaintext, "{name}: round trip");
    match op {
        "encrypt" => Ok(measure(budget, || {
            black_box(subject.encrypt(black_box(&plaintext)));
        })),
        "decrypt" => Ok(measure(budget, || {
            black_box(subject.decrypt(black_box(&stored)));
        })),
        _ => Err(format!("case {name:?}: op is encrypt or decrypt")),
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut budget = Duration::from_millis(300);
    if args.first().is_some_and(|a| a == "--budget-ms") && args.len() >= 2 {
        match args[1].parse() {
            Ok(ms) => budget = Duration::from_millis(ms),
            Err(err) => {
                eprintln!("sidebyside: --budget-ms: {err}");
                return ExitCode::from(2);
            }
        }
        args.drain(..2);
    }
    if args.is_empty() {
        eprintln!("usage: sidebyside [--budget-ms 300] <provider>/<op>/<bytes>...");
        return ExitCode::from(2);
    }
    for name in &args {
        match run_case(name, budget) {
            Ok((ns, cpu, n)) => {
                let cpu = cpu.map(|c| format!(r#","cpu_ns_per_op":{c:.1}"#)).unwrap_or_default();
                println!(r#"{{"case":"{name}","ns_per_op":{ns:.1}{cpu},"iterations":{n}}}"#)
            }
            Err(err) => {
                eprintln!("sidebyside: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
