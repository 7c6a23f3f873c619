//! The kind `Cluster` config of one atrest cluster, and the apiserver's volumes in the node.
//!
//! The scenario's file tree reaches the apiserver's static pod through two hops, as for a user's
//! kind cluster: the host directory is mounted into the node (`extraMounts`), and a `hostPath`
//! volume of the pod mounts a directory of the node into the apiserver. A kind node's mounts are
//! fixed when it is created while a scenario may change the pod's volumes (`setFlags`), so the
//! whole tree is mounted once, read-only, at [`TREE_IN_NODE`], and each of the scenario's volumes
//! is a `hostPath` into it that [`crate::manifest`] writes into kubeadm's manifest. The config
//! also has what the harness needs: etcd's client port published on 127.0.0.1, and the settings
//! a node built offline needs (no CNI, no kube-proxy: their images are not in it).
//!
//! kubeadm's v1beta4 `ClusterConfiguration` (kind v0.33 writes it from Kubernetes 1.36 on,
//! sigs.k8s.io/kind pkg/cluster/internal/kubeadm/config.go).

use std::fmt::Write as _;
use std::path::Path;

use atrest_backend::ApiServerSpec;

use crate::KindError;

/// Where the node sees the cluster's file tree (read-only).
pub(crate) const TREE_IN_NODE: &str = "/var/lib/atrest/fs";

/// What the config is made of.
#[derive(Debug, Clone)]
pub(crate) struct KindConfig<'a> {
    /// The node image.
    pub(crate) image: &'a str,
    /// The host directory that stands for the cluster's `/` (the scenario's file tree).
    pub(crate) fs_root: &'a Path,
    /// The host port on 127.0.0.1 that reaches etcd's client port in the node.
    pub(crate) etcd_port: u16,
    /// etcd's image tag when the node image carries a different one than kubeadm would ask
    /// for (kubeadm would otherwise make the kubelet pull it).
    pub(crate) etcd_image_tag: Option<&'a str>,
}

/// One `hostPath` volume of the apiserver's static pod: a directory of the cluster's tree, seen
/// by the apiserver at `mount_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    /// The directory in the cluster's tree (absolute, `/`-rooted, no trailing `/`).
    pub(crate) host_path: String,
    /// Where the apiserver sees it.
    pub(crate) mount_path: String,
}

impl Volume {
    /// The directory's path in the node.
    pub(crate) fn node_path(&self) -> String {
        if self.host_path == "/" {
            TREE_IN_NODE.to_owned()
        } else {
            format!("{TREE_IN_NODE}{}", self.host_path)
        }
    }
}

/// `path` as one spelling (`/etc/kubernetes//pki/.` is `/etc/kubernetes/pki`), so that paths
/// compare as the kernel would resolve them; relative paths and `..` are refused.
fn normal(path: &str, what: &str) -> Result<String, KindError> {
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            std::path::Component::ParentDir | std::path::Component::Prefix(_) => {
                return Err(KindError::Unsupported(format!(
                    "use {what} {path:?}: not an absolute path without `..`"
                )));
            }
        }
    }
    if !path.starts_with('/') {
        return Err(KindError::Unsupported(format!(
            "use {what} {path:?}: not an absolute path without `..`"
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// kubeadm 1.37's own `hostPath` volumes of the apiserver's static pod
/// (cmd/kubeadm/app/phases/controlplane/volumes.go), each the node's directory at itself: the
/// node's certificates, not the scenario's tree.
pub(crate) const KUBEADM_VOLUMES: &[&str] = &[
    "/etc/kubernetes/pki",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/usr/share/ca-certificates",
    "/etc/pki",
];

/// Whether `a` is `b` or inside it (both in [`normal`] spelling).
fn at_or_inside(a: &str, b: &str) -> bool {
    b == "/" || a == b || a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'))
}

/// The kubeadm volume `path` is at or inside, if any.
pub(crate) fn kubeadm_volume(path: &str) -> Option<&'static str> {
    let path = normal(path, "the path").ok()?;
    KUBEADM_VOLUMES.iter().copied().find(|v| at_or_inside(&path, v))
}

/// The volumes the apiserver's pod gets from the tree, beside kubeadm's own: its declared
/// `hostPath` mounts, or else the directory of its configuration file at itself (kubeadm's
/// `/etc/kubernetes/enc` layout).
///
/// A declared mount that is exactly one of kubeadm's (`/etc/kubernetes/pki` at itself: what a
/// scenario lists to say "the volumes kubeadm's manifest has") is kubeadm's, left as it is. Any
/// other volume at, inside or around one of kubeadm's is refused (it would hide the node's
/// certificates or stand for them), and so is a volume of the tree's own copy of one of them
/// (on kind those paths are the node's: the harness writes no file there).
pub(crate) fn volumes(spec: &ApiServerSpec) -> Result<Vec<Volume>, KindError> {
    let declared = spec.mounts.is_some();
    let wanted = match (&spec.mounts, &spec.encryption_config) {
        (Some(mounts), _) => mounts
            .iter()
            .map(|m| {
                Ok(Volume {
                    host_path: normal(&m.host_path, "the hostPath")?,
                    mount_path: normal(&m.mount_path, "the mountPath")?,
                })
            })
            .collect::<Result<Vec<_>, KindError>>()?,
        (None, Some(config)) => {
            let config = normal(config, "the encryption configuration's path")?;
            let dir = config.rsplit_once('/').map_or("", |(dir, _)| dir);
            let dir = if dir.is_empty() { "/" } else { dir };
            vec![Volume { host_path: dir.to_owned(), mount_path: dir.to_owned() }]
        }
        (None, None) => Vec::new(),
    };
    let mut out = Vec::new();
    for v in wanted {
        if declared && KUBEADM_VOLUMES.iter().any(|k| *k == v.host_path && *k == v.mount_path) {
            continue;
        }
        let over = |path: &str| {
            KUBEADM_VOLUMES.iter().find(|k| at_or_inside(path, k) || at_or_inside(k, path))
        };
        if let Some(k) = over(&v.mount_path) {
            let what = if declared {
                format!("mount a volume of the cluster's tree at {}", v.mount_path)
            } else {
                format!(
                    "mount the configuration file's directory {} at itself (what an apiserver \
                     without `mounts` gets; put the file in a directory of its own, such as \
                     /etc/kubernetes/enc, or declare `mounts`)",
                    v.mount_path
                )
            };
            return Err(KindError::Unsupported(format!(
                "{what}: kubeadm's static pod mounts the node's own {k} (certificates), which \
                 this would hide or stand for"
            )));
        }
        // Around one of them is fine: the tree's copy is empty (writes there are refused).
        if let Some(k) = KUBEADM_VOLUMES.iter().find(|k| at_or_inside(&v.host_path, k)) {
            return Err(KindError::Unsupported(format!(
                "use the cluster's tree at {} as a volume: {k} is the node's own directory \
                 (kubeadm's certificates), where the harness writes no file",
                v.host_path
            )));
        }
        out.push(v);
    }
    Ok(out)
}

/// A string as a YAML double-quoted scalar (JSON's string syntax is valid YAML).
pub(crate) fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl KindConfig<'_> {
    /// The config's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n");
        out.push_str("networking:\n  disableDefaultCNI: true\n  kubeProxyMode: none\n");
        out.push_str("nodes:\n  - role: control-plane\n");
        let _ = writeln!(out, "    image: {}", quoted(self.image));
        out.push_str("    extraMounts:\n");
        let _ = writeln!(out, "      - hostPath: {}", quoted(&self.fs_root.to_string_lossy()));
        let _ = writeln!(out, "        containerPath: {}", quoted(TREE_IN_NODE));
        out.push_str("        readOnly: true\n");
        out.push_str("    extraPortMappings:\n      - containerPort: 2379\n");
        let _ = writeln!(out, "        hostPort: {}", self.etcd_port);
        out.push_str("        listenAddress: \"127.0.0.1\"\n        protocol: TCP\n");

        let mut patches = Vec::new();
        if let Some(tag) = self.etcd_image_tag {
            patches.push(format!(
                "kind: ClusterConfiguration\napiVersion: kubeadm.k8s.io/v1beta4\n\
                 etcd:\n  local:\n    imageTag: {}\n",
                quoted(tag)
            ));
        }
        // kubelet 1.37 refuses a cgroup v1 host unless told otherwise; on cgroup v2 the field
        // changes nothing.
        patches.push(
            "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n\
             failCgroupV1: false\n"
                .to_owned(),
        );
        out.push_str("kubeadmConfigPatches:\n");
        for doc in &patches {
            out.push_str("  - |\n");
            for line in doc.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use atrest_backend::HostPathMount;

    use super::*;

    fn mount(host_path: &str, mount_path: &str) -> HostPathMount {
        HostPathMount { host_path: host_path.to_owned(), mount_path: mount_path.to_owned() }
    }

    #[test]
    fn the_tree_is_mounted_once_and_etcd_published_on_loopback() {
        let text = KindConfig {
            image: "kindest/node:v1.37.2",
            fs_root: Path::new("/tmp/atrest-kind-x/fs"),
            etcd_port: 40123,
            etcd_image_tag: Some("3.6.16-0"),
        }
        .render();
        let want = r#"kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
  kubeProxyMode: none
nodes:
  - role: control-plane
    image: "kindest/node:v1.37.2"
    extraMounts:
      - hostPath: "/tmp/atrest-kind-x/fs"
        containerPath: "/var/lib/atrest/fs"
        readOnly: true
    extraPortMappings:
      - containerPort: 2379
        hostPort: 40123
        listenAddress: "127.0.0.1"
        protocol: TCP
kubeadmConfigPatches:
  - |
    kind: ClusterConfiguration
    apiVersion: kubeadm.k8s.io/v1beta4
    etcd:
      local:
        imageTag: "3.6.16-0"
  - |
    kind: KubeletConfiguration
    apiVersion: kubelet.config.k8s.io/v1beta1
    failCgroupV1: false
"#;
        assert_eq!(text, want);
        let plain = KindConfig {
            image: "img",
            fs_root: Path::new("/r"),
            etcd_port: 1,
            etcd_image_tag: None,
        }
        .render();
        assert!(!plain.contains("ClusterConfiguration"), "{plain}");
    }

    #[test]
    fn the_default_layout_mounts_the_configs_directory_at_itself() {
        let spec = ApiServerSpec::with_config("/etc/kubernetes/enc/encryption-config.yaml");
        let v = volumes(&spec).expect("allowed");
        assert_eq!(
            v,
            [Volume {
                host_path: "/etc/kubernetes/enc".to_owned(),
                mount_path: "/etc/kubernetes/enc".to_owned()
            }]
        );
        assert_eq!(v[0].node_path(), "/var/lib/atrest/fs/etc/kubernetes/enc");
        // A file at the root: the tree's root, at `/` (refused: it hides kubeadm's volumes).
        let e = volumes(&ApiServerSpec::with_config("/enc.yaml")).expect_err("refused");
        assert!(e.to_string().contains("directory / at itself"), "{e}");
        // The tutorial's path: its directory holds kubeadm's pki.
        let e = volumes(&ApiServerSpec::with_config("/etc/kubernetes/encryption-config.yaml"))
            .expect_err("refused");
        assert!(e.to_string().contains("or declare `mounts`"), "{e}");
        assert!(volumes(&ApiServerSpec::default()).expect("allowed").is_empty());
    }

    #[test]
    fn declared_mounts_are_the_only_volumes_beside_kubeadms() {
        let spec = ApiServerSpec {
            encryption_config: Some("/etc/kubernetes/encryption-config.yaml".to_owned()),
            automatic_reload: true,
            mounts: Some(vec![
                mount("/etc/kubernetes/pki", "/etc/kubernetes/pki"),
                mount("/etc/ssl/certs/", "/etc/ssl/certs"),
                mount("/etc/kubernetes/enc/", "/etc/kubernetes/enc"),
                mount("/", "/srv/tree"),
            ]),
        };
        let v = volumes(&spec).expect("allowed");
        assert_eq!(
            v,
            [
                Volume {
                    host_path: "/etc/kubernetes/enc".to_owned(),
                    mount_path: "/etc/kubernetes/enc".to_owned()
                },
                Volume { host_path: "/".to_owned(), mount_path: "/srv/tree".to_owned() }
            ]
        );
        assert_eq!(v[1].node_path(), "/var/lib/atrest/fs");
    }

    #[test]
    fn volumes_over_kubeadms_own_are_refused() {
        let declared = |m: HostPathMount| ApiServerSpec {
            mounts: Some(vec![m]),
            ..ApiServerSpec::with_config("/x/enc.yaml")
        };
        for bad in [
            mount("/elsewhere", "/etc/kubernetes/pki"),
            mount("/etc/ssl/certs/x", "/etc/ssl/certs/x"),
            mount("/etc", "/etc"),
            // Other spellings of kubeadm's paths are the same paths.
            mount("/elsewhere", "/etc/kubernetes//pki/."),
            mount("/elsewhere", "/etc/./ssl/certs"),
        ] {
            let e = volumes(&declared(bad.clone())).expect_err("refused");
            assert!(e.to_string().contains("kubeadm's static pod mounts"), "{bad:?}: {e}");
        }
        let e = volumes(&declared(mount("/etc/kubernetes/pki", "/srv/pki"))).expect_err("refused");
        assert!(e.to_string().contains("the node's own directory"), "{e}");
        let e = volumes(&declared(mount("/a/../etc", "/srv"))).expect_err("refused");
        assert!(e.to_string().contains("without `..`"), "{e}");
        assert!(volumes(&declared(mount("a", "/srv"))).is_err());
        // Implicitly, the config's directory inside kubeadm's: the node's, not the tree's.
        assert!(volumes(&ApiServerSpec::with_config("/etc/kubernetes/pki/enc.yaml")).is_err());
        assert_eq!(kubeadm_volume("/etc/ssl/certs/x/"), Some("/etc/ssl/certs"));
        assert_eq!(kubeadm_volume("/etc/kubernetes/enc"), None);
        assert_eq!(kubeadm_volume("/etc/pkix"), None);
        assert_eq!(kubeadm_volume("/etc//pki/x"), Some("/etc/pki"));
    }
}
