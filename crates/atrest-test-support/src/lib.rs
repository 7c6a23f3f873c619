//! Helpers shared by the test suites of several atrest crates.
//!
//! A dev-dependency only: nothing here ships in the `atrest` binary.
//! Admission rule: a helper moves here once a second crate's tests need it.

/// Every base64 `secret:` value written in a config file's text.
///
/// Upstream prints key material in some errors where atrest prints `REDACTED`; tests replace
/// each of these values in upstream's text before comparing it with ours.
pub fn secrets_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("secret:") {
            let after = rest[i + "secret:".len()..].trim_start();
            let value: String = after
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
                .collect();
            if !value.is_empty() {
                out.push(value);
            }
            rest = &rest[i + 1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::secrets_in;

    #[test]
    fn finds_plain_quoted_and_flow_secrets() {
        let text = "keys:\n- name: a\n  secret: c2VjcmV0IGlzIHNlY3VyZQ==\n\
                    - {name: b, secret: \"YWJj\"}\n- name: c\n  secret: 'ZGVm'\n- name: d\n";
        assert_eq!(secrets_in(text), ["c2VjcmV0IGlzIHNlY3VyZQ==", "YWJj", "ZGVm"]);
    }
}
