//! `--help` snapshots: the CLI surface is reviewed like any other golden output.

use crate::{atrest, stdout};

#[test]
fn help_texts() {
    for cmd in [
        &[][..],
        &["bench"],
        &["bench", "degradation"],
        &["bench", "member-exit"],
        &["bench", "scenario"],
        &["check-config"],
        &["cluster"],
        &["cluster", "up"],
        &["decrypt"],
        &["encrypt"],
        &["inspect"],
        &["keygen"],
        &["kind-config"],
        &["kms-plugin"],
        &["kms-plugin", "ctl"],
        &["kms-plugin", "keygen"],
        &["kms-plugin", "serve"],
        &["preflight"],
        &["rehearse"],
        &["rewrite"],
        &["scenario"],
        &["scenarios"],
        &["status"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = atrest(&args, b"");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let name = if cmd.is_empty() { "atrest".to_owned() } else { cmd.join("-") };
        insta::assert_snapshot!(format!("help-{name}"), stdout(&out));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = atrest(&["check-config"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = atrest(&["no-such-command"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = atrest(&["keygen", "--provider", "rot13", "--name", "k"], b"");
    assert_eq!(out.status.code(), Some(2));
}
