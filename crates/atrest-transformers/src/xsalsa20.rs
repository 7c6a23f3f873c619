//! XSalsa20 computing eight Salsa20 blocks side by side in AVX2 registers (state word `w` of
//! block `l` is lane `l` of register `w`), chosen at run time; elsewhere a portable build does
//! four blocks per batch in plain Rust.
//!
//! Mirrors golang.org/x/crypto salsa20/salsa (`HSalsa20`, `XORKeyStream`), which Go's
//! nacl/secretbox, and so k8s.io/apiserver pkg/storage/value/encrypt/secretbox/secretbox.go,
//! build on. The `salsa20` crate computes one block at a time, which made secretbox slower
//! than upstream's assembly (issue 16).

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Salsa20 block size.
const BLOCK: usize = 64;

/// Blocks per batch of the widest implementation, and so the largest batch.
const MAX_LANES: usize = 8;

/// The Salsa20/20 input block for `key`, `nonce` and a block counter of zero.
fn input(key: &[u32; 8], nonce: [u32; 2]) -> [u32; 16] {
    [
        SIGMA[0], key[0], key[1], key[2], key[3], SIGMA[1], nonce[0], nonce[1], 0, 0, SIGMA[2],
        key[4], key[5], key[6], key[7], SIGMA[3],
    ]
}

/// Ten double rounds on `N` states at once, word by word (`x[w][lane]`).
#[inline(always)]
fn rounds<const N: usize>(x: &mut [[u32; N]; 16]) {
    #[inline(always)]
    #[expect(clippy::needless_range_loop, reason = "three rows indexed by the same lane")]
    fn step<const N: usize>(x: &mut [[u32; N]; 16], t: usize, a: usize, b: usize, r: u32) {
        for l in 0..N {
            x[t][l] ^= x[a][l].wrapping_add(x[b][l]).rotate_left(r);
        }
    }
    for _ in 0..10 {
        // Column round.
        step(x, 4, 0, 12, 7);
        step(x, 9, 5, 1, 7);
        step(x, 14, 10, 6, 7);
        step(x, 3, 15, 11, 7);
        step(x, 8, 4, 0, 9);
        step(x, 13, 9, 5, 9);
        step(x, 2, 14, 10, 9);
        step(x, 7, 3, 15, 9);
        step(x, 12, 8, 4, 13);
        step(x, 1, 13, 9, 13);
        step(x, 6, 2, 14, 13);
        step(x, 11, 7, 3, 13);
        step(x, 0, 12, 8, 18);
        step(x, 5, 1, 13, 18);
        step(x, 10, 6, 2, 18);
        step(x, 15, 11, 7, 18);
        // Row round.
        step(x, 1, 0, 3, 7);
        step(x, 6, 5, 4, 7);
        step(x, 11, 10, 9, 7);
        step(x, 12, 15, 14, 7);
        step(x, 2, 1, 0, 9);
        step(x, 7, 6, 5, 9);
        step(x, 8, 11, 10, 9);
        step(x, 13, 12, 15, 9);
        step(x, 3, 2, 1, 13);
        step(x, 4, 7, 6, 13);
        step(x, 9, 8, 11, 13);
        step(x, 14, 13, 12, 13);
        step(x, 0, 3, 2, 18);
        step(x, 5, 4, 7, 18);
        step(x, 10, 9, 8, 18);
        step(x, 15, 14, 13, 18);
    }
}

/// HSalsa20: the XSalsa20 subkey for `key` and the first 16 nonce bytes.
pub(crate) fn hsalsa20(key: &[u8; 32], nonce16: &[u8; 16]) -> [u32; 8] {
    let k = words::<8>(key);
    let n = words::<4>(nonce16);
    let init = [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], n[2], n[3], SIGMA[2], k[4], k[5],
        k[6], k[7], SIGMA[3],
    ];
    let mut x = init.map(|w| [w]);
    rounds::<1>(&mut x);
    [x[0][0], x[5][0], x[10][0], x[15][0], x[6][0], x[7][0], x[8][0], x[9][0]]
}

fn words<const W: usize>(bytes: &[u8]) -> [u32; W] {
    std::array::from_fn(|i| {
        u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4-byte chunk"))
    })
}

/// `output = input ^ stream` over `input`'s length (written so that it compiles to vector
/// XORs).
#[inline(always)]
fn xor_into(input: &[u8], stream: &[u8], output: &mut [u8]) {
    let n = input.len();
    let (stream, output) = (&stream[..n], &mut output[..n]);
    let mut o = output.chunks_exact_mut(8);
    let mut i = input.chunks_exact(8);
    let mut s = stream.chunks_exact(8);
    for ((o, i), s) in (&mut o).zip(&mut i).zip(&mut s) {
        let x = u64::from_ne_bytes(i.try_into().expect("8 bytes"))
            ^ u64::from_ne_bytes(s.try_into().expect("8 bytes"));
        o.copy_from_slice(&x.to_ne_bytes());
    }
    for ((o, i), s) in o.into_remainder().iter_mut().zip(i.remainder()).zip(s.remainder()) {
        *o = i ^ s;
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod avx2 {
    //! Eight Salsa20 blocks at once: state word `w` of block `l` is lane `l` of register `w`.

    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use super::{BLOCK, MAX_LANES};

    #[inline]
    #[target_feature(enable = "avx2")]
    fn step<const L: i32, const R: i32>(x: &mut [__m256i; 16], t: usize, a: usize, b: usize) {
        let s = _mm256_add_epi32(x[a], x[b]);
        let r = _mm256_or_si256(_mm256_slli_epi32::<L>(s), _mm256_srli_epi32::<R>(s));
        x[t] = _mm256_xor_si256(x[t], r);
    }

    /// Key stream blocks `block..block + 8` for the Salsa20 `input`, written to `out`.
    #[target_feature(enable = "avx2")]
    pub(super) fn stream(input: &[u32; 16], block: u64, out: &mut [u8; MAX_LANES * BLOCK]) {
        // Words are reinterpreted as i32 for the intrinsics; the bits are what matter.
        let mut init: [__m256i; 16] = input.map(|w| _mm256_set1_epi32(w as i32));
        let counter: [u64; MAX_LANES] = std::array::from_fn(|l| block + l as u64);
        let c = counter.map(|c| c as u32 as i32);
        init[8] = _mm256_setr_epi32(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        let c = counter.map(|c| (c >> 32) as u32 as i32);
        init[9] = _mm256_setr_epi32(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        let mut x = init;
        for _ in 0..10 {
            step::<7, 25>(&mut x, 4, 0, 12);
            step::<7, 25>(&mut x, 9, 5, 1);
            step::<7, 25>(&mut x, 14, 10, 6);
            step::<7, 25>(&mut x, 3, 15, 11);
            step::<9, 23>(&mut x, 8, 4, 0);
            step::<9, 23>(&mut x, 13, 9, 5);
            step::<9, 23>(&mut x, 2, 14, 10);
            step::<9, 23>(&mut x, 7, 3, 15);
            step::<13, 19>(&mut x, 12, 8, 4);
            step::<13, 19>(&mut x, 1, 13, 9);
            step::<13, 19>(&mut x, 6, 2, 14);
            step::<13, 19>(&mut x, 11, 7, 3);
            step::<18, 14>(&mut x, 0, 12, 8);
            step::<18, 14>(&mut x, 5, 1, 13);
            step::<18, 14>(&mut x, 10, 6, 2);
            step::<18, 14>(&mut x, 15, 11, 7);
            step::<7, 25>(&mut x, 1, 0, 3);
            step::<7, 25>(&mut x, 6, 5, 4);
            step::<7, 25>(&mut x, 11, 10, 9);
            step::<7, 25>(&mut x, 12, 15, 14);
            step::<9, 23>(&mut x, 2, 1, 0);
            step::<9, 23>(&mut x, 7, 6, 5);
            step::<9, 23>(&mut x, 8, 11, 10);
            step::<9, 23>(&mut x, 13, 12, 15);
            step::<13, 19>(&mut x, 3, 2, 1);
            step::<13, 19>(&mut x, 4, 7, 6);
            step::<13, 19>(&mut x, 9, 8, 11);
            step::<13, 19>(&mut x, 14, 13, 12);
            step::<18, 14>(&mut x, 0, 3, 2);
            step::<18, 14>(&mut x, 5, 4, 7);
            step::<18, 14>(&mut x, 10, 9, 8);
            step::<18, 14>(&mut x, 15, 14, 13);
        }
        let mut words = [[0u32; MAX_LANES]; 16];
        for w in 0..16 {
            let v = _mm256_add_epi32(x[w], init[w]);
            // SAFETY: `words[w]` is 32 writable bytes, what an unaligned 256-bit store writes;
            // AVX2 (and so AVX) is enabled on this function.
            #[expect(unsafe_code, reason = "storing a vector register to an array")]
            unsafe {
                _mm256_storeu_si256(words[w].as_mut_ptr().cast(), v)
            };
        }
        for (l, block) in out.chunks_exact_mut(BLOCK).enumerate() {
            for (w, bytes) in block.chunks_exact_mut(4).enumerate() {
                bytes.copy_from_slice(&words[w][l].to_le_bytes());
            }
        }
    }
}

/// Which build of the batch loop runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lanes {
    /// 4 blocks per batch in plain Rust (LLVM did not vectorise it on x86-64; it is the
    /// fallback for CPUs without AVX2 and other targets).
    Portable,
    /// 8 blocks per batch, compiled for AVX2; only where the CPU has it.
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx2,
}

impl Lanes {
    /// The widest build this CPU runs.
    pub(crate) fn detect() -> Self {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Lanes::Avx2;
        }
        Lanes::Portable
    }
}

/// An XSalsa20 key stream: the Salsa20 input for the subkey and the last 8 nonce bytes, and
/// the next block number.
pub(crate) struct XSalsa20 {
    input: [u32; 16],
    block: u64,
}

impl Drop for XSalsa20 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.input);
    }
}

impl XSalsa20 {
    /// The stream for a 32-byte key and a 24-byte nonce, at block 0.
    pub(crate) fn new(key: &[u8; 32], nonce: &[u8; 24]) -> Self {
        let (head, tail) = nonce.split_at(16);
        let subkey = zeroize::Zeroizing::new(hsalsa20(key, head.try_into().expect("16 bytes")));
        XSalsa20 { input: input(&subkey, words::<2>(tail)), block: 0 }
    }

    /// Moves the stream to block `block` (tests reach the 32-bit counter edge with it).
    #[cfg(test)]
    pub(crate) fn seek_block(&mut self, block: u64) {
        self.block = block;
    }

    /// Returns key stream bytes 0..32 and writes `input` XOR bytes 32.. to `output` (same
    /// length): NaCl secretbox's one-time Poly1305 key and its encryption (Go's
    /// `secretbox.Seal` and `Open`).
    pub(crate) fn poly_key_and_xor(
        self,
        lanes: Lanes,
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; 32] {
        assert_eq!(input.len(), output.len(), "XSalsa20 input and output lengths");
        match lanes {
            Lanes::Portable => {
                output.copy_from_slice(input);
                self.poly_key_and_xor_lanes::<4>(output)
            }
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Lanes::Avx2 => {
                assert!(std::arch::is_x86_feature_detected!("avx2"), "Lanes::Avx2 without AVX2");
                // SAFETY: `poly_key_and_xor_avx2` only requires AVX2, which the assertion
                // above checked.
                #[expect(unsafe_code, reason = "calling the AVX2 build after detecting AVX2")]
                unsafe {
                    self.poly_key_and_xor_avx2(input, output)
                }
            }
        }
    }

    /// [`XSalsa20::poly_key_and_xor`] with 8 blocks per batch in AVX2 registers.
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[target_feature(enable = "avx2")]
    fn poly_key_and_xor_avx2(mut self, input: &[u8], output: &mut [u8]) -> [u8; 32] {
        let mut stream = [0u8; MAX_LANES * BLOCK];
        avx2::stream(&self.input, self.block, &mut stream);
        self.block += MAX_LANES as u64;
        let (key, rest) = stream.split_first_chunk::<32>().expect("a batch is 512 bytes");
        let key = *key;
        let first = input.len().min(MAX_LANES * BLOCK - 32);
        xor_into(&input[..first], rest, &mut output[..first]);
        let chunks = input[first..].chunks(MAX_LANES * BLOCK);
        for (i, o) in chunks.zip(output[first..].chunks_mut(MAX_LANES * BLOCK)) {
            avx2::stream(&self.input, self.block, &mut stream);
            self.block += MAX_LANES as u64;
            xor_into(i, &stream, o);
        }
        key
    }

    #[inline(always)]
    fn poly_key_and_xor_lanes<const N: usize>(mut self, data: &mut [u8]) -> [u8; 32] {
        let mut stream = [0u8; MAX_LANES * BLOCK];
        self.stream::<N>(&mut stream);
        let (key, rest) = stream.split_first_chunk::<32>().expect("a batch is 64 bytes or more");
        let first = data.len().min(N * BLOCK - 32);
        for (d, s) in data[..first].iter_mut().zip(rest) {
            *d ^= s;
        }
        self.xor_lanes::<N>(&mut data[first..]);
        *key
    }

    /// XORs the key stream into `data` from the current block on, `N` blocks per batch.
    #[inline(always)]
    fn xor_lanes<const N: usize>(&mut self, data: &mut [u8]) {
        let mut chunks = data.chunks_exact_mut(N * BLOCK);
        for chunk in &mut chunks {
            let x = self.batch::<N>();
            for l in 0..N {
                for (w, word) in x.iter().enumerate() {
                    let at = l * BLOCK + 4 * w;
                    let bytes: &mut [u8; 4] =
                        (&mut chunk[at..at + 4]).try_into().expect("4-byte chunk");
                    *bytes = (u32::from_le_bytes(*bytes) ^ word[l]).to_le_bytes();
                }
            }
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut stream = [0u8; MAX_LANES * BLOCK];
            self.stream::<N>(&mut stream);
            for (d, s) in rest.iter_mut().zip(stream.iter()) {
                *d ^= s;
            }
        }
    }

    /// Writes the next `N` key stream blocks to the start of `out`.
    #[inline(always)]
    fn stream<const N: usize>(&mut self, out: &mut [u8; MAX_LANES * BLOCK]) {
        let x = self.batch::<N>();
        for l in 0..N {
            for (w, word) in x.iter().enumerate() {
                let at = l * BLOCK + 4 * w;
                out[at..at + 4].copy_from_slice(&word[l].to_le_bytes());
            }
        }
    }

    /// The next `N` key stream blocks, word by word, and the counter moved past them.
    #[inline(always)]
    #[expect(clippy::needless_range_loop, reason = "lanes of several rows")]
    fn batch<const N: usize>(&mut self) -> [[u32; N]; 16] {
        let mut init = self.input.map(|w| [w; N]);
        for l in 0..N {
            let counter = self.block + l as u64;
            init[8][l] = counter as u32;
            init[9][l] = (counter >> 32) as u32;
        }
        self.block += N as u64;
        let mut x = init;
        rounds(&mut x);
        for w in 0..16 {
            for l in 0..N {
                x[w][l] = x[w][l].wrapping_add(init[w][l]);
            }
        }
        x
    }
}
