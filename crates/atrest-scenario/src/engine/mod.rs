//! Runs a [`Scenario`] over any [`Cluster`] and proves each step by what the cluster answers
//! and what etcd holds.
//!
//! Failed expectations are data in the [`Report`]; a harness failure (the backend broke, an
//! apiserver did not start when the scenario did not expect that) stops the run with
//! [`Outcome::Error`].

mod checks;
mod describe;
mod faults;
mod kms;
mod measure;
mod objects;
mod quota;
mod reload;
mod start;

pub use describe::TIME_MASK;
use describe::{describe, describe_data, mask_times, plural};
use measure::finish_ratios;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use atrest_backend::wait::Ticker;
use atrest_backend::{
    ApiError, ApiServerSpec, BackendError, Cluster, ClusterSpec, Data, EtcdMaintenance, EtcdSpec,
    Kind, KmsAction, KmsCalls, KmsPluginSpec, MirrorPodDeletion, Object, ObjectRef, StartFailure,
    error_chain,
};
use atrest_config::load;

use crate::metrics::ReloadMetrics;
use crate::report::{Check, Latency, Measurement, Outcome, Report, StepOutcome, StepReport};
use crate::schema::{
    ApiExpect, DEFAULT_CONFIG_PATH, KeyIdStep, KmsCallsStep, KmsPluginStep, ListStep, MeasureStep,
    MountDef, Need, ObjectStep, PreflightStep, ProbeStep, ReloadExpect, ReloadStep, Scenario,
    StartExpect, Step, StoredCheck, Target,
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

/// An apiserver spec a `setFlags` step makes ([`Scenario::flag_specs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSpec {
    /// The step's number, from 1.
    pub step: usize,
    /// The step's line in the scenario file.
    pub line: u64,
    /// The apiserver.
    pub apiserver: usize,
    /// Its spec after the step.
    pub spec: ApiServerSpec,
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
                    mounts: self
                        .cluster
                        .mounts
                        .as_ref()
                        .map(|m| m.value.iter().map(MountDef::to_mount).collect()),
                })
                .collect(),
            kms_plugins: self
                .cluster
                .kms_plugins
                .iter()
                .map(|p| KmsPluginSpec { name: p.value.name.clone(), socket: p.value.socket() })
                .collect(),
            etcd: EtcdSpec { quota_backend_bytes: self.cluster.etcd.quota_backend_bytes },
        }
    }

    /// The apiserver specs the `setFlags` steps make, in step order, as a run makes them. A
    /// backend checks them before a run, as it checks [`Scenario::cluster_spec`].
    pub fn flag_specs(&self) -> Vec<FlagSpec> {
        let mut specs = self.cluster_spec().apiservers;
        let mut made = Vec::new();
        for (n, placed) in self.steps.iter().enumerate() {
            if let Step::SetFlags { apiserver, .. } = &placed.step {
                for i in targets(*apiserver, specs.len()) {
                    let Some(spec) = specs.get_mut(i) else { continue };
                    set_flags(&placed.step, spec);
                    made.push(FlagSpec {
                        step: n + 1,
                        line: placed.line,
                        apiserver: i,
                        spec: spec.clone(),
                    });
                }
            }
        }
        made
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
    let backend = cluster.backend_name();
    let mut unsupported =
        scenario.unsupported(backend, &cluster.controls(), cluster.apiserver_count());
    let starts =
        scenario.steps.iter().any(|p| matches!(p.step, Step::Start { .. } | Step::Restart { .. }));
    let serving = (0..cluster.apiserver_count()).any(|i| cluster.is_running(i));
    if !starts && !serving && scenario.steps.iter().any(|p| p.step.needs() == Need::Api) {
        unsupported.push(format!(
            "the scenario starts no apiserver and the {backend} backend has none running: it is \
             written for a cluster that is already serving (--backend existing)"
        ));
    }
    if !unsupported.is_empty() {
        // Refused before any step runs: a half-run scenario on a cluster the harness does
        // not own would leave it in a state nobody planned.
        return Report {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            backend: backend.to_owned(),
            outcome: Outcome::Error,
            error: Some(format!(
                "the {backend} backend cannot run this scenario; nothing was run:\n  {}",
                unsupported.join("\n  ")
            )),
            steps: Vec::new(),
            measurements: Vec::new(),
            logs: None,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
    }
    // Apiservers the backend does not start (a user's cluster) are serving from the start.
    let state = (0..scenario.cluster.apiservers.value)
        .map(|i| if cluster.is_running(i) { ServerState::Ready } else { ServerState::Stopped })
        .collect();
    let mut engine = Engine {
        cluster,
        configs: prepared.configs,
        secrets: prepared.secrets,
        flags: scenario.cluster_spec().apiservers,
        state,
        tracked: BTreeMap::new(),
        measurements: Vec::new(),
        reload_baselines: BTreeMap::new(),
        baseline: None,
        kms_plugins: scenario.cluster.kms_plugins.iter().map(|p| p.value.name.clone()).collect(),
        kms_calls: BTreeMap::new(),
    };
    let mut steps = Vec::new();
    let mut error = None;
    for (n, placed) in scenario.steps.iter().enumerate() {
        let t = Instant::now();
        let mut rec = StepRecord::default();
        let action = describe(&placed.step);
        let _span =
            tracing::info_span!("step", index = n + 1, name = placed.name, line = placed.line, action = %action)
                .entered();
        let mut result = engine.step(&placed.step, &mut rec).await;
        // A member that died on its own is the error, whatever the step saw: the step's own
        // failures are its consequences. A member killed by a `kill` step exited on request.
        if let Some(exit) = engine.cluster.unexpected_exit() {
            result = Err(StepError::Backend(BackendError::MemberExited(exit)));
        }
        let outcome = match &result {
            Err(_) => StepOutcome::Error,
            Ok(()) if rec.checks.iter().any(|c| !c.held) => StepOutcome::Failed,
            Ok(()) => StepOutcome::Ok,
        };
        if let Err(e) = result {
            let text = engine.as_reported(&error_chain(&e));
            rec.observations.push(format!("harness error: {text}"));
            error = Some(text);
        }
        let report = StepReport {
            index: n + 1,
            name: placed.name.clone(),
            line: placed.line,
            action,
            outcome,
            observations: rec.observations,
            checks: rec.checks,
            backend_notes: rec.backend_notes,
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

/// What one step observed and checked, becoming its [`StepReport`].
#[derive(Default)]
struct StepRecord {
    observations: Vec<String>,
    checks: Vec<Check>,
    backend_notes: Vec<String>,
}

impl StepRecord {
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
    reload_baselines: BTreeMap<usize, (String, f64)>,
    /// The measurement ratios are computed against (`measure.baseline`).
    baseline: Option<String>,
    /// The names of the cluster's KMS plugins.
    kms_plugins: Vec<String>,
    /// Per KMS plugin, its call counters at its last `expectKmsCalls`.
    kms_calls: BTreeMap<String, KmsCalls>,
}

/// What a `setFlags` step makes of an apiserver's spec (nothing, for any other step).
fn set_flags(step: &Step, spec: &mut ApiServerSpec) {
    if let Step::SetFlags { encryption_config, automatic_reload, mounts, .. } = step {
        if let Some(m) = mounts {
            spec.mounts = Some(m.iter().map(MountDef::to_mount).collect());
        }
        if let Some(c) = encryption_config {
            spec.encryption_config.clone_from(c);
        }
        if let Some(r) = automatic_reload {
            spec.automatic_reload = *r;
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

impl<C: Cluster> Engine<'_, C> {
    /// A text as reports show it: the backend's file root removed (paths read as the apiserver's
    /// flag names them), secrets redacted.
    fn as_reported(&self, text: &str) -> String {
        let text = match self.cluster.file_root() {
            Some(root) if !root.is_empty() => text.replace(root.trim_end_matches('/'), ""),
            _ => text.to_owned(),
        };
        mask_times(&self.secrets.redact(&text))
    }

    /// The node's file apiserver `i` reads its configuration from: where its flag points (the
    /// default path when it has no flag), through its mounts; a path no mount covers is the
    /// same path on the node, where the user put the file but the apiserver cannot see it.
    fn config_file(&self, i: usize) -> String {
        let flag = self
            .flags
            .get(i)
            .and_then(|f| f.encryption_config.clone())
            .unwrap_or_else(|| DEFAULT_CONFIG_PATH.to_owned());
        self.flags.get(i).and_then(|f| f.resolve(&flag)).unwrap_or(flag)
    }

    async fn step(&mut self, step: &Step, rec: &mut StepRecord) -> Result<(), StepError> {
        match step {
            Step::WriteConfig { config, path, apiserver } => {
                let paths: BTreeSet<String> = match path {
                    Some(p) => BTreeSet::from([p.clone()]),
                    None => targets(*apiserver, self.flags.len())
                        .into_iter()
                        .map(|i| self.config_file(i))
                        .collect(),
                };
                let text = self.configs.get(&config.value).cloned().unwrap_or_default();
                for path in paths {
                    // Reload failures are counted from here: what the metric said before the write.
                    for i in 0..self.flags.len() {
                        if self.config_file(i) == path && self.state[i] != ServerState::Stopped {
                            let failures =
                                self.reload_metrics(i).await?.map_or(0.0, |m| m.failures);
                            self.reload_baselines
                                .insert(i, (load::content_hash(text.as_bytes()), failures));
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
            Step::DeleteMirrorPod(m) => self.delete_mirror_pod(m.apiserver, rec).await?,
            Step::RemoveFile { path } => {
                self.cluster.remove_file(path).await?;
                rec.note(format!("removed {path}"));
            }
            step @ Step::SetFlags { apiserver, .. } => {
                for i in targets(*apiserver, self.flags.len()) {
                    set_flags(step, &mut self.flags[i]);
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
                let (mut id, checks) = (st.object().object_ref(), st.checks());
                id.namespace = self.cluster.storage_namespace(&id.namespace);
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
                    prefix.push_str(&self.cluster.storage_namespace(ns));
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
                let mut sub = StepRecord::default();
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
            Step::Kill(k) => self.kill(k, rec).await?,
            Step::StartMember(m) => self.start_member(m, rec).await?,
            Step::Pause(m) => self.pause(m, rec).await?,
            Step::Resume(m) => self.resume(m, rec).await?,
            Step::Fill(f) => self.fill(f, rec).await?,
            Step::DeleteAll(d) => self.delete_all(d, rec).await?,
            Step::Compact(_) => self.maintenance(EtcdMaintenance::Compact, rec).await?,
            Step::Defragment(_) => self.maintenance(EtcdMaintenance::Defragment, rec).await?,
            Step::DisarmAlarms(_) => self.maintenance(EtcdMaintenance::DisarmAlarms, rec).await?,
            Step::ExpectAlarms(a) => self.expect_alarms(a, rec).await?,
        }
        Ok(())
    }
}
