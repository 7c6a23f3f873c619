//! Bounded reads of the files a user names on the command line or in a scenario.
//!
//! Every input atrest reads from a user has a documented size limit; this crate is the one
//! place that enforces it, so that `/dev/zero` given as a configuration is an error instead of
//! a process that grows until memory runs out. It also refuses what is not a file at all
//! (directories, character and block devices, sockets) before opening it, since opening some
//! devices has side effects and reading others never ends.
//!
//! Pipes are allowed: a FIFO (`<(cmd)` process substitution, `mkfifo`) and standard input. They
//! are opened without blocking, so a FIFO nobody writes to does not hang `open(2)`, and read
//! with a deadline: after [`fifo_timeout`] without data the read fails and names the file.
//!
//! The limits themselves live next to what they protect (the encryption-configuration decoder's
//! budget in `atrest-config`, scenario files in `atrest-scenario`, TLS files in `atrest-etcd`);
//! callers pass them in as a [`Limit`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::fd::AsFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The environment variable that sets the pipe deadline in milliseconds (see [`fifo_timeout`]).
pub const FIFO_TIMEOUT_ENV: &str = "ATREST_FIFO_TIMEOUT_MS";

/// How long a pipe may go without data before its read fails, unless [`FIFO_TIMEOUT_ENV`] says
/// otherwise. Generous, because a producer such as `etcdctl get` may first have to connect.
pub const DEFAULT_FIFO_TIMEOUT: Duration = Duration::from_secs(30);

/// The size limit of one kind of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The most bytes accepted.
    pub bytes: u64,
    /// What the input is, after "the 4 MiB limit for": `an encryption configuration`.
    pub what: &'static str,
}

/// Reading a user's input failed. `Display` is one line naming the file.
#[derive(Debug)]
pub struct InputError {
    /// The path as given (`-` for standard input).
    pub path: PathBuf,
    /// What went wrong.
    pub problem: Problem,
}

/// What went wrong reading an input.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The operating system refused (no such file, permission denied, is a directory).
    // Not a `#[source]`: the text is part of this error's one line, since callers print
    // errors with `{}` as often as with their chain.
    #[error("cannot read: {0}")]
    Io(io::Error),
    /// Not a regular file, a FIFO or standard input.
    #[error(
        "not a regular file but a {kind}; atrest reads regular files, FIFOs and standard input (-)"
    )]
    NotRegular {
        /// `character device`, `block device`, `socket`, …
        kind: &'static str,
    },
    /// More than the input's limit.
    #[error("larger than the {} limit for {}", Size(limit.bytes), limit.what)]
    TooLarge {
        /// The limit exceeded.
        limit: Limit,
    },
    /// A pipe gave no data for the whole deadline.
    #[error(
        "no data for {} ms (is anything writing to it?); {FIFO_TIMEOUT_ENV} sets the wait",
        waited.as_millis()
    )]
    NoData {
        /// The deadline that passed.
        waited: Duration,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.as_os_str() == "-" {
            "standard input".into()
        } else {
            self.path.display().to_string()
        };
        write!(f, "{path}: {}", self.problem)
    }
}

// No source: the problem, the operating system's error included, is in the one line already.
impl std::error::Error for InputError {}

impl InputError {
    fn new(path: &Path, problem: Problem) -> InputError {
        InputError { path: path.to_owned(), problem }
    }

    /// The error as an `io::Error` without the path: the operating system's own error when it
    /// was one, else the problem's text. For callers that print the path themselves (the
    /// encryption-configuration loader prints Go's `open <path>: <text>`).
    pub fn into_io_error(self) -> io::Error {
        let kind = match &self.problem {
            Problem::Io(_) => return self.into_os_error(),
            Problem::NotRegular { .. } | Problem::TooLarge { .. } => io::ErrorKind::InvalidInput,
            Problem::NoData { .. } => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, self.problem.to_string())
    }

    fn into_os_error(self) -> io::Error {
        match self.problem {
            Problem::Io(e) => e,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// A byte count as the limits are written: `4 MiB`, `512 KiB`, `100 bytes`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n > 0 && n % (1 << 20) == 0 => write!(f, "{} MiB", n >> 20),
            n if n > 0 && n % (1 << 10) == 0 => write!(f, "{} KiB", n >> 10),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// The pipe deadline: [`FIFO_TIMEOUT_ENV`] in milliseconds when set and a number, else
/// [`DEFAULT_FIFO_TIMEOUT`]. An environment variable rather than a flag because only tests and
/// unusually slow producers need it, and it must reach every command that reads a file.
pub fn fifo_timeout() -> Duration {
    std::env::var(FIFO_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_FIFO_TIMEOUT, Duration::from_millis)
}

/// Reads `path` whole, refusing it when it holds more than `limit`.
pub fn read_limited(path: &Path, limit: Limit) -> Result<Vec<u8>, InputError> {
    read_limited_within(path, limit, fifo_timeout())
}

/// As [`read_limited`], for UTF-8 text (`io::ErrorKind::InvalidData` otherwise, as
/// `std::fs::read_to_string`).
pub fn read_limited_to_string(path: &Path, limit: Limit) -> Result<String, InputError> {
    let bytes = read_limited(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        InputError::new(path, Problem::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
    })
}

/// As [`read_limited`], with the pipe deadline given.
pub fn read_limited_within(
    path: &Path,
    limit: Limit,
    timeout: Duration,
) -> Result<Vec<u8>, InputError> {
    let bytes = read_at_most_within(path, limit.bytes.saturating_add(1), timeout)?;
    check_limit(path, bytes, limit)
}

/// Reads at most `max` bytes of `path`, silently stopping there: for a caller whose decoder
/// reports an oversized input itself when handed one byte more than it accepts.
pub fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    read_at_most_within(path, max, fifo_timeout())
}

fn read_at_most_within(path: &Path, max: u64, timeout: Duration) -> Result<Vec<u8>, InputError> {
    let io_err = |e| InputError::new(path, Problem::Io(e));
    // Look before opening: opening a device can have side effects, a FIFO can block.
    Kind::of(&std::fs::metadata(path).map_err(io_err)?, path)?;
    let file = OpenOptions::new()
        .read(true)
        // A FIFO without a writer would block open(2); regular files ignore the flag.
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err)?;
    // The path may have been replaced between the look and the open: what was opened counts.
    match Kind::of(&file.metadata().map_err(io_err)?, path)? {
        Kind::Regular => {
            let mut buf = Vec::new();
            file.take(max).read_to_end(&mut buf).map_err(io_err)?;
            Ok(buf)
        }
        Kind::Pipe => read_pipe(&file, path, max, timeout),
    }
}

/// Reads standard input whole, refusing it when it holds more than `limit`. A pipe or terminal
/// is read with the [`fifo_timeout`] deadline; a redirected regular file without one.
pub fn read_stdin_limited(limit: Limit) -> Result<Vec<u8>, InputError> {
    read_stdin_limited_within(limit, fifo_timeout())
}

/// As [`read_stdin_limited`], with the pipe deadline given.
pub fn read_stdin_limited_within(limit: Limit, timeout: Duration) -> Result<Vec<u8>, InputError> {
    let path = Path::new("-");
    let io_err = |e| InputError::new(path, Problem::Io(e));
    // Our own descriptor, read without std's buffer so that poll(2) sees all pending data.
    let fd = io::stdin().as_fd().try_clone_to_owned().map_err(io_err)?;
    let file = File::from(fd);
    let max = limit.bytes.saturating_add(1);
    let bytes = if file.metadata().map_err(io_err)?.file_type().is_file() {
        let mut buf = Vec::new();
        file.take(max).read_to_end(&mut buf).map_err(io_err)?;
        buf
    } else {
        read_pipe(&file, path, max, timeout)?
    };
    check_limit(path, bytes, limit)
}

fn check_limit(path: &Path, bytes: Vec<u8>, limit: Limit) -> Result<Vec<u8>, InputError> {
    if bytes.len() as u64 > limit.bytes {
        return Err(InputError::new(path, Problem::TooLarge { limit }));
    }
    Ok(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    Pipe,
}

impl Kind {
    fn of(meta: &std::fs::Metadata, path: &Path) -> Result<Kind, InputError> {
        let t = meta.file_type();
        let kind = if t.is_file() {
            return Ok(Kind::Regular);
        } else if t.is_fifo() {
            return Ok(Kind::Pipe);
        } else if t.is_dir() {
            // What read(2) says, and what upstream prints for a directory given as a file.
            let eisdir = io::Error::from_raw_os_error(nix::libc::EISDIR);
            return Err(InputError::new(path, Problem::Io(eisdir)));
        } else if t.is_char_device() {
            "character device"
        } else if t.is_block_device() {
            "block device"
        } else if t.is_socket() {
            "socket"
        } else {
            "special file"
        };
        Err(InputError::new(path, Problem::NotRegular { kind }))
    }
}

/// Reads a pipe until end of file or `max` bytes, failing when `timeout` passes without data.
///
/// Linux does not report a hang-up on a FIFO that never had a writer, so poll(2) waits for
/// the first writer too, and a FIFO nobody opens ends in [`Problem::NoData`].
fn read_pipe(file: &File, path: &Path, max: u64, timeout: Duration) -> Result<Vec<u8>, InputError> {
    let io_err = |e| InputError::new(path, Problem::Io(e));
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut deadline = Instant::now() + timeout;
    while (buf.len() as u64) < max {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(0) => {
                return Err(InputError::new(path, Problem::NoData { waited: timeout }));
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io_err(e.into())),
        }
        let want = usize::try_from(max - buf.len() as u64).unwrap_or(usize::MAX).min(chunk.len());
        match (&*file).read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // The deadline is for silence, not for the whole transfer.
                deadline = Instant::now() + timeout;
            }
            Err(e)
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit { bytes: 100, what: "a test input" };
    const SHORT: Duration = Duration::from_millis(200);

    #[test]
    fn sizes_print_in_the_largest_whole_unit() {
        assert_eq!(Size(4 << 20).to_string(), "4 MiB");
        assert_eq!(Size(512 << 10).to_string(), "512 KiB");
        assert_eq!(Size(100).to_string(), "100 bytes");
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok");
        std::fs::write(&path, [7u8; 100]).unwrap();
        assert_eq!(read_limited_within(&path, SMALL, SHORT).unwrap(), [7u8; 100]);
    }

    #[test]
    fn an_oversized_regular_file_is_refused_with_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, [7u8; 101]).unwrap();
        let err = read_limited_within(&path, SMALL, SHORT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: larger than the 100 bytes limit for a test input", path.display())
        );
    }

    #[test]
    fn dev_zero_is_refused_without_reading() {
        let err = read_limited_within(Path::new("/dev/zero"), SMALL, SHORT).unwrap_err();
        assert!(matches!(err.problem, Problem::NotRegular { kind: "character device" }), "{err}");
        assert!(err.to_string().starts_with("/dev/zero: not a regular file"), "{err}");
    }

    #[test]
    fn a_directory_is_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_limited_within(dir.path(), SMALL, SHORT).unwrap_err();
        let Problem::Io(e) = &err.problem else { panic!("{err}") };
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
    }

    #[test]
    fn a_fifo_without_a_writer_fails_within_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let started = Instant::now();
        let err = read_limited_within(&path, SMALL, SHORT).unwrap_err();
        assert!(matches!(err.problem, Problem::NoData { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(err.to_string().contains(FIFO_TIMEOUT_ENV), "{err}");
    }

    #[test]
    fn a_fifo_with_a_writer_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            // Blocks until the reader has the FIFO open.
            std::fs::write(writer_path, b"hello").unwrap();
        });
        let read = read_limited_within(&path, SMALL, Duration::from_secs(10)).unwrap();
        writer.join().unwrap();
        assert_eq!(read, b"hello");
    }

    #[test]
    fn an_oversized_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            // The reader stops after 101 bytes, so the write may end in a broken pipe.
            let _ = std::fs::write(writer_path, [1u8; 4096]);
        });
        let err = read_limited_within(&path, SMALL, Duration::from_secs(10)).unwrap_err();
        writer.join().unwrap();
        assert!(matches!(err.problem, Problem::TooLarge { .. }), "{err}");
    }

    #[test]
    fn into_io_error_keeps_the_os_error_and_drops_the_path() {
        let err = read_limited_within(Path::new("/nonexistent/x"), SMALL, SHORT).unwrap_err();
        assert_eq!(err.into_io_error().kind(), io::ErrorKind::NotFound);
        let err = read_limited_within(Path::new("/dev/zero"), SMALL, SHORT).unwrap_err();
        let text = err.into_io_error().to_string();
        assert!(text.starts_with("not a regular file but a character device"), "{text}");
    }
}
