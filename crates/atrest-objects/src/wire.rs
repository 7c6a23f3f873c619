//! Hand-written prost messages for the protobuf wire shapes kube-apiserver stores.
//!
//! Field numbers mirror k8s.io/apimachinery pkg/runtime/generated.proto (`Unknown`, `TypeMeta`),
//! pkg/apis/meta/v1/generated.proto (`ObjectMeta`, `Time`, `OwnerReference`,
//! `ManagedFieldsEntry`, `FieldsV1`) and k8s.io/api core/v1/generated.proto (`Secret`,
//! `ConfigMap`).
//!
//! These are *wire* models, not the object model: every field is a proto2 `optional` (an
//! `Option`) so that presence survives decoding and so that encoding can reproduce Go's gogo
//! marshalers, which write non-pointer fields even when empty (`name = ""` is `\x0a\x00`).
//! Maps are spelled as `repeated` entry messages (the map wire format) because gogo always writes
//! both the key and the value of an entry, while prost's map encoder skips empty ones.
//! prost-derive writes fields in tag order, which is the order the Go marshalers produce.
//! [`crate::decode_stored`] and [`crate::encode_secret`] convert between these and the object
//! model ([`crate::Secret`], [`crate::ObjectMeta`], ...).

use std::fmt;

/// `runtime.Unknown`: the envelope after the `k8s\x00` magic.
///
/// Mirrors k8s.io/apimachinery pkg/runtime/generated.proto `message Unknown`.
#[derive(Clone, PartialEq, ::prost::Message)]
#[prost(skip_debug)]
pub struct Unknown {
    /// `typeMeta = 1`.
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    /// `raw = 2`: the serialized object (for built-in types, its protobuf message).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
    /// `contentEncoding = 3`.
    #[prost(string, optional, tag = "3")]
    pub content_encoding: Option<String>,
    /// `contentType = 4`.
    #[prost(string, optional, tag = "4")]
    pub content_type: Option<String>,
}

impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The raw body may be a Secret: print its size, never its bytes.
        f.debug_struct("Unknown")
            .field("type_meta", &self.type_meta)
            .field("raw", &self.raw.as_ref().map(|r| ByteLen(r.len())))
            .field("content_encoding", &self.content_encoding)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// `runtime.TypeMeta` (note: apiVersion is field 1 here, unlike `metav1.TypeMeta`).
///
/// Mirrors k8s.io/apimachinery pkg/runtime/generated.proto `message TypeMeta`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TypeMeta {
    /// `apiVersion = 1`.
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    /// `kind = 2`.
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

/// `metav1.Time` on the wire (`google.protobuf.Timestamp` shape).
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/generated.proto `message Time`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Time {
    /// `seconds = 1`.
    #[prost(int64, optional, tag = "1")]
    pub seconds: Option<i64>,
    /// `nanos = 2`. Go writes 0 and ignores it on read (see `metav1.Time.ProtoTime`).
    #[prost(int32, optional, tag = "2")]
    pub nanos: Option<i32>,
}

/// `metav1.ObjectMeta`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/generated.proto `message ObjectMeta`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ObjectMeta {
    /// `name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `generateName = 2`.
    #[prost(string, optional, tag = "2")]
    pub generate_name: Option<String>,
    /// `namespace = 3`.
    #[prost(string, optional, tag = "3")]
    pub namespace: Option<String>,
    /// `selfLink = 4`.
    #[prost(string, optional, tag = "4")]
    pub self_link: Option<String>,
    /// `uid = 5`.
    #[prost(string, optional, tag = "5")]
    pub uid: Option<String>,
    /// `resourceVersion = 6`.
    #[prost(string, optional, tag = "6")]
    pub resource_version: Option<String>,
    /// `generation = 7`.
    #[prost(int64, optional, tag = "7")]
    pub generation: Option<i64>,
    /// `creationTimestamp = 8`.
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    /// `deletionTimestamp = 9`.
    #[prost(message, optional, tag = "9")]
    pub deletion_timestamp: Option<Time>,
    /// `deletionGracePeriodSeconds = 10`.
    #[prost(int64, optional, tag = "10")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// `map<string, string> labels = 11`.
    #[prost(message, repeated, tag = "11")]
    pub labels: Vec<StringEntry>,
    /// `map<string, string> annotations = 12`.
    #[prost(message, repeated, tag = "12")]
    pub annotations: Vec<StringEntry>,
    /// `repeated OwnerReference ownerReferences = 13`.
    #[prost(message, repeated, tag = "13")]
    pub owner_references: Vec<OwnerReference>,
    /// `repeated string finalizers = 14`.
    #[prost(string, repeated, tag = "14")]
    pub finalizers: Vec<String>,
    /// `repeated ManagedFieldsEntry managedFields = 17`.
    #[prost(message, repeated, tag = "17")]
    pub managed_fields: Vec<ManagedFieldsEntry>,
}

/// `metav1.OwnerReference`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/generated.proto `message OwnerReference`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OwnerReference {
    /// `kind = 1`.
    #[prost(string, optional, tag = "1")]
    pub kind: Option<String>,
    /// `name = 3`.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// `uid = 4`.
    #[prost(string, optional, tag = "4")]
    pub uid: Option<String>,
    /// `apiVersion = 5`.
    #[prost(string, optional, tag = "5")]
    pub api_version: Option<String>,
    /// `controller = 6`.
    #[prost(bool, optional, tag = "6")]
    pub controller: Option<bool>,
    /// `blockOwnerDeletion = 7`.
    #[prost(bool, optional, tag = "7")]
    pub block_owner_deletion: Option<bool>,
}

/// `metav1.ManagedFieldsEntry`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/generated.proto `message ManagedFieldsEntry`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ManagedFieldsEntry {
    /// `manager = 1`.
    #[prost(string, optional, tag = "1")]
    pub manager: Option<String>,
    /// `operation = 2`.
    #[prost(string, optional, tag = "2")]
    pub operation: Option<String>,
    /// `apiVersion = 3`.
    #[prost(string, optional, tag = "3")]
    pub api_version: Option<String>,
    /// `time = 4`.
    #[prost(message, optional, tag = "4")]
    pub time: Option<Time>,
    /// `fieldsType = 6`.
    #[prost(string, optional, tag = "6")]
    pub fields_type: Option<String>,
    /// `fieldsV1 = 7`.
    #[prost(message, optional, tag = "7")]
    pub fields_v1: Option<FieldsV1>,
    /// `subresource = 8`.
    #[prost(string, optional, tag = "8")]
    pub subresource: Option<String>,
}

/// `metav1.FieldsV1`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/generated.proto `message FieldsV1`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FieldsV1 {
    /// `Raw = 1` (capitalised upstream): the serialized field set, usually JSON.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub raw: Option<Vec<u8>>,
}

/// `core/v1.Secret`.
///
/// Mirrors k8s.io/api core/v1/generated.proto `message Secret`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Secret {
    /// `metadata = 1`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `map<string, bytes> data = 2`.
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<BytesEntry>,
    /// `type = 3`.
    #[prost(string, optional, tag = "3")]
    pub r#type: Option<String>,
    /// `map<string, string> stringData = 4`.
    #[prost(message, repeated, tag = "4")]
    pub string_data: Vec<StringEntry>,
    /// `immutable = 5`.
    #[prost(bool, optional, tag = "5")]
    pub immutable: Option<bool>,
}

/// `core/v1.ConfigMap`.
///
/// Mirrors k8s.io/api core/v1/generated.proto `message ConfigMap`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConfigMap {
    /// `metadata = 1`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `map<string, string> data = 2`.
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<StringEntry>,
    /// `map<string, bytes> binaryData = 3`.
    #[prost(message, repeated, tag = "3")]
    pub binary_data: Vec<BytesEntry>,
    /// `immutable = 4`.
    #[prost(bool, optional, tag = "4")]
    pub immutable: Option<bool>,
}

/// Any built-in object's leading `metadata = 1` field, read without knowing the kind.
///
/// Mirrors the shape of k8s.io/apimachinery pkg/apis/meta/v1/generated.proto
/// `message PartialObjectMetadata`: every built-in kind keeps `ObjectMeta` at field 1, and
/// protobuf skips the fields this message does not name.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PartialObjectMetadata {
    /// `metadata = 1`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
}

/// One entry of a `map<string, string>` (wire: a message with `key = 1`, `value = 2`).
#[derive(Clone, PartialEq, ::prost::Message)]
#[prost(skip_debug)]
pub struct StringEntry {
    /// `key = 1`.
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// `value = 2`.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

impl fmt::Debug for StringEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same entry type carries Secret stringData: sizes only at the wire level.
        f.debug_struct("StringEntry")
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|v| ByteLen(v.len())))
            .finish()
    }
}

/// One entry of a `map<string, bytes>` (wire: a message with `key = 1`, `value = 2`).
#[derive(Clone, PartialEq, ::prost::Message)]
#[prost(skip_debug)]
pub struct BytesEntry {
    /// `key = 1`.
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// `value = 2`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub value: Option<Vec<u8>>,
}

impl fmt::Debug for BytesEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secret data values: print the size, never the bytes.
        f.debug_struct("BytesEntry")
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|v| ByteLen(v.len())))
            .finish()
    }
}

/// Debug helper that prints `<N bytes>`.
pub(crate) struct ByteLen(pub(crate) usize);

impl fmt::Debug for ByteLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}
