//! kube-apiserver as a child process (flags of cmd/kube-apiserver/app/options): generated PKI, the minimum flag set,
//! readiness by polling `/readyz` against a deadline while watching for an early exit, and a
//! typed error carrying the `"command failed" err="…"` text when it exits.
//!
//! Mirrors the envtest model (controller-runtime `pkg/internal/testing/controlplane/apiserver.go`)
//! and the in-tree test server (kubernetes `cmd/kube-apiserver/app/testing/testserver.go`).

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Namespace;

use crate::certs::{CertAuthority, CertError, CertPair, ServiceAccountKey, write_file};
use crate::container::{BindMount, ContainerRun, parent_dirs};
use crate::launch::{
    Launched, POLL_INTERVAL, Patience, StartError, keep_if_crashed, launch, launch_keep_unready,
    with_port_retries,
};
use crate::process::{Exit, InstanceDir, ManagedProcess, ProcessSpec, free_port, new_dir};

/// Where the apiserver's storage is, and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdEndpoint {
    /// `https://127.0.0.1:<port>` (or `http://` without TLS).
    pub url: String,
    /// Client TLS: CA, client certificate and key files (`--etcd-cafile`, `--etcd-certfile`,
    /// `--etcd-keyfile`).
    pub tls: Option<EtcdClientTls>,
}

/// Files for a TLS etcd client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdClientTls {
    /// The etcd CA certificate.
    pub ca_file: PathBuf,
    /// The client certificate.
    pub cert_file: PathBuf,
    /// Its key.
    pub key_file: PathBuf,
}

impl EtcdEndpoint {
    /// A plain-HTTP endpoint (no TLS).
    pub fn plain(url: impl Into<String>) -> EtcdEndpoint {
        EtcdEndpoint { url: url.into(), tls: None }
    }
}

/// The identities shared by every apiserver of one cluster: the cluster CA (serving
/// certificates and client certificates, as kubeadm's `ca.crt`), the admin client certificate
/// (group `system:masters`) and the service-account signing key.
#[derive(Debug)]
pub struct ClusterPki {
    /// The cluster CA.
    pub ca: CertAuthority,
    /// `admin`, in `system:masters`.
    pub admin: CertPair,
    /// The service-account key.
    pub service_account: ServiceAccountKey,
}

impl ClusterPki {
    /// Generates all of it.
    pub fn generate() -> Result<ClusterPki, CertError> {
        let ca = CertAuthority::new("atrest-kubernetes-ca")?;
        let admin = ca.client("admin", &["system:masters"])?;
        Ok(ClusterPki { ca, admin, service_account: ServiceAccountKey::generate()? })
    }

    /// An admin kubeconfig for `server`, with all credentials inline (the shape envtest writes).
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        self.kubeconfig_for(server, "atrest-admin", &self.admin)
    }

    /// A kubeconfig for `server` as the user of `client` (a certificate this CA signed, e.g.
    /// one without any RBAC binding), named `user`, credentials inline.
    pub fn kubeconfig_for(&self, server: &str, user: &str, client: &CertPair) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: atrest\n  cluster:\n    server: {server}\n    \
             certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n    \
             client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: atrest\n  \
             context:\n    cluster: atrest\n    user: {user}\n    namespace: default\n\
             current-context: atrest\n",
            STANDARD.encode(self.ca.cert_pem()),
            STANDARD.encode(&client.cert_pem),
            STANDARD.encode(client.key_pem()),
        )
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// Used for the instance directory and log names (`kube-apiserver-0`).
    pub name: String,
    /// `--encryption-provider-config`, passed as given (relative paths resolve against the
    /// instance directory). May name a missing file: a scenario can point it anywhere.
    pub encryption_config: Option<PathBuf>,
    /// `--encryption-provider-config-automatic-reload=true`.
    pub automatic_reload: bool,
    /// Appended after the built-in flags (a later flag wins for single-valued flags).
    pub extra_args: Vec<String>,
    /// How long to wait for `/readyz` (and the `default` namespace).
    pub start_timeout: Duration,
    /// SIGTERM → SIGKILL grace.
    pub stop_timeout: Duration,
    /// Where the instance directory is created (the system temp directory when `None`).
    pub parent_dir: Option<PathBuf>,
    /// Run the apiserver in this container instead of as a host process. Its instance directory
    /// (certificates, kubeconfig) and the directories of etcd's client certificate files are
    /// added as read-only mounts at the same paths; the encryption configuration's directory
    /// and KMS sockets are the caller's mounts.
    pub container: Option<ContainerRun>,
}

impl ApiServerOptions {
    /// Defaults: no encryption config, envtest's 20 s start timeout, 10 s stop timeout.
    pub fn new(name: impl Into<String>) -> ApiServerOptions {
        ApiServerOptions {
            name: name.into(),
            encryption_config: None,
            automatic_reload: false,
            extra_args: Vec::new(),
            start_timeout: Duration::from_secs(20),
            stop_timeout: Duration::from_secs(10),
            parent_dir: None,
            container: None,
        }
    }
}

/// A running kube-apiserver. Dropping it stops the process; its directory is removed unless a
/// start failed.
pub struct ApiServer {
    binary: PathBuf,
    opts: ApiServerOptions,
    /// The flags that do not depend on `opts` (PKI, ports, etcd); the rest are added at each
    /// launch, so that option changes apply at the next start.
    base_args: Vec<OsString>,
    /// etcd's client certificate files (mounted into a container run).
    etcd_files: Vec<PathBuf>,
    dir: InstanceDir,
    port: u16,
    process: Option<ManagedProcess>,
    client: kube::Client,
    kubeconfig: String,
    started_in: Duration,
}

impl fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiServer")
            .field("name", &self.opts.name)
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Starts `binary` against `etcd` and waits for three outcomes at once: ready (`/readyz`
    /// answers 200 and namespace `default` exists), exited early ([`StartError::Exited`] with the
    /// `"command failed"` text), or the deadline ([`StartError::TimedOut`] with the last
    /// observation). On failure the process is stopped and its instance directory kept.
    pub async fn start(
        binary: &Path,
        etcd: &EtcdEndpoint,
        pki: &ClusterPki,
        opts: ApiServerOptions,
    ) -> Result<ApiServer, StartError> {
        with_port_retries(&opts.name, || ApiServer::start_once(binary, etcd, pki, opts.clone()))
            .await
    }

    async fn start_once(
        binary: &Path,
        etcd: &EtcdEndpoint,
        pki: &ClusterPki,
        opts: ApiServerOptions,
    ) -> Result<ApiServer, StartError> {
        let mut apiserver = ApiServer::prepare(binary, etcd, pki, opts).await?;
        apiserver.launch().await?;
        Ok(apiserver)
    }

    /// Everything [`ApiServer::start`] does except starting the process: instance directory,
    /// port, certificates, kubeconfig and client. Start it with [`ApiServer::start_again`] or
    /// [`ApiServer::start_keep_unready`]; a failed start leaves the handle usable for another.
    pub async fn prepare(
        binary: &Path,
        etcd: &EtcdEndpoint,
        pki: &ClusterPki,
        opts: ApiServerOptions,
    ) -> Result<ApiServer, StartError> {
        let name = opts.name.clone();
        let dir = new_dir(opts.parent_dir.as_deref(), &name)
            .map_err(|source| StartError::Dir { name: name.clone(), source })?;
        let port = free_port().map_err(|source| StartError::Port { name: name.clone(), source })?;
        let base_args = write_pki_and_args(dir.path(), port, etcd, pki)?;
        let server = format!("https://127.0.0.1:{port}");
        let kubeconfig = pki.admin_kubeconfig(&server);
        write_file(&dir.path().join("kubeconfig"), kubeconfig.as_bytes())?;
        let client = client_from_kubeconfig(&kubeconfig)
            .await
            .map_err(|source| StartError::Client { name: name.clone(), source })?;
        let etcd_files = etcd
            .tls
            .iter()
            .flat_map(|t| [t.ca_file.clone(), t.cert_file.clone(), t.key_file.clone()])
            .collect();
        Ok(ApiServer {
            binary: binary.to_owned(),
            opts,
            base_args,
            etcd_files,
            dir,
            port,
            process: None,
            client,
            kubeconfig,
            started_in: Duration::ZERO,
        })
    }

    /// What to run: the stored flags plus those of the current options.
    fn spec(&self) -> ProcessSpec {
        let mut spec = ProcessSpec::new(self.opts.name.clone(), &self.binary);
        spec.args = self.base_args.clone();
        spec.args.extend(option_args(&self.opts));
        spec.stop_timeout = self.opts.stop_timeout;
        spec.container = self.opts.container.clone().map(|mut run| {
            run.mount(BindMount::same_path(self.dir.path()));
            for m in parent_dirs(self.etcd_files.iter().map(PathBuf::as_path)) {
                run.mount(m);
            }
            run
        });
        spec
    }

    /// Spawns the process with the stored arguments and waits for readiness.
    async fn launch(&mut self) -> Result<(), StartError> {
        let spec = self.spec();
        let client = self.client.clone();
        let (process, took) =
            launch(&spec, &mut self.dir, self.opts.start_timeout, POLL_INTERVAL, || {
                probe_ready(client.clone())
            })
            .await?;
        self.process = Some(process);
        self.started_in = took;
        Ok(())
    }

    /// Starts the stopped process (stopping it first if it runs) and waits for readiness
    /// until `timeout`; unlike [`ApiServer::start_again`], a process still running but not
    /// ready at the deadline is kept running ([`Readiness::NotReady`]), because what an unready
    /// apiserver answers is part of what a scenario observes. An early exit is still
    /// [`StartError::Exited`].
    pub async fn start_keep_unready(&mut self, timeout: Duration) -> Result<Readiness, StartError> {
        self.stop().await;
        let spec = self.spec();
        let client = self.client.clone();
        let stuck: Arc<Mutex<Stuck>> = Arc::default();
        let probe = || {
            let (client, stuck) = (client.clone(), stuck.clone());
            async move {
                let observed = probe_ready(client).await;
                if let ControlFlow::Continue(last) = &observed {
                    stuck.lock().unwrap_or_else(PoisonError::into_inner).observe(last);
                }
                observed
            }
        };
        let still_starting =
            |last: Option<&str>| !stuck.lock().unwrap_or_else(PoisonError::into_inner).held(last);
        let (process, launched) = launch_keep_unready(
            &spec,
            &mut self.dir,
            timeout,
            POLL_INTERVAL,
            probe,
            &Patience { up_to: timeout.saturating_mul(4), still_starting: &still_starting },
        )
        .await?;
        self.process = Some(process);
        Ok(match launched {
            Launched::Ready(took) => {
                self.started_in = took;
                Readiness::Ready
            }
            Launched::NotReady(timed_out) => {
                Readiness::NotReady { waited: timed_out.waited, last: timed_out.last }
            }
        })
    }

    /// The options; changes apply at the next start ([`ApiServer::start_again`],
    /// [`ApiServer::start_keep_unready`]), which re-reads the encryption configuration.
    pub fn options_mut(&mut self) -> &mut ApiServerOptions {
        &mut self.opts
    }

    /// The options.
    pub fn options(&self) -> &ApiServerOptions {
        &self.opts
    }

    /// `GET /readyz?verbose`: the status code and body (a failing check reads
    /// `[-]<name> failed: reason withheld`).
    pub async fn readyz(&self) -> Result<(u16, String), kube::Error> {
        readyz(&self.client).await
    }

    /// Keeps the instance directory (certificates, logs) on disk after drop; returns its path.
    pub fn keep_dir(&mut self) -> &Path {
        self.dir.keep()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The secure port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An admin client (`system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The admin kubeconfig (credentials inline); also written to `<dir>/kubeconfig`.
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// The instance directory (certificates, kubeconfig, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The stderr log of the current (or last) process.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join(format!("{}.stderr.log", self.opts.name))
    }

    /// How long the last start took from spawn to ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The pid of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ManagedProcess::pid)
    }

    /// The pid of the running binary on the host (in a container, its main process).
    pub fn member_pid(&self) -> Option<std::io::Result<u32>> {
        self.process.as_ref().map(ManagedProcess::member_pid)
    }

    /// The current (or last) process, until it is stopped on purpose.
    pub(crate) fn process(&self) -> Option<&ManagedProcess> {
        self.process.as_ref()
    }

    /// Whether the process is running (started and not exited).
    pub fn is_running(&self) -> bool {
        self.process.as_ref().is_some_and(|p| p.exit().is_none())
    }

    /// Stops the process (SIGTERM, then SIGKILL); the directory and port stay for
    /// [`ApiServer::start_again`]. Returns `None` if it was not running.
    pub async fn stop(&mut self) -> Option<Exit> {
        let process = self.process.take()?;
        let exit = process.shutdown().await;
        keep_if_crashed(&mut self.dir, &self.opts.name, &exit);
        Some(exit)
    }

    /// Freezes the running process (`pause: true`) or lets it go on; `Ok(false)` when there is
    /// no process to pause.
    pub async fn pause(&mut self, pause: bool) -> std::io::Result<bool> {
        match self.process.as_mut() {
            Some(p) => p.pause(pause).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Whether the process is paused.
    pub fn is_paused(&self) -> bool {
        self.process.as_ref().is_some_and(ManagedProcess::is_paused)
    }

    /// Sends `signal` to the running process (a fault step: not reported as an unexpected
    /// exit) and waits until it exited; the directory and port stay for the next start.
    pub async fn kill(&mut self, signal: nix::sys::signal::Signal) -> Option<Exit> {
        let process = self.process.as_mut()?;
        Some(process.kill(signal).await)
    }

    /// Starts the stopped process again with the same flags, port and certificates, re-reading
    /// the encryption configuration.
    pub async fn start_again(&mut self) -> Result<(), StartError> {
        self.stop().await;
        self.launch().await
    }

    /// [`ApiServer::stop`] then [`ApiServer::start_again`].
    pub async fn restart(&mut self) -> Result<(), StartError> {
        self.start_again().await
    }

    /// Stops the process and removes the instance directory.
    pub async fn shutdown(mut self) -> Option<Exit> {
        self.stop().await
    }
}

/// How a start that keeps an unready process went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `/readyz` passed and namespace `default` exists.
    Ready,
    /// Running, but not ready at the deadline.
    NotReady {
        /// How long it waited.
        waited: Duration,
        /// The last observation: the `/readyz?verbose` body when it answered, else what
        /// went wrong.
        last: Option<String>,
    },
}

/// The names of the failing checks in a `/readyz?verbose` (or `/healthz?verbose`) body, in
/// order.
///
/// Mirrors k8s.io/apiserver pkg/server/healthz/healthz.go (`handleRootHealth`), which writes
/// `[+]<name> ok` or `[-]<name> failed: reason withheld` per check.
pub fn failing_checks(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("[-]"))
        .map(|rest| rest.split_once(" failed").map_or(rest, |(name, _)| name).to_owned())
        .collect()
}

/// The checks a resource with an unreadable stored value keeps failing: its watch cache cannot
/// list it, so storage-readiness fails until `--storage-initialization-timeout` (1m by default;
/// then the hook gives up and passes) and, for Secrets, `informer-sync` fails for ever. A
/// start that is stuck on them counts as not ready: what the apiserver answers then (and a
/// minute later) is what a scenario observes next.
const STUCK_CHECKS: [&str; 2] = ["informer-sync", "poststarthook/storage-readiness"];

/// How long an apiserver must fail only [`STUCK_CHECKS`] to count as not ready. A healthy
/// start passes them a few seconds after the others, even on a loaded machine, where the whole
/// start can outlast the not-ready deadline.
const STUCK_FOR: Duration = Duration::from_secs(8);

/// Since when a start has failed only [`STUCK_CHECKS`]: one stuck on them for [`STUCK_FOR`]
/// counts as not ready (on `process`, and on kind, whose kubelet starts the same binary).
#[derive(Debug, Default)]
pub struct Stuck(Option<Instant>);

impl Stuck {
    /// Records a readiness observation (a `/readyz` body, or a text that ends with one);
    /// `true` once only stuck checks have failed for [`STUCK_FOR`].
    pub fn observe(&mut self, last: &str) -> bool {
        if !stuck_only(last) {
            self.0 = None;
            return false;
        }
        self.0.get_or_insert_with(Instant::now).elapsed() >= STUCK_FOR
    }

    /// Whether `last` (the latest observation, already recorded) is stuck and has been for
    /// [`STUCK_FOR`].
    pub fn held(&self, last: Option<&str>) -> bool {
        last.is_some_and(stuck_only) && self.0.is_some_and(|t| t.elapsed() >= STUCK_FOR)
    }
}

/// Whether a readiness observation (a `/readyz` body, or a text that ends with one) fails
/// exactly some of [`STUCK_CHECKS`] and nothing else.
fn stuck_only(last: &str) -> bool {
    let failing = failing_checks(last);
    !failing.is_empty() && failing.iter().all(|c| STUCK_CHECKS.contains(&c.as_str()))
}

/// `GET /readyz?verbose`: status and body, whether it passed or not.
async fn readyz(client: &kube::Client) -> Result<(u16, String), kube::Error> {
    get_path(client, "/readyz?verbose").await
}

/// `GET path` (a health or readiness check): status and body, whether it passed or not.
pub(crate) async fn get_path(
    client: &kube::Client,
    path: &str,
) -> Result<(u16, String), kube::Error> {
    let request = http::Request::get(path).body(Vec::new()).map_err(kube::Error::HttpError)?;
    match client.request_text(request).await {
        Ok(body) => Ok((200, body)),
        // kube turns a body that is not a `Status` into one whose message is the (trimmed)
        // body: for /readyz, the check list.
        Err(kube::Error::Api(status)) => Ok((status.code, status.message)),
        Err(e) => Err(e),
    }
}

/// One readiness observation: `/readyz` answers 200 and namespace `default` exists.
async fn probe_ready(client: kube::Client) -> ControlFlow<(), String> {
    match readyz(&client).await {
        Ok((200, _)) => {}
        Ok((code, body)) => return ControlFlow::Continue(format!("/readyz {code}:\n{body}")),
        Err(e) => {
            return ControlFlow::Continue(format!("/readyz: {}", atrest_backend::error_chain(&e)));
        }
    }
    let namespaces: kube::Api<Namespace> = kube::Api::all(client);
    match namespaces.get_opt("default").await {
        Ok(Some(_)) => ControlFlow::Break(()),
        Ok(None) => ControlFlow::Continue("namespace default not created yet".to_owned()),
        Err(e) => {
            ControlFlow::Continue(format!("namespace default: {}", atrest_backend::error_chain(&e)))
        }
    }
}

/// A kube client from a kubeconfig text.
pub(crate) async fn client_from_kubeconfig(
    kubeconfig: &str,
) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}

/// A kube client that shows every answer as the apiserver sent it: kube's default retry of
/// 429/503/504 (up to 15 times, backing off to minutes) is off, and a request that gets no
/// answer within `read_timeout` fails instead of hanging.
pub(crate) async fn plain_client_from_kubeconfig(
    kubeconfig: &str,
    read_timeout: Duration,
) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    config.default_retry = false;
    config.read_timeout = Some(read_timeout);
    config.reset_reader_on_write = true;
    Ok(kube::Client::try_from(config)?)
}

/// Writes the serving certificate, client CA and service-account keys into `dir` and returns
/// the minimum flag set: a subset of what kubeadm gives the static pod
/// (cmd/kubeadm/app/phases/controlplane/manifests.go).
fn write_pki_and_args(
    dir: &Path,
    port: u16,
    etcd: &EtcdEndpoint,
    pki: &ClusterPki,
) -> Result<Vec<OsString>, StartError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let serving =
        pki.ca.server("kube-apiserver", &[loopback], &["localhost", "kubernetes"], false)?;
    let (tls_cert, tls_key) = serving.write(dir, "apiserver")?;
    let client_ca = dir.join("client-ca.crt");
    write_file(&client_ca, pki.ca.cert_pem().as_bytes())?;
    let (sa_key, sa_pub) = pki.service_account.write(dir)?;

    let mut args: Vec<OsString> = Vec::new();
    let mut flag = |name: &str, value: &dyn AsRef<std::ffi::OsStr>| {
        let mut arg = OsString::from(format!("--{name}="));
        arg.push(value.as_ref());
        args.push(arg);
    };
    flag("etcd-servers", &etcd.url);
    if let Some(tls) = &etcd.tls {
        flag("etcd-cafile", &tls.ca_file);
        flag("etcd-certfile", &tls.cert_file);
        flag("etcd-keyfile", &tls.key_file);
    }
    flag("bind-address", &"127.0.0.1");
    flag("advertise-address", &"127.0.0.1");
    // v1.37 refuses a loopback advertise address for the endpoint reconcilers ("cannot use
    // public IP 127.0.0.1 with endpoint reconciler: … may not be in the loopback range"), and a
    // harness has no other address to offer; the `kubernetes` Service then has no endpoints.
    flag("endpoint-reconciler-type", &"none");
    flag("secure-port", &port.to_string());
    flag("cert-dir", &dir);
    flag("tls-cert-file", &tls_cert);
    flag("tls-private-key-file", &tls_key);
    flag("client-ca-file", &client_ca);
    flag("service-cluster-ip-range", &"10.0.0.0/24");
    flag("authorization-mode", &"RBAC");
    flag("allow-privileged", &"true");
    flag("disable-admission-plugins", &"ServiceAccount");
    flag("service-account-issuer", &format!("https://127.0.0.1:{port}/"));
    flag("service-account-key-file", &sa_pub);
    flag("service-account-signing-key-file", &sa_key);
    Ok(args)
}

/// The flags that come from the options, after the built-in ones.
fn option_args(opts: &ApiServerOptions) -> Vec<OsString> {
    let mut args = Vec::new();
    if let Some(config) = &opts.encryption_config {
        let mut arg = OsString::from("--encryption-provider-config=");
        arg.push(config);
        args.push(arg);
    }
    if opts.automatic_reload {
        args.push("--encryption-provider-config-automatic-reload=true".into());
    }
    args.extend(opts.extra_args.iter().map(OsString::from));
    args
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // The process itself is stopped by `ManagedProcess`'s drop; keep the logs if it had
        // died on its own.
        if let Some(exit) = self.process.as_ref().and_then(ManagedProcess::exit) {
            keep_if_crashed(&mut self.dir, &self.opts.name, &exit);
        }
    }
}

/// Any kube-apiserver a kubeconfig names (the current context's server): what `atrest status`
/// asks each apiserver of a cluster, the harness's or a user's.
pub struct ApiserverEndpoint {
    client: kube::Client,
    server: String,
}

impl fmt::Debug for ApiserverEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiserverEndpoint").field("server", &self.server).finish_non_exhaustive()
    }
}

impl ApiserverEndpoint {
    /// From kubeconfig text; every request fails after `timeout` without an answer.
    pub async fn from_kubeconfig(
        kubeconfig: &str,
        timeout: Duration,
    ) -> Result<ApiserverEndpoint, Box<dyn std::error::Error + Send + Sync>> {
        let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        let server = config.cluster_url.to_string();
        let client = plain_client_from_kubeconfig(kubeconfig, timeout).await?;
        Ok(ApiserverEndpoint { client, server })
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET path`: the status code and body, whatever the code.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String), kube::Error> {
        let request = http::Request::get(path).body(Vec::new()).map_err(kube::Error::HttpError)?;
        match self.client.request_text(request).await {
            Ok(body) => Ok((200, body)),
            Err(kube::Error::Api(status)) => Ok((status.code, status.message)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{failing_checks, stuck_only};

    // The body shape of k8s.io/apiserver pkg/server/healthz/healthz.go `handleRootHealth`.
    #[test]
    fn failing_check_names() {
        let body = "[+]ping ok\n[+]etcd ok\n[-]informer-sync failed: reason withheld\n\
                    [+]poststarthook/x ok\n[-]poststarthook/storage-readiness failed: reason withheld\n\
                    readyz check failed";
        assert_eq!(failing_checks(body), ["informer-sync", "poststarthook/storage-readiness"]);
        assert!(failing_checks("ok").is_empty());
    }

    #[test]
    fn only_the_stuck_checks_failing_is_stuck() {
        let stuck = "/readyz 500:\n[+]ping ok\n[-]informer-sync failed: reason withheld\n\
                     [-]poststarthook/storage-readiness failed: reason withheld";
        assert!(stuck_only(stuck));
        // Still starting: another check fails too, /readyz does not answer, or it is ready
        // but the default namespace is not there yet.
        let starting =
            format!("{stuck}\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld");
        assert!(!stuck_only(&starting));
        assert!(!stuck_only(
            "/readyz: error trying to connect: tcp connect error: Connection refused"
        ));
        assert!(!stuck_only("namespace default not created yet"));
        // Stuck only once it has lasted: a first stuck observation is not yet held.
        let mut s = super::Stuck::default();
        assert!(!s.observe(stuck));
        assert!(!s.held(Some(stuck)));
        assert!(s.0.is_some());
        assert!(!s.observe("namespace default not created yet"));
        assert!(s.0.is_none(), "anything else starts the clock again");
    }
}
