//! `atrest kind-config`: the shipped examples in `kind-configs/` are exactly what the command
//! writes (so they cannot drift from it), a configuration the apiserver would refuse is
//! refused with its `err`, and the output file is never overwritten.

use std::os::unix::fs::PermissionsExt as _;

use crate::inspect::{key1_only, write_file};
use crate::{atrest, root, stderr, stdout};

/// Each example, with the arguments that write it (besides `--encryption-config` and
/// `--host-path enc`).
const EXAMPLES: [(&str, &[&str]); 2] = [
    ("single-control-plane.yaml", &[]),
    ("three-control-planes-reload.yaml", &["--nodes", "3", "--workers", "1", "--automatic-reload"]),
];

#[test]
fn the_shipped_examples_are_what_kind_config_writes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "encryption-config.yaml", &key1_only());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    for (file, extra) in EXAMPLES {
        let mut args = vec!["kind-config", "--encryption-config", &config, "--host-path", "enc"];
        args.extend_from_slice(extra);
        let out = atrest(&args, b"");
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{file}: a 0600 file gets no warning");
        let shipped = std::fs::read_to_string(root().join("kind-configs").join(file)).unwrap();
        assert_eq!(
            stdout(&out),
            shipped,
            "kind-configs/{file} drifted: regenerate it with `atrest {}`",
            args.join(" ")
        );
    }
}

#[test]
fn a_configuration_the_apiserver_refuses_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broken = key1_only().replace("aescbc", "aescbcx");
    let config = write_file(dir.path(), "encryption-config.yaml", &broken);
    let out_file = dir.path().join("kind.yaml");
    let out_arg = out_file.to_str().unwrap();
    let out = atrest(&["kind-config", "--encryption-config", &config, "--out", out_arg], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: kube-apiserver would exit at start with this configuration:\n  err=\"error while parsing file: "),
        "{}",
        stderr(&out)
    );
    assert!(!out_file.exists());
}

#[test]
fn the_output_is_written_once_and_a_readable_key_file_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "encryption-config.yaml", &key1_only());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out_file = dir.path().join("kind.yaml");
    let out_arg = out_file.to_str().unwrap();
    let args = ["kind-config", "--encryption-config", &config, "--out", out_arg];
    let out = atrest(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("is readable by group or others (mode 644); chmod 600 it"));
    assert!(stderr(&out).contains(&format!("kind create cluster --config {out_arg}")));
    let written = std::fs::read_to_string(&out_file).unwrap();
    // The directory made absolute, as kind would otherwise resolve it from its own cwd.
    let dir_abs = std::fs::canonicalize(dir.path()).unwrap();
    assert!(written.contains(&format!("hostPath: \"{}\"", dir_abs.display())), "{written}");
    assert!(!written.contains("secret:"), "no key material in a kind config");
    let again = atrest(&args, b"");
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), written);
}
