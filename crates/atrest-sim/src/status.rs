//! The `Status` answers kube-apiserver 1.37 gives, as a client sees them.
//!
//! Mirrors k8s.io/apimachinery pkg/api/errors/errors.go (`NewNotFound`, `NewAlreadyExists`,
//! `NewConflict`, `NewInternalError`) and k8s.io/apiserver pkg/storage/errors.go
//! (`StorageError.Error`, `NewCorruptObjError`) with pkg/storage/etcd3/corrupt_obj_deleter.go
//! (`corruptObjectError`), as served with `AllowUnsafeMalformedObjectDeletion` on (the 1.37
//! default), and `NewInvalid` for object names.

use atrest_backend::{ApiError, Kind};
use atrest_config::goquote::go_quote;

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

/// An etcd error the store passes through unchanged (`rpctypes` errors such as `NOSPACE`):
/// `responsewriters.ErrorToAPIStatus` makes a 500 with no reason and the error's own text.
pub(crate) fn etcd_error(text: &str) -> ApiError {
    ApiError { code: 500, reason: String::new(), message: text.to_owned() }
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

/// What a LIST in pages (kubectl's `--chunk-size=500`) answers when stored objects do not
/// transform: such a list is served by etcd while the watch cache is not ready, and the etcd3
/// store aggregates the failures (pkg/storage/etcd3/corrupt_obj_deleter.go
/// `aggregatedStorageError.NewAPIStatusError` in k8s.io/apiserver v0.37.2): the first
/// StorageError, with the full etcd key, and how many more there are.
pub(crate) fn list_store_read_error(
    kind: Kind,
    first_key: &str,
    err: &str,
    more: usize,
) -> ApiError {
    let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
    ApiError {
        code: 500,
        reason: "StorageReadError".to_owned(),
        message: format!(
            "failed to read one or more {} from the storage: StorageError: corrupt object, Code: 7, \
             Key: {first_key}, ResourceVersion: 0, AdditionalErrorMsg: data from the storage is not \
             transformable revision=0: {err}{more}",
            kind.resource()
        ),
    }
}

/// What PUT answers when the current object does not transform (GuaranteedUpdate's read of the
/// current state returns the bare corrupt-object error, without the StorageError wrapper).
pub(crate) fn update_untransformable(err: &str) -> ApiError {
    internal(&format!("data from the storage is not transformable revision=0: {err}"))
}

/// k8s.io/apimachinery pkg/util/validation/validation.go: `dns1123SubdomainErrorMsg` with
/// `RegexError`'s example and pattern.
const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `DNS1123SubdomainMaxLength`.
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

/// `IsDNS1123Subdomain`: `[a-z0-9]([-a-z0-9]*[a-z0-9])?` labels joined by `.`.
fn is_dns1123_subdomain(name: &str) -> bool {
    let label = |l: &str| {
        let b = l.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(alnum)
            && b.last().is_some_and(alnum)
            && b.iter().all(|c| alnum(c) || *c == b'-')
    };
    name.split('.').all(label)
}

/// The 422 a create answers when the name is not what Secret and ConfigMap names must be
/// (pkg/apis/core/validation `ValidateSecretName`/`ValidateConfigMapName`, both
/// `NameIsDNSSubdomain`, through `ValidateObjectMetaAccessor` and `errors.NewInvalid`); `None`
/// for a valid name.
pub(crate) fn invalid_name(kind: Kind, name: &str) -> Option<ApiError> {
    let mut errors = Vec::new();
    if name.is_empty() {
        // No generateName either: a scenario has no way to ask for one.
        errors.push("metadata.name: Required value: name or generateName is required".to_owned());
    } else {
        if name.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
            let detail = format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters");
            errors.push(invalid(name, &detail));
        }
        if !is_dns1123_subdomain(name) {
            errors.push(invalid(name, DNS1123_SUBDOMAIN_ERROR));
        }
    }
    // An aggregate of one prints bare, of several as `[a, b]`.
    let aggregate = match errors.as_slice() {
        [] => return None,
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let kind_name = match kind {
        Kind::Secret => "Secret",
        Kind::ConfigMap => "ConfigMap",
    };
    Some(ApiError {
        code: 422,
        reason: "Invalid".to_owned(),
        message: format!("{kind_name} {} is invalid: {aggregate}", go_quote(name)),
    })
}

/// `field.Invalid(metadata.name, name, detail)` as its `Error()` prints.
fn invalid(name: &str, detail: &str) -> String {
    format!("metadata.name: Invalid value: {}: {detail}", go_quote(name))
}
