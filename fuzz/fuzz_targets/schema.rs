//! Arbitrary bytes as a schema file: typebus-codegen loads and validates it,
//! and must answer with a model or diagnostics, never a panic or a hang.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    typebus_tests::fuzz::schema(data);
});
