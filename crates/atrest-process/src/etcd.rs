//! etcd as a child process, with TLS and client-certificate auth the way kubeadm runs it
//! (kubeadm's `etcd.yaml` static pod, cmd/kubeadm/app/phases/etcd/local.go): its own CA, a server certificate
//! for 127.0.0.1, peer TLS with client auth, `--client-cert-auth`, and a plain-HTTP metrics
//! listener whose `/health` is the readiness probe (kubeadm's liveness probe uses it too).

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::ControlFlow;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atrest_etcd::{RawEtcd, RawEtcdError};

use crate::apiserver::{EtcdClientTls, EtcdEndpoint};
use crate::certs::{CertAuthority, CertPair, write_file};
use crate::container::{BindMount, ContainerRun};
use crate::launch::{StartError, http_get, keep_if_crashed, launch, with_port_retries};
use crate::process::{Exit, InstanceDir, ManagedProcess, ProcessSpec, free_ports, new_dir};

/// How often `/health` is polled: a plain local HTTP request is cheap, and etcd is ready in
/// about 100 ms.
const HEALTH_INTERVAL: Duration = Duration::from_millis(25);

/// What to start.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Member name, instance directory and log names.
    pub name: String,
    /// How long to wait for `/health`.
    pub start_timeout: Duration,
    /// SIGTERM → SIGKILL grace.
    pub stop_timeout: Duration,
    /// Appended after the built-in flags.
    pub extra_args: Vec<String>,
    /// Where the instance directory is created (the system temp directory when `None`).
    pub parent_dir: Option<PathBuf>,
    /// Run etcd in this container (its instance directory is mounted read-write at the same
    /// path) instead of as a host process.
    pub container: Option<ContainerRun>,
    /// Start on a snapshot's contents: `etcdutl snapshot restore` into the data directory
    /// first, as the member etcd then starts as.
    pub restore: Option<Restore>,
}

/// A snapshot to restore before etcd starts (upstream's procedure for a backup: `etcdutl
/// snapshot restore`, then a member on the restored data directory).
#[derive(Debug, Clone)]
pub struct Restore {
    /// The `etcdutl` binary (etcd's own release of it).
    pub etcdutl: PathBuf,
    /// The snapshot: `etcdctl snapshot save`'s file (SHA-256 appended, checked by etcdutl) or
    /// a member's bbolt `member/snap/db` (no hash: restored with `--skip-hash-check`).
    pub snapshot: PathBuf,
}

impl EtcdOptions {
    /// Defaults: 20 s start timeout, 10 s stop timeout.
    pub fn new(name: impl Into<String>) -> EtcdOptions {
        EtcdOptions {
            name: name.into(),
            start_timeout: Duration::from_secs(20),
            stop_timeout: Duration::from_secs(10),
            extra_args: Vec::new(),
            parent_dir: None,
            container: None,
            restore: None,
        }
    }
}

/// Client credentials for etcd: the CA and a client certificate, PEM.
#[derive(Clone)]
pub struct EtcdClientCredentials {
    /// The etcd CA certificate.
    pub ca_pem: String,
    /// The client certificate and key.
    pub client: CertPair,
}

impl fmt::Debug for EtcdClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdClientCredentials").finish_non_exhaustive()
    }
}

/// A running single-member etcd. Dropping it stops the process and removes its data.
pub struct Etcd {
    binary: PathBuf,
    opts: EtcdOptions,
    dir: InstanceDir,
    args: Vec<OsString>,
    client_port: u16,
    metrics_port: u16,
    endpoint: EtcdEndpoint,
    credentials: EtcdClientCredentials,
    process: Option<ManagedProcess>,
    started_in: Duration,
}

impl fmt::Debug for Etcd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Etcd")
            .field("name", &self.opts.name)
            .field("client_port", &self.client_port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Restore {
    /// Whether the file ends with the SHA-256 `etcdctl snapshot save` appends: etcdutl's own
    /// test (server/storage/backend: the bbolt file is a whole number of 512-byte sectors).
    fn has_hash(&self) -> std::io::Result<bool> {
        Ok(std::fs::metadata(&self.snapshot)?.len() % 512 == 32)
    }

    /// `etcdutl snapshot restore` into `data_dir` as member `name` at `peer_url`.
    fn run(&self, name: &str, data_dir: &Path, peer_url: &str) -> Result<(), StartError> {
        let failed = |status: String, error: Option<String>| StartError::Restore {
            snapshot: self.snapshot.clone(),
            status,
            error,
            last_lines: String::new(),
        };
        let has_hash =
            self.has_hash().map_err(|e| failed("not run".into(), Some(e.to_string())))?;
        let mut cmd = std::process::Command::new(&self.etcdutl);
        cmd.arg("snapshot")
            .arg("restore")
            .arg(&self.snapshot)
            .arg("--data-dir")
            .arg(data_dir)
            .arg(format!("--name={name}"))
            .arg(format!("--initial-cluster={name}={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .stdin(std::process::Stdio::null());
        if !has_hash {
            cmd.arg("--skip-hash-check");
        }
        let out = cmd.output().map_err(|e| {
            failed("not run".into(), Some(format!("running {}: {e}", self.etcdutl.display())))
        })?;
        if out.status.success() {
            return Ok(());
        }
        // etcdutl logs JSON lines and ends with `Error: …` when it fails cleanly; a damaged
        // file can crash it instead (bbolt faults on a page past the end of the mapping).
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr.lines().rev().find_map(|l| l.strip_prefix("Error: ")).map(str::to_owned);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let last_lines = lines[lines.len().saturating_sub(3)..].join(" | ");
        Err(StartError::Restore {
            snapshot: self.snapshot.clone(),
            status: out.status.to_string(),
            error: error.map(|e| format!("etcdutl snapshot restore ({}): {e}", out.status)),
            last_lines,
        })
    }
}

impl Etcd {
    /// Starts etcd and waits for its `/health` to say `"health":"true"`, for an early exit, or
    /// for the deadline.
    pub async fn start(binary: &Path, opts: EtcdOptions) -> Result<Etcd, StartError> {
        with_port_retries(&opts.name, || Etcd::start_once(binary, opts.clone())).await
    }

    async fn start_once(binary: &Path, opts: EtcdOptions) -> Result<Etcd, StartError> {
        let name = opts.name.clone();
        let dir = new_dir(opts.parent_dir.as_deref(), &name)
            .map_err(|source| StartError::Dir { name: name.clone(), source })?;
        let ports =
            free_ports(3).map_err(|source| StartError::Port { name: name.clone(), source })?;
        let &[client_port, peer_port, metrics_port] = ports.as_slice() else {
            return Err(StartError::Port {
                name,
                source: std::io::Error::other("fewer ports than asked for"),
            });
        };

        let pki = dir.path().join("pki");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&pki)
            .map_err(|source| StartError::Dir { name: name.clone(), source })?;
        let ca = CertAuthority::new("atrest-etcd-ca")?;
        let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let server = ca.server(&name, &loopback, &["localhost"], true)?;
        let peer = ca.server(&name, &loopback, &["localhost"], true)?;
        // kubeadm's apiserver-etcd-client certificate: O=system:masters, CN=kube-apiserver-etcd-client.
        let apiserver_client = ca.client("kube-apiserver-etcd-client", &["system:masters"])?;
        let harness_client = ca.client("atrest-etcd-client", &[])?;
        let ca_file = pki.join("ca.crt");
        write_file(&ca_file, ca.cert_pem().as_bytes())?;
        let (server_crt, server_key) = server.write(&pki, "server")?;
        let (peer_crt, peer_key) = peer.write(&pki, "peer")?;
        let (client_crt, client_key) = apiserver_client.write(&pki, "apiserver-etcd-client")?;

        let client_url = format!("https://127.0.0.1:{client_port}");
        let peer_url = format!("https://127.0.0.1:{peer_port}");
        let data_dir = dir.path().join("data");
        let mut args: Vec<OsString> = Vec::new();
        let mut flag = |name: &str, value: &dyn AsRef<std::ffi::OsStr>| {
            let mut arg = OsString::from(format!("--{name}="));
            arg.push(value.as_ref());
            args.push(arg);
        };
        flag("name", &name);
        flag("data-dir", &data_dir);
        flag("listen-client-urls", &client_url);
        flag("advertise-client-urls", &client_url);
        flag("listen-peer-urls", &peer_url);
        flag("initial-advertise-peer-urls", &peer_url);
        flag("initial-cluster", &format!("{name}={peer_url}"));
        flag("listen-metrics-urls", &format!("http://127.0.0.1:{metrics_port}"));
        flag("cert-file", &server_crt);
        flag("key-file", &server_key);
        flag("trusted-ca-file", &ca_file);
        flag("client-cert-auth", &"true");
        flag("peer-cert-file", &peer_crt);
        flag("peer-key-file", &peer_key);
        flag("peer-trusted-ca-file", &ca_file);
        flag("peer-client-cert-auth", &"true");
        flag("snapshot-count", &"10000");
        // Test data only: fsync makes every write wait for the disk (etcd ≥ 3.5).
        flag("unsafe-no-fsync", &"true");
        // A lone member waits one election timeout before it elects itself; the default
        // (1000 ms, heartbeat 100 ms) made that 0.5–1 s of every start here, 100 ms makes it
        // ~0.1 s. A single member always has its own quorum, so a short timeout cannot make
        // it lose leadership under load.
        flag("heartbeat-interval", &"20");
        flag("election-timeout", &"100");
        args.extend(opts.extra_args.iter().map(OsString::from));
        if let Some(restore) = &opts.restore {
            restore.run(&name, &data_dir, &peer_url)?;
        }

        let endpoint = EtcdEndpoint {
            url: client_url,
            tls: Some(EtcdClientTls { ca_file, cert_file: client_crt, key_file: client_key }),
        };
        let credentials =
            EtcdClientCredentials { ca_pem: ca.cert_pem().to_owned(), client: harness_client };
        let mut etcd = Etcd {
            binary: binary.to_owned(),
            opts,
            dir,
            args,
            client_port,
            metrics_port,
            endpoint,
            credentials,
            process: None,
            started_in: Duration::ZERO,
        };
        etcd.launch().await?;
        Ok(etcd)
    }

    async fn launch(&mut self) -> Result<(), StartError> {
        let mut spec = ProcessSpec::new(self.opts.name.clone(), &self.binary);
        spec.args = self.args.clone();
        spec.stop_timeout = self.opts.stop_timeout;
        spec.container = self.opts.container.clone().map(|mut run| {
            let dir = self.dir.path().to_owned();
            run.mount(BindMount { host: dir.clone(), container: dir, read_only: false });
            run
        });
        let port = self.metrics_port;
        let (process, took) =
            launch(&spec, &mut self.dir, self.opts.start_timeout, HEALTH_INTERVAL, || {
                probe_health(port)
            })
            .await?;
        self.process = Some(process);
        self.started_in = took;
        Ok(())
    }

    /// How the apiserver reaches it (`--etcd-servers`, `--etcd-cafile`, …).
    pub fn endpoint(&self) -> &EtcdEndpoint {
        &self.endpoint
    }

    /// `https://127.0.0.1:<client port>`.
    pub fn client_url(&self) -> &str {
        &self.endpoint.url
    }

    /// CA and a client certificate for the harness's own etcd client.
    pub fn credentials(&self) -> &EtcdClientCredentials {
        &self.credentials
    }

    /// A raw client of this member with the harness's client certificate
    /// ([`RawEtcd::connect_pem`]: it connects on the first request, which has no deadline).
    pub async fn raw(&self) -> Result<RawEtcd, RawEtcdError> {
        let creds = &self.credentials;
        RawEtcd::connect_pem(
            self.client_url(),
            &creds.ca_pem,
            &creds.client.cert_pem,
            creds.client.key_pem(),
        )
        .await
    }

    /// The instance directory (data, certificates, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How long the last start took from spawn to healthy.
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

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.process.as_ref().is_some_and(|p| p.exit().is_none())
    }

    /// Stops the process; the data directory stays for [`Etcd::start_again`].
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

    /// Sends `signal` to the running member (a fault step: not reported as an unexpected exit)
    /// and waits until it exited; the data directory stays for [`Etcd::start_again`].
    pub async fn kill(&mut self, signal: nix::sys::signal::Signal) -> Option<Exit> {
        let process = self.process.as_mut()?;
        Some(process.kill(signal).await)
    }

    /// Starts the stopped member again on the same ports and data.
    pub async fn start_again(&mut self) -> Result<(), StartError> {
        self.stop().await;
        self.launch().await
    }

    /// Keeps the instance directory (data and logs) on disk after drop; returns its path.
    pub fn keep_dir(&mut self) -> &Path {
        self.dir.keep()
    }

    /// Stops the process and removes the instance directory.
    pub async fn shutdown(mut self) -> Option<Exit> {
        self.stop().await
    }
}

/// One readiness observation of etcd's `/health` on the metrics listener.
async fn probe_health(metrics_port: u16) -> ControlFlow<(), String> {
    match http_get(metrics_port, "/health").await {
        Ok((200, body)) if body.contains("\"health\":\"true\"") => ControlFlow::Break(()),
        Ok((status, body)) => ControlFlow::Continue(format!("/health {status}: {}", body.trim())),
        Err(e) => ControlFlow::Continue(format!("/health: {e}")),
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // The process itself is stopped by `ManagedProcess`'s drop; keep the logs if it had
        // died on its own.
        if let Some(exit) = self.process.as_ref().and_then(ManagedProcess::exit) {
            keep_if_crashed(&mut self.dir, &self.opts.name, &exit);
        }
    }
}
