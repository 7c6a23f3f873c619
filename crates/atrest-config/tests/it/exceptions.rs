//! Known, documented differences from upstream (`tests/data/README.md`, "Exceptions").
//!
//! Each input's upstream text (`.expected`, from the oracle) must still differ from ours (if it
//! stops differing, move the file to `invalid/` or `valid/`); our own text is pinned by a snapshot.

use std::fs;
use std::path::Path;

use atrest_config::load::{LoadOptions, load};

use crate::data_dir;

#[test]
fn exceptions_differ_from_upstream_as_documented() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = fs::read_dir(data_dir().join("exceptions"))
        .expect("exceptions dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let readme = fs::read_to_string(data_dir().join("README.md")).expect("README");
    let mut ours = String::new();
    for name in names {
        let rel = format!("tests/data/exceptions/{name}");
        let stem = rel.trim_end_matches(".yaml");
        let upstream =
            fs::read_to_string(crate_dir.join(format!("{stem}.expected"))).expect("expected");
        let got = match load(&rel, fs::read(crate_dir.join(&rel)), &LoadOptions::default()) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_ne!(
            got,
            upstream.trim_end(),
            "{name} now matches upstream: move it out of exceptions/"
        );
        assert!(readme.contains(&name), "{name} is not listed in tests/data/README.md");
        ours.push_str(&format!("== {name}\n{got}\n"));
    }
    insta::assert_snapshot!(ours);
}
