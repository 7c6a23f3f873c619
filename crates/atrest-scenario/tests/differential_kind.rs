//! The tutorial's scenarios on `sim` and on `kind` (a real kind cluster: kubeadm's static pods,
//! a real kubelet restarting the apiserver from its manifest): the reports must be equal once
//! timings, the backend's name, log paths and measured numbers are removed, as in
//! `differential.rs`.
//!
//! Needs kind, the node image and a Docker engine that runs kind's privileged nodes (`cargo
//! xtask setup`; `cargo xtask test` passes ATREST_KIND, ATREST_KIND_IMAGE and DOCKER_HOST);
//! without them every test fails with the instructions, never passes.

use std::path::{Path, PathBuf};

use atrest_kind::{KindCluster, KindSpec};

#[path = "support/differential.rs"]
#[expect(dead_code, reason = "kind compares through sim_and_with only")]
mod support;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios").join(format!("{name}.yaml"))
}

/// The report with the scratch namespaces' prefix (`atrest-<8 hex digits>-`) taken out of etcd
/// keys, as the simulator, which has no scratch namespaces, names them.
fn without_scratch_namespaces(report: &str) -> String {
    let mut out = String::with_capacity(report.len());
    let mut rest = report;
    while let Some(at) = rest.find("/atrest-") {
        let after = &rest[at + "/atrest-".len()..];
        let is_prefix = after.len() > 9
            && after.as_bytes()[..8].iter().all(u8::is_ascii_hexdigit)
            && after.as_bytes()[8] == b'-';
        out.push_str(&rest[..=at]);
        rest = if is_prefix { &after[9..] } else { &rest[at + 1..] };
    }
    out.push_str(rest);
    out
}

#[test]
fn scratch_prefixes_are_taken_out_of_keys_only() {
    assert_eq!(
        without_scratch_namespaces(r#""/registry/secrets/atrest-8a7d29e9-default/a", "/atrest-x""#),
        r#""/registry/secrets/default/a", "/atrest-x""#
    );
}

fn sim_and_kind(name: &str) {
    let result = KindSpec::locate()
        .map_err(|e| format!("the kind backend cannot run here: {e}").into())
        .and_then(|spec| {
            support::sim_and_with(
                &scenario(name),
                "kind",
                |cluster| async move { KindCluster::launch(&spec, cluster).await },
                without_scratch_namespaces,
            )
        });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn rotate() {
    sim_and_kind("rotate");
}

#[test]
fn missing_restart() {
    sim_and_kind("missing-restart");
}

#[test]
fn configmaps() {
    sim_and_kind("configmaps");
}

/// The flag's directory is a volume of the pod; the file written beside it is in the node (under
/// the tree's mount) but not in the pod: the apiserver exits with upstream's text and its exit
/// code.
#[test]
fn wrong_path() {
    sim_and_kind("wrong-path");
}

/// The flag names the file's own path, which no volume of kubeadm's manifest covers: the
/// apiserver exits; `setFlags` adds a volume and a flag in it (the manifest rewritten), and the
/// next start reads it.
#[test]
fn wrong_path_mount() {
    sim_and_kind("wrong-path-mount");
}

/// A start that fails on the key: the exit text (key REDACTED) from the container's log, the
/// exit code from containerd's checkpoint.
#[test]
fn invalid_key_length() {
    sim_and_kind("invalid-key-length");
}
