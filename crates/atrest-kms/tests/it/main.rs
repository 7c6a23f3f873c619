//! The plugin and the client over real unix sockets in a temporary directory, and (`oracle`)
//! the wire checked against upstream's Go client and envelope.

#![expect(clippy::unwrap_used, reason = "test helpers panic on broken fixtures")]

mod oracle;
mod plugin;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atrest_kms::{KmsPlugin, KmsV2Client, PluginConfig};
use atrest_transformers::{KmsV2Envelope, OsRandom, Transformer as _};

/// A started plugin in its own temporary directory.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) plugin: KmsPlugin,
}

impl Fixture {
    pub(crate) fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = PluginConfig::new(dir.path().join("kms.sock"), dir.path().join("kek"))
            .with_control_socket(dir.path().join("control.sock"))
            .with_new_key_file_if_missing();
        let plugin = KmsPlugin::start(config).unwrap();
        Fixture { dir, plugin }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn client(&self) -> KmsV2Client {
        KmsV2Client::connect(&self.plugin.endpoint()).unwrap()
    }

    /// A KMS v2 envelope (seed mode, upstream's default) named `kms` over a fresh client.
    pub(crate) fn envelope(&self) -> KmsV2Envelope {
        envelope_for(&self.plugin.endpoint())
    }
}

pub(crate) fn envelope_for(endpoint: &str) -> KmsV2Envelope {
    let client = KmsV2Client::connect(endpoint).unwrap();
    let envelope = KmsV2Envelope::new("kms", Arc::new(client), Arc::new(OsRandom::default()), true);
    envelope.probe().unwrap();
    envelope
}

/// Waits (30 s at most) until `done` holds, polling it every 2 ms.
pub(crate) fn wait_for(what: &str, done: impl Fn() -> bool) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    runtime
        .block_on(atrest_backend::wait::wait_until(
            deadline,
            std::time::Duration::from_millis(2),
            || async {
                if done() {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            },
        ))
        .unwrap_or_else(|timed_out| panic!("{what}: not within 30 s ({timed_out:?})"));
}

pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

pub(crate) fn roundtrip(envelope: &KmsV2Envelope, plaintext: &[u8], ctx: &[u8]) -> Vec<u8> {
    let stored = envelope.to_storage(plaintext, ctx).unwrap();
    let (read, stale) = envelope.from_storage(&stored, ctx).unwrap();
    assert_eq!(read, plaintext);
    assert!(!stale);
    stored
}
