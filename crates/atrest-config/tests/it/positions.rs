//! Source positions and source ranges on input that is not plain ASCII.
//!
//! Columns count characters, not bytes, in both input formats. Byte ranges (used to redact
//! secrets from echoed source and to read alias names) must land on the right characters even
//! after multi-byte UTF-8 on the same line, after a UTF-8 or UTF-16 byte order mark, and with
//! `\r\n` or lone `\r` line breaks. The snapshot pins every span and error position of a set of
//! such inputs; the assertions spell out the rules it follows.

use atrest_config::decode::{DecodeError, Position, decode};

const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

/// Every span of a decoded document, or the error text and its position.
fn describe(bytes: &[u8]) -> String {
    match decode(bytes) {
        Ok(d) => d
            .spans
            .iter()
            .map(|(path, span)| match span.key {
                Some(key) => format!("{path}: key {key} value {}\n", span.value),
                None => format!("{path}: value {}\n", span.value),
            })
            .collect(),
        Err(e) => {
            let at = e.position().map_or_else(|| "-".to_owned(), |p| p.to_string());
            format!("error at {at}: {e}\n")
        }
    }
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

/// Inputs whose spans and errors the snapshot pins: (name, bytes).
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let s = |t: &str| t.as_bytes().to_vec();
    let utf16le = |t: &str| {
        let mut out = vec![0xff, 0xfe];
        out.extend(t.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    let flow_doc = format!(
        "{HEAD}resources:\n- {{resources: [\"é€😀\", \"ñ\", secrets], providers: [{{aescbc: {{keys: [{{name: \"ключ\", secret: c2VjcmV0IGlzIHNlY3VyZQ==}}]}}}}]}}\n"
    );
    vec![
        ("yaml flow after multi-byte", s(&flow_doc)),
        (
            "yaml block with multi-byte keys and comments",
            s(&format!(
                "{HEAD}# Überschrift — 说明\nresources:\n- resources: [\"ä\"] # ü\n  providers:\n  - aescbc:\n      keys:\n      - {{name: \"名前\", secret: c2VjcmV0IGlzIHNlY3VyZQ==}}\n"
            )),
        ),
        ("yaml flow after a BOM", [&[0xef, 0xbb, 0xbf][..], flow_doc.as_bytes()].concat()),
        ("yaml flow in UTF-16", utf16le(&flow_doc)),
        ("yaml flow with CRLF", s(&flow_doc.replace('\n', "\r\n"))),
        ("yaml flow with CR", s(&flow_doc.replace('\n', "\r"))),
        ("yaml alias after multi-byte", s(&format!("{HEAD}x: [\"€€\", &größe [\"ö\", *größe]]\n"))),
        ("yaml unknown anchor after multi-byte", s(&format!("{HEAD}x: [\"€€\", *größe]\n"))),
        (
            "yaml tab after multi-byte",
            s(&format!("{HEAD}resources:\n- resources: [\"é\"]\n  \tproviders: []\n")),
        ),
        (
            "yaml duplicate keys after multi-byte",
            s(&format!("{HEAD}x: {{\"ü\": 1, \"ü\": 2}}\n\"ü\": 1\n\"ü\": 2\n")),
        ),
        (
            "yaml unknown field after multi-byte",
            s(&format!("{HEAD}resources:\n- {{résources: [\"é€\"], providers: []}}\n")),
        ),
        (
            "yaml type error after multi-byte",
            s(&format!("{HEAD}resources: [{{resources: \"€😀\", providers: []}}]\n")),
        ),
        (
            "json after multi-byte",
            s(
                "{\"apiVersion\": \"apiserver.config.k8s.io/v1\", \"kind\": \"EncryptionConfiguration\", \"resources\": [{\"resources\": [\"é€😀\", \"ñ\"], \"providers\": [{\"aescbc\": {\"keys\": [{\"name\": \"ключ\", \"secret\": \"c2VjcmV0IGlzIHNlY3VyZQ==\"}]}}]}]}\n",
            ),
        ),
        (
            "json syntax error after multi-byte",
            s("{\"apiVersion\": \"é€😀\",\n \"ключ\": \"名前\" ]\n"),
        ),
        (
            "json syntax error after invalid UTF-8",
            [&b"{\"a\": \"\xff\xfe\x80\x80\xc3\", "[..], b"\"b\": x}"].concat(),
        ),
        (
            "json type error after multi-byte",
            s(
                "{\"apiVersion\": \"apiserver.config.k8s.io/v1\", \"kind\": \"EncryptionConfiguration\",\n \"é\": 0, \"resources\": [{\"resources\": \"€😀\"}]}",
            ),
        ),
    ]
}

#[test]
fn positions_on_multi_byte_input() {
    let mut out = String::new();
    for (name, bytes) in cases() {
        out.push_str(&format!("## {name}\n{}", describe(&bytes)));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn columns_count_characters() {
    let d = decode(cases()[0].1.as_slice()).expect("valid");
    // `- {resources: ["é€😀", "ñ", secrets], …`: `"ñ"` starts at the 23rd character on its line.
    assert_eq!(d.spans.get("resources[0].resources[1]"), at(4, 23));
    assert_eq!(d.spans.get("resources[0].resources[2]"), at(4, 28));
    let json = cases().into_iter().find(|(n, _)| *n == "json after multi-byte").expect("case").1;
    let d = decode(&json).expect("valid");
    assert_eq!(d.spans.get("resources[0].resources[1]"), at(1, 117));
    let err = decode(b"{\"a\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\" ]").expect_err("syntax");
    assert!(matches!(err, DecodeError::MetaInterpret { .. }), "{err}");
    // Go reports the offset of the `]`, the 13th character (the 20th byte).
    assert_eq!(err.position(), at(1, 13));
}

/// A secret only the parser finds (its key is written with an escape, so the text scan misses
/// it, and the value does not look like base64) is redacted exactly, whatever precedes it (the
/// `x` after the key list is not key material and stays).
#[test]
fn echoed_source_redacts_parsed_ranges_after_multi_byte() {
    let doc = "apiVersion: v1\nspec: {keys: [{name: \"ключ—名前😀\", \"secr\\u0065t\": \"pässwörd ünd mehr\"}], x: \"ü\"}\n";
    let err = decode(doc.as_bytes()).expect_err("no kind");
    assert!(matches!(err, DecodeError::MissingKind { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Object 'Kind' is missing in 'apiVersion: v1\nspec: {keys: [{name: \"ключ—名前😀\", \"secr\\u0065t\": \"REDACTED\"}], x: \"ü\"}\n'"
    );
    for (case, bytes) in [
        ("BOM", [&[0xef, 0xbb, 0xbf][..], doc.as_bytes()].concat()),
        ("CRLF", doc.replace('\n', "\r\n").into_bytes()),
    ] {
        let text = decode(&bytes).expect_err(case).to_string();
        assert!(!text.contains("pässwörd"), "{case}: {text}");
        assert!(text.contains("\"secr\\u0065t\": \"REDACTED\"}], x: \"ü\"}"), "{case}: {text}");
    }
}
