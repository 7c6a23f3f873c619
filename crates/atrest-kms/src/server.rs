//! The running plugin: [`KmsPlugin`] owns its tokio runtime, the gRPC socket and the optional
//! control socket, so it can be started and driven from sync and async code alike.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use atrest_backend::KillSignal;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;

use crate::faults::{CommandError, ControlCommand, Fault, FaultKind, Faults};
use crate::generated::v2::key_management_service_server::KeyManagementServiceServer;
use crate::kek::{KeyFileError, KeyRing, generate_key_file};
use crate::service::{Calls, Down, Service, Shared};

/// How long stopping the gRPC server may wait for calls in flight before they are cut off.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a cut connection's client gets to close its end (it reads the end at once
/// unless its own thread is stuck).
const PEER_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// The most bytes one control connection may send (thousands of commands); a client that
/// sends more is cut off.
const CONTROL_CONNECTION_LIMIT: u64 = 64 * 1024;
/// `sun_path` holds 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;
/// What the staging socket adds to the parent directory: `/.kXXXXXX/s`.
const STAGING_SUFFIX_LEN: usize = 11;

/// Where and with what key file a plugin serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    socket: PathBuf,
    key_file: PathBuf,
    control: Option<PathBuf>,
    create_key_file: bool,
}

impl PluginConfig {
    /// Serve KMS v2 on the unix socket `socket` with the keys of `key_file`.
    pub fn new(socket: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        PluginConfig {
            socket: socket.into(),
            key_file: key_file.into(),
            control: None,
            create_key_file: false,
        }
    }

    /// Also accept control commands (the line protocol of [`ControlCommand::parse`]) on the
    /// unix socket `path`.
    pub fn with_control_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.control = Some(path.into());
        self
    }

    /// Create the key file with one fresh key (mode 0600) when it does not exist.
    pub fn with_new_key_file_if_missing(mut self) -> Self {
        self.create_key_file = true;
        self
    }
}

/// Why a socket could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Another process accepts connections on the path.
    #[error("socket {} is in use: another process serves it", path.display())]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something other than a socket is at the path; it is never removed.
    #[error("{} exists and is not a socket; not removing it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The path does not fit a unix socket address.
    #[error("socket path {} needs {len} bytes, more than the {SUN_PATH_MAX} a unix socket address holds (it is bound in a new directory next to it first, which needs 11 bytes more than its directory's path)", path.display())]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// A file system operation on the socket failed.
    #[error("{what} {}", path.display())]
    Io {
        /// What was done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Why the plugin did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The key file cannot be used.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A socket cannot be served.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The runtime could not be built.
    #[error("building the plugin's tokio runtime")]
    Runtime(#[source] io::Error),
}

/// Why a control command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The line is not a command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Rotation could not save the key file.
    #[error("rotating the key")]
    Rotate(#[source] KeyFileError),
    /// Serving again (clearing `unavailable`) failed.
    #[error("serving the gRPC socket again")]
    Serve(#[source] ServeError),
    /// The OS random number generator failed (drawing a wrong KEK).
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),
    /// Talking to a control socket failed.
    #[error("control socket {}", path.display())]
    Socket {
        /// The control socket.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The plugin refused the command; its message.
    #[error("the plugin refused the command: {message}")]
    Refused {
        /// What the plugin said.
        message: String,
    },
    /// The control socket answered something that is not a reply.
    #[error("control socket {} answered {reply:?}, which is not a reply", path.display())]
    BadReply {
        /// The control socket.
        path: PathBuf,
        /// What it answered.
        reply: String,
    },
}

/// What the plugin is doing: the answer to every control command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginStatus {
    /// The gRPC socket path.
    pub socket: PathBuf,
    /// Whether the gRPC socket accepts connections (false while `unavailable`).
    pub serving: bool,
    /// The current key ID (what `Status` reports without faults).
    pub key_id: String,
    /// Every key version, oldest first.
    pub key_ids: Vec<String>,
    /// The faults switched on.
    pub faults: Faults,
    /// The calls received since the plugin started.
    #[serde(default)]
    pub calls: Calls,
}

/// One line the control socket answers: `{"ok":true,"status":{…}}` or
/// `{"ok":false,"error":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlReply {
    /// Whether the command was applied.
    pub ok: bool,
    /// The state after the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PluginStatus>,
    /// Why the command failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

struct Inner {
    shared: Arc<Shared>,
    socket: PathBuf,
    control: Option<PathBuf>,
    serving: tokio::sync::Mutex<Option<Serving>>,
    up: AtomicBool,
    /// Duplicates of the served connections' sockets, so that a SIGKILL can cut them all
    /// (tonic runs each connection in a task of its own, which aborting the server leaves).
    connections: Arc<Mutex<Vec<OwnedFd>>>,
    control_task: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsPlugin")
            .field("socket", &self.socket)
            .field("control", &self.control)
            .field("serving", &self.up.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// A running KMS v2 plugin. Dropping it stops it and removes its sockets (best effort);
/// [`KmsPlugin::shutdown`] does the same and reports errors.
///
/// Every method blocks the calling thread until the plugin's own runtime has done the work
/// (at most a few seconds, when `unavailable` waits for calls in flight or a kill for its
/// clients to close their connections), so it may be called
/// from sync code and from inside another tokio runtime.
pub struct KmsPlugin {
    runtime: Option<tokio::runtime::Runtime>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KmsPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl KmsPlugin {
    /// Loads the key file and serves. When this returns the gRPC socket (and the control
    /// socket) accept connections: no readiness wait is needed.
    pub fn start(config: PluginConfig) -> Result<KmsPlugin, StartError> {
        if config.create_key_file && !config.key_file.exists() {
            generate_key_file(&config.key_file)?;
        }
        let ring = KeyRing::load(&config.key_file)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("atrest-kms-plugin")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let inner = Arc::new(Inner {
            shared: Arc::new(Shared::new(ring, Some(config.key_file.clone()))),
            socket: config.socket,
            control: config.control,
            serving: tokio::sync::Mutex::new(None),
            up: AtomicBool::new(false),
            connections: Arc::new(Mutex::new(Vec::new())),
            control_task: Mutex::new(None),
        });
        let plugin = KmsPlugin { runtime: Some(runtime), inner };
        let inner = plugin.inner.clone();
        plugin.run(async move { inner.go_up().await })?;
        if let Some(path) = plugin.inner.control.clone() {
            let listener = {
                let _guard = plugin.runtime.as_ref().expect("running").enter();
                bind_private(&path)?
            };
            let (stop, stopped) = oneshot::channel();
            let inner = plugin.inner.clone();
            let task = plugin.spawn(control_loop(inner, listener, stopped));
            *plugin.inner.control_task.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((stop, task));
        }
        tracing::info!(socket = %plugin.inner.socket.display(), "kms plugin serving");
        Ok(plugin)
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until shutdown").handle()
    }

    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(fut)
    }

    /// Runs `fut` on the plugin's runtime and waits for it on this thread.
    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the plugin's runtime runs every task it was given")
    }

    /// The gRPC socket path.
    pub fn socket_path(&self) -> &Path {
        &self.inner.socket
    }

    /// The endpoint an EncryptionConfiguration names: `unix://` + the socket path.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.inner.socket.display())
    }

    /// The control socket path, if any.
    pub fn control_path(&self) -> Option<&Path> {
        self.inner.control.as_deref()
    }

    /// The current state.
    pub fn status(&self) -> PluginStatus {
        self.inner.status()
    }

    /// The current key ID.
    pub fn key_id(&self) -> String {
        self.inner.shared.key_ids().0
    }

    /// The plugin in-process, without its socket: same keys and faults, calls not counted.
    /// A harness reads stored values with it, so `calls` shows only what the apiserver asked.
    pub fn local_view(&self) -> crate::LocalKmsPlugin {
        crate::LocalKmsPlugin::view(self.inner.shared.clone(), self.inner.socket.clone())
    }

    /// Adds a key version (saved to the key file) and makes it current; returns its key ID.
    pub fn rotate(&self) -> Result<String, ControlError> {
        self.apply(ControlCommand::Rotate).map(|s| s.key_id)
    }

    /// Switches a fault on.
    pub fn set_fault(&self, fault: Fault) -> Result<PluginStatus, ControlError> {
        self.apply(ControlCommand::Set(fault))
    }

    /// Switches a fault off.
    pub fn clear_fault(&self, kind: FaultKind) -> Result<PluginStatus, ControlError> {
        self.apply(ControlCommand::Clear(kind))
    }

    /// Switches every fault off.
    pub fn clear_faults(&self) -> Result<PluginStatus, ControlError> {
        self.apply(ControlCommand::ClearAll)
    }

    /// Applies one control command (what the control socket does with a line).
    pub fn apply(&self, command: ControlCommand) -> Result<PluginStatus, ControlError> {
        let inner = self.inner.clone();
        self.run(async move { inner.apply(command).await })
    }

    /// The plugin's process gets `signal`. `Kill`: every connection is cut at once and nobody
    /// listens on the socket file, which stays (a dial is refused), as after a SIGKILL. `Term`:
    /// it stops serving as `atrest kms-plugin serve` does on SIGTERM (calls in flight finish,
    /// the socket is removed). Either way it stays down until [`KmsPlugin::start_again`]; a
    /// frozen plugin dies too. Returns once the clients have closed the cut connections: at
    /// most 2 s after a `Kill`, 7 s after a `Term` (its 5 s grace for calls in flight, then 2).
    pub fn kill(&self, signal: KillSignal) -> Result<(), ServeError> {
        let inner = self.inner.clone();
        self.run(async move { inner.kill(signal).await })
    }

    /// Serves again after [`KmsPlugin::kill`], with the same keys (the key file).
    pub fn start_again(&self) -> Result<(), ServeError> {
        let inner = self.inner.clone();
        self.run(async move {
            inner.shared.set_down(None);
            inner.settle().await
        })
    }

    /// Freezes the plugin (SIGSTOP): connections stay open, calls get no answer until
    /// [`KmsPlugin::thaw`].
    pub fn freeze(&self) {
        self.inner.shared.freeze(true);
    }

    /// SIGCONT: the calls waiting are answered.
    pub fn thaw(&self) {
        self.inner.shared.freeze(false);
    }

    /// Whether it was killed and not started again.
    pub fn is_down(&self) -> bool {
        self.inner.shared.down().is_some()
    }

    /// Whether it is frozen.
    pub fn is_frozen(&self) -> bool {
        self.inner.shared.is_frozen()
    }

    /// How many calls a freeze holds unanswered right now.
    pub fn held_calls(&self) -> usize {
        self.inner.shared.held_calls()
    }

    /// Stops serving and removes the sockets.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ServeError> {
        if self.runtime.is_none() {
            // Stopped already (`shutdown`, then drop).
            return Ok(());
        }
        let inner = self.inner.clone();
        let result = self.run(async move {
            let control = inner.control_task.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some((stop, task)) = control {
                let _ = stop.send(());
                let _ = task.await;
            }
            inner.go_down().await
        });
        let control_removed = match &self.inner.control {
            Some(path) => remove_socket(path),
            None => Ok(()),
        };
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so stopping works from inside another runtime too; the server
            // tasks have finished above.
            runtime.shutdown_background();
        }
        tracing::info!(socket = %self.inner.socket.display(), "kms plugin stopped");
        result.and(control_removed)
    }
}

impl Drop for KmsPlugin {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(error = %err, "stopping the kms plugin");
        }
    }
}

impl Inner {
    fn status(&self) -> PluginStatus {
        let (key_id, key_ids) = self.shared.key_ids();
        PluginStatus {
            socket: self.socket.clone(),
            serving: self.up.load(Ordering::SeqCst),
            key_id,
            key_ids,
            faults: self.shared.faults(),
            calls: self.shared.calls(),
        }
    }

    async fn apply(&self, command: ControlCommand) -> Result<PluginStatus, ControlError> {
        match command {
            ControlCommand::Status => {}
            ControlCommand::Rotate => {
                self.shared.rotate().map_err(ControlError::Rotate)?;
            }
            ControlCommand::Set(fault) => {
                let kind = fault.kind();
                self.shared.update_faults(|f| f.set(fault)).map_err(ControlError::Random)?;
                tracing::warn!(fault = %kind, "kms plugin fault on");
            }
            ControlCommand::Clear(kind) => {
                self.shared.update_faults(|f| f.clear(kind)).map_err(ControlError::Random)?;
                tracing::info!(fault = %kind, "kms plugin fault off");
            }
            ControlCommand::ClearAll => {
                self.shared
                    .update_faults(|f| *f = Faults::default())
                    .map_err(ControlError::Random)?;
                tracing::info!("kms plugin faults cleared");
            }
        }
        self.settle().await.map_err(ControlError::Serve)?;
        Ok(self.status())
    }

    /// Serves the gRPC socket or not, as the state says: a dead process serves nothing, an
    /// `unavailable` one has closed its socket, any other serves it.
    async fn settle(&self) -> Result<(), ServeError> {
        if self.shared.down().is_some() {
            Ok(())
        } else if self.shared.faults().unavailable {
            self.go_down().await
        } else {
            self.go_up().await
        }
    }

    /// Serves the gRPC socket, unless it is served already.
    async fn go_up(&self) -> Result<(), ServeError> {
        let mut serving = self.serving.lock().await;
        if serving.is_some() {
            return Ok(());
        }
        let listener = bind_private(&self.socket)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let service = KeyManagementServiceServer::new(Service { shared: self.shared.clone() });
        let connections = self.connections.clone();
        let shared = self.shared.clone();
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener).map(move |conn| {
            if let Ok(stream) = &conn
                && let Ok(fd) = stream.as_fd().try_clone_to_owned()
            {
                let mut connections = connections.lock().unwrap_or_else(PoisonError::into_inner);
                // Connections their clients closed need no cutting: without this, a
                // long-running plugin would keep a descriptor of every connection ever made.
                connections.retain(|fd| !peer_closed(fd));
                if shared.down() == Some(Down::Killed) {
                    // Accepted while a kill cuts the others: it gets nothing either (stopping
                    // tonic's server would make it send a GOAWAY).
                    shut_write(&fd);
                }
                connections.push(fd);
            }
            conn
        });
        let task = tokio::spawn(
            tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
                incoming,
                async {
                    let _ = stopped.await;
                },
            ),
        );
        *serving = Some(Serving { stop, task });
        self.up.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn kill(&self, signal: KillSignal) -> Result<(), ServeError> {
        let down = Down::from(signal);
        self.shared.set_down(Some(down));
        // Calls held by a freeze are answered by nobody: cut below, or finished by the stop.
        self.shared.freeze(false);
        match down {
            Down::Terminated => self.go_down().await,
            Down::Killed => {
                // Cut first: a killed process writes nothing more, while stopping tonic's
                // server makes its connections send a GOAWAY, which grpc-go would report.
                let mut cut = self.shut_connections();
                let serving = self.serving.lock().await.take();
                if let Some(Serving { task, .. }) = serving {
                    task.abort();
                    let _ = task.await;
                }
                // Any connection accepted meanwhile.
                cut.extend(self.shut_connections());
                self.up.store(false, Ordering::SeqCst);
                wait_for_peers(cut).await;
                Ok(())
            }
        }
    }

    /// Shuts the write side of every served connection ([`shut_write`]) and hands them over
    /// for [`wait_for_peers`].
    fn shut_connections(&self) -> Vec<OwnedFd> {
        let cut =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(PoisonError::into_inner));
        cut.iter().for_each(shut_write);
        cut
    }

    /// Stops serving the gRPC socket (calls in flight get [`STOP_GRACE`] to finish), removes
    /// the socket file, cuts what connections are left and waits for their clients
    /// ([`wait_for_peers`]).
    async fn go_down(&self) -> Result<(), ServeError> {
        let mut serving = self.serving.lock().await;
        let Some(Serving { stop, mut task }) = serving.take() else { return Ok(()) };
        let _ = stop.send(());
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(Err(err))) => {
                tracing::warn!(error = %err, "kms plugin server ended with an error")
            }
            Ok(_) => {}
            Err(_) => task.abort(),
        }
        self.up.store(false, Ordering::SeqCst);
        // The socket goes first, so a dial meanwhile finds no file, as after the process.
        let removed = remove_socket(&self.socket);
        // The process exits: whatever connection the stop left open closes with it.
        wait_for_peers(self.shut_connections()).await;
        removed
    }
}

/// Returns once the client of every cut connection has closed its end (or after
/// [`PEER_CLOSE_WAIT`]); only then are the sockets closed here.
///
/// Waiting for the clients is what makes the next call deterministic: a real client reads the
/// end of a dead plugin's connection long before its next call, and then dials anew (refused,
/// or no such file). Without the wait, a call made right after `kill` could be written onto
/// the connection before its client has read the end, and fail as a call cut in flight.
async fn wait_for_peers(cut: Vec<OwnedFd>) {
    if cut.is_empty() {
        return;
    }
    let waited = tokio::task::spawn_blocking(move || wait_for_peers_to_close(&cut)).await;
    if let Ok(Err(open)) = waited {
        tracing::debug!(open, wait = ?PEER_CLOSE_WAIT, "kms plugin: clients kept cut connections open");
    }
}

/// Shuts the write side of a served connection, as the death of the process does: the client
/// reads the end, and our read side tells when it closed. The peer may be gone already
/// (ENOTCONN): nothing left to cut then.
fn shut_write(fd: &OwnedFd) {
    let _ = nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Write);
}

/// Whether the peer of a connection (whose write side is still open here) closed its end.
fn peer_closed(fd: &OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // Asking for no event, only HUP, ERR and NVAL can be reported: HUP is set once the peer
    // has closed (both directions are shut then).
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Waits until the peer of every socket in `cut` has closed its end (`Err`: how many had
/// not when [`PEER_CLOSE_WAIT`] passed).
fn wait_for_peers_to_close(cut: &[OwnedFd]) -> Result<(), usize> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // nix has no name for Linux's POLLRDHUP.
    const RDHUP: PollFlags = PollFlags::from_bits_retain(nix::libc::POLLRDHUP);
    let deadline = std::time::Instant::now() + PEER_CLOSE_WAIT;
    let mut open: Vec<&OwnedFd> = cut.iter().collect();
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(open.len());
        }
        // Our write side is shut, so RDHUP (and HUP) mean the peer shut or closed its end;
        // data it still sends does not wake us.
        let mut fds: Vec<PollFd<'_>> =
            open.iter().map(|fd| PollFd::new(fd.as_fd(), RDHUP)).collect();
        // Whole milliseconds, rounded up: rounded down, the last one would spin.
        let millis = left.as_micros().div_ceil(1000);
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Err(open.len()),
        }
        // `revents()` is `None` for bits nix does not know (RDHUP, in nix 0.31); every event
        // the kernel can report here means the peer is gone.
        let closed: Vec<bool> = fds
            .iter()
            .map(|fd| {
                fd.revents().is_none_or(|r| {
                    r.intersects(
                        RDHUP | PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL,
                    )
                })
            })
            .collect();
        let mut closed = closed.into_iter();
        open.retain(|_| !closed.next().unwrap_or(false));
    }
    Ok(())
}

/// Accepts control connections until `stopped`.
async fn control_loop(
    inner: Arc<Inner>,
    listener: UnixListener,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(control_connection(inner.clone(), stream));
                }
                Err(err) => tracing::warn!(error = %err, "accepting a control connection"),
            },
        }
    }
}

/// Answers each line of one control connection with one JSON line.
async fn control_connection(inner: Arc<Inner>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut lines =
        BufReader::new(tokio::io::AsyncReadExt::take(read, CONTROL_CONNECTION_LIMIT)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let result = match ControlCommand::parse(&line) {
            Ok(command) => inner.apply(command).await,
            Err(err) => Err(ControlError::Command(err)),
        };
        let reply = match result {
            Ok(status) => ControlReply { ok: true, status: Some(status), error: None },
            Err(err) => {
                ControlReply { ok: false, status: None, error: Some(crate::error_chain(&err)) }
            }
        };
        let mut text = serde_json::to_string(&reply).expect("a reply serializes");
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            break;
        }
    }
}

/// Makes room for a socket at `path`: nothing there, or a stale socket (one nobody accepts
/// on), which is removed. A live socket or any other file is an error.
fn clear_stale(path: &Path) -> Result<(), ServeError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ServeError::Io { what: "inspecting", path: path.to_owned(), source }),
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => Err(ServeError::InUse { path: path.to_owned() }),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "removing a stale socket");
                    remove_socket(path)
                }
                Err(source) => Err(ServeError::Io {
                    what: "probing the existing socket",
                    path: path.to_owned(),
                    source,
                }),
            }
        }
        Ok(_) => Err(ServeError::NotASocket { path: path.to_owned() }),
    }
}

/// Removes the socket at `path` if one is there.
fn remove_socket(path: &Path) -> Result<(), ServeError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(|source| ServeError::Io { what: "removing", path: path.to_owned(), source }),
        _ => Ok(()),
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ServeError + use<> {
    let path = path.to_owned();
    move |source| ServeError::Io { what, path, source }
}

/// Binds a unix socket at `path` that only this user can connect to (mode 0600), without a
/// window in which it is open to others: it is bound inside a fresh 0700 directory next to
/// `path`, made 0600, then renamed into place. Must run inside a tokio runtime.
fn bind_private(path: &Path) -> Result<UnixListener, ServeError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // Both the path and the staging socket (`<parent>/.kXXXXXX/s`) must fit.
    let len = path.as_os_str().len().max(parent.as_os_str().len() + STAGING_SUFFIX_LEN);
    if len > SUN_PATH_MAX {
        return Err(ServeError::PathTooLong { path: path.to_owned(), len });
    }
    clear_stale(path)?;
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).map_err(|e| {
        io_err("choosing a directory next to", path)(io::Error::other(e.to_string()))
    })?;
    let dir =
        parent.join(format!(".k{:06x}", u32::from_be_bytes([0, suffix[0], suffix[1], suffix[2]])));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(io_err("creating", &dir))?;
    let staged = dir.join("s");
    let result = (|| {
        let listener =
            std::os::unix::net::UnixListener::bind(&staged).map_err(io_err("binding", path))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err("setting the mode of", path))?;
        std::fs::rename(&staged, path).map_err(io_err("moving the socket to", path))?;
        listener.set_nonblocking(true).map_err(io_err("configuring", path))?;
        UnixListener::from_std(listener).map_err(io_err("registering", path))
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&dir);
    result
}
