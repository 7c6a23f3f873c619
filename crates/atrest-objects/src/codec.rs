//! Encoding and decoding stored values.
//!
//! Mirrors k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go (`Serializer.Decode`,
//! `Serializer.doEncode`), pkg/runtime/types_proto.go (`Unknown.NestedMarshalTo`) and the gogo
//! generated marshalers in k8s.io/api core/v1/generated.pb.go and k8s.io/apimachinery
//! pkg/apis/meta/v1/generated.pb.go, time_proto.go, fieldsv1.go.
//!
//! What the Go marshalers do, and how it is reproduced through [`crate::wire`]:
//! - fields go out in field-number order (prost-derive sorts by tag);
//! - non-pointer fields are always written, even empty (`Some` on every such wire field);
//! - pointer fields (`immutable`, `deletionTimestamp`, ...) only when non-nil (`Option`);
//! - map entries are sorted by key and always carry key and value (repeated entry messages);
//! - a zero `metav1.Time` is an empty message, any other is `{seconds, nanos: 0}`;
//! - `FieldsV1.Raw` is written only when non-empty;
//! - the envelope is `runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}`
//!   with all four fields written, after the magic `k8s\x00`.

use std::collections::BTreeMap;

use prost::Message;

use crate::error::ObjectError;
use crate::model::{
    ConfigMap, FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Secret, Time, TypeMeta,
};
use crate::stored::{JsonObject, ProtobufObject, StoredObject};
use crate::wire;

/// The 4-byte magic before a protobuf-encoded object: `k8s\x00`.
///
/// Mirrors k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go `protoEncodingPrefix`.
pub const PROTOBUF_MAGIC: [u8; 4] = *b"k8s\x00";

/// The prefix every encrypted value starts with (k8s.io/apiserver pkg/storage/value/encrypt/identity/identity.go `encryptedPrefix`).
const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// Decodes one stored value: the plaintext of an etcd value (after decryption, if any).
///
/// `k8s\x00` + `runtime.Unknown` gives [`StoredObject::Secret`] or [`StoredObject::ConfigMap`]
/// for `v1` Secrets and ConfigMaps and [`StoredObject::Protobuf`] for other kinds; JSON (first
/// non-whitespace byte `{`, as upstream's `utilyaml.IsJSONBuffer`) gives [`StoredObject::Json`].
/// Never panics; every malformed input is an [`ObjectError`].
///
/// Differences from Go: protobuf `string` fields must be valid UTF-8 here (Go accepts any
/// bytes), and a JSON `apiVersion`/`kind` key matches case-insensitively only in ASCII.
pub fn decode_stored(data: &[u8]) -> Result<StoredObject, ObjectError> {
    if data.is_empty() {
        return Err(ObjectError::Empty);
    }
    if let Some(body) = data.strip_prefix(&PROTOBUF_MAGIC[..]) {
        if body.is_empty() {
            return Err(ObjectError::EmptyBody);
        }
        return decode_protobuf(body);
    }
    if data.starts_with(ENCRYPTED_PREFIX) {
        return Err(ObjectError::Encrypted { prefix: encrypted_prefix(data) });
    }
    if is_json_buffer(data) {
        return decode_json(data);
    }
    Err(ObjectError::UnrecognizedEncoding { first_byte: data[0], len: data.len() })
}

/// Encodes a Secret exactly as kube-apiserver's storage codec does: `k8s\x00` +
/// `runtime.Unknown{typeMeta: {v1, Secret}, raw: <Secret>, "", ""}`.
///
/// The object is written as given. kube-apiserver clears `resourceVersion` and `selfLink`
/// before every write (see [`ObjectMeta::prepare_for_storage`]); call that first to get the
/// bytes etcd holds.
pub fn encode_secret(secret: &Secret) -> Vec<u8> {
    let body = wire::Secret {
        metadata: Some(meta_to_wire(&secret.metadata)),
        data: bytes_entries(&secret.data),
        r#type: Some(secret.type_.clone()),
        string_data: string_entries(&secret.string_data),
        immutable: secret.immutable,
    };
    envelope(&Secret::type_meta(), body.encode_to_vec())
}

/// Encodes a ConfigMap exactly as kube-apiserver's storage codec does: `k8s\x00` +
/// `runtime.Unknown{typeMeta: {v1, ConfigMap}, raw: <ConfigMap>, "", ""}`.
///
/// As with [`encode_secret`], call [`ObjectMeta::prepare_for_storage`] first for the stored form.
pub fn encode_configmap(config_map: &ConfigMap) -> Vec<u8> {
    let body = wire::ConfigMap {
        metadata: Some(meta_to_wire(&config_map.metadata)),
        data: string_entries(&config_map.data),
        binary_data: bytes_entries(&config_map.binary_data),
        immutable: config_map.immutable,
    };
    envelope(&ConfigMap::type_meta(), body.encode_to_vec())
}

/// Mirrors `Serializer.doEncode` + `Unknown.NestedMarshalTo`: all four envelope fields are
/// written, the two content fields as empty strings.
fn envelope(type_meta: &TypeMeta, raw: Vec<u8>) -> Vec<u8> {
    let unknown = wire::Unknown {
        type_meta: Some(wire::TypeMeta {
            api_version: Some(type_meta.api_version.clone()),
            kind: Some(type_meta.kind.clone()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = Vec::with_capacity(PROTOBUF_MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(&PROTOBUF_MAGIC);
    out.extend_from_slice(&unknown.encode_to_vec());
    out
}

fn decode_protobuf(body: &[u8]) -> Result<StoredObject, ObjectError> {
    let unknown = wire::Unknown::decode(body).map_err(|source| ObjectError::Envelope { source })?;
    let wire_type_meta = unknown.type_meta.unwrap_or_default();
    let type_meta = TypeMeta {
        api_version: wire_type_meta.api_version.unwrap_or_default(),
        kind: wire_type_meta.kind.unwrap_or_default(),
    };
    let raw = unknown.raw.unwrap_or_default();
    let body_error = |source| ObjectError::Body {
        api_version: type_meta.api_version.clone(),
        kind: type_meta.kind.clone(),
        source,
    };
    match (type_meta.api_version.as_str(), type_meta.kind.as_str()) {
        ("v1", "Secret") => {
            let w = wire::Secret::decode(raw.as_slice()).map_err(body_error)?;
            Ok(StoredObject::Secret(Secret {
                metadata: meta_from_wire(w.metadata.unwrap_or_default()),
                data: bytes_map(w.data),
                type_: w.r#type.unwrap_or_default(),
                string_data: string_map(w.string_data),
                immutable: w.immutable,
            }))
        }
        ("v1", "ConfigMap") => {
            let w = wire::ConfigMap::decode(raw.as_slice()).map_err(body_error)?;
            Ok(StoredObject::ConfigMap(ConfigMap {
                metadata: meta_from_wire(w.metadata.unwrap_or_default()),
                data: string_map(w.data),
                binary_data: bytes_map(w.binary_data),
                immutable: w.immutable,
            }))
        }
        _ => {
            // Best effort: a kind we do not model still has ObjectMeta at field 1.
            let metadata = wire::PartialObjectMetadata::decode(raw.as_slice())
                .ok()
                .and_then(|p| p.metadata)
                .map(meta_from_wire);
            Ok(StoredObject::Protobuf(ProtobufObject {
                type_meta,
                raw,
                content_encoding: unknown.content_encoding.unwrap_or_default(),
                content_type: unknown.content_type.unwrap_or_default(),
                metadata,
            }))
        }
    }
}

fn decode_json(data: &[u8]) -> Result<StoredObject, ObjectError> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|source| ObjectError::Json { source })?;
    let Some(object) = value.as_object() else {
        return Err(ObjectError::JsonTypeMeta { field: "<top level>" });
    };
    let type_meta = TypeMeta {
        api_version: json_type_meta_field(object, "apiVersion")?,
        kind: json_type_meta_field(object, "kind")?,
    };
    Ok(StoredObject::Json(JsonObject { type_meta, value }))
}

/// Mirrors `json.SimpleMetaFactory.Interpret`, which unmarshals into a struct with Go's
/// `encoding/json`: exact key first, then a case-insensitive match; `null` leaves it empty.
fn json_type_meta_field(
    object: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<String, ObjectError> {
    let value = object
        .get(field)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v));
    match value {
        None | Some(serde_json::Value::Null) => Ok(String::new()),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ObjectError::JsonTypeMeta { field }),
    }
}

/// Mirrors k8s.io/apimachinery pkg/util/yaml/decoder.go `IsJSONBuffer`: `{` after any Unicode
/// white space (Go's `unicode.IsSpace` is the Unicode `White_Space` property, as
/// `char::is_whitespace`).
fn is_json_buffer(data: &[u8]) -> bool {
    for chunk in data.utf8_chunks() {
        let valid = chunk.valid();
        match valid.trim_start().chars().next() {
            Some(c) => return c == '{',
            // All white space: continue only if the chunk ended cleanly, else this is not JSON.
            None if chunk.invalid().is_empty() => continue,
            None => return false,
        }
    }
    false
}

/// The storage prefix of an encrypted value up to its fifth `:`
/// (`k8s:enc:<provider>:v<n>:<name>:`), if that stays short and printable.
fn encrypted_prefix(data: &[u8]) -> String {
    const MAX: usize = 256;
    let mut colons = 0;
    for (i, &b) in data.iter().enumerate().take(MAX) {
        if !(b.is_ascii_graphic() || b == b' ') {
            break;
        }
        if b == b':' {
            colons += 1;
            if colons == 5 {
                return String::from_utf8_lossy(&data[..=i]).into_owned();
            }
        }
    }
    String::from_utf8_lossy(ENCRYPTED_PREFIX).into_owned()
}

fn meta_to_wire(m: &ObjectMeta) -> wire::ObjectMeta {
    wire::ObjectMeta {
        name: Some(m.name.clone()),
        generate_name: Some(m.generate_name.clone()),
        namespace: Some(m.namespace.clone()),
        self_link: Some(m.self_link.clone()),
        uid: Some(m.uid.clone()),
        resource_version: Some(m.resource_version.clone()),
        generation: Some(m.generation),
        creation_timestamp: Some(time_to_wire(m.creation_timestamp)),
        deletion_timestamp: m.deletion_timestamp.map(time_to_wire),
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        labels: string_entries(&m.labels),
        annotations: string_entries(&m.annotations),
        owner_references: m
            .owner_references
            .iter()
            .map(|o| wire::OwnerReference {
                kind: Some(o.kind.clone()),
                name: Some(o.name.clone()),
                uid: Some(o.uid.clone()),
                api_version: Some(o.api_version.clone()),
                controller: o.controller,
                block_owner_deletion: o.block_owner_deletion,
            })
            .collect(),
        finalizers: m.finalizers.clone(),
        managed_fields: m
            .managed_fields
            .iter()
            .map(|e| wire::ManagedFieldsEntry {
                manager: Some(e.manager.clone()),
                operation: Some(e.operation.clone()),
                api_version: Some(e.api_version.clone()),
                time: e.time.map(time_to_wire),
                fields_type: Some(e.fields_type.clone()),
                fields_v1: e.fields_v1.as_ref().map(|f| wire::FieldsV1 {
                    // fieldsv1.go writes Raw only when it is non-empty.
                    raw: (!f.raw.is_empty()).then(|| f.raw.clone()),
                }),
                subresource: Some(e.subresource.clone()),
            })
            .collect(),
    }
}

fn meta_from_wire(m: wire::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name.unwrap_or_default(),
        generate_name: m.generate_name.unwrap_or_default(),
        namespace: m.namespace.unwrap_or_default(),
        self_link: m.self_link.unwrap_or_default(),
        uid: m.uid.unwrap_or_default(),
        resource_version: m.resource_version.unwrap_or_default(),
        generation: m.generation.unwrap_or_default(),
        creation_timestamp: m.creation_timestamp.map_or(Time::ZERO, time_from_wire),
        deletion_timestamp: m.deletion_timestamp.map(time_from_wire),
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        labels: string_map(m.labels),
        annotations: string_map(m.annotations),
        owner_references: m
            .owner_references
            .into_iter()
            .map(|o| OwnerReference {
                api_version: o.api_version.unwrap_or_default(),
                kind: o.kind.unwrap_or_default(),
                name: o.name.unwrap_or_default(),
                uid: o.uid.unwrap_or_default(),
                controller: o.controller,
                block_owner_deletion: o.block_owner_deletion,
            })
            .collect(),
        finalizers: m.finalizers,
        managed_fields: m
            .managed_fields
            .into_iter()
            .map(|e| ManagedFieldsEntry {
                manager: e.manager.unwrap_or_default(),
                operation: e.operation.unwrap_or_default(),
                api_version: e.api_version.unwrap_or_default(),
                time: e.time.map(time_from_wire),
                fields_type: e.fields_type.unwrap_or_default(),
                fields_v1: e.fields_v1.map(|f| FieldsV1 { raw: f.raw.unwrap_or_default() }),
                subresource: e.subresource.unwrap_or_default(),
            })
            .collect(),
    }
}

/// Mirrors time_proto.go `Time.MarshalToSizedBuffer`: zero time is an empty message, any other
/// goes through `ProtoTime`, which sets only `seconds` (`nanos` is written as 0).
fn time_to_wire(t: Time) -> wire::Time {
    if t.is_zero() {
        wire::Time::default()
    } else {
        wire::Time { seconds: Some(t.seconds), nanos: Some(0) }
    }
}

/// Mirrors time_proto.go `Time.Unmarshal`: an empty message is the zero time, otherwise
/// `time.Unix(seconds, 0)` (stored nanos are ignored).
fn time_from_wire(t: wire::Time) -> Time {
    match (t.seconds, t.nanos) {
        (None, None) => Time::ZERO,
        (seconds, _) => Time::from_unix_seconds(seconds.unwrap_or_default()),
    }
}

fn string_entries(map: &BTreeMap<String, String>) -> Vec<wire::StringEntry> {
    map.iter()
        .map(|(k, v)| wire::StringEntry { key: Some(k.clone()), value: Some(v.clone()) })
        .collect()
}

fn bytes_entries(map: &BTreeMap<String, Vec<u8>>) -> Vec<wire::BytesEntry> {
    // gogo skips a nil []byte value; values here are never nil (Go's own decoder yields
    // `[]byte{}` for an absent value), so the value is always written.
    map.iter()
        .map(|(k, v)| wire::BytesEntry { key: Some(k.clone()), value: Some(v.clone()) })
        .collect()
}

/// Later entries win, as with Go's `m[key] = value` in the generated unmarshalers.
fn string_map(entries: Vec<wire::StringEntry>) -> BTreeMap<String, String> {
    entries.into_iter().map(|e| (e.key.unwrap_or_default(), e.value.unwrap_or_default())).collect()
}

fn bytes_map(entries: Vec<wire::BytesEntry>) -> BTreeMap<String, Vec<u8>> {
    entries.into_iter().map(|e| (e.key.unwrap_or_default(), e.value.unwrap_or_default())).collect()
}
