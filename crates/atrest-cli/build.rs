//! Embeds the shipped scenarios (every `.yaml` under the repository's `scenarios/`, configs
//! included) so that the installed `atrest` runs `atrest scenario rotate` from any directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // Read at run time, not with `env!`: a build-script binary is reused across checkouts that
    // share a target dir, and a compile-time path would point into the first checkout.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("../../scenarios");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// The shipped scenarios and their config files: (path under `scenarios/`, text).\n\
         pub(crate) static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for (rel, abs) in &files {
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(out, "    ({rel:?}, include_str!({:?})),", abs.display().to_string())
            .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("builtin_scenarios.rs");
    std::fs::write(&dest, out).expect("writing builtin_scenarios.rs");
}

/// Every `.yaml` file below `dir`, as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("reading a directory entry").path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            let rel = path.strip_prefix(root).expect("below root");
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>();
            let abs = path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.push((rel.join("/"), abs));
        }
    }
}
