//! `atrest keygen`: a key from the OS CSPRNG as a ready provider entry.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use atrest_config::keygen::{self, KeyKind};
use clap::ValueEnum;

use crate::Outcome;
use crate::files::{Existing, create_output};

/// `atrest keygen`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The provider the key is for.
    #[arg(long, value_enum)]
    provider: Provider,
    /// The key name (the `<name>:` inner prefix of every value it writes).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Write the entry to FILE (created with mode 0600, never overwritten) instead of standard
    /// output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Provider {
    Aescbc,
    Aesgcm,
    Secretbox,
}

impl From<Provider> for KeyKind {
    fn from(p: Provider) -> KeyKind {
        match p {
            Provider::Aescbc => KeyKind::Aescbc,
            Provider::Aesgcm => KeyKind::Aesgcm,
            Provider::Secretbox => KeyKind::Secretbox,
        }
    }
}

/// `atrest keygen`.
pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let kind = KeyKind::from(args.provider);
    let key = keygen::generate(kind, &args.name).context("generating a key")?;
    let entry = zeroize::Zeroizing::new(keygen::render_provider(kind, &key));
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(entry.as_bytes())
                .and_then(|()| out.flush())
                .context("writing the key")?;
        }
        Some(path) => {
            let mut file = create_output(path, Existing::Refuse, 0o600)?;
            file.write_all(entry.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote a {} key named {:?} to {} (mode 0600)",
                kind,
                args.name,
                path.display()
            );
        }
    }
    Ok(Outcome::Ok)
}
