//! Statistics: how big the store is and how far the journal's shipping has got.

use std::ffi::OsString;
use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::pipeline::outbox::{last_recorded_failure, Outbox};
use crate::postgresql::changes as pg_changes;
use crate::postgresql::entries as pg;
use crate::postgresql::journal as pg_journal;
use crate::postgresql::session::PgSession;
use crate::postgresql::PgResult;
use crate::sqlite::schema::MEMORY_PATH;
use crate::sqlite::sql::now_ms;
use crate::storage::{session, Conn};
use crate::store::Store;

/// Figures about a store, from [`Store::stats`], read together in one short read
/// transaction so that they agree with each other.
///
/// ```
/// use std::time::Duration;
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// store.set_with_ttl("cache", "page", "html", Duration::ZERO)?; // already expired
/// let stats = store.stats()?;
/// assert_eq!((stats.entries, stats.groups, stats.expired_unpurged), (1, 1, 1));
/// assert_eq!(stats.file_size_bytes, 0); // in memory
/// assert_eq!(stats.pending_exports, 0);
/// assert_eq!((stats.revision, stats.oldest_revision, stats.retained_changes), (2, 1, 2));
/// # Ok::<(), store::Error>(())
/// ```
///
/// Serialised (serde), its keys come in the declaration's order, as `store --json stats`
/// prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// The database file plus its write-ahead log, in bytes; 0 for `":memory:"`. For a
    /// PostgreSQL store: the size of its table and indexes.
    pub file_size_bytes: u64,
    /// Live entries.
    pub entries: u64,
    /// Groups with at least one live entry.
    pub groups: u64,
    /// Expired entries not yet removed by a purge.
    pub expired_unpurged: u64,
    /// Journal points not archived.
    pub journal_points: u64,
    /// Journal points archived by [`Store::compact`].
    pub archived_points: u64,
    /// Points waiting to be shipped to InfluxDB.
    pub pending_exports: u64,
    /// Points InfluxDB refused permanently; they stay in the outbox, never retried.
    pub failed_exports: u64,
    /// The most recent shipping failure since open while no batch has been accepted
    /// since, else the error of the newest refused point; `None` when neither exists.
    pub last_export_error: Option<String>,
    /// The store's newest revision ([`Store::revision`]); 0 before the first change, or
    /// for a file of an earlier release opened read-only.
    pub revision: u64,
    /// The oldest change still retained in the history; 0 when it is empty.
    pub oldest_revision: u64,
    /// Changes retained in the history (see
    /// [`StoreConfig::change_retention`](crate::StoreConfig::change_retention)).
    pub retained_changes: u64,
}

/// Every count in one statement: one snapshot of the database.
const SQL_COUNTS: &str = "SELECT
    (SELECT COUNT(*) FROM entries WHERE expires_at IS NULL OR expires_at > ?1),
    (SELECT COUNT(DISTINCT group_name) FROM entries
        WHERE expires_at IS NULL OR expires_at > ?1),
    (SELECT COUNT(*) FROM entries WHERE expires_at <= ?1),
    (SELECT COUNT(*) FROM journal_entries WHERE archived_at IS NULL),
    (SELECT COUNT(*) FROM journal_entries WHERE archived_at IS NOT NULL),
    (SELECT COUNT(*) FROM journal_outbox WHERE failed_at IS NULL),
    (SELECT COUNT(*) FROM journal_outbox WHERE failed_at IS NOT NULL)";

/// The change history's extent, read in the same snapshot (when the file has one).
const SQL_CHANGES: &str = "SELECT ifnull(max(revision), 0), ifnull(min(revision), 0), COUNT(*)
    FROM entry_changes";

impl Store {
    /// Counts entries, groups, journal points and the InfluxDB outbox, and measures the
    /// file, in one go.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let directory = tempfile::tempdir()?;
    /// let store = store::Store::open(directory.path().join("app.db"))?;
    /// store.set("config", "colour", "blue")?;
    /// let fields = serde_json::json!({"ok": true});
    /// store.commit_to_journal("login", fields.as_object().expect("an object"), &BTreeMap::new())?;
    /// let stats = store.stats()?;
    /// assert_eq!((stats.entries, stats.journal_points), (1, 1));
    /// assert!(stats.file_size_bytes > 0);
    /// assert_eq!(stats.last_export_error, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn stats(&self) -> Result<StoreStats> {
        const OPERATION: &str = "store.stats";
        if self.is_closed() {
            return Err(Error::Closed {
                operation: OPERATION,
            });
        }
        // Read before the database so that a failure recorded meanwhile is not missed.
        let recent_error = self.engine.outbox().and_then(Outbox::last_error);
        let has_change_feed = self.engine.database.has_change_feed();
        let path = self.database_path();
        let mut stats =
            self.engine
                .database
                .with_link(
                    OPERATION,
                    "read statistics",
                    |connection| match connection {
                        Conn::Sqlite(connection) => {
                            let mut stats = read_counts(connection, has_change_feed)?;
                            stats.file_size_bytes = file_size(&path);
                            Ok(stats)
                        }
                        Conn::Postgres(cell) => Ok(postgres_counts(&mut *session(cell)?)?),
                    },
                )?;
        stats.last_export_error = recent_error.or(stats.last_export_error);
        Ok(stats)
    }
}

/// The statistics of a PostgreSQL store: its entries, its journal and outbox, its change
/// history, and the size of its entries table and indexes as `file_size_bytes`.
fn postgres_counts(session: &mut PgSession) -> PgResult<StoreStats> {
    let [entries, groups, expired_unpurged, size] = pg::stats(session)?;
    let journal = pg_journal::stats(session)?;
    let (revision, oldest_revision, retained_changes) = pg_changes::extent(session)?;
    Ok(StoreStats {
        file_size_bytes: size,
        entries,
        groups,
        expired_unpurged,
        journal_points: journal.points,
        archived_points: journal.archived,
        pending_exports: journal.pending,
        failed_exports: journal.failed,
        last_export_error: journal.last_failure,
        revision,
        oldest_revision,
        retained_changes,
    })
}

fn read_counts(connection: &Connection, has_change_feed: bool) -> rusqlite::Result<StoreStats> {
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Deferred)?;
    let count = |row: &rusqlite::Row<'_>, index| {
        row.get::<_, i64>(index)
            .map(|count| u64::try_from(count).unwrap_or(0))
    };
    let mut stats = transaction
        .prepare_cached(SQL_COUNTS)?
        .query_row([now_ms()], |row| {
            Ok(StoreStats {
                entries: count(row, 0)?,
                groups: count(row, 1)?,
                expired_unpurged: count(row, 2)?,
                journal_points: count(row, 3)?,
                archived_points: count(row, 4)?,
                pending_exports: count(row, 5)?,
                failed_exports: count(row, 6)?,
                ..StoreStats::default()
            })
        })?;
    stats.last_export_error = last_recorded_failure(&transaction)?;
    if has_change_feed {
        (
            stats.revision,
            stats.oldest_revision,
            stats.retained_changes,
        ) = transaction
            .prepare_cached(SQL_CHANGES)?
            .query_row([], |row| {
                Ok((count(row, 0)?, count(row, 1)?, count(row, 2)?))
            })?;
    }
    transaction.commit()?;
    Ok(stats)
}

/// The database file and its `-wal` file; a file that cannot be read counts as empty.
fn file_size(path: &Path) -> u64 {
    if path.as_os_str() == MEMORY_PATH {
        return 0;
    }
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    let mut wal = OsString::from(path.as_os_str());
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}
