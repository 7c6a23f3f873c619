//! Unit tests: values are written by atrest-transformers (checked against upstream's known
//! answers in that crate), read back under another configuration, and classified.
//!
//! Expected error texts are upstream's literals: `no matching key was found for the provided
//! AES transformer` (pkg/server/options/encryptionconfig/config.go, `aesPrefixTransformer`),
//! `no matching prefix found` (config.go, `transformerFromOverrides` via
//! `value.NewPrefixTransformers`), `identity transformer tried to read encrypted data`
//! (pkg/storage/value/encrypt/identity/identity.go) and `cipher: message authentication failed`
//! (Go's crypto/cipher GCM `Open`).

use std::sync::Arc;

use atrest_config::load::{LoadOptions, Loaded, load};
use atrest_config::resolve::GroupResource;
use atrest_transformers::{KmsPlugins, ResourceTransformers, SeededRandom};

use crate::render::{self, JsonStream};
use crate::{Inspector, ObjectState, Verdict, classify};

const KEY1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE="; // 32 × '1'
const KEY2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI="; // 32 × '2'
const KEY0: &str = "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="; // 32 × '0'
const KEY9: &str = "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk="; // 32 × '9'

fn config(resources: &str) -> Loaded {
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{resources}"
    );
    load("config.yaml", Ok(yaml.into_bytes()), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn aescbc(resources: &str, keys: &[(&str, &str)], identity: bool) -> String {
    let mut s =
        format!("  - resources: [{resources}]\n    providers:\n      - aescbc:\n          keys:\n");
    for (name, secret) in keys {
        s.push_str(&format!("            - name: {name}\n              secret: {secret}\n"));
    }
    if identity {
        s.push_str("      - identity: {}\n");
    }
    s
}

fn aesgcm(resources: &str, name: &str, secret: &str) -> String {
    format!(
        "  - resources: [{resources}]\n    providers:\n      - aesgcm:\n          keys:\n            - name: {name}\n              secret: {secret}\n"
    )
}

fn transformers(loaded: &Loaded) -> ResourceTransformers {
    ResourceTransformers::with_random(
        &loaded.plan,
        &KmsPlugins::new(),
        Arc::new(SeededRandom::new(7)),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `plaintext` stored at `key` by an apiserver running `loaded`.
fn write(loaded: &Loaded, key: &str, plaintext: &[u8]) -> Vec<u8> {
    let t = transformers(loaded);
    let gr = atrest_config::resolve::group_resource_for_etcd_key(key, "/registry").unwrap();
    t.for_resource(&gr).to_storage(plaintext, key.as_bytes()).unwrap()
}

fn secrets() -> GroupResource {
    GroupResource::new("", "secrets")
}

fn error_text(state: &ObjectState) -> String {
    match state {
        ObjectState::Undecryptable { error } => error.to_string(),
        other => panic!("expected undecryptable, got {other:?}"),
    }
}

/// The rotation the CLI test runs on a real cluster: key1 only, then key2 first with key1 and
/// identity as read fallbacks.
fn before() -> Loaded {
    config(&aescbc("secrets", &[("key1", KEY1)], false))
}

fn after() -> Loaded {
    config(&aescbc("secrets", &[("key2", KEY2), ("key1", KEY1)], true))
}

#[test]
fn classify_every_state() {
    let now = after();
    let t = transformers(&now);
    let key = "/registry/secrets/default/s";
    let check = |value: &[u8]| classify(&t, &now.plan, &secrets(), key.as_bytes(), value);

    assert_eq!(check(&write(&now, key, b"new")), ObjectState::Current);
    assert_eq!(check(&write(&before(), key, b"old")), ObjectState::Stale);
    assert_eq!(check(b"plain"), ObjectState::Plaintext { config_writes_encrypted: true });
    let foreign = config(&aescbc("secrets", &[("key0", KEY0)], false));
    assert_eq!(
        error_text(&check(&write(&foreign, key, b"x"))),
        "no matching key was found for the provided AES transformer"
    );
    // The key is the authenticated data of aesgcm: a value moved to another key does not read.
    let gcm = config(&aesgcm("secrets", "g", KEY9));
    let tg = transformers(&gcm);
    let moved = write(&gcm, "/registry/secrets/default/other", b"x");
    assert_eq!(
        error_text(&classify(&tg, &gcm.plan, &secrets(), key.as_bytes(), &moved)),
        "cipher: message authentication failed"
    );
    // No identity in the list: plaintext does not read.
    assert_eq!(
        error_text(&classify(&tg, &gcm.plan, &secrets(), key.as_bytes(), b"plain")),
        "no matching prefix found"
    );
}

#[test]
fn classify_resources_outside_the_config() {
    let now = after();
    let t = transformers(&now);
    let cm = GroupResource::new("", "configmaps");
    let key = b"/registry/configmaps/default/c";
    assert_eq!(
        classify(&t, &now.plan, &cm, key, b"plain"),
        ObjectState::Plaintext { config_writes_encrypted: false }
    );
    let encrypted = write(&now, "/registry/secrets/default/s", b"x");
    assert_eq!(
        error_text(&classify(&t, &now.plan, &cm, key, &encrypted)),
        "identity transformer tried to read encrypted data"
    );
}

#[test]
fn identity_first_reads_encrypted_values_as_stale() {
    let mut yaml = String::from("  - resources: [secrets]\n    providers:\n      - identity: {}\n");
    yaml.push_str(
        "      - aescbc:\n          keys:\n            - name: key1\n              secret: ",
    );
    yaml.push_str(KEY1);
    yaml.push('\n');
    let cfg = config(&yaml);
    let t = transformers(&cfg);
    let key = "/registry/secrets/default/s";
    let check = |value: &[u8]| classify(&t, &cfg.plan, &secrets(), key.as_bytes(), value);
    assert_eq!(check(b"plain"), ObjectState::Plaintext { config_writes_encrypted: false });
    assert_eq!(check(&write(&before(), key, b"x")), ObjectState::Stale);
}

/// Entries of a rotation: before and after key2, a plaintext leftover, a foreign key, a
/// configmap and a non-resource key.
fn rotation_entries() -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    for name in ["a", "b"] {
        let key = format!("/registry/secrets/default/{name}");
        let value = write(&before(), &key, b"old");
        entries.push((key, value));
    }
    let key = "/registry/secrets/default/c".to_owned();
    entries.push((key.clone(), write(&after(), &key, b"new")));
    entries.push(("/registry/secrets/kube-system/plain".to_owned(), b"k8s\0plain".to_vec()));
    let foreign = config(&aescbc("secrets", &[("key0", KEY0)], false));
    let key = "/registry/secrets/default/lost".to_owned();
    entries.push((key.clone(), write(&foreign, &key, b"x")));
    entries.push(("/registry/configmaps/default/cm".to_owned(), b"k8s\0cm".to_vec()));
    entries.push(("/registry/masterleases/10.0.0.1".to_owned(), b"lease".to_vec()));
    entries
}

fn inspect(
    cfg: &Loaded,
    entries: &[(String, Vec<u8>)],
) -> (Vec<crate::ObjectReport>, crate::InspectReport) {
    let mut inspector = Inspector::new(&cfg.plan, transformers(cfg), "/registry");
    let objects = entries.iter().filter_map(|(k, v)| inspector.add(k.as_bytes(), v)).collect();
    (objects, inspector.finish())
}

#[test]
fn inspector_counts_and_verdicts() {
    let cfg = after();
    let (objects, report) = inspect(&cfg, &rotation_entries());
    let states: Vec<(&str, &str, Option<&str>, Option<&str>)> = objects
        .iter()
        .map(|o| {
            (o.etcd_key.as_str(), o.state.name(), o.key_name.as_deref(), o.config_key.as_deref())
        })
        .collect();
    assert_eq!(
        states,
        [
            (
                "/registry/secrets/default/a",
                "stale",
                Some("key1"),
                Some("resources[0].providers[0].aescbc.keys[1]")
            ),
            (
                "/registry/secrets/default/b",
                "stale",
                Some("key1"),
                Some("resources[0].providers[0].aescbc.keys[1]")
            ),
            (
                "/registry/secrets/default/c",
                "current",
                Some("key2"),
                Some("resources[0].providers[0].aescbc.keys[0]")
            ),
            (
                "/registry/secrets/kube-system/plain",
                "plaintext",
                None,
                Some("resources[0].providers[1].identity")
            ),
            ("/registry/secrets/default/lost", "undecryptable", Some("key0"), None),
            ("/registry/configmaps/default/cm", "plaintext", None, None),
        ]
    );
    assert_eq!(report.skipped, 1);
    assert_eq!(report.totals.objects, 6);
    assert_eq!(
        (
            report.totals.current,
            report.totals.stale,
            report.totals.plaintext,
            report.totals.undecryptable
        ),
        (1, 2, 2, 1)
    );
    assert!(report.has_undecryptable());
    let verdicts: Vec<(&str, Verdict, &[String])> = report
        .config_keys
        .iter()
        .map(|k| (k.path.as_str(), k.verdict, k.writes_for.as_slice()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "resources[0].providers[0].aescbc.keys[0]",
                Verdict::Needed { objects: 1 },
                &["secrets".to_owned()][..]
            ),
            ("resources[0].providers[0].aescbc.keys[1]", Verdict::Needed { objects: 2 }, &[][..]),
            ("resources[0].providers[1].identity", Verdict::Needed { objects: 1 }, &[][..]),
        ]
    );
    let resources: Vec<(&str, u64, String)> = report
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r.counts.objects, r.writes_with.to_string()))
        .collect();
    assert_eq!(
        resources,
        [
            ("configmaps", 1, "identity (not in config)".to_owned()),
            ("secrets", 5, "aescbc/key2".to_owned()),
        ]
    );
}

#[test]
fn after_a_rewrite_the_old_key_is_safe_to_remove() {
    let cfg = after();
    // Every secret rewritten with the new config (what `kubectl replace` of each does).
    let entries: Vec<(String, Vec<u8>)> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let key = format!("/registry/secrets/default/{n}");
            let value = write(&cfg, &key, b"v");
            (key, value)
        })
        .collect();
    let (_, report) = inspect(&cfg, &entries);
    assert!(!report.has_undecryptable());
    let verdicts: Vec<(Verdict, String)> =
        report.config_keys.iter().map(|k| (k.verdict, render::verdict_text(k))).collect();
    assert_eq!(
        verdicts,
        [
            (
                Verdict::Needed { objects: 3 },
                "still needed by 3 objects; writes new secrets".to_owned()
            ),
            (Verdict::SafeToRemove, "safe to remove".to_owned()),
            (Verdict::SafeToRemove, "safe to remove".to_owned()),
        ]
    );
}

#[test]
fn a_name_in_two_entries_is_attributed_to_the_one_that_reads() {
    // `secrets` in two entries: the second entry's providers are extra read fallbacks
    // (upstream quirk), both with a key named key1 but different secrets.
    let cfg = config(&format!(
        "{}{}",
        aescbc("secrets", &[("key1", KEY1)], false),
        aescbc("secrets", &[("key1", KEY9)], false)
    ));
    let second_only = config(&aescbc("secrets", &[("key1", KEY9)], false));
    let key = "/registry/secrets/default/s".to_owned();
    let value = write(&second_only, &key, b"x");
    let (objects, report) = inspect(&cfg, &[(key, value)]);
    assert_eq!(objects[0].state, ObjectState::Stale);
    assert_eq!(objects[0].config_key.as_deref(), Some("resources[1].providers[0].aescbc.keys[0]"));
    let needed: Vec<u64> = report.config_keys.iter().map(|k| k.needed_by).collect();
    assert_eq!(needed, [0, 1]);
}

#[test]
fn undecryptable_objects_naming_a_key_do_not_keep_it() {
    // key1 in the config, but the value was written with another key that is also named key1.
    let cfg = before();
    let impostor = config(&aescbc("secrets", &[("key1", KEY9)], false));
    let key = "/registry/secrets/default/s".to_owned();
    let value = write(&impostor, &key, &[b'x'; 64]);
    let (objects, report) = inspect(&cfg, &[(key, value)]);
    assert_eq!(objects[0].state.name(), "undecryptable");
    let k = &report.config_keys[0];
    assert_eq!((k.verdict, k.needed_by, k.undecryptable), (Verdict::SafeToRemove, 0, 1));
    assert_eq!(
        render::verdict_text(k),
        "safe to remove as far as stored objects go, but it writes new secrets (removing it changes \
         the write key); 1 undecryptable object carries its name but cannot be read with it"
    );
}

#[test]
fn reports_never_hold_values() {
    let cfg = after();
    let secret = b"TOP-SECRET-VALUE";
    let key = "/registry/secrets/default/s".to_owned();
    let entries = vec![
        (key.clone(), write(&cfg, &key, secret)),
        ("/registry/secrets/default/p".to_owned(), secret.to_vec()),
    ];
    let (objects, report) = inspect(&cfg, &entries);
    let mut all = render::summary_text(&report);
    let (mut stream, start) = JsonStream::start();
    all.push_str(start);
    for o in &objects {
        all.push_str(&render::object_line(o));
        all.push_str(&format!("{o:?}"));
        all.push_str(&stream.object(o));
    }
    all.push_str(&stream.finish(&report));
    all.push_str(&format!("{report:?}"));
    assert!(!all.contains("TOP-SECRET"), "{all}");
    assert!(!all.contains(KEY1) && !all.contains(KEY2), "{all}");
}

#[test]
fn text_rendering() {
    let (objects, report) = inspect(&after(), &rotation_entries());
    let mut text = render::object_header();
    for o in &objects {
        text.push('\n');
        text.push_str(&render::object_line(o));
    }
    text.push_str("\n\n");
    text.push_str(&render::summary_text(&report));
    insta::assert_snapshot!(text);
}

#[test]
fn json_rendering() {
    let (objects, report) = inspect(&after(), &rotation_entries());
    let (mut stream, start) = JsonStream::start();
    let mut doc = start.to_owned();
    for o in &objects {
        doc.push_str(&stream.object(o));
    }
    doc.push_str(&stream.finish(&report));
    let value: serde_json::Value =
        serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
    assert_eq!(value["objects"].as_array().map(Vec::len), Some(6));
    insta::assert_snapshot!(doc);

    // An empty walk is a valid document too.
    let (_, empty) = inspect(&after(), &[]);
    let (stream, start) = JsonStream::start();
    let doc = format!("{start}{}", stream.finish(&empty));
    let value: serde_json::Value =
        serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
    assert_eq!(value["objects"], serde_json::json!([]));
    assert_eq!(value["summary"]["totals"]["objects"], 0);
}

#[test]
fn kms_v2_values_are_counted_per_key_id() {
    use atrest_transformers::Base64Plugin;
    let loaded = config(
        "  - resources: [secrets]\n    providers:\n      - kms:\n          apiVersion: v2\n          name: kms\n          endpoint: unix:///kms.sock\n",
    );
    let plugin = Arc::new(Base64Plugin::new());
    let build = || {
        ResourceTransformers::with_random(
            &loaded.plan,
            &KmsPlugins::new().with_v2("kms", plugin.clone()),
            Arc::new(SeededRandom::new(7)),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let key = |n: u32| format!("/registry/secrets/default/s{n}");
    let write_with = |t: &ResourceTransformers, n: u32| {
        t.for_resource(&secrets()).to_storage(b"value", key(n).as_bytes()).unwrap()
    };
    // Two values under key ID "1", then the plugin rotates to "2" and one more is written.
    let before = build();
    let mut entries = vec![(key(1), write_with(&before, 1)), (key(2), write_with(&before, 2))];
    plugin.update_key_id();
    let after = build();
    entries.push((key(3), write_with(&after, 3)));
    let mut inspector = Inspector::new(&loaded.plan, after, "/registry");
    for (k, v) in &entries {
        inspector.add(k.as_bytes(), v).unwrap();
    }
    let report = inspector.finish();
    let rows: Vec<(&str, &str, u64, u64, u64, bool, Verdict)> = report
        .kms_key_ids
        .iter()
        .map(|k| {
            (
                k.provider.as_str(),
                k.key_id.as_str(),
                k.deks,
                k.counts.stale,
                k.counts.current,
                k.writes,
                k.verdict,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // One seed per key ID: both values under "1" were written with the same one.
            ("kms", "1", 1, 2, 0, false, Verdict::Needed { objects: 2 }),
            ("kms", "2", 1, 0, 1, true, Verdict::Needed { objects: 1 }),
        ]
    );
    let text = render::summary_text(&report);
    assert!(text.contains("KMS v2 key IDs:"), "{text}");
    assert!(
        text.contains("still needed by 2 objects (2 stale: an update or a rewrite moves them)"),
        "{text}"
    );
    assert!(
        text.contains(
            "still needed by 1 object; the plugin's current key ID: new values are written with it"
        ),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&render::summary_json(&report)).unwrap();
    assert_eq!(json["kms_key_ids"][0]["key_id"], "1");
    assert_eq!(json["kms_key_ids"][0]["verdict"], "needed");
    assert_eq!(json["kms_key_ids"][0]["deks"], 1);

    // After a rewrite, key ID "1" holds nothing: the plugin may retire it (it is not listed:
    // nothing names it), and "2" carries everything.
    let rewritten = build();
    let mut inspector = Inspector::new(&loaded.plan, build(), "/registry");
    for n in 1..=3 {
        inspector.add(key(n).as_bytes(), &write_with(&rewritten, n)).unwrap();
    }
    let report = inspector.finish();
    assert_eq!(report.kms_key_ids.len(), 1);
    assert_eq!(report.kms_key_ids[0].key_id, "2");
    assert_eq!(report.kms_key_ids[0].counts.current, 3);
}

/// Unreadable ConfigMaps delay readiness until the storage-readiness hook gives up; an
/// unreadable Secret keeps `informer-sync` failing for ever (both seen on v1.37.2).
#[test]
fn preflight_readiness_by_resource() {
    use crate::preflight::{Preflight, Readiness};
    let assess = |resource: &str, key: &str| {
        let cfg = config(&aescbc(resource, &[("key1", KEY1)], false));
        let (_, report) = inspect(&cfg, &[(key.to_owned(), b"k8s\0plain".to_vec())]);
        Preflight::assess(&report)
    };
    let cm = assess("configmaps", "/registry/configmaps/kube-system/cm");
    assert_eq!((cm.ready, cm.readiness), (false, Readiness::AfterStorageInitializationTimeout));
    let text = cm.to_text();
    assert!(text.starts_with("ready: NOT AT FIRST: "), "{text}");
    assert!(text.contains("(keeps /readyz failing until --storage-initialization-timeout)"));
    assert!(text.ends_with("the apiserver would not be ready until --storage-initialization-timeout (1m by default) passes\n"), "{text}");
    let secret = assess("secrets", "/registry/secrets/default/s");
    assert_eq!((secret.ready, secret.readiness), (false, Readiness::Never));
    assert!(secret.to_text().contains("(keeps /readyz failing for ever)"));
    let fine = assess("secrets", "/registry/configmaps/default/cm");
    assert_eq!((fine.ready, fine.readiness), (true, Readiness::Ready));
}
