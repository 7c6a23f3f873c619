//! What etcd holds: stored-value checks, the no-loss read-back, preflight.

use super::*;

impl<C: Cluster> Engine<'_, C> {
    /// `atrest preflight` over the Secrets and ConfigMaps in etcd (the resources every backend
    /// stores alike), under a named configuration.
    pub(super) async fn preflight(
        &mut self,
        p: &PreflightStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let name = &p.config.value;
        let text = self.configs.get(name).map_or("", String::as_str);
        let decrypter = match Decrypter::new(name, text, &self.kms_readers()) {
            Ok(d) => d,
            Err(e) => {
                rec.check(
                    format!("config {name} loads"),
                    false,
                    None,
                    format!("it does not: {}", self.as_reported(&e)),
                );
                return Ok(());
            }
        };
        let mut inspector = decrypter.inspector(self.cluster.etcd_prefix());
        for kind in [Kind::Secret, Kind::ConfigMap] {
            let prefix = format!(
                "{}/{}/",
                self.cluster.etcd_prefix().trim_end_matches('/'),
                kind.resource()
            );
            for e in self.cluster.raw_list(&prefix).await? {
                inspector.add(e.key.as_bytes(), &e.value);
            }
        }
        let verdict = Preflight::assess(&inspector.finish());
        for line in verdict.to_text().lines() {
            rec.note(line.trim().to_owned());
        }
        let e = &p.expect;
        if let Some(ready) = e.ready {
            rec.check(
                format!(
                    "preflight predicts the apiserver {} under {name}",
                    if ready { "becomes ready" } else { "is not ready when it starts" }
                ),
                verdict.ready == ready,
                Some(ready.to_string()),
                verdict.ready.to_string(),
            );
        }
        if let Some(n) = &e.unreadable {
            rec.check(
                format!(
                    "preflight predicts {} unreadable Secrets and ConfigMaps under {name}",
                    n.value
                ),
                verdict.unreadable == n.value as u64,
                Some(n.value.to_string()),
                verdict.unreadable.to_string(),
            );
        }
        if let Some(n) = &e.stale {
            rec.check(
                format!("preflight predicts {} stale Secrets and ConfigMaps under {name}", n.value),
                verdict.stale == n.value as u64,
                Some(n.value.to_string()),
                verdict.stale.to_string(),
            );
        }
        Ok(())
    }

    /// Loads every configuration the checks name, once per step (an `expectAll` checks many
    /// values against the same ones).
    pub(super) fn decrypters(
        &self,
        checks: &[StoredCheck],
    ) -> BTreeMap<String, Result<Decrypter, String>> {
        let kms = self.kms_readers();
        checks
            .iter()
            .filter_map(StoredCheck::config)
            .map(|c| {
                let text = self.configs.get(&c.value).map_or("", String::as_str);
                (c.value.clone(), Decrypter::new(&c.value, text, &kms))
            })
            .collect()
    }

    /// The cluster's KMS plugins as the harness reads with them (not counted in their calls),
    /// by the endpoint the scenario's configurations name (`${kms:NAME}` in the cluster's
    /// tree, before `writeConfig` maps it to where the backend put the socket).
    pub(super) fn kms_readers(
        &self,
    ) -> Vec<(String, std::sync::Arc<dyn atrest_transformers::KmsV2Plugin>)> {
        self.kms_plugins
            .iter()
            .filter_map(|n| Some((crate::template::kms_endpoint(n), self.cluster.kms_reader(n)?)))
            .collect()
    }

    pub(super) fn check_stored(
        &self,
        rec: &mut StepRecord,
        kind: Kind,
        key: &str,
        value: &[u8],
        checks: &[StoredCheck],
        decrypters: &BTreeMap<String, Result<Decrypter, String>>,
    ) {
        let sv = StoredValue::of(value);
        for check in checks {
            let what = check.claim(key);
            let (held, expected, actual) = match check {
                StoredCheck::Provider(p) => (sv.provider == *p, Some(p.clone()), sv.describe()),
                StoredCheck::Key(k) => {
                    (sv.key.as_deref() == Some(k.as_str()), Some(k.clone()), sv.describe())
                }
                StoredCheck::Plaintext(p) => (sv.is_plaintext() == *p, None, sv.describe()),
                StoredCheck::KmsKeyId(k) => (
                    sv.kms_key_id.as_deref() == Some(k.as_str()),
                    Some(k.clone()),
                    sv.kms_key_id.as_ref().map_or_else(
                        || format!("{} (no KMS v2 key ID)", sv.describe()),
                        |id| format!("key ID {id}"),
                    ),
                ),
                StoredCheck::DecryptableWith(c)
                | StoredCheck::NotDecryptableWith(c)
                | StoredCheck::CurrentWith(c)
                | StoredCheck::StaleWith(c) => {
                    let state = match decrypters.get(&c.value) {
                        Some(Ok(d)) => Ok(d.classify(kind.resource(), key, value)),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err("not loaded".to_owned()),
                    };
                    let held = state.as_ref().is_ok_and(|state| match check {
                        StoredCheck::DecryptableWith(_) => state.is_readable(),
                        StoredCheck::NotDecryptableWith(_) => !state.is_readable(),
                        StoredCheck::CurrentWith(_) => *state == ObjectState::Current,
                        _ => *state == ObjectState::Stale,
                    });
                    let actual = match &state {
                        Ok(ObjectState::Undecryptable { error }) => {
                            format!("undecryptable: {}", self.as_reported(&error.to_string()))
                        }
                        Ok(state) => state.name().to_owned(),
                        Err(e) => {
                            format!("config {} does not load: {}", c.value, self.as_reported(e))
                        }
                    };
                    (held, None, actual)
                }
            };
            rec.check(what, held, expected, actual);
        }
    }

    /// The check made after every (re)start and rewrite: every object the scenario wrote is
    /// still there, readable, with the data written last, through every running apiserver.
    pub(super) async fn check_no_loss(&mut self, rec: &mut StepRecord) -> Result<(), StepError> {
        if self.tracked.is_empty() {
            return Ok(());
        }
        if !self.cluster.etcd_running() {
            rec.note("no-loss check skipped: etcd is down");
            return Ok(());
        }
        let running: Vec<usize> =
            (0..self.state.len()).filter(|&i| self.state[i] != ServerState::Stopped).collect();
        if running.is_empty() {
            return Ok(());
        }
        if let Some(i) = running.iter().find(|&&i| self.state[i] == ServerState::NotReady) {
            rec.note(format!("no-loss check skipped: apiserver {i} is not ready"));
            return Ok(());
        }
        for i in running {
            let mut problems = Vec::new();
            let kinds: BTreeSet<Kind> = self.tracked.keys().map(|o| o.kind).collect();
            for kind in kinds {
                let namespaces: BTreeSet<&str> = self
                    .tracked
                    .keys()
                    .filter(|o| o.kind == kind)
                    .map(|o| o.namespace.as_str())
                    .collect();
                for ns in namespaces {
                    match self.cluster.list(i, kind, Some(ns)).await? {
                        Ok(objs) => {
                            let listed: BTreeSet<&str> =
                                objs.iter().map(|o| o.id.name.as_str()).collect();
                            let missing = self
                                .tracked
                                .keys()
                                .filter(|o| {
                                    o.kind == kind
                                        && o.namespace == ns
                                        && !listed.contains(o.name.as_str())
                                })
                                .count();
                            if missing > 0 {
                                problems.push(format!(
                                    "{missing} {} missing from the list of namespace {ns}",
                                    kind.resource()
                                ));
                            }
                        }
                        Err(e) => problems.push(format!(
                            "list {} in {ns}: {}",
                            kind.resource(),
                            self.as_reported(&e.message)
                        )),
                    }
                }
            }
            let ids: Vec<ObjectRef> = self.tracked.keys().cloned().collect();
            for id in &ids {
                match self.cluster.get(i, id).await? {
                    Ok(o) if Some(&o.data) == self.tracked.get(id) => {}
                    Ok(o) => {
                        problems.push(format!("{id}: data changed to {}", describe_data(&o.data)))
                    }
                    Err(e) => problems.push(format!("{id}: {}", self.as_reported(&e.message))),
                }
            }
            let what = format!(
                "no loss: all {} objects the scenario wrote read back unchanged via apiserver {i}",
                ids.len()
            );
            if problems.is_empty() {
                rec.check(what, true, None, format!("{} objects listed and read", ids.len()));
            } else {
                let n = problems.len();
                problems.truncate(5);
                rec.check(what, false, None, format!("{n} problems: {}", problems.join("; ")));
            }
        }
        Ok(())
    }
}
