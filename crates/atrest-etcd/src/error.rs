//! [`RawEtcdError`], and the causes it carries.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// An etcd operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RawEtcdError {
    /// The URL is not an etcd client URL (`http://host:port` or `https://host:port`).
    #[error("invalid etcd URL {url:?}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// Connecting failed.
    #[error("cannot connect to etcd at {url}")]
    Connect {
        /// The client URL.
        url: String,
        /// Why.
        #[source]
        source: GrpcStatus,
    },
    /// The first request did not complete in time (nothing listens, TLS fails, no leader).
    #[error("cannot connect to etcd at {url}: no answer within {timeout:?}")]
    ConnectTimeout {
        /// The client URL.
        url: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A TLS file could not be read.
    #[error("cannot read the etcd {what} file {}", path.display())]
    TlsFile {
        /// `CA certificate`, `client certificate` or `client key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TLS settings that do not fit the URL.
    #[error("etcd at {url}: {problem}")]
    Tls {
        /// The client URL.
        url: String,
        /// What does not fit.
        problem: &'static str,
    },
    /// The TLS certificates or key are unusable (not PEM, or a key that is not a private key).
    #[error("etcd at {url}: unusable TLS certificate or key")]
    TlsConfig {
        /// The client URL.
        url: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A request did not complete in time.
    #[error("etcd {op} {key:?} at {url}: no answer within {timeout:?}")]
    RequestTimeout {
        /// `get`, `put`, `delete`, `list`, `range`, `snapshot`, `status`, `compact`, `defragment`,
        /// `alarm list` or `alarm disarm`.
        op: &'static str,
        /// The key or start key (lossy UTF-8).
        key: String,
        /// The client URL.
        url: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A request failed.
    #[error("etcd {op} {key:?} failed")]
    Request {
        /// `get`, `put`, `delete`, `list`, `range`, `snapshot`, `status`, `compact`, `defragment`,
        /// `alarm list` or `alarm disarm`.
        op: &'static str,
        /// The key, prefix or start key (lossy UTF-8).
        key: String,
        /// Why.
        #[source]
        source: GrpcStatus,
    },
}

/// What is wrong with an etcd URL.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// Not a URI at all.
    #[error("not a URL")]
    Parse(#[source] http::uri::InvalidUri),
    /// A scheme other than `http` or `https`.
    #[error("the scheme must be http:// or https://")]
    Scheme,
    /// No host.
    #[error("no host")]
    NoHost,
    /// A port that is not a number from 1 to 65535.
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
}

/// A failed gRPC call: the status etcd answered, or the one the client made up when it could
/// not reach etcd (then the transport error is the [`source`](std::error::Error::source)).
pub struct GrpcStatus(pub(crate) tonic::Status);

impl GrpcStatus {
    /// The gRPC status code (etcd's errors: `etcdserver: ...` messages).
    pub fn code(&self) -> tonic::Code {
        self.0.code()
    }

    /// The status message.
    pub fn message(&self) -> &str {
        self.0.message()
    }
}

impl fmt::Display for GrpcStatus {
    // `tonic::Status`'s own Display repeats its source, which the error chain prints anyway;
    // and a status made from a client-side error has that error's text as its message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gRPC status {:?}", self.0.code())?;
        let from_source = std::error::Error::source(&self.0).is_some();
        if !self.0.message().is_empty() && !from_source {
            write!(f, ": {}", self.0.message())?;
        }
        Ok(())
    }
}

impl fmt::Debug for GrpcStatus {
    // Metadata and details are binary noise here; code, message and cause say it all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcStatus")
            .field("code", &self.0.code())
            .field("message", &self.0.message())
            .field("source", &std::error::Error::source(&self.0))
            .finish()
    }
}

impl std::error::Error for GrpcStatus {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}
