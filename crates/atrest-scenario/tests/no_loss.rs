//! The no-loss check fails when the cluster changes an object behind the scenario's back: a
//! check that cannot fail would pass every scenario. And a member that dies on its own ends the
//! run with a harness error naming it.

use std::path::{Path, PathBuf};

use atrest_backend::{
    ApiResult, ApiServerSpec, BackendError, Cluster, Data, ExitHow, Kind, Member, MemberExit,
    Object, ObjectRef, RawEntry, StartFailure,
};
use atrest_scenario::{Outcome, RunOptions};
use atrest_sim::SimCluster;

/// The simulator, except that after `corrupt_after` creates it answers every read of the first
/// object created with other data: a storage that lost a write. After `etcd_dies_after`
/// creates, it reports etcd killed (a real backend's `kill -9`).
struct Lossy {
    inner: SimCluster,
    creates: usize,
    corrupt_after: usize,
    victim: Option<ObjectRef>,
    etcd_dies_after: usize,
}

impl Lossy {
    fn tamper(&self, mut o: Object) -> Object {
        if self.creates >= self.corrupt_after && self.victim.as_ref() == Some(&o.id) {
            o.data = Data([("password".to_owned(), b"not what was written".to_vec())].into());
        }
        o
    }
}

impl Cluster for Lossy {
    fn backend_name(&self) -> &'static str {
        "lossy-sim"
    }
    fn apiserver_count(&self) -> usize {
        self.inner.apiserver_count()
    }
    fn file_root(&self) -> Option<String> {
        self.inner.file_root()
    }
    async fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), BackendError> {
        self.inner.write_file(path, bytes).await
    }
    async fn remove_file(&mut self, path: &str) -> Result<(), BackendError> {
        self.inner.remove_file(path).await
    }
    fn configure_apiserver(&mut self, i: usize, spec: ApiServerSpec) -> Result<(), BackendError> {
        self.inner.configure_apiserver(i, spec)
    }
    async fn start_apiserver(
        &mut self,
        i: usize,
    ) -> Result<Result<(), StartFailure>, BackendError> {
        self.inner.start_apiserver(i).await
    }
    async fn stop_apiserver(&mut self, i: usize) -> Result<(), BackendError> {
        self.inner.stop_apiserver(i).await
    }
    fn is_running(&self, i: usize) -> bool {
        self.inner.is_running(i)
    }
    async fn create(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        self.creates += 1;
        self.victim.get_or_insert_with(|| object.id.clone());
        self.inner.create(i, object).await
    }
    async fn update(
        &mut self,
        i: usize,
        object: &Object,
    ) -> Result<ApiResult<Object>, BackendError> {
        self.inner.update(i, object).await
    }
    async fn get(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<Object>, BackendError> {
        Ok(self.inner.get(i, id).await?.map(|o| self.tamper(o)))
    }
    async fn list(
        &mut self,
        i: usize,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ApiResult<Vec<Object>>, BackendError> {
        Ok(self
            .inner
            .list(i, kind, namespace)
            .await?
            .map(|os| os.into_iter().map(|o| self.tamper(o)).collect()))
    }
    async fn delete(&mut self, i: usize, id: &ObjectRef) -> Result<ApiResult<()>, BackendError> {
        self.inner.delete(i, id).await
    }
    async fn metrics(&mut self, i: usize) -> Result<ApiResult<String>, BackendError> {
        self.inner.metrics(i).await
    }
    fn etcd_prefix(&self) -> &str {
        self.inner.etcd_prefix()
    }
    async fn raw_get(&mut self, key: &str) -> Result<Option<RawEntry>, BackendError> {
        self.inner.raw_get(key).await
    }
    async fn raw_list(&mut self, prefix: &str) -> Result<Vec<RawEntry>, BackendError> {
        self.inner.raw_list(prefix).await
    }
    fn unexpected_exit(&self) -> Option<MemberExit> {
        (self.creates >= self.etcd_dies_after).then(|| MemberExit {
            member: Member::Etcd,
            how: ExitHow::Signal { number: 9, name: "SIGKILL" },
            log: Some(PathBuf::from("/logs/etcd.stderr.log")),
        })
    }
    fn log_dir(&self) -> Option<PathBuf> {
        self.inner.log_dir()
    }
    fn keep_logs(&mut self) {
        self.inner.keep_logs();
    }
    async fn shutdown(self) -> Result<(), BackendError> {
        self.inner.shutdown().await
    }
}

#[test]
fn the_no_loss_check_fails_when_storage_changes_an_object() -> Result<(), Box<dyn std::error::Error>>
{
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/rotate.yaml");
    let scenario = atrest_scenario::load(&root)?;
    let prepared = scenario.prepare(&RunOptions::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut cluster = Lossy {
        inner: SimCluster::new(scenario.cluster_spec()),
        creates: 0,
        corrupt_after: 2,
        victim: None,
        etcd_dies_after: usize::MAX,
    };
    let report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}));
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.to_text());
    let text = report.to_text();
    assert!(text.contains("✗ no loss"), "{text}");
    assert!(
        !text.contains("not what was written"),
        "data values are redacted or summarized: {text}"
    );
    Ok(())
}

#[test]
fn a_member_that_dies_on_its_own_is_a_harness_error_naming_it()
-> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/rotate.yaml");
    let scenario = atrest_scenario::load(&root)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    // The simulator has nothing that can die: the default answer.
    let sim = SimCluster::new(scenario.cluster_spec());
    assert_eq!(sim.unexpected_exit(), None);

    let mut cluster = Lossy {
        inner: sim,
        creates: 0,
        corrupt_after: usize::MAX,
        victim: None,
        etcd_dies_after: 1,
    };
    let prepared = scenario.prepare(&RunOptions::default())?;
    let report =
        runtime.block_on(atrest_scenario::run(&scenario, prepared, &mut cluster, &mut |_: &_| {}));
    let text = report.to_text();
    assert_eq!(report.outcome, Outcome::Error, "{text}");
    let expected = "etcd exited on its own (killed by SIGKILL (signal 9)); its log is kept at \
                    /logs/etcd.stderr.log";
    assert_eq!(report.error.as_deref(), Some(expected), "{text}");
    // The run stops at the step after which it died: the first create.
    let last = report.steps.last().expect("a step ran");
    assert!(last.action.starts_with("create"), "{text}");
    assert_eq!(report.steps.iter().filter(|s| s.action.starts_with("create")).count(), 1, "{text}");
    Ok(())
}
