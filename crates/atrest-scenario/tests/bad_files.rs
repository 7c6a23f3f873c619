//! Bad scenario files: a clear error naming file:line:col, never a panic.

use std::path::Path;

use atrest_scenario::{ScenarioError, parse};

fn error_of(text: &str) -> String {
    match parse(Path::new("bad.yaml"), text) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e @ ScenarioError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

#[test]
fn unknown_step_kind() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - frobnicate: {}\n"),
        "bad.yaml:3:5: unknown variant `frobnicate`, expected one of writeConfig, removeFile, \
         setFlags, start, stop, restart, create, update, get, delete, list, rewrite, \
         expectStored, expectAll, measure, waitForReload"
    );
}

#[test]
fn missing_field() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - writeConfig: {path: /x}\n"),
        "bad.yaml:3:19: missing field `config`"
    );
    assert_eq!(error_of("steps:\n  - start: {}\n"), "bad.yaml:1:1: missing field `description`");
}

#[test]
fn yaml_syntax_error() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - start: {expect: {error: \"a\"}\n"),
        "bad.yaml:3:12: unclosed bracket '{'"
    );
}

#[test]
fn unknown_fields_everywhere() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - start: {expect: {eror: a}}\n"),
        "bad.yaml:3:22: unknown field `eror`, expected one of error, notReady"
    );
    assert!(
        error_of("description: x\nsteps:\n  - expectStored: {secret: a, provder: aescbc}\n")
            .starts_with("bad.yaml:3:31: unknown field `provder`")
    );
    assert!(
        error_of("description: x\nsteps:\n  - create: {secret: a, dta: {}, expect: {}}\n")
            .starts_with("bad.yaml:3:25: unknown field `dta`")
    );
    assert!(
        error_of("description: x\nbogus: 1\nsteps: []\n")
            .starts_with("bad.yaml:2:1: unknown field `bogus`")
    );
}

#[test]
fn reference_to_a_missing_config() {
    assert_eq!(
        error_of(
            "description: x\nconfigs:\n  a: \"x\"\nsteps:\n  - writeConfig: {config: b}\n  - start: {expect: {}}\n"
        ),
        "bad.yaml:5:27: no config named \"b\" (defined: a)"
    );
    assert_eq!(
        error_of(
            "description: x\nsteps:\n  - expectAll: {resource: secrets, decryptableWith: nope}\n"
        ),
        "bad.yaml:3:53: no config named \"nope\" (defined: )"
    );
    let e = error_of(
        "description: x\nconfigs:\n  a: {file: does-not-exist.yaml}\nsteps:\n  - start: {expect: {}}\n",
    );
    assert!(e.starts_with("bad.yaml:3:6: config \"a\": cannot read does-not-exist.yaml:"), "{e}");
}

#[test]
fn a_scenario_must_expect_something() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - start: {}\n  - create: {secret: a}\n"),
        "bad.yaml:1:1: the scenario expects nothing: add an `expect` to a step, or an \
         `expectStored`/`expectAll` step"
    );
}

#[test]
fn addressing_errors() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - create: {secret: a, configmap: b, expect: {}}\n"),
        "bad.yaml:3:5: name exactly one of `secret` or `configmap`"
    );
    assert_eq!(
        error_of("description: x\nsteps:\n  - start: {apiserver: 3, expect: {}}\n"),
        "bad.yaml:3:5: apiserver 3 does not exist (the cluster has 1)"
    );
    assert!(
        error_of("description: x\nsteps:\n  - start: {apiserver: first}\n")
            .contains("expected an index or \"all\"")
    );
}

#[test]
fn every_shipped_scenario_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let s = atrest_scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.description.is_empty());
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} scenarios");
}
