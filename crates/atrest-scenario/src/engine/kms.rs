//! KMS plugin steps: control, key-ID waits, call counts.

use super::*;

/// Whether `/metrics` shows a KMS v2 `Status` answer with the key ID of hash `hash`.
fn status_key_id_seen(text: &str, hash: &str) -> bool {
    let label = format!("key_id_hash=\"{hash}\"");
    text.lines().any(|l| {
        l.starts_with("apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{")
            && l.contains(&label)
    })
}

impl<C: Cluster> Engine<'_, C> {
    pub(super) async fn kms_plugin(
        &mut self,
        k: &KmsPluginStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let action = match (&k.fault, k.rotate) {
            (Some(f), _) => KmsAction::SetFault(f.to_backend()),
            (None, true) => KmsAction::Rotate,
            (None, false) => KmsAction::ClearFaults,
        };
        let state = self.cluster.kms_plugin(&k.name.value, action).await?;
        rec.note(format!(
            "KMS plugin {}: key ID {} (versions: {})",
            k.name.value,
            state.key_id,
            state.key_ids.join(", ")
        ));
        Ok(())
    }

    /// Polls `/metrics` (once a second, against a deadline) until apiserver `i` reports a
    /// `Status` with the plugin's current key ID. kube-apiserver records
    /// `apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds` for a key ID
    /// just before it wraps a new DEK seed for it (k8s.io/apiserver
    /// pkg/server/options/encryptionconfig/config.go, `isKMSv2ProviderHealthyAndMaybeRotateDEK`),
    /// so the wait lets one more interval pass once it shows. A simulated cluster moves its
    /// clock by the interval instead of waiting, and the deadline counts simulated time.
    pub(super) async fn wait_for_key_id(
        &mut self,
        w: &KeyIdStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let name = &w.name.value;
        let state = self.cluster.kms_plugin(name, KmsAction::Status).await?;
        let hash = atrest_transformers::key_id_hash(&state.key_id);
        let interval = std::time::Duration::from_secs(1);
        let timeout = std::time::Duration::from_secs(w.timeout_seconds.value);
        for i in targets(w.apiserver, self.flags.len()) {
            let deadline = Instant::now().checked_add(timeout);
            let mut ticker = Ticker::new(deadline, interval);
            let mut simulated = std::time::Duration::ZERO;
            let seen = loop {
                let seen = match self.cluster.metrics(i).await? {
                    Ok(text) => status_key_id_seen(&text, &hash),
                    Err(_) => false,
                };
                if seen || simulated >= timeout {
                    break seen;
                }
                if self.cluster.advance_clock(interval) {
                    simulated += interval;
                } else if !ticker.tick().await {
                    break false;
                }
            };
            if seen && !self.cluster.advance_clock(interval) {
                ticker.tick().await;
            }
            rec.check(
                format!("apiserver {i} takes key ID {} from KMS plugin {name}", state.key_id),
                seen,
                None,
                if seen {
                    "Status key ID seen".to_owned()
                } else {
                    format!("not within {} s", w.timeout_seconds.value)
                },
            );
        }
        Ok(())
    }

    /// Counts are deltas since the plugin's previous count, so a step proves what the steps
    /// between the two asked of the plugin (the cluster's start included in the first).
    pub(super) async fn expect_kms_calls(
        &mut self,
        c: &KmsCallsStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let name = &c.name.value;
        let now = self.cluster.kms_plugin(name, KmsAction::Status).await?.calls;
        let before = self.kms_calls.insert(name.clone(), now).unwrap_or_default();
        let (encrypt, decrypt) = (
            now.encrypt.saturating_sub(before.encrypt),
            now.decrypt.saturating_sub(before.decrypt),
        );
        rec.note(format!("KMS plugin {name}: {encrypt} Encrypt, {decrypt} Decrypt"));
        for (method, want, got) in
            [("Encrypt", c.encrypt, encrypt), ("Decrypt", c.decrypt, decrypt)]
        {
            if let Some(want) = want {
                rec.check(
                    format!("KMS plugin {name} received {want} {method} call{}", plural(want)),
                    got == want,
                    Some(want.to_string()),
                    got.to_string(),
                );
            }
        }
        Ok(())
    }
}
