//! The client side of the control socket: one command line out, one JSON reply line back.
//!
//! Protocol (unix stream socket, UTF-8 lines): each line is a command of
//! [`ControlCommand::parse`](crate::ControlCommand::parse) (`status`, `rotate`, `clear`,
//! `fault <name> [args|off]`); the plugin answers each with one line of JSON, a
//! [`ControlReply`]: `{"ok":true,"status":{…}}` or `{"ok":false,"error":"…"}`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::server::{ControlError, ControlReply, PluginStatus};

/// Sends one command line to the control socket at `path` and returns the plugin's state
/// after it. Reads and writes time out after `timeout`.
pub fn send_control(
    path: &Path,
    line: &str,
    timeout: Duration,
) -> Result<PluginStatus, ControlError> {
    let socket_err = |source| ControlError::Socket { path: path.to_owned(), source };
    let mut stream = UnixStream::connect(path).map_err(socket_err)?;
    stream.set_read_timeout(Some(timeout)).map_err(socket_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(socket_err)?;
    let mut text = line.trim().to_owned();
    text.push('\n');
    stream.write_all(text.as_bytes()).map_err(socket_err)?;
    let mut reply = String::new();
    BufReader::new((&stream).take(1024 * 1024)).read_line(&mut reply).map_err(socket_err)?;
    let parsed: ControlReply = serde_json::from_str(reply.trim_end())
        .map_err(|_| ControlError::BadReply { path: path.to_owned(), reply: reply.clone() })?;
    match parsed {
        ControlReply { ok: true, status: Some(status), .. } => Ok(status),
        ControlReply { ok: false, error: Some(message), .. } => {
            Err(ControlError::Refused { message })
        }
        _ => Err(ControlError::BadReply { path: path.to_owned(), reply }),
    }
}
