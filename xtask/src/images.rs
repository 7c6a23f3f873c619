//! Container images of the control plane, built offline from the static binaries `setup`
//! builds, and tagged as upstream publishes them (`registry.k8s.io/etcd:3.6.16-0`, kubeadm's
//! tag form, and `registry.k8s.io/kube-apiserver:v1.37.2`), so that nothing ever tries to pull.
//!
//! - Each image is `docker import` of a tarball written here (`usr/local/bin/<binary>`, as in
//!   upstream's images, and an empty `/tmp`), with the binary as entrypoint: `docker run IMAGE
//!   --version` works.
//! - Each carries [`SHA_LABEL`], the binary's sha256; an image whose label matches is not
//!   rebuilt.
//! - [`smoke`] proves the images run: `kube-apiserver --version`, and etcd on host networking
//!   answering `/health` on a port picked at run time.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::docker::{Engine, OWNER_LABEL, PROJECT_LABEL, owner_value};
use crate::{Probe, controlplane, human, oracle, tools, wait_until};

/// Image label holding the sha256 of the binary inside.
pub(crate) const SHA_LABEL: &str = "io.atrest.sha256";

/// How long the smoke test's etcd may take to report healthy (it takes well under 1 s).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// One image: which binary, under which reference.
pub(crate) struct Image {
    /// The binary's file name in the assets directory and in the image.
    binary: &'static str,
    /// `registry.k8s.io/<name>:<tag>`.
    pub(crate) reference: String,
    /// A line `--version` prints.
    expected_version_line: String,
}

/// The tag of the pinned etcd's image: kubeadm's etcd tags carry a `-<n>` image revision
/// (cmd/kubeadm/app/constants), `3.6.16-0`.
pub(crate) fn etcd_tag() -> Result<String> {
    let (_, etcd) = controlplane::versions()?;
    Ok(format!("{}-0", etcd.strip_prefix('v').unwrap_or(&etcd)))
}

/// The images of the pinned control plane.
pub(crate) fn images() -> Result<Vec<Image>> {
    let (kube, etcd) = controlplane::versions()?;
    let etcd_bare = etcd.strip_prefix('v').unwrap_or(&etcd);
    Ok(vec![
        Image {
            binary: "etcd",
            reference: format!("registry.k8s.io/etcd:{}", etcd_tag()?),
            expected_version_line: format!("etcd Version: {etcd_bare}"),
        },
        Image {
            binary: "kube-apiserver",
            reference: format!("registry.k8s.io/kube-apiserver:{kube}"),
            expected_version_line: format!("Kubernetes {kube}"),
        },
    ])
}

/// Builds every image whose label does not match its binary in `assets` (every image with
/// `force`).
pub(crate) fn ensure(engine: &Engine, assets: &Path, force: bool) -> Result<()> {
    for image in images()? {
        ensure_one(engine, &assets.join(image.binary), image.binary, &image.reference, force)?;
    }
    Ok(())
}

/// Builds the image `reference` holding `binary` as `usr/local/bin/<name>` unless its label
/// already matches the binary (always with `force`).
pub(crate) fn ensure_one(
    engine: &Engine,
    binary: &Path,
    name: &str,
    reference: &str,
    force: bool,
) -> Result<()> {
    let sha = binary_sha256(binary)?;
    let format = format!("{{{{.Id}}}} {{{{ index .Config.Labels \"{SHA_LABEL}\" }}}}");
    let existing =
        engine.output(&["image", "inspect", "--format", &format, reference]).ok().and_then(|out| {
            let (id, label) = out.trim().split_once(' ')?;
            Some((id.to_owned(), label.to_owned()))
        });
    if !force && existing.as_ref().is_some_and(|(_, label)| *label == sha) {
        eprintln!("xtask: image {reference} is up to date");
        return Ok(());
    }
    let started = Instant::now();
    build(engine, reference, name, binary, &sha).with_context(|| {
        format!(
            "building the image {reference} from {} (`cargo xtask setup --force` rebuilds the \
             binaries and the images)",
            binary.display()
        )
    })?;
    eprintln!("xtask: built image {reference} in {}", human(started.elapsed()));
    if let Some((old, _)) = existing {
        // The replaced image lost its tag; remove it unless a container still uses it.
        engine.output(&["image", "rm", &old]).ok();
    }
    Ok(())
}

/// The sha256 of `binary`, remembered under the cache by path, size and modification time
/// (hashing kube-apiserver's 119 MB takes seconds in the unoptimised xtask).
pub(crate) fn binary_sha256(binary: &Path) -> Result<String> {
    let path =
        std::path::absolute(binary).with_context(|| format!("resolving {}", binary.display()))?;
    let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let stamp = format!("{} {}", meta.len(), mtime.map_or(0, |d| d.as_nanos()));
    let memo_dir = oracle::cache_dir().join("docker/sha256");
    let memo = memo_dir.join(format!("{:x}", Sha256::digest(path.as_os_str().as_encoded_bytes())));
    if let Some(sha) = fs::read_to_string(&memo)
        .ok()
        .and_then(|text| text.strip_prefix(&format!("{stamp} ")).map(|s| s.trim().to_owned()))
    {
        return Ok(sha);
    }
    let sha = sha256(&path)?;
    fs::create_dir_all(&memo_dir).with_context(|| format!("creating {}", memo_dir.display()))?;
    fs::write(&memo, format!("{stamp} {sha}\n"))
        .with_context(|| format!("writing {}", memo.display()))?;
    Ok(sha)
}

/// coreutils' `sha256sum` when there is one (0.6 s for both binaries against about 6 s for the
/// unoptimised xtask's own), else our own.
fn sha256(path: &Path) -> Result<String> {
    if tools::find_on_path("sha256sum").is_some() {
        let out = std::process::Command::new("sha256sum")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running sha256sum {}", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let sha = text.split_whitespace().next().unwrap_or_default();
        if out.status.success() && sha.len() == 64 {
            return Ok(sha.to_owned());
        }
    }
    tools::sha256_file(path)
}

fn build(engine: &Engine, reference: &str, name: &str, binary: &Path, sha: &str) -> Result<()> {
    let entrypoint = format!("ENTRYPOINT [\"/usr/local/bin/{name}\"]");
    let mut child = engine
        .docker()
        .args(["import", "--change", &entrypoint, "--change", "ENV PATH=/usr/local/bin"])
        .args(["--change", &format!("LABEL {SHA_LABEL}={sha}"), "-", reference])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting docker import")?;
    let mut stdin = child.stdin.take().context("docker import's stdin")?;
    let written = write_image_tar(&mut stdin, binary, name);
    drop(stdin);
    let out = child.wait_with_output().context("waiting for docker import")?;
    if !out.status.success() {
        let failed = anyhow::anyhow!(
            "docker import failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return Err(match engine.dead_daemon() {
            Some(why) => failed.context(why),
            None => failed,
        });
    }
    written.with_context(|| format!("streaming {} into docker import", binary.display()))?;
    Ok(())
}

/// Writes a ustar archive holding `tmp/` (mode 1777), `usr/local/bin/` and the binary as
/// `usr/local/bin/<name>`, owned by root, dated 0 (the same bytes for the same binary).
fn write_image_tar(out: &mut impl io::Write, binary: &Path, name: &str) -> Result<()> {
    let mut file =
        fs::File::open(binary).with_context(|| format!("opening {}", binary.display()))?;
    let size = file.metadata().with_context(|| format!("reading {}", binary.display()))?.len();
    for (dir, mode) in
        [("tmp/", 0o1777), ("usr/", 0o755), ("usr/local/", 0o755), ("usr/local/bin/", 0o755)]
    {
        out.write_all(&tar_header(dir, mode, 0, b'5')?)?;
    }
    out.write_all(&tar_header(&format!("usr/local/bin/{name}"), 0o755, size, b'0')?)?;
    let copied = io::copy(&mut (&mut file).take(size), out)?;
    if copied != size {
        bail!("{} changed size while being read", binary.display());
    }
    let padding = (512 - size % 512) % 512;
    out.write_all(&vec![0; usize::try_from(padding)?])?;
    // Two zero blocks end the archive.
    out.write_all(&[0; 1024])?;
    Ok(())
}

/// One POSIX ustar header block (typeflag `0` file, `5` directory).
fn tar_header(name: &str, mode: u32, size: u64, typeflag: u8) -> Result<[u8; 512]> {
    if name.len() > 100 {
        bail!("tar member name {name:?} is longer than 100 bytes");
    }
    let mut h = [0u8; 512];
    let mut octal = |at: usize, width: usize, value: u64| {
        // width - 1 digits and a NUL.
        let text = format!("{value:0w$o}", w = width - 1);
        h[at..at + width - 1].copy_from_slice(text.as_bytes());
    };
    octal(100, 8, u64::from(mode));
    octal(108, 8, 0); // uid
    octal(116, 8, 0); // gid
    octal(124, 12, size);
    octal(136, 12, 0); // mtime
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    Ok(h)
}

/// Runs the images: `kube-apiserver --version` prints the pinned version, and etcd on host
/// networking answers `/health` on 127.0.0.1 within [`HEALTH_TIMEOUT`]. Every container it
/// starts is removed again.
pub(crate) fn smoke(engine: &Engine) -> Result<()> {
    let owner = owner_value()?;
    let labels = [
        "--label".to_owned(),
        format!("{PROJECT_LABEL}=1"),
        "--label".to_owned(),
        format!("{OWNER_LABEL}={owner}"),
    ];
    let images = images()?;
    for image in &images {
        let mut args = vec!["run", "--rm", "--network", "host"];
        args.extend(labels.iter().map(String::as_str));
        args.extend([image.reference.as_str(), "--version"]);
        let out = engine.output(&args)?;
        if !out.lines().any(|l| l.trim() == image.expected_version_line) {
            bail!(
                "`docker run {} --version` printed {:?}, expected a line {:?}",
                image.reference,
                out.trim(),
                image.expected_version_line
            );
        }
    }
    let etcd = images.iter().find(|i| i.binary == "etcd").context("the etcd image")?;
    let client = free_port()?;
    let peer = free_port()?;
    let name = format!("atrest-smoke-etcd-{}", std::process::id());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let cluster = format!("smoke={peer_url}");
    let mut args = vec!["run", "--detach", "--name", &name, "--network", "host"];
    args.extend(labels.iter().map(String::as_str));
    args.extend([
        etcd.reference.as_str(),
        "--name=smoke",
        "--data-dir=/tmp/etcd",
        "--listen-client-urls",
        &client_url,
        "--advertise-client-urls",
        &client_url,
        "--listen-peer-urls",
        &peer_url,
        "--initial-advertise-peer-urls",
        &peer_url,
        "--initial-cluster",
        &cluster,
    ]);
    engine.output(&args)?;
    let started = Instant::now();
    let healthy = wait_until(Instant::now() + HEALTH_TIMEOUT, Duration::from_millis(50), || {
        let body = http_get(client, "/health").map_err(Probe::Retry)?;
        if body.contains("\"health\":\"true\"") {
            Ok(())
        } else {
            Err(Probe::Retry(format!("/health answered {body:?}")))
        }
    });
    let logs = if healthy.is_err() {
        engine.output(&["logs", "--tail", "20", &name]).unwrap_or_else(|e| format!("{e:#}"))
    } else {
        String::new()
    };
    let removed = engine.output(&["rm", "--force", "--volumes", &name]);
    if let Err(last) = healthy {
        bail!(
            "etcd in {} did not report healthy on {client_url} within {}s (last: {last}); its \
             last log lines:\n{logs}",
            etcd.reference,
            HEALTH_TIMEOUT.as_secs()
        );
    }
    removed.with_context(|| format!("removing the smoke test's container {name}"))?;
    eprintln!(
        "xtask: etcd in {} answered /health on {client_url} after {}",
        etcd.reference,
        human(started.elapsed())
    );
    Ok(())
}

/// A port free on 127.0.0.1 right now (the OS picks it).
fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a port on 127.0.0.1")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

/// The body of `GET path` on 127.0.0.1:port, or what went wrong.
fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| format!("connecting to 127.0.0.1:{port}: {e}"))?;
    let timeout = Some(Duration::from_secs(2));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .map_err(|e| format!("writing the request: {e}"))?;
    let mut response = String::new();
    stream
        .take(64 * 1024)
        .read_to_string(&mut response)
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(response.split_once("\r\n\r\n").map_or(response.as_str(), |(_, body)| body).to_owned())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn tags_follow_upstream() -> Result<()> {
        let (kube, etcd) = controlplane::versions()?;
        let refs: Vec<String> = images()?.into_iter().map(|i| i.reference).collect();
        assert_eq!(
            refs,
            [
                format!("registry.k8s.io/etcd:{}-0", etcd.trim_start_matches('v')),
                format!("registry.k8s.io/kube-apiserver:{kube}")
            ]
        );
        Ok(())
    }

    #[test]
    fn the_tarball_is_what_tar_reads() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("atrest-xtask-tar-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let binary = dir.join("bin");
        // 513 bytes: one full block and one padded.
        fs::write(&binary, vec![b'x'; 513])?;
        let mut tar = Vec::new();
        write_image_tar(&mut tar, &binary, "etcd")?;
        assert_eq!(tar.len() % 512, 0);
        let archive = dir.join("image.tar");
        fs::write(&archive, &tar)?;
        let out = Command::new("tar").arg("-tvf").arg(&archive).output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8(out.stdout)?;
        let rows: Vec<Vec<&str>> =
            listing.lines().map(|l| l.split_whitespace().collect()).collect();
        let summary: Vec<(&str, &str, &str, &str)> =
            rows.iter().map(|r| (r[0], r[1], r[2], r[r.len() - 1])).collect();
        assert_eq!(
            summary,
            [
                ("drwxrwxrwt", "root/root", "0", "tmp/"),
                ("drwxr-xr-x", "root/root", "0", "usr/"),
                ("drwxr-xr-x", "root/root", "0", "usr/local/"),
                ("drwxr-xr-x", "root/root", "0", "usr/local/bin/"),
                ("-rwxr-xr-x", "root/root", "513", "usr/local/bin/etcd"),
            ]
        );
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
