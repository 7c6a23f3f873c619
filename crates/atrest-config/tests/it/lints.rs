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
