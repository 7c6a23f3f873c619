//! [`KmsV2Client`]: kube-apiserver's side of the KMS v2 gRPC API, behind atrest's sync
//! [`KmsV2Plugin`] trait, so `atrest_transformers::KmsV2Envelope` reads and writes through a
//! real plugin.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/kmsv2/grpc_service.go
//! (`NewGRPCService`: authority `localhost`, insecure, wait-for-ready calls, a deadline per
//! call) and k8s.io/kms pkg/util/util.go (`ParseEndpoint`).

use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use atrest_config::goquote::go_quote;
use atrest_transformers::{
    DecryptRequest, EncryptResponse, GrpcCode, KmsV2Plugin, PluginError, StatusResponse,
};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint, Uri};
use zeroize::Zeroizing;

use crate::generated::v2;
use crate::generated::v2::key_management_service_client::KeyManagementServiceClient;
use crate::service::from_tonic;

/// The per-call timeout kube-apiserver defaults a KMS provider to (`timeout: 3s`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a call retries connecting while the socket refuses, within its deadline
/// (grpc-go's wait-for-ready calls wait for a connection the same way).
const RECONNECT_INTERVAL: Duration = Duration::from_millis(50);

/// Where a unix socket is: a file, or a Linux abstract name (`unix:///@name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (without the leading `@`).
    Abstract(String),
}

impl SocketAddress {
    /// The address as Go's `net.UnixAddr` prints it (an abstract name with `@`).
    fn go_text(&self) -> String {
        match self {
            SocketAddress::Path(path) => path.display().to_string(),
            SocketAddress::Abstract(name) => format!("@{name}"),
        }
    }
}

/// `ParseEndpoint` failures; `Display` is upstream's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Empty endpoint.
    #[error("remote KMS provider can't use empty string as endpoint")]
    Empty,
    /// `url.Parse` failed.
    #[error("invalid endpoint {} for remote KMS provider, error: {error}", go_quote(.endpoint))]
    Invalid {
        /// The endpoint.
        endpoint: String,
        /// Go's `*url.Error` text.
        error: atrest_config::gourl::UrlError,
    },
    /// Not `unix`.
    #[error("unsupported scheme {} for remote KMS provider", go_quote(.scheme))]
    Scheme {
        /// The scheme found.
        scheme: String,
    },
}

/// Mirrors `ParseEndpoint` of k8s.io/kms pkg/util/util.go: the URL's path, `/@name` for an
/// abstract socket.
pub fn parse_endpoint(endpoint: &str) -> Result<SocketAddress, EndpointError> {
    if endpoint.is_empty() {
        return Err(EndpointError::Empty);
    }
    let scheme = atrest_config::gourl::parse_scheme(endpoint)
        .map_err(|error| EndpointError::Invalid { endpoint: endpoint.to_owned(), error })?;
    if scheme != "unix" {
        return Err(EndpointError::Scheme { scheme });
    }
    // `u.Path`: after the scheme, without `//authority`, query and fragment, unescaped.
    let rest = &endpoint[scheme.len() + 1..];
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            authority_and_path.find('/').map_or("", |i| &authority_and_path[i..])
        }
        None => rest,
    };
    let path = percent_decode(path);
    Ok(match path.strip_prefix("/@") {
        Some(name) => SocketAddress::Abstract(name.to_owned()),
        None => SocketAddress::Path(PathBuf::from(path)),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint does not parse as upstream parses it.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// No socket file at the endpoint's path.
    #[error(
        "KMS plugin socket {} does not exist: is the plugin running? (`atrest kms-plugin serve --socket {}` serves one)",
        path.display(),
        path.display()
    )]
    SocketMissing {
        /// The path.
        path: PathBuf,
    },
    /// Something other than a socket at the endpoint's path.
    #[error("{} is not a unix socket", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The runtime could not be built.
    #[error("building the KMS client's tokio runtime")]
    Runtime(#[source] io::Error),
}

/// How a [`KmsV2Client`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: DEFAULT_CALL_TIMEOUT }
    }
}

impl ClientOptions {
    /// Options with upstream's default 3 s deadline per call.
    pub const fn new() -> Self {
        ClientOptions { timeout: DEFAULT_CALL_TIMEOUT }
    }

    /// The deadline of each call (the KMS provider's `timeout`).
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A KMS v2 gRPC client with its own small runtime; every call blocks the calling thread for
/// at most the call timeout, and may be made from sync code or from inside another runtime.
///
/// Like kube-apiserver's client, it connects lazily and, while the socket refuses connections,
/// keeps trying until the call's deadline, which then fails with grpc-go's text:
/// `rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc =
/// "transport: Error while dialing: dial unix <path>: connect: <OS error>"`
/// (or `… desc = context deadline exceeded` when the plugin accepted but did not answer).
pub struct KmsV2Client {
    runtime: Option<tokio::runtime::Runtime>,
    client: KeyManagementServiceClient<Channel>,
    /// Connections made so far (the connector counts them).
    dials: Arc<AtomicU64>,
    endpoint: String,
    address: SocketAddress,
    timeout: Duration,
}

impl std::fmt::Debug for KmsV2Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsV2Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for KmsV2Client {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl KmsV2Client {
    /// A client of the plugin at `endpoint` (`unix:///path/to/socket` or `unix:///@abstract`)
    /// with upstream's default 3 s call timeout. Fails at once when the socket file does not
    /// exist.
    pub fn connect(endpoint: &str) -> Result<KmsV2Client, ClientError> {
        Self::connect_with(endpoint, ClientOptions::new())
    }

    /// [`KmsV2Client::connect`] with options.
    pub fn connect_with(
        endpoint: &str,
        options: ClientOptions,
    ) -> Result<KmsV2Client, ClientError> {
        let address = parse_endpoint(endpoint)?;
        if let SocketAddress::Path(path) = &address {
            match std::fs::metadata(path) {
                Err(_) => return Err(ClientError::SocketMissing { path: path.clone() }),
                Ok(meta) if !meta.file_type().is_socket() => {
                    return Err(ClientError::NotASocket { path: path.clone() });
                }
                Ok(_) => {}
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("atrest-kms-client")
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        let dialed = address.clone();
        let dials = Arc::new(AtomicU64::new(0));
        let counted = dials.clone();
        let channel = {
            let _guard = runtime.enter();
            // The URI only provides the `:authority` (`localhost`, as upstream's
            // `grpc.WithAuthority`); the connector ignores it and dials the socket.
            Endpoint::from_static("http://localhost").connect_with_connector_lazy(
                tower::service_fn(move |_: Uri| {
                    let address = dialed.clone();
                    let counted = counted.clone();
                    async move {
                        let stream = dial(&address).await?;
                        counted.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, io::Error>(TokioIo::new(stream))
                    }
                }),
            )
        };
        Ok(KmsV2Client {
            runtime: Some(runtime),
            client: KeyManagementServiceClient::new(channel),
            dials,
            endpoint: endpoint.to_owned(),
            address,
            timeout: options.timeout,
        })
    }

    /// The endpoint this client calls.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs one call on the client's runtime: retried while the connection cannot be made,
    /// cut off at the deadline.
    fn call<T, F, Fut>(&self, call: F) -> Result<T, PluginError>
    where
        T: Send + 'static,
        F: Fn(KeyManagementServiceClient<Channel>, Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send,
    {
        let client = self.client.clone();
        let timeout = self.timeout;
        let address = self.address.clone();
        let dials = self.dials.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the client");
        runtime.spawn(async move {
            let deadline = Instant::now() + timeout;
            // grpc-go reports the last dial error when the deadline passes while waiting for
            // a connection.
            let mut last_dial_error: Option<(String, u64)> = None;
            // grpc-go retries an unprocessed call once, on its first attempt only; any retry
            // ends the first attempt (clientStream.retryLocked in stream.go).
            let mut first_attempt = true;
            let attempt = async {
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let failed = match call(client.clone(), left).await {
                        Ok(response) => return Ok(response.into_inner()),
                        Err(status) => status,
                    };
                    if let Some(dial) = dial_failure(&failed) {
                        last_dial_error = Some((dial, dials.load(Ordering::SeqCst)));
                        wait_to_redial(deadline).await;
                        continue;
                    }
                    match cut(&failed) {
                        // The connection closed before the call went out on it: grpc-go makes
                        // the call again on a new connection (csAttempt.shouldRetry in
                        // google.golang.org/grpc v1.82.1 stream.go: no stream was created).
                        Some(Cut::Unsent) => {
                            if !std::mem::replace(&mut first_attempt, false) {
                                wait_to_redial(deadline).await;
                            }
                            continue;
                        }
                        // Out, but refused unprocessed (GOAWAY below its stream ID, or
                        // REFUSED_STREAM): retried transparently on the first attempt only.
                        Some(Cut::Unprocessed(_))
                            if std::mem::replace(&mut first_attempt, false) =>
                        {
                            continue;
                        }
                        _ => {}
                    }
                    // tonic's own timer (the request's grpc-timeout, in whole milliseconds
                    // from 100 s on, so up to 1 ms early) may fire first; grpc-go reports its
                    // context's deadline either way.
                    if Instant::now() >= deadline || timed_out(&failed) {
                        return Err(deadline_exceeded());
                    }
                    return Err(match cut(&failed) {
                        Some(Cut::InFlight(read)) => read_error(&address, read),
                        // grpc-go closes a stream above a GOAWAY's ID with errStreamDrain
                        // (internal/transport/transport.go).
                        Some(Cut::Unprocessed(Refusal::GoAway)) => {
                            PluginError::status(GrpcCode::Unavailable, "the connection is draining")
                        }
                        Some(Cut::Unprocessed(Refusal::RefusedStream)) => {
                            reset_error(h2::Reason::REFUSED_STREAM)
                        }
                        Some(Cut::Reset(reason)) => reset_error(reason),
                        Some(Cut::Unsent) | None => plugin_error(&failed),
                    });
                }
            };
            let result = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(result) => result,
                // The last dial error, unless a connection was made since: then the call was
                // out waiting for its answer, and grpc-go, whose pick no longer blocks, says
                // only that the deadline passed (picker_wrapper.go).
                Err(_) => Err(match last_dial_error.take() {
                    Some((dial, at)) if dials.load(Ordering::SeqCst) == at => {
                        dial_deadline_exceeded(&address, &dial)
                    }
                    _ => deadline_exceeded(),
                }),
            };
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or_else(|_| Err(deadline_exceeded()))
    }
}

fn deadline_exceeded() -> PluginError {
    PluginError::status(GrpcCode::DeadlineExceeded, "context deadline exceeded")
}

/// How a connection's end, or the server's HTTP/2 layer, cut a call short (a status tonic
/// made up: a status the plugin sent has no error under it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The connection closed before the call was written on it (hyper cancelled it).
    Unsent,
    /// The server refused the call without processing it.
    Unprocessed(Refusal),
    /// The server reset the call's stream (RST_STREAM) with another code.
    Reset(h2::Reason),
    /// The call was out on the connection when the server's side closed it.
    InFlight(ReadError),
}

/// How a server refuses a call it did not process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Its GOAWAY's last stream ID is below the call's.
    GoAway,
    /// It reset the stream with REFUSED_STREAM.
    RefusedStream,
}

/// What reading the connection gave when the server's side closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadError {
    /// The end of the stream: the server closed cleanly (h2 closes every open stream with
    /// a `BrokenPipe` that is no OS error), or a write found the peer gone (EPIPE), which
    /// grpc-go leaves to its reader (`loopyWriter` errors in http2_client.go).
    Eof,
    /// ECONNRESET: the server's side went away with bytes of ours unread.
    Reset,
}

fn cut(status: &tonic::Status) -> Option<Cut> {
    // A cut while the call waits for its response comes as a transport error; one while it
    // reads the body comes as hyper's error itself.
    let first = std::error::Error::source(status)?;
    if !first.is::<tonic::transport::Error>() && !first.is::<hyper::Error>() {
        return None;
    }
    for err in chain(first) {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>()
            && hyper.is_canceled()
        {
            return Some(Cut::Unsent);
        }
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            if let Some(io) = h2.get_io() {
                return read_cut(io);
            }
            let reason = h2.reason()?;
            return if h2.is_go_away() && h2.is_remote() {
                Some(Cut::Unprocessed(Refusal::GoAway))
            } else if reason == h2::Reason::REFUSED_STREAM {
                Some(Cut::Unprocessed(Refusal::RefusedStream))
            } else if h2.is_reset() && h2.is_remote() {
                Some(Cut::Reset(reason))
            } else {
                None
            };
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return read_cut(io);
        }
    }
    None
}

/// `err` and its sources, outermost first.
fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |err| err.source())
}

/// tonic's own timer ended the call (its `TimeoutExpired` is under the status).
fn timed_out(status: &tonic::Status) -> bool {
    std::error::Error::source(status)
        .is_some_and(|first| chain(first).any(|err| err.is::<tonic::TimeoutExpired>()))
}

fn read_cut(io: &io::Error) -> Option<Cut> {
    match io.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
            Some(Cut::InFlight(ReadError::Eof))
        }
        io::ErrorKind::ConnectionReset => Some(Cut::InFlight(ReadError::Reset)),
        _ => None,
    }
}

/// grpc-go's error for a stream its server reset: the code from `http2ErrConvTab`, the text
/// from `http2Client.handleRSTStream` (google.golang.org/grpc v1.82.1
/// internal/transport/http2_client.go, http_util.go).
fn reset_error(reason: h2::Reason) -> PluginError {
    let (code, name) = match reason {
        h2::Reason::NO_ERROR => (GrpcCode::Internal, "NO_ERROR"),
        h2::Reason::PROTOCOL_ERROR => (GrpcCode::Internal, "PROTOCOL_ERROR"),
        h2::Reason::INTERNAL_ERROR => (GrpcCode::Internal, "INTERNAL_ERROR"),
        h2::Reason::FLOW_CONTROL_ERROR => (GrpcCode::ResourceExhausted, "FLOW_CONTROL_ERROR"),
        h2::Reason::SETTINGS_TIMEOUT => (GrpcCode::Internal, "SETTINGS_TIMEOUT"),
        h2::Reason::STREAM_CLOSED => (GrpcCode::Internal, "STREAM_CLOSED"),
        h2::Reason::FRAME_SIZE_ERROR => (GrpcCode::Internal, "FRAME_SIZE_ERROR"),
        h2::Reason::REFUSED_STREAM => (GrpcCode::Unavailable, "REFUSED_STREAM"),
        h2::Reason::CANCEL => (GrpcCode::Canceled, "CANCEL"),
        h2::Reason::COMPRESSION_ERROR => (GrpcCode::Internal, "COMPRESSION_ERROR"),
        h2::Reason::CONNECT_ERROR => (GrpcCode::Internal, "CONNECT_ERROR"),
        h2::Reason::ENHANCE_YOUR_CALM => (GrpcCode::ResourceExhausted, "ENHANCE_YOUR_CALM"),
        h2::Reason::INADEQUATE_SECURITY => (GrpcCode::PermissionDenied, "INADEQUATE_SECURITY"),
        h2::Reason::HTTP_1_1_REQUIRED => (GrpcCode::Internal, "HTTP_1_1_REQUIRED"),
        other => {
            return PluginError::status(
                GrpcCode::Unknown,
                format!(
                    "stream terminated by RST_STREAM with error code: unknown error code 0x{:x}",
                    u32::from(other)
                ),
            );
        }
    };
    PluginError::status(code, format!("stream terminated by RST_STREAM with error code: {name}"))
}

/// Waits [`RECONNECT_INTERVAL`] (at most until `deadline`) before the next attempt: grpc-go's
/// wait-for-ready, where the call itself is the probe and the deadline is the caller's.
async fn wait_to_redial(deadline: Instant) {
    #[expect(
        clippy::disallowed_methods,
        reason = "grpc-go's wait-for-ready: the call itself is the probe"
    )]
    tokio::time::sleep_until((Instant::now() + RECONNECT_INTERVAL).min(deadline)).await;
}

fn transport_error(status: &tonic::Status) -> Option<&(dyn std::error::Error + 'static)> {
    let transport = std::error::Error::source(status)?;
    transport.downcast_ref::<tonic::transport::Error>()?;
    Some(transport)
}

/// grpc-go's error for a call out on a connection that the server's side closed: its reader
/// fails and closes the transport with a `ConnectionError`, which the call returns as
/// `Unavailable` with the error's description (`http2Client.reader` in
/// google.golang.org/grpc v1.82.1 internal/transport/http2_client.go, `toRPCErr` in
/// rpc_util.go). The EOF text is checked against upstream's client by the kms-oracle test;
/// the reset text is Go's `net.OpError` for a read of an unbound unix socket (local address
/// `@`), not checked against upstream. Known difference: a connection cut before the server's
/// first frame fails the call here, while grpc-go, which waits for the server's preface,
/// counts it as a failed dial and keeps trying until the deadline.
fn read_error(address: &SocketAddress, read: ReadError) -> PluginError {
    let desc = match read {
        ReadError::Eof => "error reading from server: EOF".to_owned(),
        ReadError::Reset => format!(
            "error reading from server: read unix @->{}: read: connection reset by peer",
            address.go_text()
        ),
    };
    PluginError::status(GrpcCode::Unavailable, desc)
}

/// The dial error, as Go prints it (`connect: no such file or directory`), when tonic made up
/// `status` because no connection could be made; `None` for a status the plugin sent.
fn dial_failure(status: &tonic::Status) -> Option<String> {
    if status.code() != tonic::Code::Unavailable {
        return None;
    }
    for err in chain(transport_error(status)?) {
        // An HTTP/2 error (REFUSED_STREAM is `Unavailable` too) is no dial's.
        if err.is::<hyper::Error>() || err.is::<h2::Error>() {
            return None;
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(format!("connect: {}", go_errno_text(io)));
        }
    }
    None
}

/// Go's text of an OS error: the C library's message starting in lower case, without Rust's
/// ` (os error N)`.
fn go_errno_text(err: &io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// grpc-go's error for a wait-for-ready call whose deadline passed while dialing failed
/// (checked against upstream's client by the kms-oracle test).
pub(crate) fn dial_deadline_exceeded(address: &SocketAddress, dial: &str) -> PluginError {
    let address = address.go_text();
    PluginError::status(
        GrpcCode::DeadlineExceeded,
        format!(
            "latest balancer error: connection error: desc = {}",
            go_quote(&format!("transport: Error while dialing: dial unix {address}: {dial}"))
        ),
    )
}

fn plugin_error(status: &tonic::Status) -> PluginError {
    match from_tonic(status.code()) {
        Some(code) => PluginError::status(code, status.message()),
        // A gRPC OK status with no message cannot be an error; keep tonic's text.
        None => PluginError { code: None, message: status.to_string() },
    }
}

async fn dial(address: &SocketAddress) -> io::Result<tokio::net::UnixStream> {
    match address {
        SocketAddress::Path(path) => tokio::net::UnixStream::connect(path).await,
        SocketAddress::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
            stream.set_nonblocking(true)?;
            tokio::net::UnixStream::from_std(stream)
        }
    }
}

fn request<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(left);
    request
}

fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl KmsV2Plugin for KmsV2Client {
    fn status(&self) -> Result<StatusResponse, PluginError> {
        let response = self.call(|mut client, left| async move {
            client.status(request(v2::StatusRequest {}, left)).await
        })?;
        Ok(StatusResponse {
            version: response.version,
            healthz: response.healthz,
            key_id: response.key_id,
        })
    }

    fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptResponse, PluginError> {
        let plaintext = Zeroizing::new(plaintext.to_vec());
        let uid = uid();
        let response = self.call(move |mut client, left| {
            let message = v2::EncryptRequest { plaintext: plaintext.to_vec(), uid: uid.clone() };
            async move { client.encrypt(request(message, left)).await }
        })?;
        Ok(EncryptResponse {
            ciphertext: response.ciphertext,
            key_id: response.key_id,
            annotations: response.annotations,
        })
    }

    fn decrypt(&self, req: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError> {
        let message = v2::DecryptRequest {
            ciphertext: req.ciphertext.to_vec(),
            uid: uid(),
            key_id: req.key_id.to_owned(),
            annotations: req.annotations.clone(),
        };
        let response = self.call(move |mut client, left| {
            let message = message.clone();
            async move { client.decrypt(request(message, left)).await }
        })?;
        Ok(response.plaintext)
    }
}
