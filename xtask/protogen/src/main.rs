//! Generates the checked-in gRPC code of the workspace's crates, `crates/<crate>/src/generated/*.rs`,
//! from `crates/<crate>/proto/*.proto` with tonic-prost-build and the protoc that the
//! `protoc-bin-vendored` crate ships: atrest-etcd's etcd client and atrest-kms's KMS v2 plugin
//! server and client. The output is checked in, so no build of the workspace runs protoc; only
//! this tool does, and it needs no system protoc either.
//!
//! - `protogen` writes the files.
//! - `protogen --check` generates into a temporary directory and exits 1, naming the file, when
//!   a checked-in file differs, is missing, or is left over.
//!
//! `cargo xtask protos [--check]` runs it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

/// One crate's generated code.
struct Target {
    /// The crate's directory under `crates/`.
    krate: &'static str,
    /// Its .proto files, relative to `crates/<crate>/proto/`.
    protos: &'static [&'static str],
    /// Whether to generate server code too (clients are always generated).
    server: bool,
    /// Proto paths whose maps become `BTreeMap`s (sorted, so encodings are deterministic).
    btree_maps: &'static [&'static str],
}

const TARGETS: [Target; 2] = [
    Target {
        krate: "atrest-etcd",
        protos: &["kv.proto", "rpc.proto"],
        server: false,
        btree_maps: &[],
    },
    Target { krate: "atrest-kms", protos: &["api.proto"], server: true, btree_maps: &["."] },
];

#[expect(clippy::print_stderr, reason = "a command-line tool reports on stderr")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: protogen [--check]");
            return ExitCode::from(2);
        }
    };
    match run(check) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in problems {
                eprintln!("protogen: {problem}");
            }
            eprintln!(
                "protogen: the generated code is stale; regenerate with `cargo xtask protos`"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("protogen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Generates (or, with `check`, compares); returns what differs.
fn run(check: bool) -> Result<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("xtask/protogen/ has no workspace root above it")?;
    let mut problems = Vec::new();
    for target in &TARGETS {
        let crate_dir = root.join("crates").join(target.krate);
        let out = crate_dir.join("src/generated");
        if !check {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            generate(target, &crate_dir.join("proto"), &out)?;
            continue;
        }
        let tmp = tempfile::tempdir().context("creating a temporary directory")?;
        generate(target, &crate_dir.join("proto"), tmp.path())?;
        problems.extend(compare(tmp.path(), &out)?);
    }
    Ok(problems)
}

/// Runs the vendored protoc and tonic-prost-build for one target, into `out`.
fn generate(target: &Target, proto_dir: &Path, out: &Path) -> Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().context("locating the vendored protoc")?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    config.btree_map(target.btree_maps);
    let protos: Vec<PathBuf> = target.protos.iter().map(|p| proto_dir.join(p)).collect();
    tonic_prost_build::configure()
        .build_server(target.server)
        .build_client(true)
        // Clients are built from a `Channel` that each crate configures itself.
        .build_transport(false)
        // Not a build script: no `cargo:rerun-if-changed` lines.
        .emit_rerun_if_changed(false)
        .out_dir(out)
        .compile_with_config(config, &protos, &[proto_dir.to_owned()])
        .with_context(|| format!("generating code from {}", proto_dir.display()))
}

/// The `.rs` file names in `dir`, sorted.
fn rust_files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No directory yet: every generated file is missing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let name = entry.with_context(|| format!("listing {}", dir.display()))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            names.insert(name);
        }
    }
    Ok(names)
}

/// Every difference between the fresh output `fresh` and the checked-in `checked_in`.
fn compare(fresh: &Path, checked_in: &Path) -> Result<Vec<String>> {
    let want = rust_files(fresh)?;
    if want.is_empty() {
        bail!("generating into {} produced no .rs file", fresh.display());
    }
    let have = rust_files(checked_in)?;
    let mut problems = Vec::new();
    for name in want.union(&have) {
        let path = checked_in.join(name);
        match (want.contains(name), have.contains(name)) {
            (true, true) => {
                let a = std::fs::read(fresh.join(name))
                    .with_context(|| format!("reading the fresh {name}"))?;
                let b =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                if a != b {
                    problems.push(format!("{} differs from the generated code", path.display()));
                }
            }
            (true, false) => problems.push(format!("{} is missing", path.display())),
            (false, _) => {
                problems.push(format!("{} is not generated from any .proto", path.display()));
            }
        }
    }
    Ok(problems)
}
