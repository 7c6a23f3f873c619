//! [`RawEtcd`]: get, put, delete and list over etcd's KV service; [`RangePages`] for a paged
//! walk.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tonic::transport::Channel;

use crate::connect::{self, ConnectSettings};
use crate::error::{GrpcStatus, RawEtcdError};
use crate::generated::etcdserverpb::kv_client::KvClient;
use crate::generated::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::generated::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, SnapshotRequest, StatusRequest,
};
use crate::generated::mvccpb::KeyValue;

/// The largest response accepted. tonic's default is 4 MiB, but one page of Secrets can be
/// larger; etcd's Go client (clientv3 `MaxCallRecvMsgSize`) accepts up to `math.MaxInt32`.
const MAX_RESPONSE_BYTES: usize = 0x7fff_ffff;

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

impl From<KeyValue> for RawValue {
    fn from(kv: KeyValue) -> RawValue {
        RawValue {
            value: kv.value,
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
        }
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

/// A gRPC client of one etcd. Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct RawEtcd {
    pub(crate) kv: KvClient<Channel>,
    pub(crate) maintenance: MaintenanceClient<Channel>,
    url: String,
    /// Bounds every request; `None` for the harness's own etcd.
    request_timeout: Option<Duration>,
}

impl fmt::Debug for RawEtcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEtcd").field("url", &self.url).finish_non_exhaustive()
    }
}

impl RawEtcd {
    /// Connects to the etcd at `url` (`https://`) with a CA and a client certificate and key,
    /// all PEM. The connection is made on the first request (and made again after a failure);
    /// requests have no deadline.
    pub async fn connect_pem(
        url: &str,
        ca_pem: impl AsRef<[u8]>,
        client_cert_pem: impl AsRef<[u8]>,
        client_key_pem: impl AsRef<[u8]>,
    ) -> Result<RawEtcd, RawEtcdError> {
        let parsed = connect::parse_url(url)?;
        if !parsed.https {
            return Err(RawEtcdError::Tls {
                url: url.to_owned(),
                problem: "TLS credentials were given for a URL that is not https://",
            });
        }
        let tls = connect::tls_config(
            ca_pem.as_ref(),
            Some((client_cert_pem.as_ref(), client_key_pem.as_ref())),
        );
        let channel =
            connect::channel(url, parsed, Some(tls), ConnectSettings::new().connect_timeout)?;
        Ok(RawEtcd::new(url, channel, None))
    }

    /// Connects to any etcd at `url` (`http://` plain, `https://` with `settings.tls`) and
    /// proves the connection with one request (a maintenance `status`), bounded by
    /// `settings.connect_timeout`: the channel connects lazily, so an unreachable etcd, a TLS
    /// handshake etcd refuses or a member without a leader is only noticed this way. Every
    /// later request is bounded by `settings.request_timeout`.
    pub async fn connect_url(
        url: &str,
        settings: &ConnectSettings,
    ) -> Result<RawEtcd, RawEtcdError> {
        let parsed = connect::parse_url(url)?;
        let tls = connect::tls_from_files(url, &parsed, &settings.tls)?;
        let channel = connect::channel(url, parsed, tls, settings.connect_timeout)?;
        let mut maintenance =
            MaintenanceClient::new(channel.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES);
        match tokio::time::timeout(settings.connect_timeout, maintenance.status(StatusRequest {}))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                return Err(RawEtcdError::Connect {
                    url: url.to_owned(),
                    source: GrpcStatus(status),
                });
            }
            Err(_elapsed) => {
                return Err(RawEtcdError::ConnectTimeout {
                    url: url.to_owned(),
                    timeout: settings.connect_timeout,
                });
            }
        }
        Ok(RawEtcd::new(url, channel, Some(settings.request_timeout)))
    }

    fn new(url: &str, channel: Channel, request_timeout: Option<Duration>) -> RawEtcd {
        RawEtcd {
            kv: KvClient::new(channel.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES),
            maintenance: MaintenanceClient::new(channel)
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            url: url.to_owned(),
            request_timeout,
        }
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Pages of `page` entries (keys and values) over `[start, end)`, in key order. An `end`
    /// of `[0]` means "to the end of the keyspace".
    pub fn range_pages(&self, start: Vec<u8>, end: Vec<u8>, page: i64) -> RangePages {
        RangePages {
            kv: self.kv.clone(),
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
        let mut kv = self.kv.clone();
        let request = RangeRequest { key: key.as_bytes().to_vec(), ..RangeRequest::default() };
        let resp = self.bounded("get", key.as_bytes(), kv.range(request)).await?;
        Ok(resp.kvs.into_iter().next().map(RawValue::from))
    }

    /// Writes `value` at `key`; returns the new revision.
    pub async fn put(&self, key: &str, value: Vec<u8>) -> Result<i64, RawEtcdError> {
        let mut kv = self.kv.clone();
        let request = PutRequest { key: key.as_bytes().to_vec(), value, ..PutRequest::default() };
        let resp = self.bounded("put", key.as_bytes(), kv.put(request)).await?;
        Ok(resp.header.map_or(0, |h| h.revision))
    }

    /// Deletes `key`; returns how many keys were deleted.
    pub async fn delete(&self, key: &str) -> Result<i64, RawEtcdError> {
        let mut kv = self.kv.clone();
        let request =
            DeleteRangeRequest { key: key.as_bytes().to_vec(), ..DeleteRangeRequest::default() };
        let resp = self.bounded("delete", key.as_bytes(), kv.delete_range(request)).await?;
        Ok(resp.deleted)
    }

    /// A snapshot of the member's whole backend, as `etcdctl snapshot save` writes it: the bbolt
    /// file, then the SHA-256 of it that etcd appends (see [`crate::snapshot`]). Held in memory;
    /// `request_timeout` bounds the whole stream.
    pub async fn snapshot(&self) -> Result<Vec<u8>, RawEtcdError> {
        let mut maintenance = self.maintenance.clone();
        let collect = async {
            let mut stream = maintenance.snapshot(SnapshotRequest {}).await?.into_inner();
            let mut out = Vec::new();
            while let Some(chunk) = stream.message().await? {
                out.extend_from_slice(&chunk.blob);
            }
            Ok(tonic::Response::new(out))
        };
        self.bounded("snapshot", b"", collect).await
    }

    /// Every key under `prefix`, sorted (keys only).
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, RawEtcdError> {
        let mut kv = self.kv.clone();
        let request = RangeRequest {
            keys_only: true,
            ..range_request(prefix.as_bytes().to_vec(), prefix_end(prefix.as_bytes()), 0)
        };
        let resp = self.bounded("list", prefix.as_bytes(), kv.range(request)).await?;
        Ok(resp.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect())
    }

    /// Every entry under `prefix` with its value and revisions, in key order, read in pages of
    /// `page` keys (etcd caps one response at `--max-request-bytes`, 1.5 MiB by default).
    pub async fn list(
        &self,
        prefix: &str,
        page: i64,
    ) -> Result<Vec<(String, RawValue)>, RawEtcdError> {
        let mut kv = self.kv.clone();
        let end = prefix_end(prefix.as_bytes());
        let mut from = prefix.as_bytes().to_vec();
        let mut out = Vec::new();
        loop {
            let request = range_request(from, end.clone(), page.max(1));
            let resp = self.bounded("list", prefix.as_bytes(), kv.range(request)).await?;
            let more = resp.more;
            let mut next = None;
            for kv in resp.kvs {
                // The next page starts right after the last key.
                next = Some(kv.key.clone());
                out.push((String::from_utf8_lossy(&kv.key).into_owned(), RawValue::from(kv)));
            }
            match next {
                Some(mut last) if more => {
                    last.push(0);
                    from = last;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Awaits one call, bounded by the request timeout, with errors naming `op` and `key`.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        key: &[u8],
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, RawEtcdError> {
        bounded(op, key, &self.url, self.request_timeout, call).await
    }
}

/// Awaits one call, bounded by `timeout` if any, with errors naming `op` and `key`.
async fn bounded<T>(
    op: &'static str,
    key: &[u8],
    url: &str,
    timeout: Option<Duration>,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, RawEtcdError> {
    let key = || String::from_utf8_lossy(key).into_owned();
    let result = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, call).await.map_err(|_elapsed| {
            RawEtcdError::RequestTimeout { op, key: key(), url: url.to_owned(), timeout }
        })?,
        None => call.await,
    };
    result.map(tonic::Response::into_inner).map_err(|status| RawEtcdError::Request {
        op,
        key: key(),
        source: GrpcStatus(status),
    })
}

/// A range request over `[key, end)` with at most `limit` keys (0: no limit). etcd rejects an
/// empty key, so a range from the empty key starts at `\0`, the smallest key there can be.
fn range_request(mut key: Vec<u8>, end: Vec<u8>, limit: i64) -> RangeRequest {
    if key.is_empty() {
        key.push(0);
    }
    RangeRequest { key, range_end: end, limit, ..RangeRequest::default() }
}

/// A paged walk over a key range: each [`RangePages::next_page`] is one range request with a
/// limit, starting right after the last key of the previous page, so memory stays at one page
/// whatever the range holds. Each page reads the latest revision (no snapshot across pages).
pub struct RangePages {
    kv: KvClient<Channel>,
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
        let request = range_request(from.clone(), self.end.clone(), self.page);
        let resp: RangeResponse =
            bounded("range", &from, &self.url, self.timeout, self.kv.range(request)).await?;
        let more = resp.more;
        let page: Vec<RawKv> = resp
            .kvs
            .into_iter()
            .map(|kv| RawKv { key: kv.key, value: kv.value, mod_revision: kv.mod_revision })
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
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
