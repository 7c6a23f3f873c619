//! Faults the plugin can be told to show while it runs, and the control commands that switch
//! them (the same values from the Rust handle and from the control socket's line protocol).

use std::fmt;
use std::time::Duration;

use atrest_transformers::GrpcCode;
use serde::{Deserialize, Serialize};

/// An error the plugin answers with instead of doing its work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedError {
    /// The gRPC status code, by grpc-go's name (`FailedPrecondition`).
    #[serde(with = "code_name")]
    pub code: GrpcCode,
    /// The status message (`desc`).
    pub message: String,
}

impl InjectedError {
    /// The default message of an injected error.
    pub const DEFAULT_MESSAGE: &'static str = "fault injected by atrest kms-plugin";

    /// An error with `code` and the default message.
    pub fn new(code: GrpcCode) -> Self {
        InjectedError { code, message: Self::DEFAULT_MESSAGE.to_owned() }
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

/// One fault, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The gRPC socket is closed (and its file removed): clients cannot connect. Clearing it
    /// serves again on the same path.
    Unavailable,
    /// Every call waits this long before it is answered.
    Latency(Duration),
    /// `Encrypt` fails.
    FailEncrypt(InjectedError),
    /// `Decrypt` fails.
    FailDecrypt(InjectedError),
    /// `Status` fails.
    FailStatus(InjectedError),
    /// `Status` answers with this `healthz` instead of `ok`.
    Unhealthy(String),
    /// Another key-encryption key under the same key IDs, as after restoring the wrong backup:
    /// `Encrypt` wraps with it and `Decrypt` of anything wrapped before fails.
    WrongKek,
    /// `Status` reports this API version instead of `v2`.
    Version(String),
    /// `Encrypt` answers with an empty ciphertext.
    EmptyCiphertext,
    /// `Status` and `Encrypt` report a key ID of 1025 bytes (upstream allows 1024).
    OversizedKeyId,
}

/// Which fault, without parameters (to switch one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// [`Fault::Unavailable`].
    Unavailable,
    /// [`Fault::Latency`].
    Latency,
    /// [`Fault::FailEncrypt`].
    FailEncrypt,
    /// [`Fault::FailDecrypt`].
    FailDecrypt,
    /// [`Fault::FailStatus`].
    FailStatus,
    /// [`Fault::Unhealthy`].
    Unhealthy,
    /// [`Fault::WrongKek`].
    WrongKek,
    /// [`Fault::Version`].
    Version,
    /// [`Fault::EmptyCiphertext`].
    EmptyCiphertext,
    /// [`Fault::OversizedKeyId`].
    OversizedKeyId,
}

impl FaultKind {
    /// Every kind, in the order `status` lists them.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Unavailable,
        FaultKind::Latency,
        FaultKind::FailEncrypt,
        FaultKind::FailDecrypt,
        FaultKind::FailStatus,
        FaultKind::Unhealthy,
        FaultKind::WrongKek,
        FaultKind::Version,
        FaultKind::EmptyCiphertext,
        FaultKind::OversizedKeyId,
    ];

    /// The name in the line protocol (`fault <name> …`).
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Unavailable => "unavailable",
            FaultKind::Latency => "latency",
            FaultKind::FailEncrypt => "encrypt",
            FaultKind::FailDecrypt => "decrypt",
            FaultKind::FailStatus => "status",
            FaultKind::Unhealthy => "unhealthy",
            FaultKind::WrongKek => "wrong-kek",
            FaultKind::Version => "version",
            FaultKind::EmptyCiphertext => "empty-ciphertext",
            FaultKind::OversizedKeyId => "oversized-key-id",
        }
    }

    fn from_name(name: &str) -> Option<FaultKind> {
        match name {
            // `slow` reads better on a command line; both name the same fault.
            "slow" => Some(FaultKind::Latency),
            _ => FaultKind::ALL.into_iter().find(|k| k.name() == name),
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Fault {
    /// Its kind.
    pub const fn kind(&self) -> FaultKind {
        match self {
            Fault::Unavailable => FaultKind::Unavailable,
            Fault::Latency(_) => FaultKind::Latency,
            Fault::FailEncrypt(_) => FaultKind::FailEncrypt,
            Fault::FailDecrypt(_) => FaultKind::FailDecrypt,
            Fault::FailStatus(_) => FaultKind::FailStatus,
            Fault::Unhealthy(_) => FaultKind::Unhealthy,
            Fault::WrongKek => FaultKind::WrongKek,
            Fault::Version(_) => FaultKind::Version,
            Fault::EmptyCiphertext => FaultKind::EmptyCiphertext,
            Fault::OversizedKeyId => FaultKind::OversizedKeyId,
        }
    }
}

/// The faults switched on. Serialized in `status` replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// [`Fault::Unavailable`].
    pub unavailable: bool,
    /// [`Fault::Latency`], in Go's duration syntax (`50ms`).
    #[serde(with = "opt_duration")]
    pub latency: Option<Duration>,
    /// [`Fault::FailEncrypt`].
    pub encrypt: Option<InjectedError>,
    /// [`Fault::FailDecrypt`].
    pub decrypt: Option<InjectedError>,
    /// [`Fault::FailStatus`].
    pub status: Option<InjectedError>,
    /// [`Fault::Unhealthy`].
    pub unhealthy: Option<String>,
    /// [`Fault::WrongKek`].
    pub wrong_kek: bool,
    /// [`Fault::Version`].
    pub version: Option<String>,
    /// [`Fault::EmptyCiphertext`].
    pub empty_ciphertext: bool,
    /// [`Fault::OversizedKeyId`].
    pub oversized_key_id: bool,
}

impl Faults {
    /// Switches `fault` on (replacing the parameters of the same kind).
    pub fn set(&mut self, fault: Fault) {
        match fault {
            Fault::Unavailable => self.unavailable = true,
            Fault::Latency(d) => self.latency = Some(d),
            Fault::FailEncrypt(e) => self.encrypt = Some(e),
            Fault::FailDecrypt(e) => self.decrypt = Some(e),
            Fault::FailStatus(e) => self.status = Some(e),
            Fault::Unhealthy(h) => self.unhealthy = Some(h),
            Fault::WrongKek => self.wrong_kek = true,
            Fault::Version(v) => self.version = Some(v),
            Fault::EmptyCiphertext => self.empty_ciphertext = true,
            Fault::OversizedKeyId => self.oversized_key_id = true,
        }
    }

    /// Switches one kind off.
    pub fn clear(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Unavailable => self.unavailable = false,
            FaultKind::Latency => self.latency = None,
            FaultKind::FailEncrypt => self.encrypt = None,
            FaultKind::FailDecrypt => self.decrypt = None,
            FaultKind::FailStatus => self.status = None,
            FaultKind::Unhealthy => self.unhealthy = None,
            FaultKind::WrongKek => self.wrong_kek = false,
            FaultKind::Version => self.version = None,
            FaultKind::EmptyCiphertext => self.empty_ciphertext = false,
            FaultKind::OversizedKeyId => self.oversized_key_id = false,
        }
    }

    /// The kinds switched on.
    pub fn active(&self) -> Vec<FaultKind> {
        FaultKind::ALL.into_iter().filter(|k| self.is_on(*k)).collect()
    }

    fn is_on(&self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::Unavailable => self.unavailable,
            FaultKind::Latency => self.latency.is_some(),
            FaultKind::FailEncrypt => self.encrypt.is_some(),
            FaultKind::FailDecrypt => self.decrypt.is_some(),
            FaultKind::FailStatus => self.status.is_some(),
            FaultKind::Unhealthy => self.unhealthy.is_some(),
            FaultKind::WrongKek => self.wrong_kek,
            FaultKind::Version => self.version.is_some(),
            FaultKind::EmptyCiphertext => self.empty_ciphertext,
            FaultKind::OversizedKeyId => self.oversized_key_id,
        }
    }
}

/// One control command: a line of the control socket's protocol, or a call on the handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// `status`: report the state, change nothing.
    Status,
    /// `rotate`: a new key version becomes current (old ones keep decrypting).
    Rotate,
    /// `fault <name> [args]`.
    Set(Fault),
    /// `fault <name> off`.
    Clear(FaultKind),
    /// `clear`: every fault off.
    ClearAll,
}

/// A control line that is not a command. `Display` says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} in control command {line:?}; {USAGE}")]
pub struct CommandError {
    /// The line.
    pub line: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The line protocol in one sentence, for error messages.
pub const USAGE: &str = "commands: status | rotate | clear | fault unavailable|wrong-kek|empty-ciphertext|oversized-key-id [off] | fault latency <duration>|off | fault encrypt|decrypt|status <gRPC code> [message]|off | fault unhealthy [healthz]|off | fault version <version>|off";

impl ControlCommand {
    /// Parses one line of the control protocol (see [`USAGE`]).
    pub fn parse(line: &str) -> Result<ControlCommand, CommandError> {
        let err = |problem: String| CommandError { line: line.to_owned(), problem };
        let mut words = line.split_whitespace();
        let command = match words.next() {
            Some("status") => ControlCommand::Status,
            Some("rotate") => ControlCommand::Rotate,
            Some("clear") => ControlCommand::ClearAll,
            Some("fault") => {
                let name = words.next().ok_or_else(|| err("no fault named".to_owned()))?;
                let kind = FaultKind::from_name(name)
                    .ok_or_else(|| err(format!("unknown fault {name:?}")))?;
                let rest: Vec<&str> = words.by_ref().collect();
                if rest == ["off"] {
                    return Ok(ControlCommand::Clear(kind));
                }
                let flag = |fault: Fault| match rest.as_slice() {
                    [] | ["on"] => Ok(ControlCommand::Set(fault)),
                    _ => Err(err(format!("fault {name} takes no argument but `off`"))),
                };
                let injected = |rest: &[&str]| -> Result<InjectedError, CommandError> {
                    let (code, message) = rest.split_first().ok_or_else(|| {
                        err(format!("fault {name} needs a gRPC code (e.g. FailedPrecondition)"))
                    })?;
                    let code = parse_code(code)
                        .ok_or_else(|| err(format!("unknown gRPC code {code:?}")))?;
                    let error = InjectedError::new(code);
                    Ok(if message.is_empty() {
                        error
                    } else {
                        error.with_message(message.join(" "))
                    })
                };
                return match kind {
                    FaultKind::Unavailable => flag(Fault::Unavailable),
                    FaultKind::WrongKek => flag(Fault::WrongKek),
                    FaultKind::EmptyCiphertext => flag(Fault::EmptyCiphertext),
                    FaultKind::OversizedKeyId => flag(Fault::OversizedKeyId),
                    FaultKind::Latency => match rest.as_slice() {
                        [d] => parse_duration(d)
                            .map(|d| ControlCommand::Set(Fault::Latency(d)))
                            .ok_or_else(|| {
                                err(format!("{d:?} is not a duration such as 50ms or 1.5s"))
                            }),
                        _ => Err(err("fault latency needs one duration (e.g. 50ms)".to_owned())),
                    },
                    FaultKind::FailEncrypt => {
                        injected(&rest).map(|e| ControlCommand::Set(Fault::FailEncrypt(e)))
                    }
                    FaultKind::FailDecrypt => {
                        injected(&rest).map(|e| ControlCommand::Set(Fault::FailDecrypt(e)))
                    }
                    FaultKind::FailStatus => {
                        injected(&rest).map(|e| ControlCommand::Set(Fault::FailStatus(e)))
                    }
                    FaultKind::Unhealthy => {
                        Ok(ControlCommand::Set(Fault::Unhealthy(if rest.is_empty() {
                            "unhealthy: fault injected by atrest kms-plugin".to_owned()
                        } else {
                            rest.join(" ")
                        })))
                    }
                    FaultKind::Version => match rest.as_slice() {
                        [v] => Ok(ControlCommand::Set(Fault::Version((*v).to_owned()))),
                        _ => Err(err("fault version needs one version (e.g. v1beta1)".to_owned())),
                    },
                };
            }
            Some(other) => return Err(err(format!("unknown command {other:?}"))),
            None => return Err(err("empty line".to_owned())),
        };
        match words.next() {
            Some(_) => Err(err("unexpected arguments".to_owned())),
            None => Ok(command),
        }
    }
}

/// A non-negative Go duration (`50ms`, `1.5s`).
fn parse_duration(text: &str) -> Option<Duration> {
    let d = atrest_config::GoDuration::parse(text).ok()?;
    u64::try_from(d.nanos).ok().map(Duration::from_nanos)
}

/// Prints a duration as Go does for the common cases (`50ms`, `1.5s`).
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    atrest_config::GoDuration { nanos }.to_string()
}

/// A gRPC code from grpc-go's name (`FailedPrecondition`), case-insensitively.
pub fn parse_code(name: &str) -> Option<GrpcCode> {
    GrpcCode::ALL.into_iter().find(|c| c.to_string().eq_ignore_ascii_case(name))
}

mod code_name {
    use atrest_transformers::GrpcCode;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(code: &GrpcCode, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(code)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GrpcCode, D::Error> {
        let name = String::deserialize(d)?;
        super::parse_code(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown gRPC code {name:?}")))
    }
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                super::parse_duration(&text)
                    .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a duration")))
            })
            .transpose()
    }
}
