//! Defaulting (k8s.io/apiserver pkg/apis/apiserver/v1/defaults.go).
//!
//! Mirrors k8s.io/apiserver pkg/apis/apiserver/v1/defaults.go (`SetDefaults_KMSConfiguration`),
//! applied to every `kms` provider by the generated `SetObjectDefaults_EncryptionConfiguration`.

use crate::types::{EncryptionConfiguration, GoDuration, KmsConfiguration};

/// The KMS call timeout when `timeout` is unset.
pub const DEFAULT_KMS_TIMEOUT: GoDuration = GoDuration::from_secs(3);
/// The KMS `apiVersion` when unset.
pub const DEFAULT_KMS_API_VERSION: &str = "v1";
/// The KMS v1 DEK cache size when unset (v1 only; v2 has no cache size).
pub const DEFAULT_KMS_V1_CACHE_SIZE: i32 = 1000;

/// Applies upstream's defaults in place.
pub fn apply(cfg: &mut EncryptionConfiguration) {
    for entry in &mut cfg.resources {
        for provider in &mut entry.providers {
            if let Some(kms) = &mut provider.kms {
                apply_kms(kms);
            }
        }
    }
}

/// `SetDefaults_KMSConfiguration`: timeout 3s, apiVersion `v1`, then cachesize 1000 for v1.
pub fn apply_kms(kms: &mut KmsConfiguration) {
    if kms.timeout.is_none() {
        kms.timeout = Some(DEFAULT_KMS_TIMEOUT);
    }
    if kms.api_version.is_empty() {
        kms.api_version = DEFAULT_KMS_API_VERSION.to_owned();
    }
    if kms.cachesize.is_none() && kms.api_version == "v1" {
        kms.cachesize = Some(DEFAULT_KMS_V1_CACHE_SIZE);
    }
}
