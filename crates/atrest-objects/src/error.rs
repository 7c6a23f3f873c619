//! Errors from decoding stored objects.

/// Why [`crate::decode_stored`] could not read a stored value.
///
/// Messages never contain object contents: only sizes, type meta, prefixes of encrypted
/// values (provider and key names) and the codec's own description of the defect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// Zero bytes (upstream protobuf serializer: `empty data`).
    #[error("stored object is empty")]
    Empty,
    /// The value is still encrypted: it starts with the reserved `k8s:enc:` prefix.
    #[error("stored object is encrypted (prefix {prefix:?}); decrypt it before decoding")]
    Encrypted {
        /// The storage prefix up to and including the key or provider name, e.g.
        /// `k8s:enc:aescbc:v1:key1:`, or just `k8s:enc:` when it cannot be delimited.
        prefix: String,
    },
    /// Neither the `k8s\x00` protobuf magic nor JSON (`{` after optional whitespace).
    #[error(
        "stored object is neither protobuf (k8s\\x00 magic) nor JSON; {len} bytes starting with {first_byte:#04x}"
    )]
    UnrecognizedEncoding {
        /// The first byte, to tell a truncated magic from unrelated data.
        first_byte: u8,
        /// Total length of the value.
        len: usize,
    },
    /// Only the magic, no envelope (upstream protobuf serializer: `empty body`).
    #[error("stored object has the k8s\\x00 magic but an empty body")]
    EmptyBody,
    /// The `runtime.Unknown` envelope after the magic is not valid protobuf.
    #[error("invalid runtime.Unknown envelope after the k8s\\x00 magic")]
    Envelope {
        /// The protobuf decoder's description.
        #[source]
        source: prost::DecodeError,
    },
    /// The envelope names a kind this crate decodes, but its body is not valid protobuf for it.
    #[error("invalid {kind} body in a {api_version} protobuf envelope")]
    Body {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
        /// The protobuf decoder's description.
        #[source]
        source: prost::DecodeError,
    },
    /// A JSON value that does not parse.
    #[error("invalid JSON stored object")]
    Json {
        /// The JSON parser's description (position and defect, not content).
        #[source]
        source: serde_json::Error,
    },
    /// A JSON value whose top level is not an object, or whose `apiVersion`/`kind` is not a
    /// string (upstream's `json.Unmarshal` into the type meta fails the same way).
    #[error("JSON stored object has a non-string {field:?} or is not an object")]
    JsonTypeMeta {
        /// `apiVersion`, `kind`, or `<top level>`.
        field: &'static str,
    },
}
