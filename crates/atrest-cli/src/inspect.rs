//! `atrest inspect`: a read-only audit of every object under a prefix of a real etcd, classified
//! under an EncryptionConfiguration (crate `atrest-inspect`), with a verdict per configured key.
//!
//! The walk is paged (`--page-size` keys per range request, each page starting after the last
//! key of the previous one) and every object is printed as it is classified, so memory stays at
//! one page plus the counters. Nothing is written to etcd; reports name etcd keys, key names and
//! sizes, never values or key material.
//!
//! Like `cluster up`, it builds a current-thread tokio runtime for the etcd client
//! (`atrest-etcd`); the classification itself is sync.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use atrest_config::load::{self, LoadOptions};
use atrest_etcd::{ConnectSettings, EtcdTlsFiles, RawEtcd};
use atrest_inspect::render::{self, JsonStream};
use atrest_inspect::{InspectReport, Inspector, ObjectReport, ObjectState, StateCounts};
use atrest_transformers::ResourceTransformers;
use clap::ValueEnum;

use crate::{Format, Outcome};

/// `atrest inspect`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The EncryptionConfiguration the apiservers run with (--encryption-provider-config).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    #[command(flatten)]
    etcd: EtcdArgs,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Which objects to list before the summary.
    #[arg(long, value_enum, default_value_t)]
    objects: Shown,
    /// Which states make the audit fail (exit 1): a CI gate, e.g. `--fail-on plaintext,stale`
    /// after a rotation that should have re-encrypted everything.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "undecryptable")]
    fail_on: Vec<FailOn>,
    /// Also write a JUnit XML report to FILE: one test case per resource, failed when it holds
    /// objects in a `--fail-on` state.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// The KMS plugin of the KMS provider NAME: `NAME=unix:///path/to/socket` calls a running
    /// KMS v2 plugin, `NAME=base64-mock` uses upstream's Base64 test plugin. Repeatable; without
    /// one, a KMS provider's objects are undecryptable. KMS v2 objects are also counted per
    /// plugin key ID.
    #[arg(long, value_name = "NAME=unix:///PATH|NAME=base64-mock")]
    kms_plugin: Vec<String>,
    /// Enable the deprecated KMSv1 feature gate (`--feature-gates=KMSv1=true`).
    #[arg(long)]
    kmsv1: bool,
}

/// Where the objects are: an etcd and how to walk it, or a snapshot file of one (shared by
/// `inspect` and `preflight`).
#[derive(clap::Args, Debug)]
pub(crate) struct EtcdArgs {
    /// etcd client URL: `http://host:port`, or `https://host:port` with --cacert.
    #[arg(long, value_name = "URL", required_unless_present = "snapshot")]
    pub(crate) etcd: Option<String>,
    /// An etcd snapshot file instead of a live etcd: what `etcdctl snapshot save` wrote (its
    /// SHA-256 is checked) or a member's `member/snap/db`. Read without etcd: is last night's
    /// backup encrypted?
    #[arg(long, value_name = "FILE", conflicts_with_all = ["etcd", "cacert", "cert", "key"])]
    snapshot: Option<PathBuf>,
    /// How --snapshot is read: `etcd` restores it with etcd's own `etcdutl snapshot restore`
    /// into a private etcd on 127.0.0.1 (the binaries `cargo xtask setup` builds), `atrest`
    /// reads the bbolt file itself; `auto` is `etcd` when the binaries are there.
    #[arg(long, value_enum, value_name = "READER", default_value_t, requires = "snapshot")]
    snapshot_reader: SnapshotReader,
    /// CA certificate of etcd's serving certificate (PEM), as `etcdctl --cacert`.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's --client-cert-auth, as `etcdctl --cert`.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The client certificate's key (PEM), as `etcdctl --key`.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The key prefix to walk. Default: the etcd prefix followed by `/`.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// kube-apiserver's --etcd-prefix, to resolve each key's resource.
    #[arg(long, value_name = "PREFIX", default_value = "/registry")]
    pub(crate) etcd_prefix: String,
    /// Keys per range request.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    page_size: i64,
    /// How long connecting may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    connect_timeout: Duration,
    /// How long one range request may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    request_timeout: Duration,
}

/// `--snapshot-reader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum SnapshotReader {
    /// `etcd` when etcdutl and etcd are found, else `atrest` (with a warning).
    #[default]
    Auto,
    /// etcd's own tooling: `etcdutl snapshot restore`, then a private etcd.
    Etcd,
    /// atrest's bbolt reader (no binaries needed).
    Atrest,
}

impl EtcdArgs {
    /// What is read, for reports: `etcd URL` or `snapshot FILE`.
    pub(crate) fn describe(&self) -> String {
        match (&self.snapshot, &self.etcd) {
            (Some(file), _) => format!("snapshot {}", file.display()),
            (None, Some(url)) => format!("etcd {url}"),
            (None, None) => "etcd".to_owned(),
        }
    }

    /// The key prefix to walk.
    fn prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| format!("{}/", self.etcd_prefix.trim_end_matches('/')))
    }

    /// Connects and returns the client and the prefix to walk.
    async fn connect(&self, url: &str) -> Result<(RawEtcd, String)> {
        let settings = ConnectSettings::new()
            .with_tls(EtcdTlsFiles {
                ca_file: self.cacert.clone(),
                cert_file: self.cert.clone(),
                key_file: self.key.clone(),
            })
            .with_connect_timeout(self.connect_timeout)
            .with_request_timeout(self.request_timeout);
        let etcd = RawEtcd::connect_url(url, &settings).await?;
        Ok((etcd, self.prefix()))
    }

    /// Feeds every key under the prefix to `inspector`, page by page: `connected` runs once the
    /// etcd answers (nothing is printed for an etcd that does not), `each` sees every object.
    pub(crate) async fn walk(
        &self,
        inspector: &mut Inspector,
        connected: impl FnOnce() -> Result<()>,
        each: impl FnMut(&ObjectReport) -> Result<()>,
    ) -> Result<String> {
        if let Some(file) = &self.snapshot {
            let assets = atrest_process::Assets::locate();
            let etcdutl = assets.as_ref().ok().and_then(atrest_process::Assets::etcdutl);
            return match (self.snapshot_reader, assets, etcdutl) {
                (SnapshotReader::Atrest, _, _) => {
                    self.walk_snapshot(file, inspector, connected, each)
                }
                (_, Ok(assets), Some(etcdutl)) => {
                    self.walk_restored(file, &assets, etcdutl, inspector, connected, each).await
                }
                (SnapshotReader::Etcd, Err(e), _) => Err(e).context(
                    "--snapshot-reader etcd needs etcd and etcdutl (`cargo xtask setup` builds them)",
                ),
                (SnapshotReader::Etcd, Ok(assets), None) => anyhow::bail!(
                    "--snapshot-reader etcd needs etcdutl next to {} (`cargo xtask setup` builds it)",
                    assets.etcd.display()
                ),
                (SnapshotReader::Auto, _, _) => {
                    tracing::warn!(
                        "no etcd and etcdutl found (`cargo xtask setup` builds them): reading \
                         the snapshot with atrest's own bbolt reader"
                    );
                    self.walk_snapshot(file, inspector, connected, each)
                }
            };
        }
        let url = self.etcd.as_deref().context("--etcd or --snapshot is required")?;
        let (etcd, prefix) = self.connect(url).await?;
        connected()?;
        walk_pages(&etcd, &prefix, self.page_size, &format!("etcd at {url}"), inspector, each)
            .await?;
        Ok(prefix)
    }

    /// [`EtcdArgs::walk`] over a snapshot restored the way etcd's documentation restores a
    /// backup: `etcdutl snapshot restore` into a private data directory, and a private etcd
    /// on it (TLS, client certificates, 127.0.0.1), stopped and removed afterwards.
    async fn walk_restored(
        &self,
        file: &Path,
        assets: &atrest_process::Assets,
        etcdutl: PathBuf,
        inspector: &mut Inspector,
        connected: impl FnOnce() -> Result<()>,
        each: impl FnMut(&ObjectReport) -> Result<()>,
    ) -> Result<String> {
        let reading = || format!("reading the snapshot {}", file.display());
        // etcdutl would say "no such file" in its own words; this names the flag.
        std::fs::metadata(file).with_context(reading)?;
        let mut opts = atrest_process::EtcdOptions::new("atrest-snapshot");
        opts.restore =
            Some(atrest_process::Restore { etcdutl, snapshot: std::path::absolute(file)? });
        let mut etcd = match atrest_process::Etcd::start(&assets.etcd, opts).await {
            Ok(etcd) => etcd,
            Err(atrest_process::StartError::Restore {
                error: None, status, last_lines, ..
            }) => {
                // etcdutl died without a word (a truncated file crashes it): say what is wrong
                // with the file in atrest's reader's words.
                let diagnosis = atrest_input::read_limited(file, crate::input::SNAPSHOT_LIMIT)
                    .map_err(anyhow::Error::from)
                    .and_then(|b| atrest_etcd::snapshot::read(&b).map_err(anyhow::Error::from));
                return Err(match diagnosis {
                    Err(e) => anyhow::anyhow!(
                        "etcdutl snapshot restore failed ({status}); the file is damaged: {e:#}"
                    ),
                    Ok(_) => anyhow::anyhow!(
                        "etcdutl snapshot restore failed ({status}) on a file atrest's reader \
                         reads (--snapshot-reader atrest); its last output: {last_lines}"
                    ),
                })
                .with_context(reading);
            }
            Err(e) => return Err(e).with_context(reading),
        };
        let raw = etcd.raw().await.with_context(reading)?;
        tracing::info!(file = %file.display(), "snapshot restored into a private etcd");
        connected()?;
        let prefix = self.prefix();
        let walked =
            walk_pages(&raw, &prefix, self.page_size, "the restored snapshot", inspector, each)
                .await;
        etcd.stop().await;
        walked?;
        Ok(prefix)
    }

    /// [`EtcdArgs::walk`] over a snapshot file: its live keys under the prefix, in key order.
    fn walk_snapshot(
        &self,
        file: &Path,
        inspector: &mut Inspector,
        connected: impl FnOnce() -> Result<()>,
        mut each: impl FnMut(&ObjectReport) -> Result<()>,
    ) -> Result<String> {
        let bytes = atrest_input::read_limited(file, crate::input::SNAPSHOT_LIMIT)?;
        let snapshot = atrest_etcd::snapshot::read(&bytes)
            .with_context(|| format!("reading the snapshot {}", file.display()))?;
        drop(bytes);
        tracing::info!(
            file = %file.display(),
            revision = snapshot.revision,
            keys = snapshot.entries.len(),
            hash_checked = snapshot.hash_checked,
            "snapshot read"
        );
        connected()?;
        let prefix = self.prefix();
        for (key, value) in
            snapshot.entries.iter().filter(|(k, _)| k.starts_with(prefix.as_bytes()))
        {
            if let Some(object) = inspector.add(key, value) {
                each(&object)?;
            }
        }
        Ok(prefix)
    }
}

/// Feeds every key under `prefix` of `etcd` to `inspector`, page by page.
async fn walk_pages(
    etcd: &RawEtcd,
    prefix: &str,
    page_size: i64,
    what: &str,
    inspector: &mut Inspector,
    mut each: impl FnMut(&ObjectReport) -> Result<()>,
) -> Result<()> {
    let mut pages = etcd.prefix_pages(prefix.as_bytes(), page_size);
    while let Some(page) =
        pages.next_page().await.with_context(|| format!("reading {prefix} from {what}"))?
    {
        for kv in &page {
            if let Some(object) = inspector.add(&kv.key, &kv.value) {
                each(&object)?;
            }
        }
    }
    Ok(())
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    /// Objects stored in plaintext.
    Plaintext,
    /// Objects readable, but not with the write provider and key.
    Stale,
    /// Objects the configuration cannot read.
    Undecryptable,
}

impl FailOn {
    fn count(self, c: &StateCounts) -> u64 {
        match self {
            FailOn::Plaintext => c.plaintext,
            FailOn::Stale => c.stale,
            FailOn::Undecryptable => c.undecryptable,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FailOn::Plaintext => "plaintext",
            FailOn::Stale => "stale",
            FailOn::Undecryptable => "undecryptable",
        }
    }
}

/// What `--fail-on` finds in `counts`: `2 stale, 1 plaintext`; empty when nothing.
fn findings(fail_on: &[FailOn], counts: &StateCounts) -> String {
    fail_on
        .iter()
        .filter(|f| f.count(counts) > 0)
        .map(|f| format!("{} {}", f.count(counts), f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One JUnit test case per resource.
fn junit(report: &InspectReport, fail_on: &[FailOn], source: &str) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("atrest inspect {source}"));
    for r in &report.resources {
        let found = findings(fail_on, &r.counts);
        let status = if found.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("{}: {found} (of {} objects)", r.resource, r.counts.objects));
            st
        };
        let mut case = TestCase::new(r.resource.clone(), status);
        case.set_classname("inspect");
        case.set_system_out(format!(
            "{} objects: {} current, {} stale, {} plaintext, {} undecryptable; writes with {}",
            r.counts.objects,
            r.counts.current,
            r.counts.stale,
            r.counts.plaintext,
            r.counts.undecryptable,
            r.writes_with
        ));
        suite.add_test_case(case);
    }
    let mut out = Report::new("atrest");
    out.add_test_suite(suite);
    out.to_string().unwrap_or_else(|e| format!("<!-- cannot render JUnit: {e} -->"))
}

/// `--objects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Shown {
    /// Every object.
    #[default]
    All,
    /// Stale, plaintext and undecryptable objects.
    NotCurrent,
    /// None: the summary only.
    None,
}

impl Shown {
    fn shows(self, o: &ObjectReport) -> bool {
        match self {
            Shown::All => true,
            Shown::NotCurrent => o.state != ObjectState::Current,
            Shown::None => false,
        }
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 86400")),
    }
}

/// `atrest inspect`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    // The config first: a config the apiserver would refuse is a usage error, reported with
    // upstream's exact text as `check-config` prints it.
    let shown = args.config.to_string_lossy().into_owned();
    let options = LoadOptions { reload: false, kmsv1_enabled: args.kmsv1 };
    let loaded = match load::load(&shown, crate::input::read_config(&args.config), &options) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {shown}: INVALID: kube-apiserver would exit with:");
            eprintln!("  err=\"{}\"", err.to_string().replace('\\', "\\\\").replace('"', "\\\""));
            if err.upstream_prints_key_material() {
                eprintln!("  note: {}", crate::check_config::KEY_EXPOSED_NOTE);
            }
            return Ok(Outcome::Error);
        }
    };
    let (kms, unreachable_kms) =
        crate::crypt::kms_plugins(&loaded.config, &args.kms_plugin, args.kmsv1)?;
    let transformers = ResourceTransformers::new(&loaded.plan, &kms)
        .with_context(|| format!("building transformers for {shown}"))?;
    if !unreachable_kms.is_empty() {
        eprintln!(
            "note: {}; their objects show as undecryptable",
            crate::crypt::unreachable_note(&unreachable_kms)
        );
    }
    // A plugin that fails its health check leaves its provider without a DEK: say why.
    for (name, err) in crate::crypt::kms_probe_errors(&transformers, &unreachable_kms) {
        eprintln!("note: KMS provider {name:?}: {err}");
    }
    let inspector = Inspector::new(&loaded.plan, transformers, args.etcd.etcd_prefix.clone());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(walk(args, inspector))
}

async fn walk(args: &Args, mut inspector: Inspector) -> Result<Outcome> {
    let out = std::cell::RefCell::new(BufWriter::new(std::io::stdout().lock()));
    let mut json = None;
    let (stream, start) = JsonStream::start();
    if args.format == Format::Json {
        json = Some(stream);
    }
    let connected = || -> Result<()> {
        let mut out = out.borrow_mut();
        match args.format {
            Format::Json => out.write_all(start.as_bytes())?,
            Format::Text if args.objects != Shown::None => {
                writeln!(out, "{}", render::object_header())?;
            }
            Format::Text => {}
        }
        Ok(())
    };
    let prefix = args
        .etcd
        .walk(&mut inspector, connected, |object| {
            let mut out = out.borrow_mut();
            if !args.objects.shows(object) {
                return Ok(());
            }
            match &mut json {
                Some(stream) => out.write_all(stream.object(object).as_bytes())?,
                None => writeln!(out, "{}", render::object_line(object))?,
            }
            Ok(())
        })
        .await?;
    let report = inspector.finish();
    let mut out = out.into_inner();
    match json {
        Some(stream) => out.write_all(stream.finish(&report).as_bytes())?,
        None => {
            if args.objects != Shown::None {
                writeln!(out)?;
            }
            writeln!(out, "{}, keys under {prefix}:", args.etcd.describe())?;
            out.write_all(render::summary_text(&report).as_bytes())?;
        }
    }
    out.flush().context("writing standard output")?;
    if let Some(path) = &args.junit {
        crate::files::write_output(path, junit(&report, &args.fail_on, &args.etcd.describe()))?;
    }
    let found = findings(&args.fail_on, &report.totals);
    if !found.is_empty() && args.fail_on != [FailOn::Undecryptable] {
        eprintln!("inspect: failing on {found}");
    }
    Ok(if found.is_empty() { Outcome::Ok } else { Outcome::Failed })
}
