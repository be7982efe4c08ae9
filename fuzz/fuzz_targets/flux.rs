//! `cargo +nightly fuzz run flux`: Store::query_journal on arbitrary text (the Flux parser, and SQL). The check is `store_fuzz::flux::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::flux::check(data));
