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

/// The directory of the Go oracle programs (xtask/go/oracle, upstream k8s.io/apiserver v0.37.2
/// code): `ATREST_ORACLE_DIR` (set by `cargo xtask test`), else the build `cargo xtask oracle`
/// made last (`<cache>/oracle-current` names it; the cache is `ATREST_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/atrest`, else `~/.cache/atrest`, the rule of xtask's `oracle::cache_dir`).
///
/// Panics with instructions when `program` is not there: a test that needs the oracle fails
/// loudly rather than passing without checking anything.
pub fn oracle_program(program: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    let dir = match std::env::var_os("ATREST_ORACLE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = if let Some(dir) = std::env::var_os("ATREST_CACHE_DIR") {
                PathBuf::from(dir)
            } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
                PathBuf::from(dir).join("atrest")
            } else {
                let home =
                    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
                home.join(".cache").join("atrest")
            };
            let current = std::fs::read_to_string(cache.join("oracle-current")).unwrap_or_default();
            cache.join(current.trim())
        }
    };
    let path = dir.join(program);
    assert!(
        path.is_file(),
        "the Go oracle program {program} is not at {}: run `cargo xtask oracle` (needs Go; it \
         builds upstream k8s.io/apiserver v0.37.2 code into the atrest cache and records it), \
         or point ATREST_ORACLE_DIR at a directory holding {program}",
        path.display()
    );
    path
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
