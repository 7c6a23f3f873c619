//! Raw access to etcd's keys (`/registry/...`) with etcd-client, bypassing the apiserver: what
//! `etcdctl get /registry/secrets/<ns>/<name>` shows. [`RawEtcd::connect`] reaches an etcd this
//! crate started (TLS with the harness certificate); [`RawEtcd::connect_url`] reaches any etcd,
//! plain or TLS, such as a user's cluster. [`RangePages`] walks a key range page by page.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, TlsOptions,
};

use crate::etcd::Etcd;

/// An etcd operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RawEtcdError {
    /// Connecting failed.
    #[error("cannot connect to etcd at {url}")]
    Connect {
        /// The client URL.
        url: String,
        /// Why.
        #[source]
        source: etcd_client::Error,
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
    /// A request did not complete in time.
    #[error("etcd {op} {key:?} at {url}: no answer within {timeout:?}")]
    RequestTimeout {
        /// `range`.
        op: &'static str,
        /// The start key (lossy UTF-8).
        key: String,
        /// The client URL.
        url: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A request failed.
    #[error("etcd {op} {key:?} failed")]
    Request {
        /// `get`, `put`, `delete` or `list`.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
}

/// A value as stored, with its revisions.
#[derive(Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The stored bytes (may be ciphertext or plaintext protobuf).
    pub value: Vec<u8>,
    /// Revision of the last change (the apiserver's `resourceVersion`).
    pub mod_revision: i64,
    /// Revision of creation.
    pub create_revision: i64,
}

impl fmt::Debug for RawValue {
    // The value may be a plaintext Secret: print its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("len", &self.value.len())
            .field("mod_revision", &self.mod_revision)
            .field("create_revision", &self.create_revision)
            .finish()
    }
}

/// One key-value pair as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RawKv {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The stored bytes (may be ciphertext or plaintext protobuf).
    pub value: Vec<u8>,
    /// Revision of the last change.
    pub mod_revision: i64,
}

impl fmt::Debug for RawKv {
    // The value may be a plaintext Secret: print its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawKv")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("len", &self.value.len())
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// TLS client files (PEM) for [`RawEtcd::connect_url`], as `etcdctl --cacert --cert --key`.
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

/// How [`RawEtcd::connect_url`] connects.
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

/// An etcd-client connected to one etcd.
#[derive(Clone)]
pub struct RawEtcd {
    client: Client,
    url: String,
    /// Bounds every paged request ([`RangePages`]); `None` for the harness's own etcd.
    request_timeout: Option<Duration>,
}

impl fmt::Debug for RawEtcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEtcd").field("url", &self.url).finish_non_exhaustive()
    }
}

fn read_tls_file(what: &'static str, path: &Path) -> Result<Vec<u8>, RawEtcdError> {
    std::fs::read(path).map_err(|source| RawEtcdError::TlsFile {
        what,
        path: path.to_owned(),
        source,
    })
}

impl RawEtcd {
    /// Connects to `etcd` with its CA and the harness client certificate.
    pub async fn connect(etcd: &Etcd) -> Result<RawEtcd, RawEtcdError> {
        let creds = etcd.credentials();
        let tls = TlsOptions::new()
            .ca_certificate(Certificate::from_pem(&creds.ca_pem))
            .identity(Identity::from_pem(&creds.client.cert_pem, creds.client.key_pem()));
        let url = etcd.client_url().to_owned();
        let client = Client::connect([url.as_str()], Some(ConnectOptions::new().with_tls(tls)))
            .await
            .map_err(|source| RawEtcdError::Connect { url: url.clone(), source })?;
        Ok(RawEtcd { client, url, request_timeout: None })
    }

    /// Connects to any etcd at `url` (`http://` plain, `https://` with `settings.tls`) and
    /// proves the connection with one request (a maintenance `status`), bounded by
    /// `settings.connect_timeout`: etcd-client connects lazily and retries a refused
    /// connection forever, so an unreachable etcd is only noticed this way.
    pub async fn connect_url(
        url: &str,
        settings: &ConnectSettings,
    ) -> Result<RawEtcd, RawEtcdError> {
        let tls_problem = |problem| RawEtcdError::Tls { url: url.to_owned(), problem };
        let mut options = ConnectOptions::new()
            .with_connect_timeout(settings.connect_timeout)
            .with_timeout(settings.request_timeout);
        let files = &settings.tls;
        if url.starts_with("https://") {
            let mut tls = TlsOptions::new();
            match &files.ca_file {
                Some(ca) => {
                    tls = tls
                        .ca_certificate(Certificate::from_pem(read_tls_file("CA certificate", ca)?))
                }
                None => {
                    return Err(tls_problem("an https URL needs the CA certificate (--cacert)"));
                }
            }
            match (&files.cert_file, &files.key_file) {
                (Some(cert), Some(key)) => {
                    let cert = read_tls_file("client certificate", cert)?;
                    let key = read_tls_file("client key", key)?;
                    tls = tls.identity(Identity::from_pem(cert, key));
                }
                (None, None) => {}
                _ => {
                    return Err(tls_problem(
                        "a client certificate needs its key, and a key its certificate",
                    ));
                }
            }
            options = options.with_tls(tls);
        } else if !files.is_empty() {
            return Err(tls_problem("TLS files were given for a URL that is not https://"));
        }
        let connect = async {
            let mut client = Client::connect([url], Some(options))
                .await
                .map_err(|source| RawEtcdError::Connect { url: url.to_owned(), source })?;
            client
                .status()
                .await
                .map_err(|source| RawEtcdError::Connect { url: url.to_owned(), source })?;
            Ok(client)
        };
        let client =
            tokio::time::timeout(settings.connect_timeout, connect).await.map_err(|_| {
                RawEtcdError::ConnectTimeout {
                    url: url.to_owned(),
                    timeout: settings.connect_timeout,
                }
            })??;
        Ok(RawEtcd { client, url: url.to_owned(), request_timeout: Some(settings.request_timeout) })
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Pages of `page` entries (keys and values) over `[start, end)`, in key order. An `end`
    /// of `[0]` means "to the end of the keyspace".
    pub fn range_pages(&self, start: Vec<u8>, end: Vec<u8>, page: i64) -> RangePages {
        RangePages {
            kv: self.client.kv_client(),
            url: self.url.clone(),
            timeout: self.request_timeout,
            next: Some(start),
            end,
            page: page.max(1),
        }
    }

    /// [`RawEtcd::range_pages`] over every key that starts with `prefix`.
    pub fn prefix_pages(&self, prefix: &[u8], page: i64) -> RangePages {
        self.range_pages(prefix.to_vec(), prefix_end(prefix), page)
    }

    /// The value at `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<RawValue>, RawEtcdError> {
        let mut kv = self.client.kv_client();
        let resp = kv.get(key, None).await.map_err(|source| RawEtcdError::Request {
            op: "get",
            key: key.to_owned(),
            source,
        })?;
        Ok(resp.kvs().first().map(|kv| RawValue {
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
            create_revision: kv.create_revision(),
        }))
    }

    /// Writes `value` at `key`; returns the new revision.
    pub async fn put(&self, key: &str, value: Vec<u8>) -> Result<i64, RawEtcdError> {
        let mut kv = self.client.kv_client();
        let resp = kv.put(key, value, None).await.map_err(|source| RawEtcdError::Request {
            op: "put",
            key: key.to_owned(),
            source,
        })?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Deletes `key`; returns how many keys were deleted.
    pub async fn delete(&self, key: &str) -> Result<i64, RawEtcdError> {
        let mut kv = self.client.kv_client();
        let resp = kv.delete(key, None).await.map_err(|source| RawEtcdError::Request {
            op: "delete",
            key: key.to_owned(),
            source,
        })?;
        Ok(resp.deleted())
    }

    /// Every key under `prefix`, sorted (keys only).
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, RawEtcdError> {
        let mut kv = self.client.kv_client();
        let opts = GetOptions::new().with_prefix().with_keys_only();
        let resp = kv.get(prefix, Some(opts)).await.map_err(|source| RawEtcdError::Request {
            op: "list",
            key: prefix.to_owned(),
            source,
        })?;
        Ok(resp.kvs().iter().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()).collect())
    }

    /// Every entry under `prefix` with its value and revisions, in key order, read in pages of
    /// `page` keys (etcd caps one response at `--max-request-bytes`, 1.5 MiB by default).
    pub async fn list(
        &self,
        prefix: &str,
        page: i64,
    ) -> Result<Vec<(String, RawValue)>, RawEtcdError> {
        let mut kv = self.client.kv_client();
        let end = prefix_end(prefix.as_bytes());
        let mut from = prefix.as_bytes().to_vec();
        let mut out = Vec::new();
        loop {
            let opts = GetOptions::new().with_range(end.clone()).with_limit(page.max(1));
            let resp = kv.get(from.clone(), Some(opts)).await.map_err(|source| {
                RawEtcdError::Request { op: "list", key: prefix.to_owned(), source }
            })?;
            for kv in resp.kvs() {
                out.push((
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    RawValue {
                        value: kv.value().to_vec(),
                        mod_revision: kv.mod_revision(),
                        create_revision: kv.create_revision(),
                    },
                ));
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    // The next page starts right after the last key.
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }

    /// The underlying client, for anything else (txn, compaction, status).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// A paged walk over a key range: each [`RangePages::next_page`] is one range request with a
/// limit, starting right after the last key of the previous page, so memory stays at one page
/// whatever the range holds. Each page reads the latest revision (no snapshot across pages).
pub struct RangePages {
    kv: KvClient,
    url: String,
    timeout: Option<Duration>,
    /// The next page's first key; `None` once the range is exhausted.
    next: Option<Vec<u8>>,
    end: Vec<u8>,
    page: i64,
}

impl fmt::Debug for RangePages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangePages")
            .field("url", &self.url)
            .field("next", &self.next.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()))
            .field("page", &self.page)
            .finish_non_exhaustive()
    }
}

impl RangePages {
    /// The next page, or `None` when the range is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<RawKv>>, RawEtcdError> {
        let Some(from) = self.next.take() else { return Ok(None) };
        let opts = GetOptions::new().with_range(self.end.clone()).with_limit(self.page);
        let request = self.kv.get(from.clone(), Some(opts));
        let key = || String::from_utf8_lossy(&from).into_owned();
        let mut resp = match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, request).await.map_err(|_| {
                RawEtcdError::RequestTimeout {
                    op: "range",
                    key: key(),
                    url: self.url.clone(),
                    timeout,
                }
            })?,
            None => request.await,
        }
        .map_err(|source| RawEtcdError::Request { op: "range", key: key(), source })?;
        let more = resp.more();
        let page: Vec<RawKv> = resp
            .take_kvs()
            .into_iter()
            .map(|kv| {
                let mod_revision = kv.mod_revision();
                let (key, value) = kv.into_key_value();
                RawKv { key, value, mod_revision }
            })
            .collect();
        if more && let Some(last) = page.last() {
            // The next page starts right after the last key.
            let mut next = last.key.clone();
            next.push(0);
            self.next = Some(next);
        }
        Ok(if page.is_empty() { None } else { Some(page) })
    }
}

/// The end of the key range holding every key that starts with `prefix` (etcd's
/// `clientv3.GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented, or
/// `\0` (to the end of the keyspace) when there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/registry/secrets/"), b"/registry/secrets0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }
}
