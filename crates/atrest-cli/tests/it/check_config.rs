//! `atrest check-config` over the shipped example configs and the upstream-checked corpus.

use std::fs;

use serde_json::Value;

use crate::{atrest, atrest_in, root, stdout};

#[test]
fn shipped_examples_text_report() {
    let out = atrest(
        &[
            "check-config",
            "scenarios/configs/secretbox.yaml",
            "scenarios/configs/tutorial-production.yaml",
            "scenarios/configs/tutorial-step1.yaml",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "one file is invalid");
    insta::assert_snapshot!("examples-text", stdout(&out));
}

#[test]
fn valid_files_exit_0_and_deny_warnings_exit_1() {
    let out = atrest(&["check-config", "scenarios/configs/tutorial-production.yaml"], b"");
    assert_eq!(out.status.code(), Some(0));
    let out = atrest(
        &["check-config", "--deny-warnings", "scenarios/configs/tutorial-production.yaml"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let out = atrest(&["check-config", "--deny-warnings", "scenarios/configs/secretbox.yaml"], b"");
    assert_eq!(out.status.code(), Some(0));
}

/// `apiserver_error` equals the text upstream's loader printed for every file of the
/// oracle-checked corpus (`crates/atrest-config/tests/data/{valid,invalid}`; see its README).
/// Paths appear inside the texts, so the CLI runs where the oracle ran, with the same relative
/// paths, and with the options the file names carry (`+reload`, `+kmsv1`).
#[test]
fn json_apiserver_error_matches_upstream_corpus() {
    let crate_dir = root().join("crates/atrest-config");
    let mut checked = 0;
    for dir in ["valid", "invalid"] {
        let mut files: Vec<String> = fs::read_dir(crate_dir.join("tests/data").join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".expected").map(str::to_owned))
            .collect();
        files.sort();
        for stem in files {
            let expected =
                fs::read_to_string(crate_dir.join(format!("tests/data/{dir}/{stem}.expected")))
                    .unwrap();
            let expected = expected.strip_suffix('\n').unwrap_or(&expected);
            // The input is the one file (or directory, or missing path) with this stem.
            let input = ["yaml", "json", "d"]
                .iter()
                .map(|ext| format!("tests/data/{dir}/{stem}.{ext}"))
                .find(|p| crate_dir.join(p).exists())
                .unwrap_or_else(|| format!("tests/data/{dir}/{stem}.yaml"));
            let mut args = vec!["check-config", "--format", "json"];
            if stem.contains("+reload") {
                args.push("--automatic-reload");
            }
            if stem.contains("+kmsv1") {
                args.push("--kmsv1");
            }
            args.push(&input);
            let out = atrest_in(&crate_dir, &args, b"");
            let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
            let entry = &report["files"][0];
            let ours = entry["apiserver_error"].as_str().unwrap_or("ok");
            let mut expected = expected.to_owned();
            if entry["apiserver_error_contains_key_material"] == true {
                // Hygiene beats exactness: upstream prints the key, we print REDACTED.
                let file = fs::read_to_string(crate_dir.join(&input)).unwrap();
                for secret in atrest_test_support::secrets_in(&file) {
                    expected = expected.replace(&secret, "REDACTED");
                }
                assert!(ours.contains("REDACTED"), "{input}");
            }
            assert_eq!(ours, expected, "{input}");
            assert_eq!(entry["valid"].as_bool(), Some(expected == "ok"), "{input}");
            assert_eq!(out.status.code(), Some(if expected == "ok" { 0 } else { 1 }), "{input}");
            checked += 1;
        }
    }
    assert!(checked > 40, "the corpus shrank to {checked} files");
}

#[test]
fn json_report_shape_for_missing_file() {
    let out = atrest(&["check-config", "--format", "json", "/nonexistent/enc.yaml"], b"");
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    insta::assert_json_snapshot!("missing-file-json", report);
}
