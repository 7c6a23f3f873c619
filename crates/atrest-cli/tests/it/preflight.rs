//! `atrest preflight` against a real etcd filled with values an apiserver on CURRENT would have
//! written: what NEW would do, with exit codes. The same predictions are checked against what
//! the real apiserver then does in the scenarios' `preflight` steps (differential test).

use crate::inspect::{
    KEY1, KEY2, SECRET_VALUE, assert_no_secrets, config, encrypt, json, key1_only, plain_etcd,
    write_file,
};
use crate::{atrest, stdout};

#[tokio::test]
async fn preflight_process_predicts_lost_access_and_readiness() {
    let (etcd, raw) = plain_etcd().await;
    let dir = tempfile::tempdir().unwrap();
    let current = key1_only();
    for i in 0..2 {
        let key = format!("/registry/secrets/default/s-{i}");
        raw.put(&key, encrypt(&current, &key, SECRET_VALUE)).await.unwrap();
    }
    raw.put("/registry/configmaps/kube-system/cm", SECRET_VALUE.to_vec()).await.unwrap();
    let current_file = write_file(dir.path(), "current.yaml", &current);
    let key2_only = write_file(dir.path(), "key2.yaml", &config(&[("key2", KEY2)], false));
    let key2_then_1 =
        write_file(dir.path(), "key2-1.yaml", &config(&[("key2", KEY2), ("key1", KEY1)], true));

    // key1 dropped: both Secrets unreadable, the Secrets watch cache cannot list: never ready.
    let out = atrest(&["preflight", "--config", &key2_only, "--etcd", &etcd.url], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("ready: NO"), "{text}");
    assert!(
        text.contains(
            "  secrets: 2 objects, 2 unreadable, 0 stale, 0 plaintext (keeps /readyz failing for ever)"
        ),
        "{text}"
    );
    assert!(
        text.contains("  lost: 2 objects stored with aescbc key key1 cannot be read"),
        "{text}"
    );
    assert!(text.contains("verdict: NOT safe: 2 objects would be unreadable and the apiserver would not become ready"), "{text}");
    assert_no_secrets(&out);

    // key2 first, key1 kept: safe; the two Secrets are stale until rewritten.
    let out = atrest(
        &["preflight", "--config", &key2_then_1, "--etcd", &etcd.url, "--format", "json"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(
        (v["ready"].as_bool(), v["unreadable"].as_u64(), v["stale"].as_u64()),
        (Some(true), Some(0), Some(2)),
        "{v}"
    );
    assert_eq!(v["readiness"], "ready", "{v}");
    assert_eq!(v["safe"], true);

    // The same on two apiservers straight from CURRENT: the others cannot read key2 yet.
    let out = atrest(
        &[
            "preflight",
            "--config",
            &key2_then_1,
            "--current",
            &current_file,
            "--apiservers",
            "2",
            "--etcd",
            &etcd.url,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("HA: with 2 apiservers, NEW writes with a provider the others, still on CURRENT, cannot read"), "{}", stdout(&out));
}

#[test]
fn preflight_of_a_config_the_apiserver_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let bad =
        write_file(dir.path(), "bad.yaml", &config(&[("key1", "c2VjcmV0IGlzIHNlY3Vy")], false));
    // No etcd is contacted: the load fails first.
    let out = atrest(&["preflight", "--config", &bad, "--etcd", "http://127.0.0.1:9"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.starts_with("starts: NO: kube-apiserver would exit with:\n  err=\"error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \\\"REDACTED\\\": secret is not of the expected length, got 15, expected one of [16 24 32]\""), "{text}");
}
