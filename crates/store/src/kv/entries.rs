//! The SQL of the `entries` table, in one place.
//!
//! Each function runs on a connection it is handed, so the same statements serve a plain
//! store call (which takes the lock around one of them) and a transaction (which holds
//! the lock around many). Every statement is cached after its first use and every value
//! is bound, never spliced into the SQL.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::sqlite::paging::PAGE_SIZE;
use crate::sqlite::sql::{from_sql_count, now_ms, text, to_sql_integer, PrefixEnd};

/// A key and its value, as yielded by `Store::all` and returned by `Store::get_page`.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// let page = store.get_page("config", 0, 10)?;
/// assert_eq!(page, vec![store::KeyValue { key: "colour".into(), value: "blue".into() }]);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The entry's key.
    pub key: String,
    /// The entry's value.
    pub value: String,
}

// A live row has no expiry or one still in the future; `now` is bound per statement.
pub(crate) const SQL_GET: &str =
    "SELECT entry_value, expires_at FROM entries WHERE group_name = ?1 AND entry_key = ?2";
pub(crate) const SQL_DELETE_IF_EXPIRED: &str = "DELETE FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND expires_at IS NOT NULL AND expires_at <= ?3";
pub(crate) const SQL_EXISTS: &str = "SELECT 1 FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
pub(crate) const SQL_UPSERT: &str =
    "INSERT INTO entries (group_name, entry_key, entry_value, expires_at)
    VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (group_name, entry_key)
    DO UPDATE SET entry_value = excluded.entry_value, expires_at = excluded.expires_at";
pub(crate) const SQL_DELETE: &str = "DELETE FROM entries WHERE group_name = ?1 AND entry_key = ?2";
const SQL_DELETE_GROUP: &str = "DELETE FROM entries WHERE group_name = ?1";
const SQL_PREFIX_GROUPS_ANY: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 ORDER BY group_name";
const SQL_DELETE_PREFIX: &str = "DELETE FROM entries WHERE group_name >= ?1 AND group_name < ?2";
pub(crate) const SQL_COUNT: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const SQL_COUNT_PREFIX: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)";
// Quota checks only need to know whether a count reached the limit, so they stop
// counting there: their cost is bounded by the quota, not by the namespace's size.
pub(crate) const SQL_COUNT_PREFIX_UP_TO: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    LIMIT ?4)";
pub(crate) const SQL_COUNT_GROUPS_PREFIX_UP_TO: &str =
    "SELECT COUNT(*) FROM (SELECT DISTINCT group_name
    FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    LIMIT ?4)";
pub(crate) const SQL_GROUP_IS_LIVE: &str = "SELECT 1 FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2) LIMIT 1";
pub(crate) const SQL_GET_ALL: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY entry_key";
const SQL_GET_PAGE: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2)
    ORDER BY entry_key LIMIT ?3 OFFSET ?4";
// Keyset pages: `>=` with "" (the smallest text) starts at the beginning, `>` continues.
pub(crate) const SQL_KEYS_FIRST: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key >= ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
pub(crate) const SQL_KEYS_NEXT: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key > ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
pub(crate) const SQL_GROUPS: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name";
const SQL_GROUPS_FIRST: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name LIMIT ?4";
const SQL_GROUPS_NEXT: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name > ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name LIMIT ?4";
/// At most `limit` rows per statement, so a writer never waits behind one huge delete.
/// The row-value `IN` works on both `WITHOUT ROWID` and Go's rowid tables.
pub(crate) const SQL_PURGE_BATCH: &str = "DELETE FROM entries WHERE (group_name, entry_key) IN (
        SELECT group_name, entry_key FROM entries
        WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND group_name >= ?2 AND group_name < ?3
        LIMIT ?4)
    RETURNING group_name, entry_key";

/// What a point read found.
pub(crate) enum Lookup {
    Live(String),
    Missing,
    /// Expired; `was_deleted` when this read removed the row.
    Expired {
        was_deleted: bool,
    },
}

/// Reads a key; an expired row is deleted on the way (lazy expiry).
pub(crate) fn lookup(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<Lookup> {
    let row = connection
        .prepare_cached(SQL_GET)?
        .query_row(params![group, key], |row| {
            Ok((text(row, 0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    let Some((value, expires_at)) = row else {
        return Ok(Lookup::Missing);
    };
    let now = now_ms();
    match expires_at {
        Some(expires_at) if expires_at <= now => {
            // A read-only store reports the entry missing and leaves it for a writer.
            if connection.is_readonly(rusqlite::MAIN_DB)? {
                return Ok(Lookup::Expired { was_deleted: false });
            }
            let removed = connection
                .prepare_cached(SQL_DELETE_IF_EXPIRED)?
                .execute(params![group, key, now])?;
            Ok(Lookup::Expired {
                was_deleted: removed > 0,
            })
        }
        _ => Ok(Lookup::Live(value)),
    }
}

pub(crate) fn exists(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(SQL_EXISTS)?
        .exists(params![group, key, now_ms()])
}

pub(crate) fn upsert(
    connection: &Connection,
    group: &str,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(SQL_UPSERT)?
        .execute(params![group, key, value, expires_at])
        .map(drop)
}

/// True when a row was removed.
pub(crate) fn delete(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<bool> {
    Ok(connection
        .prepare_cached(SQL_DELETE)?
        .execute(params![group, key])?
        > 0)
}

/// True when at least one row was removed.
pub(crate) fn delete_group(connection: &Connection, group: &str) -> rusqlite::Result<bool> {
    Ok(connection
        .prepare_cached(SQL_DELETE_GROUP)?
        .execute([group])?
        > 0)
}

/// Removes every group literally prefixed by `prefix`; returns their names, ascending.
/// Run it inside a transaction so the list and the delete agree.
pub(crate) fn delete_prefix(
    connection: &Connection,
    prefix: &str,
) -> rusqlite::Result<Vec<String>> {
    let end = PrefixEnd::new(prefix);
    let groups = connection
        .prepare_cached(SQL_PREFIX_GROUPS_ANY)?
        .query_map(params![prefix, end], |row| text(row, 0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    connection
        .prepare_cached(SQL_DELETE_PREFIX)?
        .execute(params![prefix, end])?;
    Ok(groups)
}

pub(crate) fn count(connection: &Connection, group: &str) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(SQL_COUNT)?
        .query_row(params![group, now_ms()], |row| row.get(0))
        .map(from_sql_count)
}

pub(crate) fn count_prefix(connection: &Connection, prefix: &str) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(SQL_COUNT_PREFIX)?
        .query_row(params![prefix, PrefixEnd::new(prefix), now_ms()], |row| {
            row.get(0)
        })
        .map(from_sql_count)
}

/// The number of live rows under `prefix`, counting no further than `limit`.
pub(crate) fn count_prefix_up_to(
    connection: &Connection,
    prefix: &str,
    limit: usize,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(SQL_COUNT_PREFIX_UP_TO)?
        .query_row(
            params![
                prefix,
                PrefixEnd::new(prefix),
                now_ms(),
                to_sql_integer(limit)
            ],
            |row| row.get(0),
        )
        .map(from_sql_count)
}

/// The number of distinct groups with a live row under `prefix`, counting no further
/// than `limit`.
pub(crate) fn count_groups_prefix_up_to(
    connection: &Connection,
    prefix: &str,
    limit: usize,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(SQL_COUNT_GROUPS_PREFIX_UP_TO)?
        .query_row(
            params![
                prefix,
                PrefixEnd::new(prefix),
                now_ms(),
                to_sql_integer(limit)
            ],
            |row| row.get(0),
        )
        .map(from_sql_count)
}

/// True when the group has at least one live row.
pub(crate) fn group_is_live(connection: &Connection, group: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(SQL_GROUP_IS_LIVE)?
        .exists(params![group, now_ms()])
}

pub(crate) fn get_all(
    connection: &Connection,
    group: &str,
) -> rusqlite::Result<BTreeMap<String, String>> {
    connection
        .prepare_cached(SQL_GET_ALL)?
        .query_map(params![group, now_ms()], |row| {
            Ok((text(row, 0)?, text(row, 1)?))
        })?
        .collect()
}

pub(crate) fn get_page(
    connection: &Connection,
    group: &str,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<Vec<KeyValue>> {
    connection
        .prepare_cached(SQL_GET_PAGE)?
        .query_map(
            params![
                group,
                now_ms(),
                to_sql_integer(limit),
                to_sql_integer(offset)
            ],
            key_value,
        )?
        .collect()
}

/// One page of [`PAGE_SIZE`] live entries after `after` (from the start when `None`).
pub(crate) fn key_page(
    connection: &Connection,
    group: &str,
    after: Option<&str>,
) -> rusqlite::Result<Vec<KeyValue>> {
    let (sql, after) = match after {
        None => (SQL_KEYS_FIRST, ""),
        Some(last) => (SQL_KEYS_NEXT, last),
    };
    connection
        .prepare_cached(sql)?
        .query_map(
            params![group, after, now_ms(), to_sql_integer(PAGE_SIZE)],
            key_value,
        )?
        .collect()
}

pub(crate) fn groups(connection: &Connection, prefix: &str) -> rusqlite::Result<Vec<String>> {
    connection
        .prepare_cached(SQL_GROUPS)?
        .query_map(params![prefix, PrefixEnd::new(prefix), now_ms()], |row| {
            text(row, 0)
        })?
        .collect()
}

/// One page of [`PAGE_SIZE`] live group names under `prefix`, after `after`.
pub(crate) fn group_page(
    connection: &Connection,
    prefix: &str,
    after: Option<&str>,
) -> rusqlite::Result<Vec<String>> {
    let (sql, after) = match after {
        None => (SQL_GROUPS_FIRST, prefix),
        Some(last) => (SQL_GROUPS_NEXT, last),
    };
    connection
        .prepare_cached(sql)?
        .query_map(
            params![
                after,
                PrefixEnd::new(prefix),
                now_ms(),
                to_sql_integer(PAGE_SIZE)
            ],
            |row| text(row, 0),
        )?
        .collect()
}

/// Deletes up to `limit` rows under `prefix` that expired at or before `cutoff`; returns
/// their (group, key).
pub(crate) fn purge_batch(
    connection: &Connection,
    prefix: &str,
    cutoff: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String)>> {
    connection
        .prepare_cached(SQL_PURGE_BATCH)?
        .query_map(
            params![
                cutoff,
                prefix,
                PrefixEnd::new(prefix),
                to_sql_integer(limit)
            ],
            |row| Ok((text(row, 0)?, text(row, 1)?)),
        )?
        .collect()
}

fn key_value(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: text(row, 0)?,
        value: text(row, 1)?,
    })
}
