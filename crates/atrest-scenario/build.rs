//! Embeds the config library (`scenarios/configs/library/*.yaml`), so that a scenario refers to
//! `{library: NAME}` from any directory: shipped scenarios, built-in ones and a user's own file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // Read at run time, not with `env!`: a build-script binary is reused across checkouts that
    // share a target dir, and a compile-time path would point into the first checkout.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("../../scenarios/configs/library");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let name =
                p.file_stem().expect("a .yaml file has a stem").to_string_lossy().into_owned();
            let abs = p.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, abs)
        })
        .collect();
    files.sort();
    let mut out = String::from(
        "/// The config library: (name, template), sorted by name.\n\
         pub(crate) static LIBRARY: &[(&str, &str)] = &[\n",
    );
    for (name, abs) in &files {
        println!("cargo:rerun-if-changed={}", abs.display());
        writeln!(out, "    ({name:?}, include_str!({:?})),", abs.display().to_string())
            .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("library.rs");
    std::fs::write(&dest, out).expect("writing library.rs");
}
