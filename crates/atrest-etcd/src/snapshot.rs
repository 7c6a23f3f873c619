//! An etcd snapshot file read without etcd: what `etcdctl snapshot save` writes (or a member's
//! `member/snap/db`), reduced to the live value of every key at the snapshot's revision.
//!
//! The file is a bbolt database (go.etcd.io/bbolt `internal/common/page.go`, `meta.go`):
//! fixed-size pages, two meta pages (the valid one with the higher transaction ID wins), B+trees
//! of branch and leaf pages, buckets as leaf values (inline when small). etcd keeps every
//! revision of every key in bucket `key` (go.etcd.io/etcd/server/v3 `storage/mvcc/revision.go`):
//! a leaf key is the revision (8-byte big-endian main, `_`, 8-byte sub, and a trailing `t` for a
//! deletion), its value an `mvccpb.KeyValue`. A snapshot saved over the network ends with the
//! SHA-256 of the database (etcd's `Maintenance.Snapshot`; `etcdutl snapshot restore` checks it
//! the same way: when the size modulo 512 is 32).
//!
//! Pure: bytes in, entries out; every offset is bounds-checked, so a truncated or corrupted
//! file is an error naming the page, never a panic.

use std::collections::BTreeMap;

use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::generated::mvccpb::KeyValue;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const META_CHECKSUMMED: usize = 56;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// bbolt's `BucketHeaderSize`: root page ID and sequence before an inline bucket's page.
const BUCKET_HEADER: usize = 16;
/// Deeper than any real tree (bbolt's fill keeps trees shallow); a cycle in a corrupted file
/// ends here.
const MAX_DEPTH: usize = 64;
/// etcd's bucket of revisions.
const KEY_BUCKET: &[u8] = b"key";
/// A revision key: main, `_`, sub (and `t` for a deletion).
const REVISION_LEN: usize = 17;

/// The live keys of a snapshot.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The highest revision in the file (the store's revision when it was saved).
    pub revision: i64,
    /// Whether the file ended with etcd's SHA-256 of the database, and it matched.
    pub hash_checked: bool,
    /// Every key not deleted at `revision`, with its last value, in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Snapshot {
    // Values may be plaintext Secrets: sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("revision", &self.revision)
            .field("hash_checked", &self.hash_checked)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// Why a file is not a readable etcd snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Neither meta page is a valid bbolt meta page.
    #[error("not an etcd snapshot: no valid bbolt meta page (meta 0: {meta0}; meta 1: {meta1})")]
    NotBolt {
        /// What is wrong with the first meta page.
        meta0: String,
        /// What is wrong with the second.
        meta1: String,
    },
    /// The SHA-256 etcd appended does not match the database.
    #[error(
        "the snapshot's SHA-256 does not match its contents (expected {expected}, computed {computed}): the file is corrupted or truncated"
    )]
    HashMismatch {
        /// Hex of the appended hash.
        expected: String,
        /// Hex of the hash of the rest.
        computed: String,
    },
    /// A page that cannot be what the tree says it is.
    #[error("corrupted snapshot: page {page}: {problem}")]
    Page {
        /// The page ID.
        page: u64,
        /// What is wrong.
        problem: String,
    },
    /// No `key` bucket: a bbolt file, but not etcd's.
    #[error("not an etcd snapshot: the bbolt database has no `key` bucket")]
    NoKeyBucket,
    /// A revision entry that does not decode.
    #[error("corrupted snapshot: revision entry {index}: {problem}")]
    Revision {
        /// Its position in the `key` bucket.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Reads a snapshot file's bytes.
pub fn read(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let (db, hash_checked) = strip_hash(bytes)?;
    let file = Bolt::open(db)?;
    let root = file.meta_root;
    let mut key_bucket = None;
    file.walk(Tree::Page(root), 0, &mut |k, v, flags| {
        if flags & BUCKET_LEAF != 0 && k == KEY_BUCKET {
            key_bucket = Some(v.to_vec());
        }
        Ok(())
    })?;
    let bucket = key_bucket.ok_or(SnapshotError::NoKeyBucket)?;
    if bucket.len() < BUCKET_HEADER {
        return Err(SnapshotError::Page { page: root, problem: "short bucket header".into() });
    }
    let bucket_root = u64_at(&bucket, 0);
    let tree = if bucket_root == 0 {
        Tree::Inline(&bucket[BUCKET_HEADER..])
    } else {
        Tree::Page(bucket_root)
    };

    // Revisions arrive in order, so the last one of a key wins.
    let mut live: BTreeMap<Vec<u8>, Last> = BTreeMap::new();
    let mut revision = 0u64;
    let mut index = 0usize;
    file.walk(tree, 0, &mut |k, v, flags| {
        let at = index;
        index += 1;
        if flags & BUCKET_LEAF != 0 {
            return Err(SnapshotError::Revision { index: at, problem: "a nested bucket".into() });
        }
        let tombstone = match k.len() {
            REVISION_LEN => false,
            n if n == REVISION_LEN + 1 && k[REVISION_LEN] == b't' => true,
            n => {
                return Err(SnapshotError::Revision {
                    index: at,
                    problem: format!("a {n}-byte revision key (expected 17, or 18 ending in `t`)"),
                });
            }
        };
        if k[8] != b'_' {
            return Err(SnapshotError::Revision { index: at, problem: "no `_` separator".into() });
        }
        let rev = (u64_be(&k[..8]), u64_be(&k[9..17]));
        revision = revision.max(rev.0);
        let kv = KeyValue::decode(v).map_err(|e| SnapshotError::Revision {
            index: at,
            problem: format!("not an mvccpb.KeyValue: {e}"),
        })?;
        let value = (!tombstone).then_some(kv.value);
        match live.get_mut(&kv.key) {
            Some(slot) if slot.1 > rev => {}
            Some(slot) => *slot = (value, rev),
            None => {
                live.insert(kv.key, (value, rev));
            }
        }
        Ok(())
    })?;
    let entries = live.into_iter().filter_map(|(k, (v, _))| Some((k, v?))).collect();
    Ok(Snapshot { revision: i64::try_from(revision).unwrap_or(i64::MAX), hash_checked, entries })
}

/// The database without etcd's trailing SHA-256, checked, when there is one.
fn strip_hash(bytes: &[u8]) -> Result<(&[u8], bool), SnapshotError> {
    const HASH: usize = 32;
    if bytes.len() % 512 != HASH {
        return Ok((bytes, false));
    }
    let (db, expected) = bytes.split_at(bytes.len() - HASH);
    let computed = Sha256::digest(db);
    if computed.as_slice() != expected {
        return Err(SnapshotError::HashMismatch {
            expected: hex(expected),
            computed: hex(&computed),
        });
    }
    Ok((db, true))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key's last value (`None`: deleted) and its revision (main, sub).
type Last = (Option<Vec<u8>>, (u64, u64));

/// What [`Bolt::walk`] calls with each leaf element: key, value, element flags.
type Visit<'v> = dyn FnMut(&[u8], &[u8], u32) -> Result<(), SnapshotError> + 'v;

/// A B+tree to walk: a page of the file, or an inline bucket's page.
#[derive(Clone, Copy)]
enum Tree<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

struct Bolt<'a> {
    data: &'a [u8],
    page_size: usize,
    meta_root: u64,
    /// Pages at or above this ID are not part of the database.
    high_water: u64,
}

impl<'a> Bolt<'a> {
    fn open(data: &'a [u8]) -> Result<Bolt<'a>, SnapshotError> {
        // Meta 0 says the page size; meta 1 sits one page later.
        let m0 = meta(data, 0);
        let page_size = match &m0 {
            Ok(m) => m.page_size,
            // bbolt falls back to the OS page size to find meta 1.
            Err(_) => 4096,
        };
        let m1 = meta(data, page_size);
        let chosen = match (&m0, &m1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(e0), Err(e1)) => {
                return Err(SnapshotError::NotBolt { meta0: e0.clone(), meta1: e1.clone() });
            }
        };
        Ok(Bolt {
            data,
            page_size: chosen.page_size,
            meta_root: chosen.root,
            high_water: chosen.high_water,
        })
    }

    /// Page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<&'a [u8], SnapshotError> {
        let bad = |problem: String| SnapshotError::Page { page: id, problem };
        if id < 2 || id >= self.high_water {
            return Err(bad(format!("outside the database (pages 2..{})", self.high_water)));
        }
        let start = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(self.page_size))
            .filter(|&s| s + PAGE_HEADER <= self.data.len())
            .ok_or_else(|| {
                bad(format!("beyond the end of the file ({} bytes)", self.data.len()))
            })?;
        let overflow = u32_at(self.data, start + 12) as usize;
        let len = (overflow + 1).saturating_mul(self.page_size);
        let end = start.saturating_add(len).min(self.data.len());
        Ok(&self.data[start..end])
    }

    /// Calls `each(key, value, flags)` for every leaf element of `tree`, in key order.
    fn walk(
        &self,
        tree: Tree<'a>,
        depth: usize,
        each: &mut Visit<'_>,
    ) -> Result<(), SnapshotError> {
        let (id, page) = match tree {
            Tree::Page(id) => (id, self.page(id)?),
            Tree::Inline(page) => (0, page),
        };
        let bad = |problem: String| SnapshotError::Page { page: id, problem };
        if depth > MAX_DEPTH {
            return Err(bad(format!("a tree deeper than {MAX_DEPTH} levels (a cycle?)")));
        }
        if page.len() < PAGE_HEADER {
            return Err(bad("shorter than a page header".into()));
        }
        let flags = u16::from_le_bytes([page[8], page[9]]);
        let count = usize::from(u16::from_le_bytes([page[10], page[11]]));
        let elements = PAGE_HEADER + count * ELEMENT;
        if elements > page.len() {
            return Err(bad(format!("{count} elements do not fit")));
        }
        let slice = |at: usize, pos: u32, len: u32| -> Result<&'a [u8], SnapshotError> {
            let from = at.checked_add(pos as usize);
            let to = from.and_then(|f| f.checked_add(len as usize));
            match (from, to) {
                (Some(f), Some(t)) if t <= page.len() => Ok(&page[f..t]),
                _ => Err(bad(format!(
                    "element data out of the page (offset {at}+{pos}, {len} bytes)"
                ))),
            }
        };
        match flags {
            BRANCH_PAGE => {
                for i in 0..count {
                    let at = PAGE_HEADER + i * ELEMENT;
                    let child = u64_at(page, at + 8);
                    if matches!(tree, Tree::Page(p) if p == child) {
                        return Err(bad("a branch that points at itself".into()));
                    }
                    self.walk(Tree::Page(child), depth + 1, each)?;
                }
                Ok(())
            }
            LEAF_PAGE => {
                for i in 0..count {
                    let at = PAGE_HEADER + i * ELEMENT;
                    let leaf_flags = u32_at(page, at);
                    let pos = u32_at(page, at + 4);
                    let ksize = u32_at(page, at + 8);
                    let vsize = u32_at(page, at + 12);
                    let key = slice(at, pos, ksize)?;
                    let value = slice(at, pos.saturating_add(ksize), vsize)?;
                    each(key, value, leaf_flags)?;
                }
                Ok(())
            }
            other => Err(bad(format!("flags {other:#04x}, expected a branch or leaf page"))),
        }
    }
}

struct Meta {
    page_size: usize,
    root: u64,
    high_water: u64,
    txid: u64,
}

/// The meta page at byte `offset`, validated as bbolt does (magic, version, FNV-1a checksum).
fn meta(data: &[u8], offset: usize) -> Result<Meta, String> {
    let at = offset + PAGE_HEADER;
    let m = data.get(at..at + META_CHECKSUMMED + 8).ok_or("the file is too short")?;
    if u32_at(m, 0) != MAGIC {
        return Err("no bbolt magic number".into());
    }
    let version = u32_at(m, 4);
    if version != VERSION {
        return Err(format!("bbolt version {version}, expected {VERSION}"));
    }
    if fnv1a64(&m[..META_CHECKSUMMED]) != u64_at(m, META_CHECKSUMMED) {
        return Err("checksum mismatch".into());
    }
    let page_size = u32_at(m, 8) as usize;
    if !(1024..=1 << 20).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("page size {page_size}"));
    }
    Ok(Meta { page_size, root: u64_at(m, 16), high_water: u64_at(m, 40), txid: u64_at(m, 48) })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Little-endian reads inside bounds the caller checked (missing bytes read as zero).
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

fn u64_be(b: &[u8]) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_be_bytes(x)
}
