//! `atrest status --kubeconfig K1 --kubeconfig K2 …`: which encryption configuration every
//! apiserver of a cluster runs, from its own `/metrics` (the sha256 of the file it loaded,
//! automatic reloads), `/readyz` and `/healthz/kms-providers`; apiservers whose files differ are
//! flagged ("hash does not match between servers").
//!
//! Exit codes: 0 every apiserver answers and runs the same file (the `--config` file, if
//! given), 1 they differ or one is not ready, 2 usage or connection error.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use atrest_process::ApiserverEndpoint;
use atrest_scenario::metrics::ReloadMetrics;
use serde::Serialize;

use crate::out::outln;
use crate::{Format, Outcome};

/// `atrest status`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A kubeconfig whose current context names one apiserver. Repeat it for every apiserver
    /// of the cluster (one kubeconfig per control-plane node).
    #[arg(long, value_name = "FILE", required = true)]
    kubeconfig: Vec<PathBuf>,
    /// The EncryptionConfiguration every apiserver should run: each one's loaded file is
    /// compared with it (its sha256, as `last_config_info` reports it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(Serialize)]
struct ServerStatus {
    kubeconfig: String,
    server: String,
    /// `sha256:<hex>` of the encryption configuration it loaded; `null` when it reports none
    /// (no `--encryption-provider-config`, or a version before 1.34).
    config_hash: Option<String>,
    apiserver_id_hash: Option<String>,
    reloads_succeeded: f64,
    reloads_failed: f64,
    ready: bool,
    failing_checks: Vec<String>,
    /// `/healthz/kms-providers`: `null` when the apiserver has no KMS provider.
    kms_healthy: Option<bool>,
}

async fn status_of(path: &std::path::Path) -> Result<ServerStatus> {
    let shown = path.display().to_string();
    let text = atrest_input::read_limited_to_string(path, atrest_scenario::CONFIG_LIMIT)
        .with_context(|| format!("--kubeconfig {shown}"))?;
    let endpoint = ApiserverEndpoint::from_kubeconfig(&text, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("--kubeconfig {shown}: {e}"))?;
    let server = endpoint.server().to_owned();
    let (code, metrics) =
        endpoint.get_text("/metrics").await.with_context(|| format!("GET {server}/metrics"))?;
    if code != 200 {
        bail!("GET {server}/metrics answered {code}: {}", metrics.lines().next().unwrap_or(""));
    }
    let m = ReloadMetrics::parse(&metrics);
    let (ready_code, readyz) = endpoint
        .get_text("/readyz?verbose")
        .await
        .with_context(|| format!("GET {server}/readyz"))?;
    let (kms_code, _) = endpoint
        .get_text("/healthz/kms-providers")
        .await
        .with_context(|| format!("GET {server}/healthz/kms-providers"))?;
    Ok(ServerStatus {
        kubeconfig: shown,
        server,
        config_hash: m.hash,
        apiserver_id_hash: m.apiserver_id_hash,
        reloads_succeeded: m.successes,
        reloads_failed: m.failures,
        ready: ready_code == 200,
        failing_checks: atrest_process::failing_checks(&readyz),
        kms_healthy: (kms_code != 404).then_some(kms_code == 200),
    })
}

/// `atrest status`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let want = match &args.config {
        Some(path) => {
            let bytes = crate::input::read_config(path)
                .with_context(|| format!("--config {}", path.display()))?;
            Some(atrest_config::load::content_hash(&bytes))
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let servers = runtime.block_on(async {
        let mut out = Vec::new();
        for k in &args.kubeconfig {
            out.push(status_of(k).await?);
        }
        Ok::<_, anyhow::Error>(out)
    })?;
    let mut hashes: Vec<Option<&str>> = servers.iter().map(|s| s.config_hash.as_deref()).collect();
    hashes.dedup();
    let same = hashes.len() <= 1;
    let matches_want =
        want.as_deref().is_none_or(|w| servers.iter().all(|s| s.config_hash.as_deref() == Some(w)));
    let all_ready = servers.iter().all(|s| s.ready && s.kms_healthy != Some(false));
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "apiservers": servers,
                "sameConfig": same,
                "expectedHash": want,
                "matchesExpected": matches_want,
                "allReady": all_ready,
            }))?
        )?,
        Format::Text => {
            for s in &servers {
                outln!("{} ({})", s.server, s.kubeconfig)?;
                let matches = match (&want, &s.config_hash) {
                    (Some(w), Some(h)) if w == h => " = --config",
                    (Some(_), _) => " ≠ --config",
                    _ => "",
                };
                outln!(
                    "  config:  {}{matches}",
                    s.config_hash
                        .as_deref()
                        .unwrap_or("none reported (no --encryption-provider-config?)")
                )?;
                outln!(
                    "  reloads: {} succeeded, {} failed",
                    s.reloads_succeeded,
                    s.reloads_failed
                )?;
                outln!(
                    "  ready:   {}",
                    if s.ready {
                        "yes".to_owned()
                    } else {
                        format!("NO (failing: {})", s.failing_checks.join(", "))
                    }
                )?;
                if let Some(k) = s.kms_healthy {
                    outln!("  kms:     {}", if k { "healthy" } else { "UNHEALTHY" })?;
                }
            }
            outln!(
                "verdict: {}",
                match (same, matches_want, all_ready) {
                    (true, true, true) =>
                        "every apiserver runs the same configuration and is ready",
                    (false, _, _) =>
                        "apiservers run DIFFERENT configurations (hash does not match between them)",
                    (true, false, _) => "the apiservers do not run the --config file",
                    (true, true, false) =>
                        "the same configuration, but not every apiserver is ready",
                }
            )?;
        }
    }
    Ok(if same && matches_want && all_ready { Outcome::Ok } else { Outcome::Failed })
}
