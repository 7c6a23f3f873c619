//! Automatic reload and health probes.

use super::*;

impl<C: Cluster> Engine<'_, C> {
    pub(super) async fn reload_metrics(
        &mut self,
        i: usize,
    ) -> Result<Option<ReloadMetrics>, StepError> {
        Ok(match self.cluster.metrics(i).await? {
            Ok(text) => Some(ReloadMetrics::parse(&text)),
            Err(_) => None,
        })
    }

    /// Polls `/metrics` (once a second, against a deadline) until the reload outcome shows.
    pub(super) async fn wait_for_reload(
        &mut self,
        r: &ReloadStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        for i in targets(r.apiserver, self.flags.len()) {
            let Some((want_hash, failures_before)) = self.reload_baselines.get(&i).cloned() else {
                return Err(StepError::Harness(format!(
                    "waitForReload: no configuration was written for running apiserver {i}"
                )));
            };
            // Load bounds the timeout; a deadline past what `Instant` can hold is no deadline.
            let timeout = r.timeout_seconds.value;
            let deadline = Instant::now().checked_add(std::time::Duration::from_secs(timeout));
            let before = self.reload_metrics(i).await?;
            // As `waitForKmsKeyId`: a simulated cluster moves its clock (its reload poll runs
            // once a simulated minute) instead of waiting, and the deadline counts that time.
            let interval = std::time::Duration::from_secs(1);
            let mut ticker = Ticker::new(deadline, interval);
            let mut simulated = std::time::Duration::ZERO;
            let (done, last) = loop {
                let m = self.reload_metrics(i).await?;
                let done = m.as_ref().is_some_and(|m| match r.expect {
                    ReloadExpect::Loaded => m.hash.as_deref() == Some(want_hash.as_str()),
                    ReloadExpect::Failed => m.failures > failures_before,
                });
                if done || simulated >= std::time::Duration::from_secs(timeout) {
                    break (done, m);
                }
                if self.cluster.advance_clock(interval) {
                    simulated += interval;
                } else if !ticker.tick().await {
                    break (false, m);
                }
            };
            let seen = match &last {
                None => "no /metrics answer".to_owned(),
                Some(m) => format!(
                    "last_config_info hash is {}the file written last; reload failures {}",
                    if m.hash.as_deref() == Some(want_hash.as_str()) { "" } else { "not " },
                    if m.failures > failures_before { "went up" } else { "did not go up" }
                ),
            };
            rec.note(format!("apiserver {i}: {seen}"));
            match r.expect {
                ReloadExpect::Loaded => rec.check(
                    format!("apiserver {i} reloads the new configuration"),
                    done,
                    None,
                    if done {
                        "loaded".to_owned()
                    } else {
                        format!("not within {timeout} s: {seen}")
                    },
                ),
                ReloadExpect::Failed => {
                    rec.check(
                        format!("apiserver {i} reports a failed reload"),
                        done,
                        None,
                        if done {
                            "failure counted".to_owned()
                        } else {
                            format!("not within {timeout} s: {seen}")
                        },
                    );
                    let kept =
                        last.as_ref().and_then(|m| m.hash.clone()) == before.and_then(|m| m.hash);
                    rec.check(
                        format!("apiserver {i} keeps its previous configuration"),
                        kept,
                        None,
                        seen.clone(),
                    );
                }
            }
        }
        Ok(())
    }

    pub(super) async fn probe(
        &mut self,
        p: &ProbeStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let want = p.expect.code.value;
        let (code, body) = match &p.timeout_seconds {
            None => self.cluster.probe(p.apiserver, &p.path).await?,
            Some(t) => {
                // As `waitForKmsKeyId`: a simulated cluster moves its clock instead of waiting.
                let interval = std::time::Duration::from_secs(1);
                let timeout = std::time::Duration::from_secs(t.value);
                let mut ticker = Ticker::new(Instant::now().checked_add(timeout), interval);
                let mut simulated = std::time::Duration::ZERO;
                loop {
                    let answer = self.cluster.probe(p.apiserver, &p.path).await?;
                    if answer.0 == want || simulated >= timeout {
                        break answer;
                    }
                    if self.cluster.advance_clock(interval) {
                        simulated += interval;
                    } else if !ticker.tick().await {
                        break answer;
                    }
                }
            }
        };
        // A not-ready apiserver can become ready without a restart (a watch cache that lists
        // again once a KMS plugin decrypts again): a passing /readyz is that observation, so
        // the no-loss check runs again after it.
        let readyz = p.path.split_once('?').map_or(p.path.as_str(), |(path, _)| path) == "/readyz";
        if readyz && code == 200 && self.state[p.apiserver] == ServerState::NotReady {
            self.state[p.apiserver] = ServerState::Ready;
        }
        let body = self.as_reported(body.trim_end());
        rec.note(format!("{code}: {body}"));
        rec.check(
            format!("GET {} answers {want}", p.path),
            code == want,
            Some(want.to_string()),
            code.to_string(),
        );
        if let Some(b) = &p.expect.body {
            rec.check(
                format!("GET {} answers exactly the expected body", p.path),
                body == b.trim_end(),
                Some(b.clone()),
                body.clone(),
            );
        }
        if let Some(b) = &p.expect.body_contains {
            rec.check(
                format!("GET {} answers a body containing {b:?}", p.path),
                body.contains(b.as_str()),
                None,
                body.clone(),
            );
        }
        Ok(())
    }
}
