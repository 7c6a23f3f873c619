//! [`LineIndex`] against the straightforward scans it replaces (quadratic when asked once per
//! node, which is why it was replaced).

use proptest::prelude::*;

use super::{LineIndex, Position};

/// Line starts after each `\n`.
fn naive_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
    starts
}

/// The column counts the non-continuation bytes from the line start.
fn naive_position(data: &[u8], offset: usize) -> Position {
    let starts = naive_starts(data);
    let line = match starts.binary_search(&offset) {
        Ok(i) => i,
        Err(i) => i.saturating_sub(1),
    };
    let end = offset.min(data.len());
    let column = data[starts[line]..end].iter().filter(|b| (**b & 0xC0) != 0x80).count();
    Position { line: line + 1, column: column + 1 }
}

/// The line start plus the UTF-8 width of the next `col` characters of the rest of the text.
fn naive_offset(data: &[u8], line: usize, col: usize) -> usize {
    let starts = naive_starts(data);
    let Some(start) = line.checked_sub(1).and_then(|l| starts.get(l)).copied() else {
        return data.len();
    };
    let rest = String::from_utf8_lossy(&data[start..]);
    let bytes: usize = rest.chars().take(col).map(char::len_utf8).sum();
    (start + bytes).min(data.len())
}

/// Text with long and short lines, `\r`, multi-byte characters of every width.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[a-z ]{0,150}",
            2 => Just("\n".to_owned()),
            1 => Just("\r\n".to_owned()),
            1 => Just("\r".to_owned()),
            2 => "[é€😀ñ名]{1,70}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// Bytes that are not always UTF-8 (JSON input is indexed before it is validated).
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => text().prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..90),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn offset_matches_a_scan_from_the_line_start(
        text in text(),
        queries in proptest::collection::vec((0usize..16, 0usize..400), 1..40),
    ) {
        let index = LineIndex::new(text.as_bytes());
        for (line, col) in queries {
            prop_assert_eq!(
                index.offset(line, col),
                naive_offset(text.as_bytes(), line, col),
                "line {} col {}", line, col
            );
        }
    }

    #[test]
    fn position_matches_a_scan_from_the_line_start(
        data in bytes(),
        queries in proptest::collection::vec(0usize..1200, 1..40),
    ) {
        let index = LineIndex::new(&data);
        let mut offsets: Vec<usize> = queries.iter().map(|q| q % (data.len() + 3)).collect();
        // Both orders: the old index remembered its last answer for increasing queries.
        offsets.extend(offsets.clone().into_iter().rev());
        for offset in offsets {
            prop_assert_eq!(index.position(offset), naive_position(&data, offset), "offset {}", offset);
        }
    }
}
