//! Loading generated configurations through `load::load` (what `atrest check-config` calls):
//! resource rules, resources in one rule and keys, at growing sizes up to what the default
//! decoding budget accepts; the largest file it accepts (4 MiB); and inputs it rejects (too many
//! bytes, too many nodes). Time should grow linearly with the input.

use std::hint::black_box;

use atrest_config::load::{LoadOptions, load};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

mod inputs;

use inputs::{Format, MAX_DUPLICATES, MAX_KEYS, MAX_ONE_RULE, MAX_RULES, max_for};

fn load_bytes(bytes: Vec<u8>) -> bool {
    load("bench", Ok(bytes), &LoadOptions::default()).is_ok()
}

fn name(format: Format) -> &'static str {
    match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
    }
}

/// One benchmark per input; the input is cloned outside the measurement (`load` takes it by
/// value).
fn bench_inputs(c: &mut Criterion, group: &str, cases: Vec<(String, Vec<u8>)>) {
    let mut group = c.benchmark_group(group);
    // The largest inputs take long enough per run that linear sampling would take minutes.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (id, bytes) in cases {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(id, |b| {
            b.iter_batched(|| bytes.clone(), |v| black_box(load_bytes(v)), BatchSize::LargeInput);
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    for format in [Format::Yaml, Format::Json] {
        let f = name(format);
        let sized = |max: usize, make: fn(usize, Format) -> Vec<u8>| {
            [1_000, 2_000, 4_000, 10_000, max]
                .into_iter()
                .map(|n| (n.to_string(), make(n, format)))
                .collect::<Vec<_>>()
        };
        let mut rules = sized(max_for(MAX_RULES, format), inputs::rules);
        rules.push(("100000-over-budget".to_owned(), inputs::rules(100_000, format)));
        bench_inputs(c, &format!("{f}/rules"), rules);

        let one_rule = sized(max_for(MAX_ONE_RULE, format), inputs::one_rule);
        bench_inputs(c, &format!("{f}/resources-in-one-rule"), one_rule);

        let mut keys = sized(max_for(MAX_KEYS, format), inputs::keys);
        keys.push(("100000-over-budget".to_owned(), inputs::keys(100_000, format)));
        keys.push(("4MiB".to_owned(), inputs::padded_keys(format)));
        bench_inputs(c, &format!("{f}/keys"), keys);

        let max = max_for(MAX_DUPLICATES, format);
        let duplicates = vec![
            (max.to_string(), inputs::duplicate_keys(max, format)),
            ("200000-over-budget".to_owned(), inputs::duplicate_keys(200_000, format)),
        ];
        bench_inputs(c, &format!("{f}/duplicate-keys"), duplicates);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
