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

    /// The underlying client, for anything else (txn, compaction, status).
    pub fn client(&self) -> &Client {
        &self.client
    }
}
