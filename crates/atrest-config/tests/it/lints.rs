//! Lint output on a set of configurations (insta snapshots), and the no-key-material rule.

use std::fs;

use atrest_config::diagnostics::from_lints;
use atrest_config::lint::lint;
use atrest_config::load::{LoadOptions, load};

use crate::data_dir;

/// Lints (as `file:line:col` diagnostics) for one file under `tests/data/lint`.
fn check(name: &str) -> String {
    let path = data_dir().join("lint").join(name);
    let bytes = fs::read(&path).expect("lint input");
    let opts = LoadOptions { kmsv1_enabled: true, ..LoadOptions::default() };
    let loaded = load(name, Ok(bytes.clone()), &opts).expect("lint inputs are valid configs");
    let lints = lint(&loaded.config);
    let text: String =
        from_lints(&lints, &loaded.spans, name).iter().map(|d| format!("{d}\n")).collect();
    // Lints never print key material.
    let source = String::from_utf8_lossy(&bytes);
    for line in source.lines() {
        if let Some((_, secret)) = line.split_once("secret: ") {
            assert!(!text.contains(secret.trim()), "{name}: lint output leaks a secret");
        }
    }
    text
}

#[test]
fn lint_snapshots() {
    let mut names: Vec<String> = fs::read_dir(data_dir().join("lint"))
        .expect("lint dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for name in names {
        let snapshot = name.trim_end_matches(".yaml").to_owned();
        insta::assert_snapshot!(snapshot, check(&name));
    }
}

#[test]
fn every_code_fires_somewhere() {
    let mut seen = std::collections::BTreeSet::new();
    for entry in fs::read_dir(data_dir().join("lint")).expect("lint dir").filter_map(Result::ok) {
        let bytes = fs::read(entry.path()).expect("read");
        let opts = LoadOptions { kmsv1_enabled: true, ..LoadOptions::default() };
        let loaded = load("x.yaml", Ok(bytes), &opts).expect("valid");
        seen.extend(lint(&loaded.config).into_iter().map(|l| l.code.code()));
    }
    let all: Vec<String> = (1..=11).map(|n| format!("AT{n:03}")).collect();
    let seen: Vec<String> = seen.into_iter().map(str::to_owned).collect();
    assert_eq!(seen, all);
}

/// Lints of an inline configuration (must load).
fn lints_of(yaml: &str) -> Vec<atrest_config::lint::Lint> {
    let opts = LoadOptions { kmsv1_enabled: true, ..LoadOptions::default() };
    let loaded = load("inline.yaml", Ok(yaml.as_bytes().to_vec()), &opts).expect("valid config");
    lint(&loaded.config)
}

/// (code, field) of every finding with `code`.
fn fields_with(lints: &[atrest_config::lint::Lint], code: &str) -> Vec<String> {
    lints.iter().filter(|l| l.code.code() == code).map(|l| l.field.clone()).collect()
}

const KEY_A: &str = "5Xw0m8Qpv3fK9zT2bR7yH1cN4jL6dS0aE8gU2iO5kP0=";

/// One entry per `(resource, provider kind, key name)`, all with the same key bytes.
fn entries_sharing_key(entries: &[(&str, &str, &[&str])]) -> String {
    let mut out = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n",
    );
    for (resource, kind, names) in entries {
        out.push_str(&format!(
            "- resources: [{resource}]\n  providers:\n  - {kind}:\n      keys:\n"
        ));
        for name in *names {
            out.push_str(&format!("      - name: {name}\n        secret: {KEY_A}\n"));
        }
        out.push_str("  - identity: {}\n");
    }
    out
}

#[test]
fn reused_key_material_only_for_a_different_name_kind_or_the_same_provider() {
    // The tutorial's production example: one key for secrets and configmaps.
    let lints = lints_of(&entries_sharing_key(&[
        ("secrets", "aescbc", &["key3"]),
        ("configmaps", "aescbc", &["key3"]),
    ]));
    assert_eq!(fields_with(&lints, "AT006"), Vec::<String>::new());
    // Another name for the same bytes.
    let lints = lints_of(&entries_sharing_key(&[
        ("secrets", "aescbc", &["key3"]),
        ("configmaps", "aescbc", &["key4"]),
    ]));
    assert_eq!(fields_with(&lints, "AT006"), ["resources[1].providers[0].aescbc.keys[0].secret"]);
    // Another provider kind for the same bytes (and name).
    let lints = lints_of(&entries_sharing_key(&[
        ("secrets", "aescbc", &["key3"]),
        ("configmaps", "secretbox", &["key3"]),
    ]));
    assert_eq!(
        fields_with(&lints, "AT006"),
        ["resources[1].providers[0].secretbox.keys[0].secret"]
    );
    // Twice in one provider, under one name or two.
    for names in [&["key3", "key3"][..], &["key3", "key4"][..]] {
        let lints = lints_of(&entries_sharing_key(&[("secrets", "aesgcm", names)]));
        assert_eq!(
            fields_with(&lints, "AT006"),
            ["resources[0].providers[0].aesgcm.keys[1].secret"],
            "{names:?}"
        );
    }
    // A legitimate share does not hide a later misuse, reported once against the first key.
    let lints = lints_of(&entries_sharing_key(&[
        ("secrets", "aescbc", &["key3"]),
        ("configmaps", "aescbc", &["key3"]),
        ("deployments.apps", "aescbc", &["key4"]),
    ]));
    let reuse: Vec<_> = lints.iter().filter(|l| l.code.code() == "AT006").collect();
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0].field, "resources[2].providers[0].aescbc.keys[0].secret");
    assert!(reuse[0].message.contains("resources[0].providers[0].aescbc.keys[0].secret"));
    assert!(!reuse[0].message.contains(KEY_A));
}

fn config(entries: &[(&str, &[&str])]) -> String {
    let mut out = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n",
    );
    for (resources, providers) in entries {
        out.push_str(&format!("- resources: [{resources}]\n  providers:\n"));
        for p in *providers {
            match *p {
                "identity" => out.push_str("  - identity: {}\n"),
                kind => out.push_str(&format!(
                    "  - {kind}:\n      keys:\n      - name: k\n        secret: {KEY_A}\n"
                )),
            }
        }
    }
    out
}

#[test]
fn secrets_written_in_plaintext_warns_once() {
    let at011 = |entries: &[(&str, &[&str])]| {
        let lints = lints_of(&config(entries));
        (fields_with(&lints, "AT011"), fields_with(&lints, "AT001"), fields_with(&lints, "AT010"))
    };
    let none = Vec::<String>::new;
    let first = || vec!["resources[0].providers[0].identity".to_owned()];
    // Secrets identity-only while another resource is encrypted.
    let (w, a1, a10) =
        at011(&[("secrets", &["identity"]), ("configmaps", &["aescbc", "identity"])]);
    assert_eq!((w, a1, a10), (first(), none(), none()));
    // Through the wildcards.
    for rule in ["'*.*'", "'*.'"] {
        let (w, _, _) = at011(&[("configmaps", &["secretbox"]), (rule, &["identity"])]);
        assert_eq!(w, ["resources[1].providers[0].identity"], "{rule}");
    }
    // Identity first through a second entry for secrets (appended read fallbacks).
    let (w, a1, _) = at011(&[("secrets", &["identity"]), ("secrets", &["aesgcm"])]);
    assert_eq!((w, a1), (first(), none()));
    // AT001 already reports identity first in the Secrets entry: no second finding.
    let (w, a1, _) = at011(&[("secrets", &["identity", "aescbc"])]);
    assert_eq!((w, a1), (none(), first()));
    // AT010 already reports that nothing is encrypted.
    let (w, _, a10) = at011(&[("secrets", &["identity"]), ("configmaps", &["identity"])]);
    assert_eq!((w, a10), (none(), vec!["resources".to_owned()]));
    // Covered and written encrypted: nothing, even when a wildcard is identity.
    let (w, _, _) = at011(&[("secrets", &["secretbox", "identity"]), ("'*.*'", &["identity"])]);
    assert_eq!(w, none());
    // Not covered at all (the bare identity).
    let (w, _, _) = at011(&[("configmaps", &["secretbox", "identity"])]);
    assert_eq!(w, ["resources"]);
}
