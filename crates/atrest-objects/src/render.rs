//! The JSON a client sees for a stored object (what `kubectl get -o json|yaml` prints).
//!
//! Mirrors the `json` struct tags of k8s.io/api core/v1/types.go and k8s.io/apimachinery
//! pkg/apis/meta/v1/types.go, with `metav1.Time.MarshalJSON` (time.go) and
//! `FieldsV1.MarshalJSON` (helpers.go). Object keys are inserted in sorted order, which is how
//! kubectl prints them (it re-marshals through a map), whatever `serde_json` map flavour the
//! build ends up with.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::model::{ConfigMap, ManagedFieldsEntry, ObjectMeta, OwnerReference, Secret, TypeMeta};
use crate::stored::StoredObject;

/// Renders a stored object as the API server would return it as JSON.
///
/// - Secret: `apiVersion`, `kind`, `metadata`, `data` (base64), `stringData`, `type`,
///   `immutable`; ConfigMap: `data`, `binaryData` (base64), `immutable`. Empty fields are
///   omitted exactly where the Go `omitempty`/`omitzero` tags omit them.
/// - Other protobuf kinds: `apiVersion`, `kind` and, when it decoded, `metadata`.
/// - JSON objects: the stored document unchanged.
///
/// Where Go's `json.Marshal` would fail (a `fieldsV1` that is not JSON, e.g. CBOR), the field
/// is rendered as a descriptive string instead.
pub fn to_json_value(object: &StoredObject) -> Value {
    match object {
        StoredObject::Secret(s) => secret_json(s),
        StoredObject::ConfigMap(c) => configmap_json(c),
        StoredObject::Protobuf(o) => {
            let mut fields = type_meta_fields(&o.type_meta);
            if let Some(meta) = &o.metadata {
                fields.insert("metadata", meta_json(meta));
            }
            sorted(fields)
        }
        StoredObject::Json(o) => o.value.clone(),
    }
}

fn secret_json(s: &Secret) -> Value {
    let mut fields = type_meta_fields(&Secret::type_meta());
    fields.insert("metadata", meta_json(&s.metadata));
    if !s.data.is_empty() {
        fields.insert("data", base64_map(&s.data));
    }
    if !s.string_data.is_empty() {
        fields.insert("stringData", string_map(&s.string_data));
    }
    if !s.type_.is_empty() {
        fields.insert("type", Value::from(s.type_.as_str()));
    }
    if let Some(immutable) = s.immutable {
        fields.insert("immutable", Value::Bool(immutable));
    }
    sorted(fields)
}

fn configmap_json(c: &ConfigMap) -> Value {
    let mut fields = type_meta_fields(&ConfigMap::type_meta());
    fields.insert("metadata", meta_json(&c.metadata));
    if !c.data.is_empty() {
        fields.insert("data", string_map(&c.data));
    }
    if !c.binary_data.is_empty() {
        fields.insert("binaryData", base64_map(&c.binary_data));
    }
    if let Some(immutable) = c.immutable {
        fields.insert("immutable", Value::Bool(immutable));
    }
    sorted(fields)
}

/// `metav1.TypeMeta`: both tags are `omitempty`.
fn type_meta_fields(tm: &TypeMeta) -> BTreeMap<&'static str, Value> {
    let mut fields = BTreeMap::new();
    insert_str(&mut fields, "apiVersion", &tm.api_version);
    insert_str(&mut fields, "kind", &tm.kind);
    fields
}

fn meta_json(m: &ObjectMeta) -> Value {
    let mut f = BTreeMap::new();
    insert_str(&mut f, "name", &m.name);
    insert_str(&mut f, "generateName", &m.generate_name);
    insert_str(&mut f, "namespace", &m.namespace);
    insert_str(&mut f, "selfLink", &m.self_link);
    insert_str(&mut f, "uid", &m.uid);
    insert_str(&mut f, "resourceVersion", &m.resource_version);
    if m.generation != 0 {
        f.insert("generation", Value::from(m.generation));
    }
    // `omitempty,omitzero`: a zero Time is omitted.
    if !m.creation_timestamp.is_zero() {
        f.insert("creationTimestamp", Value::from(m.creation_timestamp.to_rfc3339()));
    }
    if let Some(t) = m.deletion_timestamp {
        f.insert("deletionTimestamp", time_json(t));
    }
    if let Some(secs) = m.deletion_grace_period_seconds {
        f.insert("deletionGracePeriodSeconds", Value::from(secs));
    }
    if !m.labels.is_empty() {
        f.insert("labels", string_map(&m.labels));
    }
    if !m.annotations.is_empty() {
        f.insert("annotations", string_map(&m.annotations));
    }
    if !m.owner_references.is_empty() {
        let refs = m.owner_references.iter().map(owner_reference_json).collect();
        f.insert("ownerReferences", Value::Array(refs));
    }
    if !m.finalizers.is_empty() {
        let fins = m.finalizers.iter().map(|s| Value::from(s.as_str())).collect();
        f.insert("finalizers", Value::Array(fins));
    }
    if !m.managed_fields.is_empty() {
        let entries = m.managed_fields.iter().map(managed_fields_json).collect();
        f.insert("managedFields", Value::Array(entries));
    }
    sorted(f)
}

/// A non-nil `*Time` is never omitted; a zero one marshals as `null`.
fn time_json(t: crate::model::Time) -> Value {
    if t.is_zero() { Value::Null } else { Value::from(t.to_rfc3339()) }
}

fn owner_reference_json(o: &OwnerReference) -> Value {
    let mut f = BTreeMap::new();
    // No `omitempty` on these four.
    f.insert("apiVersion", Value::from(o.api_version.as_str()));
    f.insert("kind", Value::from(o.kind.as_str()));
    f.insert("name", Value::from(o.name.as_str()));
    f.insert("uid", Value::from(o.uid.as_str()));
    if let Some(c) = o.controller {
        f.insert("controller", Value::Bool(c));
    }
    if let Some(b) = o.block_owner_deletion {
        f.insert("blockOwnerDeletion", Value::Bool(b));
    }
    sorted(f)
}

fn managed_fields_json(e: &ManagedFieldsEntry) -> Value {
    let mut f = BTreeMap::new();
    insert_str(&mut f, "manager", &e.manager);
    insert_str(&mut f, "operation", &e.operation);
    insert_str(&mut f, "apiVersion", &e.api_version);
    if let Some(t) = e.time {
        f.insert("time", time_json(t));
    }
    insert_str(&mut f, "fieldsType", &e.fields_type);
    if let Some(fields) = &e.fields_v1 {
        // FieldsV1.MarshalJSON: empty raw is `null`, JSON raw is embedded as is.
        let value = if fields.raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&fields.raw).unwrap_or_else(|_| {
                Value::from(format!("<{} bytes of non-JSON fieldsV1>", fields.raw.len()))
            })
        };
        f.insert("fieldsV1", value);
    }
    insert_str(&mut f, "subresource", &e.subresource);
    sorted(f)
}

/// `omitempty` on a string.
fn insert_str(fields: &mut BTreeMap<&'static str, Value>, key: &'static str, value: &str) {
    if !value.is_empty() {
        fields.insert(key, Value::from(value));
    }
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
}

/// `[]byte` values marshal as standard padded base64.
fn base64_map(map: &BTreeMap<String, Vec<u8>>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), Value::from(STANDARD.encode(v)))).collect())
}

fn sorted(fields: BTreeMap<&'static str, Value>) -> Value {
    let map: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Value::Object(map)
}
