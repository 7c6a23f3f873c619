//! atrest-process integration tests: one binary, one module per area.
//!
//! Tests that run etcd or kube-apiserver take the binaries from `ATREST_ASSETS` (or envtest's
//! `KUBEBUILDER_ASSETS`) and fail with instructions when they are missing: they never skip.

mod cluster;
mod control_plane;
mod encryption;
mod process;
mod start_failures;

use atrest_process::Assets;

/// The binaries, or a panic that says how to get them.
pub(crate) fn assets() -> Assets {
    Assets::locate().unwrap_or_else(|e| panic!("{e}"))
}

/// Every pid is known (the process had started) and none is alive any more.
pub(crate) fn all_dead(pids: &[Option<u32>]) {
    for pid in pids {
        let pid = pid.unwrap_or_else(|| panic!("a process had no pid: {pids:?}"));
        assert!(process::is_dead(pid), "pid {pid} is still running");
    }
}
