//! The plugin's state (key versions and faults) and its gRPC `KeyManagementService`.
//!
//! Mirrors what k8s.io/kms pkg/service/grpc_service.go (`GRPCService`) forwards to a plugin's
//! `Service`, with the contract of k8s.io/kms apis/v2/api.proto: `Status` → version, healthz,
//! key ID; `Encrypt` → ciphertext, key ID, annotations; `Decrypt` by key ID and annotations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use atrest_transformers::{
    DecryptRequest, EncryptResponse, GrpcCode, PluginError, StatusResponse, key_id_hash,
};
use zeroize::Zeroizing;

use crate::faults::{Faults, InjectedError};
use crate::generated::v2;
use crate::kek::{KEK_SIZE, Kek, KeyFileError, KeyRing};

/// The API version `Status` reports.
pub const API_VERSION: &str = "v2";
/// The annotation `Encrypt` returns and `Decrypt` requires: how the DEK or seed was wrapped.
/// Upstream requires annotation keys to be fully qualified domain names (no `/`, unlike
/// Kubernetes object annotations).
pub const WRAP_ANNOTATION_KEY: &str = "wrap.kms.atrest.dev";
/// The value of [`WRAP_ANNOTATION_KEY`].
pub const WRAP_ANNOTATION_VALUE: &[u8] = b"aes-256-gcm";
/// The key ID length [`crate::Fault::OversizedKeyId`] reports: one byte over upstream's limit.
pub const OVERSIZED_KEY_ID_LEN: usize = atrest_transformers::KEY_ID_MAX_SIZE + 1;

/// How many calls of each kind the plugin received (answered or failed by a fault; calls that
/// could not reach it, while `unavailable`, do not count). Scenarios count them to prove what
/// kube-apiserver asks a plugin for, and when, without timing anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// `Status` calls.
    pub status: u64,
    /// `Encrypt` calls.
    pub encrypt: u64,
    /// `Decrypt` calls.
    pub decrypt: u64,
}

/// Key versions, faults and the key file they are saved to.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The plugin as a process: frozen (SIGSTOP: calls wait) or not.
    frozen: tokio::sync::watch::Sender<bool>,
    /// Where rotations are saved (`None`: keys live in memory only).
    key_file: Option<PathBuf>,
}

#[derive(Debug)]
struct State {
    ring: KeyRing,
    faults: Faults,
    calls: Calls,
    /// The key of [`crate::Fault::WrongKek`], drawn when the fault is switched on.
    wrong_kek: Option<WrongKek>,
    down: Option<Down>,
}

/// How a plugin's process ended, as a dial of its socket then sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Down {
    /// SIGKILL: the socket file stays with nobody listening (`connection refused`).
    Killed,
    /// SIGTERM: the plugin stopped serving and removed its socket (`no such file or
    /// directory`).
    Terminated,
}

impl From<atrest_backend::KillSignal> for Down {
    fn from(signal: atrest_backend::KillSignal) -> Down {
        match signal {
            atrest_backend::KillSignal::Kill => Down::Killed,
            atrest_backend::KillSignal::Term => Down::Terminated,
        }
    }
}

impl Down {
    /// The dial error, as Go prints it.
    pub(crate) const fn dial_error(self) -> &'static str {
        match self {
            Down::Killed => "connect: connection refused",
            Down::Terminated => "connect: no such file or directory",
        }
    }
}

/// Key bytes; `Debug` prints nothing of them.
struct WrongKek(Zeroizing<[u8; KEK_SIZE]>);

impl std::fmt::Debug for WrongKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrongKek(<redacted>)")
    }
}

impl Shared {
    pub(crate) fn new(ring: KeyRing, key_file: Option<PathBuf>) -> Shared {
        Shared {
            state: Mutex::new(State {
                ring,
                faults: Faults::default(),
                calls: Calls::default(),
                wrong_kek: None,
                down: None,
            }),
            frozen: tokio::sync::watch::Sender::new(false),
            key_file,
        }
    }

    /// Freezes the plugin (every call waits until it is thawed) or thaws it.
    pub(crate) fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }

    pub(crate) fn is_frozen(&self) -> bool {
        *self.frozen.borrow()
    }

    /// The calls waiting in [`Shared::thawed`] (each holds a receiver while it waits).
    pub(crate) fn held_calls(&self) -> usize {
        if self.is_frozen() { self.frozen.receiver_count() } else { 0 }
    }

    /// Waits while the plugin is frozen.
    pub(crate) async fn thawed(&self) {
        let mut rx = self.frozen.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|frozen| !frozen).await;
    }

    /// The plugin's process is gone: how a dial of its socket fails (`None`: it runs).
    pub(crate) fn down(&self) -> Option<Down> {
        self.lock().down
    }

    pub(crate) fn set_down(&self, down: Option<Down>) {
        self.lock().down = down;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub(crate) fn calls(&self) -> Calls {
        self.lock().calls
    }

    /// Counts one call (the gRPC service and a counted [`crate::LocalKmsPlugin`] do, before
    /// they answer).
    pub(crate) fn count(&self, f: impl FnOnce(&mut Calls)) {
        f(&mut self.lock().calls);
    }

    pub(crate) fn key_ids(&self) -> (String, Vec<String>) {
        let state = self.lock();
        (state.ring.current().key_id().to_owned(), state.ring.key_ids())
    }

    /// Adds a key version, saves the key file, and returns the new key ID. On a failed save
    /// nothing changes.
    pub(crate) fn rotate(&self) -> Result<String, KeyFileError> {
        let mut state = self.lock();
        let key_id = state.ring.rotate()?.key_id().to_owned();
        if let Some(path) = &self.key_file
            && let Err(err) = state.ring.replace_file(path)
        {
            state.ring.drop_current();
            return Err(err);
        }
        if let Some(wrong) = &mut state.wrong_kek {
            // A wrong key stays wrong after a rotation.
            getrandom::fill(wrong.0.as_mut()).map_err(KeyFileError::Random)?;
        }
        tracing::info!(key_id_hash = %key_id_hash(&key_id), "kms plugin rotated its key");
        Ok(key_id)
    }

    pub(crate) fn update_faults(
        &self,
        f: impl FnOnce(&mut Faults),
    ) -> Result<Faults, getrandom::Error> {
        let mut state = self.lock();
        f(&mut state.faults);
        match (state.faults.wrong_kek, &state.wrong_kek) {
            (true, None) => {
                let mut bytes = Zeroizing::new([0u8; KEK_SIZE]);
                getrandom::fill(bytes.as_mut())?;
                state.wrong_kek = Some(WrongKek(bytes));
            }
            (false, Some(_)) => state.wrong_kek = None,
            _ => {}
        }
        Ok(state.faults.clone())
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        self.lock().faults.latency
    }
}

/// The gRPC service over [`Shared`].
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) shared: Arc<Shared>,
}

fn to_tonic(code: GrpcCode) -> tonic::Code {
    match code {
        GrpcCode::Canceled => tonic::Code::Cancelled,
        GrpcCode::Unknown => tonic::Code::Unknown,
        GrpcCode::InvalidArgument => tonic::Code::InvalidArgument,
        GrpcCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        GrpcCode::NotFound => tonic::Code::NotFound,
        GrpcCode::AlreadyExists => tonic::Code::AlreadyExists,
        GrpcCode::PermissionDenied => tonic::Code::PermissionDenied,
        GrpcCode::ResourceExhausted => tonic::Code::ResourceExhausted,
        GrpcCode::FailedPrecondition => tonic::Code::FailedPrecondition,
        GrpcCode::Aborted => tonic::Code::Aborted,
        GrpcCode::OutOfRange => tonic::Code::OutOfRange,
        GrpcCode::Unimplemented => tonic::Code::Unimplemented,
        GrpcCode::Internal => tonic::Code::Internal,
        GrpcCode::Unavailable => tonic::Code::Unavailable,
        GrpcCode::DataLoss => tonic::Code::DataLoss,
        GrpcCode::Unauthenticated => tonic::Code::Unauthenticated,
    }
}

/// The gRPC code a tonic code is (`None` for `Ok`).
pub(crate) fn from_tonic(code: tonic::Code) -> Option<GrpcCode> {
    Some(match code {
        tonic::Code::Ok => return None,
        tonic::Code::Cancelled => GrpcCode::Canceled,
        tonic::Code::Unknown => GrpcCode::Unknown,
        tonic::Code::InvalidArgument => GrpcCode::InvalidArgument,
        tonic::Code::DeadlineExceeded => GrpcCode::DeadlineExceeded,
        tonic::Code::NotFound => GrpcCode::NotFound,
        tonic::Code::AlreadyExists => GrpcCode::AlreadyExists,
        tonic::Code::PermissionDenied => GrpcCode::PermissionDenied,
        tonic::Code::ResourceExhausted => GrpcCode::ResourceExhausted,
        tonic::Code::FailedPrecondition => GrpcCode::FailedPrecondition,
        tonic::Code::Aborted => GrpcCode::Aborted,
        tonic::Code::OutOfRange => GrpcCode::OutOfRange,
        tonic::Code::Unimplemented => GrpcCode::Unimplemented,
        tonic::Code::Internal => GrpcCode::Internal,
        tonic::Code::Unavailable => GrpcCode::Unavailable,
        tonic::Code::DataLoss => GrpcCode::DataLoss,
        tonic::Code::Unauthenticated => GrpcCode::Unauthenticated,
    })
}

fn injected(e: &InjectedError) -> PluginError {
    PluginError::status(e.code, e.message.clone())
}

fn random_failed(err: getrandom::Error) -> PluginError {
    PluginError::status(GrpcCode::Internal, format!("the OS random number generator failed: {err}"))
}

/// A plugin error as the gRPC status it is sent as.
fn to_status(err: PluginError) -> tonic::Status {
    tonic::Status::new(err.code.map_or(tonic::Code::Unknown, to_tonic), err.message)
}

/// What the plugin answers, without transport: the gRPC service and [`crate::LocalKmsPlugin`]
/// both call these, so they answer alike.
impl Shared {
    pub(crate) fn status(&self) -> Result<StatusResponse, PluginError> {
        let state = self.lock();
        let faults = &state.faults;
        if let Some(e) = &faults.status {
            return Err(injected(e));
        }
        let key_id = if faults.oversized_key_id {
            "k".repeat(OVERSIZED_KEY_ID_LEN)
        } else {
            state.ring.current().key_id().to_owned()
        };
        Ok(StatusResponse {
            version: faults.version.clone().unwrap_or_else(|| API_VERSION.to_owned()),
            healthz: faults.unhealthy.clone().unwrap_or_else(|| "ok".to_owned()),
            key_id,
        })
    }

    pub(crate) fn encrypt(
        &self,
        uid: &str,
        plaintext: &[u8],
    ) -> Result<EncryptResponse, PluginError> {
        let state = self.lock();
        let faults = &state.faults;
        if let Some(e) = &faults.encrypt {
            return Err(injected(e));
        }
        let current = state.ring.current();
        let wrong;
        let kek = match &state.wrong_kek {
            Some(w) => {
                wrong = Kek::new(current.key_id().to_owned(), w.0.clone());
                &wrong
            }
            None => current,
        };
        let ciphertext = if faults.empty_ciphertext {
            Vec::new()
        } else {
            kek.wrap(plaintext).map_err(random_failed)?
        };
        let key_id = if faults.oversized_key_id {
            "k".repeat(OVERSIZED_KEY_ID_LEN)
        } else {
            kek.key_id().to_owned()
        };
        tracing::debug!(
            uid,
            key_id_hash = %key_id_hash(&key_id),
            plaintext_bytes = plaintext.len(),
            ciphertext_bytes = ciphertext.len(),
            "kms plugin encrypt"
        );
        Ok(EncryptResponse {
            ciphertext,
            key_id,
            annotations: BTreeMap::from([(
                WRAP_ANNOTATION_KEY.to_owned(),
                WRAP_ANNOTATION_VALUE.to_vec(),
            )]),
        })
    }

    pub(crate) fn decrypt(
        &self,
        uid: &str,
        request: &DecryptRequest<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let state = self.lock();
        if let Some(e) = &state.faults.decrypt {
            return Err(injected(e));
        }
        tracing::debug!(
            uid,
            key_id_hash = %key_id_hash(request.key_id),
            ciphertext_bytes = request.ciphertext.len(),
            "kms plugin decrypt"
        );
        if request.annotations.get(WRAP_ANNOTATION_KEY).map(Vec::as_slice)
            != Some(WRAP_ANNOTATION_VALUE)
        {
            return Err(PluginError::status(
                GrpcCode::InvalidArgument,
                format!(
                    "annotation {WRAP_ANNOTATION_KEY} is not {:?}: the ciphertext was not wrapped by atrest kms-plugin",
                    String::from_utf8_lossy(WRAP_ANNOTATION_VALUE)
                ),
            ));
        }
        let wrong;
        let kek = match (&state.wrong_kek, state.ring.get(request.key_id)) {
            (Some(w), _) => {
                wrong = Kek::new(request.key_id.to_owned(), w.0.clone());
                &wrong
            }
            (None, Some(kek)) => kek,
            (None, None) => {
                return Err(PluginError::status(
                    GrpcCode::NotFound,
                    format!("key ID {:?} is not a key version of this plugin", request.key_id),
                ));
            }
        };
        kek.unwrap(request.key_id, request.ciphertext).map_err(|err| {
            PluginError::status(
                GrpcCode::InvalidArgument,
                format!("unwrapping with key ID {:?}: {err}", request.key_id),
            )
        })
    }
}

type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

impl Service {
    /// Waits the injected latency, if any. Tokio's timer inside the server is the fault itself
    /// (added latency), not a wait for readiness.
    async fn delay(&self) {
        self.shared.thawed().await;
        if self.shared.down() == Some(Down::Killed) {
            // A killed process answers nothing, not even the calls a freeze held: its
            // connections are being cut, which ends this call.
            std::future::pending::<()>().await;
        }
        if let Some(latency) = self.shared.latency() {
            #[expect(clippy::disallowed_methods, reason = "injected latency is the fault itself")]
            tokio::time::sleep(latency).await;
        }
    }
}

#[tonic::async_trait]
impl v2::key_management_service_server::KeyManagementService for Service {
    async fn status(
        &self,
        _request: tonic::Request<v2::StatusRequest>,
    ) -> Reply<v2::StatusResponse> {
        self.delay().await;
        self.shared.count(|c| c.status += 1);
        let s = self.shared.status().map_err(to_status)?;
        Ok(tonic::Response::new(v2::StatusResponse {
            version: s.version,
            healthz: s.healthz,
            key_id: s.key_id,
        }))
    }

    async fn encrypt(
        &self,
        request: tonic::Request<v2::EncryptRequest>,
    ) -> Reply<v2::EncryptResponse> {
        self.delay().await;
        self.shared.count(|c| c.encrypt += 1);
        let request = request.into_inner();
        let plaintext = Zeroizing::new(request.plaintext);
        let e = self.shared.encrypt(&request.uid, &plaintext).map_err(to_status)?;
        Ok(tonic::Response::new(v2::EncryptResponse {
            ciphertext: e.ciphertext,
            key_id: e.key_id,
            annotations: e.annotations,
        }))
    }

    async fn decrypt(
        &self,
        request: tonic::Request<v2::DecryptRequest>,
    ) -> Reply<v2::DecryptResponse> {
        self.delay().await;
        self.shared.count(|c| c.decrypt += 1);
        let r = request.into_inner();
        let plaintext = self
            .shared
            .decrypt(
                &r.uid,
                &DecryptRequest {
                    ciphertext: &r.ciphertext,
                    key_id: &r.key_id,
                    annotations: &r.annotations,
                },
            )
            .map_err(to_status)?;
        Ok(tonic::Response::new(v2::DecryptResponse { plaintext: plaintext.to_vec() }))
    }
}
