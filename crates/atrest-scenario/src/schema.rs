//! The scenario file format (`scenarios/*.yaml`), documented in `scenarios/README.md`.
//!
//! Decoding is strict: unknown fields and unknown step kinds are errors, every error names
//! `file:line:col`. After decoding, [`load`] checks what serde cannot: references to
//! configurations, object addressing, and that the scenario expects something at all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use atrest_backend::{Kind, ObjectRef};
use atrest_config::decode::MAX_CONFIG_BYTES;
use atrest_input::{InputError, Limit};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::template::{self, Secrets, TemplateError};

/// Where the apiservers read their encryption configuration unless a scenario says otherwise
/// (kubeadm's layout with a dedicated directory mounted into the static pod).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kubernetes/enc/encryption-config.yaml";

/// The most apiservers a cluster may have. HA control planes run 3 or 5; 16 leaves room for
/// experiments while keeping a scenario from spawning processes by the thousand.
pub const MAX_APISERVERS: usize = 16;

/// The most objects one step may address (`count`, `measure.objects`, expected counts, every n-th).
/// The shipped scenarios use at most a few hundred; a million took 8 s and 1.3 GB before any
/// request was sent.
pub const MAX_OBJECTS: usize = 100_000;

/// The largest `measure.size` in bytes. etcd refuses requests above 1.5 MiB by default
/// (`--max-request-bytes`), so a larger Secret could not be stored anyway.
pub const MAX_VALUE_SIZE: usize = 1024 * 1024;

/// The most bytes one `measure` step may hold (`objects` × `size`): the engine keeps a copy of
/// every value it wrote to check for loss later, so this bounds its memory.
pub const MAX_MEASURE_BYTES: usize = 256 * 1024 * 1024;

/// The longest `waitForReload.timeoutSeconds`: kube-apiserver polls the file once a minute, so an
/// hour is sixty chances; a longer wait is a hung run, not a slow one.
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;

/// A decoded scenario file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioFile {
    /// One line shown by `scenarios`.
    pub description: String,
    /// The cluster to run on.
    #[serde(default)]
    pub cluster: ClusterDef,
    /// Named configuration templates: inline (`${key:NAME}` placeholders), a file, or a config
    /// of the library.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ConfigDef>")]
    pub configs: BTreeMap<String, Spanned<ConfigDef>>,
    /// What to do, in order.
    #[schemars(with = "Vec<StepEntry>")]
    pub steps: Vec<Spanned<StepEntry>>,
}

/// The cluster a scenario needs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterDef {
    /// How many apiservers share the etcd (1 to [`MAX_APISERVERS`]).
    #[serde(default = "spanned_one")]
    #[schemars(with = "usize")]
    pub apiservers: Spanned<usize>,
    /// `--encryption-provider-config` of every apiserver (`null`: the flag is not set);
    /// `{apiserver}` in it is replaced by the apiserver's index, giving each its own file.
    #[serde(default = "default_config_path")]
    pub encryption_config: Option<String>,
    /// `--encryption-provider-config-automatic-reload`.
    #[serde(default)]
    pub automatic_reload: bool,
    /// KMS v2 plugins the cluster runs from start to end; a configuration reaches plugin
    /// `NAME` with `${kms:NAME}` as its `endpoint`.
    #[serde(default)]
    #[schemars(with = "Vec<KmsPluginDef>")]
    pub kms_plugins: Vec<Spanned<KmsPluginDef>>,
}

impl Default for ClusterDef {
    fn default() -> Self {
        ClusterDef {
            apiservers: spanned_one(),
            encryption_config: default_config_path(),
            automatic_reload: false,
            kms_plugins: Vec::new(),
        }
    }
}

/// The most KMS plugins a cluster may run (upstream has no limit; a scenario needs one or two).
pub const MAX_KMS_PLUGINS: usize = 8;

/// Where the cluster's KMS plugin sockets live, in its file tree: plugin `NAME` listens on
/// `<dir>/NAME.sock` (kubeadm-style clusters put them under `/var/run/kmsplugin`).
pub const KMS_SOCKET_DIR: &str = "/var/run/kmsplugin";

/// `cluster.kmsPlugins[]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsPluginDef {
    /// The plugin's name: `${kms:NAME}` and `kmsPlugin.name` refer to it (lowercase letters,
    /// digits and `-`, as it names its socket file).
    pub name: String,
}

impl KmsPluginDef {
    /// Its socket, a path in the cluster's file tree.
    pub fn socket(&self) -> String {
        format!("{KMS_SOCKET_DIR}/{}.sock", self.name)
    }
}

fn one() -> usize {
    1
}

/// A default has no place in the file: it is within bounds, so its position is never reported.
fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn spanned_one() -> Spanned<usize> {
    unplaced(one())
}

#[expect(clippy::unnecessary_wraps, reason = "serde default for an Option field")]
fn default_config_path() -> Option<String> {
    Some(DEFAULT_CONFIG_PATH.to_owned())
}

/// A named configuration: an inline template, a file relative to the scenario file, or a
/// template of the config library (`scenarios/configs/library/`, built into atrest).
#[derive(Debug)]
pub enum ConfigDef {
    /// Inline YAML with `${key:NAME}` placeholders.
    Inline(String),
    /// A file.
    File {
        /// Path relative to the scenario file.
        file: String,
    },
    /// A library template, by name.
    Library {
        /// Its name (the file name without `.yaml`).
        library: String,
    },
}

// Written out rather than `untagged`: serde's untagged errors say only "did not match any
// variant", and an unknown or second key would be ignored instead of rejected.
impl<'de> Deserialize<'de> for ConfigDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ConfigDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an inline template, {file: PATH} or {library: NAME}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConfigDef, E> {
                Ok(ConfigDef::Inline(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<ConfigDef, A::Error> {
                use serde::de::Error as _;
                let def = match m.next_key::<String>()?.as_deref() {
                    Some("file") => ConfigDef::File { file: m.next_value()? },
                    Some("library") => ConfigDef::Library { library: m.next_value()? },
                    Some(other) => {
                        return Err(A::Error::unknown_field(other, &["file", "library"]));
                    }
                    None => return Err(A::Error::custom("give {file: PATH} or {library: NAME}")),
                };
                match m.next_key::<String>()?.as_deref() {
                    None => {}
                    Some("file" | "library") => {
                        return Err(A::Error::custom("give one of `file` or `library`, not both"));
                    }
                    Some(other) => {
                        return Err(A::Error::unknown_field(other, &["file", "library"]));
                    }
                }
                Ok(def)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ConfigDef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ConfigDef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = |key: &str, what: &str| {
            serde_json::json!({
                "type": "object",
                "properties": {key: {"type": "string", "description": what}},
                "required": [key],
                "additionalProperties": false
            })
        };
        schemars::json_schema!({
            "description": "An EncryptionConfiguration template: inline, a file or a library config.",
            "oneOf": [
                {"type": "string", "description": "Inline YAML with ${key:NAME} placeholders."},
                one("file", "A file, relative to the scenario file."),
                one("library", "A config of the library (scenarios/configs/library/NAME.yaml)."),
            ]
        })
    }
}

mod library {
    include!(concat!(env!("OUT_DIR"), "/library.rs"));
}

/// The config library, `(name, template)` sorted by name: `{library: NAME}` in a scenario's
/// `configs`. Built into atrest, so a scenario anywhere can use it.
pub fn library() -> &'static [(&'static str, &'static str)] {
    library::LIBRARY
}

/// The path library templates carry in errors.
const LIBRARY_DIR: &str = "<config library>";

/// Which apiserver(s) a step addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Every apiserver, in order.
    #[default]
    All,
    /// One.
    One(usize),
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(usize),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Target::One(n)),
            Raw::S(s) if s == "all" => Ok(Target::All),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "apiserver: expected an index or \"all\", got {s:?}"
            ))),
        }
    }
}

impl JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An apiserver's index, or \"all\".",
            "oneOf": [{"type": "integer", "minimum": 0}, {"const": "all"}]
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("all apiservers"),
            Target::One(i) => write!(f, "apiserver {i}"),
        }
    }
}

/// An object named in a step: exactly one of `secret`/`configmap`, and a namespace.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    /// A Secret's name.
    pub secret: Option<String>,
    /// A ConfigMap's name.
    pub configmap: Option<String>,
    /// Namespace.
    pub namespace: String,
}

fn default_namespace() -> String {
    "default".to_owned()
}

impl ObjectDef {
    fn resolve(&self) -> Result<ObjectRef, String> {
        match (&self.secret, &self.configmap) {
            (Some(n), None) => Ok(ObjectRef::new(Kind::Secret, &self.namespace, n)),
            (None, Some(n)) => Ok(ObjectRef::new(Kind::ConfigMap, &self.namespace, n)),
            _ => Err("name exactly one of `secret` or `configmap`".to_owned()),
        }
    }
}

/// A resource named in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceDef {
    /// `secrets`.
    Secrets,
    /// `configmaps`.
    Configmaps,
}

impl ResourceDef {
    /// The kind.
    pub fn kind(self) -> Kind {
        match self {
            ResourceDef::Secrets => Kind::Secret,
            ResourceDef::Configmaps => Kind::ConfigMap,
        }
    }
}

/// What a start or restart must end in, written `ready`, `notReady` or `{exit: TEXT}`. Without
/// `expect` the apiservers must become ready too, but a failure is a harness error (exit 2);
/// with `expect: ready` it is a check in the report (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartExpect {
    /// It becomes ready.
    Ready,
    /// It keeps running but never becomes ready.
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
                {"const": "notReady", "description": "It keeps running but never becomes ready."},
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
    fn from_fields(
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

/// One step. The YAML form is a one-key map: `- restart: {}`.
// `deny_unknown_fields` and `rename_all_fields` cover the struct variants (`setFlags: {…}`); the
// newtype variants' structs carry their own. Without them `setFlags: {encryptionConfig: null}`
// was ignored: `rename_all` renames only the variants.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
    /// Write a configuration to the flag's path (or `path`).
    WriteConfig {
        /// The configuration's name.
        #[schemars(with = "String")]
        config: Spanned<String>,
        /// Where, if not where the flag points.
        #[serde(default)]
        path: Option<String>,
        /// Whose flag path (default: every apiserver's).
        #[serde(default)]
        apiserver: Target,
    },
    /// Remove a file.
    RemoveFile {
        /// The path.
        path: String,
    },
    /// Change flags for the next start.
    SetFlags {
        /// Which apiservers.
        #[serde(default)]
        apiserver: Target,
        /// New `--encryption-provider-config` (`null` removes the flag).
        #[serde(default, deserialize_with = "some_option")]
        #[schemars(with = "Option<String>")]
        encryption_config: Option<Option<String>>,
        /// New automatic reload flag.
        #[serde(default)]
        automatic_reload: Option<bool>,
    },
    /// Start stopped apiservers.
    Start {
        /// Which.
        #[serde(default)]
        apiserver: Target,
        /// How it must end.
        #[serde(default)]
        expect: Option<StartExpect>,
    },
    /// Stop apiservers.
    Stop {
        /// Which.
        #[serde(default)]
        apiserver: Target,
    },
    /// Stop then start (a static pod restart).
    Restart {
        /// Which.
        #[serde(default)]
        apiserver: Target,
        /// How it must end.
        #[serde(default)]
        expect: Option<StartExpect>,
    },
    /// Create an object (or `count` objects named `<name>-<i>`).
    Create(ObjectStep),
    /// Replace an object's data.
    Update(ObjectStep),
    /// Read an object.
    Get(ObjectStep),
    /// Delete an object.
    Delete(ObjectStep),
    /// List a resource in all namespaces (or one).
    List(ListStep),
    /// `kubectl get <resource> -A -o json | kubectl replace -f -`, retrying conflicts.
    Rewrite(ListStep),
    /// Check one raw etcd value.
    ExpectStored(StoredStep),
    /// Check every raw etcd value of a resource.
    ExpectAll(AllStep),
    /// Time creates and gets (timings are reported, never asserted).
    Measure(MeasureStep),
    /// Poll `/metrics` until automatic reload took the file written last (or reported a failure).
    WaitForReload(ReloadStep),
    /// Act on a KMS plugin of the cluster: rotate its key, switch a fault on, or clear faults.
    KmsPlugin(KmsPluginStep),
    /// Wait until the apiservers write with a KMS plugin's current key ID.
    WaitForKmsKeyId(KeyIdStep),
    /// Let time pass: a simulated cluster moves its clock, a real one waits. For a TTL that is
    /// the subject of the scenario (KMS v2's 3-minute write state), never to wait for readiness.
    Wait(WaitStep),
    /// Check how many `Encrypt` and `Decrypt` calls a KMS plugin received since the previous
    /// `expectKmsCalls` of that plugin (or since the cluster started).
    ExpectKmsCalls(KmsCallsStep),
    /// `GET` a health or readiness path (`/healthz/kms-providers`, `/readyz?verbose`).
    Probe(ProbeStep),
    /// Predict, from what etcd holds now, what an apiserver restarted with a configuration would
    /// do (`atrest preflight`), before the restart shows it.
    Preflight(PreflightStep),
}

/// The longest step name: it is shown in reports next to the step's index.
pub const MAX_STEP_NAME: usize = 63;

/// One item of `steps`: a step and, beside its key, an optional name shown in reports
/// (`- name: promote-key2` then `writeConfig: {config: key2}` in the same map).
#[derive(Debug)]
pub struct StepEntry {
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// The step.
    pub step: Step,
}

/// The step kinds as the file spells them, in declaration order: serde's own list, captured
/// from the derived `Deserialize` of [`Step`] so that it cannot drift from the enum.
pub fn step_kinds() -> &'static [&'static str] {
    struct Capture;
    #[derive(Debug)]
    struct Captured(&'static [&'static str]);
    impl fmt::Display for Captured {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("step kinds captured")
        }
    }
    impl std::error::Error for Captured {}
    impl serde::de::Error for Captured {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Captured(&[])
        }
    }
    impl<'de> serde::Deserializer<'de> for Capture {
        type Error = Captured;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
            Err(Captured(&[]))
        }
        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Captured> {
            Err(Captured(variants))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }
    match Step::deserialize(Capture) {
        Err(Captured(kinds)) => kinds,
        Ok(_) => &[],
    }
}

impl JsonSchema for StepEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepEntry".into()
    }
    // Step's own schema (one object per kind) with `name` beside every kind.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Step::json_schema(g);
        let name = serde_json::json!({
            "type": "string",
            "description": "Shown in reports next to the step's index.",
            "pattern": format!("^[A-Za-z0-9._-]{{1,{MAX_STEP_NAME}}}$")
        });
        let kinds = schema.get_mut("oneOf").and_then(serde_json::Value::as_array_mut);
        for kind in kinds.into_iter().flatten() {
            if let Some(props) = kind.get_mut("properties").and_then(|p| p.as_object_mut()) {
                props.insert("name".to_owned(), name.clone());
            }
        }
        schema
    }
}

impl<'de> Deserialize<'de> for StepEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, DeserializeSeed, Error as _, MapAccess, Visitor};

        /// A key of the map: `name`, or a step kind (checked here, so that an unknown kind is
        /// reported at the key).
        enum Key {
            Name,
            Kind(&'static str),
        }
        struct KeySeed;
        impl<'de> DeserializeSeed<'de> for KeySeed {
            type Value = Key;
            fn deserialize<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Key, D2::Error> {
                let key = String::deserialize(d)?;
                if key == "name" {
                    return Ok(Key::Name);
                }
                let kinds = step_kinds();
                match kinds.iter().find(|k| **k == key) {
                    Some(k) => Ok(Key::Kind(k)),
                    None => Err(D2::Error::unknown_variant(&key, kinds)),
                }
            }
        }
        /// The value of a step kind's key, read as that variant of [`Step`].
        struct StepSeed(&'static str);
        impl<'de> DeserializeSeed<'de> for StepSeed {
            type Value = Step;
            fn deserialize<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Step, D2::Error> {
                Step::deserialize(Variant { kind: self.0, value: d })
            }
        }
        /// Presents (kind, value) to the derived `Deserialize` of [`Step`] as an enum.
        struct Variant<D2> {
            kind: &'static str,
            value: D2,
        }
        impl<'de, D2: serde::Deserializer<'de>> serde::Deserializer<'de> for Variant<D2> {
            type Error = D2::Error;
            fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D2::Error> {
                v.visit_enum(self)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
                enum identifier ignored_any
            }
        }
        impl<'de, D2: serde::Deserializer<'de>> de::EnumAccess<'de> for Variant<D2> {
            type Error = D2::Error;
            type Variant = D2Variant<D2>;
            fn variant_seed<S: DeserializeSeed<'de>>(
                self,
                seed: S,
            ) -> Result<(S::Value, D2Variant<D2>), D2::Error> {
                let tag =
                    seed.deserialize(de::value::StrDeserializer::<D2::Error>::new(self.kind))?;
                Ok((tag, D2Variant(self.value)))
            }
        }
        struct D2Variant<D2>(D2);
        impl<'de, D2: serde::Deserializer<'de>> de::VariantAccess<'de> for D2Variant<D2> {
            type Error = D2::Error;
            fn unit_variant(self) -> Result<(), D2::Error> {
                <()>::deserialize(self.0)
            }
            fn newtype_variant_seed<S: DeserializeSeed<'de>>(
                self,
                seed: S,
            ) -> Result<S::Value, D2::Error> {
                seed.deserialize(self.0)
            }
            fn tuple_variant<V: Visitor<'de>>(
                self,
                len: usize,
                v: V,
            ) -> Result<V::Value, D2::Error> {
                self.0.deserialize_tuple(len, v)
            }
            fn struct_variant<V: Visitor<'de>>(
                self,
                fields: &'static [&'static str],
                v: V,
            ) -> Result<V::Value, D2::Error> {
                self.0.deserialize_struct("", fields, v)
            }
        }

        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = StepEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: a map with one step kind and an optional `name`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StepEntry, A::Error> {
                let mut name = None;
                let mut step: Option<(&str, Step)> = None;
                while let Some(key) = m.next_key_seed(KeySeed)? {
                    match key {
                        Key::Name => name = Some(m.next_value::<Spanned<String>>()?),
                        Key::Kind(kind) => {
                            if let Some((first, _)) = &step {
                                return Err(A::Error::custom(format!(
                                    "one step per list item: `{first}` and `{kind}` are two \
                                     (start another item with `-`)"
                                )));
                            }
                            step = Some((kind, m.next_value_seed(StepSeed(kind))?));
                        }
                    }
                }
                match step {
                    Some((_, step)) => Ok(StepEntry { name, step }),
                    None => Err(A::Error::custom(format!(
                        "a step needs a kind, one of {}",
                        step_kinds().join(", ")
                    ))),
                }
            }
        }
        d.deserialize_map(EntryVisitor)
    }
}

/// `preflight`: Secrets and ConfigMaps in etcd judged under a configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreflightStep {
    /// The configuration an apiserver would be restarted with.
    #[schemars(with = "String")]
    pub config: Spanned<String>,
    /// The prediction.
    pub expect: PreflightExpect,
}

/// What `preflight` must predict.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreflightExpect {
    /// Whether the apiserver becomes ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// How many Secrets and ConfigMaps it cannot read (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub unreadable: Option<Spanned<usize>>,
    /// How many it reads but not with its write provider (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub stale: Option<Spanned<usize>>,
}

impl Step {
    /// The step's key in the file (`create`, `waitForReload`, …), for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::WriteConfig { .. } => "writeConfig",
            Step::RemoveFile { .. } => "removeFile",
            Step::SetFlags { .. } => "setFlags",
            Step::Start { .. } => "start",
            Step::Stop { .. } => "stop",
            Step::Restart { .. } => "restart",
            Step::Create(_) => "create",
            Step::Update(_) => "update",
            Step::Get(_) => "get",
            Step::Delete(_) => "delete",
            Step::List(_) => "list",
            Step::Rewrite(_) => "rewrite",
            Step::ExpectStored(_) => "expectStored",
            Step::ExpectAll(_) => "expectAll",
            Step::Measure(_) => "measure",
            Step::WaitForReload(_) => "waitForReload",
            Step::KmsPlugin(_) => "kmsPlugin",
            Step::WaitForKmsKeyId(_) => "waitForKmsKeyId",
            Step::ExpectKmsCalls(_) => "expectKmsCalls",
            Step::Wait(_) => "wait",
            Step::Probe(_) => "probe",
            Step::Preflight(_) => "preflight",
        }
    }
}

/// `waitForReload`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReloadStep {
    /// Which apiservers.
    #[serde(default)]
    pub apiserver: Target,
    /// `loaded`: `apiserver_encryption_config_controller_last_config_info` carries the sha256 of
    /// the file written last. `failed`: the reload failure counter went up and the old hash stays.
    pub expect: ReloadExpect,
    /// Deadline (kube-apiserver polls the file once a minute; at most [`MAX_TIMEOUT_SECONDS`]).
    #[serde(default = "default_reload_timeout")]
    #[schemars(with = "u64")]
    pub timeout_seconds: Spanned<u64>,
}

/// `kmsPlugin`: exactly one of `rotate`, `fault`, `clearFaults`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsPluginStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A new key version becomes current: `Status` reports a new `key_id`.
    #[serde(default)]
    pub rotate: bool,
    /// Switch this fault on.
    #[serde(default)]
    pub fault: Option<KmsFaultDef>,
    /// Switch every fault off.
    #[serde(default)]
    pub clear_faults: bool,
}

/// A fault of `kmsPlugin.fault`: `unavailable`, `{latencyMs: 50}`, `failEncrypt`, …
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KmsFaultDef {
    /// The socket is closed.
    Unavailable,
    /// Every call is answered this many milliseconds later.
    LatencyMs(u64),
    /// `Encrypt` fails (gRPC `Internal`).
    FailEncrypt,
    /// `Decrypt` fails (gRPC `Internal`).
    FailDecrypt,
    /// `Status` fails (gRPC `Internal`).
    FailStatus,
    /// `Status` answers this `healthz` instead of `ok`.
    Unhealthy(String),
    /// Another key-encryption key under the same key IDs.
    WrongKek,
}

impl KmsFaultDef {
    /// The boundary's fault.
    pub fn to_backend(&self) -> atrest_backend::KmsFault {
        use atrest_backend::KmsFault;
        match self {
            KmsFaultDef::Unavailable => KmsFault::Unavailable,
            KmsFaultDef::LatencyMs(ms) => KmsFault::Latency(std::time::Duration::from_millis(*ms)),
            KmsFaultDef::FailEncrypt => KmsFault::FailEncrypt,
            KmsFaultDef::FailDecrypt => KmsFault::FailDecrypt,
            KmsFaultDef::FailStatus => KmsFault::FailStatus,
            KmsFaultDef::Unhealthy(h) => KmsFault::Unhealthy(h.clone()),
            KmsFaultDef::WrongKek => KmsFault::WrongKek,
        }
    }
}

/// `probe`: one `GET` of a health path and what it must answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeStep {
    /// `/healthz…`, `/readyz…` or `/livez…`.
    pub path: String,
    /// Which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    pub expect: ProbeExpect,
    /// Poll (once a second) until the code is `expect.code`, at most this long (at most
    /// [`MAX_TIMEOUT_SECONDS`]); the body is checked on the last answer. Without it, one `GET`.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub timeout_seconds: Option<Spanned<u64>>,
}

/// What a `probe` must answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeExpect {
    /// The HTTP status code (100 to 599).
    #[schemars(with = "u16")]
    pub code: Spanned<u16>,
    /// Exactly this body (trailing whitespace ignored).
    #[serde(default)]
    pub body: Option<String>,
    /// A body containing this.
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// `waitForKmsKeyId`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyIdStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Which apiservers.
    #[serde(default)]
    pub apiserver: Target,
    /// Deadline (kube-apiserver polls `Status` once a minute; at most [`MAX_TIMEOUT_SECONDS`]).
    #[serde(default = "default_reload_timeout")]
    #[schemars(with = "u64")]
    pub timeout_seconds: Spanned<u64>,
}

/// `wait`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitStep {
    /// How long, in seconds (1 to [`MAX_WAIT_SECONDS`]).
    #[schemars(with = "u64")]
    pub seconds: Spanned<u64>,
}

/// The longest `wait`: ten minutes covers every TTL kube-apiserver has in this area (KMS v2
/// write state 3 min, the `Status` poll 1 min) with room to spare.
pub const MAX_WAIT_SECONDS: u64 = 600;

/// `expectKmsCalls`. `Status` calls are not counted: kube-apiserver makes them on its own
/// clock (a poll a minute, health checks), so their number depends on time, not on the steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsCallsStep {
    /// The plugin (a `cluster.kmsPlugins` name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `Encrypt` calls (DEKs or seeds wrapped).
    #[serde(default)]
    pub encrypt: Option<u64>,
    /// `Decrypt` calls (DEKs or seeds unwrapped).
    #[serde(default)]
    pub decrypt: Option<u64>,
}

/// What a reload must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReloadExpect {
    /// The new file is in use.
    Loaded,
    /// The new file was rejected; the old configuration stays.
    Failed,
}

fn default_reload_timeout() -> Spanned<u64> {
    unplaced(180)
}

fn some_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A step on one object. (Fields are spelled out rather than flattened: serde cannot reject
/// unknown fields through `flatten`.)
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectStep {
    /// A Secret's name.
    #[serde(default)]
    pub secret: Option<String>,
    /// A ConfigMap's name.
    #[serde(default)]
    pub configmap: Option<String>,
    /// Namespace (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Data to write (`create`, `update`), as strings.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Repeat for `<name>-0` … `<name>-<count-1>` (at most [`MAX_OBJECTS`]).
    #[serde(default)]
    #[schemars(with = "Option<usize>")]
    pub count: Option<Spanned<usize>>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    #[serde(default)]
    pub expect: Option<ApiExpect>,
}

/// `expectStored`: one raw etcd value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StoredStep {
    /// A Secret's name.
    #[serde(default)]
    pub secret: Option<String>,
    /// A ConfigMap's name.
    #[serde(default)]
    pub configmap: Option<String>,
    /// Namespace (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The key name in the prefix (`k8s:enc:<provider>:v1:<key>:`).
    #[serde(default)]
    pub key: Option<String>,
    /// Whether the value is plaintext (readable in etcd without any key).
    #[serde(default)]
    pub plaintext: Option<bool>,
    /// A configuration (by name) whose providers must decrypt the value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt the value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is current: it decrypts with the
    /// provider and key that configuration writes with (`atrest inspect`'s `current`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is stale: readable, but not with its
    /// write key, so the next update rewrites it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stale_with: Option<Spanned<String>>,
    /// The key ID in a KMS v2 value's `EncryptedObject`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

/// `expectAll`: every raw etcd value of a resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllStep {
    /// The resource.
    pub resource: ResourceDef,
    /// Only this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The key name in the prefix.
    #[serde(default)]
    pub key: Option<String>,
    /// Whether every value is plaintext.
    #[serde(default)]
    pub plaintext: Option<bool>,
    /// A configuration (by name) whose providers must decrypt every value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt every value.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is current.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is stale.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stale_with: Option<Spanned<String>>,
    /// The key ID in every value's KMS v2 `EncryptedObject`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

impl StoredStep {
    /// The object.
    pub fn object(&self) -> ObjectDef {
        ObjectDef {
            secret: self.secret.clone(),
            configmap: self.configmap.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The checks it asks for.
    pub fn checks(&self) -> Vec<StoredCheck> {
        let mut checks = StoredCheck::from_fields(
            &self.provider,
            &self.key,
            self.plaintext,
            &self.decryptable_with,
            &self.not_decryptable_with,
            &self.current_with,
            &self.stale_with,
        );
        // Last, as in `STORED_CHECK_FIELDS`.
        checks.extend(self.kms_key_id.clone().map(StoredCheck::KmsKeyId));
        checks
    }
}

impl AllStep {
    /// The checks it asks for.
    pub fn checks(&self) -> Vec<StoredCheck> {
        let mut checks = StoredCheck::from_fields(
            &self.provider,
            &self.key,
            self.plaintext,
            &self.decryptable_with,
            &self.not_decryptable_with,
            &self.current_with,
            &self.stale_with,
        );
        // Last, as in `STORED_CHECK_FIELDS`.
        checks.extend(self.kms_key_id.clone().map(StoredCheck::KmsKeyId));
        checks
    }
}

/// A step on a whole resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListStep {
    /// The resource.
    pub resource: ResourceDef,
    /// One namespace only.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `rewrite` only: another client updates objects between the list and their replace.
    #[serde(default)]
    pub concurrent_update: Option<ConcurrentUpdate>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    #[serde(default)]
    pub expect: Option<ApiExpect>,
}

/// Updates made by "another client" while a rewrite runs: after the rewrite listed the objects,
/// every `every`-th object the scenario wrote gets `data` just before the rewrite replaces it,
/// so that replace conflicts and must be retried.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConcurrentUpdate {
    /// Which objects: every n-th of those the scenario wrote (1: all; at most [`MAX_OBJECTS`]).
    #[serde(default = "spanned_one")]
    #[schemars(with = "usize")]
    pub every: Spanned<usize>,
    /// The new data.
    pub data: BTreeMap<String, String>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
}

/// A timed series of requests.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeasureStep {
    /// Label in the report (e.g. the provider).
    pub name: String,
    /// Secrets to create (named `<name>-<i>` in namespace default) and then read (1 to
    /// [`MAX_OBJECTS`]).
    #[schemars(with = "usize")]
    pub objects: Spanned<usize>,
    /// Bytes of data per object (at most [`MAX_VALUE_SIZE`], and `objects` × `size` at most
    /// [`MAX_MEASURE_BYTES`]).
    #[serde(default = "default_size")]
    #[schemars(with = "usize")]
    pub size: Spanned<usize>,
    /// The label the ratios are computed against.
    #[serde(default)]
    pub baseline: Option<String>,
}

fn default_size() -> Spanned<usize> {
    unplaced(1024)
}

/// A step with where it is in the file.
#[derive(Debug)]
pub struct PlacedStep {
    /// 1-based line of the step.
    pub line: u64,
    /// `name`, shown in reports.
    pub name: Option<String>,
    /// The step.
    pub step: Step,
}

/// A loaded, checked scenario.
#[derive(Debug)]
pub struct Scenario {
    /// The file stem.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// `description`.
    pub description: String,
    /// `cluster`.
    pub cluster: ClusterDef,
    /// Configuration templates by name, files already read.
    pub configs: BTreeMap<String, String>,
    /// Steps.
    pub steps: Vec<PlacedStep>,
}

/// Why a scenario file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// It could not be read, or is not a file, or is larger than [`SCENARIO_LIMIT`] (the error
    /// names the file).
    #[error(transparent)]
    Read(InputError),
    /// YAML or schema error.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    fn at(path: &Path, line: u64, column: u64, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: path.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// The limit of a scenario file: the largest shipped one is a few KiB.
pub const SCENARIO_LIMIT: Limit = Limit { bytes: 1 << 20, what: "a scenario file" };

/// The limit of an `EncryptionConfiguration` a scenario reads (`file:` configs, `--config`): the
/// configuration decoder's own budget.
pub const CONFIG_LIMIT: Limit =
    Limit { bytes: MAX_CONFIG_BYTES as u64, what: "an encryption configuration" };

/// The JSON Schema of scenario files, generated from these types (committed as
/// `scenarios/scenario.schema.json` for editors). It describes the shape; what it cannot say
/// (limits, references between names, placeholders) [`load`] checks.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(ScenarioFile);
    schema.insert("title".to_owned(), "atrest scenario".into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Reads and checks a scenario file (at most [`SCENARIO_LIMIT`]).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text =
        atrest_input::read_limited_to_string(path, SCENARIO_LIMIT).map_err(ScenarioError::Read)?;
    parse(path, &text)
}

/// Checks a scenario given as text (`path` names it in errors and anchors `file:` configs,
/// which are read from disk, at most [`CONFIG_LIMIT`] each).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, text, |file| {
        atrest_input::read_limited_to_string(file, CONFIG_LIMIT).map_err(InputError::into_io_error)
    })
}

/// As [`parse`], with `file:` configs read through `read` (given `path`'s directory joined with
/// the file name): scenarios embedded in a binary read their configs from the binary too.
pub fn parse_with(
    path: &Path,
    text: &str,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        // The rendered error carries a source snippet; the first line is the message.
        let message = e.without_snippet().to_string();
        let message = message.lines().next().unwrap_or("invalid scenario").trim();
        // The location is printed in front already.
        let message = match message.rfind(" at line ") {
            Some(i) if message[i..].contains(", column ") => &message[..i],
            _ => message,
        }
        .to_owned();
        ScenarioError::at(path, line, column, message)
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "scenario".to_owned(), |s| s.to_string_lossy().into_owned());
    let base = path.parent().unwrap_or(Path::new("."));
    let mut configs = BTreeMap::new();
    // Placeholders are checked here, so that a wrong one is reported at its place in the file.
    let mut placeholders = Secrets::default();
    for (cname, def) in file.configs {
        let (line, column) = (def.referenced.line(), def.referenced.column());
        let text = match def.value {
            ConfigDef::Inline(t) => {
                placeholders.check(&t).map_err(|e| {
                    let value_at =
                        def.referenced.span().byte_offset().and_then(|o| usize::try_from(o).ok());
                    let (l, c) = inline_position(text, value_at, &t, &e).unwrap_or((line, column));
                    ScenarioError::at(path, l, c, format!("config {cname:?}: {e}"))
                })?;
                t
            }
            ConfigDef::Library { library: lib } => {
                let Some((_, t)) = library::LIBRARY.iter().find(|(n, _)| *n == lib) else {
                    return Err(ScenarioError::at(
                        path,
                        line,
                        column,
                        format!(
                            "config {cname:?}: no library config named {lib:?} (the library: {})",
                            library::LIBRARY.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                placeholders.check(t).map_err(|e| {
                    let (l, c) = template::line_col(t, e.offset().unwrap_or(0));
                    let full = Path::new(LIBRARY_DIR).join(format!("{lib}.yaml"));
                    ScenarioError::at(&full, l, c, format!("config {cname:?}: {e}"))
                })?;
                (*t).to_owned()
            }
            ConfigDef::File { file } => {
                let full = base.join(&file);
                let t = read(&full).map_err(|e| {
                    ScenarioError::at(
                        path,
                        line,
                        column,
                        format!("config {cname:?}: cannot read {file}: {e}"),
                    )
                })?;
                placeholders.check(&t).map_err(|e| {
                    let (l, c) = template::line_col(&t, e.offset().unwrap_or(0));
                    ScenarioError::at(&full, l, c, format!("config {cname:?}: {e}"))
                })?;
                t
            }
        };
        configs.insert(cname, text);
    }
    let apiservers = &file.cluster.apiservers;
    if apiservers.value == 0 {
        return Err(ScenarioError::at(
            path,
            apiservers.referenced.line(),
            apiservers.referenced.column(),
            "cluster.apiservers must be at least 1",
        ));
    }
    at_most(path, "cluster.apiservers", apiservers, MAX_APISERVERS)?;
    let apiservers = apiservers.value;
    let plugins = check_kms_plugins(path, &file.cluster.kms_plugins, &configs)?;
    let mut expectations = 0;
    let mut steps = Vec::new();
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    for placed in file.steps {
        let (line, column) = (placed.referenced.line(), placed.referenced.column());
        let StepEntry { name, step } = placed.value;
        if let Some(n) = &name {
            check_step_name(path, n, &mut names)?;
        }
        let at = |m: String| ScenarioError::at(path, line, column, m);
        let check_config = |c: &Spanned<String>| {
            if configs.contains_key(&c.value) {
                Ok(())
            } else {
                Err(ScenarioError::at(
                    path,
                    c.referenced.line(),
                    c.referenced.column(),
                    format!(
                        "no config named {:?} (defined: {})",
                        c.value,
                        configs.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        };
        let check_plugin = |n: &Spanned<String>| {
            if plugins.contains(&n.value) {
                Ok(())
            } else {
                Err(ScenarioError::at(
                    path,
                    n.referenced.line(),
                    n.referenced.column(),
                    format!(
                        "no KMS plugin named {:?} in cluster.kmsPlugins (defined: {})",
                        n.value,
                        plugins.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        };
        let check_target = |t: Target| match t {
            Target::One(i) if i >= apiservers => {
                Err(at(format!("apiserver {i} does not exist (the cluster has {apiservers})")))
            }
            _ => Ok(()),
        };
        let kind = step.kind();
        match &step {
            Step::WriteConfig { config, apiserver, .. } => {
                check_config(config)?;
                check_target(*apiserver)?;
            }
            Step::RemoveFile { .. } => {}
            Step::SetFlags { apiserver, .. } | Step::Stop { apiserver } => {
                check_target(*apiserver)?
            }
            Step::Start { apiserver, expect } | Step::Restart { apiserver, expect } => {
                check_target(*apiserver)?;
                if expect.is_some() {
                    expectations += 1;
                }
            }
            Step::Create(s) | Step::Update(s) | Step::Get(s) | Step::Delete(s) => {
                s.object().resolve().map_err(at)?;
                check_target(Target::One(s.apiserver))?;
                if let Some(n) = &s.count {
                    at_most(path, &format!("{kind}.count"), n, MAX_OBJECTS)?;
                }
                if let Some(e) = &s.expect {
                    check_api_expect(path, kind, e)?;
                    expectations += 1;
                }
            }
            Step::List(s) | Step::Rewrite(s) => {
                check_target(Target::One(s.apiserver))?;
                if let Some(c) = &s.concurrent_update {
                    if !matches!(step, Step::Rewrite(_)) {
                        return Err(at("`concurrentUpdate` belongs to `rewrite` steps".into()));
                    }
                    if c.every.value == 0 {
                        return Err(ScenarioError::at(
                            path,
                            c.every.referenced.line(),
                            c.every.referenced.column(),
                            "concurrentUpdate.every must be at least 1",
                        ));
                    }
                    at_most(path, "rewrite.concurrentUpdate.every", &c.every, MAX_OBJECTS)?;
                    check_target(Target::One(c.apiserver))?;
                }
                if let Some(e) = &s.expect {
                    check_api_expect(path, kind, e)?;
                    expectations += 1;
                }
            }
            Step::ExpectStored(st) => {
                st.object().resolve().map_err(at)?;
                check_stored(&st.checks(), &check_config, &at)?;
                expectations += 1;
            }
            Step::ExpectAll(all) => {
                check_stored(&all.checks(), &check_config, &at)?;
                expectations += 1;
            }
            Step::Preflight(p) => {
                check_config(&p.config)?;
                let e = &p.expect;
                if e.ready.is_none() && e.unreadable.is_none() && e.stale.is_none() {
                    return Err(at(
                        "preflight.expect: expect at least one of ready, unreadable, stale".into(),
                    ));
                }
                for (field, n) in [("unreadable", &e.unreadable), ("stale", &e.stale)] {
                    if let Some(n) = n {
                        at_most(path, &format!("preflight.expect.{field}"), n, MAX_OBJECTS)?;
                    }
                }
                expectations += 1;
            }
            Step::WaitForReload(r) => {
                check_target(r.apiserver)?;
                at_most(
                    path,
                    "waitForReload.timeoutSeconds",
                    &r.timeout_seconds,
                    MAX_TIMEOUT_SECONDS,
                )?;
                expectations += 1;
            }
            Step::KmsPlugin(k) => {
                check_plugin(&k.name)?;
                let actions = usize::from(k.rotate)
                    + usize::from(k.fault.is_some())
                    + usize::from(k.clear_faults);
                if actions != 1 {
                    return Err(at(
                        "kmsPlugin: give exactly one of `rotate: true`, `fault` or `clearFaults: true`"
                            .into(),
                    ));
                }
            }
            Step::Probe(p) => {
                check_target(Target::One(p.apiserver))?;
                if !["/healthz", "/readyz", "/livez"].iter().any(|h| p.path.starts_with(h)) {
                    return Err(at(format!(
                        "probe: path {:?} is not a health check (/healthz…, /readyz…, /livez…)",
                        p.path
                    )));
                }
                if let Some(t) = &p.timeout_seconds {
                    at_most(path, "probe.timeoutSeconds", t, MAX_TIMEOUT_SECONDS)?;
                }
                let code = &p.expect.code;
                if !(100..=599).contains(&code.value) {
                    return Err(ScenarioError::at(
                        path,
                        code.referenced.line(),
                        code.referenced.column(),
                        format!(
                            "probe.expect.code {} is not an HTTP status (100 to 599)",
                            code.value
                        ),
                    ));
                }
                expectations += 1;
            }
            Step::Wait(w) => {
                if w.seconds.value == 0 {
                    return Err(ScenarioError::at(
                        path,
                        w.seconds.referenced.line(),
                        w.seconds.referenced.column(),
                        "wait.seconds must be at least 1",
                    ));
                }
                at_most(path, "wait.seconds", &w.seconds, MAX_WAIT_SECONDS)?;
            }
            Step::ExpectKmsCalls(c) => {
                check_plugin(&c.name)?;
                if c.encrypt.is_none() && c.decrypt.is_none() {
                    return Err(at("expectKmsCalls: give `encrypt`, `decrypt` or both".into()));
                }
                expectations += 1;
            }
            Step::WaitForKmsKeyId(w) => {
                check_plugin(&w.name)?;
                check_target(w.apiserver)?;
                at_most(
                    path,
                    "waitForKmsKeyId.timeoutSeconds",
                    &w.timeout_seconds,
                    MAX_TIMEOUT_SECONDS,
                )?;
                expectations += 1;
            }
            Step::Measure(m) => {
                if m.objects.value == 0 {
                    return Err(ScenarioError::at(
                        path,
                        m.objects.referenced.line(),
                        m.objects.referenced.column(),
                        "measure.objects must be at least 1",
                    ));
                }
                at_most(path, "measure.objects", &m.objects, MAX_OBJECTS)?;
                at_most(path, "measure.size", &m.size, MAX_VALUE_SIZE)?;
                // Both are bounded above, so the product cannot overflow; saturate regardless.
                let bytes = m.objects.value.saturating_mul(m.size.value);
                if bytes > MAX_MEASURE_BYTES {
                    return Err(at(format!(
                        "measure: objects × size is {bytes} bytes, above the limit of \
                         {MAX_MEASURE_BYTES} (the engine keeps every value it wrote)"
                    )));
                }
            }
        }
        steps.push(PlacedStep { line, name: name.map(|n| n.value), step });
    }
    if expectations == 0 {
        return Err(ScenarioError::at(
            path,
            1,
            1,
            "the scenario expects nothing: add an `expect` to a step, or an `expectStored`/`expectAll` step",
        ));
    }
    Ok(Scenario {
        name,
        path: path.to_owned(),
        description: file.description,
        cluster: file.cluster,
        configs,
        steps,
    })
}

/// Where a template error in an inline configuration is in the scenario file: the placeholder as
/// written, found from where the configuration's value starts (the same text may appear earlier
/// in the template, so the n-th occurrence for the n-th). `None` when the file spells it
/// differently (an escape in a quoted string).
fn inline_position(
    file_text: &str,
    value_at: Option<usize>,
    template: &str,
    err: &TemplateError,
) -> Option<(u64, u64)> {
    let needle = err.placeholder()?;
    let offset = err.offset()?;
    let nth = template.get(..offset)?.matches(needle.as_str()).count();
    let from = value_at?;
    let rest = file_text.get(from..)?;
    let (at, _) = rest.match_indices(needle.as_str()).nth(nth)?;
    Some(template::line_col(file_text, from + at))
}

/// Checks `cluster.kmsPlugins` (names unique and usable as socket file names, at most
/// [`MAX_KMS_PLUGINS`]) and that every `${kms:NAME}` of a configuration names one of them;
/// returns the names.
fn check_kms_plugins(
    path: &Path,
    plugins: &[Spanned<KmsPluginDef>],
    configs: &BTreeMap<String, String>,
) -> Result<Vec<String>, ScenarioError> {
    let mut names: Vec<String> = Vec::new();
    for (n, p) in plugins.iter().enumerate() {
        let at = |m: String| ScenarioError::at(path, p.referenced.line(), p.referenced.column(), m);
        if n >= MAX_KMS_PLUGINS {
            return Err(at(format!("cluster.kmsPlugins: at most {MAX_KMS_PLUGINS} plugins")));
        }
        let name = &p.value.name;
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(at(format!(
                "cluster.kmsPlugins: name {name:?} must be 1 to 63 lowercase letters, digits or `-`"
            )));
        }
        if names.contains(name) {
            return Err(at(format!("cluster.kmsPlugins: name {name:?} is used twice")));
        }
        names.push(name.clone());
    }
    for (cname, text) in configs {
        for plugin in crate::template::kms_placeholders(text) {
            if !names.contains(&plugin) {
                return Err(ScenarioError::at(
                    path,
                    1,
                    1,
                    format!(
                        "config {cname:?}: ${{kms:{plugin}}} names no plugin of cluster.kmsPlugins"
                    ),
                ));
            }
        }
    }
    Ok(names)
}

/// A step name is shown in reports and names a JUnit test case: 1 to [`MAX_STEP_NAME`]
/// letters, digits, `-`, `_` or `.`, used once in the scenario. `seen` maps names to their lines.
fn check_step_name(
    path: &Path,
    name: &Spanned<String>,
    seen: &mut BTreeMap<String, u64>,
) -> Result<(), ScenarioError> {
    let (line, column) = (name.referenced.line(), name.referenced.column());
    let n = &name.value;
    let valid = !n.is_empty()
        && n.len() <= MAX_STEP_NAME
        && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(ScenarioError::at(
            path,
            line,
            column,
            format!(
                "step name {n:?} must be 1 to {MAX_STEP_NAME} letters, digits, `-`, `_` or `.`"
            ),
        ));
    }
    if let Some(first) = seen.insert(n.clone(), line) {
        return Err(ScenarioError::at(
            path,
            line,
            column,
            format!("step name {n:?} is used twice (first on line {first})"),
        ));
    }
    Ok(())
}

/// Rejects `value` above `max`, at the value's own position, naming the field and both numbers.
fn at_most<T: PartialOrd + fmt::Display>(
    path: &Path,
    field: &str,
    value: &Spanned<T>,
    max: T,
) -> Result<(), ScenarioError> {
    if value.value > max {
        return Err(ScenarioError::at(
            path,
            value.referenced.line(),
            value.referenced.column(),
            format!("{field} is {}, above the limit of {max}", value.value),
        ));
    }
    Ok(())
}

/// Expected counts above [`MAX_OBJECTS`] could only be met by objects the scenario cannot have
/// written; an HTTP code outside 100..=599 can never come back.
fn check_api_expect(path: &Path, step: &str, e: &ApiExpect) -> Result<(), ScenarioError> {
    let counts = [
        (&e.count, "count"),
        (&e.rewritten, "rewritten"),
        (&e.unchanged, "unchanged"),
        (&e.conflicts, "conflicts"),
    ];
    for (n, name) in counts {
        if let Some(n) = n {
            at_most(path, &format!("{step}.expect.{name}"), n, MAX_OBJECTS)?;
        }
    }
    if let Some(code) = &e.code
        && !(100..=599).contains(&code.value)
    {
        return Err(ScenarioError::at(
            path,
            code.referenced.line(),
            code.referenced.column(),
            format!("{step}.expect.code is {}, not an HTTP status (100 to 599)", code.value),
        ));
    }
    Ok(())
}

fn check_stored(
    checks: &[StoredCheck],
    check_config: &dyn Fn(&Spanned<String>) -> Result<(), ScenarioError>,
    at: &dyn Fn(String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    if checks.is_empty() {
        return Err(at(format!("expect at least one of {}", STORED_CHECK_FIELDS.join(", "))));
    }
    // A misspelled configuration name is a load error, not a failed check at run time.
    for c in checks.iter().filter_map(StoredCheck::config) {
        check_config(c)?;
    }
    Ok(())
}

impl ObjectStep {
    /// The object (or the name prefix with `count`).
    pub fn object(&self) -> ObjectDef {
        ObjectDef {
            secret: self.secret.clone(),
            configmap: self.configmap.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The objects the step addresses (one, or `count`).
    pub fn objects(&self) -> Vec<ObjectRef> {
        let base = self.object().object_ref();
        match &self.count {
            None => vec![base],
            Some(n) => (0..n.value)
                .map(|i| ObjectRef { name: format!("{}-{i}", base.name), ..base.clone() })
                .collect(),
        }
    }
}

impl ObjectDef {
    /// The object (checked at load).
    pub fn object_ref(&self) -> ObjectRef {
        self.resolve().expect("checked at load")
    }
}
