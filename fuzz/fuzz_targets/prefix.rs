//! `cargo +nightly fuzz run prefix`: literal prefix matching (count_all, groups, delete_prefix) on arbitrary names. The check is `store_fuzz::prefix::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::prefix::check(data));
