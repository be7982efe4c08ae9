//! The SQL of the change history (`entry_changes`, issue 13), in one place.
//!
//! The triggers that fill the table live with the schema (`sqlite::schema`); this module
//! reads it (the latest revision, a key's revision, the changes after a revision), writes
//! the one change a trigger cannot know about (a whole-group delete), and prunes it.
//!
//! Revisions are the table's rowid: SQLite numbers each new row one past the largest,
//! under the write lock, so revisions are strictly increasing and gap-free across every
//! connection and process sharing the file (a rolled-back change gives its number back).
//! Pruning never removes the newest row, so the numbering never restarts; a retained
//! history is therefore always one unbroken run `oldest..=latest`, and a revision older
//! than `oldest - 1` is known to be gone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::kv::entries::bytes;
use crate::kv::events::EventType;
use crate::sqlite::sql::{text, to_sql_integer};

/// One committed change, as recorded in the file's change history and delivered by a
/// [`ChangeWatcher`](crate::ChangeWatcher).
///
/// `key` is empty for [`EventType::DeleteGroup`]; `value` is empty for every kind but
/// [`EventType::Set`]. Unlike an [`Event`](crate::Event), a change carries its
/// revision and the value's exact bytes (a binary value is not made into text).
///
/// ```
/// use store::{EventType, Store};
/// let store = Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// let mut watcher = store.watch_from("config", "*", 0)?;
/// let change = watcher.recv()?.expect("the replayed set");
/// assert_eq!((change.revision, change.kind), (1, EventType::Set));
/// assert_eq!((change.key.as_str(), change.value_text()), ("colour", Some("blue")));
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The store-wide revision of the change: strictly increasing, gap-free.
    pub revision: u64,
    /// What happened: [`EventType::Set`], [`EventType::Delete`], [`EventType::Expire`]
    /// or [`EventType::DeleteGroup`].
    pub kind: EventType,
    /// The group changed (local to the namespace for a scoped watcher).
    pub group: String,
    /// The key changed; empty for a whole-group delete.
    pub key: String,
    /// The value written, byte for byte; empty for deletes and expiries.
    pub value: Vec<u8>,
    /// The expiry the write gave the key (Unix milliseconds), if any.
    pub expires_at: Option<i64>,
    /// When the change was committed, by the writer's clock (millisecond precision).
    pub timestamp: SystemTime,
}

impl Change {
    /// The value as text, or `None` when its bytes are not UTF-8 (a binary value).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", &[0xff])?;
    /// let mut watcher = store.watch_from("*", "*", 0)?;
    /// let change = watcher.recv()?.expect("the set");
    /// assert_eq!((change.value_text(), change.value.as_slice()), (None, &[0xff][..]));
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn value_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

// The store's own writes (`kv::entries`) give the row `(SELECT ifnull(max(revision), 0)
// + 1 FROM entry_changes)`: one past the newest change, the number SQLite then gives the
// change the trigger records. A write that names no revision (the Go package's) is
// stamped with it by the trigger (see `sqlite::schema`).

pub(crate) const SQL_LATEST: &str = "SELECT ifnull(max(revision), 0) FROM entry_changes";
const SQL_OLDEST: &str = "SELECT min(revision) FROM entry_changes";
const SQL_ENTRY_REVISION: &str = "SELECT entry_value, expires_at, ifnull(revision, 0)
    FROM entries WHERE group_name = ?1 AND entry_key = ?2";
const SQL_LIVE_REVISION: &str = "SELECT ifnull(revision, 0) FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
const SQL_GROUP_HAS_ROWS: &str = "SELECT 1 FROM entries WHERE group_name = ?1 LIMIT 1";
const SQL_RECORD_GROUP_DELETE: &str = "INSERT INTO entry_changes
    (kind, group_name, entry_key, entry_value, expires_at, changed_at)
    VALUES ('delete_group', ?1, '', NULL, NULL, ?2)";
pub(crate) const SQL_AFTER: &str =
    "SELECT revision, kind, group_name, entry_key, entry_value, expires_at,
        changed_at
    FROM entry_changes WHERE revision > ?1 ORDER BY revision LIMIT ?2";
const SQL_FIRST_RECENT: &str = "SELECT revision FROM entry_changes
    WHERE changed_at >= ?1 ORDER BY revision LIMIT 1";
/// At most `limit` rows per statement, oldest first, and never the newest row.
const SQL_PRUNE_BATCH: &str = "DELETE FROM entry_changes WHERE revision IN (
        SELECT revision FROM entry_changes WHERE revision < ?1 ORDER BY revision LIMIT ?2)";

/// The newest revision in the file; 0 before the first change.
pub(crate) fn latest(connection: &Connection) -> rusqlite::Result<u64> {
    connection
        .prepare_cached(SQL_LATEST)?
        .query_row([], |row| row.get::<_, i64>(0))
        .map(to_revision)
}

/// The oldest revision still retained; `None` when the history is empty.
pub(crate) fn oldest(connection: &Connection) -> rusqlite::Result<Option<u64>> {
    connection
        .prepare_cached(SQL_OLDEST)?
        .query_row([], |row| row.get::<_, Option<i64>>(0))
        .map(|oldest| oldest.map(to_revision))
}

/// A row's value, expiry and revision (0 for a row written before the file recorded
/// revisions), live or expired.
pub(crate) struct Revisioned {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revision: u64,
}

impl Revisioned {
    pub(crate) fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

pub(crate) fn entry(
    connection: &Connection,
    group: &str,
    key: &str,
) -> rusqlite::Result<Option<Revisioned>> {
    connection
        .prepare_cached(SQL_ENTRY_REVISION)?
        .query_row(params![group, key], |row| {
            Ok(Revisioned {
                value: bytes(row, 0)?,
                expires_at: row.get(1)?,
                revision: to_revision(row.get(2)?),
            })
        })
        .optional()
}

/// The revision of the key's live row (0 for a row written before the file recorded
/// revisions); `None` when it is missing or expired at `now_ms`. Reads no value.
pub(crate) fn live_revision(
    connection: &Connection,
    group: &str,
    key: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<u64>> {
    connection
        .prepare_cached(SQL_LIVE_REVISION)?
        .query_row(params![group, key, now_ms], |row| row.get::<_, i64>(0))
        .optional()
        .map(|revision| revision.map(to_revision))
}

/// Records a whole-group delete as one change, before the group's rows are deleted: the
/// delete trigger sees it as the newest change and records nothing per row. False (and
/// nothing recorded) when the group has no row. Run it in the delete's transaction.
pub(crate) fn record_group_delete(
    connection: &Connection,
    group: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    if !connection
        .prepare_cached(SQL_GROUP_HAS_ROWS)?
        .exists([group])?
    {
        return Ok(false);
    }
    connection
        .prepare_cached(SQL_RECORD_GROUP_DELETE)?
        .execute(params![group, now_ms])?;
    Ok(true)
}

/// Up to `limit` changes after `after`, oldest first.
pub(crate) fn after(
    connection: &Connection,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Change>> {
    connection
        .prepare_cached(SQL_AFTER)?
        .query_map(params![to_sql(after), to_sql_integer(limit)], |row| {
            Ok(Change {
                revision: to_revision(row.get(0)?),
                kind: kind_of(row.get_ref(1)?.as_str().unwrap_or("set")),
                group: text(row, 2)?,
                key: text(row, 3)?,
                value: bytes(row, 4)?,
                expires_at: row.get(5)?,
                timestamp: timestamp_of(row.get(6)?),
            })
        })?
        .collect()
}

/// The first revision the retention keeps: changes below it may be pruned. Never above
/// `latest`, so the newest change always stays.
pub(crate) fn keep_from(
    connection: &Connection,
    max_changes: Option<u64>,
    max_age_cutoff_ms: Option<i64>,
) -> rusqlite::Result<u64> {
    let latest = latest(connection)?;
    let first_recent = match max_age_cutoff_ms {
        Some(cutoff) => Some(
            connection
                .prepare_cached(SQL_FIRST_RECENT)?
                .query_row([cutoff], |row| row.get::<_, i64>(0))
                .optional()?
                .map_or(latest, to_revision),
        ),
        None => None,
    };
    Ok(retention_start(latest, max_changes, first_recent))
}

/// The first revision kept, given the newest one, the most changes to keep, and the
/// first change recent enough to keep (the newest when none is): never above `latest`,
/// so the newest change always stays. Both backends' `keep_from` end here.
pub(crate) fn retention_start(
    latest: u64,
    max_changes: Option<u64>,
    first_recent: Option<u64>,
) -> u64 {
    let mut keep_from = 1;
    if let Some(max_changes) = max_changes {
        keep_from = keep_from.max(latest.saturating_sub(max_changes.max(1)) + 1);
    }
    if let Some(first_recent) = first_recent {
        keep_from = keep_from.max(first_recent);
    }
    keep_from.min(latest.max(1))
}

/// A change's kind from its stored name; an unknown name (never written by the store)
/// reads as a set.
pub(crate) fn kind_of(name: &str) -> EventType {
    EventType::from_name(name).unwrap_or(EventType::Set)
}

/// A change's time from its stored Unix milliseconds.
pub(crate) fn timestamp_of(changed_at_ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(changed_at_ms).unwrap_or(0))
}

/// Deletes at most `limit` of the oldest changes below `keep_from`; returns how many.
pub(crate) fn prune_batch(
    connection: &Connection,
    keep_from: u64,
    limit: usize,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(SQL_PRUNE_BATCH)?
        .execute(params![to_sql(keep_from), to_sql_integer(limit)])
}

/// A revision read from the database (never negative).
pub(crate) fn to_revision(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A revision bound into SQL, saturating at the largest 64-bit integer.
pub(crate) fn to_sql(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}
