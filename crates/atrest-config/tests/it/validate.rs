//! Aggregate formatting and the API of `validate` (rule texts are covered by `data`).

use atrest_config::validate::{ErrorType, FieldError, FieldErrors, FieldValue, validate};
use atrest_config::{
    EncryptionConfiguration, KmsConfiguration, ProviderConfiguration, ResourceConfiguration,
    TypeMeta,
};

fn err(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        error_type: ErrorType::Invalid,
        value: Some(FieldValue::Str("x".to_owned())),
        detail: detail.to_owned(),
        upstream_prints_key_material: false,
    }
}

#[test]
fn one_error_prints_bare_several_bracketed_duplicates_dropped() {
    // apimachinery: ToAggregate drops repeated messages; one error prints without brackets.
    let one = FieldErrors::from_list(vec![err("a", "d"), err("a", "d")]).expect("non-empty");
    assert_eq!(one.to_string(), "a: Invalid value: \"x\": d");
    let two =
        FieldErrors::from_list(vec![err("a", "d"), err("b", "d"), err("a", "d")]).expect("two");
    assert_eq!(two.errors().len(), 2);
    assert_eq!(two.to_string(), "[a: Invalid value: \"x\": d, b: Invalid value: \"x\": d]");
    assert_eq!(FieldErrors::from_list(Vec::new()), None);
}

#[test]
fn required_omits_the_value() {
    let e = FieldError {
        field: "resources".to_owned(),
        error_type: ErrorType::Required,
        value: Some(FieldValue::Int(3)),
        detail: "at least one resources is required".to_owned(),
        upstream_prints_key_material: false,
    };
    assert_eq!(e.to_string(), "resources: Required value: at least one resources is required");
}

#[test]
fn validate_without_defaults_reports_timeout_and_cachesize() {
    // A hand-built, undefaulted KMS v1 config: validation treats the missing timeout as zero.
    let cfg = EncryptionConfiguration {
        type_meta: TypeMeta::V1,
        resources: vec![ResourceConfiguration {
            resources: vec!["secrets".to_owned()],
            providers: vec![ProviderConfiguration {
                kms: Some(KmsConfiguration {
                    api_version: "v1".to_owned(),
                    name: "k".to_owned(),
                    endpoint: "unix:///k.sock".to_owned(),
                    ..KmsConfiguration::default()
                }),
                ..ProviderConfiguration::default()
            }],
        }],
    };
    let errs = validate(&cfg, false).expect_err("invalid");
    let fields: Vec<&str> = errs.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["resources[0].providers[0].kms.timeout", "resources[0].providers[0].kms.cachesize"]
    );
    assert_eq!(
        errs.errors()[0].to_string(),
        "resources[0].providers[0].kms.timeout: Invalid value: null: timeout should be a positive value"
    );
}
