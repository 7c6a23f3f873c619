//! Scenario files: any input is either a scenario or a `file:line:col` error, never a panic.
//! Accepted scenarios must also render their configurations (key templates).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(scenario) = atrest_scenario::parse(Path::new("fuzz.yaml"), text) {
        let _ = scenario.prepare(&atrest_scenario::RunOptions::default());
        let _ = scenario.cluster_spec();
    }
});
