//! `file:line:col: severity[code]: message` diagnostics for loading errors and lints.
//!
//! Upstream prints no positions; these are atrest's own, placed with the [`SpanMap`] the decoder
//! records (validation paths map to the field, or to its closest written ancestor when the field
//! was defaulted or left out).

use std::fmt;

use crate::decode::{Position, SpanMap};
use crate::lint::Lint;
use crate::load::LoadError;

/// One located message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name to print.
    pub file: String,
    /// Where, when known.
    pub position: Option<Position>,
    /// `error`, `warning` or `info`.
    pub severity: &'static str,
    /// A lint code, when the diagnostic is a lint.
    pub code: Option<&'static str>,
    /// The message (never key material: validation values print secrets as `REDACTED`).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}:{}: ", self.file, p.line, p.column)?,
            None => write!(f, "{}: ", self.file)?,
        }
        match self.code {
            Some(code) => write!(f, "{}[{code}]: {}", self.severity, self.message),
            None => write!(f, "{}: {}", self.severity, self.message),
        }
    }
}

/// One diagnostic per validation error, or one for the whole failure otherwise.
pub fn from_load_error(err: &LoadError, file: &str) -> Vec<Diagnostic> {
    let one = |position: Option<Position>, message: String| {
        vec![Diagnostic { file: file.to_owned(), position, severity: "error", code: None, message }]
    };
    match err {
        LoadError::Validate { errors, spans } => errors
            .errors()
            .iter()
            .map(|e| Diagnostic {
                file: file.to_owned(),
                position: spans.nearest(&e.field).map(|(_, p)| p),
                severity: "error",
                code: None,
                message: e.to_string(),
            })
            .collect(),
        LoadError::Decode { source, position, .. } => one(*position, source.to_string()),
        LoadError::Build { source, spans } => {
            let position = match source.as_ref() {
                crate::resolve::BuildError::Masked { entry, index, .. } => {
                    spans.get(&format!("resources[{entry}].resources[{index}]"))
                }
                crate::resolve::BuildError::KmsV1Disabled { entry, provider } => spans
                    .nearest(&format!("resources[{entry}].providers[{provider}].kms.apiVersion"))
                    .map(|(_, p)| p),
                _ => None,
            };
            one(position, source.to_string())
        }
        other => one(None, other.to_string()),
    }
}

/// Lints as diagnostics.
pub fn from_lints(lints: &[Lint], spans: &SpanMap, file: &str) -> Vec<Diagnostic> {
    lints
        .iter()
        .map(|l| Diagnostic {
            file: file.to_owned(),
            position: spans.nearest(&l.field).map(|(_, p)| p),
            severity: match l.severity() {
                crate::lint::Severity::Warning => "warning",
                crate::lint::Severity::Info => "info",
            },
            code: Some(l.code.code()),
            message: format!("{} ({})", l.message, l.field),
        })
        .collect()
}
