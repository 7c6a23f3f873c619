use std::path::Path;
use std::time::Duration;

use atrest_transformers::GrpcCode;

use crate::kek::{KeyRing, LineProblem};
use crate::{
    ControlCommand, EndpointError, Fault, FaultKind, Faults, InjectedError, KeyFileError,
    SocketAddress, parse_endpoint,
};

#[test]
fn endpoints_parse_as_upstreams_parse_endpoint() {
    let path = |p: &str| Ok(SocketAddress::Path(p.into()));
    assert_eq!(parse_endpoint("unix:///tmp/kms.sock"), path("/tmp/kms.sock"));
    assert_eq!(parse_endpoint("UNIX:///tmp/kms.sock"), path("/tmp/kms.sock"));
    // A host is not part of the path, as with Go's url.Parse.
    assert_eq!(parse_endpoint("unix://host/tmp/kms.sock"), path("/tmp/kms.sock"));
    assert_eq!(parse_endpoint("unix:///tmp/a%20b.sock?x=1#f"), path("/tmp/a b.sock"));
    assert_eq!(parse_endpoint("unix:///@kms"), Ok(SocketAddress::Abstract("kms".into())));
    let text = |e: &str| parse_endpoint(e).unwrap_err().to_string();
    assert_eq!(text(""), "remote KMS provider can't use empty string as endpoint");
    assert_eq!(text("tcp://127.0.0.1:1"), "unsupported scheme \"tcp\" for remote KMS provider");
    assert_eq!(text("/tmp/kms.sock"), "unsupported scheme \"\" for remote KMS provider");
    assert!(matches!(parse_endpoint("unix:///a\x7f"), Err(EndpointError::Invalid { .. })));
    assert_eq!(
        text("unix:///a\x7f"),
        "invalid endpoint \"unix:///a\\x7f\" for remote KMS provider, error: parse \"unix:///a\\x7f\": net/url: invalid control character in URL"
    );
}

#[test]
fn key_files_parse_strictly() {
    let path = Path::new("/k");
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let ring =
        KeyRing::parse(path, format!("# c\n\nk1 {key}\n  k2\t{key}  \n").as_bytes()).unwrap();
    assert_eq!(ring.key_ids(), ["k1", "k2"]);
    assert_eq!(ring.current().key_id(), "k2");
    let problem = |text: &str| match KeyRing::parse(path, text.as_bytes()).unwrap_err() {
        KeyFileError::Parse { line, problem, .. } => (line, problem),
        other => panic!("{other:?}"),
    };
    assert_eq!(problem("k1\n"), (1, LineProblem::Shape));
    assert_eq!(problem(&format!("k1 {key} x\n")), (1, LineProblem::Shape));
    assert_eq!(problem("#\nk1 !!!\n"), (2, LineProblem::Base64));
    assert_eq!(problem("k1 AAAA\n"), (1, LineProblem::KeySize(3)));
    assert_eq!(problem(&format!("k1 {key}\nk1 {key}\n")), (2, LineProblem::Duplicate));
    assert_eq!(
        problem(&format!("{} {key}\n", "k".repeat(1025))),
        (1, LineProblem::KeyIdTooLong(1025))
    );
    assert_eq!(
        KeyRing::parse(path, b"# nothing\n").unwrap_err().to_string(),
        "key file /k holds no key"
    );
    assert_eq!(
        KeyRing::parse(path, b"k1 AAAA").unwrap_err().to_string(),
        "key file /k, line 1: the key is 3 bytes, expected 32 (AES-256)"
    );
}

#[test]
fn rotation_numbers_after_the_highest_version_and_debug_shows_ids_only() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let text = format!("atrest-kek-7 {key}\nmine {key}\n");
    let mut ring = KeyRing::parse(Path::new("/k"), text.as_bytes()).unwrap();
    assert_eq!(ring.rotate().unwrap().key_id(), "atrest-kek-8");
    let debug = format!("{ring:?}");
    assert!(debug.contains("atrest-kek-8") && !debug.contains(key), "{debug}");
    // What is wrapped under one key ID does not unwrap under another, or with another key.
    let wrapped = ring.current().wrap(b"seed").unwrap();
    assert_eq!(&*ring.current().unwrap("atrest-kek-8", &wrapped).unwrap(), b"seed");
    assert!(ring.current().unwrap("mine", &wrapped).is_err());
    assert!(ring.get("mine").unwrap().unwrap("atrest-kek-8", &wrapped).is_err());
    assert!(ring.current().unwrap("atrest-kek-8", &wrapped[..27]).is_err());
}

#[test]
fn control_lines() {
    let parse = |l: &str| ControlCommand::parse(l);
    assert_eq!(parse("status"), Ok(ControlCommand::Status));
    assert_eq!(parse(" rotate "), Ok(ControlCommand::Rotate));
    assert_eq!(parse("clear"), Ok(ControlCommand::ClearAll));
    assert_eq!(parse("fault unavailable"), Ok(ControlCommand::Set(Fault::Unavailable)));
    assert_eq!(parse("fault unavailable on"), Ok(ControlCommand::Set(Fault::Unavailable)));
    assert_eq!(parse("fault unavailable off"), Ok(ControlCommand::Clear(FaultKind::Unavailable)));
    assert_eq!(
        parse("fault slow 1.5s"),
        Ok(ControlCommand::Set(Fault::Latency(Duration::from_millis(1500))))
    );
    assert_eq!(
        parse("fault encrypt unavailable plugin restarting"),
        Ok(ControlCommand::Set(Fault::FailEncrypt(
            InjectedError::new(GrpcCode::Unavailable).with_message("plugin restarting")
        )))
    );
    assert_eq!(
        parse("fault status Internal"),
        Ok(ControlCommand::Set(Fault::FailStatus(InjectedError::new(GrpcCode::Internal))))
    );
    assert_eq!(
        parse("fault unhealthy sealed"),
        Ok(ControlCommand::Set(Fault::Unhealthy("sealed".into())))
    );
    assert_eq!(parse("fault version v1"), Ok(ControlCommand::Set(Fault::Version("v1".into()))));
    for kind in FaultKind::ALL {
        assert_eq!(parse(&format!("fault {kind} off")), Ok(ControlCommand::Clear(kind)));
    }
    let problem = |l: &str| parse(l).unwrap_err().problem;
    assert_eq!(problem(""), "empty line");
    assert_eq!(problem("reboot"), "unknown command \"reboot\"");
    assert_eq!(problem("status now"), "unexpected arguments");
    assert_eq!(problem("fault"), "no fault named");
    assert_eq!(problem("fault gremlins"), "unknown fault \"gremlins\"");
    assert_eq!(problem("fault latency"), "fault latency needs one duration (e.g. 50ms)");
    assert_eq!(problem("fault latency -1s"), "\"-1s\" is not a duration such as 50ms or 1.5s");
    assert_eq!(problem("fault wrong-kek please"), "fault wrong-kek takes no argument but `off`");
    assert_eq!(
        problem("fault decrypt"),
        "fault decrypt needs a gRPC code (e.g. FailedPrecondition)"
    );
}

#[test]
fn faults_round_trip_through_json() {
    let mut faults = Faults::default();
    faults.set(Fault::Latency(Duration::from_millis(50)));
    faults.set(Fault::FailDecrypt(InjectedError::new(GrpcCode::FailedPrecondition)));
    faults.set(Fault::WrongKek);
    let json = serde_json::to_value(&faults).unwrap();
    assert_eq!(json["latency"], "50ms");
    assert_eq!(json["decrypt"]["code"], "FailedPrecondition");
    assert_eq!(serde_json::from_value::<Faults>(json).unwrap(), faults);
    assert_eq!(faults.active(), [FaultKind::Latency, FaultKind::FailDecrypt, FaultKind::WrongKek]);
    faults.clear(FaultKind::WrongKek);
    assert!(!faults.wrong_kek);
}
