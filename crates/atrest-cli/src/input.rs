//! Reading the user's input files, bounded (`atrest-input`), and a raw etcd value in particular:
//! plain bytes, or `etcdctl get -w json` output.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use atrest_config::decode::MAX_CONFIG_BYTES;
use atrest_input::Limit;
use base64::Engine as _;
use clap::ValueEnum;

/// How `--in` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum InputFormat {
    /// `etcdctl get -w json` output when it looks like it, raw bytes otherwise.
    #[default]
    Auto,
    /// The exact value bytes.
    Raw,
    /// `etcdctl get KEY -w json` output (key and value base64 in `kvs[0]`).
    EtcdctlJson,
}

/// A value read from the user, with the etcd key when the input carried one.
pub(crate) struct RawInput {
    /// The value bytes.
    pub(crate) value: Vec<u8>,
    /// The key from `etcdctl -w json` output.
    pub(crate) key: Option<String>,
}

impl std::fmt::Debug for RawInput {
    /// The value may be a plaintext Secret (identity): print its size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawInput")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("key", &self.key)
            .finish()
    }
}

/// The limit of an `--in` value. etcd refuses requests over `--max-request-bytes` (1.5 MiB by
/// default; etcd's docs advise against raising it past 10 MiB), so no stored value is larger,
/// and `etcdctl -w json` adds a third for base64: 16 MiB holds a 10 MiB value in that form.
pub(crate) const VALUE_LIMIT: Limit = Limit { bytes: 16 << 20, what: "an etcd value" };

/// The limit of an `inspect --snapshot` file: etcd's largest recommended backend
/// (`--quota-backend-bytes`, 8 GiB) plus its appended hash. The file is held in memory.
pub(crate) const SNAPSHOT_LIMIT: Limit = Limit { bytes: (8 << 30) + 32, what: "an etcd snapshot" };

/// Reads an `EncryptionConfiguration` for `atrest_config::load::load`: at most one byte over the
/// decoder's budget, so a larger file gets the decoder's error; a device or a silent pipe is an
/// `io::Error` the loader prints as Go prints a read failure (`open <path>: <text>`).
pub(crate) fn read_config(path: &Path) -> std::io::Result<Vec<u8>> {
    atrest_input::read_at_most(path, MAX_CONFIG_BYTES as u64 + 1)
        .map_err(atrest_input::InputError::into_io_error)
}

/// Reads `path` (`-` or `None` for stdin), up to [`VALUE_LIMIT`].
pub(crate) fn read_bytes(path: Option<&Path>) -> Result<Vec<u8>> {
    Ok(match path {
        None => atrest_input::read_stdin_limited(VALUE_LIMIT)?,
        Some(p) if p.as_os_str() == "-" => atrest_input::read_stdin_limited(VALUE_LIMIT)?,
        Some(p) => atrest_input::read_limited(p, VALUE_LIMIT)?,
    })
}

/// Interprets the bytes per `format`.
pub(crate) fn parse(bytes: Vec<u8>, format: InputFormat) -> Result<RawInput> {
    match format {
        InputFormat::Raw => Ok(RawInput { value: bytes, key: None }),
        InputFormat::EtcdctlJson => {
            let doc: serde_json::Value =
                serde_json::from_slice(&bytes).context("parsing etcdctl JSON")?;
            if doc.get("header").is_none() {
                bail!("input is not `etcdctl get -w json` output");
            }
            from_etcdctl_json(&doc)
        }
        // etcdctl's output is recognized by its `header`; once recognized, what it says (no key,
        // several keys) is the answer, not a reason to read the JSON as a raw value.
        InputFormat::Auto => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(doc) if doc.get("header").is_some() => from_etcdctl_json(&doc),
            // Not JSON, or JSON that is no etcdctl output (a custom resource stored in
            // plaintext is JSON too): the value itself.
            _ => Ok(RawInput { value: bytes, key: None }),
        },
    }
}

/// `{"header":{…},"kvs":[{"key":"<b64>","value":"<b64>",…}],"count":1}`.
fn from_etcdctl_json(doc: &serde_json::Value) -> Result<RawInput> {
    // etcdctl omits `kvs` when nothing matched.
    let kvs = doc.get("kvs").and_then(|k| k.as_array()).map(Vec::as_slice).unwrap_or_default();
    let kv = match kvs {
        [kv] => kv,
        [] => bail!("etcdctl output holds no key (count 0): the key does not exist"),
        more => bail!("etcdctl output holds {} keys; pass one value at a time", more.len()),
    };
    let b64 = |field: &str| -> Result<Vec<u8>> {
        let text = kv
            .get(field)
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("etcdctl output: kvs[0].{field} is missing"))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .with_context(|| format!("etcdctl output: kvs[0].{field} is not base64"))
    };
    let key = String::from_utf8(b64("key")?).context("etcdctl output: the key is not UTF-8")?;
    Ok(RawInput { value: b64("value")?, key: Some(key) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcdctl_json_is_recognized() {
        let doc = r#"{"header":{"cluster_id":1,"member_id":2,"revision":7,"raft_term":2},
            "kvs":[{"key":"L3JlZ2lzdHJ5L3NlY3JldHMvZGVmYXVsdC9zMQ==","create_revision":5,
            "mod_revision":5,"version":1,"value":"azhzOmVuYzo="}],"count":1}"#;
        let input = parse(doc.as_bytes().to_vec(), InputFormat::Auto).unwrap();
        assert_eq!(input.key.as_deref(), Some("/registry/secrets/default/s1"));
        assert_eq!(input.value, b"k8s:enc:");
    }

    #[test]
    fn plaintext_custom_resource_json_stays_raw() {
        let doc = br#"{"apiVersion":"cr.bar.com/v1","kind":"Foo","metadata":{"name":"a"}}"#;
        let input = parse(doc.to_vec(), InputFormat::Auto).unwrap();
        assert_eq!(input.key, None);
        assert_eq!(input.value, doc);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let input = RawInput { value: b"k8s\0plaintext-password".to_vec(), key: None };
        let shown = format!("{input:?}");
        assert!(!shown.contains("password"), "{shown}");
        assert!(shown.contains("<22 bytes>"), "{shown}");
    }

    #[test]
    fn empty_etcdctl_result_is_explained() {
        let doc = r#"{"header":{"revision":7}}"#;
        for format in [InputFormat::EtcdctlJson, InputFormat::Auto] {
            let err = parse(doc.as_bytes().to_vec(), format).unwrap_err();
            assert!(err.to_string().contains("does not exist"), "{format:?}: {err}");
        }
        let two =
            r#"{"header":{},"kvs":[{"key":"YQ==","value":"YQ=="},{"key":"Yg==","value":"Yg=="}]}"#;
        let err = parse(two.as_bytes().to_vec(), InputFormat::Auto).unwrap_err();
        assert!(err.to_string().contains("holds 2 keys"), "{err}");
    }
}
