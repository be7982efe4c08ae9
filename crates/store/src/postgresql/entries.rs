//! The statements of the `entries` table on PostgreSQL: the same operations, with the
//! same results, as SQLite's (`kv::entries`), over `BYTEA` columns.
//!
//! Every value is bound, never spliced into the SQL, and every statement is prepared once
//! per connection. `now` is the caller's clock, bound per statement, as on SQLite.

use std::collections::BTreeMap;

use postgres::Row;

use crate::kv::entries::{Expiry, KeyValue, Lookup, StoredRow};
use crate::postgresql::changes;
use crate::postgresql::session::PgSession;
use crate::postgresql::PgResult;
use crate::sqlite::paging::PAGE_SIZE;
use crate::sqlite::sql::{now_ms, to_sql_integer, PrefixEnd};

const SQL_GET: &str =
    "SELECT entry_value, expires_at FROM entries WHERE group_name = $1 AND entry_key = $2";

// The writes are functions of `postgresql::changes`, which number and record each change.
const SQL_DELETE_IF_EXPIRED: &str = "SELECT store_delete($1, $2, $3, $3)";
const SQL_EXISTS: &str = "SELECT 1 FROM entries
    WHERE group_name = $1 AND entry_key = $2 AND (expires_at IS NULL OR expires_at > $3)";
const SQL_UPSERT: &str = "SELECT store_upsert($1, $2, $3, $4, $5, $6)";
const SQL_DELETE: &str = "SELECT store_delete($1, $2, NULL, $3)";
const SQL_DELETE_GROUP: &str = "SELECT store_delete_group($1, $2, $3)";
const SQL_PREFIX_GROUPS_ANY: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= $1 AND group_name < $2 ORDER BY group_name";
const SQL_COUNT: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name = $1 AND (expires_at IS NULL OR expires_at > $2)";
const SQL_COUNT_PREFIX: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)";
const SQL_COUNT_PREFIX_UP_TO: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    LIMIT $4) AS counted";
const SQL_COUNT_GROUPS_PREFIX_UP_TO: &str = "SELECT COUNT(*) FROM (SELECT DISTINCT group_name
    FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    LIMIT $4) AS counted";
const SQL_GROUP_IS_LIVE: &str = "SELECT 1 FROM entries
    WHERE group_name = $1 AND (expires_at IS NULL OR expires_at > $2) LIMIT 1";
const SQL_GET_ALL: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY entry_key";
const SQL_GET_PAGE: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = $1 AND (expires_at IS NULL OR expires_at > $2)
    ORDER BY entry_key LIMIT $3 OFFSET $4";
const SQL_KEYS_FIRST: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = $1 AND entry_key >= $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY entry_key LIMIT $4";
const SQL_KEYS_NEXT: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = $1 AND entry_key > $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY entry_key LIMIT $4";
const SQL_GROUPS: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY group_name";
const SQL_GROUPS_FIRST: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY group_name LIMIT $4";
const SQL_GROUPS_NEXT: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name > $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY group_name LIMIT $4";
/// The background purge also runs on one server at a time (see `engine`).
const SQL_PURGE_BATCH: &str =
    "SELECT out_group, out_key FROM store_purge_batch($1, $2, $3, $4, $5)";
const SQL_TTL: &str = "SELECT expires_at FROM entries
    WHERE group_name = $1 AND entry_key = $2 AND (expires_at IS NULL OR expires_at > $3)";
const SQL_EXPIRE: &str = "SELECT store_set_expiry($1, $2, $3, FALSE, $4)";
const SQL_PERSIST: &str = "SELECT store_set_expiry($1, $2, NULL, TRUE, $3)";
const SQL_GET_MANY: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = $1 AND entry_key = ANY($2) AND (expires_at IS NULL OR expires_at > $3)";
const SQL_DELETE_MANY: &str = "SELECT * FROM store_delete_many($1, $2, $3)";
/// The background purge's session lock, tried and never waited for.
const SQL_TRY_LOCK_PURGE: &str = "SELECT pg_try_advisory_lock(
    hashtextextended('dappco.re/store purge:' || current_schema(), 0))";
const SQL_UNLOCK_PURGE: &str = "SELECT pg_advisory_unlock(
    hashtextextended('dappco.re/store purge:' || current_schema(), 0))";

/// The exclusive upper bound of a prefix as bytes: `0xFF`, which no UTF-8 text holds,
/// bounds the empty prefix.
fn end(prefix: &str) -> Vec<u8> {
    PrefixEnd::new(prefix)
        .into_bytes()
        .unwrap_or_else(|| vec![0xFF])
}

/// A stored name or key, lossily (only rows written by other programs can be invalid).
fn text(row: &Row, index: usize) -> PgResult<String> {
    let bytes: Vec<u8> = row.try_get(index)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

fn count_of(row: &Row) -> PgResult<usize> {
    let count: i64 = row.try_get(0)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

fn key_value(row: &Row) -> PgResult<KeyValue> {
    Ok(KeyValue {
        key: text(row, 0)?,
        value: text(row, 1)?,
    })
}

/// Takes the store schema's write lock until the transaction ends (inside `BEGIN`).
pub(crate) fn lock_store(session: &mut PgSession) -> PgResult<()> {
    session.execute(changes::SQL_LOCK_WRITES, &[]).map(drop)
}

/// The `BOOLEAN` one of the write functions returns.
fn returned_true(row: &Row) -> PgResult<bool> {
    row.try_get(0)
}

/// Tries the background purge's session lock: false when another server holds it.
pub(crate) fn try_lock_purge(session: &mut PgSession) -> PgResult<bool> {
    session.query_one(SQL_TRY_LOCK_PURGE, &[])?.try_get(0)
}

/// Gives the background purge's lock back.
pub(crate) fn unlock_purge(session: &mut PgSession) -> PgResult<()> {
    session.execute(SQL_UNLOCK_PURGE, &[]).map(drop)
}

pub(crate) fn exists(session: &mut PgSession, group: &str, key: &str) -> PgResult<bool> {
    Ok(session
        .query_opt(SQL_EXISTS, &[&group.as_bytes(), &key.as_bytes(), &now_ms()])?
        .is_some())
}

pub(crate) fn delete(session: &mut PgSession, group: &str, key: &str) -> PgResult<bool> {
    returned_true(&session.query_one(SQL_DELETE, &[&group.as_bytes(), &key.as_bytes(), &now_ms()])?)
}

/// One `delete_group` change and one announcement for the whole group (see `notify`).
pub(crate) fn delete_group(session: &mut PgSession, group: &str) -> PgResult<bool> {
    let origin = session.origin().to_owned();
    returned_true(&session.query_one(SQL_DELETE_GROUP, &[&group.as_bytes(), &origin, &now_ms()])?)
}

pub(crate) fn delete_prefix(session: &mut PgSession, prefix: &str) -> PgResult<Vec<String>> {
    let end = end(prefix);
    let groups = session
        .query(SQL_PREFIX_GROUPS_ANY, &[&prefix.as_bytes(), &end])?
        .iter()
        .map(|row| text(row, 0))
        .collect::<PgResult<Vec<String>>>()?;
    for group in &groups {
        delete_group(session, group)?;
    }
    Ok(groups)
}

pub(crate) fn count(session: &mut PgSession, group: &str) -> PgResult<usize> {
    count_of(&session.query_one(SQL_COUNT, &[&group.as_bytes(), &now_ms()])?)
}

pub(crate) fn count_prefix(session: &mut PgSession, prefix: &str) -> PgResult<usize> {
    count_of(&session.query_one(
        SQL_COUNT_PREFIX,
        &[&prefix.as_bytes(), &end(prefix), &now_ms()],
    )?)
}

pub(crate) fn count_prefix_up_to(
    session: &mut PgSession,
    prefix: &str,
    limit: usize,
) -> PgResult<usize> {
    count_of(&session.query_one(
        SQL_COUNT_PREFIX_UP_TO,
        &[
            &prefix.as_bytes(),
            &end(prefix),
            &now_ms(),
            &to_sql_integer(limit),
        ],
    )?)
}

pub(crate) fn count_groups_prefix_up_to(
    session: &mut PgSession,
    prefix: &str,
    limit: usize,
) -> PgResult<usize> {
    count_of(&session.query_one(
        SQL_COUNT_GROUPS_PREFIX_UP_TO,
        &[
            &prefix.as_bytes(),
            &end(prefix),
            &now_ms(),
            &to_sql_integer(limit),
        ],
    )?)
}

pub(crate) fn group_is_live(session: &mut PgSession, group: &str) -> PgResult<bool> {
    Ok(session
        .query_opt(SQL_GROUP_IS_LIVE, &[&group.as_bytes(), &now_ms()])?
        .is_some())
}

pub(crate) fn get_all(session: &mut PgSession, group: &str) -> PgResult<BTreeMap<String, String>> {
    session
        .query(SQL_GET_ALL, &[&group.as_bytes(), &now_ms()])?
        .iter()
        .map(|row| Ok((text(row, 0)?, text(row, 1)?)))
        .collect()
}

pub(crate) fn get_page(
    session: &mut PgSession,
    group: &str,
    offset: usize,
    limit: usize,
) -> PgResult<Vec<KeyValue>> {
    session
        .query(
            SQL_GET_PAGE,
            &[
                &group.as_bytes(),
                &now_ms(),
                &to_sql_integer(limit),
                &to_sql_integer(offset),
            ],
        )?
        .iter()
        .map(key_value)
        .collect()
}

pub(crate) fn key_page(
    session: &mut PgSession,
    group: &str,
    after: Option<&str>,
) -> PgResult<Vec<KeyValue>> {
    let (sql, after) = match after {
        None => (SQL_KEYS_FIRST, ""),
        Some(last) => (SQL_KEYS_NEXT, last),
    };
    session
        .query(
            sql,
            &[
                &group.as_bytes(),
                &after.as_bytes(),
                &now_ms(),
                &to_sql_integer(PAGE_SIZE),
            ],
        )?
        .iter()
        .map(key_value)
        .collect()
}

pub(crate) fn groups(session: &mut PgSession, prefix: &str) -> PgResult<Vec<String>> {
    session
        .query(SQL_GROUPS, &[&prefix.as_bytes(), &end(prefix), &now_ms()])?
        .iter()
        .map(|row| text(row, 0))
        .collect()
}

pub(crate) fn group_page(
    session: &mut PgSession,
    prefix: &str,
    after: Option<&str>,
) -> PgResult<Vec<String>> {
    let (sql, after) = match after {
        None => (SQL_GROUPS_FIRST, prefix),
        Some(last) => (SQL_GROUPS_NEXT, last),
    };
    session
        .query(
            sql,
            &[
                &after.as_bytes(),
                &end(prefix),
                &now_ms(),
                &to_sql_integer(PAGE_SIZE),
            ],
        )?
        .iter()
        .map(|row| text(row, 0))
        .collect()
}

pub(crate) fn purge_batch(
    session: &mut PgSession,
    prefix: &str,
    cutoff: i64,
    limit: usize,
) -> PgResult<Vec<(String, String)>> {
    session
        .query(
            SQL_PURGE_BATCH,
            &[
                &cutoff,
                &prefix.as_bytes(),
                &end(prefix),
                &to_sql_integer(limit),
                &now_ms(),
            ],
        )?
        .iter()
        .map(|row| Ok((text(row, 0)?, text(row, 1)?)))
        .collect()
}

/// A value's bytes and expiry from one row of [`SQL_GET`].
fn value_and_expiry(row: &Row) -> PgResult<(Vec<u8>, Option<i64>)> {
    Ok((row.try_get(0)?, row.try_get(1)?))
}

pub(crate) fn lookup_bytes(
    session: &mut PgSession,
    group: &str,
    key: &str,
) -> PgResult<Lookup<Vec<u8>>> {
    let Some(row) = session.query_opt(SQL_GET, &[&group.as_bytes(), &key.as_bytes()])? else {
        return Ok(Lookup::Missing);
    };
    let (value, expires_at) = value_and_expiry(&row)?;
    let now = now_ms();
    match expires_at {
        Some(expires_at) if expires_at <= now => {
            if session.is_read_only() {
                return Ok(Lookup::Expired { was_deleted: false });
            }
            let removed = returned_true(&session.query_one(
                SQL_DELETE_IF_EXPIRED,
                &[&group.as_bytes(), &key.as_bytes(), &now],
            )?)?;
            Ok(Lookup::Expired {
                was_deleted: removed,
            })
        }
        _ => Ok(Lookup::Live(value)),
    }
}

/// A live row's bytes and expiry (the read of `increment`, which runs with the store's
/// writes locked, so nothing changes the row before its write).
pub(crate) fn live_bytes(
    session: &mut PgSession,
    group: &str,
    key: &str,
) -> PgResult<Option<(Vec<u8>, Option<i64>)>> {
    let row = session.query_opt(SQL_GET, &[&group.as_bytes(), &key.as_bytes()])?;
    let now = now_ms();
    Ok(row
        .map(|row| value_and_expiry(&row))
        .transpose()?
        .filter(|(_, expires_at)| expires_at.is_none_or(|expires_at| expires_at > now)))
}

pub(crate) fn upsert_value(
    session: &mut PgSession,
    group: &str,
    key: &str,
    value: &[u8],
    is_text: bool,
    expires_at: Option<i64>,
) -> PgResult<()> {
    session
        .execute(
            SQL_UPSERT,
            &[
                &group.as_bytes(),
                &key.as_bytes(),
                &value,
                &is_text,
                &expires_at,
                &now_ms(),
            ],
        )
        .map(drop)
}

pub(crate) fn expiry(session: &mut PgSession, group: &str, key: &str) -> PgResult<Expiry> {
    let row = session.query_opt(SQL_TTL, &[&group.as_bytes(), &key.as_bytes(), &now_ms()])?;
    Ok(match row {
        None => Expiry::Missing,
        Some(row) => match row.try_get::<_, Option<i64>>(0)? {
            None => Expiry::Never,
            Some(expires_at) => Expiry::At(expires_at),
        },
    })
}

/// Sets a live row's expiry; its bytes, or `None` when there is no live row.
pub(crate) fn expire(
    session: &mut PgSession,
    group: &str,
    key: &str,
    expires_at: i64,
) -> PgResult<Option<Vec<u8>>> {
    session
        .query_one(
            SQL_EXPIRE,
            &[&group.as_bytes(), &key.as_bytes(), &expires_at, &now_ms()],
        )?
        .try_get(0)
}

/// Removes a live row's expiry; its bytes, or `None` when there is no live row with one.
pub(crate) fn persist(
    session: &mut PgSession,
    group: &str,
    key: &str,
) -> PgResult<Option<Vec<u8>>> {
    session
        .query_one(
            SQL_PERSIST,
            &[&group.as_bytes(), &key.as_bytes(), &now_ms()],
        )?
        .try_get(0)
}

/// The live values of `keys`, found in one statement; the caller puts them in order.
pub(crate) fn get_many<K: AsRef<str>>(
    session: &mut PgSession,
    group: &str,
    keys: &[K],
) -> PgResult<std::collections::HashMap<String, Vec<u8>>> {
    let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_ref().as_bytes()).collect();
    session
        .query(SQL_GET_MANY, &[&group.as_bytes(), &keys, &now_ms()])?
        .iter()
        .map(|row| Ok((text(row, 0)?, row.try_get(1)?)))
        .collect()
}

pub(crate) fn delete_many<K: AsRef<str>>(
    session: &mut PgSession,
    group: &str,
    keys: &[K],
) -> PgResult<Vec<String>> {
    let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_ref().as_bytes()).collect();
    session
        .query(SQL_DELETE_MANY, &[&group.as_bytes(), &keys, &now_ms()])?
        .iter()
        .map(|row| text(row, 0))
        .collect()
}

const SQL_EXPORT_FIRST: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE group_name >= $1 AND group_name < $2 AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY group_name, entry_key LIMIT $4";
const SQL_EXPORT_NEXT: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE (group_name, entry_key) > ($1, $5) AND group_name < $2
        AND (expires_at IS NULL OR expires_at > $3)
    ORDER BY group_name, entry_key LIMIT $4";

pub(crate) fn export_page(
    session: &mut PgSession,
    prefix: &str,
    after: Option<(&str, &str)>,
) -> PgResult<Vec<StoredRow>> {
    let end = end(prefix);
    let limit = to_sql_integer(PAGE_SIZE);
    let now = now_ms();
    let rows = match after {
        None => session.query(SQL_EXPORT_FIRST, &[&prefix.as_bytes(), &end, &now, &limit])?,
        Some((group, key)) => session.query(
            SQL_EXPORT_NEXT,
            &[&group.as_bytes(), &end, &now, &limit, &key.as_bytes()],
        )?,
    };
    rows.iter()
        .map(|row| {
            Ok(StoredRow {
                group: text(row, 0)?,
                key: text(row, 1)?,
                value: row.try_get(2)?,
                expires_at: row.try_get(3)?,
            })
        })
        .collect()
}

/// The counts of `Store::stats`, in one snapshot: live entries, groups with a live entry,
/// expired rows not yet purged, and the bytes the table and its indexes take.
const SQL_STATS: &str = "SELECT
    (SELECT COUNT(*) FROM entries WHERE expires_at IS NULL OR expires_at > $1),
    (SELECT COUNT(DISTINCT group_name) FROM entries WHERE expires_at IS NULL OR expires_at > $1),
    (SELECT COUNT(*) FROM entries WHERE expires_at <= $1),
    pg_total_relation_size('entries')";

/// Live entries, live groups, expired rows, and bytes on disk.
pub(crate) fn stats(session: &mut PgSession) -> PgResult<[u64; 4]> {
    let row = session.query_one(SQL_STATS, &[&now_ms()])?;
    let mut counts = [0_u64; 4];
    for (index, count) in counts.iter_mut().enumerate() {
        *count = u64::try_from(row.try_get::<_, i64>(index)?).unwrap_or(0);
    }
    Ok(counts)
}
