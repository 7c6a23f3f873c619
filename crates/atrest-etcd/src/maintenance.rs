//! The maintenance calls an operator makes when etcd runs out of space: what `etcdctl endpoint
//! status`, `etcdctl compact`, `etcdctl defrag` and `etcdctl alarm list|disarm` send.
//!
//! etcd's documented recovery from a `NOSPACE` alarm (etcd.io, "Maintenance: Space quota"):
//! compact the history, defragment every member, then disarm the alarm; only then are writes
//! accepted again, and only if the defragmented database is below the quota.

use crate::client::RawEtcd;
use crate::error::RawEtcdError;
use crate::generated::etcdserverpb::alarm_request::AlarmAction;
use crate::generated::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, DefragmentRequest, StatusRequest,
};

/// What `etcdctl endpoint status` shows of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdStatus {
    /// The store's current revision.
    pub revision: i64,
    /// The database file's allocated size, in bytes (what the quota is checked against).
    pub db_size: i64,
    /// The part of it holding live data, in bytes (what a defragment shrinks the file to).
    pub db_size_in_use: i64,
    /// `--quota-backend-bytes` as the member applies it.
    pub db_size_quota: i64,
    /// Alarms and health errors, as etcd words them (`memberID:… alarm:NOSPACE`).
    pub errors: Vec<String>,
}

/// An alarm raised on a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    /// The member that raised it.
    pub member_id: u64,
    /// Which alarm.
    pub kind: AlarmKind,
}

/// etcd's alarm types (`AlarmType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// The space quota is exhausted: writes are refused until it is disarmed.
    NoSpace,
    /// The store is corrupt.
    Corrupt,
}

impl AlarmKind {
    /// The name etcd prints (`NOSPACE`, `CORRUPT`).
    pub const fn name(self) -> &'static str {
        match self {
            AlarmKind::NoSpace => "NOSPACE",
            AlarmKind::Corrupt => "CORRUPT",
        }
    }

    fn wire(self) -> AlarmType {
        match self {
            AlarmKind::NoSpace => AlarmType::Nospace,
            AlarmKind::Corrupt => AlarmType::Corrupt,
        }
    }
}

impl RawEtcd {
    /// The member's status.
    pub async fn status(&self) -> Result<EtcdStatus, RawEtcdError> {
        let mut maintenance = self.maintenance.clone();
        let resp = self.bounded("status", b"", maintenance.status(StatusRequest {})).await?;
        Ok(EtcdStatus {
            revision: resp.header.map_or(0, |h| h.revision),
            db_size: resp.db_size,
            db_size_in_use: resp.db_size_in_use,
            db_size_quota: resp.db_size_quota,
            errors: resp.errors,
        })
    }

    /// Compacts the history up to `revision` and waits until it is physically applied
    /// (`etcdctl compact --physical`), so a defragment after it frees the space.
    pub async fn compact(&self, revision: i64) -> Result<(), RawEtcdError> {
        let mut kv = self.kv.clone();
        let request = CompactionRequest { revision, physical: true };
        self.bounded("compact", b"", kv.compact(request)).await?;
        Ok(())
    }

    /// Defragments the member this client is connected to (`etcdctl defrag`).
    pub async fn defragment(&self) -> Result<(), RawEtcdError> {
        let mut maintenance = self.maintenance.clone();
        self.bounded("defragment", b"", maintenance.defragment(DefragmentRequest {})).await?;
        Ok(())
    }

    /// Every active alarm (`etcdctl alarm list`).
    pub async fn alarms(&self) -> Result<Vec<Alarm>, RawEtcdError> {
        let mut maintenance = self.maintenance.clone();
        let request = AlarmRequest {
            action: AlarmAction::Get.into(),
            member_id: 0,
            alarm: AlarmType::None.into(),
        };
        let resp = self.bounded("alarm list", b"", maintenance.alarm(request)).await?;
        Ok(resp
            .alarms
            .iter()
            .filter_map(|a| {
                let kind = match AlarmType::try_from(a.alarm).ok()? {
                    AlarmType::Nospace => AlarmKind::NoSpace,
                    AlarmType::Corrupt => AlarmKind::Corrupt,
                    AlarmType::None => return None,
                };
                Some(Alarm { member_id: a.member_id, kind })
            })
            .collect())
    }

    /// Deactivates every active alarm, one request per alarm as `etcdctl alarm disarm` does;
    /// returns the alarms disarmed. etcd raises `NOSPACE` again at the next write if the
    /// database is still over its quota.
    pub async fn disarm(&self) -> Result<Vec<Alarm>, RawEtcdError> {
        let alarms = self.alarms().await?;
        for alarm in &alarms {
            let mut maintenance = self.maintenance.clone();
            let request = AlarmRequest {
                action: AlarmAction::Deactivate.into(),
                member_id: alarm.member_id,
                alarm: alarm.kind.wire().into(),
            };
            self.bounded("alarm disarm", b"", maintenance.alarm(request)).await?;
        }
        Ok(alarms)
    }
}
