//! [`LocalKmsPlugin`]: the plugin without gRPC, for callers that model time and transport
//! themselves (the simulator).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atrest_backend::KillSignal;
use atrest_transformers::{
    DecryptRequest, EncryptResponse, GrpcCode, KmsV2Plugin, PluginError, StatusResponse,
};

use crate::faults::{Fault, FaultKind, Faults};
use crate::kek::{KeyFileError, KeyRing};
use crate::service::{Calls, Down, Shared};

/// The plugin's keys, rotation and faults answered in-process through
/// `atrest_transformers::KmsV2Plugin`, with exactly the answers and error texts the gRPC plugin
/// gives (both call the same code).
///
/// Transport is the caller's: [`Fault::Latency`] is recorded (see [`LocalKmsPlugin::faults`]) but
/// not waited, so a simulator applies it with its own clock; while [`Fault::Unavailable`] is on,
/// every call fails with the error kube-apiserver's client reports when the socket is gone
/// (grpc-go's `DeadlineExceeded … dial unix <socket>: connect: no such file or directory`).
#[derive(Debug, Clone)]
pub struct LocalKmsPlugin {
    shared: Arc<Shared>,
    socket: PathBuf,
    /// Whether its calls count in [`LocalKmsPlugin::calls`] (a harness's own reads do not).
    counted: bool,
}

impl LocalKmsPlugin {
    /// A plugin with one fresh key (`atrest-kek-1`) in memory only.
    pub fn new() -> Result<LocalKmsPlugin, KeyFileError> {
        Ok(Self::with(KeyRing::generate()?, None))
    }

    /// A plugin with the keys of `path` (refused when group or others can access it);
    /// rotations are saved to it.
    pub fn from_key_file(path: &Path) -> Result<LocalKmsPlugin, KeyFileError> {
        Ok(Self::with(KeyRing::load(path)?, Some(path.to_owned())))
    }

    fn with(ring: KeyRing, key_file: Option<PathBuf>) -> LocalKmsPlugin {
        LocalKmsPlugin {
            shared: Arc::new(Shared::new(ring, key_file)),
            socket: PathBuf::from("kms.sock"),
            counted: true,
        }
    }

    /// The socket path named in errors while unavailable (the provider's endpoint path;
    /// default `kms.sock`).
    pub fn with_socket_path(mut self, socket: impl Into<PathBuf>) -> LocalKmsPlugin {
        self.socket = socket.into();
        self
    }

    /// The current key ID.
    pub fn key_id(&self) -> String {
        self.shared.key_ids().0
    }

    /// Every key version, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.shared.key_ids().1
    }

    /// Adds a key version and makes it current; returns its key ID.
    pub fn rotate(&self) -> Result<String, KeyFileError> {
        self.shared.rotate()
    }

    /// Switches a fault on.
    pub fn set_fault(&self, fault: Fault) -> Result<Faults, KeyFileError> {
        self.shared.update_faults(|f| f.set(fault)).map_err(KeyFileError::Random)
    }

    /// Switches a fault off.
    pub fn clear_fault(&self, kind: FaultKind) -> Result<Faults, KeyFileError> {
        self.shared.update_faults(|f| f.clear(kind)).map_err(KeyFileError::Random)
    }

    /// Switches every fault off.
    pub fn clear_faults(&self) -> Result<Faults, KeyFileError> {
        self.shared.update_faults(|f| *f = Faults::default()).map_err(KeyFileError::Random)
    }

    /// The same plugin (keys, faults) whose calls are not counted: for a harness that reads
    /// stored values itself, so that counts show only what the apiserver asked.
    pub fn uncounted(&self) -> LocalKmsPlugin {
        LocalKmsPlugin { counted: false, ..self.clone() }
    }

    pub(crate) fn view(shared: Arc<Shared>, socket: PathBuf) -> LocalKmsPlugin {
        LocalKmsPlugin { shared, socket, counted: false }
    }

    /// The plugin's process gets `signal`: [`KillSignal::Kill`] leaves its socket file with
    /// nobody listening (a dial is refused), [`KillSignal::Term`] stops it as `atrest
    /// kms-plugin serve` stops on SIGTERM (the socket is removed). A frozen plugin dies too.
    pub fn kill(&self, signal: KillSignal) {
        self.shared.freeze(false);
        self.shared.set_down(Some(Down::from(signal)));
    }

    /// The plugin's process starts again with the same key file.
    pub fn start_again(&self) {
        self.shared.set_down(None);
    }

    /// Freezes the plugin (SIGSTOP): calls get no answer until [`LocalKmsPlugin::thaw`].
    pub fn freeze(&self) {
        self.shared.freeze(true);
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        self.shared.freeze(false);
    }

    /// Whether its process is gone (killed and not started again).
    pub fn is_down(&self) -> bool {
        self.shared.down().is_some()
    }

    /// Whether it is frozen.
    pub fn is_frozen(&self) -> bool {
        self.shared.is_frozen()
    }

    /// The calls received so far.
    pub fn calls(&self) -> Calls {
        self.shared.calls()
    }

    /// The faults switched on (a simulator reads [`Faults::latency`] here).
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    fn reachable(&self) -> Result<(), PluginError> {
        if let Some(down) = self.shared.down() {
            return Err(crate::client::dial_deadline_exceeded(
                &crate::SocketAddress::Path(self.socket.clone()),
                down.dial_error(),
            ));
        }
        if self.shared.is_frozen() {
            // Connected, asked, never answered: the caller's deadline ends the call.
            return Err(PluginError::status(
                GrpcCode::DeadlineExceeded,
                "context deadline exceeded",
            ));
        }
        if self.shared.faults().unavailable {
            return Err(crate::client::dial_deadline_exceeded(
                &crate::SocketAddress::Path(self.socket.clone()),
                "connect: no such file or directory",
            ));
        }
        Ok(())
    }
}

impl KmsV2Plugin for LocalKmsPlugin {
    fn status(&self) -> Result<StatusResponse, PluginError> {
        self.reachable()?;
        if self.counted {
            self.shared.count(|c| c.status += 1);
        }
        self.shared.status()
    }

    fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptResponse, PluginError> {
        self.reachable()?;
        if self.counted {
            self.shared.count(|c| c.encrypt += 1);
        }
        self.shared.encrypt(&uuid::Uuid::new_v4().to_string(), plaintext)
    }

    fn decrypt(&self, request: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError> {
        self.reachable()?;
        if self.counted {
            self.shared.count(|c| c.decrypt += 1);
        }
        let plaintext = self.shared.decrypt(&uuid::Uuid::new_v4().to_string(), request)?;
        Ok(plaintext.to_vec())
    }
}
