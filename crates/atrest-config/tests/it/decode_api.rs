//! The decoder's own API: span map, formats, budgets.

use atrest_config::decode::{
    Budget, DecodeError, Position, SourceFormat, decode, decode_with, secret_literals, yaml_to_json,
};

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

/// A 32-byte test key ("0123456789abcdef" twice) and the two halves of its base64 text, as a
/// multi-line value splits it.
const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const KEY_HEAD: &str = "MDEyMzQ1Njc4OWFiY2RlZj";
const KEY_TAIL: &str = "AxMjM0NTY3ODlhYmNkZWY=";

fn assert_no_key_material(err: &DecodeError, case: &str) {
    let text = err.to_string();
    for needle in [KEY_B64, KEY_HEAD, KEY_TAIL] {
        assert!(!text.contains(needle), "{case}: {needle} printed in {text}");
    }
    assert!(err.upstream_prints_key_material(), "{case}: flag not set for {text}");
}

/// Every way of writing a `secret` value over one or more lines, each after `secret:`.
fn multi_line_secret_values() -> Vec<(&'static str, String)> {
    assert_eq!(format!("{KEY_HEAD}{KEY_TAIL}"), KEY_B64);
    let ind = "          ";
    vec![
        ("literal strip", format!("|-\n{ind}{KEY_HEAD}\n{ind}{KEY_TAIL}")),
        ("literal clip", format!("|\n{ind}{KEY_HEAD}\n{ind}{KEY_TAIL}")),
        ("literal keep with comment", format!("|+ # note\n{ind}{KEY_HEAD}\n\n{ind}{KEY_TAIL}\n")),
        ("folded", format!(">\n{ind}{KEY_HEAD}\n{ind}{KEY_TAIL}")),
        ("folded strip", format!(">-\n{ind}{KEY_HEAD}\n\n{ind}{KEY_TAIL}")),
        ("plain multi-line", format!("{KEY_HEAD}\n{ind}{KEY_TAIL}")),
        ("plain on the next line", format!("\n{ind}{KEY_HEAD}\n{ind}{KEY_TAIL}")),
        ("double-quoted multi-line", format!("\"{KEY_HEAD}\n{ind}{KEY_TAIL}\"")),
        ("single-quoted multi-line", format!("'{KEY_HEAD}\n{ind}{KEY_TAIL}'")),
        ("double-quoted escaped break", format!("\"{KEY_HEAD}\\\n{ind}{KEY_TAIL}\"")),
        ("one line", KEY_B64.to_owned()),
    ]
}

fn keys_doc(value: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        secret: {value}\n      - name: key2\n        secret: c2VjcmV0IGlzIHNlY3VyZQ==\n"
    )
}

#[test]
fn missing_kind_echo_redacts_multi_line_secrets() {
    for (case, value) in multi_line_secret_values() {
        let doc = keys_doc(&value);
        let err = decode(doc.as_bytes()).expect_err(case);
        assert!(matches!(err, DecodeError::MissingKind { .. }), "{case}: {err}");
        assert_no_key_material(&err, case);
        let text = err.to_string();
        // Only the values go: the structure around them is still echoed.
        assert!(text.contains("- name: key2\n        secret: REDACTED\n'"), "{case}: {text}");
        assert!(text.contains("- name: key1\n        secret: "), "{case}: {text}");
        // Same with a byte order mark (the parser's offsets are in the text without it).
        let with_bom = [&[0xef, 0xbb, 0xbf][..], doc.as_bytes()].concat();
        let err = decode(&with_bom).expect_err(case);
        assert_no_key_material(&err, &format!("{case} after a BOM"));
    }
}

#[test]
fn missing_kind_echo_redacts_secrets_in_later_documents() {
    // Only the first document is parsed: later ones rely on the text scan.
    for (case, value) in multi_line_secret_values() {
        let doc =
            format!("apiVersion: v1\n---\nkeys:\n- name: key1\n  secret: {value}\n- name: key2\n");
        let err = decode(doc.as_bytes()).expect_err(case);
        assert!(matches!(err, DecodeError::MissingKind { .. }), "{case}: {err}");
        assert_no_key_material(&err, case);
        assert!(err.to_string().contains("\n- name: key2\n"), "{case}: {err}");
    }
}

#[test]
fn missing_version_echo_redacts_aliased_and_duplicate_secrets() {
    let ind = "    ";
    let doc = format!(
        "kind: EncryptionConfiguration\nx-key: &k |-\n{ind}{KEY_HEAD}\n{ind}{KEY_TAIL}\nkeys:\n- name: a\n  secret: *k\n- name: b\n  secret: >-\n{ind}{KEY_TAIL}\n{ind}{KEY_HEAD}\n  secret: other\n"
    );
    let err = decode(doc.as_bytes()).expect_err("no apiVersion");
    assert!(matches!(err, DecodeError::MissingVersion { .. }), "{err}");
    assert_no_key_material(&err, "alias and duplicate");
}

#[test]
fn missing_kind_echo_redacts_json_secrets_with_escapes() {
    // Two characters written as `\u00XX` escapes: the text holds no key-looking token, only the
    // parsed value is the key. `Secret` matches the field case-insensitively, as in Go.
    let escape = |i: usize| format!("\\u{:04x}", KEY_B64.as_bytes()[i]);
    let pieces = [&KEY_B64[..14], &KEY_B64[15..29], &KEY_B64[30..]];
    let value = format!("{}{}{}{}{}", pieces[0], escape(14), pieces[1], escape(29), pieces[2]);
    let doc =
        format!("{{\"apiVersion\":\"v1\",\"keys\":[{{\"name\":\"a\",\"Secret\":\"{value}\"}}]}}");
    let err = decode(doc.as_bytes()).expect_err("no kind");
    assert!(matches!(err, DecodeError::MissingKind { .. }), "{err}");
    assert_no_key_material(&err, "json escape");
    for piece in pieces {
        assert!(!err.to_string().contains(piece), "{piece} in {err}");
    }
    assert!(err.to_string().contains("\"Secret\":\"REDACTED\""), "{err}");
}

#[test]
fn other_errors_never_print_multi_line_secrets() {
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
    // A tag mismatch prints the scalar.
    let doc = format!("{head}resources: !!int |-\n  {KEY_HEAD}\n  {KEY_TAIL}\n");
    let err = decode(doc.as_bytes()).expect_err("tag mismatch");
    assert!(matches!(err, DecodeError::Yaml { .. }), "{err}");
    assert_no_key_material(&err, "tag mismatch");
    // An invalid map key prints the key map with `%#v`, folded and quoted values included.
    for value in [format!("\"{KEY_HEAD}\n    {KEY_TAIL}\""), KEY_B64.to_owned()] {
        let doc = format!("{head}keys:\n- ? {{name: a, secret: {value}}}\n  : oops\n");
        let err = decode(doc.as_bytes()).expect_err("invalid map key");
        assert!(err.to_string().contains("invalid map key"), "{err}");
        assert_no_key_material(&err, "invalid map key");
    }
    let doc = format!("{head}keys:\n- ? [{KEY_HEAD}\n    {KEY_TAIL}]\n  : oops\n");
    let err = decode(doc.as_bytes()).expect_err("invalid map key");
    assert_no_key_material(&err, "invalid map key, folded flow scalar");
    // Strict errors print field names: key material pasted as a key.
    let doc = format!("{head}resources:\n- resources: [secrets]\n  {KEY_B64}: x\n");
    let err = decode(doc.as_bytes()).expect_err("unknown field");
    assert!(matches!(err, DecodeError::Strict { .. }), "{err}");
    assert_no_key_material(&err, "unknown field");
    let doc = format!("{head}{KEY_B64}: 1\n{KEY_B64}: 2\n");
    let err = decode(doc.as_bytes()).expect_err("duplicate key");
    assert!(matches!(err, DecodeError::Strict { .. }), "{err}");
    assert_no_key_material(&err, "duplicate key");
    // A type error names the JSON kind, never the value.
    let doc = format!(
        "{head}resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: a\n        secret: [{KEY_B64}]\n"
    );
    let err = decode(doc.as_bytes()).expect_err("type error");
    assert!(matches!(err, DecodeError::TypeMismatch { .. }), "{err}");
    assert!(!err.to_string().contains(KEY_HEAD), "{err}");
}

/// Which YAML keys are the same key (Go interface equality: same type and value, `0.0 == -0.0`,
/// NaN equal to nothing), for go-yaml's strict duplicate check, and which collide once
/// sigs.k8s.io/yaml turns them into JSON strings (the later one wins), merge keys included.
#[test]
fn yaml_map_key_equality() {
    let cases = [
        "{1: a, 1.0: b, '1': c}",
        "{0.0: a, -0.0: b, 0: c}",
        "{.nan: a, .NaN: b}",
        "{true: a, yes: b, 'true': c, on: d}",
        "{~: a, null: b}",
        "{0x10: a, 16: b, 0o20: c, 16.0: d}",
        "{9223372036854775808: a, 0x8000000000000000: b}",
        "{b: 1, a: 2, b: 3, a: 4, c: 5}",
        "a: &m {x: 1, y: 2}\nb: {<<: *m, x: 3, x: 4}\n",
        "a: &m {x: 1}\nn: &n {x: 2, z: 0}\nb: {<<: [*m, *n], z: 1}\n",
        "a: &m {x: 1}\nb: {x: 0, <<: *m, <<: *m}\n",
    ];
    let mut out = String::new();
    for yaml in cases {
        let got = match yaml_to_json(yaml.as_bytes(), &Budget::default()) {
            Ok(r) => match r.strict_error {
                Some(e) => format!("{} / {e}", r.json),
                None => r.json,
            },
            Err(e) => format!("error: {e}"),
        };
        out.push_str(&format!("{yaml:?}\n  {}\n", got.replace('\n', "\n  ")));
    }
    insta::assert_snapshot!(out);
}

/// A value that does not look like key material (too short, not base64): only its place can
/// tell that it is one.
const PLAIN_KEY: &str = "hunter2hunter2";

/// Checks that `doc` fails, that the error text does not hold `needle`, that the error says the
/// real apiserver prints key material there, and that `secret_literals` (what the scenario
/// engine scrubs the real apiserver's output with) holds it.
fn check_redacted_by_position(case: &str, doc: &str, needle: &str) {
    let err = decode(doc.as_bytes()).expect_err(case);
    let text = err.to_string();
    assert!(!text.contains(needle), "{case}: {needle} printed in {text}");
    assert!(text.contains("REDACTED"), "{case}: {text}");
    assert!(err.upstream_prints_key_material(), "{case}: flag not set for {text}");
    let literals = secret_literals(doc.as_bytes());
    assert!(literals.iter().any(|l| l.contains(needle)), "{case}: {literals:?}");
}

/// Whatever sits under a `secret` field, or in a key list, is redacted by its place: any tag,
/// any style, any document, a document without `kind`, misspelled field names.
#[test]
fn missing_kind_echo_redacts_by_position() {
    let k = PLAIN_KEY;
    let entry = |line: &str| {
        format!(
            "apiVersion: v1\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        {line}\n"
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("plain", entry(&format!("secret: {k}"))),
        ("single-quoted", entry(&format!("secret: '{k}'"))),
        ("double-quoted", entry(&format!("secret: \"{k}\""))),
        ("!!int", entry(&format!("secret: !!int {k}"))),
        ("!!float", entry(&format!("secret: !!float {k}"))),
        ("!!binary", entry("secret: !!binary aHVudGVyMmh1bnRlcjI=")),
        ("custom tag", entry(&format!("secret: !mine {k}"))),
        ("digits", entry("secret: 123456789012345678").replace("123456789012345678", k)),
        ("literal block", entry(&format!("secret: |\n          {k}"))),
        ("misspelled secert", entry(&format!("secert: {k}"))),
        ("misspelled scret", entry(&format!("scret: \"{k}\""))),
        ("capitalized", entry(&format!("Secret: {k}"))),
        ("unknown field in a key", entry(&format!("value: {k}"))),
        (
            "secret first in the entry",
            format!("apiVersion: v1\nkeys:\n- secret: {k}\n  name: key1\n"),
        ),
        ("flow", format!("apiVersion: v1\nkeys: [{{name: key1, secret: {k}}}]\n")),
        ("flow, misspelled", format!("apiVersion: v1\nkeys: [{{name: key1, secert: {k}}}]\n")),
        ("flow secret map", format!("apiVersion: v1\naescbc: {{secret: {k}}}\n")),
        ("a key list item that is a scalar", format!("apiVersion: v1\nkeys: [{k}]\n")),
        ("secret as a map", format!("apiVersion: v1\nsecret: {{{k}: x}}\n")),
        ("alias", format!("apiVersion: v1\nx: &a {k}\nkeys: [{{name: a, secret: *a}}]\n")),
        ("later document", format!("apiVersion: v1\n---\nkeys:\n- name: key1\n  secert: {k}\n")),
        (
            "later document that does not parse",
            format!("apiVersion: v1\n---\nkeys:\n- name: key1\n  secert: {k}\n  ]\n"),
        ),
        ("bare CR line ends", entry(&format!("secret:\n          {k}")).replace('\n', "\r")),
        ("CRLF line ends", entry(&format!("secert: {k}")).replace('\n', "\r\n")),
        (
            "JSON",
            format!("{{\"apiVersion\":\"v1\",\"keys\":[{{\"name\":\"a\",\"secert\":\"{k}\"}}]}}"),
        ),
        (
            "JSON number",
            "{\"apiVersion\":\"v1\",\"keys\":[{\"name\":\"a\",\"secret\":4242424242424242}]}"
                .to_owned(),
        ),
    ];
    for (case, doc) in cases {
        let needle = match case {
            "JSON number" => "4242424242424242",
            "!!binary" => "aHVudGVyMmh1bnRlcjI=",
            _ => k,
        };
        let err = decode(doc.as_bytes()).expect_err(case);
        // A tag that does not fit fails before the kind is looked at, printing the value.
        assert!(
            matches!(err, DecodeError::MissingKind { .. } | DecodeError::Yaml { .. }),
            "{case}: not an echo: {err}"
        );
        check_redacted_by_position(case, &doc, needle);
    }
}

/// A tag mismatch prints the scalar: under a `secret` field (or a misspelling of it, next to
/// `name:`) that is key material whatever it looks like.
#[test]
fn tag_mismatch_redacts_by_position() {
    let k = PLAIN_KEY;
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n";
    for (case, line) in [
        ("!!int", format!("secret: !!int {k}")),
        ("!!float", format!("secret: !!float {k}")),
        ("!!bool", format!("secret: !!bool {k}")),
        ("!!int quoted", format!("secret: !!int \"{k}\"")),
        ("!!int, misspelled field", format!("secert: !!int {k}")),
        ("!!null", format!("secret: !!null {k}")),
    ] {
        let doc = format!("{head}        {line}\n");
        let err = decode(doc.as_bytes()).expect_err(case);
        assert!(matches!(err, DecodeError::Yaml { .. }), "{case}: {err}");
        assert!(err.to_string().contains("cannot decode"), "{case}: {err}");
        check_redacted_by_position(case, &doc, k);
    }
    // Elsewhere the value is printed, as upstream does.
    let doc = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: !!int abc\n";
    let err = decode(doc.as_bytes()).expect_err("tag mismatch");
    assert_eq!(err.to_string(), "yaml: cannot decode !!str `abc` as a !!int");
    assert!(!err.upstream_prints_key_material());
}

/// Values of `name` and everything outside key lists stay, so the echo still shows the file.
#[test]
fn position_rule_keeps_names_and_structure() {
    let doc = "apiVersion: v1\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n      - name: key1\n        secret: hunter2hunter2\n  - kms: {name: plugin, endpoint: unix:///tmp/kms.sock}\n";
    let err = decode(doc.as_bytes()).expect_err("no kind");
    assert_eq!(
        err.to_string(),
        format!("Object 'Kind' is missing in '{}'", doc.replace("hunter2hunter2", "REDACTED"))
    );
    assert_eq!(secret_literals(doc.as_bytes()), ["hunter2hunter2"]);
}
