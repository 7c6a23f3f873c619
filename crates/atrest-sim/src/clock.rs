//! The simulated clock's timers: automatic reload's poll and the KMS `Status` polls.

use super::*;

/// How often automatic reload hashes the configuration file
/// (`EncryptionConfigFileChangePollDuration`, k8s.io/apiserver
/// pkg/server/options/encryptionconfig/controller).
pub(super) const RELOAD_POLL: Duration = Duration::from_secs(60);

impl SimCluster {
    /// Moves the clock to `now`, running every KMS v2 `Status` poll and every automatic-reload
    /// poll of the configuration file that falls due on the way, in time order.
    pub(super) fn run_timers(&mut self, now: Duration) {
        for i in 0..self.apiservers.len() {
            loop {
                let server = &self.apiservers[i];
                let Some(running) = server.running.as_ref() else { break };
                let reload_due = server.spec.automatic_reload.then_some(running.next_reload_poll);
                let kms_due = running.next_kms_poll;
                let at = reload_due.map_or(kms_due, |r| r.min(kms_due));
                if at > now {
                    break;
                }
                if reload_due == Some(at) {
                    // The reload sees the clock of its tick (its KMS probes, its timestamps).
                    self.now = at;
                    self.maybe_reload(i);
                    if let Some(running) = self.apiservers[i].running.as_mut() {
                        running.next_reload_poll = at + RELOAD_POLL;
                    }
                } else if let Some(running) = self.apiservers[i].running.as_mut() {
                    let healthy = Self::poll_kms(running, at);
                    running.next_kms_poll =
                        at + if healthy { KMS_STATUS_POLL } else { KMS_STATUS_RETRY };
                }
            }
        }
        self.now = now;
    }

    /// With automatic reload, re-reads the file as the reload controller would before the next
    /// request is served; a file that does not load keeps the old configuration.
    pub(super) fn maybe_reload(&mut self, i: usize) {
        let Some(server) = self.apiservers.get(i) else { return };
        let (Some(path), Some(running)) = (&server.spec.encryption_config, &server.running) else {
            return;
        };
        if !server.spec.automatic_reload {
            return;
        }
        let now = self.file_seen_by(&server.spec, path).map(|b| load::content_hash(b));
        if now.is_none() || now == running.config_hash {
            // A missing file is a failed reload; an unchanged one is no reload.
            if now.is_none()
                && let Some(r) = self.apiservers[i].running.as_mut()
            {
                r.reload_failures += 1;
            }
            return;
        }
        let spec = server.spec.clone();
        let result = self.load_transformers(&spec);
        let Some(running) = self.apiservers[i].running.as_mut() else { return };
        match result {
            Ok((t, hash)) => {
                running.transformers = t;
                running.config_hash = hash;
                running.reload_successes += 1;
            }
            Err(_) => running.reload_failures += 1,
        }
    }
}
