//! `kind-node-image --verify --kind`: the node image under kind itself. `kind create cluster`
//! (kind v0.33.0 from `cargo xtask kind`) in the private engine, from the shipped example
//! `kind-configs/single-control-plane.yaml` with four additions this host needs (the node image
//! built here; no CNI and no kube-proxy, whose images are not baked in; kubelet's
//! `failCgroupV1: false`; etcd's image tag as built here), then `/readyz`, then a Secret that
//! must reach etcd encrypted by the example's mounted EncryptionConfiguration, then `kind
//! delete cluster`.

use super::*;

/// The cluster's name (kind names the node `<name>-control-plane`).
const CLUSTER: &str = "atrest-verify";
/// What `scenarios/configs/secretbox.yaml` writes Secrets with.
const SECRETBOX_PREFIX: &str = "k8s:enc:secretbox:v1:key1:";

/// The example with the node image `tag`, and the settings this host needs.
fn kind_config(tag: &str) -> Result<String> {
    let example = project_root().join("kind-configs/single-control-plane.yaml");
    let text =
        fs::read_to_string(&example).with_context(|| format!("reading {}", example.display()))?;
    let image = text
        .lines()
        .find(|l| l.trim_start().starts_with("image: "))
        .with_context(|| format!("{} names no node image", example.display()))?;
    let indent = &image[..image.len() - image.trim_start().len()];
    let mut config = text.replace(image, &format!("{indent}image: \"{tag}\""));
    // The example's own patch stays; these follow it: kubelet on cgroup v1, and etcd's tag as
    // the image built here has it (kubeadm 1.37 would ask for a newer one, and pull it).
    let etcd_tag = images::etcd_tag()?;
    config.push_str(
        "  - |\n    kind: KubeletConfiguration\n    apiVersion: kubelet.config.k8s.io/v1beta1\n    failCgroupV1: false\n",
    );
    config.push_str(&format!(
        "  - |\n    kind: ClusterConfiguration\n    apiVersion: kubeadm.k8s.io/v1beta4\n    etcd:\n      local:\n        imageTag: \"{etcd_tag}\"\n"
    ));
    config.push_str("networking:\n  disableDefaultCNI: true\n  kubeProxyMode: none\n");
    Ok(config)
}

pub(super) fn verify_with_kind(engine: &Engine, tag: &str, bins: &Path) -> Result<()> {
    let started = Instant::now();
    let kind = crate::kind::binary()?;
    let private = Private::start()?;
    move_image(engine, &private, tag)?;
    let dir = private.dir().to_owned();

    // The example mounts `enc/` relative to where kind runs.
    let enc = dir.join("enc");
    mkdir(&enc)?;
    let source = project_root().join("scenarios/configs/secretbox.yaml");
    let key_file = enc.join("encryption-config.yaml");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_file)
        .and_then(|mut f| f.write_all(&fs::read(&source)?))
        .with_context(|| format!("writing {}", key_file.display()))?;
    let config = dir.join("kind.yaml");
    fs::write(&config, kind_config(tag)?).context("writing kind.yaml")?;

    let phase = Instant::now();
    let kubeconfig = dir.join("kubeconfig");
    let path = std::env::join_paths(
        std::iter::once(private.pkg().join("usr/bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .context("building PATH")?;
    let kind_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&kind);
        // kind runs `docker`: the private engine's own client, talking to it.
        cmd.current_dir(&dir)
            .env("PATH", &path)
            .env("DOCKER_HOST", &private.daemon.host)
            .env("KIND_EXPERIMENTAL_PROVIDER", "docker")
            .args(args)
            .stdin(Stdio::null());
        cmd
    };
    let created = kind_cmd(&["create", "cluster", "--name", CLUSTER, "--config", "kind.yaml"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--wait", "0s", "--retain"])
        .status()
        .context("running kind create cluster")?;
    let result = (|| {
        if !created.success() {
            bail!("kind create cluster failed ({created})");
        }
        eprintln!("xtask: kind create cluster took {}", human(phase.elapsed()));
        let phase = Instant::now();
        let kubectl = bins.join("kubectl");
        wait_ready(&kubectl, &kubeconfig)?;
        eprintln!("xtask: /readyz ok {} after kind create", human(phase.elapsed()));

        // A Secret through the apiserver, then its raw value in etcd's own database file.
        run(Command::new(&kubectl).arg("--kubeconfig").arg(&kubeconfig).args([
            "create",
            "secret",
            "generic",
            "atrest-verify",
            "--from-literal=k=v",
        ]))
        .context("creating a Secret")?;
        let node = format!("{CLUSTER}-control-plane");
        let db = "/var/lib/etcd/member/snap/db";
        wait_until(Instant::now() + Duration::from_secs(30), Duration::from_millis(250), || {
            let out = private
                .docker()
                .args(["exec", &node, "grep", "-c", "-a", "-F", SECRETBOX_PREFIX, db])
                .output()
                .map_err(|e| Probe::Stop(e.to_string()))?;
            match String::from_utf8_lossy(&out.stdout).trim() {
                "0" | "" => Err(Probe::Retry(format!("no {SECRETBOX_PREFIX} value in {db} yet"))),
                _ => Ok(()),
            }
        })
        .map_err(|last| anyhow::anyhow!("the Secret is not stored encrypted (last: {last})"))?;
        eprintln!(
            "xtask: the Secret is in etcd as {SECRETBOX_PREFIX}… (the mounted config took effect)"
        );
        Ok(())
    })();
    if result.is_err() {
        let logs = cache_dir().join(format!("kind-verify-logs-{}", std::process::id()));
        let exported = kind_cmd(&["export", "logs", "--name", CLUSTER]).arg(&logs).status();
        if exported.is_ok_and(|s| s.success()) {
            eprintln!("xtask: kind's logs kept in {}", logs.display());
        }
    }
    let deleted = kind_cmd(&["delete", "cluster", "--name", CLUSTER])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .status();
    result?;
    if !deleted.is_ok_and(|s| s.success()) {
        bail!("kind delete cluster failed");
    }
    eprintln!("xtask: verify with kind took {}", human(started.elapsed()));
    drop(private);
    Ok(())
}
