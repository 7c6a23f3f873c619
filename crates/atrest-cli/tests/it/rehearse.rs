//! `atrest rehearse`: the README's worked example (the tutorial's production config → a
//! rotated key) on sim and on the real control plane, its runbook, and the refusals.

use std::fs;
use std::path::Path;

use crate::{atrest, atrest_in, root};

const KEY3: &str = "c2VjcmV0IGlzIHNlY3VyZQ==";
const KEY4: &str = "YXRyZXN0IHdvcmtlZCBleGFtcGxlIGtleSBmb3VyISE=";

fn configs() -> std::path::PathBuf {
    root().join("scenarios/configs")
}

fn no_keys(what: &str, text: &str) {
    for k in [KEY3, KEY4] {
        assert!(!text.contains(k), "key material in {what}:\n{text}");
    }
}

fn worked_example(backend: &str) {
    let out = tempfile::tempdir().unwrap();
    let runbook = out.path().join("runbook");
    let dir = configs();
    let o = atrest_in(
        &dir,
        &[
            "rehearse",
            "--from",
            "tutorial-production.yaml",
            "--to",
            "tutorial-production-rotated.yaml",
            "--backend",
            backend,
            "--out",
            runbook.to_str().unwrap(),
        ],
        b"",
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("configmaps: aescbc key4, aescbc key3\n"), "{stdout}");
    assert!(
        stdout.contains("predicted: secrets current-* (stored by aescbc key3): unreadable: no matching key was found for the provided AES transformer"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("  on {backend}: as predicted\n")), "{stdout}");
    assert!(
        stdout.contains("Verdict: the 3-step plan is safe; the naive switch breaks."),
        "{stdout}"
    );
    no_keys("stdout", &stdout);
    no_keys("stderr", &stderr);
    let mut names: Vec<String> = fs::read_dir(&runbook)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in ["01-promote.yaml", "03-target.yaml", "README.md", "rehearsal.yaml"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing in {names:?}");
    }
    for n in &names {
        // No key in any file: the runbook is meant to be committed.
        no_keys(n, &fs::read_to_string(runbook.join(n)).unwrap());
    }
    let promote = fs::read_to_string(runbook.join("01-promote.yaml")).unwrap();
    assert!(promote.contains("secret: ${key:aescbc-key4:32}"), "{promote}");
    // The runbook's scenario reruns anywhere, with fresh keys.
    let elsewhere = tempfile::tempdir().unwrap();
    let rerun = atrest_in(
        elsewhere.path(),
        &["scenario", runbook.join("rehearsal.yaml").to_str().unwrap()],
        b"",
    );
    assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stdout));
    // And with the user's own files in place of `current` and `target`: their keys bind every
    // placeholder, so the objects written under CURRENT read back through the intermediate
    // configs (with random keys in those, they would not).
    let current = format!("current={}", dir.join("tutorial-production.yaml").display());
    let target = format!("target={}", dir.join("tutorial-production-rotated.yaml").display());
    let rerun = atrest_in(
        elsewhere.path(),
        &[
            "scenario",
            runbook.join("rehearsal.yaml").to_str().unwrap(),
            "--backend",
            backend,
            "--config",
            &current,
            "--config",
            &target,
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    no_keys("the rerun's report", &stdout);
}

#[test]
fn rehearse_worked_example_on_sim() {
    worked_example("sim");
}

/// The same on a real etcd and kube-apiserver (nextest's `real-cluster` group).
#[test]
fn rehearse_process_worked_example() {
    worked_example("process");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn aescbc(name: &str, key: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: {name}\n        secret: {key}\n"
    )
}

#[test]
fn rehearse_refuses_a_key_name_reused_for_another_secret() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (
        write(d.path(), "a.yaml", &aescbc("key1", KEY4)),
        write(d.path(), "b.yaml", &aescbc("key1", KEY3)),
    );
    let o = atrest(&["rehearse", "--from", &a, "--to", &b], b"");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no safe path from CURRENT to TARGET"), "{stderr}");
    assert!(stderr.contains("Give the new key a new name."), "{stderr}");
    no_keys("stderr", &stderr);
}

#[test]
fn rehearse_refuses_a_target_the_apiserver_would_not_load() {
    let d = tempfile::tempdir().unwrap();
    let a = write(d.path(), "a.yaml", &aescbc("key1", KEY4));
    // 16 bytes decoded are fine for aescbc; 15 are not.
    let b = write(d.path(), "b.yaml", &aescbc("key2", "c2VjcmV0IGlzIHNlY3Vy"));
    let o = atrest(&["rehearse", "--from", &a, "--to", &b], b"");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TARGET") && stderr.contains("does not load"), "{stderr}");
    assert!(stderr.contains("err=\"error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \\\"REDACTED\\\": secret is not of the expected length, got 15, expected one of [16 24 32]\""), "{stderr}");
}

#[test]
fn rehearse_json_report_carries_both_runs() {
    let dir = configs();
    let o = atrest_in(
        &dir,
        &[
            "rehearse",
            "--from",
            "tutorial-production.yaml",
            "--to",
            "tutorial-production-rotated.yaml",
            "--report",
            "json",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rehearsal"]["outcome"], "passed", "{v}");
    assert_eq!(v["naive"]["outcome"], "passed", "{v}");
    assert_eq!(v["naiveSafe"], false);
    assert_eq!(v["steps"].as_array().unwrap().len(), 3);
    no_keys("json", &String::from_utf8_lossy(&o.stdout));
}
