//! Bad scenario files: a clear error naming file:line:col, never a panic.

use std::path::Path;

use atrest_scenario::schema::{StartExpect, Step};
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
         expectStored, expectAll, measure, waitForReload, kmsPlugin, waitForKmsKeyId, \
         wait, expectKmsCalls, probe, preflight, kill, startMember, pause, resume, fill, deleteAll, compact, defragment, disarmAlarms, expectAlarms, deleteMirrorPod"
    );
}

#[test]
fn fault_steps_name_exactly_one_member() {
    let scenario = |step: &str| {
        format!("description: x\ncluster: {{apiservers: 2}}\nsteps:\n  - start: {{}}\n  - {step}\n")
    };
    assert_eq!(
        error_of(&scenario("kill: {signal: TERM}")),
        "bad.yaml:5:5: kill: give exactly one of `member: etcd`, `apiserver: N` or `kmsPlugin: NAME`"
    );
    assert_eq!(
        error_of(&scenario("pause: {member: etcd, apiserver: 1}")),
        "bad.yaml:5:5: pause: give exactly one of `member: etcd`, `apiserver: N` or `kmsPlugin: NAME`"
    );
    assert_eq!(
        error_of(&scenario("resume: {kmsPlugin: kms9}")),
        "bad.yaml:5:25: no KMS plugin named \"kms9\": cluster.kmsPlugins is empty"
    );
    assert_eq!(
        error_of(&scenario("startMember: {apiserver: 2}")),
        "bad.yaml:5:5: apiserver 2 does not exist (the cluster has 2)"
    );
    assert!(
        error_of(&scenario("kill: {member: etcd, signal: STOP}"))
            .contains("unknown variant `STOP`")
    );
    assert!(error_of(&scenario("resume: {member: kms}")).contains("unknown variant `kms`"));
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
        error_of("description: x\nsteps:\n  - start: {expect: {exit: \"a\"}\n"),
        "bad.yaml:3:12: unclosed bracket '{'"
    );
}

#[test]
fn unknown_fields_everywhere() {
    assert_eq!(
        error_of("description: x\nsteps:\n  - start: {expect: {eror: a}}\n"),
        "bad.yaml:3:21: expect: unknown field `eror`: give `ready`, `notReady` or `{exit: TEXT}`"
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
            "description: x\nconfigs:\n  a: \"x\"\nsteps:\n  - writeConfig: {config: b}\n  - start: {expect: ready}\n"
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
        "description: x\nconfigs:\n  a: {file: does-not-exist.yaml}\nsteps:\n  - start: {expect: ready}\n",
    );
    assert!(e.starts_with("bad.yaml:3:6: config \"a\": cannot read does-not-exist.yaml:"), "{e}");
}

/// Regression: `currentWith` and `staleWith` alone were rejected ("expect at least one of …")
/// and their config names were only checked at run time.
#[test]
fn current_with_and_stale_with_are_checks_of_their_own() {
    let ok = "description: x\nconfigs:\n  k: \"x\"\nsteps:\n  - expectStored: {secret: s, currentWith: k}\n  - expectAll: {resource: secrets, staleWith: k}\n";
    assert!(parse(Path::new("ok.yaml"), ok).is_ok());
    assert_eq!(
        error_of(
            "description: x\nconfigs:\n  k: \"x\"\nsteps:\n  - expectStored: {secret: s, currentWith: kk}\n"
        ),
        "bad.yaml:5:44: no config named \"kk\" (defined: k)"
    );
    assert_eq!(
        error_of(
            "description: x\nconfigs:\n  k: \"x\"\nsteps:\n  - expectAll: {resource: secrets, staleWith: kk}\n"
        ),
        "bad.yaml:5:47: no config named \"kk\" (defined: k)"
    );
    assert_eq!(
        error_of("description: x\nsteps:\n  - expectStored: {secret: s}\n"),
        "bad.yaml:3:5: expect at least one of provider, key, plaintext, decryptableWith, notDecryptableWith, currentWith, staleWith, kmsKeyId"
    );
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
        error_of("description: x\nsteps:\n  - start: {apiserver: 3, expect: ready}\n"),
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

/// A scenario with one step `step` (indented under `steps:`), on a cluster given by `cluster`.
fn with_step(cluster: &str, step: &str) -> String {
    format!(
        "description: x\ncluster: {cluster}\nsteps:\n  - {step}\n  - start: {{expect: ready}}\n"
    )
}

/// Every number a scenario can hold is bounded at load, at the number's own position: values that
/// used to allocate gigabytes, abort on allocation failure or panic on overflow are refused.
#[test]
fn numbers_above_their_limits() {
    let cases = [
        (
            with_step("{}", "create: {secret: a, count: 1000000}"),
            "bad.yaml:4:32: create.count is 1000000, above the limit of 100000",
        ),
        (
            with_step("{}", "create: {secret: a, count: 1000000000}"),
            "bad.yaml:4:32: create.count is 1000000000, above the limit of 100000",
        ),
        (
            with_step("{}", "delete: {secret: a, count: 18446744073709551615}"),
            "bad.yaml:4:32: delete.count is 18446744073709551615, above the limit of 100000",
        ),
        (
            with_step("{}", "measure: {name: m, objects: 10, size: 100000000000}"),
            "bad.yaml:4:43: measure.size is 100000000000, above the limit of 1048576",
        ),
        (
            with_step("{}", "measure: {name: m, objects: 1000000000}"),
            "bad.yaml:4:33: measure.objects is 1000000000, above the limit of 100000",
        ),
        // Exponent notation is not an integer: refused by the decoder, at the number.
        (with_step("{}", "create: {secret: a, count: 1e9}"), "bad.yaml:4:32: invalid u64"),
        (with_step("{apiservers: 1e12}", "stop: {}"), "bad.yaml:2:23: invalid u64"),
        (
            with_step("{}", "measure: {name: m, objects: 0}"),
            "bad.yaml:4:33: measure.objects must be at least 1",
        ),
        (
            with_step("{}", "measure: {name: m, objects: 1000, size: 1048576}"),
            "bad.yaml:4:5: measure: objects × size is 1048576000 bytes, above the limit of \
             268435456 (the engine keeps every value it wrote)",
        ),
        (
            with_step("{apiservers: 1000000000000}", "stop: {}"),
            "bad.yaml:2:23: cluster.apiservers is 1000000000000, above the limit of 16",
        ),
        (
            with_step("{apiservers: 17}", "stop: {}"),
            "bad.yaml:2:23: cluster.apiservers is 17, above the limit of 16",
        ),
        (
            with_step("{apiservers: 0}", "stop: {}"),
            "bad.yaml:2:23: cluster.apiservers must be at least 1",
        ),
        (
            with_step(
                "{automaticReload: true}",
                "waitForReload: {expect: loaded, timeoutSeconds: 18446744073709551615}",
            ),
            "bad.yaml:4:53: waitForReload.timeoutSeconds is 18446744073709551615, above the \
             limit of 3600",
        ),
        (
            with_step("{}", "list: {resource: secrets, expect: {count: 100001}}"),
            "bad.yaml:4:47: list.expect.count is 100001, above the limit of 100000",
        ),
        (
            with_step("{}", "rewrite: {resource: secrets, expect: {conflicts: 1000000}}"),
            "bad.yaml:4:54: rewrite.expect.conflicts is 1000000, above the limit of 100000",
        ),
        (
            with_step("{}", "get: {secret: a, expect: {code: 7}}"),
            "bad.yaml:4:37: get.expect.code is 7, not an HTTP status (100 to 599)",
        ),
        (
            with_step(
                "{}",
                "rewrite: {resource: secrets, concurrentUpdate: {every: 10000000, data: {}}}",
            ),
            "bad.yaml:4:60: rewrite.concurrentUpdate.every is 10000000, above the limit of 100000",
        ),
        (
            with_step("{}", "rewrite: {resource: secrets, concurrentUpdate: {every: 0, data: {}}}"),
            "bad.yaml:4:60: concurrentUpdate.every must be at least 1",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = error_of(&text);
        if got != want {
            wrong.push(format!("{text}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Values at the limits load, and preparing them (what `atrest scenario run` does before the
/// first request) stays cheap.
#[test]
fn numbers_at_their_limits_load() {
    let text = "description: x\ncluster: {apiservers: 16, automaticReload: true}\nsteps:\n  \
                - create: {secret: a, count: 100000}\n  \
                - measure: {name: m, objects: 256, size: 1048576}\n  \
                - writeConfig: {config: c}\n  \
                - waitForReload: {expect: loaded, timeoutSeconds: 3600}\n\
                configs:\n  c: \"x\"\n";
    let s = parse(Path::new("ok.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.cluster_spec().apiservers.len(), 16);
    let atrest_scenario::schema::Step::Create(c) = &s.steps[0].step else { panic!("not create") };
    assert_eq!(c.objects().len(), 100_000);
}

#[test]
fn inputs_are_read_bounded() {
    // A device is refused before it is read (it would never end).
    let e = atrest_scenario::load(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(e, ScenarioError::Read(_)), "{e:?}");
    assert!(
        e.to_string().starts_with("/dev/zero: not a regular file but a character device"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    let e = atrest_scenario::load(&big).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: larger than the 1 MiB limit for a scenario file", big.display())
    );

    // `file:` configs are encryption configurations, at the decoder's budget.
    let e = error_of(
        "description: x\nconfigs:\n  a: {file: /dev/zero}\nsteps:\n  - start: {expect: ready}\n",
    );
    assert!(
        e.starts_with("bad.yaml:3:6: config \"a\": cannot read /dev/zero: not a regular file"),
        "{e}"
    );
    let config = dir.path().join("big-config.yaml");
    std::fs::write(&config, vec![b'#'; (4 << 20) + 1]).unwrap();
    let e = error_of(&format!(
        "description: x\nconfigs:\n  a: {{file: {}}}\nsteps:\n  - start: {{expect: ready}}\n",
        config.display()
    ));
    assert!(e.ends_with("larger than the 4 MiB limit for an encryption configuration"), "{e}");
}

/// A wrong placeholder is reported once, at its place in the file: in a block scalar, a quoted
/// string, after an earlier identical text, and across configurations for a reused name.
#[test]
fn template_errors_have_a_position() {
    let steps = "steps:\n  - start: {expect: ready}\n";
    let unknown = "unknown placeholder ${nokind:k} (use ${key:NAME}, ${key:NAME:BYTES}, \
                   ${passphrase:NAME:CHARS} or ${kms:PLUGIN})";
    assert_eq!(
        error_of(&format!(
            "description: x\nconfigs:\n  main: |\n    a: 1\n    secret: ${{nokind:k}}\n{steps}"
        )),
        format!("bad.yaml:5:13: config \"main\": {unknown}")
    );
    assert_eq!(
        error_of(&format!("description: x\nconfigs:\n  main: \"x: ${{nokind:k}}\"\n{steps}")),
        format!("bad.yaml:3:13: config \"main\": {unknown}")
    );
    let err = error_of(&format!(
        "description: x\nconfigs:\n  a: |\n    k: ${{key:k}}\n  b: |\n    k: ${{key:k}}\n    j: ${{key:k:16}}\n{steps}"
    ));
    assert_eq!(
        err,
        "bad.yaml:7:8: config \"b\": ${key:k:16} reuses \"k\" with another size or kind"
    );
    // The text is printed once.
    assert_eq!(err.matches("reuses").count(), 1);
}

#[test]
fn kms_plugins_are_checked_at_load() {
    let head = "description: x\ncluster:\n  kmsPlugins: [{name: kms1}]\n";
    assert_eq!(
        error_of(&format!("{head}steps:\n  - kmsPlugin: {{name: kms2, rotate: true}}\n")),
        "bad.yaml:5:23: no KMS plugin named \"kms2\" in cluster.kmsPlugins (defined: kms1)"
    );
    assert_eq!(
        error_of(&format!(
            "{head}steps:\n  - kmsPlugin: {{name: kms1, rotate: true, clearFaults: true}}\n"
        )),
        "bad.yaml:5:5: kmsPlugin: give exactly one of `rotate: true`, `fault` or `clearFaults: true`"
    );
    assert!(
        error_of(&format!("{head}steps:\n  - kmsPlugin: {{name: kms1, fault: slow}}\n"))
            .starts_with("bad.yaml:5:"),
    );
    assert_eq!(
        error_of(&format!(
            "{head}configs:\n  c: 'endpoint: ${{kms:other}}'\nsteps:\n  - waitForKmsKeyId: {{name: kms1}}\n"
        )),
        "bad.yaml:1:1: config \"c\": ${kms:other} names no plugin of cluster.kmsPlugins"
    );
    assert_eq!(
        error_of(
            "description: x\ncluster:\n  kmsPlugins: [{name: Kms/1}]\nsteps:\n  - list: {resource: secrets, expect: {count: 0}}\n"
        ),
        "bad.yaml:3:16: cluster.kmsPlugins: name \"Kms/1\" must be 1 to 63 lowercase letters, digits or `-`"
    );
    assert_eq!(
        error_of(&format!(
            "{head}steps:\n  - waitForKmsKeyId: {{name: kms1, timeoutSeconds: 3601}}\n"
        )),
        "bad.yaml:5:51: waitForKmsKeyId.timeoutSeconds is 3601, above the limit of 3600"
    );
}

#[test]
fn kms_endpoint_placeholder_names_the_socket_in_the_cluster_tree() {
    let text = "description: x\ncluster:\n  kmsPlugins: [{name: kms1}]\nconfigs:\n  c: 'endpoint: ${kms:kms1}'\nsteps:\n  - kmsPlugin: {name: kms1, fault: {latencyMs: 50}}\n  - waitForKmsKeyId: {name: kms1}\n";
    let s = parse(Path::new("ok.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
    let spec = s.cluster_spec();
    assert_eq!(spec.kms_plugins.len(), 1);
    assert_eq!(spec.kms_plugins[0].socket, "/var/run/kmsplugin/kms1.sock");
    let prepared = s.prepare(&atrest_scenario::RunOptions::default()).unwrap();
    assert!(format!("{prepared:?}").contains("unix:///var/run/kmsplugin/kms1.sock"));
}

#[test]
fn probe_paths_are_health_checks() {
    assert_eq!(
        error_of(
            "description: x\nsteps:\n  - probe: {path: /api/v1/secrets, expect: {code: 200}}\n"
        ),
        "bad.yaml:3:5: probe: path \"/api/v1/secrets\" is not a health check (/healthz…, /readyz…, /livez…)"
    );
    assert!(
        error_of("description: x\nsteps:\n  - probe: {path: /readyz, expect: {code: 99}}\n")
            .contains("probe.expect.code 99 is not an HTTP status (100 to 599)")
    );
    assert!(
        error_of(
            "description: x\nsteps:\n  - probe: {path: /readyz, timeoutSeconds: 3601, expect: {code: 200}}\n"
        )
        .contains("probe.timeoutSeconds is 3601, above the limit of 3600")
    );
    assert!(parse(
        Path::new("ok.yaml"),
        "description: x\nsteps:\n  - probe: {path: /healthz/kms-providers, expect: {code: 200, body: ok}}\n"
    )
    .is_ok());
}

/// `start`/`restart` take `expect: ready`, `notReady` or `{exit: TEXT}`; `expect: {}` (which
/// meant "ready, as a check") and the old map spellings are refused with the forms named.
#[test]
fn start_expectations() {
    let cases = [
        (
            "start: {expect: {}}",
            "bad.yaml:3:21: expect: {} says nothing: give `ready`, `notReady` or `{exit: TEXT}`",
        ),
        ("start: {expect: {error: a}}", "bad.yaml:3:21: expect: `error` is now `{exit: TEXT}`"),
        ("restart: {expect: {notReady: true}}", "bad.yaml:3:23: expect: write `expect: notReady`"),
        (
            "start: {expect: done}",
            "bad.yaml:3:21: expect: \"done\" is not one of `ready`, `notReady` or `{exit: TEXT}`",
        ),
        (
            "start: {expect: {exit: a, code: 1}}",
            "bad.yaml:3:21: expect: `code` beside `exit`: give `ready`, `notReady` or `{exit: TEXT}`",
        ),
    ];
    for (step, want) in cases {
        assert_eq!(error_of(&format!("description: x\nsteps:\n  - {step}\n")), want);
    }
    let ok = "description: x\nsteps:\n  - start: {expect: {exit: boom}}\n  - restart: {expect: notReady}\n  - restart: {expect: ready}\n";
    let s = parse(Path::new("ok.yaml"), ok).expect("the three forms load");
    let expects: Vec<_> = s
        .steps
        .iter()
        .map(|p| match &p.step {
            Step::Start { expect, .. } | Step::Restart { expect, .. } => expect.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        expects,
        [
            Some(StartExpect::Exit("boom".into())),
            Some(StartExpect::NotReady),
            Some(StartExpect::Ready)
        ]
    );
}

/// Step names: shown in reports, so bounded, plain and unique.
#[test]
fn step_names() {
    let long = "n".repeat(64);
    let cases = [
        ("  - name: a b\n    start: {}\n".to_owned(), "bad.yaml:3:11: step name \"a b\" must be 1 to 63 letters, digits, `-`, `_` or `.`".to_owned()),
        ("  - name: \"\"\n    start: {}\n".to_owned(), "bad.yaml:3:11: step name \"\" must be 1 to 63 letters, digits, `-`, `_` or `.`".to_owned()),
        (format!("  - name: {long}\n    start: {{}}\n"), format!("bad.yaml:3:11: step name \"{long}\" must be 1 to 63 letters, digits, `-`, `_` or `.`")),
        ("  - name: up\n    start: {}\n  - name: up\n    stop: {}\n".to_owned(), "bad.yaml:5:11: step name \"up\" is used twice (first on line 3)".to_owned()),
        ("  - name: up\n".to_owned(), "bad.yaml:3:5: a step needs a kind, one of writeConfig, removeFile, setFlags, start, stop, restart, create, update, get, delete, list, rewrite, expectStored, expectAll, measure, waitForReload, kmsPlugin, waitForKmsKeyId, wait, expectKmsCalls, probe, preflight, kill, startMember, pause, resume, fill, deleteAll, compact, defragment, disarmAlarms, expectAlarms, deleteMirrorPod".to_owned()),
        ("  - start: {}\n    stop: {}\n".to_owned(), "bad.yaml:3:5: one step per list item: `start` and `stop` are two (start another item with `-`)".to_owned()),
        ("  - name: a\n    name: b\n    start: {}\n".to_owned(), "bad.yaml:4:5: duplicate mapping key: name, set DuplicateKeyPolicy in Options if acceptable".to_owned()),
    ];
    for (steps, want) in cases {
        assert_eq!(
            error_of(&format!("description: x\nsteps:\n{steps}  - restart: {{expect: ready}}\n")),
            want
        );
    }
    let ok = "description: x\nsteps:\n  - name: first-start\n    start: {}\n  - restart: {expect: ready}\n  - {name: key2.v1_b, stop: {}}\n";
    let s = parse(Path::new("ok.yaml"), ok).expect("named steps load");
    let names: Vec<_> = s.steps.iter().map(|p| (p.line, p.name.as_deref())).collect();
    assert_eq!(names, [(3, Some("first-start")), (5, None), (6, Some("key2.v1_b"))]);
}

/// `{library: NAME}` names a config of the built-in library; mistakes name the library.
#[test]
fn library_configs() {
    let with = |def: &str| {
        format!("description: x\nconfigs:\n  a: {def}\nsteps:\n  - start: {{expect: ready}}\n")
    };
    let names: Vec<&str> = atrest_scenario::schema::library().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        error_of(&with("{library: nope}")),
        format!(
            "bad.yaml:3:6: config \"a\": no library config named \"nope\" (the library: {})",
            names.join(", ")
        )
    );
    assert_eq!(
        error_of(&with("{library: identity, file: x.yaml}")),
        "bad.yaml:3:6: give one of `file` or `library`, not both"
    );
    assert_eq!(
        error_of(&with("{libary: identity}")),
        "bad.yaml:3:7: unknown field `libary`, expected one of file, library"
    );
    assert_eq!(error_of(&with("{}")), "bad.yaml:3:6: give {file: PATH} or {library: NAME}");
    // Every library template loads (placeholders checked), used or not by a shipped scenario.
    for name in &names {
        let text = format!(
            "description: x\ncluster: {{kmsPlugins: [{{name: kms1}}]}}\nconfigs:\n  a: {{library: {name}}}\nsteps:\n  - start: {{expect: ready}}\n"
        );
        parse(Path::new("ok.yaml"), &text).unwrap_or_else(|e| panic!("library config {name}: {e}"));
    }
    assert!(names.len() >= 8, "{names:?}");
    // The template is the library file's text, byte for byte.
    let s = parse(Path::new("ok.yaml"), &with("{library: aescbc-key1}")).expect("loads");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/configs/library/aescbc-key1.yaml");
    assert_eq!(s.configs["a"], std::fs::read_to_string(file).expect("the library file"));
}

/// Fields of the steps written as struct variants are checked like every other field (they
/// were ignored, so `setFlags: {encryptionConfig: null}` did nothing).
#[test]
fn unknown_fields_in_struct_steps() {
    let of = |step: &str| {
        error_of(&format!(
            "description: x\nconfigs:\n  a: x\nsteps:\n  - {step}\n  - start: {{expect: ready}}\n"
        ))
    };
    assert!(
        of("writeConfig: {config: a, bogus: 1}")
            .starts_with("bad.yaml:5:30: unknown field `bogus`")
    );
    let e = of("setFlags: {encryption_config: null}");
    assert!(
        e == "bad.yaml:5:16: unknown field `encryption_config`, expected one of apiserver, encryptionConfig, automaticReload, mounts",
        "{e}"
    );
    let s = parse(Path::new("ok.yaml"), "description: x\nsteps:\n  - setFlags: {encryptionConfig: null, automaticReload: true}\n  - start: {expect: ready}\n").expect("loads");
    assert!(matches!(
        s.steps[0].step,
        Step::SetFlags { encryption_config: Some(None), automatic_reload: Some(true), .. }
    ));
}

#[test]
fn mounts_that_cannot_be_laid_out() {
    assert_eq!(
        error_of(
            "description: x\ncluster:\n  mounts:\n    - {hostPath: etc/enc, mountPath: /etc/enc}\n\
             steps:\n  - start: {expect: ready}\n"
        ),
        "bad.yaml:4:5: cluster.mounts: hostPath \"etc/enc\" is not an absolute path without `..`"
    );
    assert_eq!(
        error_of(
            "description: x\ncluster:\n  mounts: [{hostPath: /srv, mountPath: /}]\n\
             steps:\n  - start: {expect: ready}\n"
        ),
        "bad.yaml:3:11: cluster.mounts: mountPath \"/\" would hide the apiserver's own image"
    );
    assert_eq!(
        error_of(
            "description: x\nsteps:\n  - setFlags:\n      mounts:\n\
             \x20       - {hostPath: /a, mountPath: /etc/kubernetes}\n\
             \x20       - {hostPath: /b, mountPath: /etc/kubernetes/enc/}\n\
             \x20 - start: {expect: ready}\n"
        ),
        "bad.yaml:3:5: setFlags: mounts: mountPath \"/etc/kubernetes/enc/\" is at or inside \
         mountPath \"/etc/kubernetes\"; nested mounts are not supported"
    );
    assert!(
        error_of(
            "description: x\ncluster:\n  mounts: [{hostPath: /a, mountPath: /b, readOnly: true}]\n\
             steps:\n  - start: {expect: ready}\n"
        )
        .contains("unknown field `readOnly`")
    );
}

#[test]
fn quota_steps_are_checked_at_load() {
    let refusal = r#"expect: {error: "etcdserver: mvcc: database space exceeded"}"#;
    assert_eq!(
        error_of(&with_step("{}", &format!("fill: {{bytes: 0, {refusal}}}"))),
        "bad.yaml:4:19: fill.bytes must be at least 1"
    );
    assert_eq!(
        error_of(&with_step("{}", &format!("fill: {{bytes: 2000000, {refusal}}}"))),
        "bad.yaml:4:19: fill.bytes is 2000000, above the limit of 1000000"
    );
    // A fill that is not told how it ends would pass on any refusal.
    assert_eq!(
        error_of(&with_step("{}", "fill: {bytes: 10, expect: {}}")),
        "bad.yaml:4:5: fill.expect: give the refusal that ends it (error, errorContains or code)"
    );
    assert_eq!(
        error_of(&with_step("{}", "deleteAll: {resource: secrets}")),
        "bad.yaml:4:17: missing field `namespace`"
    );
    assert_eq!(
        error_of(&with_step("{}", "expectAlarms: {alarms: [FULL]}")),
        "bad.yaml:4:29: unknown variant `FULL`, expected one of NOSPACE, CORRUPT"
    );
    assert_eq!(
        error_of(&with_step("{}", "compact: {revision: 3}")),
        "bad.yaml:4:15: unknown field `revision`; the step takes none"
    );
    assert_eq!(
        error_of(&with_step("{etcd: {quotaBackendBytes: -1}}", "compact: {}")),
        "bad.yaml:2:37: invalid u64"
    );
}

/// A user's cluster (the `existing` backend's controls) never gets its etcd filled, compacted,
/// defragmented or disarmed, nor a quota set: every such line is named before any step runs.
#[test]
fn the_quota_scenario_is_refused_where_etcd_is_not_the_harness_own() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/etcd-quota-during-rewrite.yaml");
    let scenario = atrest_scenario::load(&path).unwrap();
    let controls =
        atrest_backend::Controls { raw_etcd: true, ..atrest_backend::Controls::API_ONLY };
    let lines = scenario.unsupported("existing", &controls, 1);
    let kinds = |k: &str| lines.iter().filter(|l| l.contains(&format!("`{k}`"))).count();
    assert!(lines[0].starts_with("cluster.etcd: the existing backend cannot "), "{lines:#?}");
    assert_eq!(kinds("fill"), 2, "{lines:#?}");
    for k in ["compact", "defragment"] {
        assert_eq!(kinds(k), 1, "{lines:#?}");
    }
    assert_eq!(kinds("disarmAlarms"), 2, "{lines:#?}");
    assert_eq!(kinds("expectAlarms"), 3, "{lines:#?}");
    assert_eq!(kinds("deleteAll"), 0, "deleting in its own scratch namespace is allowed");
}
