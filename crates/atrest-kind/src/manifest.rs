//! The apiserver's static pod manifest: kubeadm's own, with the scenario's flags and volumes.
//!
//! kubeadm init runs without them (it needs an apiserver that starts, whatever the scenario's
//! first start does), and a scenario may change them between starts (`setFlags`), so every
//! start writes the manifest the kubelet reads: kubeadm's `kube-apiserver.yaml` as it wrote it,
//! with `--encryption-provider-config` (and `-automatic-reload`) appended to the container's
//! command and one `hostPath` volume per scenario volume, `atrest-<n>`, beside kubeadm's. This is
//! what `kubeadm init` itself writes for `extraArgs` and `extraVolumes` (kind's and kubeadm's
//! documented way), edited after the fact.
//!
//! Each start's manifest carries its number in the annotation [`START_ANNOTATION`]: the kubelet
//! names a static pod by a hash of its manifest (its UID is an MD5 of the decoded pod, the node
//! and the file's path: k8s.io/kubernetes pkg/kubelet/config/common.go), and a manifest moved back unchanged while the
//! kubelet is still tearing down its previous pod (volumes, sandbox) is that same pod to it,
//! restarted with the old one's crash-loop back-off or killed by the teardown (seen: "exited
//! with code 2" and no log). A new pod at every start is what editing the manifest gives.
//!
//! The result is JSON: the kubelet decodes a static pod file as YAML, of which JSON is a
//! subset, and JSON cannot change a value's type on the way (a string that looks like a number).

use serde_json::{Value, json};

use atrest_backend::ApiServerSpec;

use crate::KindError;
use crate::config::{self, Volume};

/// The container kubeadm names in the pod.
const CONTAINER: &str = "kube-apiserver";
/// The flags a scenario sets; kubeadm's own values of them (none by default) are replaced.
const FLAGS: [&str; 2] =
    ["--encryption-provider-config=", "--encryption-provider-config-automatic-reload="];
/// The prefix of the volumes a scenario adds.
const VOLUME_PREFIX: &str = "atrest-";
/// The annotation numbering the harness's starts of the apiserver.
pub(crate) const START_ANNOTATION: &str = "atrest.io/start";

fn malformed(what: impl Into<String>) -> KindError {
    KindError::Manifest(what.into())
}

/// kubeadm's manifest `kubeadm` with `spec`'s flags and volumes, for the harness's start number
/// `start`; also the volumes, so the caller can make their directories.
pub(crate) fn render(
    kubeadm: &str,
    spec: &ApiServerSpec,
    start: u64,
) -> Result<(String, Vec<Volume>), KindError> {
    let volumes = config::volumes(spec)?;
    let mut pod: Value = serde_saphyr::from_str(kubeadm)
        .map_err(|e| malformed(format!("kubeadm's kube-apiserver.yaml is not YAML: {e}")))?;
    pod.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| malformed("kubeadm's kube-apiserver.yaml has no metadata"))?
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| malformed("the pod's annotations are not a map"))?
        .insert(START_ANNOTATION.to_owned(), json!(start.to_string()));
    let pod_spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| malformed("kubeadm's kube-apiserver.yaml has no spec"))?;

    let container = pod_spec
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .and_then(|list| list.iter_mut().find(|c| c["name"] == CONTAINER))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            malformed(format!("kubeadm's kube-apiserver.yaml has no container {CONTAINER}"))
        })?;
    let command = container
        .get_mut("command")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| malformed("the kube-apiserver container has no command"))?;
    command.retain(|arg| !arg.as_str().is_some_and(|a| FLAGS.iter().any(|f| a.starts_with(f))));
    if let Some(path) = &spec.encryption_config {
        command.push(json!(format!("{}{path}", FLAGS[0])));
    }
    if spec.automatic_reload {
        command.push(json!(format!("{}true", FLAGS[1])));
    }

    let ours = |v: &Value| v["name"].as_str().is_some_and(|n| n.starts_with(VOLUME_PREFIX));
    let mounts =
        container.entry("volumeMounts").or_insert_with(|| json!([])).as_array_mut().ok_or_else(
            || malformed("the kube-apiserver container's volumeMounts is not a list"),
        )?;
    mounts.retain(|m| !ours(m));
    for (n, v) in volumes.iter().enumerate() {
        mounts.push(json!({
            "mountPath": v.mount_path,
            "name": format!("{VOLUME_PREFIX}{n}"),
            "readOnly": true,
        }));
    }
    let pod_volumes = pod_spec
        .entry("volumes")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| malformed("the pod's volumes is not a list"))?;
    pod_volumes.retain(|v| !ours(v));
    for (n, v) in volumes.iter().enumerate() {
        // The directory is made on the host before the start (the tree is read-only in the
        // node), so "OrCreate" never creates; it is kubeadm's type for its own volumes.
        pod_volumes.push(json!({
            "hostPath": {"path": v.node_path(), "type": "DirectoryOrCreate"},
            "name": format!("{VOLUME_PREFIX}{n}"),
        }));
    }
    let text = serde_json::to_string_pretty(&pod)
        .map_err(|e| malformed(format!("cannot write the manifest: {e}")))?;
    Ok((text + "\n", volumes))
}

#[cfg(test)]
mod tests {
    use atrest_backend::HostPathMount;

    use super::*;

    /// kubeadm 1.37.2's manifest in a kind v0.33 node (taken from one), shortened to the parts
    /// this module touches and one of each kind of the others.
    const KUBEADM: &str = "apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 172.19.0.2:6443
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=172.19.0.2
    - --etcd-servers=https://127.0.0.1:2379
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    - --runtime-config=
    image: registry.k8s.io/kube-apiserver:v1.37.2
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 172.19.0.2
        path: /livez
        port: probe-port
        scheme: HTTPS
    name: kube-apiserver
    resources:
      requests:
        cpu: 250m
    volumeMounts:
    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
status: {}
";

    fn mount(host_path: &str, mount_path: &str) -> HostPathMount {
        HostPathMount { host_path: host_path.to_owned(), mount_path: mount_path.to_owned() }
    }

    #[test]
    fn kubeadms_manifest_gets_the_flag_and_the_volume() {
        let spec = ApiServerSpec {
            automatic_reload: true,
            ..ApiServerSpec::with_config("/etc/kubernetes/enc/encryption-config.yaml")
        };
        let (text, volumes) = render(KUBEADM, &spec, 1).expect("renders");
        assert_eq!(volumes.len(), 1);
        let want = r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "annotations": {
      "atrest.io/start": "1",
      "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "172.19.0.2:6443"
    },
    "labels": {
      "component": "kube-apiserver",
      "tier": "control-plane"
    },
    "name": "kube-apiserver",
    "namespace": "kube-system"
  },
  "spec": {
    "containers": [
      {
        "command": [
          "kube-apiserver",
          "--advertise-address=172.19.0.2",
          "--etcd-servers=https://127.0.0.1:2379",
          "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
          "--runtime-config=",
          "--encryption-provider-config=/etc/kubernetes/enc/encryption-config.yaml",
          "--encryption-provider-config-automatic-reload=true"
        ],
        "image": "registry.k8s.io/kube-apiserver:v1.37.2",
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": {
          "failureThreshold": 8,
          "httpGet": {
            "host": "172.19.0.2",
            "path": "/livez",
            "port": "probe-port",
            "scheme": "HTTPS"
          }
        },
        "name": "kube-apiserver",
        "resources": {
          "requests": {
            "cpu": "250m"
          }
        },
        "volumeMounts": [
          {
            "mountPath": "/etc/ssl/certs",
            "name": "ca-certs",
            "readOnly": true
          },
          {
            "mountPath": "/etc/kubernetes/pki",
            "name": "k8s-certs",
            "readOnly": true
          },
          {
            "mountPath": "/etc/kubernetes/enc",
            "name": "atrest-0",
            "readOnly": true
          }
        ]
      }
    ],
    "hostNetwork": true,
    "priority": 2000001000,
    "priorityClassName": "system-node-critical",
    "volumes": [
      {
        "hostPath": {
          "path": "/etc/ssl/certs",
          "type": "DirectoryOrCreate"
        },
        "name": "ca-certs"
      },
      {
        "hostPath": {
          "path": "/etc/kubernetes/pki",
          "type": "DirectoryOrCreate"
        },
        "name": "k8s-certs"
      },
      {
        "hostPath": {
          "path": "/var/lib/atrest/fs/etc/kubernetes/enc",
          "type": "DirectoryOrCreate"
        },
        "name": "atrest-0"
      }
    ]
  },
  "status": {}
}
"#;
        assert_eq!(text, want);
    }

    #[test]
    fn a_second_render_replaces_the_first() {
        let first = ApiServerSpec {
            automatic_reload: true,
            ..ApiServerSpec::with_config("/etc/kubernetes/enc/encryption-config.yaml")
        };
        let (once, _) = render(KUBEADM, &first, 1).expect("renders");
        // wrong-path-mount: the flag outside every volume, kubeadm's two declared.
        let second = ApiServerSpec {
            mounts: Some(vec![
                mount("/etc/kubernetes/pki", "/etc/kubernetes/pki"),
                mount("/etc/ssl/certs", "/etc/ssl/certs"),
            ]),
            ..ApiServerSpec::with_config("/etc/kubernetes/encryption-config.yaml")
        };
        let (twice, volumes) = render(&once, &second, 2).expect("renders");
        assert!(volumes.is_empty());
        assert_eq!(twice, render(KUBEADM, &second, 2).expect("renders").0);
        // The same spec again is another pod to the kubelet.
        assert_ne!(twice, render(KUBEADM, &second, 3).expect("renders").0);
        let pod: Value = serde_json::from_str(&twice).expect("JSON");
        let command = pod["spec"]["containers"][0]["command"].as_array().expect("list");
        assert_eq!(
            command.last().and_then(Value::as_str),
            Some("--encryption-provider-config=/etc/kubernetes/encryption-config.yaml")
        );
        assert_eq!(command.len(), 6);
        assert_eq!(pod["spec"]["volumes"].as_array().map(Vec::len), Some(2));
        // No flag at all: kubeadm's command as it was.
        let (none, _) = render(&twice, &ApiServerSpec::default(), 4).expect("renders");
        let pod: Value = serde_json::from_str(&none).expect("JSON");
        assert_eq!(pod["spec"]["containers"][0]["command"].as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn what_is_not_kubeadms_manifest_is_an_error() {
        let spec = ApiServerSpec::default();
        for (text, says) in [
            ("a: [", "is not YAML"),
            ("kind: Pod\n", "has no metadata"),
            ("metadata: {}\n", "has no spec"),
            (
                "metadata: {}\nspec: {containers: [{name: etcd}]}\n",
                "has no container kube-apiserver",
            ),
            ("metadata: {}\nspec: {containers: [{name: kube-apiserver}]}\n", "has no command"),
        ] {
            let e = render(text, &spec, 1).expect_err(text);
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
