//! Scenario files: any input is either a scenario or a `file:line:col` error, never a panic.
//! Accepted scenarios must also render their configurations (key templates, checked at load),
//! stay within the bounds checked at load (what keeps the engine's allocations and deadlines
//! small), and build their cluster spec (one entry per apiserver) as `atrest scenario run` does
//! before starting.
#![no_main]

use std::path::Path;
use std::time::{Duration, Instant};

use atrest_scenario::schema::{
    MAX_APISERVERS, MAX_MEASURE_BYTES, MAX_OBJECTS, MAX_TIMEOUT_SECONDS, MAX_VALUE_SIZE, Step,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(scenario) = atrest_scenario::parse(Path::new("fuzz.yaml"), text) else { return };
    assert!((1..=MAX_APISERVERS).contains(&scenario.cluster.apiservers.value));
    for placed in &scenario.steps {
        match &placed.step {
            Step::Create(s) | Step::Update(s) | Step::Get(s) | Step::Delete(s) => {
                assert!(s.count.as_ref().is_none_or(|n| n.value <= MAX_OBJECTS));
            }
            Step::Measure(m) => {
                assert!((1..=MAX_OBJECTS).contains(&m.objects.value));
                assert!(m.size.value <= MAX_VALUE_SIZE);
                assert!(m.objects.value * m.size.value <= MAX_MEASURE_BYTES);
            }
            Step::WaitForReload(r) => {
                assert!(r.timeout_seconds.value <= MAX_TIMEOUT_SECONDS);
                let timeout = Duration::from_secs(r.timeout_seconds.value);
                assert!(Instant::now().checked_add(timeout).is_some());
            }
            _ => {}
        }
    }
    // Templates are checked at load (with a position), so preparing cannot fail.
    if let Err(e) = scenario.prepare(&atrest_scenario::RunOptions::default()) {
        panic!("accepted scenario does not prepare: {e}");
    }
    let _ = scenario.cluster_spec();
});
