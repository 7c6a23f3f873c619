//! Files the CLI creates at paths the user named (`--out`, `--state-dir`).
//!
//! A path the user named may sit in a directory others can write (`/tmp`), where a symlink
//! planted at the file name would redirect the write to a file of the planter's choosing (with
//! our permissions). Output files are therefore opened with `O_NOFOLLOW`: a symlink there is
//! refused, and the file it points to is left untouched.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// What to do when the output file exists already (as a regular file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace its contents (reports, plots: rerunning overwrites them).
    Replace,
    /// Fail (keys: never overwrite one).
    Refuse,
}

/// Creates `path` for writing (`mode` when new, less the umask) without following a symlink at
/// `path`; a symlink there is an error that says so.
pub(crate) fn create_output(path: &Path, existing: Existing, mode: u32) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).mode(mode).custom_flags(nix::libc::O_NOFOLLOW);
    match existing {
        Existing::Replace => options.create(true).truncate(true),
        Existing::Refuse => options.create_new(true),
    };
    match options.open(path) {
        Ok(file) => Ok(file),
        // O_NOFOLLOW fails with ELOOP, create_new with EEXIST: name the actual reason.
        Err(_) if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) => bail!(
            "refusing to write {}: it is a symbolic link (remove it, or choose another path)",
            path.display()
        ),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// Writes `bytes` to `path` as [`create_output`] with [`Existing::Replace`] (mode 0666 less the
/// umask, as `fs::write`).
pub(crate) fn write_output(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    use std::io::Write as _;
    let mut file = create_output(path, Existing::Replace, 0o666)?;
    file.write_all(bytes.as_ref()).with_context(|| format!("writing {}", path.display()))
}

/// Why a directory cannot hold files the user will trust (`source DIR/env`).
pub(crate) fn private_dir(dir: &Path) -> Result<PathBuf, String> {
    match dir.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create it: {e}"))?;
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
        Ok(_) => {}
    }
    let resolved = std::fs::canonicalize(dir).map_err(|e| format!("cannot resolve it: {e}"))?;
    let meta = std::fs::metadata(&resolved).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".to_owned());
    }
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "it is owned by uid {}, not by the current user (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {mode:o}; `chmod go-w` it, or name a new \
             directory)"
        ));
    }
    Ok(resolved)
}
