//! `cargo +nightly fuzz run archive`: read_archive on arbitrary file contents. The check is `store_fuzz::archive::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::archive::check(data));
