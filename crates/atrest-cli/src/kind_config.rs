//! `atrest kind-config --encryption-config FILE`: a kind `Cluster` (v1alpha4) whose
//! kube-apiserver runs with that EncryptionConfiguration, as a static pod must get it.
//!
//! Two hops join the file on the host to the apiserver, and the tutorial's first troubleshooting
//! case is a missing one:
//!
//! - `extraMounts` bind-mounts the file's directory into every control-plane node (kind's node
//!   containers), read-only;
//! - a `kubeadmConfigPatches` entry patches kubeadm's `ClusterConfiguration`: the apiserver's
//!   `encryption-provider-config` flag, and an `extraVolumes` `hostPath` volume that mounts the
//!   node's directory into the static pod.
//!
//! The patch is written in the kubeadm API version kind v0.33 generates for the node's
//! Kubernetes version (sigs.k8s.io/kind pkg/cluster/internal/kubeadm/config.go: v1beta4 from
//! 1.36, whose `extraArgs` is a list of `name`/`value` pairs; v1beta3 from 1.23, a map), with
//! its `apiVersion` set, since kind applies a patch only to documents of its kind and
//! apiVersion (pkg/internal/patch/kubeyaml.go).
//!
//! The configuration is loaded first, as kube-apiserver loads it: a file the apiserver would
//! refuse is refused here with its exact `err`, instead of a `kind create cluster` that waits
//! minutes for an apiserver that exits at once.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use atrest_config::load::{self, LoadOptions};

use crate::Outcome;
use crate::files::{Existing, create_output};

/// kind v0.33's default node image's Kubernetes version (pkg/apis/config/defaults/image.go).
const KIND_DEFAULT_VERSION: &str = "v1.37.0";

/// `atrest kind-config`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The EncryptionConfiguration the apiservers run. Its directory is mounted, read-only,
    /// into every control-plane node and the apiserver's static pod: keep only it (and what
    /// else the apiserver may read) there.
    #[arg(long, value_name = "FILE")]
    encryption_config: PathBuf,
    /// The nodes' Kubernetes version: it picks the node image (`kindest/node:VERSION`) and the
    /// kubeadm API version of the patch (v1beta4 from 1.36, v1beta3 from 1.23).
    #[arg(long, value_name = "VERSION", default_value = KIND_DEFAULT_VERSION)]
    kubernetes_version: String,
    /// The node image, instead of `kindest/node:VERSION` (its Kubernetes version must be
    /// --kubernetes-version).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// How many control-plane nodes (each gets the mount; kubeadm gives each its apiserver).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=7))]
    nodes: u8,
    /// How many worker nodes.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=16))]
    workers: u8,
    /// Where the directory appears inside the node and the static pod (kubeadm's convention).
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/enc")]
    mount_path: String,
    /// Also set `--encryption-provider-config-automatic-reload`: the apiserver reloads the file
    /// when it changes, without a restart.
    #[arg(long)]
    automatic_reload: bool,
    /// The directory as the kind config names it (`hostPath`), instead of the configuration's
    /// directory made absolute; kind resolves a relative one from where `kind create cluster`
    /// runs.
    #[arg(long, value_name = "DIR")]
    host_path: Option<String>,
    /// Write the kind config to FILE (never overwritten) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The kubeadm API version of a patch, by Kubernetes version (kind v0.33's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KubeadmApi {
    V1beta3,
    V1beta4,
}

impl KubeadmApi {
    fn for_version(version: &str) -> Result<KubeadmApi> {
        let (major, minor) = parse_minor(version).with_context(|| {
            format!("--kubernetes-version {version:?} is not a version like v1.37.0")
        })?;
        match (major, minor) {
            (1, 36..) | (2.., _) => Ok(KubeadmApi::V1beta4),
            (1, 23..=35) => Ok(KubeadmApi::V1beta3),
            _ => bail!(
                "--kubernetes-version {version}: kind writes kubeadm v1beta2 for versions before \
                 1.23, which atrest does not generate"
            ),
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// `v1.37.0` (or `1.37`, `v1.37.0-alpha.1`) → (1, 37).
fn parse_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.strip_prefix('v').unwrap_or(version);
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A string as a YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The kind config for `host_dir` (absolute) holding `file_name`.
fn render(args: &Args, api: KubeadmApi, host_dir: &Path, file_name: &str) -> Result<String> {
    let host_dir = args.host_path.as_deref().map_or(host_dir, Path::new);
    let mount = args.mount_path.trim_end_matches('/');
    if !mount.starts_with('/') || mount.is_empty() || mount.split('/').any(|c| c == "..") {
        bail!("--mount-path {:?} must be an absolute path without `..`", args.mount_path);
    }
    let host = host_dir.to_str().with_context(|| {
        format!("the directory {} is not UTF-8: kind configs are YAML", host_dir.display())
    })?;
    let flag_value = format!("{mount}/{file_name}");
    let image =
        args.image.clone().unwrap_or_else(|| format!("kindest/node:{}", args.kubernetes_version));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `atrest kind-config`: kube-apiserver runs with --encryption-provider-config={flag_value}."
    );
    let _ = writeln!(
        out,
        "# The host directory {host} is mounted read-only into each control-plane node (extraMounts)"
    );
    let _ = writeln!(out, "# and from the node into the apiserver's static pod (extraVolumes).");
    out.push_str("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n");
    for _ in 0..args.nodes {
        let _ = writeln!(out, "  - role: control-plane");
        let _ = writeln!(out, "    image: {}", quoted(&image));
        let _ = writeln!(out, "    extraMounts:");
        let _ = writeln!(out, "      - hostPath: {}", quoted(host));
        let _ = writeln!(out, "        containerPath: {}", quoted(mount));
        let _ = writeln!(out, "        readOnly: true");
    }
    for _ in 0..args.workers {
        let _ = writeln!(out, "  - role: worker");
        let _ = writeln!(out, "    image: {}", quoted(&image));
    }
    let mut flags = vec![("encryption-provider-config", flag_value.clone())];
    if args.automatic_reload {
        flags.push(("encryption-provider-config-automatic-reload", "true".to_owned()));
    }
    out.push_str("kubeadmConfigPatches:\n  - |\n");
    let mut patch = String::new();
    let _ = writeln!(patch, "kind: ClusterConfiguration");
    let _ = writeln!(patch, "apiVersion: {}", api.api_version());
    let _ = writeln!(patch, "apiServer:");
    let _ = writeln!(patch, "  extraArgs:");
    for (name, value) in &flags {
        match api {
            KubeadmApi::V1beta4 => {
                let _ = writeln!(patch, "    - name: {name}");
                let _ = writeln!(patch, "      value: {}", quoted(value));
            }
            KubeadmApi::V1beta3 => {
                let _ = writeln!(patch, "    {name}: {}", quoted(value));
            }
        }
    }
    let _ = writeln!(patch, "  extraVolumes:");
    let _ = writeln!(patch, "    - name: encryption-config");
    let _ = writeln!(patch, "      hostPath: {}", quoted(mount));
    let _ = writeln!(patch, "      mountPath: {}", quoted(mount));
    let _ = writeln!(patch, "      readOnly: true");
    let _ = writeln!(patch, "      pathType: Directory");
    for line in patch.lines() {
        let _ = writeln!(out, "    {line}");
    }
    Ok(out)
}

/// `atrest kind-config`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let api = KubeadmApi::for_version(&args.kubernetes_version)?;
    let path = &args.encryption_config;
    let shown = path.to_string_lossy().into_owned();
    if let Err(err) = load::load(&shown, crate::input::read_config(path), &LoadOptions::default()) {
        eprintln!("error: kube-apiserver would exit at start with this configuration:");
        eprintln!("  err=\"{}\"", err.to_string().replace('\\', "\\\\").replace('"', "\\\""));
        if err.upstream_prints_key_material() {
            eprintln!(
                "note: the real kube-apiserver prints the key material itself where atrest prints REDACTED"
            );
        }
        return Ok(Outcome::Failed);
    }
    let file = std::fs::canonicalize(path)
        .with_context(|| format!("resolving --encryption-config {}", path.display()))?;
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
        bail!("--encryption-config {} names no file in a directory", path.display());
    };
    if let Ok(meta) = std::fs::metadata(&file)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} holds keys and is readable by group or others (mode {:o}); chmod 600 it",
            file.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text = render(args, api, dir, name)?;
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("writing")?;
        }
        Some(out) => {
            // No key material: the kind config names paths only.
            let mut file = create_output(out, Existing::Refuse, 0o644)?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}; create the cluster with:", out.display());
            eprintln!("  kind create cluster --config {}", out.display());
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(version: &str, nodes: u8, reload: bool) -> Args {
        Args {
            encryption_config: PathBuf::from("enc.yaml"),
            kubernetes_version: version.to_owned(),
            image: None,
            nodes,
            workers: 1,
            mount_path: "/etc/kubernetes/enc".to_owned(),
            automatic_reload: reload,
            host_path: None,
            out: None,
        }
    }

    #[test]
    fn the_patch_speaks_the_kubeadm_version_kind_writes() {
        assert_eq!(KubeadmApi::for_version("v1.37.0").unwrap(), KubeadmApi::V1beta4);
        assert_eq!(KubeadmApi::for_version("v1.36.0-alpha.1").unwrap(), KubeadmApi::V1beta4);
        assert_eq!(KubeadmApi::for_version("1.35.3").unwrap(), KubeadmApi::V1beta3);
        assert_eq!(KubeadmApi::for_version("v1.23.0").unwrap(), KubeadmApi::V1beta3);
        assert!(KubeadmApi::for_version("v1.22.9").unwrap_err().to_string().contains("v1beta2"));
        assert!(KubeadmApi::for_version("latest").unwrap_err().to_string().contains("latest"));
    }

    #[test]
    fn v1beta4_lists_extra_args_and_mounts_every_control_plane_node() {
        let a = args("v1.37.0", 2, true);
        let text = render(&a, KubeadmApi::V1beta4, Path::new("/srv/enc dir"), "enc.yaml").unwrap();
        assert_eq!(text.matches("role: control-plane").count(), 2);
        assert_eq!(text.matches("hostPath: \"/srv/enc dir\"").count(), 2);
        assert_eq!(text.matches("role: worker").count(), 1);
        assert!(text.contains("image: \"kindest/node:v1.37.0\""), "{text}");
        assert!(text.contains(
            "  - |\n    kind: ClusterConfiguration\n    apiVersion: kubeadm.k8s.io/v1beta4\n    apiServer:\n      extraArgs:\n        - name: encryption-provider-config\n          value: \"/etc/kubernetes/enc/enc.yaml\"\n        - name: encryption-provider-config-automatic-reload\n          value: \"true\"\n      extraVolumes:\n        - name: encryption-config\n          hostPath: \"/etc/kubernetes/enc\"\n          mountPath: \"/etc/kubernetes/enc\"\n          readOnly: true\n          pathType: Directory\n"
        ), "{text}");
    }

    #[test]
    fn v1beta3_maps_extra_args() {
        let text =
            render(&args("v1.35.0", 1, false), KubeadmApi::V1beta3, Path::new("/e"), "c.yaml")
                .unwrap();
        assert!(text.contains(
            "    apiVersion: kubeadm.k8s.io/v1beta3\n    apiServer:\n      extraArgs:\n        encryption-provider-config: \"/etc/kubernetes/enc/c.yaml\"\n      extraVolumes:\n"
        ), "{text}");
    }

    #[test]
    fn mount_paths_are_absolute() {
        let mut a = args("v1.37.0", 1, false);
        a.mount_path = "etc/enc".to_owned();
        assert!(render(&a, KubeadmApi::V1beta4, Path::new("/e"), "c.yaml").is_err());
        a.mount_path = "/etc/../enc".to_owned();
        assert!(render(&a, KubeadmApi::V1beta4, Path::new("/e"), "c.yaml").is_err());
    }
}
