//! Arbitrary bytes and mutated valid documents never panic the decoder or the loader.

use atrest_config::decode::decode;
use atrest_config::lint::lint;
use atrest_config::load::{LoadOptions, load};
use proptest::prelude::*;

const SEED: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, '*.apps']
  providers:
  - aesgcm:
      keys:
      - &k {name: key1, secret: c2VjcmV0IGlzIHNlY3VyZQ==}
  - kms: {apiVersion: v2, name: kms1, endpoint: 'unix:///@kms', timeout: 3s, cachesize: 5}
  - identity: {}
- resources: [configmaps]
  providers: [{secretbox: {keys: [*k]}}, {aescbc: {keys: [{<<: *k, name: key2}]}}]
";

const JSON_SEED: &str = r#"{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"kms":{"name":"a","endpoint":"unix:///a","timeout":"1s"}},{"identity":{}}]}]}"#;

fn exercise(bytes: &[u8]) {
    let _decoded = decode(bytes);
    let opts = LoadOptions { reload: true, kmsv1_enabled: true };
    match load("p.yaml", Ok(bytes.to_vec()), &opts) {
        Ok(loaded) => {
            let _lints = lint(&loaded.config);
        }
        Err(e) => {
            let _text = e.to_string();
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    DuplicateLine(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let byte = prop_oneof![
        Just(b' '),
        Just(b'\t'),
        Just(b'\n'),
        Just(b':'),
        Just(b'-'),
        Just(b'['),
        Just(b']'),
        Just(b'{'),
        Just(b'}'),
        Just(b'&'),
        Just(b'*'),
        Just(b'!'),
        Just(b'"'),
        Just(b'\''),
        Just(b'#'),
        Just(b'|'),
        Just(b'>'),
        Just(b'%'),
        Just(b'?'),
        Just(b'<'),
        any::<u8>(),
    ];
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply(seed: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.as_bytes().to_vec();
    for e in edits {
        if b.is_empty() {
            break;
        }
        match *e {
            Edit::Delete(i) => {
                let i = i % b.len();
                b.remove(i);
            }
            Edit::Insert(i, c) => {
                let i = i % (b.len() + 1);
                b.insert(i, c);
            }
            Edit::Replace(i, c) => {
                let i = i % b.len();
                b[i] = c;
            }
            Edit::DuplicateLine(i) => {
                let text = String::from_utf8_lossy(&b).into_owned();
                let lines: Vec<&str> = text.split('\n').collect();
                let i = i % lines.len();
                let mut out = lines.clone();
                out.insert(i, lines[i]);
                b = out.join("\n").into_bytes();
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_yaml_never_panics(e in edits()) {
        exercise(&apply(SEED, &e));
    }

    #[test]
    fn mutated_json_never_panics(e in edits()) {
        exercise(&apply(JSON_SEED, &e));
    }
}
