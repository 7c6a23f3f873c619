//! KMS v2 on the simulated clock: which plugin a provider calls, the `Status` poll and its
//! retry, the cached health check, and the write state's expiry.

use super::*;

/// How often a running apiserver polls a healthy KMS v2 plugin's `Status`
/// (`kmsv2PluginProbe`'s one-minute ticker).
pub(super) const KMS_STATUS_POLL: Duration = Duration::from_secs(60);

/// How soon it polls again after a failed `Status`.
pub(super) const KMS_STATUS_RETRY: Duration = Duration::from_secs(10);

/// How long a healthy check result is reused (`kmsPluginHealthzPositiveTTL`).
pub(super) const KMS_HEALTHZ_POSITIVE_TTL: Duration = Duration::from_secs(20);

/// How long a failed check result is reused (`kmsPluginHealthzNegativeTTL`).
pub(super) const KMS_HEALTHZ_NEGATIVE_TTL: Duration = Duration::from_secs(3);

/// How long a write state stays valid after the last healthy `Status`
/// (`kmsv2PluginWriteDEKSourceMaxTTL`).
pub(super) const KMS_WRITE_TTL: Duration = Duration::from_secs(180);

impl SimCluster {
    /// The KMS plugins a configuration's providers reach: by provider name, the plugin whose
    /// socket its endpoint names. An endpoint no plugin serves is an error (the simulator has
    /// nothing to dial).
    pub(super) fn kms_plugins_for(
        &self,
        path: &str,
        config: &atrest_config::EncryptionConfiguration,
    ) -> Result<KmsPlugins, String> {
        let mut plugins = KmsPlugins::new();
        for kms in config.resources.iter().flat_map(|r| &r.providers).filter_map(|p| p.kms.as_ref())
        {
            let served =
                self.kms.values().find(|(socket, _)| kms.endpoint == format!("unix://{socket}"));
            match served {
                Some((_, plugin)) if kms.api_version == "v2" => {
                    let plugin: Arc<dyn KmsV2Plugin> = Arc::new(plugin.clone());
                    plugins = plugins.with_v2(kms.name.clone(), plugin);
                }
                _ => {
                    return Err(format!(
                        "atrest sim: {path} configures KMS provider {:?} at {}; the simulator \
                         serves only KMS v2 plugins of the cluster's spec",
                        kms.name, kms.endpoint
                    ));
                }
            }
        }
        Ok(plugins)
    }

    /// One `Status` poll of every KMS v2 provider of `running`, at simulated time `at`. Returns
    /// whether all were healthy.
    pub(super) fn poll_kms(running: &mut Running, at: Duration) -> bool {
        Self::check_kms(running, at).iter().all(Result::is_ok)
    }

    /// Upstream's `kmsv2PluginProbe.check`, shared by the `Status` poll and
    /// `/healthz/kms-providers`: within the last result's TTL (20 s healthy, 3 s failed) the last
    /// result again (a failure as its raw error); else a fresh probe, whose success extends the
    /// provider's write state to `at` + 3 min and records the key ID. One result per provider,
    /// in configuration order.
    pub(super) fn check_kms(running: &mut Running, at: Duration) -> Vec<Result<(), String>> {
        let envelopes: Vec<_> = running
            .transformers
            .chains()
            .flat_map(|(_, chain)| chain.kms_v2().iter().cloned())
            .collect();
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let name = envelope.name().to_owned();
            if let Some((received, err, ttl)) = running.kms_last_check.get(&name)
                && at.saturating_sub(*received) < *ttl
            {
                results.push(err.clone().map_or(Ok(()), Err));
                continue;
            }
            match envelope.probe() {
                Ok(()) => {
                    let key_id = envelope.write_key().map(|(k, _)| k).unwrap_or_default();
                    running.kms_write_valid_until.insert(name.clone(), at + KMS_WRITE_TTL);
                    running.kms_status_key_ids.insert((name.clone(), key_id), at);
                    running.kms_last_check.insert(name, (at, None, KMS_HEALTHZ_POSITIVE_TTL));
                    results.push(Ok(()));
                }
                Err(e) => {
                    let raw = match &e {
                        atrest_transformers::KmsV2ProbeError::Status { cause, .. } => {
                            cause.to_string()
                        }
                        other => other.to_string(),
                    };
                    running.kms_last_check.insert(name, (at, Some(raw), KMS_HEALTHZ_NEGATIVE_TTL));
                    results.push(Err(e.to_string()));
                }
            }
        }
        results
    }

    /// Upstream's `ValidateEncryptCapability` for a KMS v2 value about to be written: its
    /// provider's write state must still be valid.
    pub(super) fn kms_write_capability(
        &self,
        running: &Running,
        stored: &[u8],
    ) -> Result<(), String> {
        let atrest_transformers::Envelope::KmsV2 { provider: Some(provider), object: Ok(header) } =
            atrest_transformers::Envelope::parse(stored)
        else {
            return Ok(());
        };
        let until = running.kms_write_valid_until.get(&provider).copied().unwrap_or_default();
        if self.now <= until {
            return Ok(());
        }
        let wall = |t: Duration| {
            let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
            Time::from_unix_seconds(self.epoch_unix.saturating_add(secs)).to_rfc3339()
        };
        Err(format!(
            "encryptedDEKSource with keyID hash {:?} expired at {} (current time is {})",
            atrest_transformers::key_id_hash(&header.key_id),
            wall(until),
            wall(self.now)
        ))
    }
}
