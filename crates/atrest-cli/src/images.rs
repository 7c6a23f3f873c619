//! `--etcd-image` and `--apiserver-image`: the images `--backend containers` runs, on every
//! command that takes that backend.

use anyhow::{Result, bail};
use atrest_process::ContainerImages;

/// Images in place of the ones `cargo xtask setup` builds.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Images (--backend containers)")]
pub(crate) struct ImageArgs {
    /// etcd's image instead of registry.k8s.io/etcd:3.6.16-0 built by `cargo xtask setup`, such
    /// as the published one; it must already be in the Docker engine (never pulled) and hold
    /// etcd at /usr/local/bin/etcd, which runs as the entrypoint (as kubeadm's `command:`).
    #[arg(long, value_name = "REF")]
    etcd_image: Option<String>,
    /// kube-apiserver's image instead of registry.k8s.io/kube-apiserver:v1.37.2 built by `cargo
    /// xtask setup`; it must already be in the Docker engine (never pulled) and hold
    /// /usr/local/bin/kube-apiserver, which runs as the entrypoint.
    #[arg(long, value_name = "REF")]
    apiserver_image: Option<String>,
}

impl ImageArgs {
    /// Refuses the options for a backend that runs no containers.
    pub(crate) fn check(&self, containers: bool) -> Result<()> {
        if !containers && (self.etcd_image.is_some() || self.apiserver_image.is_some()) {
            bail!("--etcd-image and --apiserver-image are for --backend containers");
        }
        Ok(())
    }

    /// The images to run, with the `docker` client.
    pub(crate) fn images(&self) -> ContainerImages {
        atrest_containers::images_with(self.etcd_image.as_deref(), self.apiserver_image.as_deref())
    }
}
