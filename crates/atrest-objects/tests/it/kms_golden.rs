//! The plaintexts inside upstream's KMS v2 golden values (`TestKMSv2ProviderLegacyData` in
//! kmsv2_transformation_test.go): Secrets written by real
//! kube-apiserver v1.27.0 and v1.28.0. The transformers crate's oracle decrypted them into
//! crates/atrest-transformers/tests/data/kmsv2_legacy.json (`plaintext_hex`).

use atrest_objects::{StoredObject, decode_stored, encode_secret};
use serde::Deserialize;

#[derive(Deserialize)]
struct LegacyVector {
    name: String,
    plaintext_hex: String,
    secret_value: String,
}

#[test]
fn upstream_kms_v2_plaintexts_decode_and_reencode_byte_exact() {
    let vectors: Vec<LegacyVector> = serde_json::from_str(include_str!(
        "../../../atrest-transformers/tests/data/kmsv2_legacy.json"
    ))
    .expect("kmsv2_legacy.json parses");
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let plaintext = hex::decode(&v.plaintext_hex).expect("hex");
        let decoded = decode_stored(&plaintext).expect("decodes");
        let StoredObject::Secret(secret) = decoded else {
            panic!("{}: decoded as {decoded:?}", v.name);
        };
        assert_eq!(secret.metadata.name, v.name);
        assert_eq!(secret.metadata.namespace, "kms-v2-legacy-data");
        assert!(
            secret.data.values().any(|value| value == v.secret_value.as_bytes()),
            "{}: no data value equals the upstream secret value",
            v.name
        );
        // What the v1.27/v1.28 API server wrote is what we write for the same object.
        assert_eq!(hex::encode(encode_secret(&secret)), v.plaintext_hex, "{}", v.name);
    }
}
