//! `atrest rewrite --kubeconfig FILE`: re-encrypt every object of a resource through the
//! apiserver, the documented `kubectl get secrets -A -o json | kubectl replace -f -`, built to
//! finish on big clusters:
//!
//! - LIST in pages (`--page-size`), never the whole resource in one response (that is where
//!   `kubectl get -A` times out with tens of thousands of Secrets);
//! - `--concurrency` replaces in flight, through kube-rs's client (which backs off on 429 from
//!   API priority and fairness);
//! - a conflict (someone wrote the object meanwhile) re-reads it and retries; an object deleted
//!   meanwhile is counted as gone, not as a failure;
//! - an expired continue token (410 Gone, after etcd compaction) restarts the listing and skips
//!   what is done;
//! - `--journal FILE` records every object rewritten, so a rerun after a failure or Ctrl-C
//!   resumes where it stopped;
//! - a write etcd refuses for want of space (`etcdserver: mvcc: database space exceeded`: the
//!   quota is reached, the `NOSPACE` alarm raised, every further write would fail alike) stops
//!   the rewrite at once with what to do, instead of failing every remaining object.
//!
//! A replace of an unchanged object still makes the apiserver read it and, when the read was
//! stale (not written with the first provider), write it back with the first provider: that is
//! the re-encryption. Exit codes: 0 every object rewritten (or gone), 1 some failed, 2 usage or
//! connection error.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{BufRead as _, BufReader, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use atrest_backend::ETCD_NO_SPACE;
use clap::ValueEnum;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use crate::lifecycle::Signals;
use crate::out::{out, outln};
use crate::{Format, Outcome};

/// How often one object is retried after conflicts before it counts as failed.
const CONFLICT_RETRIES: usize = 5;
/// How often the listing restarts after its continue token expired.
const LIST_RESTARTS: usize = 5;
/// How many error texts a report keeps per resource.
const ERRORS_KEPT: usize = 10;

/// `atrest rewrite`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// kubeconfig of the apiserver that rewrites. Run it after every apiserver runs the new
    /// configuration (`atrest status` says whether they do).
    #[arg(long, value_name = "FILE")]
    kubeconfig: PathBuf,
    /// Resources to rewrite.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "secrets")]
    resources: Vec<RewriteResource>,
    /// Only this namespace (default: every namespace).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Replace requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Objects per LIST request.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,
    /// Journal of rewritten objects (`RESOURCE NAMESPACE/NAME` lines, appended as they finish):
    /// objects it lists are skipped, so a rerun resumes after a failure or Ctrl-C.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// How long one request may go unanswered, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// A resource `rewrite` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum RewriteResource {
    /// Secrets.
    Secrets,
    /// ConfigMaps.
    Configmaps,
}

impl RewriteResource {
    fn name(self) -> &'static str {
        match self {
            RewriteResource::Secrets => "secrets",
            RewriteResource::Configmaps => "configmaps",
        }
    }
}

/// What happened to one resource.
#[derive(Debug, Default, Serialize)]
struct ResourceResult {
    resource: &'static str,
    /// Objects replaced (200 from the apiserver).
    rewritten: u64,
    /// Objects the journal lists, not touched.
    skipped: u64,
    /// Objects deleted between the LIST and their replace.
    gone: u64,
    /// Conflicts retried (someone else wrote the object first).
    conflicts: u64,
    /// Objects that could not be rewritten.
    failed: u64,
    /// Listings restarted after an expired continue token.
    list_restarts: u64,
    /// etcd refused a write for want of space (`NOSPACE`): the rewrite stopped there, since
    /// every further write would be refused the same way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stopped_no_space: bool,
    seconds: f64,
    /// The first error texts (object names and the apiserver's message; never data).
    errors: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    server: String,
    interrupted: bool,
    resources: Vec<ResourceResult>,
}

/// `atrest rewrite`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(rewrite(args))
}

async fn rewrite(args: &Args) -> Result<Outcome> {
    let mut signals = Signals::install()?;
    let (client, server) = client(&args.kubeconfig, Duration::from_secs(args.request_timeout))
        .await
        .with_context(|| format!("--kubeconfig {}", args.kubeconfig.display()))?;
    let mut journal = Journal::open(args.journal.as_deref())?;
    let mut report = Report { server, interrupted: false, resources: Vec::new() };
    let resources: BTreeSet<RewriteResource> = args.resources.iter().copied().collect();
    for resource in resources {
        let mut result = ResourceResult { resource: resource.name(), ..ResourceResult::default() };
        let started = Instant::now();
        let work = async {
            match resource {
                RewriteResource::Secrets => {
                    rewrite_all::<Secret>(&client, args, &mut journal, &mut result).await
                }
                RewriteResource::Configmaps => {
                    rewrite_all::<ConfigMap>(&client, args, &mut journal, &mut result).await
                }
            }
        };
        let done = signals.guard(work).await;
        result.seconds = started.elapsed().as_secs_f64();
        match done {
            Ok(Ok(())) if result.stopped_no_space => {
                report.resources.push(result);
                emit(args.format, &report)?;
                eprintln!(
                    "etcd is out of space: it refused a write with {ETCD_NO_SPACE:?} (its NOSPACE alarm is raised, \
                     so every further write fails the same way), and the rewrite stopped there; \
                     nothing is half-written. Recover as etcd documents (compact, defragment every member, \
                     `etcdctl alarm disarm`, or raise --quota-backend-bytes), then run it again{}",
                    args.journal
                        .as_ref()
                        .map(|j| format!(" with --journal {} to resume", j.display()))
                        .unwrap_or_default()
                );
                return Ok(Outcome::Failed);
            }
            Ok(Ok(())) => report.resources.push(result),
            Ok(Err(e)) => {
                report.resources.push(result);
                emit(args.format, &report)?;
                return Err(e.context(format!("rewriting {}", resource.name())));
            }
            Err(stop) => {
                report.interrupted = true;
                report.resources.push(result);
                emit(args.format, &report)?;
                eprintln!(
                    "{stop}: in-flight replaces were abandoned (each one either happened or not){}",
                    args.journal
                        .as_ref()
                        .map(|j| format!("; rerun with --journal {} to resume", j.display()))
                        .unwrap_or_default()
                );
                return Ok(Outcome::Error);
            }
        }
    }
    emit(args.format, &report)?;
    let failed: u64 = report.resources.iter().map(|r| r.failed).sum();
    Ok(if failed > 0 { Outcome::Failed } else { Outcome::Ok })
}

/// A client with kube-rs's defaults (it backs off on 429 and 503), bounded per request.
async fn client(path: &Path, timeout: Duration) -> Result<(Client, String)> {
    let text = atrest_input::read_limited_to_string(path, atrest_scenario::CONFIG_LIMIT)?;
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).context("not a kubeconfig")?;
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .context("using the kubeconfig")?;
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).context("building the client")?;
    // One cheap request proves the server answers before anything is counted.
    client
        .apiserver_version()
        .await
        .with_context(|| format!("the apiserver at {server} does not answer"))?;
    Ok((client, server))
}

/// Lists `K` in pages and replaces every object not in the journal, `args.concurrency` at once.
async fn rewrite_all<K>(
    client: &Client,
    args: &Args,
    journal: &mut Journal,
    result: &mut ResourceResult,
) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let resource = result.resource;
    let mut progress = Progress::new(resource);
    let mut in_flight: JoinSet<(String, ObjectOutcome)> = JoinSet::new();
    let mut token: Option<String> = None;
    let mut restarts = 0;
    loop {
        let mut params = ListParams::default().limit(args.page_size);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = match api.list(&params).await {
            Ok(page) => page,
            Err(kube::Error::Api(s)) if s.code == 410 && restarts < LIST_RESTARTS => {
                // The continue token outlived etcd's compaction: list again from the start;
                // what is done is in the journal (once the replaces in flight have finished),
                // and is skipped below.
                while !in_flight.is_empty() {
                    finish_one(&mut in_flight, journal, result, &mut progress).await?;
                }
                restarts += 1;
                result.list_restarts += 1;
                token = None;
                continue;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("listing {resource}"))),
        };
        progress.total_hint(page.metadata.remaining_item_count);
        for object in page.items {
            let meta = object.meta();
            let (Some(ns), Some(name)) = (meta.namespace.clone(), meta.name.clone()) else {
                continue;
            };
            let id = format!("{ns}/{name}");
            if journal.contains(resource, &id) {
                result.skipped += 1;
                progress.tick(result);
                continue;
            }
            while in_flight.len() >= usize::from(args.concurrency) && !result.stopped_no_space {
                finish_one(&mut in_flight, journal, result, &mut progress).await?;
            }
            if result.stopped_no_space {
                break;
            }
            let api: Api<K> = Api::namespaced(client.clone(), &ns);
            in_flight.spawn(async move {
                let outcome = replace_one(&api, &name, object).await;
                (id, outcome)
            });
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() || result.stopped_no_space {
            break;
        }
    }
    while !in_flight.is_empty() {
        finish_one(&mut in_flight, journal, result, &mut progress).await?;
    }
    progress.finish(result);
    Ok(())
}

/// How one object's rewrite ended.
enum ObjectOutcome {
    Rewritten { conflicts: u64 },
    Gone { conflicts: u64 },
    Failed { conflicts: u64, error: String },
}

async fn finish_one(
    in_flight: &mut JoinSet<(String, ObjectOutcome)>,
    journal: &mut Journal,
    result: &mut ResourceResult,
    progress: &mut Progress,
) -> Result<()> {
    let Some(joined) = in_flight.join_next().await else { return Ok(()) };
    let (id, outcome) = joined.context("a replace task panicked")?;
    match outcome {
        ObjectOutcome::Rewritten { conflicts } => {
            result.rewritten += 1;
            result.conflicts += conflicts;
            journal.record(result.resource, &id)?;
        }
        ObjectOutcome::Gone { conflicts } => {
            result.gone += 1;
            result.conflicts += conflicts;
            journal.record(result.resource, &id)?;
        }
        ObjectOutcome::Failed { conflicts, error } => {
            result.failed += 1;
            result.conflicts += conflicts;
            result.stopped_no_space |= error.contains(ETCD_NO_SPACE);
            if result.errors.len() < ERRORS_KEPT {
                result.errors.push(format!("{id}: {error}"));
            }
        }
    }
    progress.tick(result);
    Ok(())
}

/// Replaces `object` as listed; on a conflict reads it again and retries.
async fn replace_one<K>(api: &Api<K>, name: &str, mut object: K) -> ObjectOutcome
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let mut conflicts = 0;
    loop {
        match api.replace(name, &PostParams::default(), &object).await {
            Ok(_) => return ObjectOutcome::Rewritten { conflicts },
            Err(kube::Error::Api(s)) if s.code == 404 => return ObjectOutcome::Gone { conflicts },
            Err(kube::Error::Api(s))
                if s.code == 409 && (conflicts as usize) < CONFLICT_RETRIES =>
            {
                conflicts += 1;
                match api.get_opt(name).await {
                    Ok(Some(fresh)) => object = fresh,
                    Ok(None) => return ObjectOutcome::Gone { conflicts },
                    Err(e) => return ObjectOutcome::Failed { conflicts, error: e.to_string() },
                }
            }
            Err(e) => return ObjectOutcome::Failed { conflicts, error: e.to_string() },
        }
    }
}

/// The `--journal` file: what earlier runs rewrote, and this run's appends.
struct Journal {
    done: BTreeSet<(String, String)>,
    file: Option<std::fs::File>,
}

impl Journal {
    fn open(path: Option<&Path>) -> Result<Journal> {
        let Some(path) = path else { return Ok(Journal { done: BTreeSet::new(), file: None }) };
        let mut done = BTreeSet::new();
        if path.exists() {
            let file = std::fs::File::open(path)
                .with_context(|| format!("reading the journal {}", path.display()))?;
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let line =
                    line.with_context(|| format!("reading the journal {}", path.display()))?;
                if line.is_empty() {
                    continue;
                }
                let Some((resource, id)) = line.split_once(' ') else {
                    bail!(
                        "{}:{}: not a journal line (`RESOURCE NAMESPACE/NAME`): {line:?}",
                        path.display(),
                        n + 1
                    );
                };
                done.insert((resource.to_owned(), id.to_owned()));
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the journal {}", path.display()))?;
        Ok(Journal { done, file: Some(file) })
    }

    fn contains(&self, resource: &str, id: &str) -> bool {
        self.done.contains(&(resource.to_owned(), id.to_owned()))
    }

    /// Remembers one object as done (a listing restarted after an expired token skips it) and
    /// appends its line, written through at once: a killed run loses nothing it finished.
    fn record(&mut self, resource: &str, id: &str) -> Result<()> {
        self.done.insert((resource.to_owned(), id.to_owned()));
        if let Some(file) = &mut self.file {
            file.write_all(format!("{resource} {id}\n").as_bytes())
                .context("appending to the journal")?;
        }
        Ok(())
    }
}

/// Progress on stderr: a bar on a terminal, a line every 1000 objects otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    resource: &'static str,
    seen: u64,
    started: Instant,
}

impl Progress {
    fn new(resource: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(resource);
            bar
        });
        Progress { bar, resource, seen: 0, started: Instant::now() }
    }

    /// LIST's `remainingItemCount`: objects after this page.
    fn total_hint(&mut self, remaining: Option<i64>) {
        if let (Some(bar), Some(r)) = (&self.bar, remaining) {
            bar.set_length(bar.position() + u64::try_from(r).unwrap_or(0) + 1);
        }
    }

    fn tick(&mut self, r: &ResourceResult) {
        self.seen += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.seen);
                if bar.length().is_some_and(|l| l < self.seen) {
                    bar.set_length(self.seen);
                }
            }
            None if self.seen.is_multiple_of(1000) => eprintln!(
                "{}: {} done ({} rewritten, {} skipped, {} failed) in {:.1} s",
                self.resource,
                self.seen,
                r.rewritten,
                r.skipped,
                r.failed,
                self.started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    }

    fn finish(&mut self, _r: &ResourceResult) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn emit(format: Format, report: &Report) -> Result<()> {
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(report)?)?,
        Format::Text => {
            let mut text = format!("rewrite through {}\n", report.server);
            for r in &report.resources {
                let rate = if r.seconds > 0.0 { r.rewritten as f64 / r.seconds } else { 0.0 };
                text.push_str(&format!(
                    "  {}: rewrote {} in {:.1} s ({rate:.0}/s); skipped {} (journal), gone {}, conflicts retried {}, failed {}{}\n",
                    r.resource,
                    r.rewritten,
                    r.seconds,
                    r.skipped,
                    r.gone,
                    r.conflicts,
                    r.failed,
                    if r.list_restarts > 0 {
                        format!(", listing restarted {} times", r.list_restarts)
                    } else {
                        String::new()
                    }
                ));
                for e in &r.errors {
                    text.push_str(&format!("    {e}\n"));
                }
            }
            if report.resources.iter().any(|r| r.stopped_no_space) {
                text.push_str("  stopped: etcd is out of space (NOSPACE)\n");
            }
            if report.interrupted {
                text.push_str("  interrupted before the end\n");
            }
            out!("{text}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::{Request, Response};
    use kube::client::Body;

    use super::*;

    /// A fake apiserver for one Secret: answers PUT with the codes in `puts`, in order (then
    /// 200), and GET with `get_code`. Records the requests.
    fn fake(puts: Vec<u16>, get_code: u16) -> (Client, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let puts = Arc::new(Mutex::new(puts));
        let service = tower::service_fn(move |req: Request<Body>| {
            let log = Arc::clone(&log);
            let puts = Arc::clone(&puts);
            async move {
                let method = req.method().to_string();
                log.lock().unwrap().push(format!("{method} {}", req.uri().path()));
                let code = match method.as_str() {
                    "PUT" => {
                        let mut puts = puts.lock().unwrap();
                        if puts.is_empty() { 200 } else { puts.remove(0) }
                    }
                    _ => get_code,
                };
                let body = if code == 200 {
                    r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns","resourceVersion":"7"}}"#.to_owned()
                } else {
                    // The reasons the apiserver sends with these codes (kube-rs reads them).
                    let reason = match code {
                        404 => "NotFound",
                        409 => "Conflict",
                        _ => "InternalError",
                    };
                    format!(
                        r#"{{"apiVersion":"v1","kind":"Status","status":"Failure","message":"m","reason":"{reason}","code":{code}}}"#
                    )
                };
                Ok::<_, std::convert::Infallible>(
                    Response::builder().status(code).body(Body::from(body.into_bytes())).unwrap(),
                )
            }
        });
        (Client::new(service, "ns"), seen)
    }

    fn secret() -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("s".into());
        s.metadata.namespace = Some("ns".into());
        s.metadata.resource_version = Some("5".into());
        s
    }

    #[tokio::test]
    async fn a_conflict_rereads_and_retries() {
        let (client, seen) = fake(vec![409, 409], 200);
        let api: Api<Secret> = Api::namespaced(client, "ns");
        let outcome = replace_one(&api, "s", secret()).await;
        assert!(matches!(outcome, ObjectOutcome::Rewritten { conflicts: 2 }));
        let path = "/api/v1/namespaces/ns/secrets/s";
        let want = ["PUT", "GET", "PUT", "GET", "PUT"].map(|m| format!("{m} {path}"));
        assert_eq!(*seen.lock().unwrap(), want);
    }

    #[tokio::test]
    async fn deleted_meanwhile_is_gone_and_endless_conflicts_fail() {
        let (client, _) = fake(vec![404], 200);
        let api: Api<Secret> = Api::namespaced(client, "ns");
        assert!(matches!(replace_one(&api, "s", secret()).await, ObjectOutcome::Gone { .. }));

        let (client, _) = fake(vec![409], 404);
        let api: Api<Secret> = Api::namespaced(client, "ns");
        assert!(matches!(
            replace_one(&api, "s", secret()).await,
            ObjectOutcome::Gone { conflicts: 1 }
        ));

        let (client, seen) = fake(vec![409; CONFLICT_RETRIES + 1], 200);
        let api: Api<Secret> = Api::namespaced(client, "ns");
        match replace_one(&api, "s", secret()).await {
            ObjectOutcome::Failed { conflicts, error } => {
                assert_eq!(conflicts as usize, CONFLICT_RETRIES);
                assert!(error.contains("409"), "{error}");
            }
            _ => panic!("endless conflicts must fail"),
        }
        assert_eq!(seen.lock().unwrap().len(), 2 * CONFLICT_RETRIES + 1);
    }
}
