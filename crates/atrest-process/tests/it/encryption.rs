//! The real apiserver and atrest's model agree on stored bytes: what the apiserver writes,
//! atrest-transformers decrypts and atrest-objects decodes; what atrest writes, the apiserver
//! reads. And an encryption config change takes effect on restart, not before.
//!
//! Expected prefixes are upstream's (`k8s:enc:<provider>:v1:<key name>:`, and `k8s\0` for the
//! plaintext protobuf of identity; k8s.io/apimachinery pkg/runtime/serializer/protobuf).

use std::collections::BTreeMap;
use std::path::Path;

use atrest_config::load::{LoadOptions, load};
use atrest_config::resolve::GroupResource;
use atrest_objects::{ObjectMeta as StoredMeta, Secret as StoredSecret, StoredObject, Time};
use atrest_process::{ApiServerOptions, ControlPlane, InstanceDir};
use atrest_transformers::{KmsPlugins, ResourceTransformers};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;

use crate::{all_dead, assets};

/// 32 test-only key bytes per key name.
fn key_b64(name: &str) -> String {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = name.as_bytes()[i % name.len()] ^ (i as u8);
    }
    STANDARD.encode(bytes)
}

/// An EncryptionConfiguration for Secrets whose providers are `providers` in order, each
/// `(kind, key name)`; `identity` takes no key.
fn config(providers: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [\"secrets\"]\n    providers:\n",
    );
    for (kind, key) in providers {
        if *kind == "identity" {
            out.push_str("      - identity: {}\n");
        } else {
            out.push_str(&format!(
                "      - {kind}:\n          keys:\n            - name: {key}\n              secret: {}\n",
                key_b64(key)
            ));
        }
    }
    out
}

fn secret(name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        data: Some(data.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec()))).collect()),
        ..Secret::default()
    }
}

fn data_of(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

/// atrest's transformers for the config file at `path`.
fn transformers(path: &Path) -> ResourceTransformers {
    let text = path.to_string_lossy().into_owned();
    let loaded = load(&text, std::fs::read(path), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    ResourceTransformers::new(&loaded.plan, &KmsPlugins::new()).expect("build transformers")
}

fn secrets_gr() -> GroupResource {
    GroupResource { group: String::new(), resource: "secrets".to_owned() }
}

/// Decrypts and decodes a raw Secret value read from etcd at `key`.
fn decode(t: &ResourceTransformers, key: &str, raw: &[u8]) -> StoredSecret {
    let (plain, _stale) = t
        .for_resource(&secrets_gr())
        .from_storage(raw, key.as_bytes())
        .unwrap_or_else(|e| panic!("{key}: atrest cannot decrypt: {e}"));
    match atrest_objects::decode_stored(&plain) {
        Ok(StoredObject::Secret(s)) => s,
        other => panic!("{key}: not a stored Secret: {other:?}"),
    }
}

/// Starts a control plane whose apiserver reads `config_text` from a file in `dir`.
async fn plane_with(dir: &InstanceDir, config_text: &str) -> (ControlPlane, std::path::PathBuf) {
    let path = dir.path().join("encryption.yaml");
    std::fs::write(&path, config_text).expect("write config");
    let mut opts = ApiServerOptions::new("kube-apiserver");
    opts.encryption_config = Some(path.clone());
    let plane = ControlPlane::start(&assets(), vec![opts]).await.unwrap_or_else(|e| panic!("{e}"));
    (plane, path)
}

/// Both directions for one provider in one control plane.
async fn round_trip(kind: &str, want_prefix: &[u8]) {
    let dir = InstanceDir::new("encryption-test").expect("temp dir");
    let (plane, path) = plane_with(&dir, &config(&[(kind, "key1")])).await;
    let apiserver = plane.apiserver(0).expect("apiserver");
    let secrets: Api<Secret> = Api::namespaced(apiserver.client(), "default");
    let etcd = plane.etcd().raw().await.unwrap_or_else(|e| panic!("{e}"));
    let t = transformers(&path);

    // Apiserver writes, atrest reads.
    let data: &[(&str, &[u8])] = &[("password", b"s3cr3t-value"), ("bin", &[0, 1, 2, 255])];
    secrets
        .create(&PostParams::default(), &secret("written-by-apiserver", data))
        .await
        .expect("create");
    let key = "/registry/secrets/default/written-by-apiserver";
    let raw = etcd.get(key).await.expect("etcd get").expect("the key exists");
    assert!(
        raw.value.starts_with(want_prefix),
        "{kind}: stored value starts with {:?}",
        String::from_utf8_lossy(&raw.value[..raw.value.len().min(32)])
    );
    let stored = decode(&t, key, &raw.value);
    let want: BTreeMap<String, Vec<u8>> =
        data.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect();
    assert_eq!(stored.data, want, "{kind}: decoded data");
    assert_eq!(stored.metadata.name, "written-by-apiserver");
    assert_eq!(stored.metadata.namespace, "default");

    // atrest writes, the apiserver reads.
    let key = "/registry/secrets/default/written-by-atrest";
    let object = StoredSecret {
        metadata: StoredMeta {
            name: "written-by-atrest".to_owned(),
            namespace: "default".to_owned(),
            uid: "0b9d7d4e-4c4b-4d55-9b43-6a1c2f1e7a01".to_owned(),
            creation_timestamp: Time::from_unix_seconds(1_700_000_000),
            ..StoredMeta::default()
        },
        data: BTreeMap::from([("token".to_owned(), b"from-atrest".to_vec())]),
        type_: "Opaque".to_owned(),
        ..StoredSecret::default()
    };
    let plain = atrest_objects::encode_secret(&object);
    let value = t.for_resource(&secrets_gr()).to_storage(&plain, key.as_bytes()).expect("encrypt");
    assert!(value.starts_with(want_prefix));
    let revision = etcd.put(key, value).await.expect("etcd put");
    let got = secrets.get("written-by-atrest").await.expect("apiserver reads atrest's value");
    assert_eq!(data_of(&got), object.data, "{kind}: data read back through the apiserver");
    assert_eq!(got.metadata.uid.as_deref(), Some(object.metadata.uid.as_str()));
    assert_eq!(got.metadata.resource_version, Some(revision.to_string()));

    let pids = [plane.etcd().pid(), apiserver.pid()];
    plane.shutdown().await;
    all_dead(&pids);
}

#[tokio::test]
async fn identity_round_trip() {
    round_trip("identity", b"k8s\x00").await;
}

#[tokio::test]
async fn aescbc_round_trip() {
    round_trip("aescbc", b"k8s:enc:aescbc:v1:key1:").await;
}

#[tokio::test]
async fn aesgcm_round_trip() {
    round_trip("aesgcm", b"k8s:enc:aesgcm:v1:key1:").await;
}

#[tokio::test]
async fn secretbox_round_trip() {
    round_trip("secretbox", b"k8s:enc:secretbox:v1:key1:").await;
}

/// Without automatic reload, the file is read once at start: a change applies on restart.
#[tokio::test]
async fn config_changes_apply_on_restart_only() {
    let dir = InstanceDir::new("encryption-test").expect("temp dir");
    let (mut plane, path) = plane_with(&dir, &config(&[("aescbc", "old")])).await;
    let etcd = plane.etcd().raw().await.unwrap_or_else(|e| panic!("{e}"));
    let prefix_of = |name: &'static str| {
        let etcd = etcd.clone();
        async move {
            let raw = etcd
                .get(&format!("/registry/secrets/default/{name}"))
                .await
                .expect("etcd get")
                .expect("exists");
            let end = raw.value.iter().enumerate().filter(|(_, b)| **b == b':').nth(4);
            String::from_utf8_lossy(&raw.value[..end.map_or(0, |(i, _)| i + 1)]).into_owned()
        }
    };
    let create = |client: kube::Client, name: &'static str| async move {
        let secrets: Api<Secret> = Api::namespaced(client, "default");
        secrets
            .create(&PostParams::default(), &secret(name, &[("k", b"v")]))
            .await
            .expect("create");
    };

    let apiserver = plane.apiserver_mut(0).expect("apiserver");
    create(apiserver.client(), "first").await;
    assert_eq!(prefix_of("first").await, "k8s:enc:aescbc:v1:old:");

    // New first provider; the old key stays so old data remains readable.
    std::fs::write(&path, config(&[("secretbox", "new"), ("aescbc", "old")])).expect("rewrite");
    create(apiserver.client(), "second").await;
    assert_eq!(prefix_of("second").await, "k8s:enc:aescbc:v1:old:", "changed without restart");

    apiserver.restart().await.unwrap_or_else(|e| panic!("{e}"));
    create(apiserver.client(), "third").await;
    assert_eq!(prefix_of("third").await, "k8s:enc:secretbox:v1:new:", "after restart");
    // The old value is still readable, through the apiserver and through atrest.
    let secrets: Api<Secret> = Api::namespaced(apiserver.client(), "default");
    assert_eq!(data_of(&secrets.get("first").await.expect("get first"))["k"], b"v");
    let t = transformers(&path);
    for name in ["first", "second", "third"] {
        let key = format!("/registry/secrets/default/{name}");
        let raw = etcd.get(&key).await.expect("get").expect("exists");
        assert_eq!(decode(&t, &key, &raw.value).data["k"], b"v");
    }
    plane.shutdown().await;
}
