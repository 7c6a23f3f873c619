//! `/healthz`, `/livez` and `/readyz` as kube-apiserver v1.37.2 answers them, with the flags the
//! process backend starts it with.
//!
//! Mirrors k8s.io/apiserver pkg/server/healthz/healthz.go (`handleRootHealth`: one
//! `[+]name ok` / `[-]name failed: reason withheld` line per check, then `<name> check passed`
//! only when verbose, or `<name> check failed` with status 500 whenever a check fails; a passing
//! non-verbose answer is `ok`; `adaptCheckToHandler` for `/<root>/<check>`). The check lists and
//! their order were read from the real apiserver (`GET /readyz?verbose`), as the differential
//! test pins them; `kms-providers` joins `/healthz` and `/readyz` (never `/livez`, since 1.29)
//! when a KMS v2 provider is configured or automatic reload is on
//! (pkg/server/options/etcd.go, `addHealthChecksWithoutLivez`).

/// The post-start hooks (and `autoregister-completion`) every root check lists, in order.
const POST_START: [&str; 30] = [
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/priority-and-fairness-config-consumer",
    "poststarthook/priority-and-fairness-filter",
    "poststarthook/storage-object-count-tracker-hook",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/peer-endpoint-reconciler-controller",
    "poststarthook/start-cluster-authentication-info-controller",
    "poststarthook/start-kube-apiserver-identity-lease-controller",
    "poststarthook/start-kube-apiserver-identity-lease-garbage-collector",
    super::STORAGE_READINESS,
    "poststarthook/start-legacy-token-tracking-controller",
    "poststarthook/start-service-ip-repair-controllers",
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
    "poststarthook/priority-and-fairness-config-producer",
    "poststarthook/bootstrap-controller",
    "poststarthook/start-kubernetes-service-cidr-controller",
    "poststarthook/start-kube-aggregator-informers",
    "poststarthook/apiservice-status-local-available-controller",
    "poststarthook/apiservice-status-remote-available-controller",
    "poststarthook/apiservice-registration-controller",
    "poststarthook/apiservice-discovery-controller",
    "poststarthook/kube-apiserver-autoregistration",
    "autoregister-completion",
    "poststarthook/apiservice-openapi-controller",
    "poststarthook/apiservice-openapiv3-controller",
];

/// The name of the KMS check (`/healthz/kms-providers`).
pub(crate) const KMS_PROVIDERS: &str = "kms-providers";

/// One of the three root checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Healthz,
    Livez,
    Readyz,
}

impl Root {
    fn name(self) -> &'static str {
        match self {
            Root::Healthz => "healthz",
            Root::Livez => "livez",
            Root::Readyz => "readyz",
        }
    }

    /// The checks this root lists, in upstream's order.
    pub(crate) fn checks(self, kms: bool) -> Vec<&'static str> {
        let kms = kms.then_some(KMS_PROVIDERS);
        let mut checks = match self {
            Root::Healthz => ["ping", "log", "loopback-serving-certificate", "etcd"]
                .into_iter()
                .chain(kms)
                .collect::<Vec<_>>(),
            Root::Livez => vec!["ping", "log", "loopback-serving-certificate", "etcd"],
            Root::Readyz => ["ping", "log", "etcd", "etcd-readiness"]
                .into_iter()
                .chain(kms)
                .chain([super::INFORMER_SYNC])
                .collect(),
        };
        checks.extend(POST_START);
        if self == Root::Readyz {
            checks.push("shutdown");
        }
        checks
    }
}

/// A request path split into what the health handlers look at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HealthPath<'a> {
    pub(crate) root: Root,
    /// `Some(check)` for `/<root>/<check>`.
    pub(crate) check: Option<&'a str>,
    pub(crate) verbose: bool,
}

impl HealthPath<'_> {
    /// `None` for a path that is not a health check (or one with query parameters the
    /// simulator does not model, such as `exclude`).
    pub(crate) fn parse(path: &str) -> Option<HealthPath<'_>> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut verbose = false;
        for param in query.split('&').filter(|p| !p.is_empty()) {
            // `?verbose`, `?verbose=true`, `?verbose=1`: the handler only asks whether the key
            // is present.
            match param.split_once('=').map_or(param, |(k, _)| k) {
                "verbose" => verbose = true,
                _ => return None,
            }
        }
        let rest = path.strip_prefix('/')?;
        let (root, check) = match rest.split_once('/') {
            Some((root, check)) => (root, Some(check)),
            None => (rest, None),
        };
        let root = match root {
            "healthz" => Root::Healthz,
            "livez" => Root::Livez,
            "readyz" => Root::Readyz,
            _ => return None,
        };
        Some(HealthPath { root, check, verbose })
    }
}

/// The answer to a root check, given which checks fail.
pub(crate) fn root_answer(root: Root, kms: bool, verbose: bool, failing: &[&str]) -> (u16, String) {
    let mut lines = String::new();
    let mut any_failing = false;
    for check in root.checks(kms) {
        if failing.contains(&check) {
            any_failing = true;
            lines.push_str(&format!("[-]{check} failed: reason withheld\n"));
        } else {
            lines.push_str(&format!("[+]{check} ok\n"));
        }
    }
    if any_failing {
        // `http.Error` ends the text with a newline, which a kube client trims from an error.
        (500, format!("{lines}{} check failed", root.name()))
    } else if verbose {
        (200, format!("{lines}{} check passed\n", root.name()))
    } else {
        (200, "ok".to_owned())
    }
}

/// The answer to one check (`adaptCheckToHandler`): `ok`, or 500 with
/// `internal server error: <err>`.
pub(crate) fn check_answer(result: Result<(), String>) -> (u16, String) {
    match result {
        Ok(()) => (200, "ok".to_owned()),
        Err(e) => (500, format!("internal server error: {e}")),
    }
}

/// What the mux answers for a path it has no handler for (error bodies as a kube client returns
/// them: trimmed).
pub(crate) fn not_found() -> (u16, String) {
    (404, "404 page not found".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = HealthPath::parse("/readyz?verbose").unwrap();
        assert_eq!((p.root, p.check, p.verbose), (Root::Readyz, None, true));
        let p = HealthPath::parse("/healthz/kms-providers").unwrap();
        assert_eq!((p.root, p.check, p.verbose), (Root::Healthz, Some("kms-providers"), false));
        assert!(HealthPath::parse("/readyz?exclude=etcd").is_none());
        assert!(HealthPath::parse("/metrics").is_none());
    }

    #[test]
    fn answers() {
        assert_eq!(root_answer(Root::Livez, true, false, &[]), (200, "ok".to_owned()));
        let (code, body) = root_answer(Root::Readyz, true, false, &[super::super::INFORMER_SYNC]);
        assert_eq!(code, 500);
        assert!(body.contains("[+]kms-providers ok\n[-]informer-sync failed: reason withheld\n"));
        assert!(body.ends_with("[+]shutdown ok\nreadyz check failed"));
        // livez never lists the KMS check, so a failing plugin does not fail it.
        let (code, body) = root_answer(Root::Livez, true, true, &[KMS_PROVIDERS]);
        assert_eq!(code, 200);
        assert!(!body.contains("kms"));
        assert!(body.ends_with(
            "[+]poststarthook/apiservice-openapiv3-controller ok\nlivez check passed\n"
        ));
    }
}
