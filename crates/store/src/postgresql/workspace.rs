//! Workspace commits on PostgreSQL: a workspace stays a local scratch file (SQLite, on
//! the machine that runs it), and its commit writes one journal point, the record that
//! it was committed, and its summary entry into the PostgreSQL database in one
//! transaction, so a workspace commits exactly once whichever server retries it.

use crate::pipeline::point::StoredPoint;
use crate::postgresql::journal::insert_point;
use crate::postgresql::session::PgSession;
use crate::postgresql::PgResult;
use crate::sqlite::sql::now_ms;

/// SQLite's `workspace_commits`: which workspace files have committed, and as which point.
pub(crate) const CREATE_WORKSPACE_COMMITS: &str = "
CREATE TABLE IF NOT EXISTS workspace_commits (
    workspace_id   TEXT   PRIMARY KEY,
    workspace_name TEXT   NOT NULL,
    entry_id       BIGINT NOT NULL,
    committed_at   BIGINT NOT NULL
);
";

const SQL_IS_COMMITTED: &str = "SELECT 1 FROM workspace_commits WHERE workspace_id = $1";
const SQL_RECORD_COMMIT: &str = "INSERT INTO workspace_commits
    (workspace_id, workspace_name, entry_id, committed_at) VALUES ($1, $2, $3, $4)";

/// One workspace commit, as `Workspace::commit` describes it.
pub(crate) struct Commit<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) fields_json: &'a str,
    pub(crate) tags_json: &'a str,
    pub(crate) summary_group: &'a str,
    /// No records: only the summary, no point.
    pub(crate) is_empty: bool,
    pub(crate) is_shipping: bool,
}

/// Writes the commit unless this workspace file has committed before; false when it had.
/// Run it atomically (the caller's `with_atomic_link`).
pub(crate) fn commit(session: &mut PgSession, commit: &Commit<'_>) -> PgResult<bool> {
    if session
        .query_opt(SQL_IS_COMMITTED, &[&commit.id])?
        .is_some()
    {
        return Ok(false);
    }
    if !commit.is_empty {
        let committed_at = now_ms();
        let point = StoredPoint {
            entry_id: 0,
            bucket: commit.bucket.to_owned(),
            measurement: commit.name.to_owned(),
            fields_json: commit.fields_json.to_owned(),
            tags_json: commit.tags_json.to_owned(),
            committed_at,
        };
        let entry_id = insert_point(session, &point, commit.is_shipping)?;
        session.execute(
            SQL_RECORD_COMMIT,
            &[&commit.id, &commit.name, &entry_id, &committed_at],
        )?;
    }
    crate::postgresql::entries::upsert_value(
        session,
        commit.summary_group,
        "summary",
        commit.fields_json.as_bytes(),
        true,
        None,
    )?;
    Ok(true)
}
