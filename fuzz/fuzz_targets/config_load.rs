//! The whole loading pipeline on arbitrary file contents, with and without automatic reload
//! semantics and the KMSv1 gate: never a panic, and every error renders. The redaction pass the
//! scenario engine uses (`secret_literals`) runs on the same input.
#![no_main]

use atrest_config::load::{LoadOptions, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = atrest_config::decode::secret_literals(data);
    for (reload, kmsv1_enabled) in [(false, false), (true, true)] {
        let options = LoadOptions { reload, kmsv1_enabled };
        match load("/etc/kubernetes/enc/enc.yaml", Ok(data.to_vec()), &options) {
            Ok(loaded) => {
                let _ = atrest_config::lint::lint(&loaded.config);
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
});
