//! Integration tests: known-answer vectors, upstream-written values and full upstream chains
//! (all produced by xtask/go/oracle/cmd/transform-oracle, see tests/data/README.md), upstream's
//! KMS v2 golden values, property tests and `Envelope::parse`.

mod chain;
mod envelope;
mod errors;
mod kat;
mod kms_cache;
mod legacy;
mod props;
mod redaction;
mod resources;
mod support;
