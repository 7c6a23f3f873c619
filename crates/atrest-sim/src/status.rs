//! The `Status` answers kube-apiserver 1.37 gives, as a client sees them.
//!
//! Mirrors k8s.io/apimachinery pkg/api/errors/errors.go (`NewNotFound`, `NewAlreadyExists`,
//! `NewConflict`, `NewInternalError`) and k8s.io/apiserver pkg/storage/errors.go
//! (`StorageError.Error`, `NewCorruptObjError`) with pkg/storage/etcd3/corrupt_obj_deleter.go
//! (`corruptObjectError`), as served with `AllowUnsafeMalformedObjectDeletion` on (the 1.37
//! default).

use atrest_backend::{ApiError, Kind};

pub(crate) fn not_found(resource: &str, name: &str) -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound".to_owned(),
        message: format!("{resource} \"{name}\" not found"),
    }
}

pub(crate) fn already_exists(kind: Kind, name: &str) -> ApiError {
    ApiError {
        code: 409,
        reason: "AlreadyExists".to_owned(),
        message: format!("{} \"{name}\" already exists", kind.resource()),
    }
}

pub(crate) fn conflict(kind: Kind, name: &str) -> ApiError {
    ApiError {
        code: 409,
        reason: "Conflict".to_owned(),
        message: format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            kind.resource()
        ),
    }
}

pub(crate) fn internal(err: &str) -> ApiError {
    ApiError {
        code: 500,
        reason: "InternalError".to_owned(),
        message: format!("Internal error occurred: {err}"),
    }
}

/// `StorageError` for an object whose stored bytes the transformer rejected; `key` is the key
/// below the storage prefix (`/secrets/<ns>/<name>`).
pub(crate) fn corrupt_object_text(key: &str, err: &str) -> String {
    format!(
        "StorageError: corrupt object, Code: 7, Key: {key}, ResourceVersion: 0, \
         AdditionalErrorMsg: data from the storage is not transformable revision=0: {err}"
    )
}

/// What GET, PUT and DELETE answer for an untransformable object.
pub(crate) fn corrupt_object(key: &str, err: &str) -> ApiError {
    internal(&corrupt_object_text(key, err))
}

/// What LIST answers when some stored objects cannot be transformed or decoded
/// (pkg/storage/etcd3/store.go `GetList` with the corrupt-object aggregation).
pub(crate) fn list_store_read_error(kind: Kind, _keys: &[String]) -> ApiError {
    ApiError {
        code: 500,
        reason: "StoreReadError".to_owned(),
        message: format!("failed to read one or more {} from the storage", kind.resource()),
    }
}
