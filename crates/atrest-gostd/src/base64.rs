//! Go's encoding/base64 `StdEncoding` decoder, error offsets included.
//!
//! Mirrors Go's encoding/base64 `decodeQuantum`: `\r` and `\n` are skipped anywhere, padding is
//! required, non-zero trailing bits are accepted, and the reported offset is an index into the
//! original text (newlines included). Decoded bytes are often key material: buffers are zeroed.

use zeroize::Zeroizing;

/// `base64.CorruptInputError`: `illegal base64 data at input byte <offset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct CorruptInput {
    /// Byte offset as Go reports it: an index into the original text, newlines included.
    pub offset: usize,
}

/// `base64.StdEncoding.Decode` of `src`.
pub fn decode_std(src: &[u8]) -> Result<Vec<u8>, CorruptInput> {
    let mut out = Zeroizing::new(Vec::with_capacity(src.len() / 4 * 3));
    let mut si = 0;
    while si < src.len() {
        let (next, n, err, quantum) = decode_quantum(src, si);
        out.extend_from_slice(&quantum[..n]);
        if let Some(offset) = err {
            return Err(CorruptInput { offset });
        }
        if next == si {
            break;
        }
        si = next;
    }
    Ok(std::mem::take(&mut *out))
}

fn decode_sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// One 4-symbol quantum from `si`: (next index, bytes decoded, error offset, bytes).
fn decode_quantum(src: &[u8], mut si: usize) -> (usize, usize, Option<usize>, Zeroizing<[u8; 3]>) {
    let mut dbuf = Zeroizing::new([0u8; 4]);
    let mut dlen = 4;
    let mut err = None;
    let mut j = 0;
    let fail = |si: usize, offset: usize| (si, 0, Some(offset), Zeroizing::new([0u8; 3]));
    while j < 4 {
        if si == src.len() {
            if j == 0 {
                return (si, 0, None, Zeroizing::new([0u8; 3]));
            }
            // Standard encoding requires padding, so any short quantum is corrupt.
            return fail(si, si - j);
        }
        let c = src[si];
        si += 1;
        if let Some(v) = decode_sextet(c) {
            dbuf[j] = v;
            j += 1;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c != b'=' {
            return fail(si, si - 1);
        }
        // Padding.
        match j {
            0 | 1 => return fail(si, si - 1),
            2 => {
                while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                    si += 1;
                }
                if si == src.len() {
                    return fail(si, src.len());
                }
                if src[si] != b'=' {
                    return fail(si, si - 1);
                }
                si += 1;
            }
            _ => {}
        }
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
        if si < src.len() {
            err = Some(si);
        }
        dlen = j;
        break;
    }
    let val = (u32::from(dbuf[0]) << 18)
        | (u32::from(dbuf[1]) << 12)
        | (u32::from(dbuf[2]) << 6)
        | u32::from(dbuf[3]);
    let bytes = val.to_be_bytes();
    let quantum = Zeroizing::new([bytes[1], bytes[2], bytes[3]]);
    (si, dlen - 1, err, quantum)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Offsets as Go's base64.StdEncoding.DecodeString reports them.
    #[test]
    fn go_offsets() {
        assert_eq!(decode_std(b"c2VjcmV0IGlzIHNlY3VyZQ==").unwrap(), b"secret is secure");
        assert_eq!(decode_std(b"c2Vj\ncmV0").unwrap(), b"secret");
        assert_eq!(decode_std(b"c2VjcmV0IGlzIHNlY3VyZQ").unwrap_err().offset, 20);
        assert_eq!(decode_std(b"c2V!").unwrap_err().offset, 3);
        assert_eq!(
            decode_std(b"abc").unwrap_err().to_string(),
            "illegal base64 data at input byte 0"
        );
    }
}
