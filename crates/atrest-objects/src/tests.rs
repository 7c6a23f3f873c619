use std::collections::BTreeMap;

use prost::Message;

use super::*;

/// A Secret whose values must never show up in Debug or error output.
fn secret_with_values() -> Secret {
    let mut secret = Secret {
        data: BTreeMap::from([("password".to_owned(), b"hunter2-value".to_vec())]),
        string_data: BTreeMap::from([("token".to_owned(), "abc-secret-token".to_owned())]),
        type_: "Opaque".to_owned(),
        ..Secret::default()
    };
    secret.metadata.name = "creds".to_owned();
    secret.metadata.annotations.insert(
        LAST_APPLIED_ANNOTATION.to_owned(),
        r#"{"data":{"password":"aHVudGVyMi12YWx1ZQ=="}}"#.to_owned(),
    );
    secret.metadata.annotations.insert("note".to_owned(), "visible".to_owned());
    secret
}

fn assert_no_secret_values(text: &str) {
    for needle in ["hunter2", "aHVudGVy", "abc-secret-token"] {
        assert!(!text.contains(needle), "{needle:?} leaked into {text}");
    }
}

/// `k8s\x00` + an envelope naming `api_version`/`kind` around `raw`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let unknown = wire::Unknown {
        type_meta: Some(wire::TypeMeta {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
        }),
        raw: Some(raw.to_vec()),
        content_encoding: None,
        content_type: None,
    };
    let mut out = PROTOBUF_MAGIC.to_vec();
    out.extend_from_slice(&unknown.encode_to_vec());
    out
}

#[test]
fn secret_debug_prints_keys_and_sizes_only() {
    let secret = secret_with_values();
    let debug = format!("{secret:?}");
    assert_no_secret_values(&debug);
    assert!(debug.contains(r#""password": <13 bytes>"#), "{debug}");
    assert!(debug.contains(r#""token": <16 bytes>"#), "{debug}");
    assert!(debug.contains(r#""note": "visible""#), "{debug}");
    assert!(debug.contains("<redacted, 44 bytes>"), "{debug}");

    let stored = decode_stored(&encode_secret(&secret)).expect("decodes");
    assert_no_secret_values(&format!("{stored:?}"));
    assert_no_secret_values(&format!("{stored:#?}"));
}

#[test]
fn wire_debug_prints_sizes_only() {
    let bytes = encode_secret(&secret_with_values());
    let unknown = wire::Unknown::decode(&bytes[4..]).expect("envelope decodes");
    assert_no_secret_values(&format!("{unknown:?}"));
    let raw = unknown.raw.expect("raw present");
    let wire_secret = wire::Secret::decode(raw.as_slice()).expect("body decodes");
    let debug = format!("{wire_secret:?}");
    assert_no_secret_values(&debug);
    assert!(debug.contains("<13 bytes>"), "{debug}");
}

#[test]
fn other_objects_debug_without_contents() {
    let bytes = envelope("v1", "Pod", b"\x12\x05hello");
    let object = decode_stored(&bytes).expect("decodes");
    let debug = format!("{object:?}");
    assert!(debug.contains("<7 bytes>"), "{debug}");
    assert!(!debug.contains("hello"), "{debug}");

    let json = br#"{"apiVersion":"x/v1","kind":"Creds","spec":{"password":"hunter2"}}"#;
    let object = decode_stored(json).expect("decodes");
    let debug = format!("{object:?}");
    assert!(debug.contains(r#""spec""#), "{debug}");
    assert_no_secret_values(&debug);
}

#[test]
fn configmap_debug_shows_values() {
    let cm = ConfigMap {
        data: BTreeMap::from([("k".to_owned(), "plain value".to_owned())]),
        ..ConfigMap::default()
    };
    assert!(format!("{cm:?}").contains("plain value"));
}

#[test]
fn decode_errors() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "stored object is empty"),
        (b"k8s\x00", "stored object has the k8s\\x00 magic but an empty body"),
        (
            b"k8s:enc:aescbc:v1:key1:\x01\x02\x03",
            r#"stored object is encrypted (prefix "k8s:enc:aescbc:v1:key1:"); decrypt it before decoding"#,
        ),
        (
            b"k8s:enc:kms:v2:\x00\xff",
            r#"stored object is encrypted (prefix "k8s:enc:"); decrypt it before decoding"#,
        ),
        (
            b"k8s",
            "stored object is neither protobuf (k8s\\x00 magic) nor JSON; 3 bytes starting with 0x6b",
        ),
        (
            b"\xff\xfe{}",
            "stored object is neither protobuf (k8s\\x00 magic) nor JSON; 4 bytes starting with 0xff",
        ),
        (b"k8s\x00\x0a\x05ab", "invalid runtime.Unknown envelope after the k8s\\x00 magic"),
        (b"{\"kind\":", "invalid JSON stored object"),
        (b"{\"kind\":5}", r#"JSON stored object has a non-string "kind" or is not an object"#),
    ];
    for (input, message) in cases {
        let err = decode_stored(input).expect_err("input is invalid");
        assert_eq!(err.to_string(), message, "{input:?}");
    }
}

#[test]
fn invalid_secret_body_names_the_kind_without_contents() {
    // Field 2 (data) claims 200 bytes but the body ends: a truncated Secret.
    let bytes = envelope("v1", "Secret", b"\x12\xc8\x01hunter2");
    let err = decode_stored(&bytes).expect_err("truncated body");
    assert_eq!(err.to_string(), "invalid Secret body in a v1 protobuf envelope");
    let chain = std::error::Error::source(&err).expect("has a source").to_string();
    assert_no_secret_values(&chain);
}

#[test]
fn json_detection_follows_is_json_buffer() {
    // Unicode white space before `{` is skipped, as Go's unicode.IsSpace.
    let object = decode_stored(" \n\t\u{2003}{\"apiVersion\":\"a/v1\",\"kind\":\"K\"}".as_bytes());
    // serde_json itself rejects the non-ASCII white space, as Go's json.Unmarshal does.
    assert!(matches!(object, Err(ObjectError::Json { .. })), "{object:?}");

    let object = decode_stored(b" \r\n{\"APIVERSION\":\"a/v1\",\"Kind\":null}\n").expect("decodes");
    assert_eq!(object.type_meta(), TypeMeta::new("a/v1", ""));
    assert_eq!(object.encoding(), Encoding::Json);
    assert!(object.metadata().is_none());

    let err = decode_stored(b"[1]").expect_err("not an object");
    assert!(matches!(err, ObjectError::UnrecognizedEncoding { .. }), "{err:?}");
}

#[test]
fn other_protobuf_kind_without_metadata() {
    // Field 1 is a varint, so it cannot be ObjectMeta: metadata is None, the object still decodes.
    let object = decode_stored(&envelope("apps/v1", "Thing", b"\x08\x01")).expect("decodes");
    assert_eq!(object.type_meta(), TypeMeta::new("apps/v1", "Thing"));
    assert!(object.metadata().is_none());
    assert_eq!(
        to_json_value(&object),
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Thing"})
    );
}

#[test]
fn prepare_for_storage_clears_rv_and_self_link_only() {
    let mut meta = ObjectMeta {
        name: "n".to_owned(),
        uid: "u".to_owned(),
        resource_version: "42".to_owned(),
        self_link: "/api/v1/x".to_owned(),
        ..ObjectMeta::default()
    };
    meta.prepare_for_storage();
    assert_eq!(
        meta,
        ObjectMeta { name: "n".to_owned(), uid: "u".to_owned(), ..ObjectMeta::default() }
    );
}

#[test]
fn time_default_is_go_zero_and_extremes_render() {
    assert!(Time::default().is_zero());
    assert!(!Time::from_unix_seconds(0).is_zero());
    // No overflow at the ends of the range (Go itself cannot represent these).
    assert!(Time::from_unix_seconds(i64::MAX).to_rfc3339().ends_with('Z'));
    assert!(Time::from_unix_seconds(i64::MIN).to_rfc3339().starts_with('-'));
}

#[test]
fn non_json_fields_v1_renders_as_a_description() {
    let mut secret = Secret::default();
    secret.metadata.managed_fields.push(ManagedFieldsEntry {
        fields_v1: Some(FieldsV1 { raw: vec![0xa1, 0x01] }),
        ..ManagedFieldsEntry::default()
    });
    let json = to_json_value(&StoredObject::Secret(secret));
    assert_eq!(
        json["metadata"]["managedFields"][0]["fieldsV1"],
        serde_json::json!("<2 bytes of non-JSON fieldsV1>")
    );
}
