//! The decoder's own API: span map, formats, budgets.

use atrest_config::decode::{Budget, DecodeError, Position, SourceFormat, decode, decode_with};

const DOC: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources:
  - secrets
  providers:
  - identity: {}
  - aescbc:
      keys:
      - name: key1
        secret: c2VjcmV0IGlzIHNlY3VyZQ==
";

#[test]
fn span_map_points_at_fields_and_items() {
    let d = decode(DOC.as_bytes()).expect("valid");
    assert_eq!(d.format, SourceFormat::Yaml);
    let at = |line, column| Some(Position { line, column });
    assert_eq!(d.spans.get("resources"), at(3, 1));
    assert_eq!(d.spans.get("resources[0]"), at(4, 3));
    assert_eq!(d.spans.get("resources[0].resources[0]"), at(5, 5));
    assert_eq!(d.spans.get("resources[0].providers[1].aescbc"), at(8, 5));
    assert_eq!(d.spans.get("resources[0].providers[1].aescbc.keys[0].secret"), at(11, 9));
    let secret = d.spans.field("resources[0].providers[1].aescbc.keys[0].secret").expect("span");
    assert_eq!(secret.value, Position { line: 11, column: 17 });
    // A defaulted field resolves to its closest written ancestor.
    assert_eq!(
        d.spans.nearest("resources[0].providers[1].aescbc.keys[0].timeout"),
        Some(("resources[0].providers[1].aescbc.keys[0]", Position { line: 10, column: 9 }))
    );
}

#[test]
fn json_spans_and_format() {
    let json = "{\n  \"apiVersion\": \"apiserver.config.k8s.io/v1\",\n  \"kind\": \"EncryptionConfiguration\",\n  \"resources\": [{\"resources\": [\"secrets\"], \"providers\": [{\"identity\": {}}]}]\n}\n";
    let d = decode(json.as_bytes()).expect("valid");
    assert_eq!(d.format, SourceFormat::Json);
    assert_eq!(d.spans.get("resources"), Some(Position { line: 4, column: 3 }));
    assert_eq!(
        d.spans.get("resources[0].providers[0].identity"),
        Some(Position { line: 4, column: 59 })
    );
}

#[test]
fn budgets_stop_hostile_input() {
    let small = Budget { max_bytes: 10, ..Budget::default() };
    assert!(matches!(
        decode_with(DOC.as_bytes(), &small),
        Err(DecodeError::Budget { what: "bytes", .. })
    ));
    let deep = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = decode(deep.as_bytes()).expect_err("too deep");
    assert!(matches!(err, DecodeError::Budget { .. }), "{err}");
    let deep_block: String = (0..150).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
    let err = decode(format!("a:\n{deep_block}").as_bytes()).expect_err("too deep");
    assert!(matches!(err, DecodeError::Budget { what: "nesting depth", .. }), "{err}");
    let deep_json = format!("{{\"a\":{}1{}}}", "[".repeat(5_000), "]".repeat(5_000));
    assert!(matches!(decode(deep_json.as_bytes()), Err(DecodeError::Budget { .. })));
    // A billion-laughs document is stopped by go-yaml's own aliasing ratio guard.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(", ")));
    }
    let err = decode(bomb.as_bytes()).expect_err("bomb");
    assert_eq!(err.to_string(), "yaml: document contains excessive aliasing");
}

#[test]
fn missing_kind_echo_redacts_every_secret() {
    let doc = "resources:\n- providers:\n  - aescbc: {keys: [{name: a, secret: 'c2VjcmV0IGlzIHNlY3VyZQ=='}]}\n---\nsecret: \"dGhpcyBpcyBwYXNzd29yZA==\"\n";
    let err = decode(doc.as_bytes()).expect_err("no kind");
    let text = err.to_string();
    assert!(!text.contains("c2VjcmV0"), "{text}");
    assert!(!text.contains("dGhpcyBp"), "{text}");
    assert!(text.contains("secret: 'REDACTED'"), "{text}");
    assert!(err.upstream_prints_key_material());
}
