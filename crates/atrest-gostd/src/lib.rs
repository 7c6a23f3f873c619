//! Go standard-library behaviour that kube-apiserver's texts depend on, reproduced exactly:
//! `%q` and JSON string quoting with Go's Unicode tables (`quote`), `url.Parse` (`url`),
//! `time.ParseDuration` and `Duration.String` (`duration`), `base64.StdEncoding` with its error
//! offsets (`base64`).
//!
//! Admission rule: a module belongs here when it reproduces Go standard-library text or
//! parsing and nothing else — no Kubernetes knowledge. Each cites the Go file it mirrors.
//! `go_tables.rs` is generated from Go's own `unicode` package by the oracle
//! (`cargo xtask oracle` checks it), so the Unicode version matches the Go that built upstream.

mod go_tables_mod {
    #![cfg_attr(rustfmt, rustfmt_skip)]
    include!("go_tables.rs");
}
use go_tables_mod as go_tables;

pub mod base64;
pub mod duration;
pub mod quote;
pub mod url;
