//! AES-CBC decryption with VAES: two blocks per 256-bit AES instruction, sixteen blocks in
//! flight, where the CPU has VAES and AVX2 (checked at run time).
//!
//! CBC decryption of block i needs only ciphertext blocks i and i-1, so every block decrypts
//! independently (k8s.io/apiserver pkg/storage/value/encrypt/aes/aes.go, `cbc.TransformFromStorage`,
//! calls Go's `cipher.NewCBCDecrypter(...).CryptBlocks`). RustCrypto's `aes` has a VAES backend
//! too, but `cpufeatures` enables it only with AVX-512 register state, so on AVX2-only CPUs it
//! runs eight 128-bit blocks at a time and reached about 90% of OpenSSL (issue 16).

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use zeroize::Zeroize;

const BLOCK: usize = 16;
/// Blocks per main-loop iteration: eight 256-bit registers of two blocks.
const BATCH: usize = 16;

/// AES decryption round keys (the Equivalent Inverse Cipher's), for VAES CBC decryption.
pub(crate) struct VaesCbcDecrypt {
    /// `dec[0]` is XORed first, `dec[rounds]` goes to `aesdeclast`.
    dec: [[u8; 16]; 15],
    rounds: usize,
}

impl Drop for VaesCbcDecrypt {
    fn drop(&mut self) {
        self.dec.zeroize();
    }
}

impl VaesCbcDecrypt {
    /// The decryptor for a 16, 24 or 32-byte key, or `None` when the CPU lacks AES-NI, VAES or
    /// AVX2 (or the key length is wrong).
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        if !(std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("vaes")
            && std::arch::is_x86_feature_detected!("avx2"))
        {
            return None;
        }
        if ![16, 24, 32].contains(&key.len()) {
            return None;
        }
        // SAFETY: AES-NI is present, checked above; `expand` has no other requirement.
        #[expect(unsafe_code, reason = "calling the AES-NI key expansion after detecting AES-NI")]
        Some(unsafe { expand(key) })
    }

    /// Decrypts whole blocks of `input` into `output` (same length, a multiple of 16) with
    /// `iv` chained in front.
    pub(crate) fn decrypt(&self, iv: &[u8; 16], input: &[u8], output: &mut [u8]) {
        assert!(input.len() == output.len() && input.len().is_multiple_of(BLOCK), "whole blocks");
        // SAFETY: `new` returned `Some` only after detecting AES-NI, VAES and AVX2, which is all
        // `decrypt_vaes` requires.
        #[expect(unsafe_code, reason = "calling the VAES build after detecting VAES")]
        unsafe {
            self.decrypt_vaes(iv, input, output)
        }
    }

    #[target_feature(enable = "aes,vaes,avx2")]
    fn decrypt_vaes(&self, iv: &[u8; 16], input: &[u8], output: &mut [u8]) {
        let r = self.rounds;
        let k128: [__m128i; 15] = std::array::from_fn(|i| load1(&self.dec[i]));
        let k256: [__m256i; 15] = k128.map(|k| _mm256_broadcastsi128_si256(k));
        let mut prev = load1(iv);
        let mut inp = input.chunks_exact(BATCH * BLOCK);
        let mut out = output.chunks_exact_mut(BATCH * BLOCK);
        for (i, o) in (&mut inp).zip(&mut out) {
            let c: [__m256i; BATCH / 2] = std::array::from_fn(|j| load2(&i[32 * j..32 * j + 32]));
            let mut x = c.map(|c| _mm256_xor_si256(c, k256[0]));
            for k in &k256[1..r] {
                for x in &mut x {
                    *x = _mm256_aesdec_epi128(*x, *k);
                }
            }
            for x in &mut x {
                *x = _mm256_aesdeclast_epi128(*x, k256[r]);
            }
            // Block 2j is chained to block 2j-1 (the IV or the last batch's last block for j = 0),
            // block 2j+1 to block 2j: the 32 bytes that start one block earlier.
            let first = _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(prev),
                _mm256_castsi256_si128(c[0]),
            );
            store2(&mut o[..32], _mm256_xor_si256(x[0], first));
            for j in 1..BATCH / 2 {
                let chain = load2(&i[32 * j - 16..32 * j + 16]);
                store2(&mut o[32 * j..32 * j + 32], _mm256_xor_si256(x[j], chain));
            }
            prev = _mm256_extracti128_si256::<1>(c[BATCH / 2 - 1]);
        }
        for (i, o) in
            inp.remainder().chunks_exact(BLOCK).zip(out.into_remainder().chunks_exact_mut(BLOCK))
        {
            let c = load1(i);
            let mut x = _mm_xor_si128(c, k128[0]);
            for k in &k128[1..r] {
                x = _mm_aesdec_si128(x, *k);
            }
            x = _mm_aesdeclast_si128(x, k128[r]);
            store1(o, _mm_xor_si128(x, prev));
            prev = c;
        }
    }
}

/// 16 bytes into a register.
#[inline(always)]
fn load1(b: &[u8]) -> __m128i {
    let b: &[u8; 16] = b.try_into().expect("16 bytes");
    // SAFETY: `b` is 16 readable bytes, what an unaligned 128-bit load reads; SSE2 is part of
    // every x86-64 target and of every caller's target features.
    #[expect(unsafe_code, reason = "an unaligned load of a checked 16-byte array")]
    unsafe {
        _mm_loadu_si128(b.as_ptr().cast())
    }
}

#[inline(always)]
fn store1(b: &mut [u8], v: __m128i) {
    let b: &mut [u8; 16] = b.try_into().expect("16 bytes");
    // SAFETY: `b` is 16 writable bytes, what an unaligned 128-bit store writes.
    #[expect(unsafe_code, reason = "an unaligned store to a checked 16-byte array")]
    unsafe {
        _mm_storeu_si128(b.as_mut_ptr().cast(), v)
    }
}

/// 32 bytes (two blocks) into a register.
#[inline]
#[target_feature(enable = "avx2")]
fn load2(b: &[u8]) -> __m256i {
    let b: &[u8; 32] = b.try_into().expect("32 bytes");
    // SAFETY: `b` is 32 readable bytes, what an unaligned 256-bit load reads; AVX is enabled.
    #[expect(unsafe_code, reason = "an unaligned load of a checked 32-byte array")]
    unsafe {
        _mm256_loadu_si256(b.as_ptr().cast())
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store2(b: &mut [u8], v: __m256i) {
    let b: &mut [u8; 32] = b.try_into().expect("32 bytes");
    // SAFETY: `b` is 32 writable bytes, what an unaligned 256-bit store writes; AVX is enabled.
    #[expect(unsafe_code, reason = "an unaligned store to a checked 32-byte array")]
    unsafe {
        _mm256_storeu_si256(b.as_mut_ptr().cast(), v)
    }
}

/// FIPS-197 key expansion (SubWord through `aesenclast`, so no table lookups), then the
/// Equivalent Inverse Cipher's keys: the encryption keys reversed, the middle ones through
/// `aesimc`.
#[target_feature(enable = "aes")]
fn expand(key: &[u8]) -> VaesCbcDecrypt {
    let nk = key.len() / 4;
    let rounds = nk + 6;
    let total = 4 * (rounds + 1);
    // Words as little-endian u32 of the key bytes, so byte 0 is the low byte.
    let mut w = [0u32; 60];
    for (i, chunk) in key.chunks_exact(4).enumerate() {
        w[i] = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
    }
    // With the word in every column, ShiftRows is a no-op and `aesenclast` against a zero key
    // is SubBytes.
    let sub_word = |x: u32| -> u32 {
        _mm_cvtsi128_si32(_mm_aesenclast_si128(_mm_set1_epi32(x as i32), _mm_setzero_si128()))
            as u32
    };
    let mut rcon: u32 = 1;
    for i in nk..total {
        let mut t = w[i - 1];
        if i % nk == 0 {
            t = sub_word(t.rotate_right(8)) ^ rcon;
            rcon = if rcon & 0x80 != 0 { (rcon << 1) ^ 0x11b } else { rcon << 1 };
        } else if nk > 6 && i % nk == 4 {
            t = sub_word(t);
        }
        w[i] = w[i - nk] ^ t;
    }
    let enc = |round: usize| -> [u8; 16] {
        let mut k = [0u8; 16];
        for (j, word) in w[4 * round..4 * round + 4].iter().enumerate() {
            k[4 * j..4 * j + 4].copy_from_slice(&word.to_le_bytes());
        }
        k
    };
    let mut dec = [[0u8; 16]; 15];
    dec[0] = enc(rounds);
    for (i, d) in dec.iter_mut().enumerate().take(rounds).skip(1) {
        let mut k = [0u8; 16];
        store1(&mut k, _mm_aesimc_si128(load1(&enc(rounds - i))));
        *d = k;
    }
    dec[rounds] = enc(0);
    w.zeroize();
    VaesCbcDecrypt { dec, rounds }
}

#[cfg(test)]
mod tests;
