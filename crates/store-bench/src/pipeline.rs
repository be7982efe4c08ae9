//! What the namespace and pipeline workloads share: the journal points and the Flux query
//! both subjects work on, and the raw-rusqlite side of each — the store's statements run
//! by hand on one connection, in the order the store runs them.
//!
//! The statements are copied from `crates/store/src` (`scope.rs` via `entries.rs`,
//! `journal.rs`, `workspace.rs`, `compact.rs`); the test `raw_pipeline_sql_is_the_stores_sql`
//! fails if the store's text changes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::write::GzEncoder;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OpenFlags, ToSql, TransactionBehavior};
use serde_json::{Map, Value};
use store::statements::{self, entries as sql};
use store::QuotaConfig;

use crate::backend::now_ms;
use crate::failure::{Context, Failure, Result};

/// The namespace of the scoped workload.
pub const NAMESPACE: &str = "tenant-a";
/// Its quota: both limits set, so every new key runs both checks, and high enough that
/// no set of the benchmark is refused.
pub const QUOTA: QuotaConfig = QuotaConfig {
    max_keys: 10_000_000,
    max_groups: 1_000,
};
/// The bucket of points written with no journal configured.
pub const BUCKET: &str = statements::pipeline::LOCAL_BUCKET;
/// The measurement of every benchmark point.
pub const MEASUREMENT: &str = "bench";
/// Points carry tag `host` = one of this many hosts; the Flux query selects one.
pub const HOSTS: usize = 10;

/// A journal point of the benchmark: measurement [`MEASUREMENT`], tag `host`, three
/// fields (an integer, a float and a boolean).
#[must_use]
pub fn point(index: usize) -> (Map<String, Value>, BTreeMap<String, String>) {
    let mut fields = Map::new();
    fields.insert("sequence".to_owned(), Value::from(index));
    fields.insert("latency_ms".to_owned(), Value::from(1.5));
    fields.insert("ok".to_owned(), Value::Bool(true));
    let tags = BTreeMap::from([("host".to_owned(), host(index))]);
    (fields, tags)
}

/// The host of point `index`.
#[must_use]
pub fn host(index: usize) -> String {
    format!("host-{:02}", index % HOSTS)
}

/// A workspace record: `{"score": index, "user": key}`.
#[must_use]
pub fn record(index: usize, user: &str) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("score".to_owned(), Value::from(index));
    data.insert("user".to_owned(), Value::String(user.to_owned()));
    data
}

/// The Flux query of the `flux_query` workload, and what it means for the baseline.
#[derive(Clone, Copy, Debug)]
pub struct JournalQuery {
    /// `range(start: -<range>)`.
    pub range: Duration,
    /// `filter(fn: (r) => r.host == "<host>")`.
    pub host: &'static str,
}

/// The query the workload runs: one host's points of the last hour, a tenth of them.
pub const FLUX_QUERY: JournalQuery = JournalQuery {
    range: Duration::from_secs(3_600),
    host: "host-03",
};

impl JournalQuery {
    /// The query as Flux text, as a caller of the store writes it.
    #[must_use]
    pub fn flux(&self) -> String {
        format!(
            "from(bucket: \"{BUCKET}\")\n  |> range(start: -{}s)\n  |> filter(fn: (r) => r._measurement == \"{MEASUREMENT}\" and r.host == \"{}\")",
            self.range.as_secs(),
            self.host
        )
    }
}

// The store's own statements and settings (`store::statements`), so the baseline runs
// the same SQL by construction.
pub(crate) const SQL_EXISTS: &str = sql::EXISTS;
pub(crate) const SQL_COUNT_PREFIX_UP_TO: &str = sql::COUNT_PREFIX_UP_TO;
pub(crate) const SQL_COUNT_GROUPS_PREFIX_UP_TO: &str = sql::COUNT_GROUPS_PREFIX_UP_TO;
pub(crate) const SQL_GROUP_IS_LIVE: &str = sql::GROUP_IS_LIVE;
pub(crate) const SQL_INSERT_POINT: &str = statements::pipeline::INSERT_POINT;
pub(crate) const SQL_UNARCHIVED_IN_BUCKET: &str = statements::pipeline::UNARCHIVED_IN_BUCKET;
pub(crate) const CREATE_WORKSPACE: &str = statements::pipeline::CREATE_WORKSPACE;
pub(crate) const SQL_WRITE_META: &str = statements::pipeline::WRITE_META;
pub(crate) const SQL_PUT: &str = statements::pipeline::PUT;
pub(crate) const SQL_AGGREGATE: &str = statements::pipeline::AGGREGATE;
pub(crate) const SQL_IS_COMMITTED: &str = statements::pipeline::IS_COMMITTED;
pub(crate) const SQL_RECORD_COMMIT: &str = statements::pipeline::RECORD_COMMIT;
pub(crate) const SQL_MAX_ENTRY_ID: &str = statements::pipeline::MAX_ENTRY_ID;
pub(crate) const SQL_SELECTION_PAGE: &str = statements::pipeline::SELECTION_PAGE;
pub(crate) const SQL_MARK_ARCHIVED: &str = statements::pipeline::MARK_ARCHIVED;
pub(crate) const SQL_INSERT_ARCHIVE: &str = statements::pipeline::INSERT_ARCHIVE;
pub(crate) const SQL_MARK_PUBLISHED: &str = statements::pipeline::MARK_PUBLISHED;
/// The store's page size for journal pages and its workspace statement cache.
#[allow(clippy::cast_possible_wrap)] // 256
const PAGE_SIZE: i64 = statements::PAGE_SIZE as i64;
const WORKSPACE_STATEMENT_CACHE_CAPACITY: usize =
    statements::pipeline::WORKSPACE_STATEMENT_CACHE_CAPACITY;

/// The exclusive upper bound of the names starting with `prefix`, bound as the store
/// binds it (see `backend.rs`).
pub(crate) struct PrefixEnd(Option<Vec<u8>>);

impl PrefixEnd {
    pub(crate) fn new(prefix: &str) -> PrefixEnd {
        let mut bytes = prefix.as_bytes().to_vec();
        while let Some(last) = bytes.pop() {
            if last < u8::MAX {
                bytes.push(last + 1);
                return PrefixEnd(Some(bytes));
            }
        }
        PrefixEnd(None)
    }
}

impl ToSql for PrefixEnd {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            Some(bytes) => ValueRef::Text(bytes),
            None => ValueRef::Blob(&[]),
        }))
    }
}

fn count_prefix_up_to(
    connection: &Connection,
    sql: &str,
    prefix: &str,
    limit: usize,
) -> rusqlite::Result<usize> {
    let counted: i64 = connection.prepare_cached(sql)?.query_row(
        params![
            prefix,
            PrefixEnd::new(prefix),
            now_ms(),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| row.get(0),
    )?;
    Ok(usize::try_from(counted).unwrap_or(0))
}

/// `scope.rs` `refusal`: true when the quota refuses a new key.
fn is_refused(connection: &Connection, prefix: &str, group: &str, key: &str) -> Result<bool> {
    if connection
        .prepare_cached(SQL_EXISTS)?
        .exists(params![group, key, now_ms()])?
    {
        return Ok(false);
    }
    if QUOTA.max_keys > 0
        && count_prefix_up_to(connection, SQL_COUNT_PREFIX_UP_TO, prefix, QUOTA.max_keys)?
            >= QUOTA.max_keys
    {
        return Ok(true);
    }
    Ok(QUOTA.max_groups > 0
        && !connection
            .prepare_cached(SQL_GROUP_IS_LIVE)?
            .exists(params![group, now_ms()])?
        && count_prefix_up_to(
            connection,
            SQL_COUNT_GROUPS_PREFIX_UP_TO,
            prefix,
            QUOTA.max_groups,
        )? >= QUOTA.max_groups)
}

/// `operations.rs` `upsert` in a scope with a quota: the check and the upsert in one
/// `BEGIN IMMEDIATE` transaction.
///
/// # Errors
///
/// When SQLite fails, or the quota refuses the key.
pub fn scoped_set(
    connection: &Connection,
    upsert: &str,
    group: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    let prefix = format!("{NAMESPACE}:");
    let stored = format!("{prefix}{group}");
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    if is_refused(&transaction, &prefix, &stored, key)? {
        return Err(Failure::new(format!("quota refused {stored}/{key}")));
    }
    transaction.prepare_cached(upsert)?.execute(params![
        stored,
        key,
        value,
        Option::<i64>::None
    ])?;
    transaction.commit()?;
    Ok(())
}

/// Compact JSON with sorted keys, as the store writes it.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

/// `journal.rs` `insert_point`; returns the row's `entry_id`.
fn insert_point(
    connection: &Connection,
    measurement: &str,
    fields_json: &str,
    tags_json: &str,
    committed_at: i64,
) -> rusqlite::Result<i64> {
    connection
        .prepare_cached(SQL_INSERT_POINT)?
        .execute(params![
            BUCKET,
            measurement,
            fields_json,
            tags_json,
            committed_at
        ])?;
    Ok(connection.last_insert_rowid())
}

/// `Store::commit_to_journal`: the two maps as JSON, one `INSERT`.
///
/// # Errors
///
/// When SQLite fails.
pub fn commit_point(
    connection: &Connection,
    measurement: &str,
    fields: &Map<String, Value>,
    tags: &BTreeMap<String, String>,
) -> Result<()> {
    let fields_json = to_json(fields)?;
    let tags_json = to_json(tags)?;
    insert_point(connection, measurement, &fields_json, &tags_json, now_ms())?;
    Ok(())
}

/// Writes points `range` in one transaction (untimed set-up).
///
/// # Errors
///
/// When SQLite fails.
pub fn load_points(connection: &Connection, range: std::ops::Range<usize>) -> Result<()> {
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    for index in range {
        let (fields, tags) = point(index);
        commit_point(&transaction, MEASUREMENT, &fields, &tags)?;
    }
    transaction.commit()?;
    Ok(())
}

fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

/// The Flux query done by hand: the statement the store compiles the Flux subset to
/// (bucket and time window in SQL), then the filter on the parsed fields and tags, and
/// the same eight-key rows.
///
/// # Errors
///
/// When SQLite fails.
pub fn query_journal(
    connection: &Connection,
    query: &JournalQuery,
) -> Result<Vec<Map<String, Value>>> {
    let range_ms = i64::try_from(query.range.as_millis()).unwrap_or(i64::MAX);
    let start = now_ms().saturating_sub(range_ms);
    let mut statement = connection.prepare_cached(SQL_UNARCHIVED_IN_BUCKET)?;
    let mut points = statement.query(params![BUCKET, start, Option::<i64>::None])?;
    let mut rows = Vec::new();
    while let Some(point) = points.next()? {
        let bucket: String = point.get(1)?;
        let measurement: String = point.get(2)?;
        let fields_json: String = point.get(3)?;
        let tags_json: String = point.get(4)?;
        let committed_at: i64 = point.get(5)?;
        let fields = parse_object(&fields_json);
        let tags = parse_object(&tags_json);
        let is_host =
            |map: &Map<String, Value>| map.get("host").and_then(Value::as_str) == Some(query.host);
        if measurement != MEASUREMENT || !(is_host(&tags) || is_host(&fields)) {
            continue;
        }
        let mut row = Map::new();
        row.insert("bucket_name".to_owned(), Value::String(bucket));
        row.insert("measurement".to_owned(), Value::String(measurement));
        row.insert("fields_json".to_owned(), Value::String(fields_json));
        row.insert("tags_json".to_owned(), Value::String(tags_json));
        row.insert("committed_at".to_owned(), Value::from(committed_at));
        row.insert("archived_at".to_owned(), Value::Null);
        row.insert("fields".to_owned(), Value::Object(fields));
        row.insert("tags".to_owned(), Value::Object(tags));
        rows.push(row);
    }
    Ok(rows)
}

/// A workspace file opened as the store opens one (`workspace.rs` `open_locked` and
/// `prepare_file`): exclusive locking, WAL, `synchronous=OFF`, the same tables.
pub struct RawWorkspace {
    name: String,
    id: String,
    path: PathBuf,
    connection: Connection,
}

/// Creates `<directory>/<name>.duckdb` as the store does.
///
/// # Errors
///
/// When the file cannot be created.
pub fn create_workspace(directory: &Path, name: &str, id: &str) -> Result<RawWorkspace> {
    fs::create_dir_all(directory).context("create the workspace directory")?;
    let path = directory.join(format!("{name}.duckdb"));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .context(format!("create {}", path.display()))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(&path, flags)?;
    connection.busy_timeout(Duration::ZERO)?;
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    connection.pragma_update(None, "synchronous", "OFF")?;
    connection.set_prepared_statement_cache_capacity(WORKSPACE_STATEMENT_CACHE_CAPACITY);
    let transaction =
        rusqlite::Transaction::new_unchecked(&connection, TransactionBehavior::Immediate)?;
    transaction.execute_batch(CREATE_WORKSPACE)?;
    let now = now_ms().to_string();
    for (key, value) in [
        ("workspace_id", id),
        ("workspace_name", name),
        ("created_at", &now),
        ("opened_at", &now),
    ] {
        transaction.execute(SQL_WRITE_META, params![key, value])?;
    }
    transaction.commit()?;
    Ok(RawWorkspace {
        name: name.to_owned(),
        id: id.to_owned(),
        path,
        connection,
    })
}

impl RawWorkspace {
    /// `Workspace::put`: the record as JSON, one `INSERT`.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn put(&self, kind: &str, data: &Map<String, Value>) -> Result<()> {
        let data = to_json(data)?;
        self.connection
            .prepare_cached(SQL_PUT)?
            .execute(params![kind, data, now_ms()])?;
        Ok(())
    }

    /// `Workspace::commit`: the aggregate, then in one store transaction the journal point,
    /// the commit record and the summary entry; then the file and its `-wal`/`-shm` go.
    ///
    /// # Errors
    ///
    /// When SQLite or the file system fails.
    pub fn commit(self, store: &Connection, upsert: &str) -> Result<BTreeMap<String, u64>> {
        let aggregate: BTreeMap<String, u64> = self
            .connection
            .prepare_cached(SQL_AGGREGATE)?
            .query_map([], |row| {
                let count: i64 = row.get(1)?;
                Ok((row.get(0)?, u64::try_from(count).unwrap_or(0)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let fields_json = to_json(&aggregate)?;
        let tags_json = to_json(&BTreeMap::from([("workspace", self.name.as_str())]))?;
        let group = format!("workspace:{}", self.name);
        let transaction =
            rusqlite::Transaction::new_unchecked(store, TransactionBehavior::Immediate)?;
        let is_committed = transaction
            .prepare_cached(SQL_IS_COMMITTED)?
            .exists([&self.id])?;
        if !is_committed {
            let committed_at = now_ms();
            let entry_id = insert_point(
                &transaction,
                &self.name,
                &fields_json,
                &tags_json,
                committed_at,
            )?;
            transaction
                .prepare_cached(SQL_RECORD_COMMIT)?
                .execute(params![self.id, self.name, entry_id, committed_at])?;
            transaction.prepare_cached(upsert)?.execute(params![
                group,
                "summary",
                fields_json,
                Option::<i64>::None
            ])?;
            transaction.commit()?;
        }
        let RawWorkspace {
            path, connection, ..
        } = self;
        connection.close().map_err(|(_, error)| error)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            match fs::remove_file(&side) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Failure::new(format!("remove {}: {error}", path.display())));
                }
                _ => {}
            }
        }
        Ok(aggregate)
    }
}

/// `entry_id, bucket_name, measurement, fields_json, tags_json, committed_at`.
type StoredPoint = (i64, String, String, String, String, i64);

fn absolute_text(path: &Path) -> Result<String> {
    Ok(std::path::absolute(path)
        .context("resolve a path")?
        .display()
        .to_string())
}

/// `Store::compact` done by hand, in gzip: the same keyset pages of the same `SELECT`,
/// each point written as the same JSON line into a gzip stream over a buffered temporary
/// file, which is synced; then the same `UPDATE` and archive record in one transaction,
/// the rename, the directory sync and the `published_at` update. Returns the points
/// archived. It trusts its own rows: unlike the store it does not check that each stored
/// `fields_json`/`tags_json` is a JSON object before copying it into the archive.
///
/// # Errors
///
/// When SQLite or the file system fails.
pub fn compact(connection: &Connection, output: &Path, name: &str, cutoff: i64) -> Result<u64> {
    fs::create_dir_all(output).context("create the archive directory")?;
    let highest: i64 = connection
        .prepare_cached(SQL_MAX_ENTRY_ID)?
        .query_row([], |row| row.get(0))?;
    let read_page = |after: (i64, i64)| -> Result<Vec<StoredPoint>> {
        Ok(connection
            .prepare_cached(SQL_SELECTION_PAGE)?
            .query_map(
                params![PAGE_SIZE, after.0, after.1, cutoff, highest],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )?
            .collect::<rusqlite::Result<_>>()?)
    };
    // As the store: nothing to archive, no file.
    let mut page = read_page((i64::MIN, i64::MIN))?;
    if page.is_empty() {
        return Ok(0);
    }
    let final_path = output.join(name);
    let temporary_path = output.join(format!(".{name}.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary_path)
        .context("create the temporary archive")?;
    let mut encoder = GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
    let mut written = 0_u64;
    let mut line = String::new();
    loop {
        for (_, bucket, measurement, fields_json, tags_json, committed_at) in &page {
            line.clear();
            line.push_str("{\"bucket\":");
            line.push_str(&Value::String(bucket.clone()).to_string());
            line.push_str(",\"committed_at\":");
            line.push_str(&committed_at.to_string());
            line.push_str(",\"fields\":");
            line.push_str(fields_json);
            line.push_str(",\"measurement\":");
            line.push_str(&Value::String(measurement.clone()).to_string());
            line.push_str(",\"tags\":");
            line.push_str(tags_json);
            line.push_str("}\n");
            encoder
                .write_all(line.as_bytes())
                .context("write the archive")?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX) => {
                page = read_page((last.5, last.0))?;
            }
            _ => break,
        }
    }
    let file: File = encoder
        .finish()
        .context("finish the archive")?
        .into_inner()
        .map_err(|error| Failure::new(format!("flush the archive: {}", error.error())))?;
    file.sync_all().context("sync the archive")?;
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    let now = now_ms();
    let marked = transaction
        .prepare_cached(SQL_MARK_ARCHIVED)?
        .execute(params![now, name, cutoff, highest])?;
    if marked as u64 != written {
        return Err(Failure::new(format!(
            "marked {marked} points, wrote {written}"
        )));
    }
    transaction
        .prepare_cached(SQL_INSERT_ARCHIVE)?
        .execute(params![
            name,
            absolute_text(&final_path)?,
            absolute_text(&temporary_path)?,
            now
        ])?;
    transaction.commit()?;
    fs::rename(&temporary_path, &final_path).context("publish the archive")?;
    File::open(output)
        .and_then(|directory| directory.sync_all())
        .context("sync the archive directory")?;
    connection
        .prepare_cached(SQL_MARK_PUBLISHED)?
        .execute(params![now_ms(), name])?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_text_good_names_the_query() {
        let text = FLUX_QUERY.flux();
        assert!(text.contains("range(start: -3600s)"));
        assert!(text.contains("r.host == \"host-03\""));
        assert_eq!(host(13), "host-03");
    }
}
