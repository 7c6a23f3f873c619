//! Generated inputs at the decoding budget's edges (the `decode` bench's inputs): the `MAX_*`
//! counts are the largest the default budget accepts, the 4 MiB file loads, and larger inputs
//! fail with the budget error. Each decodes megabytes, so these are the slowest tests in debug
//! builds; they would time out if decoding were quadratic again.

use atrest_config::decode::{Budget, DecodeError, StrictError, decode};
use atrest_config::load::{LoadError, LoadOptions, load};

#[path = "../../benches/inputs/mod.rs"]
mod inputs;

use inputs::{Format, MAX_DUPLICATES, MAX_KEYS, MAX_ONE_RULE, MAX_RULES, max_for};

const FORMATS: [Format; 2] = [Format::Yaml, Format::Json];

fn over_budget(bytes: &[u8]) -> bool {
    matches!(decode(bytes), Err(DecodeError::Budget { .. }))
}

type Table = [(Format, usize); 2];

/// The table's counts load (with the duplicate-key error for `duplicate_keys`), and one more
/// is over budget. One test per table, so that the test runner spreads them over cores.
fn check_max(what: &str, table: Table, make: fn(usize, Format) -> Vec<u8>) {
    for format in FORMATS {
        let max = max_for(table, format);
        let loaded = load("gen", Ok(make(max, format)), &LoadOptions::default());
        match loaded {
            Ok(_) => assert_ne!(what, "duplicate keys"),
            Err(LoadError::Decode { source, .. }) if what == "duplicate keys" => {
                assert!(matches!(*source, DecodeError::Strict { .. }), "{format:?}: {source}");
            }
            Err(e) => panic!("{what} {format:?}: {max} does not load: {e}"),
        }
        assert!(over_budget(&make(max + 1, format)), "{what} {format:?}: {max} + 1 fits");
    }
}

#[test]
fn max_rules_is_the_largest_within_budget() {
    check_max("rules", MAX_RULES, inputs::rules);
}

#[test]
fn max_one_rule_is_the_largest_within_budget() {
    check_max("resources in one rule", MAX_ONE_RULE, inputs::one_rule);
}

#[test]
fn max_keys_is_the_largest_within_budget() {
    check_max("keys", MAX_KEYS, inputs::keys);
}

#[test]
fn max_duplicates_is_the_largest_within_budget() {
    check_max("duplicate keys", MAX_DUPLICATES, inputs::duplicate_keys);
}

#[test]
fn a_4_mib_config_loads() {
    for format in FORMATS {
        let largest = inputs::padded_keys(format);
        let max_bytes = Budget::default().max_bytes;
        assert!(largest.len() <= max_bytes && largest.len() > max_bytes - 200, "{format:?}");
        let loaded = load("gen", Ok(largest), &LoadOptions::default()).expect("4 MiB loads");
        assert!(loaded.config.resources[0].providers[0].aescbc.is_some());
    }
}

#[test]
fn oversized_inputs_fail_on_the_budget() {
    for format in FORMATS {
        for bytes in [
            inputs::rules(100_000, format),
            inputs::one_rule(200_000, format),
            inputs::keys(100_000, format),
            inputs::duplicate_keys(200_000, format),
        ] {
            assert!(over_budget(&bytes), "{format:?}");
        }
    }
}

#[test]
fn many_duplicate_keys_are_reported() {
    let n = max_for(MAX_DUPLICATES, Format::Yaml);
    let err = decode(&inputs::duplicate_keys(n, Format::Yaml)).expect_err("duplicates");
    let DecodeError::Strict { errors, .. } = &err else { panic!("{err}") };
    // go-yaml reports every repeat; the JSON decoder then rejects the field.
    assert!(matches!(&errors[0], StrictError::YamlDuplicateKeys { lines } if lines.len() == n - 1));
    assert_eq!(errors[1], StrictError::UnknownField { path: "x".to_owned() });
    assert_eq!(errors.len(), 2);
    let n = max_for(MAX_DUPLICATES, Format::Json);
    let err = decode(&inputs::duplicate_keys(n, Format::Json)).expect_err("duplicates");
    assert_eq!(err.to_string(), "strict decoding error: unknown field \"x\"");
}
