//! Validation (k8s.io/apiserver pkg/apis/apiserver/validation/validation_encryption.go), every rule with upstream's path, type, value and detail.
//!
//! Mirrors k8s.io/apiserver pkg/apis/apiserver/validation/validation_encryption.go
//! (`ValidateEncryptionConfiguration`) and k8s.io/apimachinery pkg/util/validation/field/errors.go
//! (`Error.Error`, `ErrorList.ToAggregate`) plus pkg/util/errors/errors.go (aggregate `Error`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use crate::goquote::{go_has_lower_mapping, go_json_string, go_quote};
use crate::gourl;
use crate::resolve::GroupResource;
use crate::types::{
    AesConfiguration, EncryptionConfiguration, GoDuration, Key, KmsConfiguration,
    ProviderConfiguration,
};

/// apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `Not found`.
    NotFound,
    /// `Required value` (prints no value).
    Required,
    /// `Duplicate value`.
    Duplicate,
    /// `Invalid value`.
    Invalid,
    /// `Unsupported value`.
    NotSupported,
    /// `Forbidden` (prints no value).
    Forbidden,
    /// `Too long` (prints no value).
    TooLong,
    /// `Too many`.
    TooMany,
    /// `Internal error` (prints no value).
    Internal,
    /// `Invalid value` (type errors).
    TypeInvalid,
    /// `Too short` (prints no value).
    TooShort,
    /// `Too few`.
    TooFew,
}

impl ErrorType {
    /// `ErrorType.String()`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TooShort => "Too short",
            ErrorType::TooFew => "Too few",
        }
    }

    /// Whether `Error()` omits the value for this type.
    const fn omits_value(self) -> bool {
        matches!(
            self,
            ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::TooShort
                | ErrorType::Internal
        )
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The offending value of a [`FieldError`], rendered as the current apiserver renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A string: Go `%q`.
    Str(String),
    /// An integer: Go `%v`.
    Int(i64),
    /// A `[]string` (a resource list): JSON.
    StringList(Vec<String>),
    /// A `*metav1.Duration`: JSON (`"-1s"`, or `null`).
    Duration(Option<GoDuration>),
    /// The whole provider item: Go's `json.Marshal` of the internal struct, with every non-empty
    /// key secret printed as `REDACTED`.
    Provider(Box<ProviderConfiguration>, ProviderRenderHints),
}

/// What the renderer cannot see in the typed model: which `keys` lists were written as `[]`
/// (Go marshals those as `[]`, absent or `null` ones as `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderRenderHints {
    /// Provider kinds (`aesgcm`, `aescbc`, `secretbox`) whose `keys` was an explicit empty list.
    pub empty_key_lists: BTreeSet<&'static str>,
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(&go_quote(s)),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::StringList(list) => {
                let items: Vec<String> = list.iter().map(|s| go_json_string(s)).collect();
                write!(f, "[{}]", items.join(","))
            }
            FieldValue::Duration(d) => match d {
                Some(d) => f.write_str(&go_json_string(&d.to_string())),
                None => f.write_str("null"),
            },
            FieldValue::Provider(p, hints) => f.write_str(&internal_provider_json(p, hints)),
        }
    }
}

fn keys_json(keys: &[Key], explicit_empty: bool) -> String {
    if keys.is_empty() {
        return if explicit_empty { "[]".to_owned() } else { "null".to_owned() };
    }
    let items: Vec<String> = keys
        .iter()
        .map(|k| {
            let secret = if k.secret.is_empty() { String::new() } else { "REDACTED".to_owned() };
            format!(
                "{{\"Name\":{},\"Secret\":{}}}",
                go_json_string(&k.name),
                go_json_string(&secret)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn aes_json(aes: Option<&AesConfiguration>, explicit_empty: bool) -> String {
    match aes {
        None => "null".to_owned(),
        Some(a) => format!("{{\"Keys\":{}}}", keys_json(&a.keys, explicit_empty)),
    }
}

fn kms_json(kms: &KmsConfiguration) -> String {
    let cache = kms.cachesize.map_or_else(|| "null".to_owned(), |c| c.to_string());
    let timeout =
        kms.timeout.as_ref().map_or_else(|| "null".to_owned(), |t| go_json_string(&t.to_string()));
    format!(
        "{{\"APIVersion\":{},\"Name\":{},\"CacheSize\":{},\"Endpoint\":{},\"Timeout\":{}}}",
        go_json_string(&kms.api_version),
        go_json_string(&kms.name),
        cache,
        go_json_string(&kms.endpoint),
        timeout
    )
}

/// Go's `json.Marshal` of the internal `apiserver.ProviderConfiguration` (no json tags, so Go
/// field names), with non-empty secrets replaced by `REDACTED`.
fn internal_provider_json(p: &ProviderConfiguration, hints: &ProviderRenderHints) -> String {
    let secretbox = p.secretbox.as_ref().map(|s| AesConfiguration { keys: s.keys.clone() });
    format!(
        "{{\"AESGCM\":{},\"AESCBC\":{},\"Secretbox\":{},\"Identity\":{},\"KMS\":{}}}",
        aes_json(p.aesgcm.as_ref(), hints.empty_key_lists.contains("aesgcm")),
        aes_json(p.aescbc.as_ref(), hints.empty_key_lists.contains("aescbc")),
        aes_json(secretbox.as_ref(), hints.empty_key_lists.contains("secretbox")),
        if p.identity.is_some() { "{}" } else { "null" },
        p.kms.as_ref().map_or_else(|| "null".to_owned(), kms_json),
    )
}

/// One validation error (apimachinery `field.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `resources[0].providers[1].aescbc.keys[0].secret`.
    pub field: String,
    /// Error type.
    pub error_type: ErrorType,
    /// The offending value (not printed for `Required` and friends).
    pub value: Option<FieldValue>,
    /// Detail text.
    pub detail: String,
    /// The real apiserver prints key material in this error's value (the provider-item errors
    /// carry the whole provider struct, secrets included); ours prints `REDACTED` instead.
    pub upstream_prints_key_material: bool,
}

impl FieldError {
    fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            error_type: ErrorType::Required,
            value: None,
            detail: detail.into(),
            upstream_prints_key_material: false,
        }
    }

    fn invalid(field: impl Into<String>, value: FieldValue, detail: impl Into<String>) -> Self {
        let upstream_prints_key_material = match &value {
            FieldValue::Provider(p, _) => provider_has_secret(p),
            _ => false,
        };
        FieldError {
            field: field.into(),
            error_type: ErrorType::Invalid,
            value: Some(value),
            detail: detail.into(),
            upstream_prints_key_material,
        }
    }
}

fn provider_has_secret(p: &ProviderConfiguration) -> bool {
    let keys = p
        .aesgcm
        .iter()
        .chain(p.aescbc.iter())
        .flat_map(|a| a.keys.iter())
        .chain(p.secretbox.iter().flat_map(|s| s.keys.iter()));
    keys.into_iter().any(|k| !k.secret.is_empty())
}

impl fmt::Display for FieldError {
    /// `<path>: <Type>[: <value>][: <detail>]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.error_type)?;
        if !self.error_type.omits_value()
            && let Some(v) = &self.value
        {
            write!(f, ": {v}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// A non-empty, de-duplicated list of [`FieldError`]s (`ErrorList.ToAggregate()`). `Display`: one
/// error bare, several as `[e1, e2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// `ToAggregate`: drops errors whose text repeats an earlier one; `None` when empty.
    pub fn from_list(list: Vec<FieldError>) -> Option<FieldErrors> {
        let mut seen = HashSet::new();
        let deduped: Vec<FieldError> =
            list.into_iter().filter(|e| seen.insert(e.to_string())).collect();
        (!deduped.is_empty()).then_some(FieldErrors(deduped))
    }

    /// The errors, in upstream's order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether any error's upstream text contains key material.
    pub fn upstream_prints_key_material(&self) -> bool {
        self.0.iter().any(|e| e.upstream_prints_key_material)
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [only] => write!(f, "{only}"),
            all => {
                let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", texts.join(", "))
            }
        }
    }
}

impl std::error::Error for FieldErrors {}

/// Options beyond upstream's `reload` flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// `reload`: the automatic-reload path, where KMS v1 names must be unique too.
    pub reload: bool,
    /// Field paths of `keys` lists written as `[]` (from [`crate::decode::Decoded`]), so the
    /// provider-item errors print `[]` rather than `null` for them, as upstream does.
    pub empty_key_lists: BTreeSet<String>,
}

/// `ValidateEncryptionConfiguration(cfg, reload).ToAggregate()`.
pub fn validate(cfg: &EncryptionConfiguration, reload: bool) -> Result<(), FieldErrors> {
    validate_with(cfg, &ValidateOptions { reload, ..ValidateOptions::default() })
}

/// [`validate`] with options.
pub fn validate_with(
    cfg: &EncryptionConfiguration,
    opts: &ValidateOptions,
) -> Result<(), FieldErrors> {
    match FieldErrors::from_list(validate_list(cfg, opts)) {
        Some(errs) => Err(errs),
        None => Ok(()),
    }
}

/// Every error, before de-duplication, in upstream's order.
pub fn validate_list(cfg: &EncryptionConfiguration, opts: &ValidateOptions) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if cfg.resources.is_empty() {
        errs.push(FieldError::required("resources", "at least one resources is required"));
        return errs;
    }
    let mut kms_names: HashSet<&str> = HashSet::new();
    for (i, conf) in cfg.resources.iter().enumerate() {
        let r = format!("resources[{i}].resources");
        let p = format!("resources[{i}].providers");
        if conf.resources.is_empty() {
            errs.push(FieldError::required(&r, format!("at least one {r} is required")));
        }
        validate_overlap(&conf.resources, &r, &mut errs);
        validate_names(&conf.resources, &r, &mut errs);
        if conf.providers.is_empty() {
            errs.push(FieldError::required(&p, format!("at least one {p} is required")));
        }
        for (j, provider) in conf.providers.iter().enumerate() {
            let path = format!("{p}[{j}]");
            validate_single_provider(provider, &path, opts, &mut errs);
            if let Some(kms) = &provider.kms {
                validate_kms(kms, &format!("{path}.kms"), &kms_names, opts.reload, &mut errs);
                kms_names.insert(&kms.name);
            } else if let Some(aes) = &provider.aesgcm {
                validate_keys(&aes.keys, &format!("{path}.aesgcm.keys"), &[16, 24, 32], &mut errs);
            } else if let Some(aes) = &provider.aescbc {
                validate_keys(&aes.keys, &format!("{path}.aescbc.keys"), &[16, 24, 32], &mut errs);
            } else if let Some(sb) = &provider.secretbox {
                validate_keys(&sb.keys, &format!("{path}.secretbox.keys"), &[32], &mut errs);
            }
        }
    }
    errs
}

fn validate_overlap(resources: &[String], path: &str, errs: &mut Vec<FieldError>) {
    if resources.len() < 2 {
        return;
    }
    let parsed: Vec<GroupResource> = resources.iter().map(|r| GroupResource::parse(r)).collect();
    let (has_duplicate, has_overlap) = overlap_flags(&parsed);
    if has_duplicate {
        errs.push(FieldError::invalid(
            path,
            FieldValue::StringList(resources.to_vec()),
            "the same resource cannot be specified multiple times",
        ));
    }
    if has_overlap {
        errs.push(FieldError::invalid(
            path,
            FieldValue::StringList(resources.to_vec()),
            "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
        ));
    }
}

/// `validateResourceOverlap`'s two flags, in linear time. Upstream checks every ordered pair
/// `(i, j)`, `i != j`. The first pair of equal resources only sets the duplicate flag, but its
/// mirror pair, checked later, overlaps exactly when it would have; so the resources overlap when
/// one is `*.*`, or a group holds a `*` resource and another resource.
fn overlap_flags(parsed: &[GroupResource]) -> (bool, bool) {
    let mut seen = HashSet::new();
    let has_duplicate = !parsed.iter().all(|r| seen.insert(r));
    // Per group: how many resources, and whether one is `*`.
    let mut groups: HashMap<&str, (usize, bool)> = HashMap::new();
    for r in parsed {
        let group = groups.entry(r.group.as_str()).or_default();
        group.0 += 1;
        group.1 |= r.resource == "*";
    }
    let has_overlap = parsed.len() >= 2
        && (parsed.iter().any(GroupResource::is_any)
            || groups.values().any(|(count, star)| *star && *count >= 2));
    (has_duplicate, has_overlap)
}

/// `hasCapital`: `strings.ToLower(s) != s` with Go's Unicode tables.
fn has_capital(s: &str) -> bool {
    s.chars().any(go_has_lower_mapping)
}

fn validate_names(resources: &[String], path: &str, errs: &mut Vec<FieldError>) {
    for (j, res) in resources.iter().enumerate() {
        let jj = format!("{path}[{j}]");
        let gr = GroupResource::parse(res);
        let detail = if has_capital(res) {
            "resource name should not contain capital letters"
        } else if res == "*" {
            "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
        } else if matches!(
            res.as_str(),
            "apiserveripinfo" | "serviceipallocations" | "servicenodeportallocations"
        ) {
            "resources which do not have REST API/s cannot be encrypted"
        } else if gr.group == "events.k8s.io" {
            "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
        } else if gr.group == "extensions" {
            "'extensions' group has been removed and cannot be used for encryption"
        } else if gr.group == "*" && gr.resource != "*" {
            "encrypting the same resource across groups is not supported"
        } else {
            continue;
        };
        errs.push(FieldError::invalid(jj, FieldValue::Str(res.clone()), detail));
    }
}

fn render_hints(path: &str, opts: &ValidateOptions) -> ProviderRenderHints {
    let mut hints = ProviderRenderHints::default();
    for kind in ["aesgcm", "aescbc", "secretbox"] {
        if opts.empty_key_lists.contains(&format!("{path}.{kind}.keys")) {
            hints.empty_key_lists.insert(kind);
        }
    }
    hints
}

fn validate_single_provider(
    p: &ProviderConfiguration,
    path: &str,
    opts: &ValidateOptions,
    errs: &mut Vec<FieldError>,
) {
    let found = p.kinds().len();
    let detail = match found {
        0 => {
            "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity"
        }
        1 => return,
        _ => {
            "more than one provider specified in a single element, should split into different list elements"
        }
    };
    let value = FieldValue::Provider(Box::new(p.clone()), render_hints(path, opts));
    errs.push(FieldError::invalid(path, value, detail));
}

fn validate_keys(keys: &[Key], path: &str, sizes: &[usize], errs: &mut Vec<FieldError>) {
    if keys.is_empty() {
        errs.push(FieldError::required(path, "at least one keys is required"));
        return;
    }
    for (i, key) in keys.iter().enumerate() {
        let kp = format!("{path}[{i}]");
        if key.name.is_empty() {
            errs.push(FieldError::required(
                format!("{kp}.name"),
                "name is a mandatory field for a key",
            ));
        }
        if key.secret.is_empty() {
            errs.push(FieldError::required(
                format!("{kp}.secret"),
                "secret is a mandatory field for a key",
            ));
            continue;
        }
        let redacted = || FieldValue::Str("REDACTED".to_owned());
        match key.decode_secret() {
            Err(_) => errs.push(FieldError::invalid(
                format!("{kp}.secret"),
                redacted(),
                "secrets must be base64 encoded",
            )),
            Ok(bytes) if !sizes.contains(&bytes.len()) => {
                let expected: Vec<String> = sizes.iter().map(ToString::to_string).collect();
                errs.push(FieldError::invalid(
                    format!("{kp}.secret"),
                    redacted(),
                    format!(
                        "secret is not of the expected length, got {}, expected one of [{}]",
                        bytes.len(),
                        expected.join(" ")
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
}

fn validate_kms(
    c: &KmsConfiguration,
    path: &str,
    names: &HashSet<&str>,
    reload: bool,
    errs: &mut Vec<FieldError>,
) {
    // Name.
    let name_path = format!("{path}.name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, "name is a mandatory field for a provider"));
    }
    if c.api_version != "v1" && c.name.contains(':') {
        errs.push(FieldError::invalid(
            &name_path,
            FieldValue::Str(c.name.clone()),
            format!("invalid KMS provider name {}, must not contain ':'", c.name),
        ));
    }
    if (reload || c.api_version != "v1") && names.contains(c.name.as_str()) {
        errs.push(FieldError::invalid(
            &name_path,
            FieldValue::Str(c.name.clone()),
            format!("duplicate KMS provider name {}, names must be unique", c.name),
        ));
    }
    // Timeout (a nil timeout only reaches here for `__internal` documents, which upstream does
    // not default; it would crash there, we treat it as zero).
    if c.timeout.as_ref().is_none_or(|t| t.nanos <= 0) {
        errs.push(FieldError::invalid(
            format!("{path}.timeout"),
            FieldValue::Duration(c.timeout.clone()),
            "timeout should be a positive value",
        ));
    }
    // Endpoint.
    let endpoint_path = format!("{path}.endpoint");
    if c.endpoint.is_empty() {
        errs.push(FieldError::invalid(
            &endpoint_path,
            FieldValue::Str(String::new()),
            "endpoint is a mandatory field for a kms",
        ));
    } else {
        match gourl::parse_scheme(&c.endpoint) {
            Err(e) => errs.push(FieldError::invalid(
                &endpoint_path,
                FieldValue::Str(c.endpoint.clone()),
                format!("invalid endpoint for kms provider, error: {e}"),
            )),
            Ok(scheme) if scheme != "unix" => errs.push(FieldError::invalid(
                &endpoint_path,
                FieldValue::Str(c.endpoint.clone()),
                format!(
                    "unsupported scheme {} for KMS provider, only unix is supported",
                    go_quote(&scheme)
                ),
            )),
            Ok(_) => {}
        }
    }
    // Cache size.
    let cache_path = format!("{path}.cachesize");
    if c.api_version != "v1"
        && let Some(size) = c.cachesize
    {
        errs.push(FieldError::invalid(
            &cache_path,
            FieldValue::Int(i64::from(size)),
            "cachesize is not supported in v2",
        ));
    }
    if c.api_version == "v1" && c.cachesize.unwrap_or(0) == 0 {
        errs.push(FieldError::invalid(
            &cache_path,
            FieldValue::Int(i64::from(c.cachesize.unwrap_or(0))),
            "cachesize should be a positive value, or negative to disable",
        ));
    }
    // API version (upstream passes the literal word "apiVersion" to the format).
    if c.api_version != "v1" && c.api_version != "v2" {
        errs.push(FieldError::invalid(
            format!("{path}.apiVersion"),
            FieldValue::Str(c.api_version.clone()),
            "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported",
        ));
    }
}

#[cfg(test)]
mod tests;
