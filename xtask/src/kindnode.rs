//! `cargo xtask kind-node-image`: a kind node image `kindest/node:<kube>` built offline in the
//! project's engine, for hosts where kind's published images cannot be pulled.
//!
//! - The root is a Debian bookworm minbase by `debootstrap` with systemd, containerd, runc and
//!   the CNI plugins, cached by its package list (imported once as `atrest/kind-node-base`).
//! - kind's base files come from the Go module `sigs.k8s.io/kind` (the module cache, not a
//!   copy), plus `xtask/kind-node/` (containerd's config, the image-import unit).
//! - kubelet, kubeadm and kubectl (built from `xtask/go/kindnode`) go to `/usr/bin`; the
//!   component images are saved as tars into `/kind/images` and imported into containerd at
//!   boot, so the build never runs a privileged container.
//! - The image carries [`INPUTS_LABEL`], a hash of every input: an unchanged build is skipped.
//!
//! `--verify` boots the node in a private dockerd (runc wrapper as its default runtime, which
//! `--privileged` needs here), runs `kubeadm init` in it and polls `/readyz` on 127.0.0.1.

use std::fs;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::docker::{self, Engine, Lifetime, PrivateDaemon};
use crate::oracle::{cache_dir, go_build, source_key};
use crate::{Probe, controlplane, human, images, project_root, run, wait_until};

mod kind_create;

/// The image label holding the hash of the build's inputs.
const INPUTS_LABEL: &str = "io.atrest.kind-node.inputs";
/// The etcd image tag the node holds (read by atrest-kind, which names the same label).
const ETCD_TAG_LABEL: &str = "io.atrest.kind-node.etcd-image-tag";
/// The kind release whose base files (entrypoint, units, scripts) the node carries.
const KIND_MODULE: &str = "sigs.k8s.io/kind@v0.33.0";
/// The pause image containerd's `sandbox_image` names.
const PAUSE_REF: &str = "registry.k8s.io/pause:3.10.2";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// What the node's root holds besides minbase (as the trial's node did).
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "iproute2",
    "mount",
    "util-linux",
    "kmod",
    "ca-certificates",
    "procps",
    "conntrack",
    "socat",
    "ethtool",
    "libseccomp2",
];
/// The clean-up kind's base Dockerfile does, run in the root once after debootstrap.
const CLEANUP: &str = r#"
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo ReadKMsg=no >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
ln -sf /dev/null /etc/systemd/system/systemd-binfmt.service
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/*
"#;
/// Units enabled in the node (their `[Install]` says `WantedBy=multi-user.target`).
const ENABLED: &[&str] = &[
    "containerd.service",
    "kubelet.service",
    "undo-mount-hacks.service",
    "atrest-import-images.service",
];

/// Private engine for `--verify`: short paths (a unix socket path has at most 107 bytes).
const VERIFY_DIR: &str = "/tmp/kw";
const NODE: &str = "atrest-kind-node";
const NETWORK: &str = "atrest-kind-node";
/// The import unit takes a few seconds; containerd must start first.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(180);
const READYZ_TIMEOUT: Duration = Duration::from_secs(180);

/// `cargo xtask kind-node-image [--force] [--verify [--kind]]`.
pub(crate) fn command(force: bool, verify: bool, with_kind: bool) -> Result<()> {
    let started = Instant::now();
    let assets = controlplane::setup(false)?;
    let engine = Engine::provide(Lifetime::Run)?;
    images::ensure(&engine, &assets, false)?;
    let (kube, _) = controlplane::versions()?;
    let tag = format!("kindest/node:{kube}");
    let bins = binaries(&kube)?;
    let built = build(&engine, &tag, &bins, &kube, force);
    eprintln!("xtask: kind-node-image took {}", human(started.elapsed()));
    let result = built.and_then(|()| match (verify, with_kind) {
        (true, true) => kind_create::verify_with_kind(&engine, &tag, &bins),
        (true, false) => self::verify(&engine, &tag, &bins),
        (false, _) => Ok(()),
    });
    let released = engine.release();
    result.and(released)
}

/// The node image in `engine` (built when its inputs changed; the control plane's images
/// first), for `--backend kind`: returns its tag.
pub(crate) fn ensure(engine: &Engine, assets: &Path) -> Result<String> {
    images::ensure(engine, assets, false)?;
    let (kube, _) = controlplane::versions()?;
    let tag = format!("kindest/node:{kube}");
    let bins = binaries(&kube)?;
    build(engine, &tag, &bins, &kube, false)?;
    Ok(tag)
}

/// kubelet, kubeadm, kubectl, kube-controller-manager, kube-scheduler and pause, built once per
/// source of `xtask/go/kindnode` (and Go version) into the cache.
fn binaries(kube: &str) -> Result<PathBuf> {
    let src = project_root().join("xtask/go/kindnode");
    let name = format!("kindnode-bin-{kube}-{:016x}", source_key(&src)?);
    let dir = cache_dir().join(&name);
    if dir.join("pause").is_file() {
        return Ok(dir);
    }
    // Not `with_extension`: the version's dots would be taken for one.
    let staging = cache_dir().join(format!("{name}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let ldflags = format!("-ldflags={}", controlplane::version_ldflags(kube)?);
    for name in ["kubelet", "kubeadm", "kubectl", "kube-controller-manager", "kube-scheduler"] {
        let started = Instant::now();
        eprintln!("xtask: building {name} {kube} (cold Go build cache: minutes on 2 cores)");
        run(go_build(&src)
            .arg(staging.join(name))
            .args(["-buildvcs=false", "-tags=selinux,notest", &ldflags])
            .arg(format!("k8s.io/kubernetes/cmd/{name}")))
        .with_context(|| format!("building {name} in xtask/go/kindnode"))?;
        eprintln!("xtask: built {name} in {}", human(started.elapsed()));
    }
    // Last: its presence marks a complete build.
    run(go_build(&src).arg(staging.join("pause")).args(["-ldflags=-s -w", "./pause"]))
        .context("building the pause program in xtask/go/kindnode/pause")?;
    fs::rename(&staging, &dir).with_context(|| format!("moving the build to {}", dir.display()))?;
    Ok(dir)
}

/// The component images kubeadm 1.37 expects, with the binary of those built here (`setup`'s
/// images, etcd and kube-apiserver, are built by [`images::ensure`]).
fn component_images(kube: &str, bins: &Path) -> Result<Vec<(String, Option<PathBuf>)>> {
    let mut refs: Vec<(String, Option<PathBuf>)> =
        images::images()?.into_iter().map(|i| (i.reference, None)).collect();
    for name in ["kube-controller-manager", "kube-scheduler"] {
        refs.push((format!("registry.k8s.io/{name}:{kube}"), Some(bins.join(name))));
    }
    refs.push((PAUSE_REF.to_owned(), Some(bins.join("pause"))));
    Ok(refs)
}

fn build(engine: &Engine, tag: &str, bins: &Path, kube: &str, force: bool) -> Result<()> {
    let components = component_images(kube, bins)?;
    for (reference, binary) in components.iter().filter_map(|(r, b)| Some((r, b.as_ref()?))) {
        let name = binary.file_name().and_then(|n| n.to_str()).context("binary name")?;
        images::ensure_one(engine, binary, name, reference, force)?;
    }
    let kind = kind_base_files()?;
    let (base, base_key) = base_image(engine, force)?;

    // Everything the image is made of, hashed: the base, kind's files, ours, the binaries and
    // the component images' ids.
    let mut hasher = Sha256::new();
    let etcd_tag = images::etcd_tag()?;
    hasher.update(format!("{base_key}\n{KIND_MODULE}\n{}\n", dockerfile(&base, "", &etcd_tag)));
    hasher.update(format!("{:016x}\n", source_key(&project_root().join("xtask/kind-node"))?));
    for bin in ["kubelet", "kubeadm", "kubectl"] {
        hasher.update(format!("{bin} {}\n", images::binary_sha256(&bins.join(bin))?));
    }
    for (reference, _) in &components {
        let id = engine.output(&["image", "inspect", "--format", "{{.Id}}", reference])?;
        hasher.update(format!("{reference} {}", id.trim()));
    }
    let inputs = format!("{:x}", hasher.finalize());
    let format = format!("{{{{.Id}}}} {{{{ index .Config.Labels \"{INPUTS_LABEL}\" }}}}");
    let existing = engine.output(&["image", "inspect", "--format", &format, tag]).ok();
    let existing = existing.as_deref().and_then(|out| out.trim().split_once(' '));
    if !force && existing.is_some_and(|(_, label)| label == inputs) {
        eprintln!("xtask: image {tag} is up to date ({INPUTS_LABEL}={})", &inputs[..16]);
        return record_image(tag);
    }

    let started = Instant::now();
    let context = cache_dir().join("kind-node/context");
    if context.exists() {
        fs::remove_dir_all(&context).with_context(|| format!("removing {}", context.display()))?;
    }
    let root = context.join("rootfs");
    stage_files(&root, &kind, bins, kube)?;
    let images_dir = root.join("kind/images");
    mkdir(&images_dir)?;
    for (reference, _) in &components {
        let file = images_dir.join(format!("{}.tar", reference.replace(['/', ':'], "_")));
        let file = file.to_str().context("a non-UTF-8 cache path")?.to_owned();
        engine.output(&["save", "--output", &file, reference])?;
    }
    fs::write(context.join("Dockerfile"), dockerfile(&base, &inputs, &etcd_tag))
        .context("writing the Dockerfile")?;
    let context_arg = context.to_str().context("a non-UTF-8 cache path")?;
    engine.output(&["build", "--quiet", "--tag", tag, context_arg])?;
    fs::remove_dir_all(&context).ok();
    if let Some((old, _)) = existing {
        // The replaced image lost its tag; remove it (and its layers) unless a container uses it.
        engine.output(&["image", "rm", old]).ok();
    }
    let size = engine.output(&["image", "inspect", "--format", "{{.Size}}", tag])?;
    let size_mb = size.trim().parse::<u64>().unwrap_or_default() / 1_000_000;
    eprintln!("xtask: built {tag} ({size_mb} MB) in {}", human(started.elapsed()));
    record_image(tag)
}

/// Names the image in `<cache>/kind-node/image`, where atrest's kind backend looks for it.
fn record_image(tag: &str) -> Result<()> {
    let dir = cache_dir().join("kind-node");
    mkdir(&dir)?;
    let file = dir.join("image");
    if fs::read_to_string(&file).is_ok_and(|t| t.trim() == tag) {
        return Ok(());
    }
    let staged = dir.join(format!("image.{}.tmp", std::process::id()));
    fs::write(&staged, format!("{tag}\n"))
        .with_context(|| format!("writing {}", staged.display()))?;
    fs::rename(&staged, &file).with_context(|| format!("writing {}", file.display()))
}

/// The final image's recipe: the cached base, then the staged files (kind's, ours, the binaries,
/// the image tars), and the configuration kind's node images carry. Docker 20.10's
/// `import --change` rejects STOPSIGNAL, hence a Dockerfile rather than changes on the import.
/// The etcd tag label tells atrest's kind backend which etcd image the node holds (kubeadm 1.37
/// would ask for a newer one, and the kubelet would try to pull it).
fn dockerfile(base: &str, inputs: &str, etcd_tag: &str) -> String {
    format!(
        "FROM {base}\nCOPY rootfs/ /\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\n\
         ENTRYPOINT [\"/usr/local/bin/entrypoint\", \"/sbin/init\"]\nLABEL {INPUTS_LABEL}={inputs}\n\
         LABEL {ETCD_TAG_LABEL}={etcd_tag}\n"
    )
}

/// kind's `images/base/files` in the module cache (`go mod download` fetches the module
/// through the Go proxy when it is missing).
fn kind_base_files() -> Result<PathBuf> {
    let out = Command::new("go")
        .current_dir(project_root().join("xtask/go/kind"))
        .env("GOWORK", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-modcacherw")
        .args(["mod", "download", "-json", KIND_MODULE])
        .stdin(Stdio::null())
        .output()
        .context("running go mod download")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let dir = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"Dir\": \""))
        .and_then(|l| l.strip_suffix("\","))
        .with_context(|| {
            format!(
                "`go mod download -json {KIND_MODULE}` printed no Dir ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let files = Path::new(dir).join("images/base/files");
    if !files.join("usr/local/bin/entrypoint").is_file() {
        bail!("{} has no usr/local/bin/entrypoint", files.display());
    }
    Ok(files)
}

/// Writes the files the final image adds to its base under `root`.
fn stage_files(root: &Path, kind: &Path, bins: &Path, kube: &str) -> Result<()> {
    let ours = project_root().join("xtask/kind-node");
    let mut copies: Vec<(PathBuf, &str, u32)> = vec![
        (kind.join("usr/local/bin/entrypoint"), "usr/local/bin/entrypoint", 0o755),
        (kind.join("usr/local/bin/clean-install"), "usr/local/bin/clean-install", 0o755),
        (kind.join("etc/crictl.yaml"), "etc/crictl.yaml", 0o644),
        (kind.join("etc/default/kubelet"), "etc/default/kubelet", 0o644),
        (ours.join("containerd-config.toml"), "etc/containerd/config.toml", 0o644),
        (
            ours.join("atrest-import-images.service"),
            "etc/systemd/system/atrest-import-images.service",
            0o644,
        ),
    ];
    for unit in
        ["containerd.service", "kubelet.service", "kubelet.slice", "undo-mount-hacks.service"]
    {
        copies.push((kind.join("etc/systemd/system").join(unit), "", 0o644));
    }
    let mut owned: Vec<(PathBuf, String, u32)> =
        copies.into_iter().map(|(from, to, mode)| (from, to.to_owned(), mode)).collect();
    for entry in owned.iter_mut().filter(|(_, to, _)| to.is_empty()) {
        let unit = entry.0.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        entry.1 = format!("etc/systemd/system/{unit}");
    }
    for (dir, to, mode) in [
        ("kind/bin", "kind/bin", 0o755),
        ("etc/sysctl.d", "etc/sysctl.d", 0o644),
        ("etc/systemd/system/kubelet.service.d", "etc/systemd/system/kubelet.service.d", 0o644),
    ] {
        for entry in fs::read_dir(kind.join(dir)).with_context(|| format!("reading {dir}"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            owned.push((entry.path(), format!("{to}/{name}"), mode));
        }
    }
    for (from, to, mode) in &owned {
        let dest = root.join(to);
        mkdir(dest.parent().context("a staged file's directory")?)?;
        fs::copy(from, &dest)
            .with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(*mode))?;
    }
    for bin in ["kubelet", "kubeadm", "kubectl"] {
        let dest = root.join("usr/bin").join(bin);
        mkdir(dest.parent().context("usr/bin")?)?;
        // A hard link when the cache and the context share a file system (they do by default).
        fs::hard_link(bins.join(bin), &dest)
            .or_else(|_| fs::copy(bins.join(bin), &dest).map(|_| ()))
            .with_context(|| format!("staging {bin}"))?;
    }
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    mkdir(&wants)?;
    for unit in ENABLED {
        symlink(format!("/etc/systemd/system/{unit}"), wants.join(unit))?;
    }
    // Debian puts the CNI plugins in /usr/lib/cni; containerd's config and kind look in
    // /opt/cni/bin.
    mkdir(&root.join("opt/cni"))?;
    symlink("/usr/lib/cni", root.join("opt/cni/bin"))?;
    // kind's containerd.service starts /usr/local/bin/containerd.
    symlink("/usr/bin/containerd", root.join("usr/local/bin/containerd"))?;
    for dir in ["etc/kubernetes/manifests", "etc/cni/net.d"] {
        mkdir(&root.join(dir))?;
    }
    fs::write(root.join("kind/version"), format!("{kube}\n")).context("writing kind/version")?;
    Ok(())
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// The base image `atrest/kind-node-base:<key>` (the debootstrap root after kind's clean-up),
/// imported when missing; `<key>` hashes the suite, mirror, packages and clean-up.
fn base_image(engine: &Engine, force: bool) -> Result<(String, String)> {
    let key = format!(
        "{:x}",
        Sha256::digest(format!("{SUITE} {MIRROR} {}\n{CLEANUP}", PACKAGES.join(",")))
    );
    let key = key[..16].to_owned();
    let base = format!("atrest/kind-node-base:{key}");
    let existing = engine.output(&["image", "inspect", "--format", "{{.Id}}", &base]).ok();
    if !force && existing.is_some() {
        eprintln!("xtask: image {base} is up to date");
        return Ok((base, key));
    }
    let rootfs = rootfs(&key, force)?;
    let started = Instant::now();
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context("starting tar")?;
    let out = engine
        .docker()
        .args(["import", "-", &base])
        .stdin(tar.stdout.take().context("tar's stdout")?)
        .output()
        .context("running docker import")?;
    let tar_status = tar.wait().context("waiting for tar")?;
    if !out.status.success() || !tar_status.success() {
        bail!(
            "importing {} as {base} failed (tar {tar_status}, docker import {}): {}",
            rootfs.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprintln!("xtask: imported {base} in {}", human(started.elapsed()));
    if let Some(old) = existing {
        // Replaced by --force: gone with the old node image, unless something still uses it.
        engine.output(&["image", "rm", old.trim()]).ok();
    }
    Ok((base, key))
}

/// The debootstrap root for `key` in the cache, made when missing (about 2 minutes).
fn rootfs(key: &str, force: bool) -> Result<PathBuf> {
    let dir = cache_dir().join(format!("kind-node/rootfs-{key}"));
    if !force && dir.join("sbin/init").exists() {
        return Ok(dir);
    }
    let (debootstrap, share) = docker::debootstrap()?;
    for stale in [dir.with_extension("partial"), dir.clone()] {
        if stale.exists() {
            fs::remove_dir_all(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    let staging = dir.with_extension("partial");
    mkdir(staging.parent().context("the cache")?)?;
    eprintln!("xtask: debootstrap {SUITE} into {} (about 2 minutes)", staging.display());
    let started = Instant::now();
    let mut cmd = Command::new("nice");
    if let Some(share) = share {
        cmd.env("DEBOOTSTRAP_DIR", share);
    }
    run(cmd
        .args(["-n", "19"])
        .arg(debootstrap)
        .args(["--variant=minbase", &format!("--include={}", PACKAGES.join(",")), SUITE])
        .arg(&staging)
        .arg(MIRROR))
    .context("debootstrap of the kind node's root")?;
    run(Command::new("chroot").arg(&staging).args(["/bin/sh", "-ec", CLEANUP]))
        .context("cleaning up the kind node's root")?;
    fs::rename(&staging, &dir).with_context(|| format!("moving it to {}", dir.display()))?;
    eprintln!("xtask: debootstrap took {}", human(started.elapsed()));
    Ok(dir)
}

/// The private engine of `--verify` and what runs in it; dropping it tears everything down.
struct Private {
    daemon: PrivateDaemon,
}

impl Private {
    fn start() -> Result<Private> {
        let started = Instant::now();
        let daemon = PrivateDaemon::start(Path::new(VERIFY_DIR), docker::wrapper_runtime)?;
        eprintln!("xtask: private dockerd on {} up in {}", daemon.host, human(started.elapsed()));
        Ok(Private { daemon })
    }

    fn dir(&self) -> &Path {
        Path::new(VERIFY_DIR)
    }

    /// The unpacked engine (its `docker` client is in `usr/bin`).
    fn pkg(&self) -> &Path {
        &self.daemon.pkg
    }

    fn docker(&self) -> Command {
        self.daemon.docker()
    }

    fn output(&self, args: &[&str]) -> Result<String> {
        let out = self.docker().args(args).output().context("running docker")?;
        if !out.status.success() {
            bail!(
                "`docker {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        // Then the daemon's own drop stops it and removes its directory.
        self.output(&["rm", "--force", "--volumes", NODE]).ok();
        self.output(&["network", "rm", NETWORK]).ok();
    }
}

/// Polls `/readyz` through `kubeconfig` until it answers `ok`.
fn wait_ready(kubectl: &Path, kubeconfig: &Path) -> Result<()> {
    let ready = wait_until(Instant::now() + READYZ_TIMEOUT, Duration::from_millis(500), || {
        let out = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--request-timeout=5s", "get", "--raw", "/readyz"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Probe::Stop(format!("running kubectl: {e}")))?;
        let body = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && body == "ok" {
            Ok(())
        } else {
            Err(Probe::Retry(format!("{body} {}", String::from_utf8_lossy(&out.stderr).trim())))
        }
    });
    ready.map_err(|last| {
        anyhow::anyhow!("/readyz was not ok within {}s (last: {last})", READYZ_TIMEOUT.as_secs())
    })
}

/// `docker save` from the project's engine into `docker load` of the private one.
fn move_image(engine: &Engine, private: &Private, tag: &str) -> Result<()> {
    let phase = Instant::now();
    let mut save = engine
        .docker()
        .args(["save", tag])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting docker save")?;
    let load = private
        .docker()
        .args(["load", "--quiet"])
        .stdin(save.stdout.take().context("docker save's stdout")?)
        .output()
        .context("running docker load")?;
    let saved = save.wait().context("waiting for docker save")?;
    if !saved.success() || !load.status.success() {
        bail!(
            "moving {tag} into the private engine failed (save {saved}, load {}): {}",
            load.status,
            String::from_utf8_lossy(&load.stderr).trim()
        );
    }
    eprintln!("xtask: moved {tag} into the private engine in {}", human(phase.elapsed()));
    Ok(())
}

/// Boots the node in a private engine, runs `kubeadm init` and polls `/readyz` through the
/// port published on 127.0.0.1.
fn verify(engine: &Engine, tag: &str, bins: &Path) -> Result<()> {
    let started = Instant::now();
    let private = Private::start()?;

    move_image(engine, &private, tag)?;

    let phase = Instant::now();
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .context("picking a port on 127.0.0.1")?
        .port();
    private.output(&["network", "create", "--driver", "bridge", NETWORK])?;
    let publish = format!("127.0.0.1:{port}:6443/tcp");
    // kind v0.33's flags for a control-plane node (providers/docker/provision.go).
    private.output(&[
        "run",
        "--name",
        NODE,
        "--hostname",
        NODE,
        "--detach",
        "--tty",
        "--net",
        NETWORK,
        "--restart=on-failure:1",
        "--init=false",
        "--cgroupns=private",
        "--privileged",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/run",
        "--volume",
        "/var",
        "--volume",
        "/lib/modules:/lib/modules:ro",
        "--env",
        "KUBECONFIG=/etc/kubernetes/admin.conf",
        "--publish",
        &publish,
        tag,
    ])?;
    let unit = "atrest-import-images.service";
    wait_until(Instant::now() + IMPORT_TIMEOUT, Duration::from_millis(500), || {
        let out = private.docker().args(["exec", NODE, "systemctl", "is-active", unit]).output();
        let state = out.map_err(|e| Probe::Stop(e.to_string()))?;
        match String::from_utf8_lossy(&state.stdout).trim() {
            "active" => Ok(()),
            "failed" => Err(Probe::Stop(format!("{unit} failed"))),
            other => Err(Probe::Retry(format!("{unit} is {other:?}"))),
        }
    })
    .map_err(|last| {
        let journal = private
            .output(&["exec", NODE, "journalctl", "--no-pager", "-n", "30", "-u", unit])
            .unwrap_or_else(|e| format!("{e:#}"));
        anyhow::anyhow!(
            "the node's images were not imported within {}s (last: {last}); its journal:\n{journal}",
            IMPORT_TIMEOUT.as_secs()
        )
    })?;
    eprintln!("xtask: node booted and imported its images in {}", human(phase.elapsed()));

    let phase = Instant::now();
    let ip = private.output(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        NODE,
    ])?;
    let config = fs::read_to_string(project_root().join("xtask/kind-node/kubeadm.yaml"))
        .context("reading xtask/kind-node/kubeadm.yaml")?
        .replace("NODE_NAME", NODE)
        .replace("NODE_IP", ip.trim());
    let mut writer = private
        .docker()
        .args(["exec", "-i", NODE, "sh", "-c", "cat > /kind/kubeadm.conf"])
        .stdin(Stdio::piped())
        .spawn()
        .context("starting docker exec")?;
    writer.stdin.take().context("docker exec's stdin")?.write_all(config.as_bytes())?;
    if !writer.wait()?.success() {
        bail!("writing /kind/kubeadm.conf in the node failed");
    }
    let init = private
        .docker()
        .args(["exec", NODE, "kubeadm", "init", "--config=/kind/kubeadm.conf"])
        .args(["--skip-token-print", "--v=1"])
        .output()
        .context("running kubeadm init")?;
    if !init.status.success() {
        let text = String::from_utf8_lossy(&init.stderr);
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        bail!(
            "kubeadm init failed ({}); last lines:\n{}",
            init.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    eprintln!("xtask: kubeadm init finished in {}", human(phase.elapsed()));

    let phase = Instant::now();
    let admin = private.output(&["exec", NODE, "cat", "/etc/kubernetes/admin.conf"])?;
    let admin: String = admin
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("server: ") {
                format!("    server: https://127.0.0.1:{port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let kubeconfig = private.dir().join("admin.conf");
    // 0600: it holds the cluster admin's client key.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&kubeconfig)
        .and_then(|mut f| f.write_all(admin.as_bytes()))
        .context("writing admin.conf")?;
    let kubectl = bins.join("kubectl");
    wait_ready(&kubectl, &kubeconfig)?;
    eprintln!(
        "xtask: https://127.0.0.1:{port}/readyz answered ok {} after kubeadm init; verify took {}",
        human(phase.elapsed()),
        human(started.elapsed())
    );
    let nodes = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "nodes,pods", "--all-namespaces", "--output=wide"])
        .output();
    if let Ok(nodes) = nodes {
        io::stderr().write_all(&nodes.stdout).ok();
    }
    drop(private);
    Ok(())
}
