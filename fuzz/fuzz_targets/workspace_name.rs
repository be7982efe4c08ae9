//! `cargo +nightly fuzz run workspace_name`: Store::new_workspace and open_workspace with arbitrary names. The check is `store_fuzz::workspace_name::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_fuzz::workspace_name::check(data));
