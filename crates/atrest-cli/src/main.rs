//! `atrest`: the command line over the atrest model.
//!
//! This is the binary edge: it reads files, installs the tracing subscriber (`ATREST_LOG`),
//! uses `anyhow` for its own plumbing, and maps outcomes to exit codes:
//! 0 fine, 1 findings or a failed operation, 2 usage or harness error.
//! Standard output goes through [`out`], so that a reader that stops early (`| head -1`) ends the
//! run quietly, with exit code 0; standard error too, so that a closed one never panics.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// std's `eprintln!` panics when standard error is gone (a pipe whose reader exited); this one
/// drops the text instead (`out::eprint`), so the run still ends with its own exit code. Defined
/// before the modules, it shadows std's macro in all of them.
macro_rules! eprintln {
    () => {
        $crate::out::eprint(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::eprint(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod bench;
mod check_config;
mod cluster;
mod crypt;
mod degradation;
mod files;
mod images;
mod input;
mod inspect;
mod keygen;
mod kind_config;
mod kms_plugin;
mod lifecycle;
mod member_exit;
mod out;
mod preflight;
mod rehearse;
mod rewrite;
mod scenario;
mod status;
mod yaml;

/// Exit codes shared by every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything held (exit 0).
    Ok,
    /// A finding or a failed operation (exit 1).
    Failed,
    /// Usage or harness error (exit 2).
    Error,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        match o {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Error => ExitCode::from(2),
        }
    }
}

/// Test harness and simulator for Kubernetes Secrets encryption at rest.
#[derive(Parser, Debug)]
#[command(name = "atrest", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure: scenario wall times, the latency cost of each encryption provider.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check EncryptionConfiguration files as kube-apiserver would load them, plus lints.
    ///
    /// Exit 0: every file would be accepted (warnings allowed). Exit 1: some file would make
    /// kube-apiserver exit (or has warnings, with --deny-warnings). Exit 2: usage error.
    CheckConfig(check_config::Args),
    /// Run a real cluster (etcd and kube-apiserver) to try encryption at rest by hand.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Decrypt one raw etcd value exactly as kube-apiserver would read it.
    Decrypt(crypt::DecryptArgs),
    /// Encrypt a plaintext value exactly as kube-apiserver would store it (first provider,
    /// first key).
    Encrypt(crypt::EncryptArgs),
    /// Audit a real etcd, read-only: classify every object under a prefix as current, stale,
    /// plaintext or undecryptable under a config, and say which configured keys are still
    /// needed.
    ///
    /// Exit 0: every object is readable. Exit 1: some object is undecryptable. Exit 2: usage
    /// or connection error (an invalid config, an unreachable etcd).
    Inspect(inspect::Args),
    /// Generate a key from the OS CSPRNG and print a ready key entry.
    Keygen(keygen::Args),
    /// Write a kind cluster config whose kube-apiserver runs with your EncryptionConfiguration
    /// (the directory mounted into the control-plane nodes and the static pod, the flag set
    /// through a kubeadm patch in the version kind writes).
    ///
    /// Exit 0: written. Exit 1: kube-apiserver would refuse the configuration (its exact err).
    /// Exit 2: usage error.
    KindConfig(kind_config::Args),
    /// Run atrest's KMS v2 plugin, drive it while it runs (rotate, faults), create its key
    /// file.
    #[command(subcommand)]
    KmsPlugin(kms_plugin::KmsPluginCommand),
    /// Before a restart: what kube-apiserver would do with a new EncryptionConfiguration against
    /// what etcd holds now (starts? ready? which objects become unreadable or stale?).
    ///
    /// Exit 0: safe. Exit 1: it would not start, or lose access to objects or readiness. Exit 2:
    /// usage or connection error.
    Preflight(preflight::Args),
    /// Rehearse your change: plan the safe path from the EncryptionConfiguration you run to the
    /// one you want, prove it on a backend, show what the naive direct switch breaks, and write
    /// the plan as a runbook.
    ///
    /// Exit 0: the plan held and the naive switch did what atrest predicted. Exit 1: a config
    /// does not load, no safe path exists, or an expectation failed. Exit 2: harness error.
    Rehearse(rehearse::Args),
    /// Re-encrypt every object of a resource through the apiserver (after a config change):
    /// paged, concurrent, retrying conflicts, resumable with --journal.
    ///
    /// Exit 0: every object rewritten (or deleted meanwhile). Exit 1: some could not be
    /// rewritten. Exit 2: usage or connection error, or interrupted.
    Rewrite(rewrite::Args),
    /// Run a scenario file on a backend and prove each step by what the API answers and
    /// etcd holds.
    ///
    /// Exit 0: every expectation held. Exit 1: an expectation failed. Exit 2: harness error
    /// (bad scenario file, a backend that could not start when the scenario did not expect it).
    Scenario(scenario::Args),
    /// List the scenarios with their one-line descriptions.
    Scenarios(scenario::ListArgs),
    /// Which encryption configuration every apiserver of a cluster runs (from each one's
    /// /metrics), whether they agree, whether they are ready.
    ///
    /// Exit 0: the same configuration everywhere, all ready. Exit 1: they differ (or differ from
    /// --config), or one is not ready. Exit 2: usage or connection error.
    Status(status::Args),
}

/// Output format for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// Machine-readable JSON.
    Json,
}

fn main() -> ExitCode {
    // Usage errors exit 2, help and version 0 (clap's defaults).
    let cli = Cli::parse();
    init_tracing();
    let outcome = match cli.command {
        Command::Bench(cmd) => bench::run(&cmd),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Cluster(cmd) => cluster::run(&cmd),
        Command::Decrypt(args) => crypt::decrypt(&args),
        Command::Encrypt(args) => crypt::encrypt(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::KindConfig(args) => kind_config::run(&args),
        Command::KmsPlugin(cmd) => kms_plugin::run(&cmd),
        Command::Preflight(args) => preflight::run(&args),
        Command::Rehearse(args) => rehearse::run(&args),
        Command::Rewrite(args) => rewrite::run(&args),
        Command::Scenario(args) => scenario::run(&args),
        Command::Scenarios(args) => scenario::list(&args),
        Command::Status(args) => status::run(&args),
    };
    match outcome {
        Ok(outcome) => outcome.into(),
        // Whoever read our output has stopped (`| head -1`): nothing left to say, no failure.
        Err(err) if out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            Outcome::Error.into()
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // kube-rs logs each refused connection of `cluster up`'s readiness polling as an error;
    // the poll itself reports what matters.
    let filter = EnvFilter::try_from_env("ATREST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,kube_client::client::builder=off"));
    // Colour only for a terminal: a log file or a CI capture gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
