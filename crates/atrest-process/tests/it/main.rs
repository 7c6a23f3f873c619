//! atrest-process integration tests: one binary, one module per area.

mod process;
