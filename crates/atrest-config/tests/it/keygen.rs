//! Key generation.

use atrest_config::keygen::{
    KEY_LEN, KeyKind, KeygenError, generate, render_key_entry, render_provider,
};

#[test]
fn generated_keys_are_32_random_bytes_and_render_as_yaml() {
    let a = generate(KeyKind::Aesgcm, "key1").expect("key");
    let b = generate(KeyKind::Aesgcm, "key1").expect("key");
    assert_eq!(a.decode_secret().expect("base64").len(), KEY_LEN);
    assert_ne!(a.secret, b.secret, "two draws from the CSPRNG collided");
    assert_eq!(format!("{:?}", a.secret), "REDACTED");
    let entry = render_key_entry(&a);
    assert_eq!(entry, format!("- name: key1\n  secret: {}\n", a.secret.expose()));
    let provider = render_provider(KeyKind::Secretbox, &a);
    assert_eq!(
        provider,
        format!("- secretbox:\n    keys:\n    - name: key1\n      secret: {}\n", a.secret.expose())
    );
    // The rendering is a valid provider list item for the loader.
    let doc = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{}",
        provider.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    let loaded = atrest_config::load::load("k.yaml", Ok(doc.into_bytes()), &Default::default());
    assert!(loaded.is_ok(), "{loaded:?}");
}

#[test]
fn names_that_yaml_would_retype_are_quoted_and_empty_names_refused() {
    let k = generate(KeyKind::Aescbc, "yes").expect("key");
    assert!(render_key_entry(&k).starts_with("- name: \"yes\"\n"));
    assert!(matches!(generate(KeyKind::Aescbc, ""), Err(KeygenError::EmptyName)));
    assert_eq!("aesgcm".parse::<KeyKind>(), Ok(KeyKind::Aesgcm));
    assert!("kms".parse::<KeyKind>().is_err());
}
