//! A schema change between two released versions that is not mechanical
//! (`ticket:updated` v1 -> v2 adds `priceCents` as required) needs a
//! hand-written `typebus::Upcast`; without it the generated code does not
//! compile, and the error names both versions and what to write.
include!("../../../codegen/tests/golden/versions/expected.rs");

fn main() {}
