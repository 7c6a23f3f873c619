//! Standard output that reports a reader that has gone instead of panicking.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has exited (`atrest scenarios |
//! head -1`) fails with EPIPE, and `println!` panics on that. Everything the binary prints to
//! standard output goes through [`out!`] and [`outln!`] instead, which return the error; `main`
//! then ends quietly with exit code 0, as ripgrep does (crates/core/main.rs, `main`): the reader
//! chose to stop reading, which is not a failure.
//!
//! Standard error is written through [`eprint`], which drops write errors: a diagnostic nobody
//! can read any more (`2>&1 | head -1`, a closed terminal) is lost, and the exit code still says
//! how the run ended. `main.rs` defines an `eprintln!` over it before naming any module, so that
//! it shadows std's (which panics on such an error) in the whole binary.

use std::fmt;
use std::io::{self, Write as _};

/// Writes to standard output and flushes, so that a closed reader is noticed here.
pub(crate) fn print(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// Writes to standard error, ignoring failures (see the module comment).
pub(crate) fn eprint(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    // Nowhere to report a failure to write a report of a failure.
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` that returns the write error (`io::Result<()>`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::print(format_args!($($arg)*))
    };
}

/// `println!` that returns the write error (`io::Result<()>`).
macro_rules! outln {
    () => {
        $crate::out::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// Whether the error, or one of its causes, is a write to a pipe nobody reads any more.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
