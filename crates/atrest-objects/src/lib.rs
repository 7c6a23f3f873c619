//! The serialization kube-apiserver uses for stored objects: the plaintext inside an etcd value
//! (inside the encryption envelope, when there is one).
//!
//! k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go: built-in types are stored as protobuf, the 4-byte magic
//! `k8s\x00` ([`PROTOBUF_MAGIC`]) followed by a `runtime.Unknown` message
//! (`typeMeta{apiVersion, kind}`, `raw`, `contentEncoding`, `contentType`); custom resources
//! are stored as JSON.
//!
//! - [`decode_stored`] reads any stored value into a [`StoredObject`]: typed [`Secret`] and
//!   [`ConfigMap`], type meta plus raw bytes for other protobuf kinds, the document for JSON.
//! - [`encode_secret`] and [`encode_configmap`] write the bytes kube-apiserver writes, byte for
//!   byte (checked against the real Go serializer, see `tests/data/README.md`).
//!   kube-apiserver's etcd3 store clears `resourceVersion` and `selfLink` before encoding; use
//!   [`ObjectMeta::prepare_for_storage`] to do the same.
//! - [`to_json_value`] renders what a client (kubectl) sees.
//! - [`wire`] holds the hand-written prost messages behind both directions.
//!
//! The crate is sync and does no I/O. `Debug` of a [`Secret`] prints data keys and sizes,
//! never values, and errors never quote object contents.

mod codec;
mod error;
mod model;
mod render;
mod stored;
pub mod wire;

pub use codec::{PROTOBUF_MAGIC, decode_stored, encode_configmap, encode_secret};
pub use error::ObjectError;
pub use model::{
    ConfigMap, FieldsV1, LAST_APPLIED_ANNOTATION, ManagedFieldsEntry, ObjectMeta, OwnerReference,
    Secret, Time, TypeMeta,
};
pub use render::to_json_value;
pub use stored::{Encoding, JsonObject, ProtobufObject, StoredObject};

#[cfg(test)]
mod tests;
