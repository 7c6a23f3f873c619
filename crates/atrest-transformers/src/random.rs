//! Injected randomness: IVs, nonces, DEKs, seeds and KDF info all come from a
//! [`RandomSource`], so known-answer tests can fix them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

/// A source of random bytes.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// Fills `buf` completely or fails.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// Why a random source could not fill a buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomError {
    /// The operating system generator failed.
    #[error("{0}")]
    Os(getrandom::Error),
    /// A scripted source ran out of bytes.
    #[error("scripted random source exhausted: wanted {wanted} bytes, had {available}")]
    Exhausted {
        /// Bytes requested.
        wanted: usize,
        /// Bytes left.
        available: usize,
    },
}

/// The operating system's generator (`getrandom`), as Go's `crypto/rand`.
///
/// Small requests (IVs, nonces, DEKs) are served from a 4 KiB buffer refilled by one
/// `getrandom` call, because a system call per 12-byte nonce costs more than encrypting a
/// 1 KiB value. Served bytes are zeroed in the buffer.
#[derive(Default)]
pub struct OsRandom {
    pool: Mutex<Pool>,
}

struct Pool {
    bytes: Box<[u8; POOL_SIZE]>,
    /// Index of the first unserved byte; `POOL_SIZE` means empty.
    next: usize,
}

const POOL_SIZE: usize = 4096;

impl Default for Pool {
    fn default() -> Self {
        Pool { bytes: Box::new([0; POOL_SIZE]), next: POOL_SIZE }
    }
}

impl fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OsRandom")
    }
}

impl OsRandom {
    /// A buffered OS generator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        if buf.len() > POOL_SIZE / 4 {
            return getrandom::fill(buf).map_err(RandomError::Os);
        }
        let mut pool = lock(&self.pool);
        if POOL_SIZE - pool.next < buf.len() {
            getrandom::fill(pool.bytes.as_mut()).map_err(RandomError::Os)?;
            pool.next = 0;
        }
        let start = pool.next;
        let served = &mut pool.bytes[start..start + buf.len()];
        buf.copy_from_slice(served);
        served.fill(0);
        pool.next += buf.len();
        Ok(())
    }
}

/// Replays scripted bytes in order, then fails with [`RandomError::Exhausted`]. For
/// known-answer tests (the exact IV/nonce/DEK sequence is given) and failure tests.
///
/// `Debug` prints only how many bytes remain: the script is future IVs, DEKs and seeds.
#[derive(Default)]
pub struct ScriptedRandom {
    bytes: Mutex<VecDeque<u8>>,
}

impl fmt::Debug for ScriptedRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedRandom").field("remaining", &self.remaining()).finish()
    }
}

impl ScriptedRandom {
    /// A source that yields `bytes`, then fails.
    pub fn new(bytes: impl IntoIterator<Item = u8>) -> Self {
        ScriptedRandom { bytes: Mutex::new(bytes.into_iter().collect()) }
    }

    /// Appends more bytes to the script.
    pub fn push(&self, bytes: &[u8]) {
        lock(&self.bytes).extend(bytes.iter().copied());
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        lock(&self.bytes).len()
    }
}

impl RandomSource for ScriptedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let mut bytes = lock(&self.bytes);
        if bytes.len() < buf.len() {
            return Err(RandomError::Exhausted { wanted: buf.len(), available: bytes.len() });
        }
        let wanted = buf.len();
        for (slot, byte) in buf.iter_mut().zip(bytes.drain(..wanted)) {
            *slot = byte;
        }
        Ok(())
    }
}

/// A deterministic, seeded generator (SplitMix64). Not cryptographic: for tests and the
/// simulator's reproducible runs only.
///
/// `Debug` prints no state: the seed determines every DEK and seed it will produce.
pub struct SeededRandom {
    state: Mutex<u64>,
}

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededRandom").finish_non_exhaustive()
    }
}

impl SeededRandom {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom { state: Mutex::new(seed) }
    }
}

impl RandomSource for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let mut state = lock(&self.state);
        for chunk in buf.chunks_mut(8) {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

/// Locks a mutex, recovering from poisoning: the guarded data is plain bytes or counters that
/// stay consistent even if another thread panicked mid-operation.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
