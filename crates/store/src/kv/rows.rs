//! The entry statements on whichever database holds the store: each function runs
//! SQLite's statement (`kv::entries`) or PostgreSQL's (`postgres::entries`), which give the
//! same results.

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;

use crate::kv::changes::{self, Change, Revisioned};
use crate::kv::entries::{self, Expiry, KeyValue, Lookup, StoredRow};
use crate::postgresql::changes as pg_changes;
use crate::postgresql::entries as pg;
use crate::storage::{session, Conn, StorageError, StorageResult};

/// Runs `function` of `kv::entries` or of `postgres::entries`, with the same arguments.
macro_rules! on_either {
    ($conn:expr, $function:ident($($argument:expr),*)) => {
        match $conn {
            Conn::Sqlite(connection) => {
                entries::$function(connection, $($argument),*).map_err(StorageError::from)
            }
            Conn::Postgres(cell) => {
                pg::$function(&mut *session(cell)?, $($argument),*).map_err(StorageError::from)
            }
        }
    };
}

pub(crate) fn exists(conn: &mut Conn<'_>, group: &str, key: &str) -> StorageResult<bool> {
    on_either!(conn, exists(group, key))
}

pub(crate) fn delete(conn: &mut Conn<'_>, group: &str, key: &str) -> StorageResult<bool> {
    on_either!(conn, delete(group, key))
}

/// Run it atomically (SQLite records the group's removal in the change history first).
pub(crate) fn delete_group(conn: &mut Conn<'_>, group: &str) -> StorageResult<bool> {
    on_either!(conn, delete_group(group))
}

pub(crate) fn delete_prefix(conn: &mut Conn<'_>, prefix: &str) -> StorageResult<Vec<String>> {
    on_either!(conn, delete_prefix(prefix))
}

pub(crate) fn count(conn: &mut Conn<'_>, group: &str) -> StorageResult<usize> {
    on_either!(conn, count(group))
}

pub(crate) fn count_prefix(conn: &mut Conn<'_>, prefix: &str) -> StorageResult<usize> {
    on_either!(conn, count_prefix(prefix))
}

pub(crate) fn count_prefix_up_to(
    conn: &mut Conn<'_>,
    prefix: &str,
    limit: usize,
) -> StorageResult<usize> {
    on_either!(conn, count_prefix_up_to(prefix, limit))
}

pub(crate) fn count_groups_prefix_up_to(
    conn: &mut Conn<'_>,
    prefix: &str,
    limit: usize,
) -> StorageResult<usize> {
    on_either!(conn, count_groups_prefix_up_to(prefix, limit))
}

pub(crate) fn group_is_live(conn: &mut Conn<'_>, group: &str) -> StorageResult<bool> {
    on_either!(conn, group_is_live(group))
}

pub(crate) fn get_all(conn: &mut Conn<'_>, group: &str) -> StorageResult<BTreeMap<String, String>> {
    on_either!(conn, get_all(group))
}

pub(crate) fn get_page(
    conn: &mut Conn<'_>,
    group: &str,
    offset: usize,
    limit: usize,
) -> StorageResult<Vec<KeyValue>> {
    on_either!(conn, get_page(group, offset, limit))
}

pub(crate) fn key_page(
    conn: &mut Conn<'_>,
    group: &str,
    after: Option<&str>,
) -> StorageResult<Vec<KeyValue>> {
    on_either!(conn, key_page(group, after))
}

pub(crate) fn groups(conn: &mut Conn<'_>, prefix: &str) -> StorageResult<Vec<String>> {
    on_either!(conn, groups(prefix))
}

pub(crate) fn group_page(
    conn: &mut Conn<'_>,
    prefix: &str,
    after: Option<&str>,
) -> StorageResult<Vec<String>> {
    on_either!(conn, group_page(prefix, after))
}

pub(crate) fn purge_batch(
    conn: &mut Conn<'_>,
    prefix: &str,
    cutoff: i64,
    limit: usize,
) -> StorageResult<Vec<(String, String)>> {
    on_either!(conn, purge_batch(prefix, cutoff, limit))
}

pub(crate) fn lookup_bytes(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
) -> StorageResult<Lookup<Vec<u8>>> {
    on_either!(conn, lookup_bytes(group, key))
}

/// A live row's bytes and expiry; on PostgreSQL the row stays locked until commit, so
/// run it atomically.
pub(crate) fn live_bytes(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
) -> StorageResult<Option<(Vec<u8>, Option<i64>)>> {
    on_either!(conn, live_bytes(group, key))
}

pub(crate) fn expiry(conn: &mut Conn<'_>, group: &str, key: &str) -> StorageResult<Expiry> {
    on_either!(conn, expiry(group, key))
}

/// Writes a value, kept as text (`ValueRef::Text`) or bytes (`ValueRef::Blob`).
pub(crate) fn upsert_value(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
    value: ValueRef<'_>,
    expires_at: Option<i64>,
) -> StorageResult<()> {
    match conn {
        Conn::Sqlite(connection) => Ok(entries::upsert_value(
            connection, group, key, value, expires_at,
        )?),
        Conn::Postgres(cell) => {
            let (bytes, is_text) = match value {
                ValueRef::Text(bytes) => (bytes, true),
                ValueRef::Blob(bytes) => (bytes, false),
                // The store itself binds only text and bytes.
                _ => {
                    return Err(StorageError::Unsupported(
                        "a value that is neither text nor bytes",
                    ))
                }
            };
            Ok(pg::upsert_value(
                &mut *session(cell)?,
                group,
                key,
                bytes,
                is_text,
                expires_at,
            )?)
        }
    }
}

/// Sets a live row's expiry; with `want_value` its bytes, else an empty vector; `None`
/// when there is no live row.
pub(crate) fn expire(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
    expires_at: i64,
    want_value: bool,
) -> StorageResult<Option<Vec<u8>>> {
    match conn {
        Conn::Sqlite(connection) => Ok(entries::expire(
            connection, group, key, expires_at, want_value,
        )?),
        Conn::Postgres(cell) => Ok(pg::expire(&mut *session(cell)?, group, key, expires_at)?),
    }
}

/// Removes a live row's expiry, as [`expire`].
pub(crate) fn persist(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
    want_value: bool,
) -> StorageResult<Option<Vec<u8>>> {
    match conn {
        Conn::Sqlite(connection) => Ok(entries::persist(connection, group, key, want_value)?),
        Conn::Postgres(cell) => Ok(pg::persist(&mut *session(cell)?, group, key)?),
    }
}

/// The live values of `keys`, in their order (`None` for a missing or expired key).
pub(crate) fn get_many<K: AsRef<str>>(
    conn: &mut Conn<'_>,
    group: &str,
    keys: &[K],
) -> StorageResult<Vec<Option<Vec<u8>>>> {
    match conn {
        Conn::Sqlite(connection) => Ok(entries::get_many(connection, group, keys)?),
        Conn::Postgres(cell) => Ok(entries::in_order(
            keys,
            pg::get_many(&mut *session(cell)?, group, keys)?,
        )),
    }
}

pub(crate) fn delete_many<K: AsRef<str>>(
    conn: &mut Conn<'_>,
    group: &str,
    keys: &[K],
) -> StorageResult<Vec<String>> {
    on_either!(conn, delete_many(group, keys))
}

/// Takes the background purge's lock if it is free: on PostgreSQL, a session lock per
/// store schema, so that one server purges at a time; false when another holds it. An
/// SQLite file needs none (its purge batches take the write lock anyway): always true.
pub(crate) fn try_lock_purge(conn: &mut Conn<'_>) -> StorageResult<bool> {
    match conn {
        Conn::Sqlite(_) => Ok(true),
        Conn::Postgres(cell) => Ok(pg::try_lock_purge(&mut *session(cell)?)?),
    }
}

/// Gives the background purge's lock back (see [`try_lock_purge`]).
pub(crate) fn unlock_purge(conn: &mut Conn<'_>) -> StorageResult<()> {
    match conn {
        Conn::Sqlite(_) => Ok(()),
        Conn::Postgres(cell) => Ok(pg::unlock_purge(&mut *session(cell)?)?),
    }
}

/// Runs statements without parameters: savepoints.
pub(crate) fn batch(conn: &mut Conn<'_>, sql: &str) -> StorageResult<()> {
    match conn {
        Conn::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
        Conn::Postgres(cell) => Ok(session(cell)?.batch(sql)?),
    }
}

/// One page of live rows under `prefix` in (group, key) order, after `after`.
pub(crate) fn export_page(
    conn: &mut Conn<'_>,
    prefix: &str,
    after: Option<(&str, &str)>,
) -> StorageResult<Vec<StoredRow>> {
    on_either!(conn, export_page(prefix, after))
}

// The change history (`kv::changes` on SQLite, `postgresql::changes` on PostgreSQL).

/// Runs `function` of `kv::changes` or of `postgresql::changes`, with the same arguments.
macro_rules! on_either_history {
    ($conn:expr, $function:ident($($argument:expr),*)) => {
        match $conn {
            Conn::Sqlite(connection) => {
                changes::$function(connection, $($argument),*).map_err(StorageError::from)
            }
            Conn::Postgres(cell) => {
                pg_changes::$function(&mut *session(cell)?, $($argument),*)
                    .map_err(StorageError::from)
            }
        }
    };
}

/// The newest revision; 0 before the first change.
pub(crate) fn latest_revision(conn: &mut Conn<'_>) -> StorageResult<u64> {
    on_either_history!(conn, latest())
}

/// The oldest revision still retained; `None` when the history is empty.
pub(crate) fn oldest_revision(conn: &mut Conn<'_>) -> StorageResult<Option<u64>> {
    on_either_history!(conn, oldest())
}

/// A row's value, expiry and revision, live or expired.
pub(crate) fn entry_with_revision(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
) -> StorageResult<Option<Revisioned>> {
    on_either_history!(conn, entry(group, key))
}

/// The revision of the key's live row; `None` when it is missing or expired.
pub(crate) fn live_revision(
    conn: &mut Conn<'_>,
    group: &str,
    key: &str,
    now_ms: i64,
) -> StorageResult<Option<u64>> {
    on_either_history!(conn, live_revision(group, key, now_ms))
}

/// Up to `limit` changes after `after`, oldest first.
pub(crate) fn changes_after(
    conn: &mut Conn<'_>,
    after: u64,
    limit: usize,
) -> StorageResult<Vec<Change>> {
    on_either_history!(conn, after(after, limit))
}

/// The first revision the retention keeps.
pub(crate) fn keep_from(
    conn: &mut Conn<'_>,
    max_changes: Option<u64>,
    max_age_cutoff_ms: Option<i64>,
) -> StorageResult<u64> {
    on_either_history!(conn, keep_from(max_changes, max_age_cutoff_ms))
}

/// Deletes at most `limit` of the oldest changes below `keep_from`; returns how many.
pub(crate) fn prune_changes(
    conn: &mut Conn<'_>,
    keep_from: u64,
    limit: usize,
) -> StorageResult<usize> {
    on_either_history!(conn, prune_batch(keep_from, limit))
}
