//! Envelope parsing and decryption of arbitrary stored values through a chain holding every
//! provider kind: never a panic, whatever etcd holds.
#![no_main]

use std::sync::{Arc, LazyLock};

use atrest_config::resolve::{GroupResource, ResourcePlan};
use atrest_config::{
    AesConfiguration, EncryptionConfiguration, IdentityConfiguration, Key, KeySecret,
    KmsConfiguration, ProviderConfiguration, ResourceConfiguration, SecretboxConfiguration,
    TypeMeta,
};
use atrest_transformers::{Base64Plugin, Envelope, KmsPlugins, ResourceTransformers};
use libfuzzer_sys::fuzz_target;

fn key(name: &str, secret: &str) -> Key {
    Key { name: name.to_owned(), secret: KeySecret::new(secret) }
}

fn kms(name: &str, version: &str) -> ProviderConfiguration {
    ProviderConfiguration {
        kms: Some(KmsConfiguration {
            api_version: version.to_owned(),
            name: name.to_owned(),
            cachesize: (version == "v1").then_some(1000),
            endpoint: "unix:///@fuzz".to_owned(),
            timeout: Some(atrest_config::GoDuration::from_secs(3)),
        }),
        ..Default::default()
    }
}

static TRANSFORMERS: LazyLock<ResourceTransformers> = LazyLock::new(|| {
    // Fixed, public fuzzing keys: 16-byte and 32-byte AES, 32-byte secretbox.
    let aes16 = "c2VjcmV0IGlzIHNlY3VyZQ==";
    let k32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let providers = vec![
        ProviderConfiguration { aesgcm: Some(AesConfiguration { keys: vec![key("key1", aes16), key("key2", k32)] }), ..Default::default() },
        ProviderConfiguration { aescbc: Some(AesConfiguration { keys: vec![key("key1", k32), key("key1", aes16)] }), ..Default::default() },
        ProviderConfiguration { secretbox: Some(SecretboxConfiguration { keys: vec![key("key1", k32)] }), ..Default::default() },
        kms("kms-provider", "v2"),
        kms("kms-v1", "v1"),
        ProviderConfiguration { identity: Some(IdentityConfiguration), ..Default::default() },
    ];
    let cfg = EncryptionConfiguration {
        type_meta: TypeMeta::V1,
        resources: vec![ResourceConfiguration { resources: vec!["secrets".to_owned()], providers }],
    };
    let plan = ResourcePlan::build(&cfg).expect("the fuzz config is valid");
    let plugin = Arc::new(Base64Plugin::new());
    let plugins = KmsPlugins::new()
        .with_kms_v1_gate(true)
        .with_v2("kms-provider", plugin.clone())
        .with_v1("kms-v1", plugin);
    ResourceTransformers::new(&plan, &plugins).expect("the fuzz config builds")
});

fuzz_target!(|data: &[u8]| {
    let _ = Envelope::parse(data);
    let secrets = TRANSFORMERS.for_resource(&GroupResource::new("", "secrets"));
    let _ = secrets.from_storage(data, b"/registry/secrets/default/fuzz");
    // The same bytes behind every prefix, so the fuzzer reaches each provider's parser quickly.
    for prefix in [
        &b"k8s:enc:aesgcm:v1:key1:"[..],
        b"k8s:enc:aescbc:v1:key1:",
        b"k8s:enc:secretbox:v1:key1:",
        b"k8s:enc:kms:v2:kms-provider:",
        b"k8s:enc:kms:v1:kms-v1:",
    ] {
        let mut value = prefix.to_vec();
        value.extend_from_slice(data);
        let _ = Envelope::parse(&value);
        let _ = secrets.from_storage(&value, b"/registry/secrets/default/fuzz");
    }
});
