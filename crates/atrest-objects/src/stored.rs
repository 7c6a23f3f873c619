//! What [`crate::decode_stored`] returns: one stored value, typed where this crate knows the kind.

use std::fmt;

use crate::model::{ConfigMap, ObjectMeta, Secret, TypeMeta};
use crate::wire::ByteLen;

/// How a stored value is serialized (k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `k8s\x00` + `runtime.Unknown` protobuf: every built-in type.
    Protobuf,
    /// JSON: custom resources (and anything else stored through a JSON codec).
    Json,
}

/// A decoded stored value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StoredObject {
    /// A protobuf `v1` `Secret`.
    Secret(Secret),
    /// A protobuf `v1` `ConfigMap`.
    ConfigMap(ConfigMap),
    /// Any other protobuf-stored kind: type meta and the undecoded body.
    Protobuf(ProtobufObject),
    /// A JSON-stored object (custom resources).
    Json(JsonObject),
}

impl StoredObject {
    /// The stored `apiVersion` and `kind`.
    pub fn type_meta(&self) -> TypeMeta {
        match self {
            StoredObject::Secret(_) => Secret::type_meta(),
            StoredObject::ConfigMap(_) => ConfigMap::type_meta(),
            StoredObject::Protobuf(o) => o.type_meta.clone(),
            StoredObject::Json(o) => o.type_meta.clone(),
        }
    }

    /// Which serialization the value used.
    pub fn encoding(&self) -> Encoding {
        match self {
            StoredObject::Json(_) => Encoding::Json,
            StoredObject::Secret(_) | StoredObject::ConfigMap(_) | StoredObject::Protobuf(_) => {
                Encoding::Protobuf
            }
        }
    }

    /// The object's metadata, when it was decoded (always for Secret and ConfigMap, best
    /// effort for other protobuf kinds, never for JSON).
    pub fn metadata(&self) -> Option<&ObjectMeta> {
        match self {
            StoredObject::Secret(s) => Some(&s.metadata),
            StoredObject::ConfigMap(c) => Some(&c.metadata),
            StoredObject::Protobuf(o) => o.metadata.as_ref(),
            StoredObject::Json(_) => None,
        }
    }
}

/// A protobuf-stored object of a kind this crate does not type: the `runtime.Unknown` fields.
///
/// `Debug` prints the size of `raw`, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ProtobufObject {
    /// `typeMeta` from the envelope (either part may be empty; upstream's storage decoder would
    /// fill them from the resource's registered type).
    pub type_meta: TypeMeta,
    /// `raw`: the object's own protobuf message.
    pub raw: Vec<u8>,
    /// `contentEncoding` (empty as kube-apiserver writes it).
    pub content_encoding: String,
    /// `contentType` (empty as kube-apiserver writes it).
    pub content_type: String,
    /// `metadata`, read from field 1 of `raw`, where every built-in kind keeps its
    /// `ObjectMeta`; `None` if that field is absent or does not decode as `ObjectMeta`.
    pub metadata: Option<ObjectMeta>,
}

impl fmt::Debug for ProtobufObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtobufObject")
            .field("type_meta", &self.type_meta)
            .field("raw", &ByteLen(self.raw.len()))
            .field("content_encoding", &self.content_encoding)
            .field("content_type", &self.content_type)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// A JSON-stored object.
///
/// `Debug` prints the type meta and the top-level field names, not the values: a custom
/// resource can carry credentials as well as a Secret can.
#[derive(Clone, PartialEq)]
pub struct JsonObject {
    /// `apiVersion` and `kind` (empty when absent).
    pub type_meta: TypeMeta,
    /// The whole document.
    pub value: serde_json::Value,
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self
            .value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("JsonObject")
            .field("type_meta", &self.type_meta)
            .field("fields", &fields)
            .finish()
    }
}
