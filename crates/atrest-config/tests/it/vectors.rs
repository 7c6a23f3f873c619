//! Go standard-library behaviour the crate reproduces, against Go's own answers
//! (`tests/data/vectors/*.json`, written by `config-oracle vectors`).

use std::fs;

use atrest_config::goquote::{go_json_float, go_json_string, go_quote_bytes};
use atrest_config::gourl::parse_scheme;
use atrest_config::{GoDuration, decode_std_base64};
use serde_json::Value;

use crate::data_dir;

/// (input bytes, output, error) triples from a vector file.
fn vectors(name: &str) -> Vec<(Vec<u8>, String, String)> {
    let path = data_dir().join("vectors").join(format!("{name}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("vector JSON");
    let items = json.as_array().expect("array");
    assert!(!items.is_empty(), "{name}: no vectors");
    items
        .iter()
        .map(|v| {
            let input = hex::decode(v["input_hex"].as_str().expect("input_hex")).expect("hex");
            let output = v["output"].as_str().unwrap_or_default().to_owned();
            let error = v["error"].as_str().unwrap_or_default().to_owned();
            (input, output, error)
        })
        .collect()
}

fn text(input: &[u8]) -> String {
    String::from_utf8(input.to_vec()).expect("UTF-8 input")
}

#[test]
fn go_quote_matches_strconv_quote() {
    for (input, output, _) in vectors("quote") {
        assert_eq!(go_quote_bytes(&input), output, "input {input:?}");
    }
}

#[test]
fn go_json_string_matches_encoding_json() {
    for (input, output, _) in vectors("json_string") {
        let got = match String::from_utf8(input.clone()) {
            Ok(s) => go_json_string(&s),
            // Invalid UTF-8 only reaches the encoder through the byte path.
            Err(_) => continue,
        };
        assert_eq!(got, output, "input {input:?}");
    }
}

#[test]
fn go_json_float_matches_encoding_json() {
    for (input, output, _) in vectors("json_float") {
        let f: f64 = text(&input).parse().expect("float");
        assert_eq!(go_json_float(f).as_deref(), Some(output.as_str()), "input {f}");
    }
}

#[test]
fn duration_parse_matches_time_parse_duration() {
    for (input, output, error) in vectors("duration_parse") {
        let s = text(&input);
        match GoDuration::parse(&s) {
            Ok(d) => {
                assert!(error.is_empty(), "{s:?}: parsed, Go says {error}");
                assert_eq!(d.nanos.to_string(), output, "{s:?}");
            }
            Err(e) => assert_eq!(e.to_string(), error, "{s:?}"),
        }
    }
}

#[test]
fn duration_format_matches_duration_string() {
    for (input, output, _) in vectors("duration_format") {
        let nanos: i64 = text(&input).parse().expect("nanos");
        assert_eq!(GoDuration { nanos }.to_string(), output, "{nanos}");
    }
}

#[test]
fn base64_matches_std_encoding_including_error_offsets() {
    for (input, output, error) in vectors("base64") {
        let s = text(&input);
        match decode_std_base64(&s) {
            Ok(bytes) => {
                assert!(error.is_empty(), "{s:?}: decoded, Go says {error}");
                assert_eq!(hex::encode(bytes), output, "{s:?}");
            }
            Err(e) => assert_eq!(e.to_string(), error, "{s:?}"),
        }
    }
}

#[test]
fn url_parse_matches_net_url() {
    for (input, output, error) in vectors("url") {
        let s = text(&input);
        match parse_scheme(&s) {
            Ok(scheme) => {
                assert!(error.is_empty(), "{s:?}: parsed, Go says {error}");
                assert_eq!(scheme, output, "{s:?}");
            }
            Err(e) => assert_eq!(e.to_string(), error, "{s:?}"),
        }
    }
}

#[test]
fn yaml_to_json_matches_sigs_k8s_io_yaml() {
    use atrest_config::decode::{Budget, yaml_to_json};
    for (input, output, error) in vectors("yaml_to_json") {
        let s = text(&input);
        match yaml_to_json(&input, &Budget::default()) {
            Ok(out) => {
                assert_eq!(out.json, output, "{s:?}");
                let strict = out.strict_error.map(|e| format!("strict: {e}")).unwrap_or_default();
                assert_eq!(strict, error, "{s:?}");
            }
            Err(e) => {
                assert!(output.is_empty(), "{s:?}: failed ({e}), Go says {output}");
                assert_eq!(e.to_string(), error, "{s:?}");
            }
        }
    }
}
