//! `atrest preflight --config NEW --etcd …`: before any restart, what kube-apiserver would do
//! with NEW against what etcd holds now — whether it starts (the exact `err`), whether it
//! becomes ready, which objects become unreadable or stale, which stored keys NEW lacks — and,
//! with `--current`, whether a cluster of several apiservers can switch directly.
//!
//! Exit codes: 0 safe, 1 NEW would not start, lose access to objects or readiness, 2 usage or
//! connection error.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use atrest_config::load::{self, LoadOptions};
use atrest_inspect::Inspector;
use atrest_inspect::preflight::Preflight;
use atrest_transformers::ResourceTransformers;
use serde_json::json;

use crate::inspect::EtcdArgs;
use crate::out::outln;
use crate::{Format, Outcome};

/// `atrest preflight`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The EncryptionConfiguration you are about to give the apiservers.
    #[arg(long, value_name = "NEW.yaml")]
    config: PathBuf,
    /// The EncryptionConfiguration they run now: adds what a cluster of several apiservers must
    /// do first (`--apiservers`).
    #[arg(long, value_name = "CURRENT.yaml")]
    current: Option<PathBuf>,
    /// How many apiservers share the etcd.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    apiservers: u16,
    #[command(flatten)]
    etcd: EtcdArgs,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The KMS plugin of the KMS provider NAME (as for `inspect`). Repeatable.
    #[arg(long, value_name = "NAME=unix:///PATH|NAME=base64-mock")]
    kms_plugin: Vec<String>,
}

/// `atrest preflight`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let shown = args.config.to_string_lossy().into_owned();
    let loaded = match load::load(
        &shown,
        crate::input::read_config(&args.config),
        &LoadOptions::default(),
    ) {
        Ok(loaded) => loaded,
        Err(err) => {
            let text = err.to_string();
            match args.format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "starts": false,
                        "apiserverError": text,
                        "apiserverErrorContainsKeyMaterial": err.upstream_prints_key_material(),
                        "safe": false,
                    }))?
                )?,
                Format::Text => {
                    outln!("starts: NO: kube-apiserver would exit with:")?;
                    outln!("  err=\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))?;
                    outln!("verdict: NOT safe: the apiserver would not start")?;
                }
            }
            if err.upstream_prints_key_material() {
                eprintln!(
                    "note: the real kube-apiserver prints the key material itself where atrest prints REDACTED"
                );
            }
            return Ok(Outcome::Failed);
        }
    };
    let ha = match &args.current {
        Some(current) if args.apiservers > 1 => ha_note(current, &loaded.config, args.apiservers)?,
        _ => None,
    };
    let (kms, unreachable) = crate::crypt::kms_plugins(&loaded.config, &args.kms_plugin, false)?;
    let transformers = ResourceTransformers::new(&loaded.plan, &kms)
        .with_context(|| format!("building transformers for {shown}"))?;
    if !unreachable.is_empty() {
        eprintln!(
            "note: {}; their objects show as unreadable",
            crate::crypt::unreachable_note(&unreachable)
        );
    }
    let mut inspector = Inspector::new(&loaded.plan, transformers, args.etcd.etcd_prefix.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let prefix = runtime.block_on(args.etcd.walk(&mut inspector, || Ok(()), |_| Ok(())))?;
    let verdict = Preflight::assess(&inspector.finish());
    let safe = verdict.is_safe() && ha.is_none();
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&verdict)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("starts".into(), json!(true));
                o.insert("haNote".into(), json!(ha));
                o.insert("safe".into(), json!(safe));
            }
            outln!("{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Text => {
            outln!("{shown} against {}, keys under {prefix}:", args.etcd.describe())?;
            outln!("starts: yes (it loads as kube-apiserver loads it)")?;
            crate::out::out!("{}", verdict.to_text())?;
            if let Some(note) = &ha {
                outln!("HA: {note}")?;
            }
        }
    }
    Ok(if safe { Outcome::Ok } else { Outcome::Failed })
}

/// With several apiservers, a new write provider that the running ones cannot read must reach
/// every apiserver as a reader first (upstream's rotation procedure).
fn ha_note(
    current: &std::path::Path,
    new: &atrest_config::EncryptionConfiguration,
    apiservers: u16,
) -> Result<Option<String>> {
    let shown = current.to_string_lossy().into_owned();
    let current = load::load(&shown, crate::input::read_config(current), &LoadOptions::default())
        .map_err(|e| anyhow::anyhow!("--current {shown} does not load: {e}"))?;
    let options = atrest_rehearse::PlanOptions { apiservers: usize::from(apiservers), objects: 1 };
    let plan = match atrest_rehearse::plan(&current.config, new, options) {
        Ok(plan) => plan,
        Err(e) => return Ok(Some(e.to_string())),
    };
    Ok(plan.steps.iter().any(|s| s.kind == atrest_rehearse::StepKind::Add).then(|| {
        format!(
            "with {apiservers} apiservers, NEW writes with a provider the others, still on CURRENT, cannot read: add it second on every apiserver and restart them all first (`atrest rehearse --from {shown} --to NEW --apiservers {apiservers}` writes the steps)"
        )
    }))
}
