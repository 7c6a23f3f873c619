//! The `process` backend: a real etcd and real kube-apiservers as local child processes, the way
//! controller-runtime's envtest runs them, with the hygiene envtest lacks.
//!
//! - [`process`]: [`ManagedProcess`] (own process group, logs to files, SIGTERM then SIGKILL on
//!   shutdown and drop, PR_SET_PDEATHSIG), [`InstanceDir`] (kept on failure), [`free_port`].
//! - [`wait_until`]: polling against a deadline that returns the last observation on timeout.
//! - [`Assets`]: where the binaries are (`ATREST_ASSETS` / `KUBEBUILDER_ASSETS`, else the build
//!   `cargo xtask setup` left in the cache).
//! - [`certs`]: rcgen CAs, serving and client certificates, service-account keys.
//! - [`ApiServer`]: kube-apiserver with generated PKI ([`ClusterPki`]), readiness against a
//!   deadline, [`StartError::Exited`] with the `"command failed"` text ([`klog`]), stop / start
//!   again / restart.
//! - [`Etcd`]: etcd with TLS and client-certificate auth as kubeadm runs it, readiness on its
//!   metrics listener's `/health`; [`Etcd::raw`] is a [`RawEtcd`] (crate `atrest-etcd`,
//!   re-exported here) that reads and writes its `/registry/...` keys over TLS with the
//!   harness's client certificate.
//! - [`ControlPlane`]: etcd plus one or more apiservers on it, stopped in the right order.
//! - [`ProcessCluster`]: the `process` backend behind `atrest_backend::Cluster`: a file tree,
//!   apiservers started on demand (an unready one is kept running, [`Readiness`]), object
//!   operations whose API errors are the apiserver's `Status`, raw etcd reads.
//!
//! Clients: [`ApiServer::client`] is a kube-rs client (rustls + ring) with the admin
//! certificate. The crate enables `k8s-openapi`'s `v1_37` feature because it runs exactly that
//! apiserver line; a binary that enables another version must use the same one.
//!
//! Unsafe code: one `pre_exec` block (`process.rs`) sets PR_SET_PDEATHSIG in the forked child;
//! this crate therefore denies `unsafe_code` instead of forbidding it, and that block carries an
//! `#[expect]` with its reason.

mod apiserver;
mod assets;
pub mod certs;
mod cluster;
pub mod container;
mod control_plane;
mod etcd;
pub mod klog;
mod launch;
mod objects;
pub mod process;
mod watch;

pub use apiserver::{
    ApiServer, ApiServerOptions, ApiserverEndpoint, ClusterPki, EtcdClientTls, EtcdEndpoint,
    Readiness, Stuck, failing_checks,
};
pub use assets::{Assets, AssetsError, cache_dir, setup_build};
pub use cluster::{ContainerImages, ProcessCluster, host_path, remove_tree_file, write_tree_file};
pub use control_plane::ControlPlane;
pub use etcd::{Etcd, EtcdClientCredentials, EtcdOptions, Restore};
pub use launch::StartError;
pub use objects::{FIELD_MANAGER, ObjectApi};
pub use process::{
    Exit, InstanceDir, ManagedProcess, ProcessSpec, SpawnError, free_port, free_ports,
};
// The raw etcd client lived here before it became its own crate; callers keep these paths.
pub use atrest_backend::wait::{TimedOut, deadline_after, wait_until};
pub use atrest_etcd::{
    ConnectSettings, EtcdTlsFiles, RangePages, RawEtcd, RawEtcdError, RawKv, RawValue,
};
