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

fn kms_v2_source(stored: &[u8]) -> Vec<u8> {
    let body =
        stored.strip_prefix(b"k8s:enc:kms:v2:kms-provider:".as_slice()).expect("kms v2 value");
    atrest_transformers::EncryptedObject::decode_go(body).expect("decode").encrypted_dek_source
}

/// Upstream builds one transformer list per `resources[i]` entry and every resource of the
/// entry shares it (`TestKMSv2SingleService`): one KMS v2 service, one DEK/seed.
#[test]
fn resources_of_one_entry_share_one_kms_v2_state() {
    let cfg = EncryptionConfiguration {
        type_meta: TypeMeta::V1,
        resources: vec![ResourceConfiguration {
            resources: vec!["secrets".into(), "configmaps".into()],
            providers: vec![provider("kms", vec![], "kms-provider")],
        }],
    };
    let plan = ResourcePlan::build(&cfg).expect("plan");
    let plugin = Arc::new(Base64Plugin::new());
    let kms = KmsPlugins::new().with_v2("kms-provider", plugin.clone());
    let rt = ResourceTransformers::new(&plan, &kms).expect("build");
    let secrets = rt.for_resource(&GroupResource::new("", "secrets"));
    let configmaps = rt.for_resource(&GroupResource::new("", "configmaps"));
    let s = secrets.to_storage(b"s", b"/registry/secrets/ns/a").expect("write");
    let c = configmaps.to_storage(b"c", b"/registry/configmaps/ns/a").expect("write");
    assert_eq!(kms_v2_source(&s), kms_v2_source(&c), "one seed for both resources");

    let envelopes: Vec<_> = rt.chains().map(|(_, chain)| chain.kms_v2()[0].clone()).collect();
    assert_eq!(envelopes.len(), 2);
    assert!(Arc::ptr_eq(&envelopes[0], &envelopes[1]), "one KMS v2 service per entry");

    // Rotation through either chain is seen by both.
    plugin.update_key_id();
    assert!(rt.chains().next().expect("a chain").1.probe_kms().is_empty());
    let s2 = secrets.to_storage(b"s", b"/registry/secrets/ns/a").expect("write");
    let c2 = configmaps.to_storage(b"c", b"/registry/configmaps/ns/a").expect("write");
    assert_ne!(kms_v2_source(&s), kms_v2_source(&s2));
    assert_eq!(kms_v2_source(&s2), kms_v2_source(&c2));
}

/// A resource named in two entries reads through both entries' lists (the second entry's
/// transformers are the ones its other resources use), and only the first writes.
#[test]
fn a_rule_in_two_entries_concatenates_their_shared_lists() {
    let k = key("key1", &b64(&[9; 32]));
    let cfg = EncryptionConfiguration {
        type_meta: TypeMeta::V1,
        resources: vec![
            ResourceConfiguration {
                resources: vec!["secrets".into()],
                providers: vec![provider("aesgcm", vec![k], "")],
            },
            ResourceConfiguration {
                resources: vec!["secrets".into(), "configmaps".into()],
                providers: vec![provider("kms", vec![], "kms-provider")],
            },
        ],
    };
    let plan = ResourcePlan::build(&cfg).expect("plan");
    let kms = KmsPlugins::new().with_v2("kms-provider", Arc::new(Base64Plugin::new()));
    let rt = ResourceTransformers::new(&plan, &kms).expect("build");
    let (secrets_gr, configmaps_gr) =
        (GroupResource::new("", "secrets"), GroupResource::new("", "configmaps"));
    let chain = |gr: &GroupResource| {
        rt.chains().find(|(rule, _)| *rule == gr).map(|(_, c)| c.clone()).expect("chain")
    };
    let (secrets, configmaps) = (chain(&secrets_gr), chain(&configmaps_gr));
    assert_eq!(secrets.prefix_list().entries().len(), 2);
    assert!(Arc::ptr_eq(&secrets.kms_v2()[0], &configmaps.kms_v2()[0]));

    let aad = b"/registry/secrets/ns/a";
    assert!(secrets.to_storage(b"v", aad).expect("write").starts_with(b"k8s:enc:aesgcm:v1:key1:"));
    let via_kms = configmaps.to_storage(b"v", aad).expect("write");
    // Read by the second provider of the secrets list: stale, as upstream's prefix list says.
    assert_eq!(secrets.from_storage(&via_kms, aad).expect("read"), (b"v".to_vec(), true));
}
