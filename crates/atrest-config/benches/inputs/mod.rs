//! Generated `EncryptionConfiguration` files of any size, shared by the `decode` bench and the
//! large-input tests (`tests/it/large.rs` includes this file), so the bench measures inputs the
//! tests check.

/// Input syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Block YAML, one rule or key per few lines.
    Yaml,
    /// JSON, one rule or key per line.
    Json,
}

/// 32 bytes of key material (base64), a fixed bench key.
const SECRET: &str = "c2VjcmV0IGlzIHNlY3VyZSBzZWNyZXQgaXMgc2VjdXI=";

/// The largest [`rules`] count the default decoding budget accepts (200k nodes: nine YAML nodes
/// per rule, six JSON values).
pub(crate) const MAX_RULES: [(Format, usize); 2] = [(Format::Yaml, 22_221), (Format::Json, 33_332)];

/// The largest [`keys`] count the default budget accepts (YAML: 200k nodes, five per key; JSON:
/// 4 MiB, as its three values per key take 80 bytes).
pub(crate) const MAX_KEYS: [(Format, usize); 2] = [(Format::Yaml, 39_996), (Format::Json, 52_565)];

/// The largest [`one_rule`] count the default budget accepts (4 MiB).
pub(crate) const MAX_ONE_RULE: [(Format, usize); 2] =
    [(Format::Yaml, 143_509), (Format::Json, 148_457)];

/// The largest [`duplicate_keys`] count the default budget accepts (200k nodes: two YAML nodes
/// per key, one JSON value).
pub(crate) const MAX_DUPLICATES: [(Format, usize); 2] =
    [(Format::Yaml, 99_991), (Format::Json, 199_990)];

/// The default budget's 4 MiB: [`padded_keys`] makes a valid file just under it.
pub(crate) const MAX_BYTES: usize = 4 << 20;

/// Looks a format up in one of the `MAX_*` tables.
pub(crate) fn max_for(table: [(Format, usize); 2], format: Format) -> usize {
    table.iter().find(|(f, _)| *f == format).map_or(0, |(_, n)| *n)
}

/// `n` resource rules (`widgets<i>.example.com`, identity provider): a valid configuration.
pub(crate) fn rules(n: usize, format: Format) -> Vec<u8> {
    let mut out = String::with_capacity(64 + n * 80);
    match format {
        Format::Yaml => {
            out.push_str(YAML_HEAD);
            out.push_str("resources:\n");
            for i in 0..n {
                out.push_str(&format!(
                    "- resources:\n  - widgets{i}.example.com\n  providers:\n  - identity: {{}}\n"
                ));
            }
        }
        Format::Json => {
            out.push_str(JSON_HEAD);
            out.push_str("\"resources\": [\n");
            for i in 0..n {
                let sep = if i + 1 < n { "," } else { "" };
                out.push_str(&format!(
                    "{{\"resources\": [\"widgets{i}.example.com\"], \"providers\": [{{\"identity\": {{}}}}]}}{sep}\n"
                ));
            }
            out.push_str("]}\n");
        }
    }
    out.into_bytes()
}

/// One resource rule listing `n` resources (`widgets<i>.example.com`): a valid configuration
/// (validation compares the resources of a rule with each other).
pub(crate) fn one_rule(n: usize, format: Format) -> Vec<u8> {
    let mut out = String::with_capacity(128 + n * 32);
    match format {
        Format::Yaml => {
            out.push_str(YAML_HEAD);
            out.push_str("resources:\n- providers: [{identity: {}}]\n  resources:\n");
            for i in 0..n {
                out.push_str(&format!("  - widgets{i}.example.com\n"));
            }
        }
        Format::Json => {
            out.push_str(JSON_HEAD);
            out.push_str(
                "\"resources\": [{\"providers\": [{\"identity\": {}}], \"resources\": [\n",
            );
            for i in 0..n {
                let sep = if i + 1 < n { "," } else { "" };
                out.push_str(&format!("\"widgets{i}.example.com\"{sep}\n"));
            }
            out.push_str("]}]}\n");
        }
    }
    out.into_bytes()
}

/// One `aescbc` provider for `secrets` with `n` keys (`key<i>`): a valid configuration.
pub(crate) fn keys(n: usize, format: Format) -> Vec<u8> {
    keys_named(n, format, |i| format!("key{i}"))
}

/// Like [`keys`], with names padded so that the file is as close to [`MAX_BYTES`] as whole keys
/// allow (about 30k keys: within the node budget too).
pub(crate) fn padded_keys(format: Format) -> Vec<u8> {
    let name = |i: usize| format!("key-{i:06}-{}", "x".repeat(80));
    let one = keys_named(1, format, name).len();
    let two = keys_named(2, format, name).len();
    let per_key = two - one;
    // JSON writes no separator after the last key, so the real total is a byte shorter.
    let n = (MAX_BYTES - (one - per_key)) / per_key;
    keys_named(n, format, name)
}

fn keys_named(n: usize, format: Format, name: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = String::with_capacity(256 + n * 90);
    match format {
        Format::Yaml => {
            out.push_str(YAML_HEAD);
            out.push_str(
                "resources:\n- resources:\n  - secrets\n  providers:\n  - aescbc:\n      keys:\n",
            );
            for i in 0..n {
                out.push_str(&format!("      - name: {}\n        secret: {SECRET}\n", name(i)));
            }
        }
        Format::Json => {
            out.push_str(JSON_HEAD);
            out.push_str(
                "\"resources\": [{\"resources\": [\"secrets\"], \"providers\": [{\"aescbc\": {\"keys\": [\n",
            );
            for i in 0..n {
                let sep = if i + 1 < n { "," } else { "" };
                out.push_str(&format!(
                    "{{\"name\": \"{}\", \"secret\": \"{SECRET}\"}}{sep}\n",
                    name(i)
                ));
            }
            out.push_str("]}}]}]}\n");
        }
    }
    out.into_bytes()
}

/// A valid configuration followed by `n` top-level `x: 1` members: with `n > 1`, upstream's
/// duplicate-key error (YAML) or its unknown-field error (JSON, which reports a repeated unknown
/// field once).
pub(crate) fn duplicate_keys(n: usize, format: Format) -> Vec<u8> {
    let mut out = String::with_capacity(256 + n * 8);
    match format {
        Format::Yaml => {
            out.push_str(YAML_HEAD);
            out.push_str("resources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n");
            for _ in 0..n {
                out.push_str("x: 1\n");
            }
        }
        Format::Json => {
            out.push_str(JSON_HEAD);
            out.push_str("\"resources\": [{\"resources\": [\"secrets\"], \"providers\": [{\"identity\": {}}]}]");
            for _ in 0..n {
                out.push_str(",\n\"x\": 1");
            }
            out.push_str("}\n");
        }
    }
    out.into_bytes()
}

const YAML_HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
const JSON_HEAD: &str =
    "{\"apiVersion\": \"apiserver.config.k8s.io/v1\", \"kind\": \"EncryptionConfiguration\",\n";
