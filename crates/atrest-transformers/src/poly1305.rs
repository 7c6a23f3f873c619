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

/// The Poly1305 tag of `msg` under the one-time `key`.
pub(crate) fn tag(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    let (t0, t1) = (le64(&key[0..8]), le64(&key[8..16]));
    // Clamped r.
    let r0 = t0 & 0xffc_0fff_ffff;
    let r1 = ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff;
    let r2 = (t1 >> 24) & 0x00f_ffff_fc0f;
    let (s1, s2) = (r1 * (5 << 2), r2 * (5 << 2));
    let (mut h0, mut h1, mut h2) = (0u64, 0u64, 0u64);

    let mut block = |m: &[u8; 16], hibit: u64| {
        let (t0, t1) = (le64(&m[0..8]), le64(&m[8..16]));
        h0 += t0 & M44;
        h1 += ((t0 >> 44) | (t1 << 20)) & M44;
        h2 += ((t1 >> 24) & M42) | hibit;
        let mul = |a: u64, b: u64| u128::from(a) * u128::from(b);
        let d0 = mul(h0, r0) + mul(h1, s2) + mul(h2, s1);
        let mut d1 = mul(h0, r1) + mul(h1, r0) + mul(h2, s2);
        let mut d2 = mul(h0, r2) + mul(h1, r1) + mul(h2, r0);
        // Limbs stay below 2^45 and products below 2^100, so the shifts below fit in u64.
        d1 += d0 >> 44;
        h0 = d0 as u64 & M44;
        d2 += d1 >> 44;
        h1 = d1 as u64 & M44;
        let c = (d2 >> 42) as u64;
        h2 = d2 as u64 & M42;
        h0 += c * 5;
        h1 += h0 >> 44;
        h0 &= M44;
    };
    let mut chunks = msg.chunks_exact(16);
    for m in &mut chunks {
        block(m.try_into().expect("16 bytes"), 1 << 40);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        last[rest.len()] = 1;
        block(&last, 0);
    }

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
