//! `atrest cluster up`: a real etcd and kube-apiserver(s) in the foreground (the `process`
//! backend, crate `atrest-process`), with an admin kubeconfig and etcdctl credentials written to
//! a state directory, until SIGINT or SIGTERM, or until a member exits on its own.
//!
//! The CLI is synchronous everywhere else; this subcommand builds its own tokio runtime. It is a
//! current-thread runtime on purpose: the children are spawned with PR_SET_PDEATHSIG, which
//! fires when the spawning *thread* exits, so they must be spawned from the thread that lives
//! as long as the command (the main thread).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use atrest_process::container::{BindMount, ContainerRun};
use atrest_process::{
    ApiServerOptions, Assets, ContainerImages, ControlPlane, EtcdOptions, InstanceDir, StartError,
};
use clap::{Subcommand, ValueEnum};

use crate::Outcome;
use crate::files::private_dir;
use crate::images::ImageArgs;
use crate::lifecycle::Signals;
use crate::out::outln;

/// `atrest cluster ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCommand {
    /// Start a cluster (etcd and kube-apiservers) and stay in the foreground until SIGINT or
    /// SIGTERM, then tear it down.
    ///
    /// Writes DIR/kubeconfig (admin, first apiserver), DIR/kubeconfig-N (one per apiserver, for
    /// `atrest status`), DIR/env (KUBECONFIG and ETCDCTL_* lines to `source`) with
    /// the etcd client certificate files, and creates DIR/ready once everything answers.
    /// Every member is watched: when etcd or an apiserver exits on its own, it says which, how
    /// (exit code or signal) and where its log is kept, then tears the rest down.
    /// Exit 0 after a clean teardown; exit 2 when a member exited on its own or it cannot start
    /// (missing binaries: run `cargo xtask setup` once; ATREST_ASSETS overrides where they
    /// are).
    Up(UpArgs),
}

/// Where the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// Local child processes (binaries from `cargo xtask setup`'s cache, or ATREST_ASSETS or
    /// KUBEBUILDER_ASSETS).
    Process,
    /// Docker containers of the local images `cargo xtask setup` builds (host networking;
    /// needs DOCKER_HOST).
    Containers,
}

impl Backend {
    /// What members run from: the binaries (`process`), or the checked images, with leftovers
    /// of killed runs swept (`containers`). `None` after printing why it cannot run.
    pub(crate) fn provide(self, images: &ImageArgs) -> Option<(Assets, Option<ContainerImages>)> {
        let fail = |err: &dyn std::fmt::Display| {
            eprintln!("error: {err}");
            None
        };
        if let Err(err) = images.check(self == Backend::Containers) {
            return fail(&err);
        }
        match self {
            Backend::Process => match Assets::locate() {
                Ok(assets) => Some((assets, None)),
                Err(err) => fail(&err),
            },
            Backend::Containers => {
                let images = images.images();
                if let Err(err) = atrest_containers::preflight_images(&images) {
                    return fail(&err);
                }
                atrest_containers::sweep();
                // The binaries run from the images; the host paths are never executed.
                let assets = Assets { kube_apiserver: PathBuf::new(), etcd: PathBuf::new() };
                Some((assets, Some(images)))
            }
        }
    }
}

/// `atrest cluster up`.
#[derive(clap::Args, Debug)]
pub(crate) struct UpArgs {
    /// The backend that runs the cluster.
    #[arg(long, value_enum)]
    backend: Backend,
    /// EncryptionConfiguration file for every apiserver (--encryption-provider-config).
    /// Without it the apiservers store Secrets unencrypted (identity). On `containers` its
    /// directory is mounted read-only at the same path.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many kube-apiservers share the etcd (the kubeconfig names the first).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    apiservers: u16,
    /// Reload the encryption configuration when the file changes
    /// (--encryption-provider-config-automatic-reload=true).
    #[arg(long)]
    automatic_reload: bool,
    /// Directory for kubeconfig, env, certificates and the ready marker; kept at teardown.
    /// Created with mode 0700 when missing; an existing one must be a directory you own that
    /// group and others cannot write (you `source` DIR/env). Default: a new temporary
    /// directory, removed at teardown.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    images: crate::images::ImageArgs,
}

/// Runs a `cluster` subcommand.
pub(crate) fn run(cmd: &ClusterCommand) -> Result<Outcome> {
    match cmd {
        ClusterCommand::Up(args) => up(args),
    }
}

/// The state directory: the user's (kept) or a temporary one (removed on drop).
enum StateDir {
    Kept(PathBuf),
    /// Swept by the next run if this one is killed (it holds the etcd client key).
    Temp(InstanceDir),
}

impl StateDir {
    fn path(&self) -> &Path {
        match self {
            StateDir::Kept(p) => p,
            StateDir::Temp(t) => t.path(),
        }
    }
}

fn up(args: &UpArgs) -> Result<Outcome> {
    // First, before anything starts: the user will `source DIR/env`, so whoever can write DIR
    // can run commands as them.
    let kept = match &args.state_dir {
        Some(dir) => match private_dir(dir) {
            Ok(resolved) => Some(resolved),
            Err(why) => {
                eprintln!("error: refusing --state-dir {}: {why}", dir.display());
                return Ok(Outcome::Error);
            }
        },
        None => None,
    };
    let Some((assets, images)) = args.backend.provide(&args.images) else {
        return Ok(Outcome::Error);
    };
    // Relative paths would otherwise resolve against each apiserver's instance directory.
    let config = match &args.config {
        Some(file) => Some(
            fs::canonicalize(file)
                .with_context(|| format!("encryption config {}", file.display()))?,
        ),
        None => None,
    };
    let state = match kept {
        Some(dir) => StateDir::Kept(dir),
        None => {
            StateDir::Temp(InstanceDir::new("cluster").context("creating the state directory")?)
        }
    };
    // A marker left by an earlier run must not announce this one.
    remove_if_exists(&state.path().join("ready"))?;
    let options = (0..args.apiservers)
        .map(|i| {
            let mut opts = apiserver_options(i, config.as_deref(), args.automatic_reload);
            opts.container = images.as_ref().map(|images| {
                let mut run = images.kube_apiserver_run();
                // The file's directory, read-only at the same path, as kubeadm's `hostPath`.
                if let Some(dir) = config.as_deref().and_then(Path::parent) {
                    run.mount(BindMount::same_path(dir));
                }
                run
            });
            opts
        })
        .collect();
    let etcd = images.as_ref().map(atrest_process::ContainerImages::etcd_run);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let outcome = runtime.block_on(serve(&assets, etcd, options, state.path()));
    if let StateDir::Kept(dir) = &state {
        remove_if_exists(&dir.join("ready"))?;
    }
    drop(state);
    outcome
}

/// How long an apiserver may take to stop after SIGTERM before it gets SIGKILL. A clean stop
/// takes about 1.2 s here; one whose etcd is gone ignores SIGTERM, so this is what its stop
/// costs (`atrest bench member-exit`).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);

/// The options of apiserver `i` of `cluster up` (and of `bench member-exit`).
pub(crate) fn apiserver_options(
    i: u16,
    config: Option<&Path>,
    automatic_reload: bool,
) -> ApiServerOptions {
    let mut opts = ApiServerOptions::new(format!("kube-apiserver-{i}"));
    opts.encryption_config = config.map(Path::to_owned);
    opts.automatic_reload = automatic_reload;
    // A cold start on a busy machine takes longer than envtest's 20 s default.
    opts.start_timeout = Duration::from_secs(90);
    opts.stop_timeout = STOP_GRACE;
    opts
}

/// Starts the control plane, writes the state directory, and waits for a signal or for a
/// member to exit on its own (then says which, how, and where its log is, and exits 2).
async fn serve(
    assets: &Assets,
    etcd: Option<ContainerRun>,
    options: Vec<ApiServerOptions>,
    dir: &Path,
) -> Result<Outcome> {
    let mut signals = Signals::install()?;
    let etcd_docker = etcd.as_ref().map(|run| run.docker.clone());
    eprintln!("starting etcd and {} kube-apiserver(s)...", options.len());
    let start = async {
        let mut etcd_opts = EtcdOptions::new("etcd");
        etcd_opts.container = etcd;
        // Dropping a plane that failed half-way stops what it started.
        let mut plane = ControlPlane::with_etcd(assets, etcd_opts).await?;
        for opts in options {
            plane.add_apiserver(opts).await?;
        }
        Ok::<_, StartError>(plane)
    };
    let plane = match signals.guard(start).await {
        Ok(Ok(plane)) => plane,
        Ok(Err(err)) => {
            eprintln!("error: starting the cluster: {}", atrest_backend::error_chain(&err));
            return Ok(Outcome::Error);
        }
        // Dropping the start future stopped whatever it had started.
        Err(_) => return Ok(Outcome::Ok),
    };
    let written = write_state(&plane, dir);
    if let Err(err) = written {
        plane.shutdown().await;
        return Err(err);
    }
    // The engine's death ends the containers' clients; it is what to report then.
    let docker = etcd_docker;
    let exited = signals.guard(plane.member_exited()).await.ok().map(|exit| match &docker {
        Some(docker) => atrest_containers::explain_exit(exit, docker),
        None => exit,
    });
    if let Some(exit) = &exited {
        eprintln!("error: {exit}");
    }
    eprintln!("stopping the cluster...");
    plane.shutdown().await;
    eprintln!("stopped");
    Ok(if exited.is_some() { Outcome::Error } else { Outcome::Ok })
}

/// Writes kubeconfig, etcd credentials and env, prints how to reach the cluster, then creates
/// `ready`.
fn write_state(plane: &ControlPlane, dir: &Path) -> Result<()> {
    let first = plane.apiserver(0).context("the control plane has no apiserver")?;
    let kubeconfig = dir.join("kubeconfig");
    write(&kubeconfig, plane.pki().admin_kubeconfig(&first.url()).as_bytes())?;
    // One kubeconfig per apiserver too, for `atrest status --kubeconfig DIR/kubeconfig-0 …`.
    let mut per_apiserver = Vec::new();
    for (i, apiserver) in plane.apiservers() {
        let path = dir.join(format!("kubeconfig-{i}"));
        write(&path, plane.pki().admin_kubeconfig(&apiserver.url()).as_bytes())?;
        per_apiserver.push(path);
    }
    let creds = plane.etcd().credentials();
    let ca = dir.join("etcd-ca.crt");
    let cert = dir.join("etcd-client.crt");
    let key = dir.join("etcd-client.key");
    write(&ca, creds.ca_pem.as_bytes())?;
    write(&cert, creds.client.cert_pem.as_bytes())?;
    write(&key, creds.client.key_pem().as_bytes())?;
    let vars = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("ETCDCTL_ENDPOINTS", plane.etcd().client_url().to_owned()),
        ("ETCDCTL_CACERT", ca.display().to_string()),
        ("ETCDCTL_CERT", cert.display().to_string()),
        ("ETCDCTL_KEY", key.display().to_string()),
    ];
    let env: String = vars
        .iter()
        .map(|(name, value)| format!("export {name}={}\n", shell_quote(value)))
        .collect();
    let env_file = dir.join("env");
    write(&env_file, env.as_bytes())?;

    let mut out = String::new();
    out.push_str("cluster is up\n");
    out.push_str(&format!("  etcd:            {}\n", plane.etcd().client_url()));
    for (i, apiserver) in plane.apiservers() {
        out.push_str(&format!("  kube-apiserver-{i}: {}\n", apiserver.url()));
    }
    out.push_str(&format!(
        "\nIn another shell:\n  source {}\n  kubectl create secret generic mysecret \
         --from-literal=password=s3cr3t\n  etcdctl get /registry/secrets/default/mysecret\n\
         \nPress Ctrl-C (SIGINT) or send SIGTERM to stop.\n",
        shell_quote(&env_file.display().to_string())
    ));
    out.push_str(&format!(
        "Which encryption configuration each apiserver runs:\n  atrest status{}\n",
        per_apiserver
            .iter()
            .map(|p| format!(" --kubeconfig {}", shell_quote(&p.display().to_string())))
            .collect::<String>()
    ));
    outln!("{out}").context("printing how to reach the cluster")?;
    // Last: a waiter that sees `ready` finds every other file complete.
    write(&dir.join("ready"), b"")?;
    Ok(())
}

/// Creates or replaces `path` with `bytes`, mode 0600 (certificates and env too: the directory
/// is the user's alone).
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    // Remove first: the mode applies only when the file is created.
    remove_if_exists(path)?;
    let mut f = crate::files::create_output(path, crate::files::Existing::Refuse, 0o600)?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing {}", path.display())),
    }
}

/// Single-quotes `s` for a POSIX shell unless it is plainly safe.
fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-:+,=@".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
        assert_eq!(shell_quote("/tmp/atrest-cluster-x1/env"), "/tmp/atrest-cluster-x1/env");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
