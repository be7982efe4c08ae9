//! The SQL of the `entries` table, in one place.
//!
//! Each function runs on a connection it is handed, so the same statements serve a plain
//! store call (which takes the lock around one of them) and a transaction (which holds
//! the lock around many). Every statement is cached after its first use and every value
//! is bound, never spliced into the SQL.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::kv::changes;
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
// The writes name their revision, one past the newest change (see `kv::changes`): the
// number the change trigger's history row gets, so the trigger need not stamp the row.
// Each statement writes one row, so the number computed once per statement is exact.
pub(crate) const SQL_UPSERT: &str =
    "INSERT INTO entries (group_name, entry_key, entry_value, expires_at, revision)
    VALUES (?1, ?2, ?3, ?4, (SELECT ifnull(max(revision), 0) + 1 FROM entry_changes))
    ON CONFLICT (group_name, entry_key)
    DO UPDATE SET entry_value = excluded.entry_value, expires_at = excluded.expires_at,
        revision = excluded.revision";
pub(crate) const SQL_DELETE: &str = "DELETE FROM entries WHERE group_name = ?1 AND entry_key = ?2";
const SQL_DELETE_GROUP: &str = "DELETE FROM entries WHERE group_name = ?1";
const SQL_PREFIX_GROUPS_ANY: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 ORDER BY group_name";
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
pub(crate) enum Lookup<T = String> {
    Live(T),
    Missing,
    /// Expired; `was_deleted` when this read removed the row.
    Expired {
        was_deleted: bool,
    },
}

pub(crate) fn exists(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(SQL_EXISTS)?
        .exists(params![group, key, now_ms()])
}

/// Writes a text value: [`upsert_value`] bound as `TEXT`.
pub(crate) fn upsert(
    connection: &Connection,
    group: &str,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
) -> rusqlite::Result<()> {
    upsert_value(
        connection,
        group,
        key,
        rusqlite::types::ValueRef::Text(value.as_bytes()),
        expires_at,
    )
}

/// True when a row was removed.
pub(crate) fn delete(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<bool> {
    Ok(connection
        .prepare_cached(SQL_DELETE)?
        .execute(params![group, key])?
        > 0)
}

/// True when at least one row was removed. The group's removal is recorded as one
/// `delete_group` change; run it inside a transaction so the record and the delete agree.
pub(crate) fn delete_group(connection: &Connection, group: &str) -> rusqlite::Result<bool> {
    if !changes::record_group_delete(connection, group, now_ms())? {
        return Ok(false);
    }
    connection
        .prepare_cached(SQL_DELETE_GROUP)?
        .execute([group])?;
    Ok(true)
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
    // One `delete_group` change per group, each recorded just before its rows go.
    for group in &groups {
        delete_group(connection, group)?;
    }
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

// Values, counters, expiry control and batches (issue 14).
//
// Layout, measured (`tests/values.rs`, `layout_measure_pages_of_thousand_byte_values`,
// 4 KiB pages): 2,000 rows of 1,000-byte values take 2,287 pages in the store's
// `WITHOUT ROWID` table against 685 in Go's rowid table (3.3x), because a `WITHOUT
// ROWID` cell keeps at most about 1,000 bytes on its page and spills the rest into an
// overflow page of its own; 2,000 rows of 100-byte values take 70 pages against 75. New
// files stay `WITHOUT ROWID` for now (small values, the common case, are one B-tree
// probe); moving new files to the rowid layout (every statement here already runs on
// both, as Go's files show) is left for a change that measures get/set speed with it.
//
// A value is bound as `TEXT` (`set`) or `BLOB` (`set_bytes`). The column's `TEXT`
// affinity converts only numbers, so a `BLOB` stays a `BLOB` with its bytes intact, NULs
// and invalid UTF-8 included; Go's `database/sql` scans either into a `string` or
// `[]byte` with the same bytes.

/// The expiry of a live row: `Some(None)` for a row that never expires.
pub(crate) const SQL_TTL: &str = "SELECT expires_at FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
/// Sets the expiry of a live row, leaving its value alone.
pub(crate) const SQL_EXPIRE: &str = "UPDATE entries SET expires_at = ?3,
        revision = (SELECT ifnull(max(revision), 0) + 1 FROM entry_changes)
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?4)";
/// [`SQL_EXPIRE`], returning the value: `get_and_touch`, and `expire` for its event.
pub(crate) const SQL_EXPIRE_RETURNING: &str = "UPDATE entries SET expires_at = ?3,
        revision = (SELECT ifnull(max(revision), 0) + 1 FROM entry_changes)
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?4)
    RETURNING entry_value";
/// Removes the expiry of a live row that has one.
pub(crate) const SQL_PERSIST: &str = "UPDATE entries SET expires_at = NULL,
        revision = (SELECT ifnull(max(revision), 0) + 1 FROM entry_changes)
    WHERE group_name = ?1 AND entry_key = ?2 AND expires_at IS NOT NULL AND expires_at > ?3";
/// [`SQL_PERSIST`], returning the value for the event.
pub(crate) const SQL_PERSIST_RETURNING: &str = "UPDATE entries SET expires_at = NULL,
        revision = (SELECT ifnull(max(revision), 0) + 1 FROM entry_changes)
    WHERE group_name = ?1 AND entry_key = ?2 AND expires_at IS NOT NULL AND expires_at > ?3
    RETURNING entry_value";
/// The live rows among a JSON array of keys: one statement for a whole `get_many`.
/// SQLite turns the `IN` list into a temporary index and probes the primary key once per
/// key, so the cost is one statement, not one per key.
pub(crate) const SQL_GET_MANY: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key IN (SELECT value FROM json_each(?2))
        AND (expires_at IS NULL OR expires_at > ?3)";
/// Deletes the rows among a JSON array of keys, returning the keys removed.
pub(crate) const SQL_DELETE_MANY: &str = "DELETE FROM entries
    WHERE group_name = ?1 AND entry_key IN (SELECT value FROM json_each(?2))
    RETURNING entry_key";

/// A value's bytes, whichever way it was stored (`TEXT` or `BLOB`; a number written by
/// another program as its decimal text).
pub(crate) fn bytes(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(index)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
        ValueRef::Integer(integer) => integer.to_string().into_bytes(),
        ValueRef::Real(real) => real.to_string().into_bytes(),
        ValueRef::Null => Vec::new(),
    })
}

/// Reads a key's bytes; an expired row is deleted on the way, as [`lookup`] does.
pub(crate) fn lookup_bytes(
    connection: &Connection,
    group: &str,
    key: &str,
) -> rusqlite::Result<Lookup<Vec<u8>>> {
    let row = connection
        .prepare_cached(SQL_GET)?
        .query_row(params![group, key], |row| {
            Ok((bytes(row, 0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    let Some((value, expires_at)) = row else {
        return Ok(Lookup::Missing);
    };
    let now = now_ms();
    match expires_at {
        Some(expires_at) if expires_at <= now => {
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

/// A live row's bytes and expiry, deleting nothing (the read of `increment`).
pub(crate) fn live_bytes(
    connection: &Connection,
    group: &str,
    key: &str,
) -> rusqlite::Result<Option<(Vec<u8>, Option<i64>)>> {
    let row = connection
        .prepare_cached(SQL_GET)?
        .query_row(params![group, key], |row| {
            Ok((bytes(row, 0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    let now = now_ms();
    Ok(row.filter(|(_, expires_at)| expires_at.is_none_or(|expires_at| expires_at > now)))
}

/// Writes a value bound as `TEXT` or `BLOB`.
pub(crate) fn upsert_value(
    connection: &Connection,
    group: &str,
    key: &str,
    value: rusqlite::types::ValueRef<'_>,
    expires_at: Option<i64>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(SQL_UPSERT)?
        .execute(params![
            group,
            key,
            rusqlite::types::ToSqlOutput::Borrowed(value),
            expires_at
        ])
        .map(drop)
}

/// The expiry of a key.
pub(crate) enum Expiry {
    /// No live row.
    Missing,
    /// A live row that never expires.
    Never,
    /// A live row that expires at this Unix millisecond.
    At(i64),
}

pub(crate) fn expiry(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<Expiry> {
    let row: Option<Option<i64>> = connection
        .prepare_cached(SQL_TTL)?
        .query_row(params![group, key, now_ms()], |row| row.get(0))
        .optional()?;
    Ok(match row {
        None => Expiry::Missing,
        Some(None) => Expiry::Never,
        Some(Some(expires_at)) => Expiry::At(expires_at),
    })
}

/// Sets a live row's expiry. With `want_value`, returns its bytes (for the event or
/// `get_and_touch`); otherwise an empty vector. `None` when there is no live row.
pub(crate) fn expire(
    connection: &Connection,
    group: &str,
    key: &str,
    expires_at: i64,
    want_value: bool,
) -> rusqlite::Result<Option<Vec<u8>>> {
    if want_value {
        connection
            .prepare_cached(SQL_EXPIRE_RETURNING)?
            .query_row(params![group, key, expires_at, now_ms()], |row| {
                bytes(row, 0)
            })
            .optional()
    } else {
        let changed = connection.prepare_cached(SQL_EXPIRE)?.execute(params![
            group,
            key,
            expires_at,
            now_ms()
        ])?;
        Ok((changed > 0).then(Vec::new))
    }
}

/// Removes a live row's expiry, as [`expire`]; `None` when there is no live row with an
/// expiry.
pub(crate) fn persist(
    connection: &Connection,
    group: &str,
    key: &str,
    want_value: bool,
) -> rusqlite::Result<Option<Vec<u8>>> {
    if want_value {
        connection
            .prepare_cached(SQL_PERSIST_RETURNING)?
            .query_row(params![group, key, now_ms()], |row| bytes(row, 0))
            .optional()
    } else {
        let changed =
            connection
                .prepare_cached(SQL_PERSIST)?
                .execute(params![group, key, now_ms()])?;
        Ok((changed > 0).then(Vec::new))
    }
}

/// The keys as the JSON array `json_each` reads, or `None` when one holds a NUL, which
/// SQLite's JSON functions do not carry through reliably: those go key by key.
fn json_keys<K: AsRef<str>>(keys: &[K]) -> Option<String> {
    if keys.iter().any(|key| key.as_ref().contains('\0')) {
        return None;
    }
    serde_json::to_string(&keys.iter().map(AsRef::as_ref).collect::<Vec<&str>>()).ok()
}

/// The live values of `keys`, in their order (`None` for a missing or expired key), as
/// bytes. Deletes nothing.
pub(crate) fn get_many<K: AsRef<str>>(
    connection: &Connection,
    group: &str,
    keys: &[K],
) -> rusqlite::Result<Vec<Option<Vec<u8>>>> {
    let mut found = std::collections::HashMap::with_capacity(keys.len());
    match json_keys(keys) {
        Some(json) => {
            let mut statement = connection.prepare_cached(SQL_GET_MANY)?;
            let mut rows = statement.query(params![group, json, now_ms()])?;
            while let Some(row) = rows.next()? {
                found.insert(text(row, 0)?, bytes(row, 1)?);
            }
        }
        None => {
            for key in keys {
                if let Some((value, _)) = live_bytes(connection, group, key.as_ref())? {
                    found.insert(key.as_ref().to_owned(), value);
                }
            }
        }
    }
    Ok(in_order(keys, found))
}

/// The values `found` (by key) in the order of `keys`, `None` for a key not found; a key
/// asked for twice gets a copy of the first.
pub(crate) fn in_order<K: AsRef<str>>(
    keys: &[K],
    mut found: std::collections::HashMap<String, Vec<u8>>,
) -> Vec<Option<Vec<u8>>> {
    // Each value moves into its first slot; a key asked for twice is copied from there.
    let mut first_slot = std::collections::HashMap::new();
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.as_ref();
        let value = match found.remove(key) {
            Some(value) => {
                first_slot.insert(key, values.len());
                Some(value)
            }
            None => first_slot
                .get(key)
                .and_then(|&slot| values.get(slot).cloned().flatten()),
        };
        values.push(value);
    }
    values
}

/// Deletes the rows of `keys`, live or expired; returns the keys removed.
pub(crate) fn delete_many<K: AsRef<str>>(
    connection: &Connection,
    group: &str,
    keys: &[K],
) -> rusqlite::Result<Vec<String>> {
    if let Some(json) = json_keys(keys) {
        return connection
            .prepare_cached(SQL_DELETE_MANY)?
            .query_map(params![group, json], |row| text(row, 0))?
            .collect();
    }
    let mut removed = Vec::new();
    for key in keys {
        if delete(connection, group, key.as_ref())? {
            removed.push(key.as_ref().to_owned());
        }
    }
    Ok(removed)
}

/// One stored row, as export reads it.
pub(crate) struct StoredRow {
    pub(crate) group: String,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<i64>,
}

const SQL_EXPORT_FIRST: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name, entry_key LIMIT ?4";
const SQL_EXPORT_NEXT: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE (group_name, entry_key) > (?1, ?5) AND group_name < ?2
        AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name, entry_key LIMIT ?4";

/// One page of [`PAGE_SIZE`] live rows under `prefix` in (group, key) order, after the
/// (group, key) `after` (from the start when `None`).
pub(crate) fn export_page(
    connection: &Connection,
    prefix: &str,
    after: Option<(&str, &str)>,
) -> rusqlite::Result<Vec<StoredRow>> {
    let end = PrefixEnd::new(prefix);
    let limit = to_sql_integer(PAGE_SIZE);
    let row = |row: &rusqlite::Row<'_>| {
        Ok(StoredRow {
            group: text(row, 0)?,
            key: text(row, 1)?,
            value: bytes(row, 2)?,
            expires_at: row.get(3)?,
        })
    };
    match after {
        None => connection
            .prepare_cached(SQL_EXPORT_FIRST)?
            .query_map(params![prefix, end, now_ms(), limit], row)?
            .collect(),
        Some((group, key)) => connection
            .prepare_cached(SQL_EXPORT_NEXT)?
            .query_map(params![group, end, now_ms(), limit, key], row)?
            .collect(),
    }
}
