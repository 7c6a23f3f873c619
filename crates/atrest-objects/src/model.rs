//! The object model: Secret, ConfigMap and their metadata, shaped like the Go types.
//!
//! Mirrors k8s.io/api core/v1/types.go (`Secret`, `ConfigMap`) and k8s.io/apimachinery
//! pkg/apis/meta/v1/types.go (`ObjectMeta`, `OwnerReference`, `ManagedFieldsEntry`,
//! `FieldsV1`) and pkg/apis/meta/v1/time.go (`Time`).
//! Go value fields are plain values here and Go pointer fields are `Option`s, so the
//! encoder can tell "absent" from "empty" exactly where the Go marshalers do.
//! Maps are `BTreeMap`s: their order is Go's `sort.Strings` byte order, the order the
//! marshalers write entries in.

use std::collections::BTreeMap;
use std::fmt;

use crate::wire::ByteLen;

/// The annotation `kubectl apply` writes; on a Secret it holds the data in clear text.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `apiVersion` and `kind` as stored (the `runtime.Unknown` type meta, or the JSON fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TypeMeta {
    /// `apiVersion`, e.g. `v1` or `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Secret`.
    pub kind: String,
}

impl TypeMeta {
    /// A type meta from its two parts.
    pub fn new(api_version: impl Into<String>, kind: impl Into<String>) -> Self {
        TypeMeta { api_version: api_version.into(), kind: kind.into() }
    }
}

/// `metav1.Time` with the precision it has in storage: whole seconds since the Unix epoch.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/time_proto.go: `ProtoTime` writes `nanos = 0`
/// and `Unmarshal` reads `time.Unix(seconds, 0)`, so sub-second precision never reaches etcd
/// (nor the JSON form, which is RFC 3339 in seconds).
/// The [`Default`] is Go's zero `time.Time` (0001-01-01T00:00:00Z), which Go writes as an
/// empty message and omits from JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time {
    /// Seconds since 1970-01-01T00:00:00Z (negative before it).
    pub seconds: i64,
}

impl Time {
    /// Go's zero `time.Time`, 0001-01-01T00:00:00Z, in Unix seconds.
    pub const GO_ZERO_UNIX_SECONDS: i64 = -62_135_596_800;

    /// Go's zero `time.Time`: "unset".
    pub const ZERO: Time = Time { seconds: Self::GO_ZERO_UNIX_SECONDS };

    /// The time `seconds` after the Unix epoch.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Time { seconds }
    }

    /// Whether this is Go's zero time (`metav1.Time.IsZero`).
    pub const fn is_zero(self) -> bool {
        self.seconds == Self::GO_ZERO_UNIX_SECONDS
    }

    /// RFC 3339 in UTC with second precision, as `metav1.Time.MarshalJSON` writes it
    /// (Go layout `2006-01-02T15:04:05Z07:00` on a UTC time), e.g. `2023-11-14T22:13:20Z`.
    ///
    /// Years outside 0..=9999 follow Go's `AppendFormat`: a `-` sign and at least four digits.
    pub fn to_rfc3339(self) -> String {
        let days = self.seconds.div_euclid(86_400);
        let secs_of_day = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (secs_of_day / 3600, (secs_of_day % 3600) / 60, secs_of_day % 60);
        let year =
            if year < 0 { format!("-{:04}", year.unsigned_abs()) } else { format!("{year:04}") };
        format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

impl Default for Time {
    fn default() -> Self {
        Time::ZERO
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), with astronomical year numbering as Go uses.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // i128 keeps every step in range for any i64 day count.
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // Every i64 second count gives a year well inside i64, and month/day are small.
    let year = i64::try_from(year).unwrap_or(if year < 0 { i64::MIN } else { i64::MAX });
    (year, month as u32, day as u32)
}

/// `metav1.ObjectMeta`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/types.go `ObjectMeta`.
/// `Debug` prints everything except the value of the [`LAST_APPLIED_ANNOTATION`], which on a
/// Secret repeats the data in clear text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// `name`.
    pub name: String,
    /// `generateName`.
    pub generate_name: String,
    /// `namespace`.
    pub namespace: String,
    /// `selfLink` (deprecated; cleared before storage, see [`ObjectMeta::prepare_for_storage`]).
    pub self_link: String,
    /// `uid`.
    pub uid: String,
    /// `resourceVersion` (cleared before storage, see [`ObjectMeta::prepare_for_storage`]).
    pub resource_version: String,
    /// `generation`.
    pub generation: i64,
    /// `creationTimestamp`; [`Time::ZERO`] when unset.
    pub creation_timestamp: Time,
    /// `deletionTimestamp`.
    pub deletion_timestamp: Option<Time>,
    /// `deletionGracePeriodSeconds`.
    pub deletion_grace_period_seconds: Option<i64>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `ownerReferences`.
    pub owner_references: Vec<OwnerReference>,
    /// `finalizers`.
    pub finalizers: Vec<String>,
    /// `managedFields`.
    pub managed_fields: Vec<ManagedFieldsEntry>,
}

impl ObjectMeta {
    /// Clears what kube-apiserver never writes to etcd: `resourceVersion` and `selfLink`.
    ///
    /// Mirrors k8s.io/apiserver pkg/storage/api_object_versioner.go
    /// `APIObjectVersioner.PrepareObjectForStorage`, which pkg/storage/etcd3/store.go calls
    /// before encoding on every Create and GuaranteedUpdate: the resourceVersion a client sees
    /// is the etcd ModRevision, filled in on read, never part of the stored bytes.
    pub fn prepare_for_storage(&mut self) {
        self.resource_version.clear();
        self.self_link.clear();
    }
}

impl fmt::Debug for ObjectMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let annotations: BTreeMap<&str, AnnotationValue<'_>> = self
            .annotations
            .iter()
            .map(|(k, v)| {
                let value = if k == LAST_APPLIED_ANNOTATION {
                    AnnotationValue::Redacted(v.len())
                } else {
                    AnnotationValue::Plain(v)
                };
                (k.as_str(), value)
            })
            .collect();
        f.debug_struct("ObjectMeta")
            .field("name", &self.name)
            .field("generate_name", &self.generate_name)
            .field("namespace", &self.namespace)
            .field("self_link", &self.self_link)
            .field("uid", &self.uid)
            .field("resource_version", &self.resource_version)
            .field("generation", &self.generation)
            .field("creation_timestamp", &self.creation_timestamp)
            .field("deletion_timestamp", &self.deletion_timestamp)
            .field("deletion_grace_period_seconds", &self.deletion_grace_period_seconds)
            .field("labels", &self.labels)
            .field("annotations", &annotations)
            .field("owner_references", &self.owner_references)
            .field("finalizers", &self.finalizers)
            .field("managed_fields", &self.managed_fields)
            .finish()
    }
}

enum AnnotationValue<'a> {
    Plain(&'a str),
    Redacted(usize),
}

impl fmt::Debug for AnnotationValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationValue::Plain(v) => fmt::Debug::fmt(v, f),
            AnnotationValue::Redacted(n) => write!(f, "<redacted, {n} bytes>"),
        }
    }
}

/// `metav1.OwnerReference`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/types.go `OwnerReference`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerReference {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `uid`.
    pub uid: String,
    /// `controller`.
    pub controller: Option<bool>,
    /// `blockOwnerDeletion`.
    pub block_owner_deletion: Option<bool>,
}

/// `metav1.ManagedFieldsEntry`.
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/types.go `ManagedFieldsEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagedFieldsEntry {
    /// `manager`.
    pub manager: String,
    /// `operation` (`Apply` or `Update`).
    pub operation: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `time`.
    pub time: Option<Time>,
    /// `fieldsType` (`FieldsV1`).
    pub fields_type: String,
    /// `fieldsV1`.
    pub fields_v1: Option<FieldsV1>,
    /// `subresource`.
    pub subresource: String,
}

/// `metav1.FieldsV1`: a field set, normally JSON such as `{"f:data":{}}` (field names only,
/// never values).
///
/// Mirrors k8s.io/apimachinery pkg/apis/meta/v1/fieldsv1.go.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct FieldsV1 {
    /// The serialized set (JSON, or CBOR when a CBOR client wrote it).
    pub raw: Vec<u8>,
}

impl fmt::Debug for FieldsV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FieldsV1").field(&String::from_utf8_lossy(&self.raw)).finish()
    }
}

/// `core/v1.Secret`.
///
/// Mirrors k8s.io/api core/v1/types.go `Secret`. `Debug` prints data and stringData keys with
/// value sizes, never the values.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `data`: key to raw value bytes (base64 in JSON).
    pub data: BTreeMap<String, Vec<u8>>,
    /// `type`, e.g. `Opaque`; empty when unset (the API server defaults it to `Opaque` on
    /// create, before storage).
    pub type_: String,
    /// `stringData`: write-only input merged into `data` before storage; normally empty here.
    pub string_data: BTreeMap<String, String>,
    /// `immutable`.
    pub immutable: Option<bool>,
}

impl Secret {
    /// The type meta every stored Secret carries: `v1`, `Secret`.
    pub fn type_meta() -> TypeMeta {
        TypeMeta::new("v1", "Secret")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data: BTreeMap<&str, ByteLen> =
            self.data.iter().map(|(k, v)| (k.as_str(), ByteLen(v.len()))).collect();
        let string_data: BTreeMap<&str, ByteLen> =
            self.string_data.iter().map(|(k, v)| (k.as_str(), ByteLen(v.len()))).collect();
        f.debug_struct("Secret")
            .field("metadata", &self.metadata)
            .field("data", &data)
            .field("type_", &self.type_)
            .field("string_data", &string_data)
            .field("immutable", &self.immutable)
            .finish()
    }
}

/// `core/v1.ConfigMap`.
///
/// Mirrors k8s.io/api core/v1/types.go `ConfigMap`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigMap {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `data`: UTF-8 values.
    pub data: BTreeMap<String, String>,
    /// `binaryData`: raw bytes (base64 in JSON).
    pub binary_data: BTreeMap<String, Vec<u8>>,
    /// `immutable`.
    pub immutable: Option<bool>,
}

impl ConfigMap {
    /// The type meta every stored ConfigMap carries: `v1`, `ConfigMap`.
    pub fn type_meta() -> TypeMeta {
        TypeMeta::new("v1", "ConfigMap")
    }
}
