//! An in-memory etcd: ordered keys, one global revision, per-key create and mod revisions.

use std::collections::BTreeMap;

use atrest_backend::RawEntry;

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
}

impl MemEtcd {
    pub(crate) fn new() -> MemEtcd {
        // A fresh etcd starts at revision 1.
        MemEtcd { kvs: BTreeMap::new(), revision: 1 }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Kv> {
        self.kvs.get(key)
    }

    /// Writes and returns the new revision.
    pub(crate) fn put(&mut self, key: &str, value: Vec<u8>) -> i64 {
        self.revision += 1;
        self.kvs.insert(key.to_owned(), Kv { value, mod_revision: self.revision });
        self.revision
    }

    pub(crate) fn delete(&mut self, key: &str) -> bool {
        if self.kvs.remove(key).is_some() {
            self.revision += 1;
            true
        } else {
            false
        }
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
