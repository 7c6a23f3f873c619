//! `file:line:col` diagnostics for loading errors (insta snapshots).

use std::fs;

use atrest_config::diagnostics::from_load_error;
use atrest_config::load::{LoadOptions, load};

use crate::data_dir;

const CASES: &[&str] = &[
    "validate-many-errors.yaml",
    "validate-keys-several-errors.yaml",
    "validate-kms-everything-wrong.yaml",
    "validate-kms-timeout-zero.yaml",
    "decode-unknown-fields.yaml",
    "decode-yaml-bad-indent.yaml",
    "decode-json-trailing-comma.json",
    "decode-keys-string.yaml",
    "build-masked-by-any-wildcard.yaml",
    "build-kmsv1-disabled.yaml",
];

#[test]
fn load_error_diagnostics() {
    let mut out = String::new();
    for name in CASES {
        let path = data_dir().join("invalid").join(name);
        let err = load(name, fs::read(&path), &LoadOptions::default()).expect_err("invalid input");
        for d in from_load_error(&err, name) {
            out.push_str(&format!("{d}\n"));
        }
    }
    insta::assert_snapshot!(out);
}
