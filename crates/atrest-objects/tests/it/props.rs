//! Property tests: no input panics the decoder, and encode → decode → encode is the identity.

use std::collections::BTreeMap;

use atrest_objects::{
    ConfigMap, FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, PROTOBUF_MAGIC, Secret,
    StoredObject, Time, decode_stored, encode_configmap, encode_secret, to_json_value,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Mostly short ASCII, sometimes any Unicode, sometimes empty.
    prop_oneof![
        4 => "[a-zA-Z0-9._/-]{0,12}",
        1 => any::<String>(),
    ]
}

fn time() -> impl Strategy<Value = Time> {
    prop_oneof![
        1 => Just(Time::ZERO),
        4 => (-100_000_000_000i64..300_000_000_000).prop_map(Time::from_unix_seconds),
        1 => any::<i64>().prop_map(Time::from_unix_seconds),
    ]
}

fn owner_reference() -> impl Strategy<Value = OwnerReference> {
    (text(), text(), text(), text(), any::<Option<bool>>(), any::<Option<bool>>()).prop_map(
        |(api_version, kind, name, uid, controller, block_owner_deletion)| OwnerReference {
            api_version,
            kind,
            name,
            uid,
            controller,
            block_owner_deletion,
        },
    )
}

fn managed_fields_entry() -> impl Strategy<Value = ManagedFieldsEntry> {
    (
        text(),
        text(),
        text(),
        proptest::option::of(time()),
        text(),
        proptest::option::of(vec(any::<u8>(), 0..40).prop_map(|raw| FieldsV1 { raw })),
        text(),
    )
        .prop_map(
            |(manager, operation, api_version, time, fields_type, fields_v1, subresource)| {
                ManagedFieldsEntry {
                    manager,
                    operation,
                    api_version,
                    time,
                    fields_type,
                    fields_v1,
                    subresource,
                }
            },
        )
}

fn object_meta() -> impl Strategy<Value = ObjectMeta> {
    (
        (text(), text(), text(), text(), text(), text(), any::<i64>()),
        (
            time(),
            proptest::option::of(time()),
            any::<Option<i64>>(),
            btree_map(text(), text(), 0..4),
            btree_map(text(), text(), 0..4),
        ),
        (vec(owner_reference(), 0..3), vec(text(), 0..3), vec(managed_fields_entry(), 0..3)),
    )
        .prop_map(
            |(
                (name, generate_name, namespace, self_link, uid, resource_version, generation),
                (
                    creation_timestamp,
                    deletion_timestamp,
                    deletion_grace_period_seconds,
                    labels,
                    annotations,
                ),
                (owner_references, finalizers, managed_fields),
            )| ObjectMeta {
                name,
                generate_name,
                namespace,
                self_link,
                uid,
                resource_version,
                generation,
                creation_timestamp,
                deletion_timestamp,
                deletion_grace_period_seconds,
                labels,
                annotations,
                owner_references,
                finalizers,
                managed_fields,
            },
        )
}

fn bytes_map() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    btree_map(text(), vec(any::<u8>(), 0..64), 0..6)
}

fn secret() -> impl Strategy<Value = Secret> {
    (object_meta(), bytes_map(), text(), btree_map(text(), text(), 0..3), any::<Option<bool>>())
        .prop_map(|(metadata, data, type_, string_data, immutable)| Secret {
            metadata,
            data,
            type_,
            string_data,
            immutable,
        })
}

fn configmap() -> impl Strategy<Value = ConfigMap> {
    (object_meta(), btree_map(text(), text(), 0..6), bytes_map(), any::<Option<bool>>()).prop_map(
        |(metadata, data, binary_data, immutable)| ConfigMap {
            metadata,
            data,
            binary_data,
            immutable,
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        if let Ok(object) = decode_stored(&data) {
            let _ = to_json_value(&object);
        }
    }

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(body in vec(any::<u8>(), 0..512)) {
        let mut data = PROTOBUF_MAGIC.to_vec();
        data.extend_from_slice(&body);
        if let Ok(object) = decode_stored(&data) {
            let _ = to_json_value(&object);
        }
    }

    #[test]
    fn mutated_secrets_never_panic(
        s in secret(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = encode_secret(&s);
        for (index, byte) in flips {
            let i = index.index(data.len());
            data[i] ^= byte;
        }
        data.truncate(cut.index(data.len() + 1));
        if let Ok(object) = decode_stored(&data) {
            let _ = to_json_value(&object);
        }
    }

    #[test]
    fn secret_roundtrip(s in secret()) {
        let bytes = encode_secret(&s);
        prop_assert_eq!(&bytes[..4], &PROTOBUF_MAGIC[..]);
        match decode_stored(&bytes) {
            Ok(StoredObject::Secret(back)) => {
                prop_assert_eq!(&back, &s);
                prop_assert_eq!(encode_secret(&back), bytes);
            }
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }

    #[test]
    fn configmap_roundtrip(c in configmap()) {
        let bytes = encode_configmap(&c);
        match decode_stored(&bytes) {
            Ok(StoredObject::ConfigMap(back)) => {
                prop_assert_eq!(&back, &c);
                prop_assert_eq!(encode_configmap(&back), bytes);
            }
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }
}
