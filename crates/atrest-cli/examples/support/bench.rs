//! What the benchmark examples share: the test keys, the aescbc configuration they build, and
//! where the release `atrest` they time lives.

use std::path::PathBuf;

pub(crate) const KEY1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
pub(crate) const KEY2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";

/// An EncryptionConfiguration for Secrets: aescbc with `keys` in order.
pub(crate) fn config(keys: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n",
    );
    for (name, secret) in keys {
        s.push_str(&format!("            - name: {name}\n              secret: {secret}\n"));
    }
    s
}

/// The `atrest` binary next to this example's directory (`target/release/atrest`).
pub(crate) fn atrest_binary() -> Result<PathBuf, Box<dyn std::error::Error>> {
    Ok(std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("atrest"))
        .filter(|p| p.is_file())
        .ok_or(
            "build the release binary first: cargo build --release -p atrest-cli --bin atrest",
        )?)
}
