//! The checks behind the fuzz targets: each module's `check(data)` feeds arbitrary bytes to
//! one entry point of the store and panics if the store panics, hangs on its own limits,
//! or answers with anything but a result or a clear error of the documented kind.
//!
//! The same functions run on the stable toolchain in `crates/store/tests/hostile_input.rs`
//! (which includes this file by path), driven by proptest, so CI checks "no panic, clear
//! error" on every push; cargo-fuzz drives them with coverage guidance where nightly
//! exists.
//!
//! `import_line` checks the CLI's parser, which the store's own tests cannot depend on: it
//! is left out of test builds (so `hostile_input.rs` compiles without the CLI crate) and
//! its stable version is `crates/store-cli/tests/hostile_input.rs`, which includes it by
//! path.

pub mod archive;
pub mod flux;
#[cfg(not(test))]
pub mod import_line;
pub mod namespace;
pub mod prefix;
pub mod template;
pub mod workspace_name;

use store::{Store, StoreConfig};

/// A private in-memory store with no background thread, cheap enough to open per input.
fn memory_store() -> Store {
    let config = StoreConfig {
        purge_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(":memory:")
    };
    Store::open_with(config).expect("open an in-memory store")
}
