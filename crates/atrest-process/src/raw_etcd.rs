//! Raw access to etcd's keys (`/registry/...`) with etcd-client over TLS, bypassing the
//! apiserver: what `etcdctl get /registry/secrets/<ns>/<name>` shows.

use std::fmt;

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};

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

/// An etcd-client connected with the harness's client certificate.
#[derive(Clone)]
pub struct RawEtcd {
    client: Client,
}

impl fmt::Debug for RawEtcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEtcd").finish_non_exhaustive()
    }
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
            .map_err(|source| RawEtcdError::Connect { url, source })?;
        Ok(RawEtcd { client })
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
