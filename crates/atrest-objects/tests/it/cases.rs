//! The oracle's Secrets and ConfigMaps, rebuilt independently in Rust.
//!
//! Each function mirrors the Go function of the same name in
//! xtask/go/oracle/cmd/object-oracle/main.go. Go's `metav1.NewTime(time.Unix(s, n))` becomes
//! `Time::from_unix_seconds(s)`: storage drops the nanoseconds (time_proto.go).

use std::collections::BTreeMap;

use atrest_objects::{
    ConfigMap, FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Secret, Time,
};

pub(crate) enum Case {
    Secret(Secret),
    ConfigMap(ConfigMap),
}

/// Every Secret/ConfigMap case the oracle prints, by name.
pub(crate) fn all() -> Vec<(&'static str, Case)> {
    vec![
        ("secret-full", Case::Secret(secret_full())),
        ("secret-minimal", Case::Secret(secret_minimal())),
        ("secret-extras", Case::Secret(secret_extras())),
        ("secret-edges", Case::Secret(secret_edges())),
        ("configmap-full", Case::ConfigMap(configmap_full())),
        ("configmap-minimal", Case::ConfigMap(configmap_minimal())),
    ]
}

fn s(v: &str) -> String {
    v.to_owned()
}

pub(crate) fn large_value() -> Vec<u8> {
    (0..20000u32).map(|i| ((i * 7 + 3) % 256) as u8).collect()
}

fn secret_full() -> Secret {
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: s("db-credentials"),
            namespace: s("default"),
            uid: s("4f6c1e2a-8d3b-4c1e-9a7f-2b5d6e8f0a1c"),
            resource_version: s("12345"),
            creation_timestamp: Time::from_unix_seconds(1_700_000_000),
            managed_fields: vec![ManagedFieldsEntry {
                manager: s("kubectl-client-side-apply"),
                operation: s("Update"),
                api_version: s("v1"),
                time: Some(Time::from_unix_seconds(1_700_000_000)),
                fields_type: s("FieldsV1"),
                fields_v1: Some(FieldsV1 {
                    raw: br#"{"f:data":{".":{},"f:password":{},"f:username":{}},"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:type":{}}"#.to_vec(),
                }),
                subresource: String::new(),
            }],
            ..ObjectMeta::default()
        },
        type_: s("Opaque"),
        immutable: Some(true),
        ..Secret::default()
    };
    // Same unsorted insertion order as the Go case.
    let labels = &mut secret.metadata.labels;
    labels.insert(s("tier"), s("backend"));
    labels.insert(s("app"), s("db"));
    labels.insert(s("a-empty"), String::new());
    let annotations = &mut secret.metadata.annotations;
    annotations.insert(s("note"), s("rotated"));
    annotations.insert(
        s("kubectl.kubernetes.io/last-applied-configuration"),
        s(r#"{"apiVersion":"v1","kind":"Secret"}"#),
    );
    secret.data.insert(s("username"), b"admin".to_vec());
    secret.data.insert(s("password"), b"s3cr3t-p@ss".to_vec());
    secret.data.insert(s("Z-upper"), b"upper case sorts first".to_vec());
    secret.data.insert(s("empty"), Vec::new());
    secret.data.insert(s(".dotfile"), vec![0x00, 0xff, 0x10]);
    secret
}

fn secret_minimal() -> Secret {
    Secret {
        metadata: ObjectMeta { name: s("s1"), namespace: s("default"), ..ObjectMeta::default() },
        data: BTreeMap::from([(s("k"), b"v".to_vec())]),
        ..Secret::default()
    }
}

fn secret_extras() -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: s("tls-cert"),
            generate_name: s("tls-"),
            namespace: s("kube-system"),
            self_link: s("/api/v1/namespaces/kube-system/secrets/tls-cert"),
            uid: s("00000000-0000-0000-0000-000000000001"),
            resource_version: s("9"),
            generation: 3,
            creation_timestamp: Time::from_unix_seconds(0),
            deletion_timestamp: Some(Time::from_unix_seconds(1_800_000_000)),
            deletion_grace_period_seconds: Some(30),
            owner_references: vec![
                OwnerReference {
                    api_version: s("apps/v1"),
                    kind: s("Deployment"),
                    name: s("web"),
                    uid: s("11111111-2222-3333-4444-555555555555"),
                    controller: Some(true),
                    block_owner_deletion: Some(false),
                },
                OwnerReference {
                    api_version: s("v1"),
                    kind: s("ConfigMap"),
                    name: s("cfg"),
                    uid: s("66666666-7777-8888-9999-000000000000"),
                    controller: None,
                    block_owner_deletion: None,
                },
            ],
            finalizers: vec![s("kubernetes"), s("example.com/cleanup")],
            managed_fields: vec![ManagedFieldsEntry {
                manager: s("controller"),
                operation: s("Apply"),
                api_version: s("v1"),
                subresource: s("status"),
                ..ManagedFieldsEntry::default()
            }],
            ..ObjectMeta::default()
        },
        data: BTreeMap::from([
            (s("tls.key"), large_value()),
            (
                s("tls.crt"),
                b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
            ),
        ]),
        string_data: BTreeMap::from([(s("b"), s("2")), (s("a"), s("1"))]),
        type_: s("kubernetes.io/tls"),
        immutable: Some(false),
    }
}

fn secret_edges() -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: s("edges"),
            generation: -5,
            deletion_timestamp: Some(Time::ZERO),
            deletion_grace_period_seconds: Some(0),
            labels: BTreeMap::from([(String::new(), s("empty-key"))]),
            managed_fields: vec![
                ManagedFieldsEntry {
                    manager: s("m"),
                    time: Some(Time::ZERO),
                    fields_v1: Some(FieldsV1::default()),
                    ..ManagedFieldsEntry::default()
                },
                ManagedFieldsEntry {
                    time: Some(Time::from_unix_seconds(-1)),
                    ..ManagedFieldsEntry::default()
                },
            ],
            ..ObjectMeta::default()
        },
        data: BTreeMap::from([(String::new(), b"empty key".to_vec())]),
        type_: s("kubernetes.io/service-account-token"),
        ..Secret::default()
    }
}

fn configmap_full() -> ConfigMap {
    let mut cm = ConfigMap {
        metadata: ObjectMeta {
            name: s("game-config"),
            namespace: s("apps"),
            uid: s("a1b2c3d4-e5f6-4789-abcd-ef0123456789"),
            resource_version: s("777"),
            creation_timestamp: Time::from_unix_seconds(1_650_000_000),
            labels: BTreeMap::from([
                (s("z"), s("last")),
                (s("app.kubernetes.io/name"), s("game")),
            ]),
            annotations: BTreeMap::from([(s("description"), s("ünïcödé ✓"))]),
            managed_fields: vec![ManagedFieldsEntry {
                manager: s("kubectl-create"),
                operation: s("Update"),
                api_version: s("v1"),
                time: Some(Time::from_unix_seconds(1_650_000_000)),
                fields_type: s("FieldsV1"),
                fields_v1: Some(FieldsV1 {
                    raw: br#"{"f:binaryData":{".":{},"f:blob":{}},"f:data":{".":{},"f:game.properties":{}}}"#.to_vec(),
                }),
                subresource: String::new(),
            }],
            ..ObjectMeta::default()
        },
        immutable: Some(true),
        ..ConfigMap::default()
    };
    cm.data.insert(s("ui.properties"), s("color.good=purple\ncolor.bad=yellow\n"));
    cm.data.insert(s("game.properties"), s("enemies=aliens\nlives=3\n"));
    cm.data.insert(s("empty"), String::new());
    cm.binary_data.insert(s("blob"), vec![0x00, 0x01, 0x02, 0xfe, 0xff]);
    cm.binary_data.insert(s("empty-bin"), Vec::new());
    cm
}

fn configmap_minimal() -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta { name: s("empty"), namespace: s("default"), ..ObjectMeta::default() },
        ..ConfigMap::default()
    }
}
