//! What a step expects: how a start ends, what the API answers, what etcd holds.

use super::*;

/// What a start or restart must end in, written `ready`, `notReady` or `{exit: TEXT}`. Without
/// `expect` the apiservers must become ready too, but a failure is a harness error (exit 2);
/// with `expect: ready` it is a check in the report (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartExpect {
    /// It becomes ready.
    Ready,
    /// It keeps running but is not ready: a watch cache that cannot list keeps /readyz failing (for ever when a Secret is unreadable, until --storage-initialization-timeout when only ConfigMaps are).
    NotReady,
    /// The process exits with exactly this `err`.
    Exit(String),
}

impl JsonSchema for StartExpect {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StartExpect".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "What a start or restart must end in.",
            "oneOf": [
                {"const": "ready", "description": "It becomes ready."},
                {"const": "notReady", "description": "It keeps running but is not ready: a watch cache that cannot list keeps /readyz failing (for ever when a Secret is unreadable, until --storage-initialization-timeout when only ConfigMaps are)."},
                {
                    "type": "object",
                    "properties": {"exit": {
                        "type": "string",
                        "description": "The process exits with exactly this `err`."
                    }},
                    "required": ["exit"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// How [`StartExpect`] is written, for messages.
const START_EXPECT_FORMS: &str = "`ready`, `notReady` or `{exit: TEXT}`";

// Written out so that `expect: {}` (once the spelling of "must become ready") and the old
// `{error: …}` and `{notReady: true}` are rejected with a message naming the forms.
impl<'de> Deserialize<'de> for StartExpect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StartExpect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{START_EXPECT_FORMS}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StartExpect, E> {
                match v {
                    "ready" => Ok(StartExpect::Ready),
                    "notReady" => Ok(StartExpect::NotReady),
                    _ => {
                        Err(E::custom(format!("expect: {v:?} is not one of {START_EXPECT_FORMS}")))
                    }
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<StartExpect, A::Error> {
                use serde::de::Error as _;
                let expect = match m.next_key::<String>()?.as_deref() {
                    Some("exit") => StartExpect::Exit(m.next_value()?),
                    Some("error") => {
                        return Err(A::Error::custom("expect: `error` is now `{exit: TEXT}`"));
                    }
                    Some("notReady") => {
                        return Err(A::Error::custom("expect: write `expect: notReady`"));
                    }
                    Some(other) => {
                        return Err(A::Error::custom(format!(
                            "expect: unknown field `{other}`: give {START_EXPECT_FORMS}"
                        )));
                    }
                    None => {
                        return Err(A::Error::custom(format!(
                            "expect: {{}} says nothing: give {START_EXPECT_FORMS}"
                        )));
                    }
                };
                if let Some(other) = m.next_key::<String>()? {
                    return Err(A::Error::custom(format!(
                        "expect: `{other}` beside `exit`: give {START_EXPECT_FORMS}"
                    )));
                }
                Ok(expect)
            }
        }
        d.deserialize_any(V)
    }
}

/// What an API request must answer (default: success).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiExpect {
    /// The request fails with exactly this message.
    #[serde(default)]
    pub error: Option<String>,
    /// The request fails with a message containing this.
    #[serde(default)]
    pub error_contains: Option<String>,
    /// The request fails with this HTTP code (100 to 599).
    #[serde(default)]
    #[schemars(with = "Option<u16>")]
    pub code: Option<Spanned<u16>>,
    /// On success: exactly this data (default for `get`: the data the scenario last wrote).
    #[serde(default)]
    pub data: Option<BTreeMap<String, String>>,
    /// On success (`list`): this many objects (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub count: Option<Spanned<usize>>,
    /// On success (`rewrite`): this many objects were written (resourceVersion changed; at most
    /// [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub rewritten: Option<Spanned<usize>>,
    /// On success (`rewrite`): this many were left as they were (a no-op update; at most
    /// [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub unchanged: Option<Spanned<usize>>,
    /// On success (`rewrite`): this many replaces conflicted and were retried (at most
    /// [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub conflicts: Option<Spanned<usize>>,
}

impl ApiExpect {
    /// Whether the request is expected to fail.
    pub fn expects_failure(&self) -> bool {
        self.error.is_some() || self.error_contains.is_some() || self.code.is_some()
    }
}

/// One expectation on a raw etcd value: every field of `expectStored`/`expectAll` that says
/// something about the stored value is one of these, defined here once with its wording and
/// its configuration reference (checked at load); the engine evaluates them.
#[derive(Debug, Clone)]
pub enum StoredCheck {
    /// `provider`: `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    Provider(String),
    /// `key`: the key name in the prefix (`k8s:enc:<provider>:v1:<key>:`).
    Key(String),
    /// `plaintext`: whether the value is readable in etcd without any key.
    Plaintext(bool),
    /// `decryptableWith`: a configuration (by name) whose providers decrypt the value.
    DecryptableWith(Spanned<String>),
    /// `notDecryptableWith`: a configuration whose providers fail to decrypt the value.
    NotDecryptableWith(Spanned<String>),
    /// `currentWith`: a configuration under which the value is current (readable with the
    /// provider and key it writes with).
    CurrentWith(Spanned<String>),
    /// `staleWith`: a configuration under which the value is stale (readable, but the next
    /// update rewrites it).
    StaleWith(Spanned<String>),
    /// `kmsKeyId`: the key ID of a KMS v2 value's `EncryptedObject` (the plugin key that wraps
    /// its DEK seed).
    KmsKeyId(String),
}

/// The YAML fields of [`StoredCheck`], in the order messages list them.
pub const STORED_CHECK_FIELDS: [&str; 8] = [
    "provider",
    "key",
    "plaintext",
    "decryptableWith",
    "notDecryptableWith",
    "currentWith",
    "staleWith",
    "kmsKeyId",
];

impl StoredCheck {
    /// The checks a step's fields ask for, in [`STORED_CHECK_FIELDS`] order.
    pub(super) fn from_fields(
        provider: &Option<String>,
        key: &Option<String>,
        plaintext: Option<bool>,
        decryptable_with: &Option<Spanned<String>>,
        not_decryptable_with: &Option<Spanned<String>>,
        current_with: &Option<Spanned<String>>,
        stale_with: &Option<Spanned<String>>,
    ) -> Vec<StoredCheck> {
        let mut out = Vec::new();
        out.extend(provider.clone().map(StoredCheck::Provider));
        out.extend(key.clone().map(StoredCheck::Key));
        out.extend(plaintext.map(StoredCheck::Plaintext));
        out.extend(decryptable_with.clone().map(StoredCheck::DecryptableWith));
        out.extend(not_decryptable_with.clone().map(StoredCheck::NotDecryptableWith));
        out.extend(current_with.clone().map(StoredCheck::CurrentWith));
        out.extend(stale_with.clone().map(StoredCheck::StaleWith));
        out
    }

    /// The configuration it names, if any.
    pub fn config(&self) -> Option<&Spanned<String>> {
        match self {
            StoredCheck::DecryptableWith(c)
            | StoredCheck::NotDecryptableWith(c)
            | StoredCheck::CurrentWith(c)
            | StoredCheck::StaleWith(c) => Some(c),
            StoredCheck::Provider(_)
            | StoredCheck::Key(_)
            | StoredCheck::Plaintext(_)
            | StoredCheck::KmsKeyId(_) => None,
        }
    }

    /// What it claims about the value at etcd key `key`: `/registry/… is on key key2`.
    pub fn claim(&self, key: &str) -> String {
        match self {
            StoredCheck::Provider(p) => format!("{key} is written by {p}"),
            StoredCheck::Key(k) => format!("{key} is on key {k}"),
            StoredCheck::Plaintext(true) => format!("{key} is plaintext in etcd"),
            StoredCheck::Plaintext(false) => format!("{key} is encrypted in etcd"),
            StoredCheck::DecryptableWith(c) => format!("{key} decrypts with config {}", c.value),
            StoredCheck::NotDecryptableWith(c) => {
                format!("{key} does not decrypt with config {}", c.value)
            }
            StoredCheck::CurrentWith(c) => format!("{key} is current under config {}", c.value),
            StoredCheck::StaleWith(c) => format!("{key} is stale under config {}", c.value),
            StoredCheck::KmsKeyId(k) => format!("{key} is wrapped by KMS key ID {k}"),
        }
    }

    /// The same, of every value (`expectAll`): `provider aescbc`, `current under config key2`.
    pub fn summary(&self) -> String {
        match self {
            StoredCheck::Provider(p) => format!("provider {p}"),
            StoredCheck::Key(k) => format!("key {k}"),
            StoredCheck::Plaintext(true) => "plaintext".to_owned(),
            StoredCheck::Plaintext(false) => "encrypted".to_owned(),
            StoredCheck::DecryptableWith(c) => format!("decrypts with config {}", c.value),
            StoredCheck::NotDecryptableWith(c) => {
                format!("does not decrypt with config {}", c.value)
            }
            StoredCheck::CurrentWith(c) => format!("current under config {}", c.value),
            StoredCheck::StaleWith(c) => format!("stale under config {}", c.value),
            StoredCheck::KmsKeyId(k) => format!("KMS key ID {k}"),
        }
    }
}
