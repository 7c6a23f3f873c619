//! Checks against tests/data/objects.json, the output of the object-oracle Go program
//! (k8s.io/api, k8s.io/apimachinery, k8s.io/apiserver v0.37.2). See tests/data/README.md.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use atrest_objects::{
    Encoding, StoredObject, Time, TypeMeta, decode_stored, encode_configmap, encode_secret,
    to_json_value,
};
use serde::Deserialize;
use serde_json::Value;

use crate::cases::{self, Case};

#[derive(Deserialize)]
struct OracleFile {
    cases: Vec<OracleCase>,
    times: Vec<OracleTime>,
}

#[derive(Deserialize)]
struct OracleCase {
    name: String,
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    encoded_hex: String,
    stored_hex: Option<String>,
    raw_hex: Option<String>,
    json: Option<Value>,
}

#[derive(Deserialize)]
struct OracleTime {
    seconds: i64,
    json: Value,
}

static ORACLE: LazyLock<OracleFile> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../data/objects.json")).expect("objects.json parses")
});

fn oracle_case(name: &str) -> &'static OracleCase {
    ORACLE
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("oracle has no case {name:?}"))
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("oracle hex is valid")
}

fn encode_case(case: &Case) -> Vec<u8> {
    match case {
        Case::Secret(s) => encode_secret(s),
        Case::ConfigMap(c) => encode_configmap(c),
    }
}

/// Failure output as hex so a mismatch shows the first differing byte.
fn assert_bytes_eq(actual: &[u8], expected: &[u8], what: &str) {
    assert_eq!(hex::encode(actual), hex::encode(expected), "{what}");
}

#[test]
fn every_oracle_case_is_checked() {
    let mut covered: BTreeSet<&str> = cases::all().iter().map(|(n, _)| *n).collect();
    covered.extend(["deployment", "custom-resource"]);
    let in_file: BTreeSet<&str> = ORACLE.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(covered, in_file);
}

#[test]
fn encode_matches_upstream_bytes() {
    for (name, case) in cases::all() {
        let oracle = oracle_case(name);
        assert_bytes_eq(
            &encode_case(&case),
            &unhex(&oracle.encoded_hex),
            &format!("{name}: encoded"),
        );
    }
}

#[test]
fn prepare_for_storage_matches_upstream_stored_bytes() {
    for (name, mut case) in cases::all() {
        let oracle = oracle_case(name);
        match &mut case {
            Case::Secret(s) => s.metadata.prepare_for_storage(),
            Case::ConfigMap(c) => c.metadata.prepare_for_storage(),
        }
        let stored = oracle.stored_hex.as_deref().expect("stored_hex present");
        assert_bytes_eq(&encode_case(&case), &unhex(stored), &format!("{name}: stored"));
    }
}

#[test]
fn decode_gives_the_fields_back() {
    for (name, case) in cases::all() {
        let oracle = oracle_case(name);
        let decoded = decode_stored(&unhex(&oracle.encoded_hex)).expect("decodes");
        assert_eq!(decoded.encoding(), Encoding::Protobuf, "{name}");
        assert_eq!(decoded.type_meta(), TypeMeta::new(&oracle.api_version, &oracle.kind), "{name}");
        match (case, decoded) {
            (Case::Secret(expected), StoredObject::Secret(actual)) => {
                assert_eq!(actual, expected, "{name}");
            }
            (Case::ConfigMap(expected), StoredObject::ConfigMap(actual)) => {
                assert_eq!(actual, expected, "{name}");
            }
            (_, other) => panic!("{name}: decoded as {other:?}"),
        }
    }
}

#[test]
fn decode_then_encode_reproduces_upstream_bytes() {
    for (name, _) in cases::all() {
        let oracle = oracle_case(name);
        let stored = oracle.stored_hex.as_deref().expect("stored_hex present");
        for hex_bytes in [oracle.encoded_hex.as_str(), stored] {
            let bytes = unhex(hex_bytes);
            let again = match decode_stored(&bytes).expect("decodes") {
                StoredObject::Secret(s) => encode_secret(&s),
                StoredObject::ConfigMap(c) => encode_configmap(&c),
                other => panic!("{name}: decoded as {other:?}"),
            };
            assert_bytes_eq(&again, &bytes, name);
        }
    }
}

#[test]
fn json_rendering_matches_the_apiserver_json() {
    for (name, _) in cases::all() {
        let oracle = oracle_case(name);
        let decoded = decode_stored(&unhex(&oracle.encoded_hex)).expect("decodes");
        let expected = oracle.json.as_ref().expect("json present");
        assert_eq!(&to_json_value(&decoded), expected, "{name}");
    }
}

#[test]
fn other_builtin_kind_gives_type_meta_raw_and_metadata() {
    let oracle = oracle_case("deployment");
    let decoded = decode_stored(&unhex(&oracle.encoded_hex)).expect("decodes");
    let StoredObject::Protobuf(object) = &decoded else {
        panic!("decoded as {decoded:?}");
    };
    assert_eq!(object.type_meta, TypeMeta::new("apps/v1", "Deployment"));
    assert_eq!(object.raw, unhex(oracle.raw_hex.as_deref().expect("raw_hex")));
    assert_eq!(object.content_encoding, "");
    assert_eq!(object.content_type, "");

    // Rendering shows the envelope's type meta and the metadata; the rest needs the kind's
    // schema, which this crate does not model.
    let json = oracle.json.as_ref().expect("json present");
    let expected = serde_json::json!({
        "apiVersion": json["apiVersion"],
        "kind": json["kind"],
        "metadata": json["metadata"],
    });
    assert_eq!(to_json_value(&decoded), expected);
}

#[test]
fn custom_resource_json_is_returned_as_is() {
    let oracle = oracle_case("custom-resource");
    let bytes = unhex(&oracle.encoded_hex);
    let decoded = decode_stored(&bytes).expect("decodes");
    assert_eq!(decoded.encoding(), Encoding::Json);
    assert_eq!(decoded.type_meta(), TypeMeta::new(&oracle.api_version, &oracle.kind));
    let document: Value = serde_json::from_slice(&bytes).expect("oracle JSON parses");
    assert_eq!(to_json_value(&decoded), document);
}

#[test]
fn time_json_matches_metav1_time() {
    assert!(!ORACLE.times.is_empty());
    for t in &ORACLE.times {
        let time = Time::from_unix_seconds(t.seconds);
        let rendered = if time.is_zero() { Value::Null } else { Value::from(time.to_rfc3339()) };
        assert_eq!(rendered, t.json, "seconds {}", t.seconds);
    }
}

#[test]
fn truncated_upstream_bytes_are_errors() {
    let bytes = unhex(&oracle_case("secret-full").encoded_hex);
    // Layout: magic(4) 0x0a len typeMeta, 0x12 varint(len) raw, 0x1a 0x00, 0x22 0x00.
    let after_type_meta = 4 + 2 + usize::from(bytes[5]);
    let raw_end = bytes.len() - 4;
    assert_eq!(bytes[after_type_meta], 0x12, "raw tag where expected");
    for len in 4..raw_end {
        let result = decode_stored(&bytes[..len]);
        if len == after_type_meta {
            // A complete envelope with no raw field: Go's Unmarshal of empty raw is an empty
            // Secret, and so is ours.
            assert!(matches!(result, Ok(StoredObject::Secret(_))), "len {len}: {result:?}");
        } else {
            assert!(result.is_err(), "len {len} decoded: {result:?}");
        }
    }
}
