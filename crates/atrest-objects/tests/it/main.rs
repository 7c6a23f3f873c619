//! Integration tests for atrest-objects: byte-exact agreement with the upstream Go serializer
//! (tests/data/objects.json, produced by xtask/go/oracle/cmd/object-oracle) and property tests.

mod cases;
mod kms_golden;
mod oracle;
mod props;
