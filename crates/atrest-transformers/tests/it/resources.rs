//! `ResourceTransformers` over a resolved plan, and KMS v2 key-ID rotation.

use std::sync::Arc;

use atrest_config::resolve::{GroupResource, ResourcePlan};
use atrest_config::{EncryptionConfiguration, ResourceConfiguration, TypeMeta};
use atrest_transformers::{
    Base64Plugin, DekSourceType, KmsPlugins, ProviderChain, ResourceTransformers, Transformer,
};

use crate::support::{b64, key, provider};

fn config() -> EncryptionConfiguration {
    let k = key("key1", &b64(&[9; 32]));
    EncryptionConfiguration {
        type_meta: TypeMeta::V1,
        resources: vec![
            ResourceConfiguration {
                resources: vec!["secrets".into()],
                providers: vec![
                    provider("aesgcm", vec![k.clone()], ""),
                    provider("identity", vec![], ""),
                ],
            },
            ResourceConfiguration {
                resources: vec!["*.apps".into()],
                providers: vec![provider("secretbox", vec![k], "")],
            },
        ],
    }
}

#[test]
fn resources_get_their_rule_or_the_bare_identity() {
    let plan = ResourcePlan::build(&config()).expect("plan");
    let rt = ResourceTransformers::new(&plan, &KmsPlugins::new()).expect("build");
    let aad = b"/registry/secrets/default/s";
    let secret =
        rt.for_resource(&GroupResource::new("", "secrets")).to_storage(b"v", aad).expect("write");
    assert!(secret.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
    let deploy = rt
        .for_resource(&GroupResource::new("apps", "deployments"))
        .to_storage(b"v", aad)
        .expect("write");
    assert!(deploy.starts_with(b"k8s:enc:secretbox:v1:key1:"));

    let configmaps = GroupResource::new("", "configmaps");
    assert!(rt.is_bare_identity(&configmaps));
    let bare = rt.for_resource(&configmaps);
    assert_eq!(bare.to_storage(b"plain", aad).expect("write"), b"plain");
    let err = bare.from_storage(&secret, aad).expect_err("bare identity refuses encrypted data");
    assert_eq!(err.to_string(), "identity transformer tried to read encrypted data");
}

#[test]
fn kms_v2_key_id_change_rotates_the_dek_and_marks_old_data_stale() {
    let plugin = Arc::new(Base64Plugin::new());
    let p = provider("kms", vec![], "kms-provider");
    let chain =
        ProviderChain::build(&[&p], &KmsPlugins::new().with_v2("kms-provider", plugin.clone()))
            .expect("build");
    let envelope = &chain.kms_v2()[0];
    assert_eq!(envelope.write_key(), Some(("1".into(), DekSourceType::HkdfSha256XnonceAesGcmSeed)));
    let aad = b"/registry/secrets/default/s";
    let old = chain.to_storage(b"value", aad).expect("write");
    // Two writes reuse one DEK source (the `EncryptedObject`s differ only in the payload).
    let again = chain.to_storage(b"value", aad).expect("write");
    let source = |v: &[u8]| {
        atrest_transformers::EncryptedObject::decode_go(&v[b"k8s:enc:kms:v2:kms-provider:".len()..])
            .expect("decode")
            .encrypted_dek_source
    };
    assert_eq!(source(&old), source(&again));
    assert_eq!(chain.from_storage(&old, aad).expect("read"), (b"value".to_vec(), false));

    plugin.update_key_id();
    assert!(chain.probe_kms().is_empty());
    assert_eq!(envelope.write_key(), Some(("2".into(), DekSourceType::HkdfSha256XnonceAesGcmSeed)));
    assert_eq!(chain.from_storage(&old, aad).expect("read"), (b"value".to_vec(), true));
    let new = chain.to_storage(b"value", aad).expect("write");
    assert_ne!(source(&old), source(&new));
    assert_eq!(chain.from_storage(&new, aad).expect("read"), (b"value".to_vec(), false));

    // Plugin down: the write state stays, reads of cached DEKs keep working.
    plugin.enter_failed_state();
    assert_eq!(chain.probe_kms().len(), 1);
    assert_eq!(chain.from_storage(&new, aad).expect("read"), (b"value".to_vec(), false));
    assert!(chain.to_storage(b"value", aad).is_ok());
}
