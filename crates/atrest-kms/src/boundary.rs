//! The cluster boundary's KMS words ([`atrest_backend::KmsFault`], [`atrest_backend::KmsCalls`])
//! in this plugin's terms: one mapping for every backend that runs the plugin (the simulator's
//! [`crate::LocalKmsPlugin`], the process backend's [`crate::KmsPlugin`]).

use atrest_backend::{KmsCalls, KmsFault};
use atrest_transformers::GrpcCode;

use crate::{Calls, Fault, InjectedError};

impl From<KmsFault> for Fault {
    fn from(fault: KmsFault) -> Fault {
        // A failing call answers `Internal`, as a plugin whose KMS errors does.
        match fault {
            KmsFault::Unavailable => Fault::Unavailable,
            KmsFault::Latency(d) => Fault::Latency(d),
            KmsFault::FailEncrypt => Fault::FailEncrypt(InjectedError::new(GrpcCode::Internal)),
            KmsFault::FailDecrypt => Fault::FailDecrypt(InjectedError::new(GrpcCode::Internal)),
            KmsFault::FailStatus => Fault::FailStatus(InjectedError::new(GrpcCode::Internal)),
            KmsFault::Unhealthy(healthz) => Fault::Unhealthy(healthz),
            KmsFault::WrongKek => Fault::WrongKek,
        }
    }
}

impl From<Calls> for KmsCalls {
    fn from(calls: Calls) -> KmsCalls {
        KmsCalls { status: calls.status, encrypt: calls.encrypt, decrypt: calls.decrypt }
    }
}
