//! Revisions and the change history on PostgreSQL: the same numbering and the same
//! `entry_changes` rows as SQLite's (`kv::changes`).
//!
//! **Numbering.** One row, `store_revision`, holds the newest revision. Every write the
//! store makes goes through a function below that first takes that row (a row lock,
//! held until commit), then changes `entries`, then records the change with the next
//! number. So, as under SQLite's single writer, writes to one store schema commit one at
//! a time, in revision order, on every server: revisions are strictly increasing and
//! gap-free (a rolled-back write gives its number back), and a watcher reading "after N"
//! never misses a change that commits later with a smaller number. Work that reads and
//! then writes (compare-and-set, quotas, `increment`, transactions) takes the same row
//! when it begins, so nothing can write between its read and its write.
//!
//! The cost is the one SQLite has: one writer at a time per store schema. Reads never
//! wait. Stores that need parallel writers can use one schema each.
//!
//! **Why functions.** Each write is one round trip that takes the counter before any
//! entry row, in that order always, so two writers can never deadlock; and rows written
//! through the store's SQL only. Rows that other programs write into the tables directly
//! are not numbered (they read as revision 0), unlike SQLite, where triggers number the
//! Go package's writes too.

use crate::kv::changes::{
    kind_of, retention_start, timestamp_of, to_revision, to_sql, Change, Revisioned,
};
use crate::postgresql::session::PgSession;
use crate::postgresql::PgResult;
use crate::sqlite::sql::to_sql_integer;

/// The counter, the history, and the write functions (replaced at every open, which
/// takes no lock on the tables).
pub(crate) const CREATE_CHANGE_FEED: &str = r"
CREATE TABLE IF NOT EXISTS store_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    revision  BIGINT  NOT NULL
);
INSERT INTO store_revision (singleton, revision)
    SELECT TRUE, 0 WHERE NOT EXISTS (SELECT 1 FROM store_revision);
CREATE TABLE IF NOT EXISTS entry_changes (
    revision    BIGINT PRIMARY KEY,
    kind        TEXT   NOT NULL,
    group_name  BYTEA  NOT NULL,
    entry_key   BYTEA  NOT NULL,
    entry_value BYTEA,
    expires_at  BIGINT,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS entry_changes_changed_at ON entry_changes (changed_at);

CREATE OR REPLACE FUNCTION store_lock_writes() RETURNS VOID LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM 1 FROM store_revision FOR UPDATE;
END
$body$;

CREATE OR REPLACE FUNCTION store_record(p_kind TEXT, p_group BYTEA, p_key BYTEA,
    p_value BYTEA, p_expires_at BIGINT, p_now BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $body$
DECLARE
    next_revision BIGINT;
BEGIN
    UPDATE store_revision SET revision = revision + 1 RETURNING revision INTO next_revision;
    INSERT INTO entry_changes
        (revision, kind, group_name, entry_key, entry_value, expires_at, changed_at)
        VALUES (next_revision, p_kind, p_group, p_key, p_value, p_expires_at, p_now);
    RETURN next_revision;
END
$body$;

CREATE OR REPLACE FUNCTION store_upsert(p_group BYTEA, p_key BYTEA, p_value BYTEA,
    p_is_text BOOLEAN, p_expires_at BIGINT, p_now BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $body$
DECLARE
    next_revision BIGINT;
BEGIN
    next_revision := store_record('set', p_group, p_key, p_value, p_expires_at, p_now);
    INSERT INTO entries (group_name, entry_key, entry_value, value_is_text, expires_at, revision)
        VALUES (p_group, p_key, p_value, p_is_text, p_expires_at, next_revision)
        ON CONFLICT (group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value,
            value_is_text = excluded.value_is_text, expires_at = excluded.expires_at,
            revision = excluded.revision;
    RETURN next_revision;
END
$body$;

-- Deletes one row (only when expired at p_expired_by, unless that is NULL).
CREATE OR REPLACE FUNCTION store_delete(p_group BYTEA, p_key BYTEA, p_expired_by BIGINT,
    p_now BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $body$
DECLARE
    old_expires_at BIGINT;
BEGIN
    PERFORM store_lock_writes();
    DELETE FROM entries WHERE group_name = p_group AND entry_key = p_key
        AND (p_expired_by IS NULL OR (expires_at IS NOT NULL AND expires_at <= p_expired_by))
        RETURNING expires_at INTO old_expires_at;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    PERFORM store_record(CASE WHEN old_expires_at IS NOT NULL AND old_expires_at <= p_now
        THEN 'expire' ELSE 'delete' END, p_group, p_key, NULL, NULL, p_now);
    RETURN TRUE;
END
$body$;

-- Sets (p_persist: removes) the expiry of a live row; its value, or NULL when none.
CREATE OR REPLACE FUNCTION store_set_expiry(p_group BYTEA, p_key BYTEA,
    p_expires_at BIGINT, p_persist BOOLEAN, p_now BIGINT) RETURNS BYTEA
LANGUAGE plpgsql AS $body$
DECLARE
    current_value BYTEA;
    next_revision BIGINT;
BEGIN
    PERFORM store_lock_writes();
    SELECT entry_value INTO current_value FROM entries
        WHERE group_name = p_group AND entry_key = p_key
            AND (expires_at IS NULL OR expires_at > p_now)
            AND (NOT p_persist OR expires_at IS NOT NULL)
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    next_revision := store_record('set', p_group, p_key, current_value, p_expires_at, p_now);
    UPDATE entries SET expires_at = p_expires_at, revision = next_revision
        WHERE group_name = p_group AND entry_key = p_key;
    RETURN current_value;
END
$body$;

CREATE OR REPLACE FUNCTION store_delete_group(p_group BYTEA, p_origin TEXT, p_now BIGINT)
    RETURNS BOOLEAN
LANGUAGE plpgsql AS $body$
DECLARE
    removed BIGINT;
BEGIN
    PERFORM store_lock_writes();
    PERFORM set_config('store.bulk', 'group', true);
    DELETE FROM entries WHERE group_name = p_group;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('store.bulk', '', true);
    IF removed = 0 THEN
        RETURN FALSE;
    END IF;
    PERFORM store_record('delete_group', p_group, ''::BYTEA, NULL, NULL, p_now);
    PERFORM pg_notify('store:' || current_schema(),
        'delete_group ' || p_origin || ' ' || encode(p_group, 'hex') || ' ');
    RETURN TRUE;
END
$body$;

CREATE OR REPLACE FUNCTION store_delete_many(p_group BYTEA, p_keys BYTEA[], p_now BIGINT)
    RETURNS SETOF BYTEA
LANGUAGE plpgsql AS $body$
DECLARE
    gone_key BYTEA;
    gone_expires_at BIGINT;
BEGIN
    PERFORM store_lock_writes();
    FOR gone_key, gone_expires_at IN
        DELETE FROM entries WHERE group_name = p_group AND entry_key = ANY(p_keys)
        RETURNING entry_key, expires_at
    LOOP
        PERFORM store_record(CASE WHEN gone_expires_at IS NOT NULL AND gone_expires_at <= p_now
            THEN 'expire' ELSE 'delete' END, p_group, gone_key, NULL, NULL, p_now);
        RETURN NEXT gone_key;
    END LOOP;
END
$body$;

CREATE OR REPLACE FUNCTION store_purge_batch(p_cutoff BIGINT, p_prefix BYTEA, p_end BYTEA,
    p_limit BIGINT, p_now BIGINT) RETURNS TABLE (out_group BYTEA, out_key BYTEA)
LANGUAGE plpgsql AS $body$
DECLARE
    gone_group BYTEA;
    gone_key BYTEA;
BEGIN
    PERFORM store_lock_writes();
    -- In key order, as SQLite purges, so that revisions follow the keys.
    FOR gone_group, gone_key IN
        SELECT group_name, entry_key FROM entries
        WHERE expires_at IS NOT NULL AND expires_at <= p_cutoff
            AND group_name >= p_prefix AND group_name < p_end
        ORDER BY group_name, entry_key LIMIT p_limit
    LOOP
        DELETE FROM entries WHERE group_name = gone_group AND entry_key = gone_key;
        PERFORM store_record('expire', gone_group, gone_key, NULL, NULL, p_now);
        out_group := gone_group;
        out_key := gone_key;
        RETURN NEXT;
    END LOOP;
END
$body$;
";

/// Takes the write lock of the store schema (inside `BEGIN`): see the module docs.
pub(crate) const SQL_LOCK_WRITES: &str = "SELECT store_lock_writes()";
const SQL_LATEST: &str = "SELECT revision FROM store_revision";
const SQL_OLDEST: &str = "SELECT min(revision) FROM entry_changes";
const SQL_RETAINED: &str = "SELECT COUNT(*) FROM entry_changes";
const SQL_ENTRY_REVISION: &str = "SELECT entry_value, expires_at, coalesce(revision, 0)
    FROM entries WHERE group_name = $1 AND entry_key = $2";
const SQL_LIVE_REVISION: &str = "SELECT coalesce(revision, 0) FROM entries
    WHERE group_name = $1 AND entry_key = $2 AND (expires_at IS NULL OR expires_at > $3)";
const SQL_AFTER: &str = "SELECT revision, kind, group_name, entry_key,
        coalesce(entry_value, ''::BYTEA), expires_at, changed_at
    FROM entry_changes WHERE revision > $1 ORDER BY revision LIMIT $2";
const SQL_FIRST_RECENT: &str = "SELECT revision FROM entry_changes
    WHERE changed_at >= $1 ORDER BY revision LIMIT 1";
const SQL_PRUNE_BATCH: &str = "DELETE FROM entry_changes WHERE revision IN (
        SELECT revision FROM entry_changes WHERE revision < $1 ORDER BY revision LIMIT $2)";

/// The newest revision; 0 before the first change.
pub(crate) fn latest(session: &mut PgSession) -> PgResult<u64> {
    Ok(to_revision(session.query_one(SQL_LATEST, &[])?.try_get(0)?))
}

/// The oldest revision still retained; `None` when the history is empty.
pub(crate) fn oldest(session: &mut PgSession) -> PgResult<Option<u64>> {
    let oldest: Option<i64> = session.query_one(SQL_OLDEST, &[])?.try_get(0)?;
    Ok(oldest.map(to_revision))
}

pub(crate) fn entry(
    session: &mut PgSession,
    group: &str,
    key: &str,
) -> PgResult<Option<Revisioned>> {
    session
        .query_opt(SQL_ENTRY_REVISION, &[&group.as_bytes(), &key.as_bytes()])?
        .map(|row| {
            Ok(Revisioned {
                value: row.try_get(0)?,
                expires_at: row.try_get(1)?,
                revision: to_revision(row.try_get(2)?),
            })
        })
        .transpose()
}

pub(crate) fn live_revision(
    session: &mut PgSession,
    group: &str,
    key: &str,
    now_ms: i64,
) -> PgResult<Option<u64>> {
    session
        .query_opt(
            SQL_LIVE_REVISION,
            &[&group.as_bytes(), &key.as_bytes(), &now_ms],
        )?
        .map(|row| row.try_get::<_, i64>(0).map(to_revision))
        .transpose()
}

/// The history's extent for `Store::stats`: the newest revision, the oldest retained (0
/// when none is), and how many changes are retained.
pub(crate) fn extent(session: &mut PgSession) -> PgResult<(u64, u64, u64)> {
    let retained: i64 = session.query_one(SQL_RETAINED, &[])?.try_get(0)?;
    Ok((
        latest(session)?,
        oldest(session)?.unwrap_or(0),
        u64::try_from(retained).unwrap_or(0),
    ))
}

/// Up to `limit` changes after `after`, oldest first.
pub(crate) fn after(session: &mut PgSession, after: u64, limit: usize) -> PgResult<Vec<Change>> {
    session
        .query(SQL_AFTER, &[&to_sql(after), &to_sql_integer(limit)])?
        .iter()
        .map(|row| {
            let group: Vec<u8> = row.try_get(2)?;
            let key: Vec<u8> = row.try_get(3)?;
            Ok(Change {
                revision: to_revision(row.try_get(0)?),
                kind: kind_of(row.try_get(1)?),
                group: String::from_utf8_lossy(&group).into_owned(),
                key: String::from_utf8_lossy(&key).into_owned(),
                value: row.try_get(4)?,
                expires_at: row.try_get(5)?,
                timestamp: timestamp_of(row.try_get(6)?),
            })
        })
        .collect()
}

/// The first revision the retention keeps, as `kv::changes::keep_from`.
pub(crate) fn keep_from(
    session: &mut PgSession,
    max_changes: Option<u64>,
    max_age_cutoff_ms: Option<i64>,
) -> PgResult<u64> {
    let latest = latest(session)?;
    let first_recent = match max_age_cutoff_ms {
        Some(cutoff) => Some(
            session
                .query_opt(SQL_FIRST_RECENT, &[&cutoff])?
                .map(|row| row.try_get::<_, i64>(0))
                .transpose()?
                .map_or(latest, to_revision),
        ),
        None => None,
    };
    Ok(retention_start(latest, max_changes, first_recent))
}

/// Deletes at most `limit` of the oldest changes below `keep_from`; returns how many.
pub(crate) fn prune_batch(
    session: &mut PgSession,
    keep_from: u64,
    limit: usize,
) -> PgResult<usize> {
    let removed = session.execute(
        SQL_PRUNE_BATCH,
        &[&to_sql(keep_from), &to_sql_integer(limit)],
    )?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}
