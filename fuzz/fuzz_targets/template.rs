//! `cargo +nightly fuzz run template`: Store::render on arbitrary template source and group entries. The check is `store_fuzz::template::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::template::check(data));
