//! The scenario file format (`scenarios/*.yaml`), documented in `scenarios/README.md`.
//!
//! Decoding is strict: unknown fields and unknown step kinds are errors, every error names
//! `file:line:col`. After decoding, [`load`] checks what serde cannot: references to
//! configurations, object addressing, and that the scenario expects something at all.

mod expect;
mod load;
mod steps;

pub use expect::*;
pub use load::*;
pub use steps::*;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use atrest_backend::{Controls, HostPathMount, Kind, ObjectRef};
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
    /// The apiservers' static-pod `hostPath` volumes; without it, the configuration file's
    /// directory is mounted at itself. With it, a flag naming a path no mount covers finds no
    /// file, whatever the host holds there.
    #[serde(default)]
    #[schemars(with = "Option<Vec<MountDef>>")]
    pub mounts: Option<Spanned<Vec<MountDef>>>,
    /// The etcd member's settings.
    #[serde(default)]
    pub etcd: EtcdDef,
}

/// The etcd member's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdDef {
    /// `--quota-backend-bytes` (at least 1): once the database would grow past it, etcd raises
    /// the `NOSPACE` alarm and refuses every write until an operator compacts, defragments and
    /// disarms it. Without it, etcd's default of 2 GiB.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub quota_backend_bytes: Option<u64>,
}

impl Default for ClusterDef {
    fn default() -> Self {
        ClusterDef {
            apiservers: spanned_one(),
            encryption_config: default_config_path(),
            automatic_reload: false,
            kms_plugins: Vec::new(),
            mounts: None,
            etcd: EtcdDef::default(),
        }
    }
}

/// A `hostPath` volume of the apiservers' static pod (read-only, as kubeadm mounts its
/// directories): `hostPath` of the cluster's file tree appears at `mountPath` inside.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MountDef {
    /// A directory on the node (absolute, no `..`).
    pub host_path: String,
    /// Where the apiserver sees it (absolute, no `..`, not `/`).
    pub mount_path: String,
}

/// Why a list of mounts cannot be laid out, if it cannot.
pub fn mounts_problem(mounts: &[MountDef]) -> Option<String> {
    mounts.iter().find_map(MountDef::problem).or_else(|| {
        let list: Vec<HostPathMount> = mounts.iter().map(MountDef::to_mount).collect();
        HostPathMount::nested(&list).map(|p| format!("mounts: {p}"))
    })
}

impl MountDef {
    /// The boundary's form.
    pub fn to_mount(&self) -> HostPathMount {
        HostPathMount { host_path: self.host_path.clone(), mount_path: self.mount_path.clone() }
    }

    /// Why this mount cannot be laid out, if it cannot.
    pub fn problem(&self) -> Option<String> {
        for (field, p) in [("hostPath", &self.host_path), ("mountPath", &self.mount_path)] {
            let path = Path::new(p);
            if !path.is_absolute()
                || path.components().any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Some(format!("mounts: {field} {p:?} is not an absolute path without `..`"));
            }
        }
        if self.mount_path.trim_end_matches('/').is_empty() {
            return Some("mounts: mountPath \"/\" would hide the apiserver's own image".into());
        }
        None
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

impl Scenario {
    /// What in this scenario a backend named `backend`, with `controls` and `apiservers`
    /// apiservers, cannot do: one line per cluster setting or step (empty: it can run it all).
    pub fn unsupported(
        &self,
        backend: &str,
        controls: &Controls,
        apiservers: usize,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        if self.cluster.apiservers.value > apiservers {
            lines.push(format!(
                "cluster.apiservers: the scenario needs {} apiservers, the {backend} backend has {apiservers}",
                self.cluster.apiservers.value
            ));
        }
        if !self.cluster.kms_plugins.is_empty() && !controls.kms_plugins {
            lines.push(format!(
                "cluster.kmsPlugins: the {backend} backend cannot {}",
                Need::KmsPlugins.doing()
            ));
        }
        if self.cluster.etcd != EtcdDef::default() && !Need::Members.met_by(controls) {
            lines.push(format!(
                "cluster.etcd: the {backend} backend cannot {}",
                Need::Members.doing()
            ));
        }
        if self.cluster.mounts.is_some() && !controls.apiservers {
            lines.push(format!(
                "cluster.mounts: the {backend} backend cannot {}",
                Need::Apiservers.doing()
            ));
        }
        for (n, placed) in self.steps.iter().enumerate() {
            let need = placed.step.needs();
            if !need.met_by(controls) {
                lines.push(format!(
                    "step {} (line {}) `{}`: the {backend} backend cannot {}",
                    n + 1,
                    placed.line,
                    placed.step.kind(),
                    need.doing()
                ));
            }
        }
        lines
    }
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
