//! Raw etcd reads and writes over gRPC: keys and bytes only. This crate knows nothing of
//! processes or Kubernetes; it is what `etcdctl get /registry/secrets/<ns>/<name>` shows.
//!
//! - [`RawEtcd::connect_url`] reaches any etcd, plain (`http://`) or TLS (`https://` with
//!   [`EtcdTlsFiles`]), and proves the connection with one request ([`ConnectSettings`]).
//! - [`RawEtcd::connect_pem`] reaches an etcd with in-memory PEM credentials (the harness's own
//!   etcd, which requires client certificates).
//! - [`RawEtcd::get`], [`RawEtcd::put`], [`RawEtcd::delete`], [`RawEtcd::list`],
//!   [`RawEtcd::list_keys`], and [`RangePages`] for a paged walk over a key range.
//!
//! - [`RawEtcd::status`], [`RawEtcd::compact`], [`RawEtcd::defragment`], [`RawEtcd::alarms`]
//!   and [`RawEtcd::disarm`]: the recovery from a `NOSPACE` alarm.
//!
//! - [`snapshot::read`] reads a snapshot file (`etcdctl snapshot save`) without etcd, and
//!   [`RawEtcd::snapshot`] takes one.
//!
//! The gRPC client is tonic over rustls (ring). Its code (`src/generated/`) is generated from
//! `proto/`, a subset of etcd's v3 API, by `cargo xtask protos` and checked in, so building
//! this crate needs no `protoc`.

mod client;
mod connect;
mod error;
mod maintenance;
pub mod snapshot;

/// The code tonic-prost-build generates from `proto/` (see `xtask/protogen`). Never edited by
/// hand; the lints are relaxed because the generator, not this crate, decides its shape.
#[allow(
    missing_docs,
    unreachable_pub,
    dead_code,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    reason = "generated code"
)]
mod generated {
    pub(crate) mod mvccpb {
        include!("generated/mvccpb.rs");
    }
    pub(crate) mod etcdserverpb {
        include!("generated/etcdserverpb.rs");
    }
}

pub use client::{RangePages, RawEtcd, RawKv, RawValue, prefix_end};
pub use connect::{ConnectSettings, EtcdTlsFiles, TLS_FILE_LIMIT};
pub use error::{GrpcStatus, RawEtcdError, UrlError};
pub use maintenance::{Alarm, AlarmKind, EtcdStatus};

#[cfg(test)]
mod tests;
