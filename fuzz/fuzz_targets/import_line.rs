//! `cargo +nightly fuzz run import_line`: the `store import` JSON-lines parser on arbitrary input. The check is `store_fuzz::import_line::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::import_line::check(data));
