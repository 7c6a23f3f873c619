//! Decoding and rendering arbitrary plaintext stored values: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = atrest_objects::decode_stored(data) {
        let _ = atrest_objects::to_json_value(&object);
    }
    let mut framed = atrest_objects::PROTOBUF_MAGIC.to_vec();
    framed.extend_from_slice(data);
    if let Ok(object) = atrest_objects::decode_stored(&framed) {
        let _ = atrest_objects::to_json_value(&object);
    }
});
