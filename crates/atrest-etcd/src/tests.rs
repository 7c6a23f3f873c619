//! Unit tests that need no etcd: key ranges, URL and TLS checks, and connection failures
//! against 127.0.0.1 ports where no etcd answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{ConnectSettings, EtcdTlsFiles, RawEtcd, RawEtcdError, UrlError, prefix_end};

#[test]
fn prefix_ends() {
    assert_eq!(prefix_end(b"/registry/secrets/"), b"/registry/secrets0");
    assert_eq!(prefix_end(b"a\xff"), b"b");
    assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    assert_eq!(prefix_end(b""), b"\0");
}

/// `connect_url`'s error for `url` with default settings and `tls` files.
async fn connect_err(url: &str, tls: EtcdTlsFiles) -> RawEtcdError {
    let settings =
        ConnectSettings::new().with_tls(tls).with_connect_timeout(Duration::from_secs(2));
    RawEtcd::connect_url(url, &settings).await.expect_err(url)
}

#[tokio::test]
async fn urls_that_are_not_etcd_client_urls() {
    type Expected = fn(&UrlError) -> bool;
    let cases: &[(&str, Expected)] = &[
        // `http` keeps a port it cannot read; tonic would dial port 80 instead.
        ("http://127.0.0.1:99999", |e| matches!(e, UrlError::Port(p) if p == "99999")),
        ("http://127.0.0.1:0", |e| matches!(e, UrlError::Port(p) if p == "0")),
        ("http://127.0.0.1:", |e| matches!(e, UrlError::Port(p) if p.is_empty())),
        ("http://[::1]:70000", |e| matches!(e, UrlError::Port(p) if p == "70000")),
        ("ftp://127.0.0.1:2379", |e| matches!(e, UrlError::Scheme)),
        ("127.0.0.1:2379", |e| matches!(e, UrlError::Scheme)),
        ("/just/a/path", |e| matches!(e, UrlError::Scheme)),
        ("http://exa mple:1", |e| matches!(e, UrlError::Parse(_))),
        ("", |e| matches!(e, UrlError::Parse(_))),
    ];
    for (url, expected) in cases {
        match connect_err(url, EtcdTlsFiles::default()).await {
            RawEtcdError::Url { url: got, source } => {
                assert_eq!(got, *url);
                assert!(expected(&source), "{url}: {source:?}");
            }
            other => panic!("{url}: expected a URL error, got {other:?}"),
        }
    }
    let err = connect_err("http://127.0.0.1:99999", EtcdTlsFiles::default()).await;
    assert_eq!(err.to_string(), r#"invalid etcd URL "http://127.0.0.1:99999""#);
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some(r#"port "99999" is not a number from 1 to 65535"#));
}

#[test]
fn urls_that_are_etcd_client_urls() {
    for url in ["http://127.0.0.1:2379", "https://localhost:2379", "http://[::1]:2379", "http://h"]
    {
        let parsed = crate::connect::parse_url(url).unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(parsed.https, url.starts_with("https"), "{url}");
    }
}

fn files(ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> EtcdTlsFiles {
    EtcdTlsFiles {
        ca_file: ca.map(PathBuf::from),
        cert_file: cert.map(PathBuf::from),
        key_file: key.map(PathBuf::from),
    }
}

#[tokio::test]
async fn tls_settings_that_do_not_fit_the_url() {
    let cases = [
        (
            "https://127.0.0.1:1",
            files(None, None, None),
            "etcd at https://127.0.0.1:1: an https URL needs the CA certificate (--cacert)",
        ),
        (
            "https://127.0.0.1:1",
            files(Some("/ca"), Some("/cert"), None),
            "etcd at https://127.0.0.1:1: a client certificate needs its key, and a key its certificate",
        ),
        (
            "http://127.0.0.1:1",
            files(Some("/ca"), None, None),
            "etcd at http://127.0.0.1:1: TLS files were given for a URL that is not https://",
        ),
    ];
    for (url, tls, text) in cases {
        let err = connect_err(url, tls).await;
        assert!(matches!(err, RawEtcdError::Tls { .. }), "{err:?}");
        assert_eq!(err.to_string(), text);
    }
}

#[tokio::test]
async fn unreadable_tls_files_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing-ca.crt");
    let tls = EtcdTlsFiles { ca_file: Some(missing.clone()), ..EtcdTlsFiles::default() };
    match connect_err("https://127.0.0.1:1", tls).await {
        RawEtcdError::TlsFile { what, path, source } => {
            assert_eq!((what, path.as_path()), ("CA certificate", missing.as_path()));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a TLS file error, got {other:?}"),
    }

    // A CA that is there, a client key that is not.
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "not PEM").expect("write");
    let key = dir.path().join("client.key");
    let tls = EtcdTlsFiles {
        ca_file: Some(ca.clone()),
        cert_file: Some(ca.clone()),
        key_file: Some(key.clone()),
    };
    let err = connect_err("https://127.0.0.1:1", tls).await;
    assert_eq!(err.to_string(), format!("cannot read the etcd client key file {}", key.display()));
}

#[tokio::test]
async fn tls_material_that_is_not_pem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not PEM").expect("write");
    let tls = EtcdTlsFiles {
        ca_file: Some(junk.clone()),
        cert_file: Some(junk.clone()),
        key_file: Some(junk.clone()),
    };
    let err = connect_err("https://127.0.0.1:1", tls).await;
    assert!(matches!(err, RawEtcdError::TlsConfig { .. }), "{err:?}");
    assert_eq!(err.to_string(), "etcd at https://127.0.0.1:1: unusable TLS certificate or key");
}

/// A 127.0.0.1 port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_url() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let err = connect_err(&url, EtcdTlsFiles::default()).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    // Refused at once (`Connect`); `ConnectTimeout` only if the refusal never arrived.
    assert!(
        matches!(&err, RawEtcdError::Connect { url: u, .. } | RawEtcdError::ConnectTimeout { url: u, .. } if *u == url),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&format!("cannot connect to etcd at {url}")), "{err}");
}

/// A listener that accepts TCP but never speaks HTTP/2: only the connect timeout ends the
/// wait, and the error says how long it waited.
#[tokio::test]
async fn a_silent_listener_is_a_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let settings = ConnectSettings::new().with_connect_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = RawEtcd::connect_url(&url, &settings).await.expect_err("nothing answers");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(matches!(err, RawEtcdError::ConnectTimeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("cannot connect to etcd at {url}: no answer within 500ms"));
    drop(listener);
}

#[tokio::test]
async fn connect_pem_needs_an_https_url() {
    let err = RawEtcd::connect_pem("http://127.0.0.1:1", "ca", "cert", "key")
        .await
        .expect_err("plain URL");
    assert!(matches!(err, RawEtcdError::Tls { .. }), "{err:?}");
}

#[test]
fn debug_never_prints_values() {
    let value = crate::RawValue { value: b"s3cr3t".to_vec(), mod_revision: 2, create_revision: 1 };
    let kv = crate::RawKv { key: b"/k".to_vec(), value: b"s3cr3t".to_vec(), mod_revision: 2 };
    for text in [format!("{value:?}"), format!("{kv:?}")] {
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("len: 6"), "{text}");
    }
}

#[tokio::test]
async fn tls_files_are_read_bounded() {
    let source_text = |err: RawEtcdError| match err {
        RawEtcdError::TlsFile { source, .. } => source.to_string(),
        other => panic!("expected a TLS file error, got {other:?}"),
    };
    // A device is refused before it is read (it would never end).
    let tls = EtcdTlsFiles { ca_file: Some("/dev/zero".into()), ..EtcdTlsFiles::default() };
    let text = source_text(connect_err("https://127.0.0.1:1", tls).await);
    assert!(text.starts_with("not a regular file but a character device"), "{text}");

    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("ca.crt");
    std::fs::write(&big, vec![b'-'; (1 << 20) + 1]).expect("write");
    let tls = EtcdTlsFiles { ca_file: Some(big), ..EtcdTlsFiles::default() };
    let text = source_text(connect_err("https://127.0.0.1:1", tls).await);
    assert_eq!(text, "larger than the 1 MiB limit for a TLS PEM file");
}
