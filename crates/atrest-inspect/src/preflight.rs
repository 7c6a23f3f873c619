//! Preflight: what an apiserver restarted with a NEW configuration would do with what etcd holds
//! now, judged from an [`InspectReport`] made under NEW.
//!
//! - Objects NEW cannot read answer reads with upstream's "not transformable" error.
//! - A watch cache that cannot list its resource keeps `/readyz` failing: an unreadable Secret
//!   fails `informer-sync` for ever, and any unreadable Secret or ConfigMap fails
//!   `poststarthook/storage-readiness` until `--storage-initialization-timeout` (1m by default)
//!   passes, when the hook gives up (k8s.io/apiserver pkg/server/storage_readiness_hook.go). So
//!   unreadable ConfigMaps alone delay readiness by a minute; observed on kube-apiserver 1.37 by
//!   the differential tests, and the simulator models the same. For other resources the effect
//!   on readiness is not modelled: preflight says so instead of guessing.
//! - Stale objects stay readable and are rewritten by their next update.

use serde::Serialize;

use crate::inspector::{InspectReport, StateCounts};

/// Resources whose unreadable objects are known to keep the apiserver from becoming ready.
pub const READINESS_RESOURCES: [&str; 2] = ["secrets", "configmaps"];

/// How an apiserver restarted with NEW becomes ready, as far as modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Every watch cache lists: ready as usual.
    Ready,
    /// Only ConfigMaps are unreadable: `poststarthook/storage-readiness` fails until
    /// `--storage-initialization-timeout` passes, then `/readyz` answers 200 with the objects
    /// still unreadable.
    AfterStorageInitializationTimeout,
    /// A Secret is unreadable: `informer-sync` fails for ever.
    Never,
}

/// The verdict on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceOutlook {
    /// `secrets`, `deployments.apps`, ….
    pub resource: String,
    /// Counts by state under NEW.
    pub counts: StateCounts,
    /// Whether its unreadable objects keep `/readyz` failing (known for
    /// [`READINESS_RESOURCES`]), `None` when the effect is not modelled.
    pub blocks_readiness: Option<bool>,
}

/// A stored provider/key that holds objects NEW cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostKey {
    /// The provider the stored prefix names.
    pub provider: &'static str,
    /// The key or KMS provider name.
    pub key: Option<String>,
    /// How many objects only it could read.
    pub objects: u64,
}

/// Preflight's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// Whether every apiserver restarted with NEW becomes ready when it starts, as far as
    /// modelled ([`Preflight::readiness`] says whether and when it does otherwise).
    pub ready: bool,
    /// How it becomes ready, as far as modelled.
    pub readiness: Readiness,
    /// Objects NEW cannot read, over every resource.
    pub unreadable: u64,
    /// Objects NEW reads but not with its write provider (rewritten by their next update).
    pub stale: u64,
    /// Per resource with objects.
    pub resources: Vec<ResourceOutlook>,
    /// Stored keys whose objects NEW cannot read: add them back to NEW (after its first
    /// provider) until those objects are rewritten.
    pub lost_keys: Vec<LostKey>,
}

impl Preflight {
    /// Judges an inspection made under NEW.
    pub fn assess(report: &InspectReport) -> Preflight {
        let resources: Vec<ResourceOutlook> = report
            .resources
            .iter()
            .map(|r| ResourceOutlook {
                resource: r.resource.clone(),
                counts: r.counts,
                blocks_readiness: READINESS_RESOURCES
                    .contains(&r.resource.as_str())
                    .then_some(r.counts.undecryptable > 0),
            })
            .collect();
        let blocks = |name: &str| {
            resources.iter().any(|r| r.resource == name && r.blocks_readiness == Some(true))
        };
        let readiness = if blocks("secrets") {
            Readiness::Never
        } else if blocks("configmaps") {
            Readiness::AfterStorageInitializationTimeout
        } else {
            Readiness::Ready
        };
        let lost_keys = report
            .stored_keys
            .iter()
            .filter(|k| k.counts.undecryptable > 0)
            .map(|k| LostKey {
                provider: k.provider,
                key: k.key.clone(),
                objects: k.counts.undecryptable,
            })
            .collect();
        Preflight {
            ready: readiness == Readiness::Ready,
            readiness,
            unreadable: report.totals.undecryptable,
            stale: report.totals.stale,
            resources,
            lost_keys,
        }
    }

    /// Whether NEW keeps every object readable and the apiserver ready.
    pub fn is_safe(&self) -> bool {
        self.ready && self.unreadable == 0
    }

    /// The verdict in lines of text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(match self.readiness {
            Readiness::Ready => "ready: yes, as far as modelled\n",
            Readiness::Never => {
                "ready: NO: the Secrets watch cache cannot list an unreadable object, informer-sync fails for ever\n"
            }
            Readiness::AfterStorageInitializationTimeout => {
                "ready: NOT AT FIRST: a watch cache cannot list an unreadable object, poststarthook/storage-readiness fails until --storage-initialization-timeout (1m by default) passes; then /readyz answers 200, the objects still unreadable\n"
            }
        });
        for r in &self.resources {
            let c = &r.counts;
            let effect = match r.blocks_readiness {
                Some(true) if r.resource == "secrets" => " (keeps /readyz failing for ever)",
                Some(true) => " (keeps /readyz failing until --storage-initialization-timeout)",
                None if c.undecryptable > 0 => {
                    " (effect on readiness not modelled for this resource)"
                }
                _ => "",
            };
            out.push_str(&format!(
                "  {}: {} objects, {} unreadable, {} stale, {} plaintext{effect}\n",
                r.resource, c.objects, c.undecryptable, c.stale, c.plaintext
            ));
        }
        for k in &self.lost_keys {
            out.push_str(&format!(
                "  lost: {} objects stored with {}{} cannot be read: keep it in NEW, after the first provider, until they are rewritten\n",
                k.objects,
                k.provider,
                k.key.as_ref().map(|n| format!(" key {n}")).unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "verdict: {}\n",
            if self.is_safe() {
                if self.stale > 0 {
                    format!("safe ({} stale objects are rewritten by their next update, or by a rewrite)", self.stale)
                } else {
                    "safe".to_owned()
                }
            } else {
                format!(
                    "NOT safe: {} objects would be unreadable{}",
                    self.unreadable,
                    match self.readiness {
                        Readiness::Ready => "",
                        Readiness::Never => " and the apiserver would not become ready",
                        Readiness::AfterStorageInitializationTimeout => {
                            " and the apiserver would not be ready until --storage-initialization-timeout (1m by default) passes"
                        }
                    }
                )
            }
        ));
        out
    }
}
