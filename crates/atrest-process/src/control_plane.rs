//! etcd plus one or more kube-apiservers sharing it (HA), each with its own options (and so its
//! own encryption configuration file).

use std::fmt;

use atrest_backend::MemberExit;

use crate::apiserver::{ApiServer, ApiServerOptions, ClusterPki};
use crate::assets::Assets;
use crate::etcd::{Etcd, EtcdOptions};
use crate::launch::StartError;
use crate::watch::{all, first_unexpected_exit, members, unexpected_exit};

/// A running control plane. Dropping it stops the apiservers, then etcd (field order).
pub struct ControlPlane {
    // Declared before `etcd` so that they are dropped (stopped) first.
    apiservers: Vec<ApiServer>,
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
        let pki = ClusterPki::generate()?;
        let etcd = Etcd::start(&assets.etcd, EtcdOptions::new("etcd")).await?;
        let mut plane = ControlPlane { apiservers: Vec::new(), etcd, pki, assets: assets.clone() };
        for opts in apiservers {
            plane.add_apiserver(opts).await?;
        }
        Ok(plane)
    }

    /// Starts one more apiserver on the same etcd and PKI; returns its index.
    pub async fn add_apiserver(&mut self, opts: ApiServerOptions) -> Result<usize, StartError> {
        let apiserver =
            ApiServer::start(&self.assets.kube_apiserver, self.etcd.endpoint(), &self.pki, opts)
                .await?;
        self.apiservers.push(apiserver);
        Ok(self.apiservers.len() - 1)
    }

    /// The etcd member.
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The shared PKI (cluster CA, admin certificate, service-account key).
    pub fn pki(&self) -> &ClusterPki {
        &self.pki
    }

    /// All apiservers, in start order.
    pub fn apiservers(&self) -> &[ApiServer] {
        &self.apiservers
    }

    /// Apiserver `i`.
    pub fn apiserver(&self, i: usize) -> Option<&ApiServer> {
        self.apiservers.get(i)
    }

    /// Apiserver `i`, to stop, start again or restart it.
    pub fn apiserver_mut(&mut self, i: usize) -> Option<&mut ApiServer> {
        self.apiservers.get_mut(i)
    }

    /// etcd or an apiserver that exited without being asked to, if one did; never blocks.
    pub fn unexpected_exit(&self) -> Option<MemberExit> {
        unexpected_exit(members(&self.etcd, self.apiservers.iter().enumerate()))
    }

    /// Waits until etcd or an apiserver exits without being asked to, and says which, how,
    /// and where its log is (its directory is kept when the plane is shut down or dropped).
    /// Pends for ever while they all run; drop the future to stop watching. The exit is an
    /// event from the child's waiter thread, not a poll.
    pub async fn member_exited(&self) -> MemberExit {
        if let Some(exit) = self.unexpected_exit() {
            return exit;
        }
        first_unexpected_exit(members(&self.etcd, self.apiservers.iter().enumerate())).await
    }

    /// Stops every apiserver (all at once, so one that ignores SIGTERM costs one stop grace,
    /// not one each), then etcd, and removes their directories (except those of members that
    /// exited on their own).
    pub async fn shutdown(self) {
        let ControlPlane { apiservers, etcd, .. } = self;
        all(apiservers.into_iter().map(ApiServer::shutdown)).await;
        etcd.shutdown().await;
    }
}
