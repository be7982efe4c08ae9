//! `cargo +nightly fuzz run namespace`: ScopedStore construction from arbitrary namespace names. The check is `store_fuzz::namespace::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::namespace::check(data));
