//! `ValidateEncryptedObject` and the key-ID checks, text for text.

use super::*;

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
pub(super) fn validate_with_data(
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

pub(super) fn validate_key_id(key_id: &str) -> Option<String> {
    match key_id.len() {
        0 => Some("keyID is empty".into()),
        len if len > KEY_ID_MAX_SIZE => {
            Some(format!("keyID is {len} bytes, which exceeds the max size of 1024"))
        }
        _ => None,
    }
}
