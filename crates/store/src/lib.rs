//! An embedded key-value store for Rust programs, built on SQLite: a faithful, hardened
//! port of the Go package `dappco.re/go/core/store`. One file holds configuration,
//! sessions and caches; files written by the Go package open here unchanged.
//!
//! - **Groups of keys**: `set`, `get`, `delete`, counts, whole-group reads and paged
//!   iterators that hold no lock between pages, so a loop body may write to the store.
//! - **TTL** in three layers: expired entries are invisible to every read, deleted when
//!   `get` finds them, and purged in small batches by a background thread.
//! - **Literal prefixes**: `count_all("tenant-a:")`, `groups`, `delete_prefix` match byte
//!   for byte and case-sensitively; `%` and `_` are ordinary characters.
//! - **Change events**: watchers with `*` wildcards and bounded buffers that never block a
//!   writer (drops are counted), and callbacks that may call back into the store.
//! - **Binary values** (`set_bytes`, `get_bytes`; a Go reader sees the same bytes),
//!   **atomic counters** (`increment`), **expiry control** (`ttl`, `expire`, `persist`,
//!   `get_and_touch`) and **batches** in one lock (`get_many`, `set_many`,
//!   `delete_many`), on stores, scoped stores and transactions alike.
//! - **Revisions and a durable change feed**: every committed change gets a store-wide,
//!   gap-free revision in the same transaction, whoever wrote it; `get_with_revision`,
//!   compare-and-set (`set_if`, `delete_if`), and [`Store::watch_from`], a
//!   [`ChangeWatcher`] that replays the history after a revision and then follows new
//!   changes, from other processes too, without ever dropping one (see `revisions`).
//! - **Templates**: `render` fills a Go `text/template` from a group.
//! - **Export and import** of entries with their expiry, all or nothing.
//! - **Namespaces** for many tenants in one file, with key and group quotas checked
//!   atomically with the write ([`ScopedStore`]), and closure **transactions**.
//! - **Time series**: a [`Workspace`] buffers the small events of one unit of work and
//!   commits one aggregate point into the journal, exactly once even across crashes;
//!   `query_journal` takes a Flux subset or read-only SQL; `compact` moves old points into
//!   gzip or zstd JSON-lines archives, crash-safely.
//!
//! **PostgreSQL.** The same store opens on PostgreSQL with a URL in place of the path:
//! `Store::open("postgres://user@host/db")` (or `StoreConfig::new` with the URL; add
//! `?schema=NAME` to keep the tables in a schema of their own). On PostgreSQL today:
//! every key-value, TTL, bytes, counter, batch, namespace-and-quota, transaction, event,
//! revision and change-feed operation, export and import, and stats, with the same
//! results as on SQLite; change events and change watchers see what every server
//! connected to the database writes; writes are serialised per store schema on every
//! server, so quotas and revisions stay exact; the background purge runs on one server
//! at a time; a lost connection fails the call that met it and the next call connects
//! again. The journal works there too: `query_journal` runs Flux over the same rows, and
//! raw SQL (naming the same tables, in PostgreSQL's dialect) in a `READ ONLY`
//! transaction with the same time and row limits, always rolled back; InfluxDB shipping
//! claims outbox rows with `FOR UPDATE SKIP LOCKED`, so two servers never ship the same
//! point. Workspaces stay local scratch files and commit into the PostgreSQL journal
//! exactly once, and `compact` archives it into local files with the same crash-safety.
//! The design and its trade-offs are in the `postgresql` module's docs.
//!
//! Cargo features, both on by default: `influx` (the InfluxDB client, ureq with rustls)
//! and `zstd` (zstd archives). Without `influx` a journal configuration is refused;
//! without `zstd` only gzip archives are written and read.
//!
//! ```
//! use std::time::Duration;
//! use store::{EventType, Store};
//!
//! let store = Store::open(":memory:")?; // or a file path, e.g. ".core/store.db"
//!
//! // Configuration: plain keys in a group.
//! store.set("config", "colour", "blue")?;
//! store.set("config", "size", "10")?;
//! assert_eq!(store.get("config", "colour")?, "blue");
//! assert_eq!(store.count("config")?, 2);
//!
//! // Sessions and caches: entries that expire.
//! store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(3600))?;
//! assert!(store.exists("sessions", "alice")?);
//!
//! // React to changes.
//! let watcher = store.watch("config", "*");
//! store.set("config", "colour", "green")?;
//! let event = watcher.recv().expect("the set event");
//! assert_eq!((event.kind, event.value.as_str()), (EventType::Set, "green"));
//!
//! // Fill a template from a group.
//! let line = store.render("{{ .colour }} at size {{ .size }}", "config")?;
//! assert_eq!(line, "green at size 10");
//!
//! // Every change has a revision: compare-and-set, and a feed that resumes.
//! let (_, revision) = store.get_with_revision("config", "colour")?;
//! store.set_if("config", "colour", "red", Some(revision))?;
//! assert!(store.set_if("config", "colour", "pink", Some(revision)).unwrap_err().is_conflict());
//! let mut feed = store.watch_from("config", "colour", revision)?;
//! assert_eq!(feed.recv()?.and_then(|change| change.value_text().map(str::to_owned)), Some("red".to_owned()));
//!
//! // Walk a group a page at a time.
//! let keys: Vec<String> = store
//!     .all("config")
//!     .map(|entry| entry.map(|entry| entry.key))
//!     .collect::<store::Result<_>>()?;
//! assert_eq!(keys, ["colour", "size"]);
//!
//! store.close()?;
//! # Ok::<(), store::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(clippy::all, clippy::pedantic, missing_docs)]
// Public only where it is needed: the crate's surface is the `pub use` block below.
#![allow(clippy::module_name_repetitions)]

// The layers, lowest first; a module imports only from its own layer or lower ones, and
// nothing inside a layer folder names the public handles.
//
// Foundation: `error`, `config`, `crash` (fault injection for the crash tests), `sync`.
mod config;
mod crash;
mod error;
mod sync;
// Storage: the SQLite connection, schema, SQL helpers, read-only queries and paging.
mod postgresql;
mod sqlite;
mod storage;
// Key-value: the entries SQL, namespaces, events and the operations written once.
mod kv;
// The time-series pipeline: points, Flux, archives, outbox, line protocol, InfluxDB.
mod pipeline;
// Background threads: the purge and the shipper, each driven by a closure.
mod background;
// The engine every clone of a store shares: connection, events, outbox, workers.
mod engine;
// The public face.
#[cfg(feature = "tokio")]
mod asynchronous;
mod compact;
mod journal;
mod open;
mod revisions;
mod scoped;
mod stats;
mod store;
mod transaction;
mod transfer;
mod values;
mod workspace;
// The Go text/template engine, a crate of its own (`crates/store-template`).
use store_template as template;

#[doc(hidden)]
pub mod statements;

#[cfg(feature = "tokio")]
pub use crate::asynchronous::{
    AsyncChangeWatcher, AsyncScopedStore, AsyncStore, AsyncWatcher, PageStream,
};
pub use crate::config::{
    ChangeRetention, Durability, JournalConfig, JournalProtocol, QuotaConfig, ScopedStoreConfig,
    StoreConfig, DEFAULT_WAL_SIZE_LIMIT,
};
pub use crate::error::{Error, QuotaLimit, Result};
pub use crate::kv::changes::Change;
pub use crate::kv::entries::KeyValue;
pub use crate::kv::events::{Event, EventType, Subscription, Watcher};
pub use crate::pipeline::archive::{read_archive, ArchiveFormat, CompactOptions};
pub use crate::pipeline::point::{JournalEntry, Row};
pub use crate::revisions::ChangeWatcher;
pub use crate::scoped::{ScopedStore, ScopedTransaction};
pub use crate::sqlite::query::{is_sql_query, Table};
pub use crate::stats::StoreStats;
pub use crate::store::Store;
pub use crate::transaction::Transaction;
pub use crate::transfer::{Entry, RawEntry};
pub use crate::workspace::Workspace;
