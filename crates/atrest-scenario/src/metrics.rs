//! What kube-apiserver's `/metrics` says about its encryption configuration.
//!
//! Mirrors k8s.io/apiserver pkg/server/options/encryptionconfig/metrics/metrics.go:
//! `apiserver_encryption_config_controller_last_config_info{apiserver_id_hash, hash}` (1.34+,
//! set at startup whether or not automatic reload is on, and after each successful reload) and
//! `apiserver_encryption_config_controller_automatic_reloads_total{status, apiserver_id_hash}`.

/// The encryption-configuration metrics of one apiserver.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReloadMetrics {
    /// `hash` label of `last_config_info`: `sha256:<hex of the file>`.
    pub hash: Option<String>,
    /// `apiserver_id_hash` label: which apiserver answered.
    pub apiserver_id_hash: Option<String>,
    /// `automatic_reloads_total{status="failure"}`.
    pub failures: f64,
    /// `automatic_reloads_total{status="success"}`.
    pub successes: f64,
}

impl ReloadMetrics {
    /// Parses the Prometheus text exposition format.
    pub fn parse(text: &str) -> ReloadMetrics {
        let mut m = ReloadMetrics::default();
        // `hash` must not match inside `apiserver_id_hash`: a label starts after `{` or `,`.
        let label = |line: &str, name: &str| {
            let labels = &line[line.find('{')? + 1..line.find('}')?];
            labels.split(',').find_map(|kv| {
                let v = kv.trim().strip_prefix(name)?.strip_prefix("=\"")?;
                Some(v.trim_end_matches('"').to_owned())
            })
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value =
                || line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            if line.starts_with("apiserver_encryption_config_controller_last_config_info{") {
                m.hash = label(line, "hash");
                m.apiserver_id_hash = label(line, "apiserver_id_hash");
            } else if line
                .starts_with("apiserver_encryption_config_controller_automatic_reloads_total{")
            {
                match label(line, "status").as_deref() {
                    Some("failure") => m.failures += value(),
                    Some("success") => m.successes += value(),
                    _ => {}
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_metrics_from_the_exposition_format() {
        let text = "# HELP apiserver_encryption_config_controller_last_config_info [ALPHA] ...\n\
# TYPE apiserver_encryption_config_controller_last_config_info gauge\n\
apiserver_encryption_config_controller_last_config_info{apiserver_id_hash=\"sha256:aa\",hash=\"sha256:bb\"} 1\n\
apiserver_encryption_config_controller_automatic_reloads_total{apiserver_id_hash=\"sha256:aa\",status=\"failure\"} 2\n\
apiserver_encryption_config_controller_automatic_reloads_total{apiserver_id_hash=\"sha256:aa\",status=\"success\"} 1\n";
        let m = ReloadMetrics::parse(text);
        assert_eq!(m.hash.as_deref(), Some("sha256:bb"));
        assert_eq!(m.apiserver_id_hash.as_deref(), Some("sha256:aa"));
        assert!((m.failures - 2.0).abs() < f64::EPSILON);
        assert!((m.successes - 1.0).abs() < f64::EPSILON);
        assert_eq!(ReloadMetrics::parse("").hash, None);
    }
}
