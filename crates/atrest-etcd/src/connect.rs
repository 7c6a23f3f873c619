//! How [`RawEtcd`](crate::RawEtcd) reaches etcd: URL checks, TLS material, the tonic channel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use atrest_input::Limit;
use http::Uri;
use http::uri::Scheme;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{RawEtcdError, UrlError};

/// TLS client files (PEM) for [`RawEtcd::connect_url`](crate::RawEtcd::connect_url), as
/// `etcdctl --cacert --cert --key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTlsFiles {
    /// The CA that signed etcd's serving certificate.
    pub ca_file: Option<PathBuf>,
    /// The client certificate (etcd's `--client-cert-auth`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key.
    pub key_file: Option<PathBuf>,
}

impl EtcdTlsFiles {
    /// Whether no file is set.
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// How [`RawEtcd::connect_url`](crate::RawEtcd::connect_url) connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// TLS files; all `None` for plain `http://`.
    pub tls: EtcdTlsFiles,
    /// How long the first request (which establishes the connection) may take.
    pub connect_timeout: Duration,
    /// How long any later request may take.
    pub request_timeout: Duration,
}

impl ConnectSettings {
    /// Plain HTTP, 5 s to connect, 60 s per request.
    pub fn new() -> ConnectSettings {
        ConnectSettings {
            tls: EtcdTlsFiles::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }

    /// With TLS files.
    #[must_use]
    pub fn with_tls(mut self, tls: EtcdTlsFiles) -> ConnectSettings {
        self.tls = tls;
        self
    }

    /// With a connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ConnectSettings {
        self.connect_timeout = timeout;
        self
    }

    /// With a per-request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> ConnectSettings {
        self.request_timeout = timeout;
        self
    }
}

impl Default for ConnectSettings {
    fn default() -> Self {
        ConnectSettings::new()
    }
}

/// A checked etcd client URL.
#[derive(Debug)]
pub(crate) struct EtcdUrl {
    pub(crate) uri: Uri,
    pub(crate) https: bool,
}

/// Checks that `url` is `http(s)://host[:port]`. The port is checked here because `http`'s
/// parser keeps a port it cannot read (`:99999`) and tonic would then dial the scheme's
/// default port instead.
pub(crate) fn parse_url(url: &str) -> Result<EtcdUrl, RawEtcdError> {
    let bad = |source| RawEtcdError::Url { url: url.to_owned(), source };
    let uri: Uri = url.parse().map_err(|e| bad(UrlError::Parse(e)))?;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(bad(UrlError::Scheme)),
    };
    let (Some(authority), Some(host)) = (uri.authority(), uri.host()) else {
        return Err(bad(UrlError::NoHost));
    };
    if host.is_empty() {
        return Err(bad(UrlError::NoHost));
    }
    // `host()` keeps an IPv6 address's brackets, so what follows it is `:port` or nothing.
    let after_userinfo = authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, h)| h);
    let rest = after_userinfo.strip_prefix(host).unwrap_or_default();
    if let Some(port) = rest.strip_prefix(':') {
        match port.parse::<u16>() {
            Ok(p) if p != 0 => {}
            _ => return Err(bad(UrlError::Port(port.to_owned()))),
        }
    }
    Ok(EtcdUrl { uri, https })
}

/// TLS client settings from PEM: the CA, and a client identity if any.
pub(crate) fn tls_config(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    match identity {
        Some((cert, key)) => tls.identity(Identity::from_pem(cert, key)),
        None => tls,
    }
}

/// The limit of a CA, certificate or key PEM file: a long chain is a few tens of KiB.
pub const TLS_FILE_LIMIT: Limit = Limit { bytes: 1 << 20, what: "a TLS PEM file" };

fn read_tls_file(what: &'static str, path: &Path) -> Result<Vec<u8>, RawEtcdError> {
    atrest_input::read_limited(path, TLS_FILE_LIMIT).map_err(|e| RawEtcdError::TlsFile {
        what,
        path: path.to_owned(),
        // The variant names the path already.
        source: e.into_io_error(),
    })
}

/// The TLS settings `files` give for `url`: `None` for `http://`, where files are an error.
pub(crate) fn tls_from_files(
    url: &str,
    parsed: &EtcdUrl,
    files: &EtcdTlsFiles,
) -> Result<Option<ClientTlsConfig>, RawEtcdError> {
    let tls_problem = |problem| RawEtcdError::Tls { url: url.to_owned(), problem };
    if !parsed.https {
        if !files.is_empty() {
            return Err(tls_problem("TLS files were given for a URL that is not https://"));
        }
        return Ok(None);
    }
    let Some(ca) = &files.ca_file else {
        return Err(tls_problem("an https URL needs the CA certificate (--cacert)"));
    };
    // Settings that cannot work are reported before any file is read.
    let pair = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            return Err(tls_problem(
                "a client certificate needs its key, and a key its certificate",
            ));
        }
    };
    let ca = read_tls_file("CA certificate", ca)?;
    let identity = match pair {
        Some((cert, key)) => {
            Some((read_tls_file("client certificate", cert)?, read_tls_file("client key", key)?))
        }
        None => None,
    };
    Ok(Some(tls_config(&ca, identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())))))
}

/// A channel to `url` that connects on first use (and reconnects after a failure), with TCP
/// connects bounded by `connect_timeout`.
pub(crate) fn channel(
    url: &str,
    parsed: EtcdUrl,
    tls: Option<ClientTlsConfig>,
    connect_timeout: Duration,
) -> Result<Channel, RawEtcdError> {
    let mut endpoint = Endpoint::from(parsed.uri).connect_timeout(connect_timeout);
    if let Some(tls) = tls {
        // This parses the PEM material, so bad files fail here, before any connection.
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|source| RawEtcdError::TlsConfig { url: url.to_owned(), source })?;
    }
    Ok(endpoint.connect_lazy())
}
