//! `atrest check-config`: each file through kube-apiserver's loading pipeline, plus lints.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;
use atrest_config::diagnostics::{self, Diagnostic};
use atrest_config::lint::{self, Lint};
use atrest_config::load::{self, LoadError, LoadOptions};
use serde::Serialize;

use crate::out::outln;
use crate::{Format, Outcome};

/// `atrest check-config`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// EncryptionConfiguration files, each checked as kube-apiserver's
    /// `--encryption-provider-config`.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Exit 1 when any lint warns, even if every file is valid.
    #[arg(long)]
    deny_warnings: bool,
    /// Check as with `--encryption-provider-config-automatic-reload` (KMS v1 names must then be
    /// unique too).
    #[arg(long)]
    automatic_reload: bool,
    /// Check as with `--feature-gates=KMSv1=true` (KMSv1 is disabled by default since 1.29).
    #[arg(long)]
    kmsv1: bool,
}

/// The JSON report.
#[derive(Serialize)]
struct Report {
    files: Vec<FileReport>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    valid: bool,
    /// The exact `err` kube-apiserver would exit with; `null` when it would start.
    apiserver_error: Option<String>,
    /// The real apiserver prints key material in `apiserver_error` where atrest prints
    /// `REDACTED`.
    apiserver_error_contains_key_material: bool,
    errors: Vec<ErrorEntry>,
    warnings: Vec<WarningEntry>,
}

#[derive(Serialize)]
struct ErrorEntry {
    /// The field path for validation errors, `null` otherwise.
    field: Option<String>,
    /// `Required value`, `Invalid value`, ... for validation errors; the failing stage
    /// (`read`, `empty`, `decode`, `build`) otherwise.
    #[serde(rename = "type")]
    error_type: String,
    detail: String,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

#[derive(Serialize)]
struct WarningEntry {
    code: &'static str,
    severity: String,
    field: String,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

struct Checked {
    report: FileReport,
    diagnostics: Vec<Diagnostic>,
    warns: bool,
}

fn check_file(path: &Path, options: &LoadOptions) -> Checked {
    // Upstream prints the flag's value as given, so do we.
    let shown = path.to_string_lossy().into_owned();
    let read = crate::input::read_config(path);
    match load::load(&shown, read, options) {
        Ok(loaded) => {
            let lints = lint::lint(&loaded.config);
            let diagnostics = diagnostics::from_lints(&lints, &loaded.spans, &shown);
            let warnings: Vec<WarningEntry> = lints
                .iter()
                .zip(&diagnostics)
                .map(|(l, d): (&Lint, &Diagnostic)| WarningEntry {
                    code: l.code.code(),
                    severity: l.severity().to_string(),
                    field: l.field.clone(),
                    message: l.message.clone(),
                    line: d.position.map(|p| p.line),
                    column: d.position.map(|p| p.column),
                })
                .collect();
            let warns = lints.iter().any(|l| l.severity() == lint::Severity::Warning);
            Checked {
                report: FileReport {
                    path: shown,
                    valid: true,
                    apiserver_error: None,
                    apiserver_error_contains_key_material: false,
                    errors: Vec::new(),
                    warnings,
                },
                diagnostics,
                warns,
            }
        }
        Err(err) => {
            let diagnostics = diagnostics::from_load_error(&err, &shown);
            let errors = error_entries(&err, &diagnostics);
            Checked {
                report: FileReport {
                    path: shown,
                    valid: false,
                    apiserver_error: Some(err.to_string()),
                    apiserver_error_contains_key_material: err.upstream_prints_key_material(),
                    errors,
                    warnings: Vec::new(),
                },
                diagnostics,
                warns: false,
            }
        }
    }
}

fn error_entries(err: &LoadError, diagnostics: &[Diagnostic]) -> Vec<ErrorEntry> {
    match err {
        LoadError::Validate { errors, .. } => errors
            .errors()
            .iter()
            .zip(diagnostics)
            .map(|(e, d)| ErrorEntry {
                field: Some(e.field.clone()),
                error_type: e.error_type.to_string(),
                detail: e.detail.clone(),
                message: e.to_string(),
                line: d.position.map(|p| p.line),
                column: d.position.map(|p| p.column),
            })
            .collect(),
        other => {
            let position = diagnostics.first().and_then(|d| d.position);
            let detail = match other {
                LoadError::Read { source, .. } => source.to_string(),
                LoadError::Decode { source, .. }
                | LoadError::UnexpectedConfigType { source, .. } => source.to_string(),
                LoadError::Build { source, .. } => source.to_string(),
                LoadError::Empty { .. } | LoadError::Validate { .. } => other.to_string(),
            };
            vec![ErrorEntry {
                field: None,
                error_type: other.stage().to_string(),
                detail,
                message: other.to_string(),
                line: position.map(|p| p.line),
                column: position.map(|p| p.column),
            }]
        }
    }
}

/// `atrest check-config`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let options = LoadOptions { reload: args.automatic_reload, kmsv1_enabled: args.kmsv1 };
    let checked: Vec<Checked> = args.files.iter().map(|f| check_file(f, &options)).collect();
    let invalid = checked.iter().any(|c| !c.report.valid);
    let warns = checked.iter().any(|c| c.warns);
    match args.format {
        Format::Json => {
            let report = Report { files: checked.into_iter().map(|c| c.report).collect() };
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
        }
        Format::Text => print_text(&checked)?,
    }
    Ok(if invalid || (args.deny_warnings && warns) { Outcome::Failed } else { Outcome::Ok })
}

/// Said after an apiserver error whose upstream text holds key material that atrest redacted
/// (`check-config`, `decrypt`, `encrypt`, `inspect`).
pub(crate) const KEY_EXPOSED_NOTE: &str = "the real kube-apiserver prints the key material itself \
     where atrest prints REDACTED: its log now holds your key, so treat that key as exposed";

fn print_text(checked: &[Checked]) -> io::Result<()> {
    for (i, c) in checked.iter().enumerate() {
        if i > 0 {
            outln!()?;
        }
        let r = &c.report;
        match &r.apiserver_error {
            Some(err) => {
                outln!("{}: INVALID: kube-apiserver would exit with:", r.path)?;
                outln!("  err=\"{}\"", err.replace('\\', "\\\\").replace('"', "\\\""))?;
                if r.apiserver_error_contains_key_material {
                    outln!("  note: {KEY_EXPOSED_NOTE}")?;
                }
            }
            None => {
                let n = c.diagnostics.len();
                let findings = match n {
                    0 => "no findings".to_owned(),
                    1 => "1 finding".to_owned(),
                    n => format!("{n} findings"),
                };
                outln!("{}: valid: kube-apiserver would start with it; {findings}", r.path)?;
            }
        }
        for d in &c.diagnostics {
            outln!("  {d}")?;
        }
    }
    Ok(())
}
