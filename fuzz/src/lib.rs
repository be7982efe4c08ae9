//! The checks behind the fuzz targets: each module's `check(data)` feeds arbitrary bytes to
//! one entry point of the store and panics if the store panics, hangs on its own limits,
//! or answers with anything but a result or a clear error of the documented kind.
//!
//! The same functions run on the stable toolchain in `crates/store/tests/hostile_input.rs`
//! (which includes this file by path), driven by proptest, so CI checks "no panic, clear
//! error" on every push; cargo-fuzz drives them with coverage guidance where nightly
//! exists.
//!
//! Pending, added as one module each when the code exists: the Flux parser
//! (`query_journal`), `read_archive` on arbitrary bytes, workspace names, and CLI import
//! lines.

pub mod namespace;
pub mod prefix;
pub mod template;

use store::{Store, StoreConfig};

/// A private in-memory store with no background thread, cheap enough to open per input.
fn memory_store() -> Store {
    let config = StoreConfig {
        purge_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(":memory:")
    };
    Store::open_with(config).expect("open an in-memory store")
}
