//! Compaction's statements on PostgreSQL: the `journal_archives` record and the reads and
//! marks of `Store::compact`, the same steps as on SQLite (`compact`), so the same
//! crash-safety argument holds: the rows are marked and the archive recorded in one
//! transaction, and a recorded archive not yet published is finished by the next open or
//! compaction.
//!
//! The archive files themselves are local to the machine that compacts, as on SQLite;
//! the record keeps their paths, so an interrupted archive is finished by a store on
//! that machine (another machine finds the directory missing and leaves the record).

use crate::pipeline::point::StoredPoint;
use crate::postgresql::journal::stored_point;
use crate::postgresql::session::PgSession;
use crate::postgresql::PgResult;

/// The archive record: SQLite's `journal_archives`, same columns, same meaning.
pub(crate) const CREATE_ARCHIVES: &str = "
CREATE TABLE IF NOT EXISTS journal_archives (
    archive_name TEXT   PRIMARY KEY,
    final_path   TEXT   NOT NULL,
    temp_path    TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
";

const SQL_MAX_ENTRY_ID: &str = "SELECT COALESCE(MAX(entry_id), 0) FROM journal_entries";
const SQL_SELECTION_PAGE: &str = "SELECT entry_id, bucket_name, measurement, fields_json,
        tags_json, committed_at
    FROM journal_entries
    WHERE archived_at IS NULL AND committed_at < $4 AND entry_id <= $5
        AND (committed_at, entry_id) > ($2, $3)
    ORDER BY committed_at, entry_id LIMIT $1";
const SQL_ARCHIVE_ROWS_PAGE: &str = "SELECT entry_id, bucket_name, measurement, fields_json,
        tags_json, committed_at
    FROM journal_entries WHERE archive_name = $4 AND (committed_at, entry_id) > ($2, $3)
    ORDER BY committed_at, entry_id LIMIT $1";
const SQL_MARK_ARCHIVED: &str = "UPDATE journal_entries SET archived_at = $1, archive_name = $2
    WHERE archived_at IS NULL AND committed_at < $3 AND entry_id <= $4";
const SQL_INSERT_ARCHIVE: &str = "INSERT INTO journal_archives
    (archive_name, final_path, temp_path, created_at) VALUES ($1, $2, $3, $4)";
const SQL_ARCHIVE_NAME_USED: &str = "SELECT 1 FROM journal_archives WHERE archive_name = $1";
const SQL_PENDING_ARCHIVES: &str = "SELECT archive_name, final_path, temp_path
    FROM journal_archives WHERE published_at IS NULL ORDER BY created_at, archive_name";
const SQL_ARCHIVE_PATHS: &str = "SELECT final_path FROM journal_archives";
const SQL_MARK_PUBLISHED: &str =
    "UPDATE journal_archives SET published_at = $1 WHERE archive_name = $2";

/// The highest journal entry id; 0 for an empty journal.
pub(crate) fn max_entry_id(session: &mut PgSession) -> PgResult<i64> {
    session.query_one(SQL_MAX_ENTRY_ID, &[])?.try_get(0)
}

/// Where a page of points starts: after the point `(committed_at, entry_id)`.
pub(crate) struct After {
    pub(crate) limit: i64,
    pub(crate) committed_at: i64,
    pub(crate) entry_id: i64,
}

/// A page of the points a compaction selects (before `cutoff`, up to `highest`).
pub(crate) fn selection_page(
    session: &mut PgSession,
    after: &After,
    cutoff: i64,
    highest: i64,
) -> PgResult<Vec<StoredPoint>> {
    session
        .query(
            SQL_SELECTION_PAGE,
            &[
                &after.limit,
                &after.committed_at,
                &after.entry_id,
                &cutoff,
                &highest,
            ],
        )?
        .iter()
        .map(stored_point)
        .collect()
}

/// A page of the points an archive holds (to rebuild a lost temporary file).
pub(crate) fn archive_rows_page(
    session: &mut PgSession,
    after: &After,
    name: &str,
) -> PgResult<Vec<StoredPoint>> {
    session
        .query(
            SQL_ARCHIVE_ROWS_PAGE,
            &[&after.limit, &after.committed_at, &after.entry_id, &name],
        )?
        .iter()
        .map(stored_point)
        .collect()
}

/// What one archive is: its name, final and temporary paths.
pub(crate) struct Archive<'a> {
    pub(crate) name: &'a str,
    pub(crate) final_path: &'a str,
    pub(crate) temporary_path: &'a str,
}

/// Marks the selected points archived and records the archive, in one transaction that
/// commits only when exactly `written` points were marked (else another compaction ran,
/// and nothing changes). Runs with the store's writes locked, as SQLite's `BEGIN
/// IMMEDIATE` does.
pub(crate) fn mark_archived(
    session: &mut PgSession,
    archive: &Archive<'_>,
    now: i64,
    cutoff: i64,
    highest: i64,
    written: u64,
) -> PgResult<bool> {
    session.begin_serialised()?;
    let outcome = (|| {
        let marked =
            session.execute(SQL_MARK_ARCHIVED, &[&now, &archive.name, &cutoff, &highest])?;
        if marked != written {
            return Ok(false);
        }
        session.execute(
            SQL_INSERT_ARCHIVE,
            &[
                &archive.name,
                &archive.final_path,
                &archive.temporary_path,
                &now,
            ],
        )?;
        Ok(true)
    })();
    match outcome {
        Ok(true) => {
            session.commit()?;
            Ok(true)
        }
        other => {
            session.rollback();
            other
        }
    }
}

/// True when an archive of that name is recorded.
pub(crate) fn archive_name_used(session: &mut PgSession, name: &str) -> PgResult<bool> {
    Ok(session
        .query_opt(SQL_ARCHIVE_NAME_USED, &[&name])?
        .is_some())
}

/// Records the archive as published.
pub(crate) fn mark_published(session: &mut PgSession, name: &str, now: i64) -> PgResult<()> {
    session
        .execute(SQL_MARK_PUBLISHED, &[&now, &name])
        .map(drop)
}

/// The archives recorded but not yet published: `(name, final path, temporary path)`.
pub(crate) fn pending_archives(session: &mut PgSession) -> PgResult<Vec<(String, String, String)>> {
    session
        .query(SQL_PENDING_ARCHIVES, &[])?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

/// The final paths of every recorded archive.
pub(crate) fn archive_paths(session: &mut PgSession) -> PgResult<Vec<String>> {
    session
        .query(SQL_ARCHIVE_PATHS, &[])?
        .iter()
        .map(|row| row.try_get(0))
        .collect()
}
