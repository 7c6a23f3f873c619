//! The `process` backend: a real etcd and real kube-apiservers as local child processes, the way
//! controller-runtime's envtest runs them, with the hygiene envtest lacks.
//!
//! - [`process`]: [`ManagedProcess`] (own process group, logs to files, SIGTERM then SIGKILL on
//!   shutdown and drop, PR_SET_PDEATHSIG), [`InstanceDir`] (kept on failure), [`free_port`].
//! - [`wait_until`]: polling against a deadline that returns the last observation on timeout.
//!
//! Unsafe code: one `pre_exec` block (`process.rs`) sets PR_SET_PDEATHSIG in the forked child;
//! this crate therefore denies `unsafe_code` instead of forbidding it, and that block carries an
//! `#[expect]` with its reason.

pub mod process;
mod wait;

pub use process::{Exit, InstanceDir, ManagedProcess, ProcessSpec, SpawnError, free_port};
pub use wait::{TimedOut, wait_until};
