//! The scenario file format (`scenarios/*.yaml`), documented in `scenarios/README.md`.
//!
//! Decoding is strict: unknown fields and unknown step kinds are errors, every error names
//! `file:line:col`. After decoding, [`load`] checks what serde cannot: references to
//! configurations, object addressing, and that the scenario expects something at all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use atrest_backend::{Kind, ObjectRef};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Where the apiservers read their encryption configuration unless a scenario says otherwise
/// (kubeadm's layout with a dedicated directory mounted into the static pod).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/kubernetes/enc/encryption-config.yaml";

/// A decoded scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioFile {
    /// One line shown by `scenarios`.
    pub description: String,
    /// The cluster to run on.
    #[serde(default)]
    pub cluster: ClusterDef,
    /// Named configuration templates (`${key:NAME}` placeholders) or files.
    #[serde(default)]
    pub configs: BTreeMap<String, Spanned<ConfigDef>>,
    /// What to do, in order.
    pub steps: Vec<Spanned<Step>>,
}

/// The cluster a scenario needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterDef {
    /// How many apiservers share the etcd.
    #[serde(default = "one")]
    pub apiservers: usize,
    /// `--encryption-provider-config` of every apiserver (`null`: the flag is not set);
    /// `{apiserver}` in it is replaced by the apiserver's index, giving each its own file.
    #[serde(default = "default_config_path")]
    pub encryption_config: Option<String>,
    /// `--encryption-provider-config-automatic-reload`.
    #[serde(default)]
    pub automatic_reload: bool,
}

impl Default for ClusterDef {
    fn default() -> Self {
        ClusterDef {
            apiservers: 1,
            encryption_config: default_config_path(),
            automatic_reload: false,
        }
    }
}

fn one() -> usize {
    1
}

#[expect(clippy::unnecessary_wraps, reason = "serde default for an Option field")]
fn default_config_path() -> Option<String> {
    Some(DEFAULT_CONFIG_PATH.to_owned())
}

/// A named configuration: an inline template, or a file relative to the scenario file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ConfigDef {
    /// Inline YAML with `${key:NAME}` placeholders.
    Inline(String),
    /// A file.
    File {
        /// Path relative to the scenario file.
        file: String,
    },
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// What a start or restart must end in (default: ready).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartExpect {
    /// The process exits with exactly this `err`.
    #[serde(default)]
    pub error: Option<String>,
    /// It keeps running but never becomes ready.
    #[serde(default)]
    pub not_ready: bool,
}

/// What an API request must answer (default: success).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiExpect {
    /// The request fails with exactly this message.
    #[serde(default)]
    pub error: Option<String>,
    /// The request fails with a message containing this.
    #[serde(default)]
    pub error_contains: Option<String>,
    /// The request fails with this HTTP code.
    #[serde(default)]
    pub code: Option<u16>,
    /// On success: exactly this data (default for `get`: the data the scenario last wrote).
    #[serde(default)]
    pub data: Option<BTreeMap<String, String>>,
    /// On success (`list`): this many objects.
    #[serde(default)]
    pub count: Option<usize>,
    /// On success (`rewrite`): this many objects were written (resourceVersion changed).
    #[serde(default)]
    pub rewritten: Option<usize>,
    /// On success (`rewrite`): this many were left as they were (a no-op update).
    #[serde(default)]
    pub unchanged: Option<usize>,
    /// On success (`rewrite`): this many replaces conflicted and were retried.
    #[serde(default)]
    pub conflicts: Option<usize>,
}

impl ApiExpect {
    /// Whether the request is expected to fail.
    pub fn expects_failure(&self) -> bool {
        self.error.is_some() || self.error_contains.is_some() || self.code.is_some()
    }
}

/// What a raw etcd value must look like.
#[derive(Debug, Clone, Default)]
pub struct StoredExpect {
    /// `identity`, `aescbc`, `aesgcm`, `secretbox`, `kms`.
    pub provider: Option<String>,
    /// The key name in the prefix (`k8s:enc:<provider>:v1:<key>:`).
    pub key: Option<String>,
    /// Whether the value is plaintext (readable in etcd without any key).
    pub plaintext: Option<bool>,
    /// A configuration (by name) whose providers must decrypt the value.
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt the value.
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is current.
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is stale.
    pub stale_with: Option<Spanned<String>>,
}

/// One step. The YAML form is a one-key map: `- restart: {}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Write a configuration to the flag's path (or `path`).
    WriteConfig {
        /// The configuration's name.
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
}

/// `waitForReload`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReloadStep {
    /// Which apiservers.
    #[serde(default)]
    pub apiserver: Target,
    /// `loaded`: `apiserver_encryption_config_controller_last_config_info` carries the sha256 of
    /// the file written last. `failed`: the reload failure counter went up and the old hash stays.
    pub expect: ReloadExpect,
    /// Deadline (kube-apiserver polls the file once a minute).
    #[serde(default = "default_reload_timeout")]
    pub timeout_seconds: u64,
}

/// What a reload must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadExpect {
    /// The new file is in use.
    Loaded,
    /// The new file was rejected; the old configuration stays.
    Failed,
}

fn default_reload_timeout() -> u64 {
    180
}

fn some_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A step on one object. (Fields are spelled out rather than flattened: serde cannot reject
/// unknown fields through `flatten`.)
#[derive(Debug, Deserialize)]
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
    /// Repeat for `<name>-0` … `<name>-<count-1>`.
    #[serde(default)]
    pub count: Option<usize>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
    /// What it must answer.
    #[serde(default)]
    pub expect: Option<ApiExpect>,
}

/// `expectStored`: one raw etcd value.
#[derive(Debug, Deserialize)]
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
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt the value.
    #[serde(default)]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is current: it decrypts with the
    /// provider and key that configuration writes with (`atrest inspect`'s `current`).
    #[serde(default)]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which the value is stale: readable, but not with its
    /// write key, so the next update rewrites it.
    #[serde(default)]
    pub stale_with: Option<Spanned<String>>,
}

/// `expectAll`: every raw etcd value of a resource.
#[derive(Debug, Deserialize)]
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
    pub decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) whose providers must fail to decrypt every value.
    #[serde(default)]
    pub not_decryptable_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is current.
    #[serde(default)]
    pub current_with: Option<Spanned<String>>,
    /// A configuration (by name) under which every value is stale.
    #[serde(default)]
    pub stale_with: Option<Spanned<String>>,
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

    /// The expectation.
    pub fn expect(&self) -> StoredExpect {
        StoredExpect {
            provider: self.provider.clone(),
            key: self.key.clone(),
            plaintext: self.plaintext,
            decryptable_with: self.decryptable_with.clone(),
            not_decryptable_with: self.not_decryptable_with.clone(),
            current_with: self.current_with.clone(),
            stale_with: self.stale_with.clone(),
        }
    }
}

impl AllStep {
    /// The expectation.
    pub fn expect(&self) -> StoredExpect {
        StoredExpect {
            provider: self.provider.clone(),
            key: self.key.clone(),
            plaintext: self.plaintext,
            decryptable_with: self.decryptable_with.clone(),
            not_decryptable_with: self.not_decryptable_with.clone(),
            current_with: self.current_with.clone(),
            stale_with: self.stale_with.clone(),
        }
    }
}

/// A step on a whole resource.
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConcurrentUpdate {
    /// Which objects: every n-th of those the scenario wrote (1: all).
    #[serde(default = "one")]
    pub every: usize,
    /// The new data.
    pub data: BTreeMap<String, String>,
    /// Through which apiserver (default 0).
    #[serde(default)]
    pub apiserver: usize,
}

/// A timed series of requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MeasureStep {
    /// Label in the report (e.g. the provider).
    pub name: String,
    /// Secrets to create (named `<name>-<i>` in namespace default) and then read.
    pub objects: usize,
    /// Bytes of data per object.
    #[serde(default = "default_size")]
    pub size: usize,
    /// The label the ratios are computed against.
    #[serde(default)]
    pub baseline: Option<String>,
}

fn default_size() -> usize {
    1024
}

/// A step with where it is in the file.
#[derive(Debug)]
pub struct PlacedStep {
    /// 1-based line of the step.
    pub line: u64,
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
    /// It could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
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

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
    parse(path, &text)
}

/// Checks a scenario given as text (`path` names it in errors and anchors `file:` configs,
/// which are read from disk).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, text, |file| std::fs::read_to_string(file))
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
    for (cname, def) in file.configs {
        let (line, column) = (def.referenced.line(), def.referenced.column());
        let text = match def.value {
            ConfigDef::Inline(t) => t,
            ConfigDef::File { file } => read(&base.join(&file)).map_err(|e| {
                ScenarioError::at(
                    path,
                    line,
                    column,
                    format!("config {cname:?}: cannot read {file}: {e}"),
                )
            })?,
        };
        configs.insert(cname, text);
    }
    if file.cluster.apiservers == 0 {
        return Err(ScenarioError::at(path, 1, 1, "cluster.apiservers must be at least 1"));
    }
    let mut expectations = 0;
    let mut steps = Vec::new();
    for placed in file.steps {
        let (line, column) = (placed.referenced.line(), placed.referenced.column());
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
        let check_target = |t: Target| match t {
            Target::One(i) if i >= file.cluster.apiservers => Err(at(format!(
                "apiserver {i} does not exist (the cluster has {})",
                file.cluster.apiservers
            ))),
            _ => Ok(()),
        };
        match &placed.value {
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
                if let Some(e) = expect {
                    if e.error.is_some() && e.not_ready {
                        return Err(at("expect: `error` and `notReady` exclude each other".into()));
                    }
                    expectations += 1;
                }
            }
            Step::Create(s) | Step::Update(s) | Step::Get(s) | Step::Delete(s) => {
                s.object().resolve().map_err(at)?;
                check_target(Target::One(s.apiserver))?;
                if s.expect.is_some() {
                    expectations += 1;
                }
            }
            Step::List(s) | Step::Rewrite(s) => {
                check_target(Target::One(s.apiserver))?;
                if let Some(c) = &s.concurrent_update {
                    if !matches!(placed.value, Step::Rewrite(_)) {
                        return Err(at("`concurrentUpdate` belongs to `rewrite` steps".into()));
                    }
                    if c.every == 0 {
                        return Err(at("concurrentUpdate.every must be at least 1".into()));
                    }
                    check_target(Target::One(c.apiserver))?;
                }
                if s.expect.is_some() {
                    expectations += 1;
                }
            }
            Step::ExpectStored(st) => {
                st.object().resolve().map_err(at)?;
                check_stored(&st.expect(), &check_config, &at)?;
                expectations += 1;
            }
            Step::ExpectAll(all) => {
                check_stored(&all.expect(), &check_config, &at)?;
                expectations += 1;
            }
            Step::WaitForReload(r) => {
                check_target(r.apiserver)?;
                expectations += 1;
            }
            Step::Measure(m) => {
                if m.objects == 0 {
                    return Err(at("measure.objects must be at least 1".into()));
                }
            }
        }
        steps.push(PlacedStep { line, step: placed.value });
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

fn check_stored(
    e: &StoredExpect,
    check_config: &dyn Fn(&Spanned<String>) -> Result<(), ScenarioError>,
    at: &dyn Fn(String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    if e.provider.is_none()
        && e.key.is_none()
        && e.plaintext.is_none()
        && e.decryptable_with.is_none()
        && e.not_decryptable_with.is_none()
    {
        return Err(at(
            "expect at least one of provider, key, plaintext, decryptableWith, notDecryptableWith"
                .into(),
        ));
    }
    if let Some(c) = &e.decryptable_with {
        check_config(c)?;
    }
    if let Some(c) = &e.not_decryptable_with {
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
        match self.count {
            None => vec![base],
            Some(n) => (0..n)
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
