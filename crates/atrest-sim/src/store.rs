//! An in-memory etcd: ordered keys, one global revision, per-key create and mod revisions, and
//! a model of its space quota.
//!
//! The quota model follows etcd's `backendQuota` and `applierV3Capped`
//! (go.etcd.io/etcd/server/v3 etcdserver/api/v3rpc/quota.go, etcdserver/apply): a put whose
//! cost would take the database past `--quota-backend-bytes` is refused and raises the
//! `NOSPACE` alarm; while the alarm is on, every put is refused and deletes still go through;
//! `etcdctl alarm disarm` clears it, and the next put is checked again.
//!
//! The sizes are a model, not bbolt's: every revision etcd keeps costs its key and value plus
//! [`REVISION_OVERHEAD`]; superseded revisions and tombstones stay until a compaction; the
//! database's size is the largest the kept revisions ever took (space freed by a compaction is
//! reused inside the file) until a defragmentation shrinks it to what is kept. Real bbolt
//! sizes also depend on page layout (a leaf holding large values is copied whole on every
//! change), so scenarios never depend on where exactly the quota is reached: they fill etcd
//! until it refuses (see the `fill` step).

use std::collections::BTreeMap;

use atrest_backend::RawEntry;

/// Bytes a kept revision costs beyond its key and value: etcd's revision key, the mvcc
/// `KeyValue` fields and bbolt's per-element header.
const REVISION_OVERHEAD: u64 = 64;

/// What a freshly started kube-apiserver v1.37.2 has written to etcd v3.6.16 (its bootstrap
/// namespaces, RBAC roles, priority classes, leases): 252–272 KiB of `dbSize`, measured.
const BOOTSTRAP_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Kv {
    pub(crate) value: Vec<u8>,
    pub(crate) mod_revision: i64,
}

/// Keys and revisions as etcd keeps them; values are opaque bytes.
#[derive(Debug)]
pub(crate) struct MemEtcd {
    kvs: BTreeMap<String, Kv>,
    revision: i64,
    /// `--quota-backend-bytes`, if set.
    quota: Option<u64>,
    /// Bytes of every kept revision (current values, superseded ones, tombstones).
    in_use: u64,
    /// The part of `in_use` a compaction drops.
    history: u64,
    /// The database file's size: the high-water mark of `in_use` since the last defragment.
    size: u64,
    /// The `NOSPACE` alarm is raised.
    no_space: bool,
}

/// A put etcd refused: the quota is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoSpace;

fn cost(key: &str, value_len: usize) -> u64 {
    (key.len() + value_len) as u64 + REVISION_OVERHEAD
}

impl MemEtcd {
    pub(crate) fn new(quota: Option<u64>) -> MemEtcd {
        // A fresh etcd starts at revision 1.
        MemEtcd {
            kvs: BTreeMap::new(),
            revision: 1,
            quota,
            in_use: BOOTSTRAP_BYTES,
            history: 0,
            size: BOOTSTRAP_BYTES,
            no_space: false,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Kv> {
        self.kvs.get(key)
    }

    /// Writes and returns the new revision, unless the quota refuses it.
    pub(crate) fn put(&mut self, key: &str, value: Vec<u8>) -> Result<i64, NoSpace> {
        let added = cost(key, value.len());
        if self.no_space {
            return Err(NoSpace);
        }
        if self.quota.is_some_and(|quota| self.size + added > quota) {
            self.no_space = true;
            return Err(NoSpace);
        }
        self.revision += 1;
        let old = self.kvs.insert(key.to_owned(), Kv { value, mod_revision: self.revision });
        if let Some(old) = old {
            self.history += cost(key, old.value.len());
        }
        self.grow(added);
        Ok(self.revision)
    }

    /// Deletes `key` (allowed while the `NOSPACE` alarm is on); whether it was there.
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let Some(old) = self.kvs.remove(key) else { return false };
        self.revision += 1;
        let tombstone = cost(key, 0);
        self.history += cost(key, old.value.len()) + tombstone;
        self.grow(tombstone);
        true
    }

    fn grow(&mut self, by: u64) {
        self.in_use += by;
        self.size = self.size.max(self.in_use);
    }

    /// Drops every superseded revision and tombstone (a compaction at the current revision).
    pub(crate) fn compact(&mut self) {
        self.in_use -= self.history;
        self.history = 0;
    }

    /// Shrinks the file to what is kept.
    pub(crate) fn defragment(&mut self) {
        self.size = self.in_use;
    }

    /// The raised alarms, as etcd names them.
    pub(crate) fn alarms(&self) -> Vec<String> {
        if self.no_space { vec!["NOSPACE".to_owned()] } else { Vec::new() }
    }

    /// Clears every alarm; returns those it cleared.
    pub(crate) fn disarm(&mut self) -> Vec<String> {
        let alarms = self.alarms();
        self.no_space = false;
        alarms
    }

    pub(crate) fn range(&self, prefix: &str) -> impl Iterator<Item = (&String, &Kv)> {
        self.kvs.range(prefix.to_owned()..).take_while(move |(k, _)| k.starts_with(prefix))
    }

    pub(crate) fn entry(&self, key: &str) -> Option<RawEntry> {
        self.kvs.get(key).map(|kv| RawEntry {
            key: key.to_owned(),
            value: kv.value.clone(),
            mod_revision: kv.mod_revision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_raises_the_alarm_which_holds_until_disarmed() {
        let mut etcd = MemEtcd::new(Some(BOOTSTRAP_BYTES + 1000));
        assert!(etcd.put("/a", vec![0; 500]).is_ok());
        assert_eq!(etcd.put("/b", vec![0; 500]), Err(NoSpace));
        assert_eq!(etcd.alarms(), ["NOSPACE"]);
        // A small put fits the quota but the alarm refuses it; deletes go through.
        assert_eq!(etcd.put("/c", vec![0; 1]), Err(NoSpace));
        assert!(etcd.delete("/a"));
        // Disarming alone: the file is as large as before, so the next large put raises it again.
        assert_eq!(etcd.disarm(), ["NOSPACE"]);
        assert_eq!(etcd.put("/b", vec![0; 500]), Err(NoSpace));
        // Compact, defragment, disarm: the space is back.
        etcd.compact();
        etcd.defragment();
        etcd.disarm();
        assert!(etcd.put("/b", vec![0; 500]).is_ok());
        assert!(etcd.alarms().is_empty());
    }

    #[test]
    fn a_compaction_frees_space_inside_the_file_without_shrinking_it() {
        let mut etcd = MemEtcd::new(None);
        etcd.put("/a", vec![0; 1000]).unwrap();
        etcd.put("/a", vec![0; 1000]).unwrap();
        let size = etcd.size;
        etcd.compact();
        assert_eq!(etcd.size, size);
        // The freed revision's room is reused before the file grows.
        etcd.put("/a", vec![0; 1000]).unwrap();
        assert_eq!(etcd.size, size);
        etcd.compact();
        etcd.defragment();
        assert_eq!(etcd.size, BOOTSTRAP_BYTES + cost("/a", 1000));
    }
}
