//! etcd plus one or more kube-apiservers sharing it (HA), each with its own options (and so its
//! own encryption configuration file).

use std::fmt;

use atrest_backend::MemberExit;

use crate::apiserver::{ApiServer, ApiServerOptions, ClusterPki};
use crate::assets::Assets;
use crate::etcd::{Etcd, EtcdOptions};
use crate::launch::StartError;
use crate::watch::{all, first_unexpected_exit, members, unexpected_exit};

/// etcd, the cluster PKI, and apiserver slots on them. `cluster up` starts every apiserver
/// at once ([`ControlPlane::start`]); the `process` backend ([`crate::ProcessCluster`]) starts
/// etcd alone ([`ControlPlane::with_etcd`]) and prepares each apiserver when a scenario first
/// starts it ([`ControlPlane::prepare_apiserver`]). Either way this is the one owner of the
/// members: their exit watching, their logs and the order they stop in.
///
/// Dropping it stops the apiservers, then etcd (field order).
pub struct ControlPlane {
    // Declared before `etcd` so that they are dropped (stopped) first.
    apiservers: Vec<Option<ApiServer>>,
    etcd: Etcd,
    pki: ClusterPki,
    assets: Assets,
}

impl fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlane")
            .field("etcd", &self.etcd)
            .field("apiservers", &self.apiservers)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts etcd, then each apiserver in turn. If any fails, everything started so far is
    /// stopped (controller-runtime#1749: etcd outlived a failed apiserver).
    pub async fn start(
        assets: &Assets,
        apiservers: Vec<ApiServerOptions>,
    ) -> Result<ControlPlane, StartError> {
        let mut plane = ControlPlane::with_etcd(assets, EtcdOptions::new("etcd")).await?;
        for opts in apiservers {
            plane.add_apiserver(opts).await?;
        }
        Ok(plane)
    }

    /// Generates the PKI and starts etcd with `etcd`; no apiserver yet.
    pub async fn with_etcd(assets: &Assets, etcd: EtcdOptions) -> Result<ControlPlane, StartError> {
        let pki = ClusterPki::generate()?;
        let etcd = Etcd::start(&assets.etcd, etcd).await?;
        Ok(ControlPlane { apiservers: Vec::new(), etcd, pki, assets: assets.clone() })
    }

    /// Starts one more apiserver on the same etcd and PKI; returns its index.
    pub async fn add_apiserver(&mut self, opts: ApiServerOptions) -> Result<usize, StartError> {
        let apiserver =
            ApiServer::start(&self.assets.kube_apiserver, self.etcd.endpoint(), &self.pki, opts)
                .await?;
        self.apiservers.push(Some(apiserver));
        Ok(self.apiservers.len() - 1)
    }

    /// Apiserver `i`, prepared with `opts` (directory, port, certificates; not started) unless
    /// slot `i` already holds one.
    pub async fn prepare_apiserver(
        &mut self,
        i: usize,
        opts: ApiServerOptions,
    ) -> Result<&mut ApiServer, StartError> {
        if self.apiservers.len() <= i {
            self.apiservers.resize_with(i + 1, || None);
        }
        match &mut self.apiservers[i] {
            Some(prepared) => Ok(prepared),
            empty @ None => {
                let prepared = ApiServer::prepare(
                    &self.assets.kube_apiserver,
                    self.etcd.endpoint(),
                    &self.pki,
                    opts,
                )
                .await?;
                Ok(empty.insert(prepared))
            }
        }
    }

    /// Empties slot `i` (its apiserver, if any, is dropped: stopped, its directory removed), so
    /// that the next [`ControlPlane::prepare_apiserver`] prepares a new one (a new port).
    pub fn forget_apiserver(&mut self, i: usize) {
        if let Some(slot) = self.apiservers.get_mut(i) {
            *slot = None;
        }
    }

    /// The etcd member.
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The etcd member, to kill or start it again.
    pub fn etcd_mut(&mut self) -> &mut Etcd {
        &mut self.etcd
    }

    /// The shared PKI (cluster CA, admin certificate, service-account key).
    pub fn pki(&self) -> &ClusterPki {
        &self.pki
    }

    /// The apiservers there are, with their indexes, in index order.
    pub fn apiservers(&self) -> impl Iterator<Item = (usize, &ApiServer)> {
        self.apiservers.iter().enumerate().filter_map(|(i, a)| Some((i, a.as_ref()?)))
    }

    /// Apiserver `i`.
    pub fn apiserver(&self, i: usize) -> Option<&ApiServer> {
        self.apiservers.get(i)?.as_ref()
    }

    /// Apiserver `i`, to stop, start again or restart it.
    pub fn apiserver_mut(&mut self, i: usize) -> Option<&mut ApiServer> {
        self.apiservers.get_mut(i)?.as_mut()
    }

    /// etcd or an apiserver that exited without being asked to, if one did; never blocks.
    pub fn unexpected_exit(&self) -> Option<MemberExit> {
        unexpected_exit(members(&self.etcd, self.apiservers()))
    }

    /// Waits until etcd or an apiserver exits without being asked to, and says which, how,
    /// and where its log is (its directory is kept when the plane is shut down or dropped).
    /// Pends for ever while they all run; drop the future to stop watching. The exit is an
    /// event from the child's waiter thread, not a poll.
    pub async fn member_exited(&self) -> MemberExit {
        if let Some(exit) = self.unexpected_exit() {
            return exit;
        }
        first_unexpected_exit(members(&self.etcd, self.apiservers())).await
    }

    /// Keeps every member's directory (logs, data, certificates) when it stops.
    pub fn keep_dirs(&mut self) {
        self.etcd.keep_dir();
        for apiserver in self.apiservers.iter_mut().flatten() {
            apiserver.keep_dir();
        }
    }

    /// Stops every apiserver (all at once, so one that ignores SIGTERM costs one stop grace,
    /// not one each), then etcd, and removes their directories (except those of members that
    /// exited on their own, or all after [`ControlPlane::keep_dirs`]).
    pub async fn shutdown(self) {
        let ControlPlane { apiservers, etcd, .. } = self;
        all(apiservers.into_iter().flatten().map(ApiServer::shutdown)).await;
        etcd.shutdown().await;
    }
}
