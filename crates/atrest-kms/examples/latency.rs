//! Round-trip cost of the plugin over its unix socket, and what it means for the envelope:
//! `cargo run --release -p atrest-kms --example latency [CALLS]`.
//!
//! Prints the median and 99th percentile of `Status`, `Encrypt` and `Decrypt` through
//! `KmsV2Client`, then the cost of an envelope write and of a read with a cold DEK cache (one
//! `Decrypt`) and a warm one (none), with and without 50 ms of injected plugin latency.

#![expect(clippy::print_stdout, reason = "an example prints its measurements")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use atrest_kms::{Fault, KmsPlugin, KmsV2Client, PluginConfig};
use atrest_transformers::{
    DecryptRequest, KmsV2Envelope, KmsV2Plugin as _, OsRandom, Transformer as _,
};

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!("p50 {:>9.1?}  p99 {:>9.1?}", at(0.5), at(0.99))
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args().nth(1).map_or(Ok(2000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let plugin = KmsPlugin::start(
        PluginConfig::new(dir.path().join("kms.sock"), dir.path().join("kek"))
            .with_new_key_file_if_missing(),
    )?;
    let client = KmsV2Client::connect(&plugin.endpoint())?;
    client.status()?;
    let wrapped = client.encrypt(&[7; 32])?;
    let request = DecryptRequest {
        ciphertext: &wrapped.ciphertext,
        key_id: &wrapped.key_id,
        annotations: &wrapped.annotations,
    };
    let status: Vec<_> = (0..calls).map(|_| time(|| client.status()).1).collect();
    let encrypt: Vec<_> = (0..calls).map(|_| time(|| client.encrypt(&[7; 32])).1).collect();
    let decrypt: Vec<_> = (0..calls).map(|_| time(|| client.decrypt(&request)).1).collect();
    println!("{calls} calls each over the unix socket (KmsV2Client, sync):");
    println!("  Status   {}", stats(status));
    println!("  Encrypt  {}", stats(encrypt));
    println!("  Decrypt  {}", stats(decrypt));

    for latency in [None, Some(Duration::from_millis(50))] {
        match latency {
            Some(d) => plugin.set_fault(Fault::Latency(d))?,
            None => plugin.clear_faults()?,
        };
        let envelope = |client: KmsV2Client| {
            KmsV2Envelope::new("kms", Arc::new(client), Arc::new(OsRandom::default()), true)
        };
        let writer = envelope(KmsV2Client::connect(&plugin.endpoint())?);
        let ((), probe) = time(|| writer.probe().expect("probe"));
        let ctx = b"/registry/secrets/default/s";
        let writes: Vec<_> =
            (0..200).map(|_| time(|| writer.to_storage(b"value", ctx).expect("write")).1).collect();
        let stored = writer.to_storage(b"value", ctx)?;
        let reader = envelope(KmsV2Client::connect(&plugin.endpoint())?);
        reader.probe()?;
        let (_, cold) = time(|| reader.from_storage(&stored, ctx).expect("cold read"));
        let warm: Vec<_> =
            (0..200).map(|_| time(|| reader.from_storage(&stored, ctx).expect("read")).1).collect();
        println!(
            "envelope, plugin latency {:?}: first probe (Status + Encrypt of a new seed) {probe:.1?}; \
             write {}; read with a cold DEK cache (one Decrypt) {cold:.1?}; warm read {}",
            latency.unwrap_or_default(),
            stats(writes),
            stats(warm)
        );
    }
    plugin.shutdown()?;
    Ok(())
}
