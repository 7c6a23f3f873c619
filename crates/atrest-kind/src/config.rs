//! The kind `Cluster` config of one atrest cluster: the scenario's file tree reaches the
//! apiserver's static pod through two hops, as `atrest kind-config` writes them for a user
//! (`extraMounts` from the host into the node, a kubeadm `extraVolumes` `hostPath` from the node
//! into the pod), plus what the harness needs: etcd's client port published on 127.0.0.1, and the
//! settings a node built offline needs (no CNI, no kube-proxy: their images are not in it).
//!
//! kubeadm's v1beta4 `ClusterConfiguration` (kind v0.33 writes it from Kubernetes 1.36 on,
//! sigs.k8s.io/kind pkg/cluster/internal/kubeadm/config.go); its `extraArgs` is a list of
//! `name`/`value` pairs.

use std::fmt::Write as _;
use std::path::Path;

use atrest_backend::ApiServerSpec;

/// What the config is made of.
#[derive(Debug, Clone)]
pub(crate) struct KindConfig<'a> {
    /// The node image.
    pub(crate) image: &'a str,
    /// The host directory that stands for the cluster's `/` (the scenario's file tree).
    pub(crate) fs_root: &'a Path,
    /// The apiserver's flags and mounts.
    pub(crate) apiserver: &'a ApiServerSpec,
    /// The host port on 127.0.0.1 that reaches etcd's client port in the node.
    pub(crate) etcd_port: u16,
    /// etcd's image tag when the node image carries a different one than kubeadm would ask
    /// for (kubeadm would otherwise make the kubelet pull it).
    pub(crate) etcd_image_tag: Option<&'a str>,
}

/// One directory of the cluster's tree mounted into the node at its own path, and from there
/// into the apiserver at `mount_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    /// The directory in the cluster's tree (and in the node).
    pub(crate) host_path: String,
    /// Where the apiserver sees it.
    pub(crate) mount_path: String,
}

/// The apiserver's volumes: its declared `hostPath` mounts, or else the directory of its
/// configuration file at itself (kubeadm's `/etc/kubernetes/enc` layout).
pub(crate) fn volumes(spec: &ApiServerSpec) -> Vec<Volume> {
    match (&spec.mounts, &spec.encryption_config) {
        (Some(mounts), _) => mounts
            .iter()
            .map(|m| Volume {
                host_path: m.host_path.trim_end_matches('/').to_owned(),
                mount_path: m.mount_path.trim_end_matches('/').to_owned(),
            })
            .collect(),
        (None, Some(config)) => {
            let dir = config.rsplit_once('/').map_or("/", |(dir, _)| dir);
            let dir = if dir.is_empty() { "/" } else { dir };
            vec![Volume { host_path: dir.to_owned(), mount_path: dir.to_owned() }]
        }
        (None, None) => Vec::new(),
    }
}

/// A string as a YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl KindConfig<'_> {
    /// The config's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let volumes = volumes(self.apiserver);
        out.push_str("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n");
        out.push_str("networking:\n  disableDefaultCNI: true\n  kubeProxyMode: none\n");
        out.push_str("nodes:\n  - role: control-plane\n");
        let _ = writeln!(out, "    image: {}", quoted(self.image));
        if !volumes.is_empty() {
            out.push_str("    extraMounts:\n");
            for v in &volumes {
                let host = self.fs_root.join(v.host_path.trim_start_matches('/'));
                let _ = writeln!(out, "      - hostPath: {}", quoted(&host.to_string_lossy()));
                let _ = writeln!(out, "        containerPath: {}", quoted(&v.host_path));
                out.push_str("        readOnly: true\n");
            }
        }
        out.push_str("    extraPortMappings:\n      - containerPort: 2379\n");
        let _ = writeln!(out, "        hostPort: {}", self.etcd_port);
        out.push_str("        listenAddress: \"127.0.0.1\"\n        protocol: TCP\n");

        let mut patch = String::from(
            "kind: ClusterConfiguration\napiVersion: kubeadm.k8s.io/v1beta4\napiServer:\n",
        );
        let mut flags = Vec::new();
        if let Some(config) = &self.apiserver.encryption_config {
            flags.push(("encryption-provider-config", config.clone()));
        }
        if self.apiserver.automatic_reload {
            flags.push(("encryption-provider-config-automatic-reload", "true".to_owned()));
        }
        if !flags.is_empty() {
            patch.push_str("  extraArgs:\n");
            for (name, value) in &flags {
                let _ = writeln!(patch, "    - name: {name}\n      value: {}", quoted(value));
            }
        }
        if !volumes.is_empty() {
            patch.push_str("  extraVolumes:\n");
            for (n, v) in volumes.iter().enumerate() {
                let _ = writeln!(patch, "    - name: atrest-{n}");
                let _ = writeln!(patch, "      hostPath: {}", quoted(&v.host_path));
                let _ = writeln!(patch, "      mountPath: {}", quoted(&v.mount_path));
                patch.push_str("      readOnly: true\n      pathType: Directory\n");
            }
        }
        if let Some(tag) = self.etcd_image_tag {
            let _ = writeln!(patch, "etcd:\n  local:\n    imageTag: {}", quoted(tag));
        }
        // kubelet 1.37 refuses a cgroup v1 host unless told otherwise; on cgroup v2 the field
        // changes nothing.
        let kubelet = "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n\
                       failCgroupV1: false\n";
        out.push_str("kubeadmConfigPatches:\n");
        for doc in [patch.as_str(), kubelet] {
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

    /// The config for `spec` on image `img`, tree `/r`, no etcd tag.
    fn plain(spec: &ApiServerSpec) -> String {
        KindConfig {
            image: "img",
            fs_root: Path::new("/r"),
            apiserver: spec,
            etcd_port: 1,
            etcd_image_tag: None,
        }
        .render()
    }

    #[test]
    fn the_default_layout_mounts_the_configs_directory_at_itself() {
        let spec = ApiServerSpec::with_config("/etc/kubernetes/enc/encryption-config.yaml");
        let text = KindConfig {
            image: "kindest/node:v1.37.2",
            fs_root: Path::new("/tmp/atrest-kind-x/fs"),
            apiserver: &spec,
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
      - hostPath: "/tmp/atrest-kind-x/fs/etc/kubernetes/enc"
        containerPath: "/etc/kubernetes/enc"
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
    apiServer:
      extraArgs:
        - name: encryption-provider-config
          value: "/etc/kubernetes/enc/encryption-config.yaml"
      extraVolumes:
        - name: atrest-0
          hostPath: "/etc/kubernetes/enc"
          mountPath: "/etc/kubernetes/enc"
          readOnly: true
          pathType: Directory
    etcd:
      local:
        imageTag: "3.6.16-0"
  - |
    kind: KubeletConfiguration
    apiVersion: kubelet.config.k8s.io/v1beta1
    failCgroupV1: false
"#;
        assert_eq!(text, want);
    }

    #[test]
    fn declared_mounts_are_the_only_volumes() {
        let spec = ApiServerSpec {
            encryption_config: Some("/etc/kubernetes/enc/encryption-config.yaml".to_owned()),
            automatic_reload: true,
            mounts: Some(vec![HostPathMount {
                host_path: "/etc/kubernetes/encryption/".to_owned(),
                mount_path: "/etc/kubernetes/encryption".to_owned(),
            }]),
        };
        assert_eq!(
            volumes(&spec),
            vec![Volume {
                host_path: "/etc/kubernetes/encryption".to_owned(),
                mount_path: "/etc/kubernetes/encryption".to_owned()
            }]
        );
        let text = plain(&spec);
        assert!(text.contains("      - hostPath: \"/r/etc/kubernetes/encryption\"\n"), "{text}");
        assert!(
            text.contains(
                "- name: encryption-provider-config-automatic-reload\n          value: \"true\"\n"
            ),
            "{text}"
        );
        assert!(!text.contains("etcd:"), "{text}");
    }

    #[test]
    fn no_configuration_no_flag_and_no_volume() {
        let spec = ApiServerSpec::default();
        assert!(volumes(&spec).is_empty());
        let text = plain(&spec);
        assert!(!text.contains("extraArgs") && !text.contains("extraMounts"), "{text}");
    }
}
