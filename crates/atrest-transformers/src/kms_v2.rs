//! KMS v2 envelope encryption: the `EncryptedObject` message, its validation, the envelope
//! transformer and its write state.
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/envelope/kmsv2/envelope.go,
//! kmsv2/v2/api.proto, and the probe/rotation logic of
//! pkg/server/options/encryptionconfig/config.go (`kmsv2PluginProbe`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use crate::aes::{
    AesGcmTransformer, GCM_NONCE_SIZE, GCM_TAG_SIZE, HkdfGcmTransformer, KDF_INFO_SIZE,
};
use crate::error::ProtoError;
use crate::kms::{DecryptRequest, KmsV2Plugin, PluginError};
use crate::random::{RandomSource, lock};
use crate::{TransformError, Transformer};
use atrest_config::goquote::go_quote;

/// `KeyIDMaxSize`.
pub const KEY_ID_MAX_SIZE: usize = 1024;
/// `encryptedDEKSourceMaxSize`.
pub const ENCRYPTED_DEK_SOURCE_MAX_SIZE: usize = 1024;
/// `annotationsMaxSize`.
pub const ANNOTATIONS_MAX_SIZE: u64 = 32 * 1024;

/// `EncryptedDEKSourceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DekSourceType {
    /// `AES_GCM_KEY = 0`: the source is an AES-256 key; counter nonces.
    AesGcmKey = 0,
    /// `HKDF_SHA256_XNONCE_AES_GCM_SEED = 1`: the source is a 32-byte seed (default since 1.29).
    HkdfSha256XnonceAesGcmSeed = 1,
}

impl DekSourceType {
    /// Bytes the DEK transformer adds to a plaintext: KDF info (seed mode), nonce and tag.
    const fn payload_overhead(self) -> usize {
        match self {
            DekSourceType::AesGcmKey => GCM_NONCE_SIZE + GCM_TAG_SIZE,
            DekSourceType::HkdfSha256XnonceAesGcmSeed => {
                KDF_INFO_SIZE + GCM_NONCE_SIZE + GCM_TAG_SIZE
            }
        }
    }

    /// The proto enum value name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DekSourceType::AesGcmKey => "AES_GCM_KEY",
            DekSourceType::HkdfSha256XnonceAesGcmSeed => "HKDF_SHA256_XNONCE_AES_GCM_SEED",
        }
    }
}

/// The KMS v2 storage message (`kmsv2/v2/api.proto`), written by hand without protoc.
/// Fields are declared in field-number order, which is the order Go's `proto.Marshal` uses.
///
/// `Debug` prints sizes, the key ID's hash (what upstream logs) and annotation keys, never the
/// wrapped DEK/seed, annotation values or ciphertext: with a mock plugin the "wrapped" DEK is
/// the DEK itself.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct EncryptedObject {
    /// 1: the payload (layout depends on the source type).
    #[prost(bytes = "vec", tag = "1")]
    pub encrypted_data: Vec<u8>,
    /// 2: the KEK's key ID.
    #[prost(string, tag = "2")]
    pub key_id: String,
    /// 3: the wrapped DEK or seed.
    #[prost(bytes = "vec", tag = "3")]
    pub encrypted_dek_source: Vec<u8>,
    /// 4: plugin annotations (a sorted map, so the encoding is deterministic).
    #[prost(btree_map = "string, bytes", tag = "4")]
    pub annotations: BTreeMap<String, Vec<u8>>,
    /// 5: [`DekSourceType`] as an open enum (any int32 decodes; validation rejects others).
    #[prost(enumeration = "DekSourceType", tag = "5")]
    pub encrypted_dek_source_type: i32,
}

impl fmt::Debug for EncryptedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let annotations: BTreeMap<&str, ByteCount> =
            self.annotations.iter().map(|(k, v)| (k.as_str(), ByteCount(v.len()))).collect();
        f.debug_struct("EncryptedObject")
            .field("encrypted_data", &ByteCount(self.encrypted_data.len()))
            .field("key_id_hash", &key_id_hash(&self.key_id))
            .field("encrypted_dek_source", &ByteCount(self.encrypted_dek_source.len()))
            .field("annotations", &annotations)
            .field("encrypted_dek_source_type", &self.encrypted_dek_source_type)
            .finish()
    }
}

/// Debug-prints as `<n bytes>`: the size of a secret without its contents.
pub(crate) struct ByteCount(pub(crate) usize);

impl fmt::Debug for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl EncryptedObject {
    /// Encodes as Go's `proto.Marshal` does: fields in number order, zero scalars omitted,
    /// but map entries always carry both key and value (prost's `encode` omits empty ones,
    /// so this is written by hand). Annotations are sorted by key; Go's order is random for
    /// more than one entry unless `Deterministic` is set, where it is also sorted.
    pub fn encode_go(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_go_into(&mut out);
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.encrypted_data.len() + self.encoded_len_hint_after_data()
    }

    fn encoded_len_hint_after_data(&self) -> usize {
        let annotations: usize = self.annotations.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        self.key_id.len() + self.encrypted_dek_source.len() + annotations + 32
    }

    /// [`EncryptedObject::encode_go`] appending to `out`.
    pub fn encode_go_into(&self, out: &mut Vec<u8>) {
        if !self.encrypted_data.is_empty() {
            bytes_field(out, 0x0a, &self.encrypted_data);
        }
        self.encode_go_after_data(out);
    }

    /// Fields 2 to 5 of [`EncryptedObject::encode_go_into`]: what follows `encrypted_data`.
    fn encode_go_after_data(&self, out: &mut Vec<u8>) {
        if !self.key_id.is_empty() {
            bytes_field(out, 0x12, self.key_id.as_bytes());
        }
        if !self.encrypted_dek_source.is_empty() {
            bytes_field(out, 0x1a, &self.encrypted_dek_source);
        }
        for (k, v) in &self.annotations {
            let mut entry = Vec::with_capacity(k.len() + v.len() + 6);
            bytes_field(&mut entry, 0x0a, k.as_bytes());
            bytes_field(&mut entry, 0x12, v);
            bytes_field(out, 0x22, &entry);
        }
        if self.encrypted_dek_source_type != 0 {
            out.push(0x28);
            // int32 enums are sign-extended to 64 bits, as Go does.
            varint(out, i64::from(self.encrypted_dek_source_type) as u64);
        }
    }

    /// Decodes with the acceptance rules of Go's `google.golang.org/protobuf`: a known field
    /// with the wrong wire type is skipped as unknown, unknown fields are skipped, the last
    /// occurrence wins, enum values are truncated to int32, strings must be UTF-8.
    pub fn decode_go(data: &[u8]) -> Result<Self, ProtoError> {
        let (mut obj, encrypted_data) = EncryptedObject::decode_go_borrowing(data)?;
        obj.encrypted_data = encrypted_data.to_vec();
        Ok(obj)
    }

    /// [`EncryptedObject::decode_go`] that leaves `encrypted_data` empty and returns it as a
    /// slice of `data` instead: the read path decrypts it where it lies, without a copy.
    fn decode_go_borrowing(data: &[u8]) -> Result<(Self, &[u8]), ProtoError> {
        let mut obj = EncryptedObject::default();
        let mut encrypted_data: &[u8] = &[];
        let mut r = Reader { data };
        while !r.data.is_empty() {
            let (num, wt) = r.tag()?;
            match (num, wt) {
                (1, WT_BYTES) => encrypted_data = r.bytes()?,
                (2, WT_BYTES) => obj.key_id = utf8(r.bytes()?)?,
                (3, WT_BYTES) => obj.encrypted_dek_source = r.bytes()?.to_vec(),
                (4, WT_BYTES) => {
                    let (key, value) = decode_map_entry(r.bytes()?)?;
                    obj.annotations.insert(key, value);
                }
                // Go's open enum: int32(v).
                (5, WT_VARINT) => obj.encrypted_dek_source_type = r.varint()? as i32,
                (_, WT_END_GROUP) => return Err(ProtoError::InvalidWireFormat),
                (num, wt) => r.skip(num, wt)?,
            }
        }
        Ok((obj, encrypted_data))
    }

    /// The source type, when it is one of the two known values.
    pub fn source_type(&self) -> Option<DekSourceType> {
        DekSourceType::try_from(self.encrypted_dek_source_type).ok()
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    out.push(tag);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

const WT_VARINT: u8 = 0;
const WT_FIXED64: u8 = 1;
const WT_BYTES: u8 = 2;
const WT_START_GROUP: u8 = 3;
const WT_END_GROUP: u8 = 4;
const WT_FIXED32: u8 = 5;
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;
/// How many groups may be open at once while skipping an unknown field. protowire's
/// `consumeFieldValueD` starts at `DefaultRecursionLimit` (10000), lowers it by one per nested
/// group and fails below zero, so 10001 nested groups decode and 10002 do not (checked with
/// the oracle, tests/data/kmsv2_decode.json).
const GROUP_NESTING_LIMIT: usize = 10_001;

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// protowire.ConsumeVarint: at most 10 bytes, the 10th at most 1.
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.data.get(i) else {
                return Err(ProtoError::InvalidWireFormat);
            };
            if i == 9 && b > 1 {
                return Err(ProtoError::InvalidWireFormat);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.data = &self.data[i + 1..];
                return Ok(value);
            }
        }
        Err(ProtoError::InvalidWireFormat)
    }

    fn tag(&mut self) -> Result<(u64, u8), ProtoError> {
        let tag = self.varint()?;
        let num = tag >> 3;
        if num == 0 || num > MAX_FIELD_NUMBER {
            return Err(ProtoError::InvalidWireFormat);
        }
        Ok((num, (tag & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.data.len() < n {
            return Err(ProtoError::InvalidWireFormat);
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtoError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| ProtoError::InvalidWireFormat)?;
        self.take(len)
    }

    /// protowire.ConsumeFieldValue, without recursion: a value of nested groups is skipped with
    /// an explicit stack of open group numbers, so hostile input (megabytes of start-group
    /// tags) cannot overflow the thread stack. Like Go, nesting deeper than
    /// [`GROUP_NESTING_LIMIT`] is invalid wire format.
    fn skip(&mut self, num: u64, wt: u8) -> Result<(), ProtoError> {
        if wt != WT_START_GROUP {
            return self.skip_scalar(wt);
        }
        let mut open = vec![num];
        while let Some(&innermost) = open.last() {
            let (inner, inner_wt) = self.tag()?;
            match inner_wt {
                WT_END_GROUP if inner == innermost => {
                    open.pop();
                }
                WT_START_GROUP if open.len() < GROUP_NESTING_LIMIT => open.push(inner),
                WT_END_GROUP | WT_START_GROUP => return Err(ProtoError::InvalidWireFormat),
                other => self.skip_scalar(other)?,
            }
        }
        Ok(())
    }

    /// A non-group field value.
    fn skip_scalar(&mut self, wt: u8) -> Result<(), ProtoError> {
        match wt {
            WT_VARINT => self.varint().map(drop),
            WT_FIXED64 => self.take(8).map(drop),
            WT_BYTES => self.bytes().map(drop),
            WT_FIXED32 => self.take(4).map(drop),
            _ => Err(ProtoError::InvalidWireFormat),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::InvalidUtf8)
}

/// Go's `consumeMap`: key (1, string) and value (2, bytes) default to empty; other fields and
/// wire-type mismatches are skipped.
fn decode_map_entry(data: &[u8]) -> Result<(String, Vec<u8>), ProtoError> {
    let mut r = Reader { data };
    let (mut key, mut value) = (String::new(), Vec::new());
    while !r.data.is_empty() {
        let (num, wt) = r.tag()?;
        match (num, wt) {
            (1, WT_BYTES) => key = utf8(r.bytes()?)?,
            (2, WT_BYTES) => value = r.bytes()?.to_vec(),
            (num, wt) => r.skip(num, wt)?,
        }
    }
    Ok((key, value))
}

/// `ValidateEncryptedObject` failures; `Display` is the upstream text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptedObjectError {
    /// Unknown `encryptedDEKSourceType`.
    #[error("unknown encryptedDEKSourceType: {0}")]
    UnknownSourceType(i32),
    /// Empty `encryptedData`.
    #[error("encrypted data is empty")]
    EmptyData,
    /// Empty `encryptedDEKSource`.
    #[error("failed to validate encrypted DEK source: encrypted DEK source is empty")]
    EmptyDekSource,
    /// Oversized `encryptedDEKSource`.
    #[error(
        "failed to validate encrypted DEK source: encrypted DEK source is {len} bytes, which exceeds the max size of 1024"
    )]
    DekSourceTooLong {
        /// Length found.
        len: usize,
    },
    /// Empty `keyID`.
    #[error("failed to validate key id: keyID is empty")]
    EmptyKeyId,
    /// Oversized `keyID`.
    #[error("failed to validate key id: keyID is {len} bytes, which exceeds the max size of 1024")]
    KeyIdTooLong {
        /// Length found.
        len: usize,
    },
    /// Invalid annotation keys and/or oversized annotations (an apimachinery aggregate).
    #[error("failed to validate annotations: {}", aggregate(problems))]
    Annotations {
        /// Each problem's text, in (sorted) key order, the size problem last.
        problems: Vec<AnnotationProblem>,
    },
}

/// One annotation problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationProblem {
    /// The key is not a fully qualified domain name (apimachinery
    /// `IsFullyQualifiedDomainName` on path `annotations`).
    #[error("{text}")]
    Key {
        /// The field error text, e.g. `annotations: Invalid value: "x": should be a domain …`.
        text: String,
    },
    /// Keys + values exceed 32 KiB.
    #[error("total size of annotations is {total}, which exceeds the max size of 32768")]
    TooLarge {
        /// Total size.
        total: u64,
    },
}

fn aggregate(problems: &[AnnotationProblem]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for p in problems {
        let text = p.to_string();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Mirrors `ValidateEncryptedObject`, check for check and in the same order.
pub fn validate_encrypted_object(o: &EncryptedObject) -> Result<(), EncryptedObjectError> {
    validate_with_data(o, &o.encrypted_data)
}

/// [`validate_encrypted_object`] with the encrypted data held apart from `o`.
fn validate_with_data(
    o: &EncryptedObject,
    encrypted_data: &[u8],
) -> Result<(), EncryptedObjectError> {
    if o.source_type().is_none() {
        return Err(EncryptedObjectError::UnknownSourceType(o.encrypted_dek_source_type));
    }
    if encrypted_data.is_empty() {
        return Err(EncryptedObjectError::EmptyData);
    }
    match o.encrypted_dek_source.len() {
        0 => return Err(EncryptedObjectError::EmptyDekSource),
        len if len > ENCRYPTED_DEK_SOURCE_MAX_SIZE => {
            return Err(EncryptedObjectError::DekSourceTooLong { len });
        }
        _ => {}
    }
    match o.key_id.len() {
        0 => return Err(EncryptedObjectError::EmptyKeyId),
        len if len > KEY_ID_MAX_SIZE => return Err(EncryptedObjectError::KeyIdTooLong { len }),
        _ => {}
    }
    let mut problems = Vec::new();
    let mut total = 0u64;
    for (k, v) in &o.annotations {
        if let Some(text) = fqdn_error("annotations", k) {
            problems.push(AnnotationProblem::Key { text });
        }
        total += (k.len() + v.len()) as u64;
    }
    if total > ANNOTATIONS_MAX_SIZE {
        problems.push(AnnotationProblem::TooLarge { total });
    }
    if problems.is_empty() { Ok(()) } else { Err(EncryptedObjectError::Annotations { problems }) }
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

fn is_subdomain(s: &str) -> bool {
    s.split('.').all(is_label)
}

/// apimachinery `IsFullyQualifiedDomainName(field.NewPath(path), name)` as one field-error
/// text (it returns at most one error).
fn fqdn_error(path: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{path}: Required value"));
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut errs = Vec::new();
    if name.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !is_subdomain(name) {
        errs.push(format!(
            "{DNS1123_SUBDOMAIN_MSG} (e.g. 'example.com', regex used for validation is '{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*')"
        ));
    }
    if !errs.is_empty() {
        return Some(format!("{path}: Invalid value: {}: {}", go_quote(name), errs.join(",")));
    }
    if name.split('.').count() < 2 {
        return Some(format!(
            "{path}: Invalid value: {}: should be a domain with at least two segments separated by dots",
            go_quote(name)
        ));
    }
    for label in name.split('.') {
        let mut errs = Vec::new();
        if label.len() > 63 {
            errs.push("must be no more than 63 characters".to_string());
        }
        if !is_label(label) {
            errs.push(format!(
                "{DNS1123_LABEL_MSG} (e.g. 'my-name', or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
            ));
        }
        if !errs.is_empty() {
            return Some(format!("{path}: Invalid value: {}: {}", go_quote(label), errs.join(",")));
        }
    }
    None
}

/// What the KMS v2 transformer writes with: the DEK or seed generated by the last rotation.
struct WriteState {
    writer: Box<dyn Transformer>,
    reader: Arc<dyn Transformer>,
    key_id: String,
    encrypted_dek_source: Vec<u8>,
    annotations: BTreeMap<String, Vec<u8>>,
    source_type: DekSourceType,
}

impl fmt::Debug for WriteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteState")
            .field("key_id", &self.key_id)
            .field("source_type", &self.source_type)
            .finish_non_exhaustive()
    }
}

/// A KMS v2 health/rotation failure (`kmsv2PluginProbe.check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsV2ProbeError {
    /// `Status` failed.
    #[error(
        "failed to perform status section of the healthz check for KMS Provider {provider}, error: {cause}"
    )]
    Status {
        /// KMS provider name.
        provider: String,
        /// Plugin error.
        cause: PluginError,
    },
    /// `Status` answered but the provider is unhealthy or rotation failed.
    #[error("kmsv2 Provider {provider} is not healthy, error: {}", aggregate_strings(problems))]
    Unhealthy {
        /// KMS provider name.
        provider: String,
        /// Each problem's text.
        problems: Vec<String>,
    },
}

fn aggregate_strings(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Mirrors `GetHashIfNotEmpty`: `sha256:<hex>` of a key ID, or empty.
pub fn key_id_hash(key_id: &str) -> String {
    use sha2::Digest as _;
    if key_id.is_empty() {
        return String::new();
    }
    let digest = sha2::Sha256::digest(key_id.as_bytes());
    let mut out = String::from("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

type CacheKey = (i32, Vec<u8>, String, BTreeMap<String, Vec<u8>>);

/// The KMS v2 envelope transformer (`k8s:enc:kms:v2:<name>:` is added by the prefix list).
///
/// Write state comes from [`KmsV2Envelope::probe`] (Status, then a new DEK/seed wrapped by
/// Encrypt when the key ID or KDF mode changed). Not modelled: the 3-minute write expiry
/// and the polling schedule (the caller owns time), and the 24 h TTL of the DEK cache (entries
/// live as long as the transformer).
pub struct KmsV2Envelope {
    name: String,
    plugin: Arc<dyn KmsV2Plugin>,
    random: Arc<dyn RandomSource>,
    use_seed: bool,
    state: RwLock<Option<Arc<WriteState>>>,
    version: Mutex<String>,
    cache: Mutex<HashMap<CacheKey, Arc<dyn Transformer>>>,
}

impl fmt::Debug for KmsV2Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsV2Envelope")
            .field("name", &self.name)
            .field("use_seed", &self.use_seed)
            .finish_non_exhaustive()
    }
}

impl KmsV2Envelope {
    /// A transformer with no write state yet (reads and writes fail with
    /// `got unexpected nil transformer` until a probe succeeds). `use_seed` selects
    /// `HKDF_SHA256_XNONCE_AES_GCM_SEED` (upstream's default) or `AES_GCM_KEY`.
    pub fn new(
        name: impl Into<String>,
        plugin: Arc<dyn KmsV2Plugin>,
        random: Arc<dyn RandomSource>,
        use_seed: bool,
    ) -> Self {
        KmsV2Envelope {
            name: name.into(),
            plugin,
            random,
            use_seed,
            state: RwLock::new(None),
            version: Mutex::new(String::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The KMS provider name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current write state's key ID and source type, if any.
    pub fn write_key(&self) -> Option<(String, DekSourceType)> {
        self.current().map(|s| (s.key_id.clone(), s.source_type))
    }

    fn current(&self) -> Option<Arc<WriteState>> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// One health check: `Status`, validation, and DEK/seed rotation when the key ID or the
    /// KDF mode differs from the write state. On failure the old state stays.
    pub fn probe(&self) -> Result<(), KmsV2ProbeError> {
        let status = self
            .plugin
            .status()
            .map_err(|cause| KmsV2ProbeError::Status { provider: self.name.clone(), cause })?;
        let mut problems = Vec::new();
        if status.healthz != "ok" {
            problems.push(format!("got unexpected healthz status: {}", status.healthz));
        }
        if status.version != "v2" && status.version != "v2beta1" {
            problems.push(format!("expected KMSv2 API version v2, got {}", status.version));
        } else {
            let mut version = lock(&self.version);
            if version.is_empty() {
                version.clone_from(&status.version);
            }
            if *version != status.version {
                problems.push(format!(
                    "KMSv2 API version should not change after the initial status response version {}, got {}",
                    version, status.version
                ));
            }
        }
        match validate_key_id(&status.key_id) {
            Some(err) => problems.push(format!(
                "got invalid KMSv2 KeyID hash {}: {err}",
                go_quote(&key_id_hash(&status.key_id))
            )),
            None => {
                if let Err(err) = self.rotate(&status.key_id) {
                    problems.push(err);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(KmsV2ProbeError::Unhealthy { provider: self.name.clone(), problems })
        }
    }

    fn rotate(&self, status_key_id: &str) -> Result<(), String> {
        let wanted = if self.use_seed {
            DekSourceType::HkdfSha256XnonceAesGcmSeed
        } else {
            DekSourceType::AesGcmKey
        };
        let old = self.current();
        if let Some(state) = &old
            && state.key_id == status_key_id
            && state.source_type == wanted
        {
            return Ok(());
        }
        match self.generate(wanted) {
            Ok(state) if state.key_id == status_key_id => {
                *self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(Arc::new(state));
                Ok(())
            }
            other => {
                // Upstream's text also carries a request UID and timestamps, which this
                // time-free model does not have.
                let (err, encrypt_key_id) = match other {
                    Ok(state) => ("<nil>".to_string(), state.key_id),
                    Err(err) => (err.to_string(), String::new()),
                };
                Err(format!(
                    "failed to rotate DEK, useSeed={}, errState={}, errGen={err}, statusKeyIDHash={}, encryptKeyIDHash={}, stateKeyIDHash={}",
                    self.use_seed,
                    if old.is_some() { "<nil>" } else { "got unexpected nil transformer" },
                    go_quote(&key_id_hash(status_key_id)),
                    go_quote(&key_id_hash(&encrypt_key_id)),
                    go_quote(&key_id_hash(old.as_ref().map_or("", |s| s.key_id.as_str()))),
                ))
            }
        }
    }

    /// Mirrors `GenerateTransformer`.
    fn generate(&self, source_type: DekSourceType) -> Result<WriteState, TransformError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        self.random
            .fill(secret.as_mut())
            .map_err(|cause| TransformError::DekGeneration { cause })?;
        let (writer, reader): (Box<dyn Transformer>, Arc<dyn Transformer>) = match source_type {
            DekSourceType::HkdfSha256XnonceAesGcmSeed => (
                Box::new(HkdfGcmTransformer::new(secret.as_ref(), self.random.clone())?),
                Arc::new(HkdfGcmTransformer::new(secret.as_ref(), self.random.clone())?),
            ),
            DekSourceType::AesGcmKey => (
                Box::new(AesGcmTransformer::with_counter_nonce(
                    secret.as_ref(),
                    self.random.clone(),
                )?),
                Arc::new(AesGcmTransformer::new(secret.as_ref(), self.random.clone())?),
            ),
        };
        let resp = self
            .plugin
            .encrypt(secret.as_ref())
            .map_err(|cause| TransformError::EncryptDek { cause })?;
        let check = EncryptedObject {
            encrypted_data: vec![0],
            key_id: resp.key_id.clone(),
            encrypted_dek_source: resp.ciphertext.clone(),
            annotations: resp.annotations.clone(),
            encrypted_dek_source_type: source_type as i32,
        };
        validate_encrypted_object(&check).map_err(TransformError::InvalidEncryptedObject)?;
        let state = WriteState {
            writer,
            reader,
            key_id: resp.key_id,
            encrypted_dek_source: resp.ciphertext,
            annotations: resp.annotations,
            source_type,
        };
        Ok(state)
    }

    /// Whether reading `stored` (this provider's value, without the prefix) would call the
    /// plugin's `Decrypt`: its DEK or seed is not in the cache. `false` for a value that does
    /// not decode (reading it fails before any call).
    pub fn needs_decrypt(&self, stored: &[u8]) -> bool {
        match EncryptedObject::decode_go(stored) {
            Ok(o) if validate_encrypted_object(&o).is_ok() => {
                !lock(&self.cache).contains_key(&cache_key(&o))
            }
            _ => false,
        }
    }

    /// Unwraps the DEK or seed of `stored` with the plugin's `Decrypt` even when it is cached,
    /// and caches it: what each of several concurrent readers that all missed the cache does
    /// (upstream has no single-flight around `Decrypt`). Errors are the read's errors.
    pub fn decrypt_uncached(&self, stored: &[u8]) -> Result<(), TransformError> {
        let o = EncryptedObject::decode_go(stored).map_err(TransformError::Proto)?;
        validate_encrypted_object(&o).map_err(TransformError::InvalidEncryptedObject)?;
        let source = o.source_type().expect("validated above");
        self.unwrap_and_cache(&o, source).map(drop)
    }

    fn reader(
        &self,
        o: &EncryptedObject,
        source: DekSourceType,
    ) -> Result<Arc<dyn Transformer>, TransformError> {
        if let Some(t) = lock(&self.cache).get(&cache_key(o)) {
            return Ok(t.clone());
        }
        self.unwrap_and_cache(o, source)
    }

    fn unwrap_and_cache(
        &self,
        o: &EncryptedObject,
        source: DekSourceType,
    ) -> Result<Arc<dyn Transformer>, TransformError> {
        let dek = Zeroizing::new(
            self.plugin
                .decrypt(&DecryptRequest {
                    ciphertext: &o.encrypted_dek_source,
                    key_id: &o.key_id,
                    annotations: &o.annotations,
                })
                .map_err(|cause| TransformError::DecryptDek { cause })?,
        );
        let t: Arc<dyn Transformer> = match source {
            DekSourceType::HkdfSha256XnonceAesGcmSeed => {
                Arc::new(HkdfGcmTransformer::new(&dek, self.random.clone())?)
            }
            DekSourceType::AesGcmKey => {
                Arc::new(AesGcmTransformer::new(&dek, self.random.clone())?)
            }
        };
        lock(&self.cache).insert(cache_key(o), t.clone());
        Ok(t)
    }
}

/// Upstream's `generateCacheKey` inputs: source type, encrypted source, key ID, annotations.
fn cache_key(o: &EncryptedObject) -> CacheKey {
    (
        o.encrypted_dek_source_type,
        o.encrypted_dek_source.clone(),
        o.key_id.clone(),
        o.annotations.clone(),
    )
}

fn validate_key_id(key_id: &str) -> Option<String> {
    match key_id.len() {
        0 => Some("keyID is empty".into()),
        len if len > KEY_ID_MAX_SIZE => {
            Some(format!("keyID is {len} bytes, which exceeds the max size of 1024"))
        }
        _ => None,
    }
}

impl Transformer for KmsV2Envelope {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let state = self
            .current()
            .ok_or_else(|| TransformError::KmsV2NoState { provider: self.name.clone() })?;
        // Seed the read cache with the write DEK, as upstream does on every write, so reading
        // our own writes does not call the plugin.
        let key: CacheKey = (
            state.source_type as i32,
            state.encrypted_dek_source.clone(),
            state.key_id.clone(),
            state.annotations.clone(),
        );
        lock(&self.cache).entry(key).or_insert_with(|| state.reader.clone());
        let obj = EncryptedObject {
            encrypted_data: Vec::new(),
            key_id: state.key_id.clone(),
            encrypted_dek_source: state.encrypted_dek_source.clone(),
            annotations: state.annotations.clone(),
            encrypted_dek_source_type: state.source_type as i32,
        };
        // Encrypt straight into `out` behind field 1's tag and length, which the payload's
        // fixed overhead gives in advance: no second buffer, no copy.
        let data_len = plaintext.len() + state.source_type.payload_overhead();
        out.reserve(data_len + 16 + obj.encoded_len_hint_after_data());
        out.push(0x0a);
        varint(out, data_len as u64);
        let start = out.len();
        state.writer.append_to_storage(plaintext, ctx, out)?;
        assert_eq!(out.len() - start, data_len, "KMS v2 payload overhead");
        validate_with_data(&obj, &out[start..]).map_err(TransformError::InvalidEncryptedObject)?;
        obj.encode_go_after_data(out);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let (obj, encrypted_data) =
            EncryptedObject::decode_go_borrowing(stored).map_err(TransformError::Proto)?;
        validate_with_data(&obj, encrypted_data).map_err(TransformError::InvalidEncryptedObject)?;
        let source = obj.source_type().expect("validated above");
        let state = self
            .current()
            .ok_or_else(|| TransformError::KmsV2NoState { provider: self.name.clone() })?;
        let reader = self.reader(&obj, source)?;
        let (plain, stale) = reader.from_storage(encrypted_data, ctx)?;
        Ok((plain, stale || obj.key_id != state.key_id || source != state.source_type))
    }
}
