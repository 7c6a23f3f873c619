//! `scenarios/scenario.schema.json` is generated from the schema types: it must be up to date
//! (`ATREST_UPDATE_SCHEMA=1` rewrites it), every shipped scenario must validate against it, and
//! it must reject what the loader rejects.

use std::path::{Path, PathBuf};

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/scenario.schema.json")
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn committed_schema_is_current() {
    let generated = atrest_scenario::json_schema();
    let path = schema_path();
    if std::env::var_os("ATREST_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("writing the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run ATREST_UPDATE_SCHEMA=1 cargo nextest run -p atrest-scenario \
         --test json_schema and review the diff",
        path.display()
    );
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&atrest_scenario::json_schema()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// YAML → JSON through the same YAML parser the loader uses.
fn as_json(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("YAML")
}

fn errors(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    v.iter_errors(&as_json(text)).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// The shipped scenarios and the failing corpus (valid files whose runs fail).
#[test]
fn every_shipped_scenario_validates() {
    let v = validator();
    let failing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/failing");
    let mut checked = 0;
    for dir in [scenarios_dir(), scenarios_dir().join("existing"), failing] {
        for entry in std::fs::read_dir(&dir).expect("a scenario directory") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("reading a scenario");
            let errs = errors(&v, &text);
            assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} scenarios found");
}

#[test]
fn invalid_files_are_rejected() {
    let v = validator();
    let base = "description: x\nconfigs:\n  a: {library: aescbc-key1}\nsteps:\n";
    // Each is also rejected by the loader.
    for (bad, why) in [
        ("  - frobnicate: {}\n", "unknown step kind"),
        ("  - writeConfig: {config: a, bogus: 1}\n", "unknown field"),
        ("  - writeConfig: {path: /x}\n", "missing field"),
        ("  - start: {expect: {}}\n", "empty start expectation"),
        ("  - start: {expect: {error: x}}\n", "the old spelling of exit"),
        ("  - start: {expect: done}\n", "unknown start expectation"),
        ("  - name: a b\n    start: {}\n", "a name with a space"),
        ("  - name: s\n", "a name without a step"),
        ("  - start: {}\n    stop: {}\n", "two kinds in one item"),
        ("  - stop: {apiserver: first}\n", "a target that is neither a number nor all"),
    ] {
        let text = format!("{base}{bad}");
        assert!(!errors(&v, &text).is_empty(), "the schema accepts {why}:\n{text}");
        assert!(
            atrest_scenario::parse(Path::new("bad.yaml"), &text).is_err(),
            "the loader accepts {why}:\n{text}"
        );
    }
    let bad_config = "description: x\nconfigs:\n  a: {library: x, file: y}\nsteps: []\n";
    assert!(!errors(&v, bad_config).is_empty());
    let good = format!("{base}  - name: first-start\n    start: {{expect: ready}}\n");
    assert_eq!(errors(&v, &good), Vec::<String>::new());
}
