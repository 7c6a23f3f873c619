//! Raw etcd reads and writes over gRPC: keys and bytes only. This crate knows nothing of
//! processes or Kubernetes.
//!
//! The gRPC client code (`src/generated/`) is generated from `proto/`, a subset of etcd's v3
//! API, by `cargo xtask protos` and checked in, so building this crate needs no `protoc`.

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
