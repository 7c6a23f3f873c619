//! AES-CBC and AES-GCM transformers, plus the KMS v2 variants of GCM (counter nonce and
//! HKDF-derived per-write keys).
//!
//! Mirrors k8s.io/apiserver pkg/storage/value/encrypt/aes/aes.go and aes_extended_nonce.go.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aes::cipher::consts::{U12, U16};
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit,
    KeyInit,
};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AesGcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::CipherKind;
use crate::random::RandomSource;
use crate::{TransformError, Transformer};

/// AES block size.
pub const BLOCK_SIZE: usize = 16;
/// AES-GCM nonce size (upstream refuses any other).
pub const GCM_NONCE_SIZE: usize = 12;
/// AES-GCM tag size.
pub const GCM_TAG_SIZE: usize = 16;
/// KMS v2 KDF info size and minimum seed size (`infoSizeExtendedNonceGCM`,
/// `MinSeedSizeExtendedNonceGCM`).
pub const KDF_INFO_SIZE: usize = 32;
/// First value of the KMS v2 counter nonce (`nonceGenerator.zero`); the first write uses +1.
pub const COUNTER_NONCE_ZERO: u64 = 1_000_000_000;

/// An AES key schedule of any of the three sizes, expanded once.
#[derive(Clone)]
enum AesBlock {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl AesBlock {
    fn new(key: &[u8]) -> Result<Self, TransformError> {
        let invalid = |_| TransformError::InvalidAesKeySize { len: key.len() };
        Ok(match key.len() {
            16 => AesBlock::A128(Aes128::new_from_slice(key).map_err(invalid)?),
            24 => AesBlock::A192(Aes192::new_from_slice(key).map_err(invalid)?),
            32 => AesBlock::A256(Aes256::new_from_slice(key).map_err(invalid)?),
            len => return Err(TransformError::InvalidAesKeySize { len }),
        })
    }

    fn cbc_encrypt(&self, iv: &[u8; BLOCK_SIZE], buf: &mut [u8]) {
        // The cbc crate keeps the round keys in registers across blocks; the key schedule is
        // cloned, not re-expanded.
        fn run<C: BlockCipherEncrypt<BlockSize = U16> + Clone>(
            c: &C,
            iv: &[u8; BLOCK_SIZE],
            buf: &mut [u8],
        ) {
            let (blocks, _) = aes::Block::slice_as_chunks_mut(buf);
            let mut mode = cbc::Encryptor::<C>::inner_iv_init(c.clone(), &aes::Block::from(*iv));
            mode.encrypt_blocks(blocks);
        }
        match self {
            AesBlock::A128(c) => run(c, iv, buf),
            AesBlock::A192(c) => run(c, iv, buf),
            AesBlock::A256(c) => run(c, iv, buf),
        }
    }

    /// Decrypts whole blocks from `input` into `output` (same length) in one pass.
    fn cbc_decrypt(&self, iv: &[u8; BLOCK_SIZE], input: &[u8], output: &mut [u8]) {
        // The cbc crate decrypts several blocks in parallel; the key schedule is cloned, not
        // re-expanded.
        fn run<C: BlockCipherDecrypt<BlockSize = U16> + Clone>(
            c: &C,
            iv: &[u8; BLOCK_SIZE],
            input: &[u8],
            output: &mut [u8],
        ) {
            let (in_blocks, _) = aes::Block::slice_as_chunks(input);
            let (out_blocks, _) = aes::Block::slice_as_chunks_mut(output);
            let mut mode = cbc::Decryptor::<C>::inner_iv_init(c.clone(), &aes::Block::from(*iv));
            let buf = InOutBuf::new(in_blocks, out_blocks).expect("equal lengths");
            mode.decrypt_blocks_inout(buf);
        }
        match self {
            AesBlock::A128(c) => run(c, iv, input, output),
            AesBlock::A192(c) => run(c, iv, input, output),
            AesBlock::A256(c) => run(c, iv, input, output),
        }
    }
}

/// The CBC key: RustCrypto's key schedule (encryption, and decryption on CPUs without VAES)
/// and, where the CPU has VAES, our sixteen-blocks-at-a-time decryptor.
#[derive(Clone)]
pub(crate) struct CbcKey {
    block: AesBlock,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    pub(crate) vaes: Option<Arc<crate::cbc_vaes::VaesCbcDecrypt>>,
}

impl CbcKey {
    fn new(key: &[u8]) -> Result<Self, TransformError> {
        Ok(CbcKey {
            block: AesBlock::new(key)?,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            vaes: crate::cbc_vaes::VaesCbcDecrypt::new(key).map(Arc::new),
        })
    }

    /// The key without the VAES decryptor (tests run both paths).
    #[cfg(test)]
    fn without_vaes(key: &[u8]) -> Result<Self, TransformError> {
        Ok(CbcKey {
            block: AesBlock::new(key)?,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            vaes: None,
        })
    }

    fn cbc_encrypt(&self, iv: &[u8; BLOCK_SIZE], buf: &mut [u8]) {
        self.block.cbc_encrypt(iv, buf);
    }

    fn cbc_decrypt(&self, iv: &[u8; BLOCK_SIZE], input: &[u8], output: &mut [u8]) {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if let Some(vaes) = &self.vaes {
            vaes.decrypt(iv, input, output);
            return;
        }
        self.block.cbc_decrypt(iv, input, output);
    }
}

impl fmt::Debug for CbcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.block.fmt(f)
    }
}

impl fmt::Debug for AesBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self {
            AesBlock::A128(_) => 128,
            AesBlock::A192(_) => 192,
            AesBlock::A256(_) => 256,
        };
        write!(f, "Aes{bits}(REDACTED)")
    }
}

/// AES-CBC with PKCS#7 padding and a random IV stored first.
///
/// Mirrors k8s.io/apiserver pkg/storage/value/encrypt/aes/aes.go (`cbc`). Not bound to the
/// AAD.
#[derive(Debug, Clone)]
pub struct AesCbc {
    pub(crate) block: CbcKey,
    random: Arc<dyn RandomSource>,
}

impl AesCbc {
    /// A transformer for a 16, 24 or 32-byte key (the key schedule is expanded here, once).
    pub fn new(key: &[u8], random: Arc<dyn RandomSource>) -> Result<Self, TransformError> {
        Ok(AesCbc { block: CbcKey::new(key)?, random })
    }

    /// [`AesCbc::new`] that never uses the VAES decryptor.
    #[cfg(test)]
    pub(crate) fn without_vaes(
        key: &[u8],
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, TransformError> {
        Ok(AesCbc { block: CbcKey::without_vaes(key)?, random })
    }
}

impl Transformer for AesCbc {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        _ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let pad = BLOCK_SIZE - plaintext.len() % BLOCK_SIZE;
        let mut iv = [0u8; BLOCK_SIZE];
        self.random.fill(&mut iv).map_err(|cause| TransformError::InsufficientRandom { cause })?;
        out.reserve(BLOCK_SIZE + plaintext.len() + pad);
        out.extend_from_slice(&iv);
        let start = out.len();
        out.extend_from_slice(plaintext);
        // `pad` is 1..=16, so it fits in a byte.
        out.resize(start + plaintext.len() + pad, pad as u8);
        self.block.cbc_encrypt(&iv, &mut out[start..]);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], _ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        cbc_open(&self.block, stored).map(|plain| (plain, false))
    }
}

fn cbc_open(block: &CbcKey, stored: &[u8]) -> Result<Vec<u8>, TransformError> {
    let Some((iv, data)) = stored.split_first_chunk::<BLOCK_SIZE>() else {
        return Err(TransformError::ShortData {
            cipher: CipherKind::AesCbc,
            len: stored.len(),
            min: BLOCK_SIZE,
        });
    };
    if data.len() % BLOCK_SIZE != 0 {
        return Err(TransformError::NotBlockMultiple { len: data.len() });
    }
    if data.is_empty() {
        // Upstream panics here (index -1); see `TransformError::EmptyCbcCiphertext`.
        return Err(TransformError::EmptyCbcCiphertext);
    }
    let mut result = vec![0u8; data.len()];
    block.cbc_decrypt(iv, data, &mut result);
    let c = result[result.len() - 1];
    let pad = usize::from(c);
    if pad == 0 || pad > result.len() {
        return Err(TransformError::InvalidPkcs7Data);
    }
    let size = result.len() - pad;
    if result[size..].iter().any(|b| *b != c) {
        return Err(TransformError::InvalidPadding);
    }
    result.truncate(size);
    Ok(result)
}

/// An AES-GCM AEAD of any key size, with its key schedule and GHASH key computed once.
///
/// AES-128 and AES-256 use ring (one stitched pass of AES-NI + PCLMULQDQ); AES-192, which ring
/// lacks, uses RustCrypto's aes-gcm.
enum Gcm {
    Ring(Box<ring::aead::LessSafeKey>),
    A192(Box<AesGcm<Aes192, U12>>),
}

impl Gcm {
    fn new(key: &[u8]) -> Result<Self, TransformError> {
        let invalid = || TransformError::InvalidAesKeySize { len: key.len() };
        let ring_key = |alg| {
            ring::aead::UnboundKey::new(alg, key)
                .map(|k| Gcm::Ring(Box::new(ring::aead::LessSafeKey::new(k))))
                .map_err(|_| invalid())
        };
        match key.len() {
            16 => ring_key(&ring::aead::AES_128_GCM),
            24 => Ok(Gcm::A192(Box::new(AesGcm::new_from_slice(key).map_err(|_| invalid())?))),
            32 => ring_key(&ring::aead::AES_256_GCM),
            _ => Err(invalid()),
        }
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; GCM_NONCE_SIZE],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; GCM_TAG_SIZE] {
        // Both libraries only fail for messages over 64 GiB, which an etcd value cannot reach.
        match self {
            Gcm::Ring(k) => {
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                let tag = k
                    .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf)
                    .expect("AES-GCM input within size limits");
                tag.as_ref().try_into().expect("ring tags are 16 bytes")
            }
            Gcm::A192(c) => c
                .encrypt_inout_detached(&Nonce::<U12>::from(*nonce), aad, buf.into())
                .expect("AES-GCM input within size limits")
                .into(),
        }
    }

    /// Authenticates `input` and decrypts it into `output` (same length).
    fn open_into(
        &self,
        nonce: &[u8; GCM_NONCE_SIZE],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
        tag: &[u8; GCM_TAG_SIZE],
    ) -> Result<(), TagMismatch> {
        match self {
            Gcm::Ring(k) => {
                output.copy_from_slice(input);
                let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
                k.open_in_place_separate_tag(
                    nonce,
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    output,
                    0..,
                )
                .map(drop)
                .map_err(|_| TagMismatch)
            }
            Gcm::A192(c) => {
                let buf = InOutBuf::new(input, output).map_err(|_| TagMismatch)?;
                c.decrypt_inout_detached(&Nonce::<U12>::from(*nonce), aad, buf, &Tag::from(*tag))
                    .map_err(|_| TagMismatch)
            }
        }
    }

    /// Writes nonce ‖ ciphertext ‖ tag to `out`.
    fn seal_append(
        &self,
        nonce: &[u8; GCM_NONCE_SIZE],
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) {
        out.reserve(GCM_NONCE_SIZE + plaintext.len() + GCM_TAG_SIZE);
        out.extend_from_slice(nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, aad, &mut out[start..]);
        out.extend_from_slice(&tag);
    }

    /// Opens nonce ‖ ciphertext ‖ tag.
    fn open(&self, stored: &[u8], aad: &[u8], kind: CipherKind) -> Result<Vec<u8>, TransformError> {
        let Some((nonce, rest)) = stored.split_first_chunk::<GCM_NONCE_SIZE>() else {
            return Err(TransformError::ShortData {
                cipher: kind,
                len: stored.len(),
                min: GCM_NONCE_SIZE,
            });
        };
        // Go's `aead.Open` reports any too-short ciphertext as an authentication failure.
        let Some((body, tag)) = rest.split_last_chunk::<GCM_TAG_SIZE>() else {
            return Err(TransformError::Authentication { cipher: kind });
        };
        let mut plain = vec![0u8; body.len()];
        self.open_into(nonce, aad, body, &mut plain, tag)
            .map_err(|_| TransformError::Authentication { cipher: kind })?;
        Ok(plain)
    }
}

/// GCM tag verification failed.
struct TagMismatch;

impl fmt::Debug for Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gcm::Ring(k) => write!(f, "Gcm({:?}, REDACTED)", k.algorithm()),
            Gcm::A192(_) => f.write_str("Gcm(AES_192_GCM, REDACTED)"),
        }
    }
}

/// How an [`AesGcm`] transformer picks write nonces.
#[derive(Debug)]
enum NonceSource {
    /// 12 random bytes (aesgcm, KMS v1).
    Random,
    /// 4 random bytes then an 8-byte little-endian counter (KMS v2 `AES_GCM_KEY`).
    Counter(AtomicU64),
}

/// AES-GCM with a 12-byte nonce stored first, bound to the AAD.
///
/// Mirrors k8s.io/apiserver pkg/storage/value/encrypt/aes/aes.go (`gcm`,
/// `NewGCMTransformer`, `NewGCMTransformerWithUniqueKeyUnsafe`).
#[derive(Debug)]
pub struct AesGcmTransformer {
    gcm: Gcm,
    nonce: NonceSource,
    random: Arc<dyn RandomSource>,
}

impl AesGcmTransformer {
    /// Random-nonce AES-GCM for a 16, 24 or 32-byte key (key schedule expanded once).
    pub fn new(key: &[u8], random: Arc<dyn RandomSource>) -> Result<Self, TransformError> {
        Ok(AesGcmTransformer { gcm: Gcm::new(key)?, nonce: NonceSource::Random, random })
    }

    /// Counter-nonce AES-GCM (KMS v2 `AES_GCM_KEY` writes): 4 random bytes, then a
    /// little-endian counter that starts at [`COUNTER_NONCE_ZERO`] + 1.
    pub fn with_counter_nonce(
        key: &[u8],
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, TransformError> {
        Ok(AesGcmTransformer {
            gcm: Gcm::new(key)?,
            nonce: NonceSource::Counter(AtomicU64::new(COUNTER_NONCE_ZERO)),
            random,
        })
    }

    fn next_nonce(&self) -> Result<[u8; GCM_NONCE_SIZE], TransformError> {
        let mut nonce = [0u8; GCM_NONCE_SIZE];
        match &self.nonce {
            NonceSource::Random => {
                self.random.fill(&mut nonce).map_err(|cause| TransformError::GcmNonce { cause })?;
            }
            NonceSource::Counter(counter) => {
                let (random, count) = nonce.split_at_mut(4);
                self.random.fill(random).map_err(|cause| TransformError::GcmNonce { cause })?;
                let next = counter.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
                if next <= COUNTER_NONCE_ZERO {
                    return Err(TransformError::NonceOverflow);
                }
                count.copy_from_slice(&next.to_le_bytes());
            }
        }
        Ok(nonce)
    }
}

impl Transformer for AesGcmTransformer {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let nonce = self.next_nonce()?;
        self.gcm.seal_append(&nonce, plaintext, ctx, out);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        self.gcm.open(stored, ctx, CipherKind::AesGcm).map(|plain| (plain, false))
    }
}

/// KMS v1's DEK transformer: GCM writes, reads try GCM then fall back to CBC (stale).
///
/// Mirrors `envelopePrefixTransformer` / `unionTransformers` in k8s.io/apiserver
/// pkg/server/options/encryptionconfig/config.go.
#[derive(Debug)]
pub(crate) struct GcmCbcUnion {
    gcm: Gcm,
    cbc: CbcKey,
}

impl GcmCbcUnion {
    pub(crate) fn new(key: &[u8]) -> Result<Self, TransformError> {
        Ok(GcmCbcUnion { gcm: Gcm::new(key)?, cbc: CbcKey::new(key)? })
    }

    pub(crate) fn seal_append(
        &self,
        random: &dyn RandomSource,
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let mut nonce = [0u8; GCM_NONCE_SIZE];
        random.fill(&mut nonce).map_err(|cause| TransformError::GcmNonce { cause })?;
        self.gcm.seal_append(&nonce, plaintext, aad, out);
        Ok(())
    }

    pub(crate) fn open(
        &self,
        stored: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, bool), TransformError> {
        let gcm_err = match self.gcm.open(stored, aad, CipherKind::AesGcm) {
            Ok(plain) => return Ok((plain, false)),
            Err(err) => err,
        };
        match cbc_open(&self.cbc, stored) {
            Ok(plain) => Ok((plain, true)),
            Err(cbc_err) => Err(TransformError::Failed {
                attempts: vec![
                    crate::Attempt { transformer: "gcm".into(), error: gcm_err },
                    crate::Attempt { transformer: "cbc".into(), error: cbc_err },
                ],
            }),
        }
    }
}

/// KMS v2 seed mode: a fresh AES-256-GCM key per write from HKDF-SHA256 (expand only,
/// PRK = seed, info = 32 random bytes stored first).
///
/// Mirrors k8s.io/apiserver pkg/storage/value/encrypt/aes/aes_extended_nonce.go
/// (`NewHKDFExtendedNonceGCMTransformer`), with a read cache of derived keys as upstream's
/// (`simpleCache`): upstream keys it by AAD, checks the info and lets entries expire after 10
/// minutes; this one keys by info and is bounded instead (the crate has no clock). Either way
/// re-reading a value skips HKDF and the AES key schedule; results are the same.
pub struct HkdfGcmTransformer {
    hkdf: Hkdf<Sha256>,
    reads: std::sync::Mutex<std::collections::HashMap<[u8; KDF_INFO_SIZE], Arc<Gcm>>>,
    random: Arc<dyn RandomSource>,
}

/// Derived read keys kept at most (about 0.7 MB); the cache starts over when full.
const HKDF_READ_CACHE_MAX: usize = 1024;

impl fmt::Debug for HkdfGcmTransformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HkdfGcmTransformer(REDACTED)")
    }
}

impl HkdfGcmTransformer {
    /// A transformer for a seed of at least 32 bytes.
    pub fn new(seed: &[u8], random: Arc<dyn RandomSource>) -> Result<Self, TransformError> {
        if seed.len() < KDF_INFO_SIZE {
            return Err(TransformError::InvalidSeedLength { len: seed.len() });
        }
        let hkdf = Hkdf::<Sha256>::from_prk(seed)
            .map_err(|_| TransformError::InvalidSeedLength { len: seed.len() })?;
        Ok(HkdfGcmTransformer { hkdf, reads: Default::default(), random })
    }

    fn derive(&self, info: &[u8]) -> Result<Gcm, TransformError> {
        let mut key = Zeroizing::new([0u8; 32]);
        self.hkdf
            .expand(info, key.as_mut())
            .expect("32 bytes is within HKDF-SHA256's 8160-byte output limit");
        Gcm::new(key.as_ref())
    }
}

impl Transformer for HkdfGcmTransformer {
    fn append_to_storage(
        &self,
        plaintext: &[u8],
        ctx: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransformError> {
        let mut info = [0u8; KDF_INFO_SIZE];
        self.random.fill(&mut info).map_err(|cause| TransformError::KdfInfo { cause })?;
        let gcm = self.derive(&info)?;
        let mut nonce = [0u8; GCM_NONCE_SIZE];
        self.random.fill(&mut nonce).map_err(|cause| TransformError::GcmNonce { cause })?;
        out.reserve(KDF_INFO_SIZE + GCM_NONCE_SIZE + plaintext.len() + GCM_TAG_SIZE);
        out.extend_from_slice(&info);
        gcm.seal_append(&nonce, plaintext, ctx, out);
        Ok(())
    }

    fn from_storage(&self, stored: &[u8], ctx: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let Some((info, rest)) = stored.split_first_chunk::<KDF_INFO_SIZE>() else {
            return Err(TransformError::ShortData {
                cipher: CipherKind::HkdfAesGcm,
                len: stored.len(),
                min: KDF_INFO_SIZE,
            });
        };
        let cached = crate::random::lock(&self.reads).get(info).cloned();
        let gcm = match cached {
            Some(gcm) => gcm,
            None => {
                let gcm = Arc::new(self.derive(info)?);
                let mut reads = crate::random::lock(&self.reads);
                if reads.len() >= HKDF_READ_CACHE_MAX {
                    reads.clear();
                }
                reads.insert(*info, gcm.clone());
                gcm
            }
        };
        gcm.open(rest, ctx, CipherKind::HkdfAesGcm).map(|plain| (plain, false))
    }
}

#[cfg(test)]
mod tests;
