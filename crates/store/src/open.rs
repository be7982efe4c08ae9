//! Opening a store: the configuration checked, the engine opened, interrupted work
//! recovered, and the background started, in the order of SPEC.md's open steps.
//!
//! The entry point sits above every other part of the public face, so that `store.rs`
//! needs none of the modules that recover (compaction, workspaces) and no import runs
//! back up.

use std::path::Path;

use crate::compact;
use crate::config::StoreConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::workspace;

impl Store {
    /// Opens (or creates) the store at `database_path` with every other setting at its
    /// default. `":memory:"` opens a private in-memory store. Go: `New`.
    ///
    /// ```
    /// let directory = tempfile::tempdir()?;
    /// let store = store::Store::open(directory.path().join("app.db"))?;
    /// store.set("config", "colour", "blue")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Database` or `Io` (operation `store.open`) when the file cannot be opened, is not
    /// a SQLite database, or its schema cannot be made ready.
    pub fn open(database_path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(StoreConfig::new(database_path.as_ref()))
    }

    /// Opens the store described by `config`. Go: `NewConfigured`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store::StoreConfig {
    ///     purge_interval: Duration::ZERO, // no background purge
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// let store = store::Store::open_with(config)?;
    /// assert!(!store.is_closed());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` (`validate config: …`) for a bad configuration; otherwise as
    /// [`Store::open`].
    pub fn open_with(config: StoreConfig) -> Result<Store> {
        config.validate().map_err(|error| match error {
            Error::InvalidInput { operation, message } => Error::InvalidInput {
                operation,
                message: format!("validate config: {message}"),
            },
            other => other,
        })?;
        let engine = Engine::open(config.normalised())?;
        let store = Store { engine };
        // Recovery before the background starts, as the open steps of SPEC.md say; a
        // read-only store recovers nothing that would write.
        if !store.engine.config.read_only {
            compact::finish_interrupted_at_open(&store);
        }
        workspace::cache_orphans_at_open(&store);
        store.engine.start_background()?;
        Ok(store)
    }
}
