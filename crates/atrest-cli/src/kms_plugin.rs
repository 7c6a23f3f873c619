//! `atrest kms-plugin`: serve atrest's KMS v2 plugin (crate `atrest-kms`), drive it while it
//! runs, and create its key file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use atrest_kms::{KmsPlugin, PluginConfig, PluginStatus};

use crate::lifecycle::Signals;
use crate::out::outln;
use crate::{Format, Outcome};

/// `atrest kms-plugin`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum KmsPluginCommand {
    /// Serve KMS v2 (`v2.KeyManagementService`) on a unix socket in the foreground until
    /// SIGINT or SIGTERM, which stop it and remove its sockets.
    ///
    /// Key-encryption keys are AES-256-GCM keys from --key-file (one `<key ID> <base64 key>`
    /// per line, the last one current); rotation appends to it. Point a KMS v2 provider at it
    /// with `endpoint: unix://<socket>`.
    Serve(ServeArgs),
    /// Send one command to a running plugin's control socket and print its state.
    ///
    /// Commands: `status`; `rotate` (a new key ID; old ones still decrypt); `clear` (every
    /// fault off); `fault NAME [ARGS|off]` with NAME one of `unavailable` (the gRPC socket is
    /// closed), `latency DURATION` (e.g. 50ms), `encrypt|decrypt|status CODE [MESSAGE]` (fail
    /// with a gRPC code such as FailedPrecondition), `unhealthy [HEALTHZ]`, `wrong-kek` (another
    /// key under the same key IDs, as after a botched restore), `version VERSION`,
    /// `empty-ciphertext`, `oversized-key-id`.
    Ctl(CtlArgs),
    /// Create a key file with one fresh key (mode 0600; never overwrites).
    Keygen(KeygenArgs),
}

/// `atrest kms-plugin serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// The unix socket to serve KMS v2 on (created 0600; a stale socket there is replaced).
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// The key file (`atrest kms-plugin keygen --out FILE` makes one); it must not be
    /// accessible by group or others.
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// Also accept control commands (`atrest kms-plugin ctl`) on this unix socket.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
}

/// `atrest kms-plugin ctl`.
#[derive(clap::Args, Debug)]
pub(crate) struct CtlArgs {
    /// The plugin's control socket (`serve --control`).
    #[arg(long, value_name = "PATH")]
    control: PathBuf,
    /// Output format of the plugin's state.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The command, e.g. `rotate` or `fault latency 50ms`.
    #[arg(required = true, num_args = 1.., value_name = "COMMAND", allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `atrest kms-plugin keygen`.
#[derive(clap::Args, Debug)]
pub(crate) struct KeygenArgs {
    /// The key file to create.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(crate) fn run(cmd: &KmsPluginCommand) -> Result<Outcome> {
    match cmd {
        KmsPluginCommand::Serve(args) => serve(args),
        KmsPluginCommand::Ctl(args) => ctl(args),
        KmsPluginCommand::Keygen(args) => keygen(&args.out),
    }
}

fn keygen(out: &Path) -> Result<Outcome> {
    if out.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!(
            "refusing to write {}: it is a symbolic link (remove it, or choose another path)",
            out.display()
        );
    }
    let key_id = atrest_kms::generate_key_file(out)?;
    eprintln!(
        "wrote a KMS plugin key file with key ID {key_id:?} to {} (mode 0600)",
        out.display()
    );
    Ok(Outcome::Ok)
}

fn serve(args: &ServeArgs) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(async {
        let mut signals = Signals::install()?;
        let mut config = PluginConfig::new(&args.socket, &args.key_file);
        if let Some(control) = &args.control {
            config = config.with_control_socket(control);
        }
        let plugin = KmsPlugin::start(config).context("starting the KMS plugin")?;
        let status = plugin.status();
        eprintln!(
            "serving KMS v2 on {} (key ID {:?}, {} key version(s)){}; Ctrl-C stops it",
            plugin.endpoint(),
            status.key_id,
            status.key_ids.len(),
            match plugin.control_path() {
                Some(path) => format!(", control socket {}", path.display()),
                None => String::new(),
            }
        );
        signals.recv().await;
        eprintln!("stopping the KMS plugin...");
        plugin.shutdown().context("stopping the KMS plugin")?;
        eprintln!("stopped");
        Ok(Outcome::Ok)
    })
}

fn ctl(args: &CtlArgs) -> Result<Outcome> {
    let line = args.command.join(" ");
    let status = match atrest_kms::send_control(&args.control, &line, Duration::from_secs(30)) {
        Ok(status) => status,
        Err(err @ atrest_kms::ControlError::Refused { .. }) => {
            eprintln!("error: {err}");
            return Ok(Outcome::Failed);
        }
        Err(err) => return Err(err).context("is the plugin running with --control?"),
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&status)?)?,
        Format::Text => print_status(&status)?,
    }
    Ok(Outcome::Ok)
}

fn print_status(status: &PluginStatus) -> std::io::Result<()> {
    let serving = if status.serving { "serving" } else { "unavailable (socket closed)" };
    outln!("socket:   {} ({serving})", status.socket.display())?;
    outln!("key ID:   {}", status.key_id)?;
    outln!("key IDs:  {}", status.key_ids.join(", "))?;
    let f = &status.faults;
    let mut faults = Vec::new();
    if f.unavailable {
        faults.push("unavailable".to_owned());
    }
    if let Some(latency) = f.latency {
        faults.push(format!("latency {latency:?}"));
    }
    for (name, error) in [("encrypt", &f.encrypt), ("decrypt", &f.decrypt), ("status", &f.status)] {
        if let Some(e) = error {
            faults.push(format!("{name} fails with {} {:?}", e.code, e.message));
        }
    }
    if let Some(healthz) = &f.unhealthy {
        faults.push(format!("unhealthy {healthz:?}"));
    }
    if f.wrong_kek {
        faults.push("wrong-kek".to_owned());
    }
    if let Some(version) = &f.version {
        faults.push(format!("version {version:?}"));
    }
    if f.empty_ciphertext {
        faults.push("empty-ciphertext".to_owned());
    }
    if f.oversized_key_id {
        faults.push("oversized-key-id".to_owned());
    }
    if faults.is_empty() {
        faults.push("none".to_owned());
    }
    outln!("faults:   {}", faults.join(", "))?;
    let c = &status.calls;
    outln!("calls:    Status {}, Encrypt {}, Decrypt {}", c.status, c.encrypt, c.decrypt)
}
