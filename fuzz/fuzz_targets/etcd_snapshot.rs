//! Reading arbitrary etcd snapshot files: never a panic, never a hang. Raw bytes rarely pass
//! bbolt's meta checksum, so the input is also read behind two valid meta pages (1 KiB pages,
//! the root where the input's first byte says), which sends it into the page walk.
#![no_main]

use libfuzzer_sys::fuzz_target;

const PAGE: usize = 1024;

fn meta(txid: u64, root: u64, high_water: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&(PAGE as u32).to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&root.to_le_bytes());
    m.extend_from_slice(&0u64.to_le_bytes());
    m.extend_from_slice(&u64::MAX.to_le_bytes());
    m.extend_from_slice(&high_water.to_le_bytes());
    m.extend_from_slice(&txid.to_le_bytes());
    let sum = m.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    m.extend_from_slice(&sum.to_le_bytes());
    let mut page = vec![0; PAGE];
    page[8] = 0x04;
    page[16..16 + m.len()].copy_from_slice(&m);
    page
}

fuzz_target!(|data: &[u8]| {
    let _ = atrest_etcd::snapshot::read(data);
    let Some((&first, rest)) = data.split_first() else { return };
    let pages = rest.len().div_ceil(PAGE) as u64;
    let root = 2 + u64::from(first % 4);
    let mut file = meta(1, root, 2 + pages);
    file.extend(meta(2, root, 2 + pages));
    file.extend_from_slice(rest);
    let _ = atrest_etcd::snapshot::read(&file);
});
