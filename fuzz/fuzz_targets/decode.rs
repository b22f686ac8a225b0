//! `AnyEvent::decode` on arbitrary bytes: the first byte picks the subject,
//! the rest is the payload. It must decode or fail, never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    typebus_tests::fuzz::decode(data);
});
