//! Runs a [`Scenario`] over any [`Cluster`] and proves each step by what the cluster answers
//! and what etcd holds.
//!
//! Failed expectations are data in the [`Report`]; a harness failure (the backend broke, an
//! apiserver did not start when the scenario did not expect that) stops the run with
//! [`Outcome::Error`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use atrest_backend::wait::Ticker;
use atrest_backend::{
    ApiError, ApiServerSpec, BackendError, Cluster, ClusterSpec, Data, Kind, KmsAction, KmsCalls,
    KmsPluginSpec, Object, ObjectRef, StartFailure, error_chain,
};
use atrest_config::load;

use crate::metrics::ReloadMetrics;
use crate::report::{Check, Latency, Measurement, Outcome, Report, StepOutcome, StepReport};
use crate::schema::{
    ApiExpect, DEFAULT_CONFIG_PATH, KeyIdStep, KmsCallsStep, KmsPluginStep, ListStep, MeasureStep,
    ObjectStep, PreflightStep, ProbeStep, ReloadExpect, ReloadStep, Scenario, StartExpect, Step,
    StoredCheck, Target,
};
use crate::stored::{Decrypter, StoredValue};
use crate::template::{Secrets, TemplateError};
use atrest_inspect::ObjectState;
use atrest_inspect::preflight::Preflight;

/// How many times a rewrite retries an object that changed under it.
const REWRITE_CONFLICT_RETRIES: usize = 5;

/// Run-time choices.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Configurations supplied by the user (`--config NAME=FILE`), replacing the scenario's.
    pub user_configs: BTreeMap<String, String>,
    /// Values for `${key:NAME:BYTES}` placeholders, by NAME: `(BYTES, base64 text)`. Unbound
    /// placeholders get fresh random keys. `Debug` shows the names only.
    pub bound_keys: BoundKeys,
}

/// Key values bound to placeholder names (see [`RunOptions::bound_keys`]).
#[derive(Default, Clone)]
pub struct BoundKeys(pub BTreeMap<String, (usize, zeroize::Zeroizing<String>)>);

impl std::fmt::Debug for BoundKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Why a run could not begin.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A configuration template is wrong (one given with `--config`: the scenario's own are
    /// checked when it is loaded). The position is in the configuration's text.
    #[error("scenario {scenario}: config {config:?}, line {line}, column {column}")]
    Template {
        /// The scenario.
        scenario: String,
        /// The configuration's name.
        config: String,
        /// 1-based line in the configuration.
        line: u64,
        /// 1-based column.
        column: u64,
        /// Why.
        #[source]
        source: TemplateError,
    },
    /// A key bound by the caller ([`RunOptions::bound_keys`]) or by a user's file in place of a
    /// template clashes with another binding of the same name.
    #[error("scenario {scenario}: bound keys")]
    BoundKey {
        /// The scenario.
        scenario: String,
        /// Why.
        #[source]
        source: TemplateError,
    },
    /// A key of a `--config` file stands where the template asks for another key size.
    #[error(
        "scenario {scenario}: --config {config}: the {place} is {user_bytes} bytes, but the scenario's ${{key:{placeholder}}} at its place is {bytes}"
    )]
    KeySize {
        /// The scenario.
        scenario: String,
        /// The configuration replaced.
        config: String,
        /// Provider and key name.
        place: String,
        /// The placeholder name.
        placeholder: String,
        /// What the template asks for.
        bytes: usize,
        /// What the user's key has.
        user_bytes: usize,
    },
    /// `--config` names a configuration the scenario does not define.
    #[error("scenario {scenario} has no config named {name:?} (it defines: {defined})")]
    UnknownConfig {
        /// The scenario.
        scenario: String,
        /// The name given.
        name: String,
        /// The names defined.
        defined: String,
    },
}

/// Configurations of one run, rendered with fresh keys.
#[derive(Debug)]
pub struct Prepared {
    configs: BTreeMap<String, String>,
    secrets: Secrets,
}

impl Scenario {
    /// The cluster this scenario runs on.
    pub fn cluster_spec(&self) -> ClusterSpec {
        ClusterSpec {
            apiservers: (0..self.cluster.apiservers.value)
                .map(|i| ApiServerSpec {
                    encryption_config: self
                        .cluster
                        .encryption_config
                        .as_ref()
                        .map(|p| p.replace("{apiserver}", &i.to_string())),
                    automatic_reload: self.cluster.automatic_reload,
                })
                .collect(),
            kms_plugins: self
                .cluster
                .kms_plugins
                .iter()
                .map(|p| KmsPluginSpec { name: p.value.name.clone(), socket: p.value.socket() })
                .collect(),
        }
    }

    /// Renders every configuration (fresh keys) and gathers the texts reports must not show.
    pub fn prepare(&self, opts: &RunOptions) -> Result<Prepared, EngineError> {
        let mut secrets = Secrets::default();
        for (name, (bytes, value)) in &opts.bound_keys.0 {
            secrets
                .bind_key(name, *bytes, value)
                .map_err(|source| EngineError::BoundKey { scenario: self.name.clone(), source })?;
        }
        // A user's file in place of a template gives the template's placeholders its keys.
        for (config, user) in &opts.user_configs {
            let Some(template) = self.configs.get(config) else { continue };
            for b in crate::bind::bindings(template, user) {
                if b.user_bytes != b.bytes {
                    return Err(EngineError::KeySize {
                        scenario: self.name.clone(),
                        config: config.clone(),
                        place: b.place,
                        placeholder: b.name,
                        bytes: b.bytes,
                        user_bytes: b.user_bytes,
                    });
                }
                secrets.bind_key(&b.name, b.bytes, &b.value).map_err(|source| {
                    EngineError::BoundKey { scenario: self.name.clone(), source }
                })?;
            }
        }
        let mut configs = BTreeMap::new();
        for name in opts.user_configs.keys() {
            if !self.configs.contains_key(name) {
                return Err(EngineError::UnknownConfig {
                    scenario: self.name.clone(),
                    name: name.clone(),
                    defined: self.configs.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
        for (name, template) in &self.configs {
            let template = opts.user_configs.get(name).unwrap_or(template);
            let rendered = secrets.render(template).map_err(|source| {
                let (line, column) =
                    crate::template::line_col(template, source.offset().unwrap_or(0));
                EngineError::Template {
                    scenario: self.name.clone(),
                    config: name.clone(),
                    line,
                    column,
                    source,
                }
            })?;
            // Literal keys in a configuration are secrets too: whatever sits where atrest-config
            // redacts key material (any style, tag or document), as the source spells it and as
            // parsed, so that the real apiserver's echo of the file is scrubbed the same way.
            for literal in atrest_config::decode::secret_literals(rendered.as_bytes()) {
                secrets.add(literal);
            }
            configs.insert(name.clone(), rendered);
        }
        for placed in &self.steps {
            if let Step::Rewrite(l) = &placed.step
                && let Some(c) = &l.concurrent_update
            {
                for v in c.data.values() {
                    secrets.add(v.clone());
                }
            }
            if let Step::Create(s) | Step::Update(s) | Step::Get(s) = &placed.step {
                for v in s.data.values() {
                    secrets.add(v.clone());
                }
                if let Some(d) = s.expect.as_ref().and_then(|e| e.data.as_ref()) {
                    for v in d.values() {
                        secrets.add(v.clone());
                    }
                }
            }
        }
        Ok(Prepared { configs, secrets })
    }
}

/// Called after each step (progress lines).
pub trait Progress {
    /// A step finished.
    fn step(&mut self, step: &StepReport);
}

impl<F: FnMut(&StepReport)> Progress for F {
    fn step(&mut self, step: &StepReport) {
        self(step);
    }
}

/// Runs `scenario` on `cluster`. The cluster is left running; the caller shuts it down (and
/// keeps its logs when the outcome is not [`Outcome::Passed`]).
pub async fn run<C: Cluster>(
    scenario: &Scenario,
    prepared: Prepared,
    cluster: &mut C,
    progress: &mut dyn Progress,
) -> Report {
    let started = Instant::now();
    let mut engine = Engine {
        cluster,
        configs: prepared.configs,
        secrets: prepared.secrets,
        flags: scenario.cluster_spec().apiservers,
        state: vec![ServerState::Stopped; scenario.cluster.apiservers.value],
        tracked: BTreeMap::new(),
        measurements: Vec::new(),
        written: BTreeMap::new(),
        baseline: None,
        kms_plugins: scenario.cluster.kms_plugins.iter().map(|p| p.value.name.clone()).collect(),
        kms_calls: BTreeMap::new(),
    };
    let mut steps = Vec::new();
    let mut error = None;
    for (n, placed) in scenario.steps.iter().enumerate() {
        let t = Instant::now();
        let mut rec = Rec::default();
        let action = describe(&placed.step);
        let _span =
            tracing::info_span!("step", index = n + 1, line = placed.line, action = %action)
                .entered();
        let mut result = engine.step(&placed.step, &mut rec).await;
        // A member that died on its own is the error, whatever the step saw: the step's own
        // failures are its consequences. Scenarios cannot expect such an exit yet.
        if let Some(exit) = engine.cluster.unexpected_exit() {
            result = Err(StepError::Backend(BackendError::MemberExited(exit)));
        }
        let outcome = match &result {
            Err(_) => StepOutcome::Error,
            Ok(()) if rec.checks.iter().any(|c| !c.held) => StepOutcome::Failed,
            Ok(()) => StepOutcome::Ok,
        };
        if let Err(e) = result {
            let text = engine.norm(&error_chain(&e));
            rec.observations.push(format!("harness error: {text}"));
            error = Some(text);
        }
        let report = StepReport {
            index: n + 1,
            line: placed.line,
            action,
            outcome,
            observations: rec.observations,
            checks: rec.checks,
            duration_ms: t.elapsed().as_secs_f64() * 1000.0,
        };
        progress.step(&report);
        steps.push(report);
        if error.is_some() {
            break;
        }
    }
    let outcome = if error.is_some() {
        Outcome::Error
    } else if steps.iter().any(|s| s.outcome == StepOutcome::Failed) {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    let mut measurements = engine.measurements;
    finish_ratios(&mut measurements, engine.baseline.as_deref());
    Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        backend: engine.cluster.backend_name().to_owned(),
        outcome,
        error,
        steps,
        measurements,
        logs: None,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// A harness failure inside a step.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Harness(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Stopped,
    Ready,
    NotReady,
}

#[derive(Default)]
struct Rec {
    observations: Vec<String>,
    checks: Vec<Check>,
}

impl Rec {
    fn note(&mut self, text: impl Into<String>) {
        self.observations.push(text.into());
    }

    fn check(
        &mut self,
        what: impl Into<String>,
        held: bool,
        expected: Option<String>,
        actual: impl Into<String>,
    ) {
        self.checks.push(Check { what: what.into(), held, expected, actual: actual.into() });
    }
}

struct Engine<'c, C> {
    cluster: &'c mut C,
    configs: BTreeMap<String, String>,
    secrets: Secrets,
    flags: Vec<ApiServerSpec>,
    state: Vec<ServerState>,
    /// Every object the scenario wrote and still expects to exist, with its data.
    tracked: BTreeMap<ObjectRef, Data>,
    measurements: Vec<Measurement>,
    /// Per running apiserver: the hash of the configuration file written last to its path, and
    /// its reload failure counter at that moment.
    written: BTreeMap<usize, (String, f64)>,
    /// The measurement ratios are computed against (`measure.baseline`).
    baseline: Option<String>,
    /// The names of the cluster's KMS plugins.
    kms_plugins: Vec<String>,
    /// Per KMS plugin, its call counters at its last `expectKmsCalls`.
    kms_calls: BTreeMap<String, KmsCalls>,
}

/// What RFC 3339 times in apiserver texts become (`expired at 2026-12-05T10:00:00Z`): wall
/// times differ between runs and backends, so reports and expectations use this instead.
pub const TIME_MASK: &str = "<time>";

/// Replaces every RFC 3339 time (`2006-01-02T15:04:05Z`, with optional fraction and a `Z` or
/// `±hh:mm` zone) with [`TIME_MASK`].
fn mask_times(text: &str) -> String {
    fn digits(b: &[u8], at: usize, n: usize) -> bool {
        b.get(at..at + n).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        let date_time = digits(b, i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(b, i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(b, i + 8, 2)
            && b.get(i + 10) == Some(&b'T')
            && digits(b, i + 11, 2)
            && b.get(i + 13) == Some(&b':')
            && digits(b, i + 14, 2)
            && b.get(i + 16) == Some(&b':')
            && digits(b, i + 17, 2);
        if !date_time {
            i += 1;
            continue;
        }
        let mut end = i + 19;
        if b.get(end) == Some(&b'.') && digits(b, end + 1, 1) {
            end += 1;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        let zone = match b.get(end) {
            Some(b'Z') => Some(end + 1),
            Some(b'+' | b'-')
                if digits(b, end + 1, 2)
                    && b.get(end + 3) == Some(&b':')
                    && digits(b, end + 4, 2) =>
            {
                Some(end + 6)
            }
            _ => None,
        };
        match zone {
            Some(end) => {
                out.push_str(&text[copied..i]);
                out.push_str(TIME_MASK);
                (i, copied) = (end, end);
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Whether `/metrics` shows a KMS v2 `Status` answer with the key ID of hash `hash`.
fn status_key_id_seen(text: &str, hash: &str) -> bool {
    let label = format!("key_id_hash=\"{hash}\"");
    text.lines().any(|l| {
        l.starts_with("apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{")
            && l.contains(&label)
    })
}

fn describe(step: &Step) -> String {
    let obj = |verb: &str, s: &ObjectStep| {
        let o = s.object().object_ref();
        let via = if s.apiserver == 0 {
            String::new()
        } else {
            format!(" via apiserver {}", s.apiserver)
        };
        match s.count.as_ref().map(|n| n.value) {
            Some(n) => format!(
                "{verb} {n} {} {}/{}-0..{}{via}",
                o.kind.resource(),
                o.namespace,
                o.name,
                n.saturating_sub(1)
            ),
            None => format!("{verb} {} {}/{}{via}", o.kind.name(), o.namespace, o.name),
        }
    };
    let scope = |l: &ListStep| {
        l.namespace
            .as_ref()
            .map_or_else(|| "all namespaces".to_owned(), |n| format!("namespace {n}"))
    };
    match step {
        Step::WriteConfig { config, path, apiserver } => match (path, apiserver) {
            (Some(p), _) => format!("write config {} to {p}", config.value),
            (None, Target::All) => format!("write config {} where the flag points", config.value),
            (None, t) => format!("write config {} where the flag of {t} points", config.value),
        },
        Step::KmsPlugin(k) => match (&k.fault, k.rotate) {
            (Some(f), _) => format!("KMS plugin {}: fault {f:?}", k.name.value),
            (None, true) => format!("KMS plugin {}: rotate its key", k.name.value),
            (None, false) => format!("KMS plugin {}: clear faults", k.name.value),
        },
        Step::Probe(p) => match &p.timeout_seconds {
            None => format!("GET {} of apiserver {}", p.path, p.apiserver),
            Some(_) => format!(
                "poll GET {} of apiserver {} until it answers {}",
                p.path, p.apiserver, p.expect.code.value
            ),
        },
        Step::Wait(w) => format!("let {} s pass", w.seconds.value),
        Step::ExpectKmsCalls(c) => {
            format!(
                "count KMS plugin {}'s Encrypt and Decrypt calls since the last count",
                c.name.value
            )
        }
        Step::WaitForKmsKeyId(w) => format!(
            "wait until {} take{} KMS plugin {}'s current key ID",
            w.apiserver,
            if w.apiserver == Target::All { "" } else { "s" },
            w.name.value
        ),
        Step::WaitForReload(r) => format!(
            "wait until {} {} the file written last",
            r.apiserver,
            match r.expect {
                ReloadExpect::Loaded => "reloaded",
                ReloadExpect::Failed => "failed to reload",
            }
        ),
        Step::RemoveFile { path } => format!("remove {path}"),
        Step::SetFlags { apiserver, encryption_config, automatic_reload } => {
            let mut parts = Vec::new();
            if let Some(c) = encryption_config {
                parts.push(match c {
                    Some(p) => format!("--encryption-provider-config={p}"),
                    None => "no --encryption-provider-config".to_owned(),
                });
            }
            if let Some(r) = automatic_reload {
                parts.push(format!("--encryption-provider-config-automatic-reload={r}"));
            }
            format!("set flags of {apiserver}: {}", parts.join(" "))
        }
        Step::Start { apiserver, .. } => format!("start {apiserver}"),
        Step::Stop { apiserver } => format!("stop {apiserver}"),
        Step::Restart { apiserver, .. } => format!("restart {apiserver}"),
        Step::Create(s) => obj("create", s),
        Step::Update(s) => obj("update", s),
        Step::Get(s) => obj("get", s),
        Step::Delete(s) => obj("delete", s),
        Step::List(l) => format!("list {} in {}", l.resource.kind().resource(), scope(l)),
        Step::Rewrite(l) => {
            format!("rewrite every {} in {} (get | replace)", l.resource.kind().name(), scope(l))
        }
        Step::ExpectStored(st) => {
            let o = st.object().object_ref();
            format!("check etcd value of {} {}/{}", o.kind.name(), o.namespace, o.name)
        }
        Step::ExpectAll(all) => format!(
            "check every etcd value of {}{}",
            all.resource.kind().resource(),
            all.namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default()
        ),
        Step::Preflight(p) => {
            format!("preflight: Secrets and ConfigMaps in etcd under config {}", p.config.value)
        }
        Step::Measure(m) => {
            format!(
                "measure {} creates and gets of {} B Secrets ({})",
                m.objects.value, m.size.value, m.name
            )
        }
    }
}

fn targets(t: Target, n: usize) -> Vec<usize> {
    match t {
        Target::All => (0..n).collect(),
        Target::One(i) => vec![i],
    }
}

fn to_data(d: &BTreeMap<String, String>) -> Data {
    Data(d.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect())
}

fn describe_data(d: &Data) -> String {
    // Keys and sizes only: values are secrets.
    let parts: Vec<String> = d.0.iter().map(|(k, v)| format!("{k} ({} B)", v.len())).collect();
    format!("{{{}}}", parts.join(", "))
}

impl<C: Cluster> Engine<'_, C> {
    /// A text as reports show it: the backend's file root removed (paths read as the apiserver's
    /// flag names them), secrets redacted.
    fn norm(&self, text: &str) -> String {
        let text = match self.cluster.file_root() {
            Some(root) if !root.is_empty() => text.replace(root.trim_end_matches('/'), ""),
            _ => text.to_owned(),
        };
        mask_times(&self.secrets.redact(&text))
    }

    /// Where apiserver `i`'s flag points (the default path when it has no flag).
    fn flag_path(&self, i: usize) -> String {
        self.flags
            .get(i)
            .and_then(|f| f.encryption_config.clone())
            .unwrap_or_else(|| DEFAULT_CONFIG_PATH.to_owned())
    }

    async fn step(&mut self, step: &Step, rec: &mut Rec) -> Result<(), StepError> {
        match step {
            Step::WriteConfig { config, path, apiserver } => {
                let paths: BTreeSet<String> = match path {
                    Some(p) => BTreeSet::from([p.clone()]),
                    None => targets(*apiserver, self.flags.len())
                        .into_iter()
                        .map(|i| self.flag_path(i))
                        .collect(),
                };
                let text = self.configs.get(&config.value).cloned().unwrap_or_default();
                for path in paths {
                    // Reload failures are counted from here: what the metric said before the write.
                    for i in 0..self.flags.len() {
                        if self.flag_path(i) == path && self.state[i] != ServerState::Stopped {
                            let failures =
                                self.reload_metrics(i).await?.map_or(0.0, |m| m.failures);
                            self.written.insert(i, (load::content_hash(text.as_bytes()), failures));
                        }
                    }
                    // `${kms:NAME}` rendered to the socket's path in the cluster's tree; the
                    // apiserver dials it where the backend put it. The size reported is the
                    // cluster's view, the same on every backend.
                    let mut written = text.clone();
                    for plugin in &self.kms_plugins {
                        if let Some(endpoint) = self.cluster.kms_endpoint(plugin) {
                            written =
                                written.replace(&crate::template::kms_endpoint(plugin), &endpoint);
                        }
                    }
                    self.cluster.write_file(&path, written.as_bytes()).await?;
                    rec.note(format!("wrote {} bytes to {path}", text.len()));
                }
            }
            Step::WaitForReload(r) => self.wait_for_reload(r, rec).await?,
            Step::KmsPlugin(k) => self.kms_plugin(k, rec).await?,
            Step::WaitForKmsKeyId(w) => self.wait_for_key_id(w, rec).await?,
            Step::ExpectKmsCalls(c) => self.expect_kms_calls(c, rec).await?,
            Step::Wait(w) => {
                let d = std::time::Duration::from_secs(w.seconds.value);
                // The same report on both backends: a simulated clock moves, a real one waits.
                if !self.cluster.advance_clock(d) {
                    atrest_backend::wait::let_time_pass(d).await;
                }
            }
            Step::Probe(p) => self.probe(p, rec).await?,
            Step::RemoveFile { path } => {
                self.cluster.remove_file(path).await?;
                rec.note(format!("removed {path}"));
            }
            Step::SetFlags { apiserver, encryption_config, automatic_reload } => {
                for i in targets(*apiserver, self.flags.len()) {
                    if let Some(c) = encryption_config {
                        self.flags[i].encryption_config.clone_from(c);
                    }
                    if let Some(r) = automatic_reload {
                        self.flags[i].automatic_reload = *r;
                    }
                    self.cluster.configure_apiserver(i, self.flags[i].clone())?;
                }
                rec.note("takes effect at the next start");
            }
            Step::Stop { apiserver } => {
                for i in targets(*apiserver, self.flags.len()) {
                    self.cluster.stop_apiserver(i).await?;
                    self.state[i] = ServerState::Stopped;
                    rec.note(format!("apiserver {i} stopped"));
                }
            }
            Step::Start { apiserver, expect } => {
                self.start(*apiserver, expect.as_ref(), false, rec).await?
            }
            Step::Restart { apiserver, expect } => {
                self.start(*apiserver, expect.as_ref(), true, rec).await?
            }
            Step::Create(s) => self.create_or_update(s, true, rec).await?,
            Step::Update(s) => self.create_or_update(s, false, rec).await?,
            Step::Get(s) => self.get(s, rec).await?,
            Step::Delete(s) => self.delete(s, rec).await?,
            Step::List(l) => self.list(l, rec).await?,
            Step::Rewrite(l) => self.rewrite(l, rec).await?,
            Step::ExpectStored(st) => {
                let (id, checks) = (st.object().object_ref(), st.checks());
                let key = id.etcd_key(self.cluster.etcd_prefix());
                match self.cluster.raw_get(&key).await? {
                    None => rec.check(format!("{key} is in etcd"), false, None, "no such key"),
                    Some(entry) => {
                        let decrypters = self.decrypters(&checks);
                        self.check_stored(rec, id.kind, &key, &entry.value, &checks, &decrypters);
                    }
                }
            }
            Step::ExpectAll(all) => {
                let (namespace, checks) = (&all.namespace, all.checks());
                let kind = all.resource.kind();
                let mut prefix = format!(
                    "{}/{}/",
                    self.cluster.etcd_prefix().trim_end_matches('/'),
                    kind.resource()
                );
                if let Some(ns) = namespace {
                    prefix.push_str(ns);
                    prefix.push('/');
                }
                let entries = self.cluster.raw_list(&prefix).await?;
                let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
                for e in &entries {
                    *by_state.entry(StoredValue::of(&e.value).describe()).or_default() += 1;
                }
                rec.note(format!(
                    "{} values under {prefix}: {}",
                    entries.len(),
                    by_state.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
                ));
                let mut sub = Rec::default();
                let decrypters = self.decrypters(&checks);
                for e in &entries {
                    self.check_stored(&mut sub, kind, &e.key, &e.value, &checks, &decrypters);
                }
                let failed: Vec<&Check> = sub.checks.iter().filter(|c| !c.held).collect();
                let words: Vec<String> = checks.iter().map(StoredCheck::summary).collect();
                let what = format!("every value under {prefix}: {}", words.join(", "));
                if failed.is_empty() {
                    rec.check(
                        what,
                        !entries.is_empty(),
                        None,
                        format!("{} of {} values", entries.len(), entries.len()),
                    );
                } else {
                    let shown: Vec<String> = failed
                        .iter()
                        .take(5)
                        .map(|c| format!("{}: {}", c.what, c.actual))
                        .collect();
                    rec.check(
                        what,
                        false,
                        None,
                        format!(
                            "{} of {} values do not: {}",
                            failed.len(),
                            entries.len(),
                            shown.join("; ")
                        ),
                    );
                }
            }
            Step::Measure(m) => self.measure(m, rec).await?,
            Step::Preflight(p) => self.preflight(p, rec).await?,
        }
        Ok(())
    }

    /// `atrest preflight` over the Secrets and ConfigMaps in etcd (the resources every backend
    /// stores alike), under a named configuration.
    async fn preflight(&mut self, p: &PreflightStep, rec: &mut Rec) -> Result<(), StepError> {
        let name = &p.config.value;
        let text = self.configs.get(name).map_or("", String::as_str);
        let decrypter = match Decrypter::new(name, text, &self.kms_readers()) {
            Ok(d) => d,
            Err(e) => {
                rec.check(
                    format!("config {name} loads"),
                    false,
                    None,
                    format!("it does not: {}", self.norm(&e)),
                );
                return Ok(());
            }
        };
        let mut inspector = decrypter.inspector(self.cluster.etcd_prefix());
        for kind in [Kind::Secret, Kind::ConfigMap] {
            let prefix = format!(
                "{}/{}/",
                self.cluster.etcd_prefix().trim_end_matches('/'),
                kind.resource()
            );
            for e in self.cluster.raw_list(&prefix).await? {
                inspector.add(e.key.as_bytes(), &e.value);
            }
        }
        let verdict = Preflight::assess(&inspector.finish());
        for line in verdict.to_text().lines() {
            rec.note(line.trim().to_owned());
        }
        let e = &p.expect;
        if let Some(ready) = e.ready {
            rec.check(
                format!(
                    "preflight predicts the apiserver {} ready under {name}",
                    if ready { "becomes" } else { "never becomes" }
                ),
                verdict.ready == ready,
                Some(ready.to_string()),
                verdict.ready.to_string(),
            );
        }
        if let Some(n) = &e.unreadable {
            rec.check(
                format!(
                    "preflight predicts {} unreadable Secrets and ConfigMaps under {name}",
                    n.value
                ),
                verdict.unreadable == n.value as u64,
                Some(n.value.to_string()),
                verdict.unreadable.to_string(),
            );
        }
        if let Some(n) = &e.stale {
            rec.check(
                format!("preflight predicts {} stale Secrets and ConfigMaps under {name}", n.value),
                verdict.stale == n.value as u64,
                Some(n.value.to_string()),
                verdict.stale.to_string(),
            );
        }
        Ok(())
    }

    /// Loads every configuration the checks name, once per step (an `expectAll` checks many
    /// values against the same ones).
    fn decrypters(&self, checks: &[StoredCheck]) -> BTreeMap<String, Result<Decrypter, String>> {
        let kms = self.kms_readers();
        checks
            .iter()
            .filter_map(StoredCheck::config)
            .map(|c| {
                let text = self.configs.get(&c.value).map_or("", String::as_str);
                (c.value.clone(), Decrypter::new(&c.value, text, &kms))
            })
            .collect()
    }

    /// The cluster's KMS plugins as the harness reads with them (not counted in their calls),
    /// by the endpoint the scenario's configurations name (`${kms:NAME}` in the cluster's
    /// tree, before `writeConfig` maps it to where the backend put the socket).
    fn kms_readers(&self) -> Vec<(String, std::sync::Arc<dyn atrest_transformers::KmsV2Plugin>)> {
        self.kms_plugins
            .iter()
            .filter_map(|n| Some((crate::template::kms_endpoint(n), self.cluster.kms_reader(n)?)))
            .collect()
    }

    fn check_stored(
        &self,
        rec: &mut Rec,
        kind: Kind,
        key: &str,
        value: &[u8],
        checks: &[StoredCheck],
        decrypters: &BTreeMap<String, Result<Decrypter, String>>,
    ) {
        let sv = StoredValue::of(value);
        for check in checks {
            let what = check.claim(key);
            let (held, expected, actual) = match check {
                StoredCheck::Provider(p) => (sv.provider == *p, Some(p.clone()), sv.describe()),
                StoredCheck::Key(k) => {
                    (sv.key.as_deref() == Some(k.as_str()), Some(k.clone()), sv.describe())
                }
                StoredCheck::Plaintext(p) => (sv.is_plaintext() == *p, None, sv.describe()),
                StoredCheck::KmsKeyId(k) => (
                    sv.kms_key_id.as_deref() == Some(k.as_str()),
                    Some(k.clone()),
                    sv.kms_key_id.as_ref().map_or_else(
                        || format!("{} (no KMS v2 key ID)", sv.describe()),
                        |id| format!("key ID {id}"),
                    ),
                ),
                StoredCheck::DecryptableWith(c)
                | StoredCheck::NotDecryptableWith(c)
                | StoredCheck::CurrentWith(c)
                | StoredCheck::StaleWith(c) => {
                    let state = match decrypters.get(&c.value) {
                        Some(Ok(d)) => Ok(d.classify(kind.resource(), key, value)),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err("not loaded".to_owned()),
                    };
                    let held = state.as_ref().is_ok_and(|state| match check {
                        StoredCheck::DecryptableWith(_) => state.is_readable(),
                        StoredCheck::NotDecryptableWith(_) => !state.is_readable(),
                        StoredCheck::CurrentWith(_) => *state == ObjectState::Current,
                        _ => *state == ObjectState::Stale,
                    });
                    let actual = match &state {
                        Ok(ObjectState::Undecryptable { error }) => {
                            format!("undecryptable: {}", self.norm(&error.to_string()))
                        }
                        Ok(state) => state.name().to_owned(),
                        Err(e) => format!("config {} does not load: {}", c.value, self.norm(e)),
                    };
                    (held, None, actual)
                }
            };
            rec.check(what, held, expected, actual);
        }
    }

    async fn start(
        &mut self,
        t: Target,
        expect: Option<&StartExpect>,
        restart: bool,
        rec: &mut Rec,
    ) -> Result<(), StepError> {
        let servers = targets(t, self.flags.len());
        if restart {
            for &i in &servers {
                self.cluster.stop_apiserver(i).await?;
                self.state[i] = ServerState::Stopped;
            }
        }
        for &i in &servers {
            let outcome = self.cluster.start_apiserver(i).await?;
            let seen = match &outcome {
                Ok(()) => {
                    self.state[i] = ServerState::Ready;
                    "ready".to_owned()
                }
                Err(StartFailure::Exited { code, err }) => {
                    self.state[i] = ServerState::Stopped;
                    format!(
                        "exited{}: {}",
                        code.map(|c| format!(" with code {c}")).unwrap_or_default(),
                        self.norm(
                            err.as_deref().unwrap_or("(no \"command failed\" line in its log)")
                        )
                    )
                }
                Err(StartFailure::NotReady { failing }) => {
                    self.state[i] = ServerState::NotReady;
                    format!("running but not ready (failing checks: {})", failing.join(", "))
                }
            };
            rec.note(format!("apiserver {i}: {seen}"));
            match expect {
                None if outcome.is_err() => {
                    return Err(StepError::Harness(format!(
                        "apiserver {i} did not become ready and the scenario did not expect that: {seen}"
                    )));
                }
                None => {}
                Some(e) => {
                    if let Some(want) = &e.error {
                        let got = match &outcome {
                            Err(StartFailure::Exited { err: Some(err), .. }) => self.norm(err),
                            _ => seen.clone(),
                        };
                        rec.check(
                            format!("apiserver {i} exits with the expected error"),
                            got == *want,
                            Some(want.clone()),
                            got,
                        );
                    } else if e.not_ready {
                        rec.check(
                            format!("apiserver {i} runs but never becomes ready"),
                            matches!(outcome, Err(StartFailure::NotReady { .. })),
                            None,
                            seen.clone(),
                        );
                    } else {
                        rec.check(
                            format!("apiserver {i} becomes ready"),
                            outcome.is_ok(),
                            None,
                            seen.clone(),
                        );
                    }
                }
            }
        }
        self.integrity(rec).await
    }

    /// The check made after every (re)start and rewrite: every object the scenario wrote is
    /// still there, readable, with the data written last, through every running apiserver.
    async fn integrity(&mut self, rec: &mut Rec) -> Result<(), StepError> {
        if self.tracked.is_empty() {
            return Ok(());
        }
        let running: Vec<usize> =
            (0..self.state.len()).filter(|&i| self.state[i] != ServerState::Stopped).collect();
        if running.is_empty() {
            return Ok(());
        }
        if let Some(i) = running.iter().find(|&&i| self.state[i] == ServerState::NotReady) {
            rec.note(format!("no-loss check skipped: apiserver {i} is not ready"));
            return Ok(());
        }
        for i in running {
            let mut problems = Vec::new();
            let kinds: BTreeSet<Kind> = self.tracked.keys().map(|o| o.kind).collect();
            for kind in kinds {
                let namespaces: BTreeSet<&str> = self
                    .tracked
                    .keys()
                    .filter(|o| o.kind == kind)
                    .map(|o| o.namespace.as_str())
                    .collect();
                for ns in namespaces {
                    match self.cluster.list(i, kind, Some(ns)).await? {
                        Ok(objs) => {
                            let listed: BTreeSet<&str> =
                                objs.iter().map(|o| o.id.name.as_str()).collect();
                            let missing = self
                                .tracked
                                .keys()
                                .filter(|o| {
                                    o.kind == kind
                                        && o.namespace == ns
                                        && !listed.contains(o.name.as_str())
                                })
                                .count();
                            if missing > 0 {
                                problems.push(format!(
                                    "{missing} {} missing from the list of namespace {ns}",
                                    kind.resource()
                                ));
                            }
                        }
                        Err(e) => problems.push(format!(
                            "list {} in {ns}: {}",
                            kind.resource(),
                            self.norm(&e.message)
                        )),
                    }
                }
            }
            let ids: Vec<ObjectRef> = self.tracked.keys().cloned().collect();
            for id in &ids {
                match self.cluster.get(i, id).await? {
                    Ok(o) if Some(&o.data) == self.tracked.get(id) => {}
                    Ok(o) => {
                        problems.push(format!("{id}: data changed to {}", describe_data(&o.data)))
                    }
                    Err(e) => problems.push(format!("{id}: {}", self.norm(&e.message))),
                }
            }
            let what = format!(
                "no loss: all {} objects the scenario wrote read back unchanged via apiserver {i}",
                ids.len()
            );
            if problems.is_empty() {
                rec.check(what, true, None, format!("{} objects listed and read", ids.len()));
            } else {
                let n = problems.len();
                problems.truncate(5);
                rec.check(what, false, None, format!("{n} problems: {}", problems.join("; ")));
            }
        }
        Ok(())
    }

    fn check_api_error(
        &self,
        rec: &mut Rec,
        what: &str,
        expect: &ApiExpect,
        got: Result<(), &ApiError>,
    ) {
        match got {
            Ok(()) => {
                let want = expect
                    .error
                    .clone()
                    .or_else(|| expect.error_contains.clone())
                    .or_else(|| expect.code.as_ref().map(|c| format!("HTTP {}", c.value)));
                rec.check(format!("{what} fails"), false, want, "succeeded");
            }
            Err(e) => {
                let msg = self.norm(&e.message);
                if let Some(want) = &expect.error {
                    rec.check(
                        format!("{what} fails with the expected message"),
                        msg == *want,
                        Some(want.clone()),
                        msg.clone(),
                    );
                }
                if let Some(want) = &expect.error_contains {
                    rec.check(
                        format!("{what} fails with a message containing {want:?}"),
                        msg.contains(want.as_str()),
                        None,
                        msg.clone(),
                    );
                }
                if let Some(code) = expect.code.as_ref().map(|c| c.value) {
                    rec.check(
                        format!("{what} fails with HTTP {code}"),
                        e.code == code,
                        Some(code.to_string()),
                        format!("{} {}", e.code, e.reason),
                    );
                }
            }
        }
    }

    async fn create_or_update(
        &mut self,
        s: &ObjectStep,
        create: bool,
        rec: &mut Rec,
    ) -> Result<(), StepError> {
        let verb = if create { "create" } else { "update" };
        let data = to_data(&s.data);
        let expect = s.expect.clone().unwrap_or_default();
        let mut ok = 0;
        let mut failures = BTreeMap::<String, usize>::new();
        let objects = s.objects();
        for id in &objects {
            let object = Object { id: id.clone(), data: data.clone(), resource_version: None };
            let answer = if create {
                self.cluster.create(s.apiserver, &object).await?
            } else {
                self.cluster.update(s.apiserver, &object).await?
            };
            match answer {
                Ok(_) => {
                    ok += 1;
                    self.tracked.insert(id.clone(), data.clone());
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("{verb} {id}"), &expect, Ok(()));
                    }
                }
                Err(e) => {
                    *failures
                        .entry(format!("{} {}: {}", e.code, e.reason, self.norm(&e.message)))
                        .or_default() += 1;
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("{verb} {id}"), &expect, Err(&e));
                    } else {
                        rec.check(
                            format!("{verb} {id} succeeds"),
                            false,
                            None,
                            self.norm(&e.message),
                        );
                    }
                }
            }
        }
        if ok > 0 {
            rec.note(format!("{ok} {verb}d"));
        }
        for (text, n) in failures {
            rec.note(format!("{n} failed: {text}"));
        }
        Ok(())
    }

    async fn get(&mut self, s: &ObjectStep, rec: &mut Rec) -> Result<(), StepError> {
        let expect = s.expect.clone().unwrap_or_default();
        for id in s.objects() {
            match self.cluster.get(s.apiserver, &id).await? {
                Ok(o) => {
                    rec.note(format!("{id}: {}", describe_data(&o.data)));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("get {id}"), &expect, Ok(()));
                        continue;
                    }
                    let (want, source) = match &expect.data {
                        Some(d) => (Some(to_data(d)), "the expected data"),
                        None => (self.tracked.get(&id).cloned(), "the data written last"),
                    };
                    if let Some(want) = want {
                        rec.check(
                            format!("get {id} returns {source}"),
                            o.data == want,
                            Some(describe_data(&want)),
                            describe_data(&o.data),
                        );
                    } else {
                        rec.check(format!("get {id} succeeds"), true, None, "ok");
                    }
                }
                Err(e) => {
                    rec.note(format!("{id}: {} {}: {}", e.code, e.reason, self.norm(&e.message)));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("get {id}"), &expect, Err(&e));
                    } else {
                        rec.check(format!("get {id} succeeds"), false, None, self.norm(&e.message));
                    }
                }
            }
        }
        Ok(())
    }

    async fn delete(&mut self, s: &ObjectStep, rec: &mut Rec) -> Result<(), StepError> {
        let expect = s.expect.clone().unwrap_or_default();
        for id in s.objects() {
            match self.cluster.delete(s.apiserver, &id).await? {
                Ok(()) => {
                    self.tracked.remove(&id);
                    rec.note(format!("{id} deleted"));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("delete {id}"), &expect, Ok(()));
                    }
                }
                Err(e) => {
                    rec.note(format!("{id}: {} {}: {}", e.code, e.reason, self.norm(&e.message)));
                    if expect.expects_failure() {
                        self.check_api_error(rec, &format!("delete {id}"), &expect, Err(&e));
                    } else {
                        rec.check(
                            format!("delete {id} succeeds"),
                            false,
                            None,
                            self.norm(&e.message),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    async fn list(&mut self, l: &ListStep, rec: &mut Rec) -> Result<(), StepError> {
        let kind = l.resource.kind();
        let expect = l.expect.clone().unwrap_or_default();
        let what = format!("list {}", kind.resource());
        match self.cluster.list(l.apiserver, kind, l.namespace.as_deref()).await? {
            Ok(objs) => {
                rec.note(format!("{} {} listed", objs.len(), kind.resource()));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Ok(()));
                } else if let Some(n) = expect.count.as_ref().map(|n| n.value) {
                    rec.check(
                        format!("{what} returns {n} objects"),
                        objs.len() == n,
                        Some(n.to_string()),
                        objs.len().to_string(),
                    );
                }
            }
            Err(e) => {
                rec.note(format!("{} {}: {}", e.code, e.reason, self.norm(&e.message)));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Err(&e));
                } else {
                    rec.check(format!("{what} succeeds"), false, None, self.norm(&e.message));
                }
            }
        }
        Ok(())
    }

    /// `kubectl get <resource> -A -o json | kubectl replace -f -`: each object is replaced as
    /// read (with its resourceVersion); a conflict means someone wrote it meanwhile, so it is
    /// read again and replaced again with what is there now.
    async fn rewrite(&mut self, l: &ListStep, rec: &mut Rec) -> Result<(), StepError> {
        let kind = l.resource.kind();
        let expect = l.expect.clone().unwrap_or_default();
        let what = format!("rewrite {}", kind.resource());
        let objs = match self.cluster.list(l.apiserver, kind, l.namespace.as_deref()).await? {
            Ok(objs) => objs,
            Err(e) => {
                rec.note(format!(
                    "the list fails: {} {}: {}",
                    e.code,
                    e.reason,
                    self.norm(&e.message)
                ));
                if expect.expects_failure() {
                    self.check_api_error(rec, &what, &expect, Err(&e));
                } else {
                    rec.check(format!("{what} succeeds"), false, None, self.norm(&e.message));
                }
                return Ok(());
            }
        };
        let (mut rewritten, mut unchanged, mut conflicts) = (0, 0, 0);
        let mut failures = Vec::new();
        let mut own = 0;
        for obj in objs {
            if let Some(c) = &l.concurrent_update
                && self.tracked.contains_key(&obj.id)
            {
                own += 1;
                if (own - 1) % c.every.value.max(1) == 0 {
                    // Another client writes between our list and our replace.
                    let data = to_data(&c.data);
                    let other =
                        Object { id: obj.id.clone(), data: data.clone(), resource_version: None };
                    match self.cluster.update(c.apiserver, &other).await? {
                        Ok(_) => {
                            self.tracked.insert(obj.id.clone(), data);
                        }
                        Err(e) => failures.push(format!(
                            "concurrent update of {}: {}",
                            obj.id,
                            self.norm(&e.message)
                        )),
                    }
                }
            }
            let mut current = obj;
            let mut attempts = 0;
            loop {
                attempts += 1;
                match self.cluster.update(l.apiserver, &current).await? {
                    Ok(new) => {
                        if new.resource_version == current.resource_version {
                            unchanged += 1;
                        } else {
                            rewritten += 1;
                        }
                        break;
                    }
                    Err(e) if e.code == 409 && attempts <= REWRITE_CONFLICT_RETRIES => {
                        conflicts += 1;
                        match self.cluster.get(l.apiserver, &current.id).await? {
                            Ok(fresh) => current = fresh,
                            Err(e) => {
                                failures.push(format!("{}: {}", current.id, self.norm(&e.message)));
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        failures.push(format!("{}: {}", current.id, self.norm(&e.message)));
                        break;
                    }
                }
            }
        }
        rec.note(format!(
            "rewrote {rewritten}, unchanged {unchanged} (no-op updates), conflicts retried {conflicts}, failed {}",
            failures.len()
        ));
        if expect.expects_failure() {
            if let Some(first) = failures.first() {
                let e = ApiError { code: 0, reason: String::new(), message: first.clone() };
                self.check_api_error(
                    rec,
                    &what,
                    &ApiExpect { code: None, ..expect.clone() },
                    Err(&e),
                );
            } else {
                self.check_api_error(rec, &what, &expect, Ok(()));
            }
        } else if !failures.is_empty() {
            rec.check(
                format!("{what} succeeds for every object"),
                false,
                None,
                failures.join("; "),
            );
        }
        let counts = [
            (&expect.rewritten, rewritten, "writes {n} objects"),
            (&expect.conflicts, conflicts, "retries {n} conflicts"),
            (&expect.unchanged, unchanged, "leaves {n} objects as they were"),
        ];
        for (want, got, words) in counts {
            if let Some(n) = want.as_ref().map(|n| n.value) {
                let words = words.replace("{n}", &n.to_string());
                rec.check(
                    format!("{what} {words}"),
                    got == n,
                    Some(n.to_string()),
                    got.to_string(),
                );
            }
        }
        self.integrity(rec).await
    }

    async fn reload_metrics(&mut self, i: usize) -> Result<Option<ReloadMetrics>, StepError> {
        Ok(match self.cluster.metrics(i).await? {
            Ok(text) => Some(ReloadMetrics::parse(&text)),
            Err(_) => None,
        })
    }

    /// Polls `/metrics` (once a second, against a deadline) until the reload outcome shows.
    async fn wait_for_reload(&mut self, r: &ReloadStep, rec: &mut Rec) -> Result<(), StepError> {
        for i in targets(r.apiserver, self.flags.len()) {
            let Some((want_hash, failures_before)) = self.written.get(&i).cloned() else {
                return Err(StepError::Harness(format!(
                    "waitForReload: no configuration was written for running apiserver {i}"
                )));
            };
            // Load bounds the timeout; a deadline past what `Instant` can hold is no deadline.
            let timeout = r.timeout_seconds.value;
            let deadline = Instant::now().checked_add(std::time::Duration::from_secs(timeout));
            let before = self.reload_metrics(i).await?;
            // As `waitForKmsKeyId`: a simulated cluster moves its clock (its reload poll runs
            // once a simulated minute) instead of waiting, and the deadline counts that time.
            let interval = std::time::Duration::from_secs(1);
            let mut ticker = Ticker::new(deadline, interval);
            let mut simulated = std::time::Duration::ZERO;
            let (done, last) = loop {
                let m = self.reload_metrics(i).await?;
                let done = m.as_ref().is_some_and(|m| match r.expect {
                    ReloadExpect::Loaded => m.hash.as_deref() == Some(want_hash.as_str()),
                    ReloadExpect::Failed => m.failures > failures_before,
                });
                if done || simulated >= std::time::Duration::from_secs(timeout) {
                    break (done, m);
                }
                if self.cluster.advance_clock(interval) {
                    simulated += interval;
                } else if !ticker.tick().await {
                    break (false, m);
                }
            };
            let seen = match &last {
                None => "no /metrics answer".to_owned(),
                Some(m) => format!(
                    "last_config_info hash is {}the file written last; reload failures {}",
                    if m.hash.as_deref() == Some(want_hash.as_str()) { "" } else { "not " },
                    if m.failures > failures_before { "went up" } else { "did not go up" }
                ),
            };
            rec.note(format!("apiserver {i}: {seen}"));
            match r.expect {
                ReloadExpect::Loaded => rec.check(
                    format!("apiserver {i} reloads the new configuration"),
                    done,
                    None,
                    if done {
                        "loaded".to_owned()
                    } else {
                        format!("not within {timeout} s: {seen}")
                    },
                ),
                ReloadExpect::Failed => {
                    rec.check(
                        format!("apiserver {i} reports a failed reload"),
                        done,
                        None,
                        if done {
                            "failure counted".to_owned()
                        } else {
                            format!("not within {timeout} s: {seen}")
                        },
                    );
                    let kept =
                        last.as_ref().and_then(|m| m.hash.clone()) == before.and_then(|m| m.hash);
                    rec.check(
                        format!("apiserver {i} keeps its previous configuration"),
                        kept,
                        None,
                        seen.clone(),
                    );
                }
            }
        }
        Ok(())
    }

    async fn probe(&mut self, p: &ProbeStep, rec: &mut Rec) -> Result<(), StepError> {
        let want = p.expect.code.value;
        let (code, body) = match &p.timeout_seconds {
            None => self.cluster.probe(p.apiserver, &p.path).await?,
            Some(t) => {
                // As `waitForKmsKeyId`: a simulated cluster moves its clock instead of waiting.
                let interval = std::time::Duration::from_secs(1);
                let timeout = std::time::Duration::from_secs(t.value);
                let mut ticker = Ticker::new(Instant::now().checked_add(timeout), interval);
                let mut simulated = std::time::Duration::ZERO;
                loop {
                    let answer = self.cluster.probe(p.apiserver, &p.path).await?;
                    if answer.0 == want || simulated >= timeout {
                        break answer;
                    }
                    if self.cluster.advance_clock(interval) {
                        simulated += interval;
                    } else if !ticker.tick().await {
                        break answer;
                    }
                }
            }
        };
        // A not-ready apiserver can become ready without a restart (a watch cache that lists
        // again once a KMS plugin decrypts again): a passing /readyz is that observation, so
        // the no-loss check runs again after it.
        let readyz = p.path.split_once('?').map_or(p.path.as_str(), |(path, _)| path) == "/readyz";
        if readyz && code == 200 && self.state[p.apiserver] == ServerState::NotReady {
            self.state[p.apiserver] = ServerState::Ready;
        }
        let body = self.norm(body.trim_end());
        rec.note(format!("{code}: {body}"));
        rec.check(
            format!("GET {} answers {want}", p.path),
            code == want,
            Some(want.to_string()),
            code.to_string(),
        );
        if let Some(b) = &p.expect.body {
            rec.check(
                format!("GET {} answers exactly the expected body", p.path),
                body == b.trim_end(),
                Some(b.clone()),
                body.clone(),
            );
        }
        if let Some(b) = &p.expect.body_contains {
            rec.check(
                format!("GET {} answers a body containing {b:?}", p.path),
                body.contains(b.as_str()),
                None,
                body.clone(),
            );
        }
        Ok(())
    }

    async fn kms_plugin(&mut self, k: &KmsPluginStep, rec: &mut Rec) -> Result<(), StepError> {
        let action = match (&k.fault, k.rotate) {
            (Some(f), _) => KmsAction::SetFault(f.to_backend()),
            (None, true) => KmsAction::Rotate,
            (None, false) => KmsAction::ClearFaults,
        };
        let state = self.cluster.kms_plugin(&k.name.value, action).await?;
        rec.note(format!(
            "KMS plugin {}: key ID {} (versions: {})",
            k.name.value,
            state.key_id,
            state.key_ids.join(", ")
        ));
        Ok(())
    }

    /// Polls `/metrics` (once a second, against a deadline) until apiserver `i` reports a
    /// `Status` with the plugin's current key ID. kube-apiserver records
    /// `apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds` for a key ID
    /// just before it wraps a new DEK seed for it (k8s.io/apiserver
    /// pkg/server/options/encryptionconfig/config.go, `isKMSv2ProviderHealthyAndMaybeRotateDEK`),
    /// so the wait lets one more interval pass once it shows. A simulated cluster moves its
    /// clock by the interval instead of waiting, and the deadline counts simulated time.
    async fn wait_for_key_id(&mut self, w: &KeyIdStep, rec: &mut Rec) -> Result<(), StepError> {
        let name = &w.name.value;
        let state = self.cluster.kms_plugin(name, KmsAction::Status).await?;
        let hash = atrest_transformers::key_id_hash(&state.key_id);
        let interval = std::time::Duration::from_secs(1);
        let timeout = std::time::Duration::from_secs(w.timeout_seconds.value);
        for i in targets(w.apiserver, self.flags.len()) {
            let deadline = Instant::now().checked_add(timeout);
            let mut ticker = Ticker::new(deadline, interval);
            let mut simulated = std::time::Duration::ZERO;
            let seen = loop {
                let seen = match self.cluster.metrics(i).await? {
                    Ok(text) => status_key_id_seen(&text, &hash),
                    Err(_) => false,
                };
                if seen || simulated >= timeout {
                    break seen;
                }
                if self.cluster.advance_clock(interval) {
                    simulated += interval;
                } else if !ticker.tick().await {
                    break false;
                }
            };
            if seen && !self.cluster.advance_clock(interval) {
                ticker.tick().await;
            }
            rec.check(
                format!("apiserver {i} takes key ID {} from KMS plugin {name}", state.key_id),
                seen,
                None,
                if seen {
                    "Status key ID seen".to_owned()
                } else {
                    format!("not within {} s", w.timeout_seconds.value)
                },
            );
        }
        Ok(())
    }

    /// Counts are deltas since the plugin's previous count, so a step proves what the steps
    /// between the two asked of the plugin (the cluster's start included in the first).
    async fn expect_kms_calls(&mut self, c: &KmsCallsStep, rec: &mut Rec) -> Result<(), StepError> {
        let name = &c.name.value;
        let now = self.cluster.kms_plugin(name, KmsAction::Status).await?.calls;
        let before = self.kms_calls.insert(name.clone(), now).unwrap_or_default();
        let (encrypt, decrypt) = (
            now.encrypt.saturating_sub(before.encrypt),
            now.decrypt.saturating_sub(before.decrypt),
        );
        rec.note(format!("KMS plugin {name}: {encrypt} Encrypt, {decrypt} Decrypt"));
        for (method, want, got) in
            [("Encrypt", c.encrypt, encrypt), ("Decrypt", c.decrypt, decrypt)]
        {
            if let Some(want) = want {
                rec.check(
                    format!("KMS plugin {name} received {want} {method} call{}", plural(want)),
                    got == want,
                    Some(want.to_string()),
                    got.to_string(),
                );
            }
        }
        Ok(())
    }

    async fn measure(&mut self, m: &MeasureStep, rec: &mut Rec) -> Result<(), StepError> {
        let filler: Vec<u8> =
            (0..m.size.value).map(|i| b'a' + u8::try_from(i % 26).unwrap_or(0)).collect();
        let data = Data(BTreeMap::from([("value".to_owned(), filler)]));
        let mut creates = Vec::with_capacity(m.objects.value);
        let mut gets = Vec::with_capacity(m.objects.value);
        let ids: Vec<ObjectRef> = (0..m.objects.value)
            .map(|i| ObjectRef::new(Kind::Secret, "default", format!("{}-{i}", m.name)))
            .collect();
        for id in &ids {
            let object = Object { id: id.clone(), data: data.clone(), resource_version: None };
            let t = Instant::now();
            let answer = self.cluster.create(0, &object).await?;
            creates.push(t.elapsed().as_secs_f64() * 1e6);
            if let Err(e) = answer {
                return Err(StepError::Harness(format!(
                    "measure: create {id}: {}",
                    self.norm(&e.message)
                )));
            }
            self.tracked.insert(id.clone(), data.clone());
        }
        for id in &ids {
            let t = Instant::now();
            let answer = self.cluster.get(0, id).await?;
            gets.push(t.elapsed().as_secs_f64() * 1e6);
            if let Err(e) = answer {
                return Err(StepError::Harness(format!(
                    "measure: get {id}: {}",
                    self.norm(&e.message)
                )));
            }
        }
        let measurement = Measurement {
            name: m.name.clone(),
            size: m.size.value,
            create: Latency::of(&mut creates),
            get: Latency::of(&mut gets),
            create_p50_ratio: None,
            get_p50_ratio: None,
        };
        rec.note(format!("{n} creates and {n} gets timed", n = m.objects.value));
        if let Some(b) = &m.baseline {
            self.baseline = Some(b.clone());
        }
        self.measurements.push(measurement);
        Ok(())
    }
}

/// Ratios of p50 latencies to the baseline measurement: the one a `measure` step names as
/// `baseline`, else `identity`, else the first one measured.
fn finish_ratios(ms: &mut [Measurement], baseline: Option<&str>) {
    let named = |n: &str| ms.iter().find(|m| m.name == n).cloned();
    let Some(base) =
        baseline.and_then(named).or_else(|| named("identity")).or_else(|| ms.first().cloned())
    else {
        return;
    };
    for m in ms.iter_mut() {
        m.create_p50_ratio =
            (base.create.p50_us > 0.0).then(|| m.create.p50_us / base.create.p50_us);
        m.get_p50_ratio = (base.get.p50_us > 0.0).then(|| m.get.p50_us / base.get.p50_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, p50: f64) -> Measurement {
        let l = Latency { count: 1, p50_us: p50, p95_us: p50, p99_us: p50, mean_us: p50 };
        Measurement {
            name: name.to_owned(),
            size: 1,
            create: l.clone(),
            get: l,
            create_p50_ratio: None,
            get_p50_ratio: None,
        }
    }

    #[test]
    fn rfc3339_times_are_masked() {
        assert_eq!(
            mask_times("expired at 2026-12-05T10:00:00Z (current time is 2026-12-05T10:00:01Z)"),
            "expired at <time> (current time is <time>)"
        );
        assert_eq!(mask_times("at 2026-12-05T10:00:00.123+01:00."), "at <time>.");
        // Not a time: no zone, or too short; multi-byte text around it stays.
        assert_eq!(mask_times("2026-12-05T10:00:00 é"), "2026-12-05T10:00:00 é");
        assert_eq!(mask_times("é2026-12-05T10:00Z"), "é2026-12-05T10:00Z");
        assert_eq!(mask_times("é2026-12-05T10:00:00Zé"), "é<time>é");
    }

    #[test]
    fn ratios_against_the_named_baseline_else_identity_else_the_first() {
        let mut ms = vec![m("aescbc", 30.0), m("identity", 10.0), m("secretbox", 20.0)];
        finish_ratios(&mut ms, None);
        assert_eq!(ms[0].create_p50_ratio, Some(3.0));
        finish_ratios(&mut ms, Some("secretbox"));
        assert_eq!(ms[0].get_p50_ratio, Some(1.5));
        let mut ms = vec![m("aescbc", 30.0), m("secretbox", 60.0)];
        finish_ratios(&mut ms, None);
        assert_eq!(ms[1].create_p50_ratio, Some(2.0));
    }
}
