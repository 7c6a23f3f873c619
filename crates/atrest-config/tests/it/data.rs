//! Every file under `tests/data/{valid,invalid}` loads to exactly the text upstream prints.

use std::fs;
use std::path::Path;

use atrest_config::goquote::go_json_string;
use atrest_config::load::{LoadOptions, load};
use atrest_config::{EncryptionConfiguration, Key};

use crate::data_dir;

/// Options come from the file name, as in the oracle: `+reload`, `+kmsv1`.
fn options_for(name: &str) -> LoadOptions {
    LoadOptions { reload: name.contains("+reload"), kmsv1_enabled: name.contains("+kmsv1") }
}

/// Loads `rel` (relative to the crate, as the oracle was run) and compares with its `.expected`.
fn check(rel: &str) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = crate_dir.join(rel);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = match rel.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => stem.to_owned(),
        _ => rel.to_owned(),
    };
    let expected_file = crate_dir.join(format!("{stem}.expected"));
    let expected = fs::read_to_string(&expected_file)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
    let expected = expected.strip_suffix('\n').unwrap_or(&expected);
    let result = load(rel, fs::read(&path), &options_for(&name));
    match result {
        Ok(loaded) => {
            assert_eq!(expected, "ok", "{rel}: loaded, upstream says {expected}");
            check_decoded(crate_dir, &stem, &loaded.config);
        }
        Err(err) => {
            let got = err.to_string();
            let mut want = expected.to_owned();
            if err.upstream_prints_key_material() {
                // Upstream prints the secrets here; we print REDACTED (the flag says so).
                let source = fs::read_to_string(&path).unwrap_or_default();
                for secret in atrest_test_support::secrets_in(&source) {
                    want = want.replace(&secret, "REDACTED");
                }
                assert_ne!(want, expected, "{rel}: flagged key material but upstream shows none");
            }
            assert_eq!(got, want, "{rel}");
        }
    }
}

/// The decoded, defaulted object as Go's `json.Marshal` prints the internal type (secrets in
/// clear: these are test keys).
fn go_internal_json(cfg: &EncryptionConfiguration) -> String {
    let keys = |keys: &[Key]| {
        let items: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "{{\"Name\":{},\"Secret\":{}}}",
                    go_json_string(&k.name),
                    go_json_string(k.secret.expose())
                )
            })
            .collect();
        format!("{{\"Keys\":[{}]}}", items.join(","))
    };
    let entries: Vec<String> = cfg
        .resources
        .iter()
        .map(|r| {
            let resources: Vec<String> = r.resources.iter().map(|s| go_json_string(s)).collect();
            let providers: Vec<String> = r
                .providers
                .iter()
                .map(|p| {
                    let kms = p.kms.as_ref().map_or("null".to_owned(), |k| {
                        format!(
                            "{{\"APIVersion\":{},\"Name\":{},\"CacheSize\":{},\"Endpoint\":{},\"Timeout\":{}}}",
                            go_json_string(&k.api_version),
                            go_json_string(&k.name),
                            k.cachesize.map_or("null".to_owned(), |c| c.to_string()),
                            go_json_string(&k.endpoint),
                            k.timeout.as_ref().map_or("null".to_owned(), |t| go_json_string(&t.to_string()))
                        )
                    });
                    format!(
                        "{{\"AESGCM\":{},\"AESCBC\":{},\"Secretbox\":{},\"Identity\":{},\"KMS\":{}}}",
                        p.aesgcm.as_ref().map_or("null".to_owned(), |a| keys(&a.keys)),
                        p.aescbc.as_ref().map_or("null".to_owned(), |a| keys(&a.keys)),
                        p.secretbox.as_ref().map_or("null".to_owned(), |s| keys(&s.keys)),
                        if p.identity.is_some() { "{}" } else { "null" },
                        kms
                    )
                })
                .collect();
            format!(
                "{{\"Resources\":[{}],\"Providers\":[{}]}}",
                resources.join(","),
                providers.join(",")
            )
        })
        .collect();
    format!("[{}]", entries.join(","))
}

fn check_decoded(crate_dir: &Path, stem: &str, cfg: &EncryptionConfiguration) {
    let file = crate_dir.join(format!("{stem}.decoded"));
    let want = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(go_internal_json(cfg), want.trim_end(), "{stem}: decoded object differs");
}

/// Every input file (and directory) in a data directory, relative to the crate.
fn inputs(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(data_dir().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".json") || n.ends_with(".d"))
        .map(|n| format!("tests/data/{dir}/{n}"))
        .collect();
    out.sort();
    out
}

#[test]
fn invalid_configs_fail_with_upstream_text() {
    let files = inputs("invalid");
    assert!(files.len() > 100, "only {} invalid inputs", files.len());
    for f in files {
        check(&f);
    }
}

#[test]
fn valid_configs_load_and_decode_like_upstream() {
    let files = inputs("valid");
    assert!(files.len() >= 20, "only {} valid inputs", files.len());
    for f in files {
        check(&f);
    }
}

#[test]
fn missing_file_has_go_io_text() {
    check("tests/data/invalid/read-missing-file.yaml");
}

#[test]
fn every_expected_file_has_an_input() {
    for dir in ["valid", "invalid"] {
        for entry in fs::read_dir(data_dir().join(dir)).expect("data dir") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".expected") else { continue };
            let has_input = ["yaml", "json", "d"]
                .iter()
                .any(|ext| data_dir().join(dir).join(format!("{stem}.{ext}")).exists());
            assert!(has_input || stem == "read-missing-file", "{dir}/{name} has no input");
        }
    }
}
