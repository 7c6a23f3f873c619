//! etcd's space quota: `fill` (a runaway writer until the apiserver refuses), `deleteAll`, and
//! the maintenance calls of the recovery (`compact`, `defragment`, `disarmAlarms`,
//! `expectAlarms`).

use super::*;
use crate::schema::{AlarmsStep, DeleteAllStep, FillStep, MAX_FILL_OBJECTS};

impl<C: Cluster> Engine<'_, C> {
    /// Creates Secrets until one is refused. The objects are not tracked: they are the
    /// runaway writer's, not data the scenario must keep.
    pub(super) async fn fill(
        &mut self,
        f: &FillStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let data = Data(BTreeMap::from([("fill".to_owned(), vec![b'x'; f.bytes.value])]));
        let what = format!("filling namespace {}", f.namespace);
        for n in 0..MAX_FILL_OBJECTS {
            let id = ObjectRef::new(Kind::Secret, f.namespace.as_str(), format!("{}-{n}", f.name));
            let object = Object { id, data: data.clone(), resource_version: None };
            if let Err(e) = self.cluster.create(f.apiserver, &object).await? {
                // Where the quota is reached depends on etcd's page layout: the count is
                // logged, never reported.
                tracing::info!(created = n, "fill: the apiserver refused a create");
                let reason =
                    if e.reason.is_empty() { String::new() } else { format!(" {}", e.reason) };
                rec.note(format!(
                    "a create was refused after some were taken: {}{reason}: {}",
                    e.code,
                    self.as_reported(&e.message)
                ));
                self.check_api_error(rec, &what, &f.expect, Err(&e));
                return Ok(());
            }
        }
        rec.check(
            format!("{what} ends with a refusal within {MAX_FILL_OBJECTS} Secrets"),
            false,
            None,
            "every create succeeded",
        );
        Ok(())
    }

    /// Lists the namespace and deletes what it lists.
    pub(super) async fn delete_all(
        &mut self,
        d: &DeleteAllStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let kind = d.resource.kind();
        let what = format!("deleting every {} in namespace {}", kind.name(), d.namespace);
        let objects = match self.cluster.list(d.apiserver, kind, Some(&d.namespace)).await? {
            Ok(objects) => objects,
            Err(e) => {
                rec.check(format!("{what} lists them"), false, None, self.as_reported(&e.message));
                return Ok(());
            }
        };
        let mut failures = Vec::new();
        for object in objects {
            match self.cluster.delete(d.apiserver, &object.id).await? {
                Ok(()) => {
                    self.tracked.remove(&object.id);
                }
                Err(e) => failures.push(format!("{}: {}", object.id, self.as_reported(&e.message))),
            }
        }
        rec.check(format!("{what} succeeds for each"), failures.is_empty(), None, {
            if failures.is_empty() {
                "every delete succeeded".to_owned()
            } else {
                failures.join("; ")
            }
        });
        Ok(())
    }

    /// One `etcdctl` maintenance call.
    pub(super) async fn maintenance(
        &mut self,
        op: EtcdMaintenance,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let alarms = self.cluster.etcd_maintenance(op).await?;
        match op {
            EtcdMaintenance::DisarmAlarms if alarms.is_empty() => rec.note("no alarm was raised"),
            EtcdMaintenance::DisarmAlarms => rec.note(format!("disarmed {}", alarms.join(", "))),
            _ => rec.note(format!("`{}` done", op.command())),
        }
        Ok(())
    }

    pub(super) async fn expect_alarms(
        &mut self,
        a: &AlarmsStep,
        rec: &mut StepRecord,
    ) -> Result<(), StepError> {
        let got = self.cluster.etcd_maintenance(EtcdMaintenance::ListAlarms).await?;
        let want: Vec<&str> = a.alarms.iter().map(|a| a.name()).collect();
        rec.check(
            "etcd's raised alarms",
            got == want,
            Some(format!("[{}]", want.join(", "))),
            format!("[{}]", got.join(", ")),
        );
        Ok(())
    }
}
