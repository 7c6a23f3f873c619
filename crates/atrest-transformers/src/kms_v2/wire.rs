//! The `EncryptedObject` message (`kmsv2/v2/api.proto`) and Go's protobuf wire rules for it,
//! written by hand without protoc.

use super::*;

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
    pub(super) const fn payload_overhead(self) -> usize {
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

    pub(super) fn encoded_len_hint_after_data(&self) -> usize {
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
    pub(super) fn encode_go_after_data(&self, out: &mut Vec<u8>) {
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
    pub(super) fn decode_go_borrowing(data: &[u8]) -> Result<(Self, &[u8]), ProtoError> {
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

pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
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
