//! Poly1305, scalar, with 44-bit limbs and 128-bit products (poly1305-donna's 64-bit form).
//!
//! Mirrors golang.org/x/crypto internal/poly1305 (`Sum`), which nacl/secretbox uses. The
//! `poly1305` crate's AVX2 backend was slower than this here: its helpers call the AVX2
//! intrinsics out of line (issue 16, profiled with perf).

const M44: u64 = (1 << 44) - 1;
const M42: u64 = (1 << 42) - 1;

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// `a · r` mod 2^130 - 5 before carrying, for limbs of 44, 44 and 42 bits (a little more after
/// a partial carry): `2^132 ≡ 20`, so the high products fold in times 20 (`s` is `20·r1`,
/// `20·r2`).
#[inline(always)]
fn mul(a: [u64; 3], r: [u64; 3], s: [u64; 2]) -> [u128; 3] {
    let m = |x: u64, y: u64| u128::from(x) * u128::from(y);
    [
        m(a[0], r[0]) + m(a[1], s[1]) + m(a[2], s[0]),
        m(a[0], r[1]) + m(a[1], r[0]) + m(a[2], s[1]),
        m(a[0], r[2]) + m(a[1], r[1]) + m(a[2], r[0]),
    ]
}

/// Carries a product back into limbs (the top limb at 42 bits, `2^130 ≡ 5`). Products stay
/// below 2^100, so every carry fits in u64.
#[inline(always)]
fn carry(d: [u128; 3]) -> [u64; 3] {
    let [d0, mut d1, mut d2] = d;
    d1 += d0 >> 44;
    let mut h0 = d0 as u64 & M44;
    d2 += d1 >> 44;
    let mut h1 = d1 as u64 & M44;
    let c = (d2 >> 42) as u64;
    let h2 = d2 as u64 & M42;
    h0 += c * 5;
    h1 += h0 >> 44;
    h0 &= M44;
    [h0, h1, h2]
}

/// A 16-byte block as limbs, with the 2^128 bit (`hibit`) of a full block.
#[inline(always)]
fn limbs(m: &[u8], hibit: u64) -> [u64; 3] {
    let (t0, t1) = (le64(&m[0..8]), le64(&m[8..16]));
    [t0 & M44, ((t0 >> 44) | (t1 << 20)) & M44, ((t1 >> 24) & M42) | hibit]
}

/// The Poly1305 tag of `msg` under the one-time `key`.
///
/// Two blocks per step, `h = (h + m1)·r² + m2·r`: two independent multiplications instead of
/// one chain, for the CPU to overlap.
pub(crate) fn tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    let (t0, t1) = (le64(&key[0..8]), le64(&key[8..16]));
    // Clamped r.
    let r = [
        t0 & 0xffc_0fff_ffff,
        ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
        (t1 >> 24) & 0x00f_ffff_fc0f,
    ];
    let s = [r[1] * 20, r[2] * 20];
    let r2 = carry(mul(r, r, s));
    let s2 = [r2[1] * 20, r2[2] * 20];
    let mut h = [0u64; 3];
    let add = |h: [u64; 3], m: [u64; 3]| [h[0] + m[0], h[1] + m[1], h[2] + m[2]];

    let mut pairs = msg.chunks_exact(32);
    for pair in &mut pairs {
        let a = mul(add(h, limbs(&pair[..16], 1 << 40)), r2, s2);
        let b = mul(limbs(&pair[16..], 1 << 40), r, s);
        h = carry([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
    }
    let rest = pairs.remainder();
    let mut blocks = rest.chunks_exact(16);
    for m in &mut blocks {
        h = carry(mul(add(h, limbs(m, 1 << 40)), r, s));
    }
    let last = blocks.remainder();
    if !last.is_empty() {
        let mut block = [0u8; 16];
        block[..last.len()].copy_from_slice(last);
        block[last.len()] = 1;
        h = carry(mul(add(h, limbs(&block, 0)), r, s));
    }
    let [mut h0, mut h1, mut h2] = h;

    // Fully carry h.
    let mut c = h1 >> 44;
    h1 &= M44;
    h2 += c;
    c = h2 >> 42;
    h2 &= M42;
    h0 += c * 5;
    c = h0 >> 44;
    h0 &= M44;
    h1 += c;
    c = h1 >> 44;
    h1 &= M44;
    h2 += c;
    c = h2 >> 42;
    h2 &= M42;
    h0 += c * 5;
    c = h0 >> 44;
    h0 &= M44;
    h1 += c;

    // g = h + 5 - 2^130; keep h when g is negative, in constant time.
    let mut g0 = h0 + 5;
    c = g0 >> 44;
    g0 &= M44;
    let mut g1 = h1 + c;
    c = g1 >> 44;
    g1 &= M44;
    let mut g2 = (h2 + c).wrapping_sub(1 << 42);
    let keep_g = (g2 >> 63).wrapping_sub(1);
    g0 &= keep_g;
    g1 &= keep_g;
    g2 &= keep_g;
    h0 = (h0 & !keep_g) | g0;
    h1 = (h1 & !keep_g) | g1;
    h2 = (h2 & !keep_g) | g2;

    // h + s mod 2^128.
    let (t0, t1) = (le64(&key[16..24]), le64(&key[24..32]));
    h0 += t0 & M44;
    c = h0 >> 44;
    h0 &= M44;
    h1 += (((t0 >> 44) | (t1 << 20)) & M44) + c;
    c = h1 >> 44;
    h1 &= M44;
    h2 += ((t1 >> 24) & M42) + c;
    h2 &= M42;
    let lo = h0 | (h1 << 44);
    let hi = (h1 >> 20) | (h2 << 24);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&lo.to_le_bytes());
    out[8..].copy_from_slice(&hi.to_le_bytes());
    out
}
