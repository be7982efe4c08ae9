//! The journal: time-series points kept in the store's own file, queried with a Flux
//! subset or read-only SQL, archived by [`Store::compact`].
//!
//! The table keeps the Go package's name and columns (`journal_entries`, `fields_json`,
//! `committed_at`, …), so Go and Rust read and write the same files.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::params;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::pipeline::flux;
use crate::pipeline::outbox::FLUSH;
use crate::pipeline::point::{
    has_field, insert_point, parse_object, to_json, JournalEntry, Row, StoredPoint, NO_FIELD,
    SQL_UNARCHIVED, SQL_UNARCHIVED_IN_BUCKET,
};
use crate::postgresql::journal as pg;
use crate::sqlite::query::{
    first_keyword, is_sql_query, query_read_only, query_read_only_table, Inflate, QueryLimits,
    Table,
};
use crate::sqlite::sql::now_ms;
use crate::storage::{session, Conn, Link};
use crate::store::Store;

/// SQL statements that are never read-only; named so that the refusal says `read-only`
/// rather than "not Flux".
const WRITING_KEYWORDS: &[&str] = &[
    "insert",
    "update",
    "delete",
    "replace",
    "upsert",
    "create",
    "drop",
    "alter",
    "attach",
    "detach",
    "begin",
    "commit",
    "end",
    "rollback",
    "savepoint",
    "release",
    "vacuum",
    "analyze",
    "reindex",
];

impl Store {
    /// Ships every pending journal point to InfluxDB now, batch by batch, ignoring any
    /// backoff, and returns how many points InfluxDB acknowledged. Without a journal
    /// configured there is nothing to ship and it returns `Ok(0)`.
    ///
    /// The background shipper does the same on its own after each commit; call this to
    /// know that the points have arrived (before a report, say, or a shutdown).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let store = store::Store::open(":memory:")?; // no journal configured
    /// let fields = serde_json::json!({"ok": true});
    /// store.commit_to_journal("login", fields.as_object().expect("an object"), &BTreeMap::new())?;
    /// assert_eq!(store.flush_journal()?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Export` at the first batch InfluxDB did not acknowledge, with its HTTP
    /// status when there was an answer (a permanent refusal has marked that batch failed;
    /// earlier batches stay shipped); `Database`.
    pub fn flush_journal(&self) -> Result<usize> {
        if self.is_closed() {
            return Err(Error::Closed { operation: FLUSH });
        }
        match self.engine.outbox() {
            Some(outbox) => outbox.flush(&self.engine.database),
            None => Ok(0),
        }
    }

    /// Records one point in the journal: a measurement, its fields and its tags, stamped
    /// with the current time. Emits no event. Go: `CommitToJournal`.
    ///
    /// A point needs at least one field with a non-empty name and a non-null value:
    /// InfluxDB cannot store a point without one, so it is refused here (the Go package
    /// accepted it) rather than committed and never shipped.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let store = store::Store::open(":memory:")?;
    /// let fields = serde_json::json!({"duration_ms": 42, "ok": true});
    /// let fields = fields.as_object().expect("an object");
    /// let tags = BTreeMap::from([("route".to_owned(), "/login".to_owned())]);
    /// let entry = store.commit_to_journal("request", fields, &tags)?;
    /// assert_eq!(entry.measurement, "request");
    /// assert_eq!(store.query_journal("")?.len(), 1);
    /// let error = store.commit_to_journal("request", &serde_json::Map::new(), &tags);
    /// assert!(error.unwrap_err().to_string().contains("fields are empty"));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `InvalidInput` (`measurement is empty`; `fields are empty` when no field
    /// has a non-empty name and a non-null value); `Database`.
    pub fn commit_to_journal(
        &self,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &BTreeMap<String, String>,
    ) -> Result<JournalEntry> {
        const OPERATION: &str = "store.commit_to_journal";
        if self.is_closed() {
            return Err(Error::Closed {
                operation: OPERATION,
            });
        }
        if measurement.is_empty() {
            return Err(Error::invalid_input(OPERATION, "measurement is empty"));
        }
        if !has_field(fields) {
            return Err(Error::invalid_input(OPERATION, NO_FIELD));
        }
        let bucket = self.engine.journal_bucket();
        let fields_json = to_json(fields);
        let tags_json = to_json(tags);
        let is_shipping = self.engine.is_shipping();
        if self.engine.database.is_postgres() && measurement.contains('\0') {
            return Err(Error::invalid_input(
                OPERATION,
                "measurement contains NUL, which PostgreSQL text cannot hold",
            ));
        }
        self.engine.database.check_writable(OPERATION)?;
        let committed_at =
            self.engine
                .database
                .with_link(OPERATION, "write journal point", |connection| {
                    let committed_at = now_ms();
                    match connection {
                        Conn::Sqlite(connection) => {
                            let transaction = rusqlite::Transaction::new_unchecked(
                                connection,
                                rusqlite::TransactionBehavior::Immediate,
                            )?;
                            insert_point(
                                &transaction,
                                &bucket,
                                measurement,
                                &fields_json,
                                &tags_json,
                                committed_at,
                                is_shipping,
                            )?;
                            transaction.commit()?;
                        }
                        // One statement writes the point and its outbox row, so they commit
                        // together.
                        Conn::Postgres(cell) => {
                            let point = StoredPoint {
                                entry_id: 0,
                                bucket: bucket.clone(),
                                measurement: measurement.to_owned(),
                                fields_json: fields_json.clone(),
                                tags_json: tags_json.clone(),
                                committed_at,
                            };
                            pg::insert_point(&mut *session(cell)?, &point, is_shipping)?;
                        }
                    }
                    Ok(committed_at)
                })?;
        self.engine.point_committed();
        Ok(JournalEntry {
            bucket,
            measurement: measurement.to_owned(),
            fields: fields.clone(),
            tags: tags.clone(),
            committed_at,
        })
    }

    /// Reads the journal. An empty query returns every point not yet archived; a query
    /// starting with `SELECT`, `WITH`, `EXPLAIN` or `PRAGMA` runs as SQL if it is one
    /// read-only statement; anything else is read as Flux (`from |> range |> filter`, see
    /// the crate's specification). Go: `QueryJournal`.
    ///
    /// On PostgreSQL the SQL is PostgreSQL's (no `PRAGMA`), over tables of the same names
    /// and columns, run in a `READ ONLY` transaction with the same time limit (a
    /// statement timeout) and row limit, and always rolled back. Values come back as on
    /// SQLite: integers, numbers (`numeric` too; an integral `SUM` stays an integer),
    /// booleans as 1 or 0, text, `json`/`jsonb` and `uuid` as strings, `bytea` as lossy
    /// UTF-8; a column of another type (a timestamp, an array) is refused with an error
    /// naming it: cast it to text.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let store = store::Store::open(":memory:")?;
    /// let tags = BTreeMap::from([("user".to_owned(), "ada".to_owned())]);
    /// let fields = serde_json::json!({"ok": true});
    /// store.commit_to_journal("login", fields.as_object().expect("an object"), &tags)?;
    /// let rows = store.query_journal(
    ///     r#"from(bucket: "store") |> range(start: -1h) |> filter(fn: (r) => r.user == "ada")"#,
    /// )?;
    /// assert_eq!(rows[0]["measurement"], "login");
    /// assert_eq!(rows[0]["tags"]["user"], "ada");
    /// let counted = store.query_journal("SELECT COUNT(*) AS n FROM journal_entries")?;
    /// assert_eq!(counted[0]["n"], 1);
    /// assert!(store.query_journal("DELETE FROM journal_entries").is_err());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Query` for SQL that is not a single read-only statement (the message
    /// contains `read-only`), SQL that fails, Flux outside the subset (`unsupported
    /// Flux: …`, listing what is supported) or malformed (`parse Flux: …`); `Database`.
    pub fn query_journal(&self, query: &str) -> Result<Vec<Row>> {
        self.journal_rows("store.query_journal", query)
    }

    /// [`query_journal`](Store::query_journal) with the columns in order: read-only SQL
    /// keeps the statement's columns, names and repeated names exactly (no `fields`/`tags`
    /// added); empty and Flux queries give the eight point columns in the order
    /// `bucket_name, measurement, fields_json, tags_json, committed_at, archived_at,
    /// fields, tags`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let store = store::Store::open(":memory:")?;
    /// let mut fields = serde_json::Map::new();
    /// fields.insert("count".into(), 1.into());
    /// store.commit_to_journal("login", &fields, &BTreeMap::new())?;
    /// let table = store.query_journal_table(
    ///     "SELECT measurement AS z, 1 AS a, 2 AS a FROM journal_entries",
    /// )?;
    /// assert_eq!(table.columns, ["z", "a", "a"]);
    /// assert_eq!(table.rows, [vec![serde_json::json!("login"), 1.into(), 2.into()]]);
    /// let points = store.query_journal_table("")?;
    /// assert_eq!(points.columns[..2], ["bucket_name", "measurement"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`query_journal`](Store::query_journal), with operation
    /// `store.query_journal_table`.
    pub fn query_journal_table(&self, query: &str) -> Result<Table> {
        const OPERATION: &str = "store.query_journal_table";
        let trimmed = query.trim();
        if trimmed.is_empty() || !is_sql_query(trimmed) || self.is_closed() {
            let rows = self.journal_rows(OPERATION, query)?;
            return Ok(Table {
                columns: POINT_COLUMNS.iter().map(|&name| name.to_owned()).collect(),
                rows: rows
                    .into_iter()
                    .map(|mut row| {
                        POINT_COLUMNS
                            .iter()
                            .map(|name| row.remove(*name).unwrap_or(Value::Null))
                            .collect()
                    })
                    .collect(),
            });
        }
        self.read_only_sql(OPERATION, trimmed)
    }

    /// Runs a caller's read-only SQL on either database, within the same limits: SQLite's
    /// authorizer and progress handler, or PostgreSQL's `BEGIN READ ONLY` with a
    /// statement timeout, always rolled back (see `postgresql::journal`).
    fn read_only_sql(&self, operation: &'static str, sql: &str) -> Result<Table> {
        self.engine
            .database
            .with_link_raw(operation, |link| match link {
                Link::Sqlite(connection) => query_read_only_table(connection, operation, sql),
                Link::Postgres(cell) => {
                    pg::query_read_only(cell.get_mut(), operation, sql, QueryLimits::DEFAULT)
                }
            })
    }

    /// The unarchived points, oldest first, from either database; with `bucket` and a
    /// time range (Flux), only those.
    fn unarchived_points(
        &self,
        operation: &'static str,
        filter: Option<&flux::FluxQuery>,
    ) -> Result<Vec<StoredPoint>> {
        self.engine
            .database
            .with_link(operation, "read journal", |connection| match connection {
                Conn::Sqlite(connection) => {
                    let points = match filter {
                        None => connection
                            .prepare_cached(SQL_UNARCHIVED)?
                            .query_map([], StoredPoint::from_row)?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                        Some(query) => connection
                            .prepare_cached(SQL_UNARCHIVED_IN_BUCKET)?
                            .query_map(
                                params![query.bucket, query.start_ms, query.stop_ms],
                                StoredPoint::from_row,
                            )?
                            .collect::<rusqlite::Result<Vec<_>>>()?,
                    };
                    Ok(points)
                }
                Conn::Postgres(cell) => {
                    let mut session = session(cell)?;
                    Ok(match filter {
                        None => pg::unarchived(&mut session)?,
                        Some(query) => pg::unarchived_in_bucket(
                            &mut session,
                            &query.bucket,
                            query.start_ms,
                            query.stop_ms,
                        )?,
                    })
                }
            })
    }

    /// The rows of [`query_journal`](Store::query_journal), errors naming `operation`.
    fn journal_rows(&self, operation: &'static str, query: &str) -> Result<Vec<Row>> {
        if self.is_closed() {
            return Err(Error::Closed { operation });
        }
        let query = query.trim();
        if query.is_empty() {
            let points = self.unarchived_points(operation, None)?;
            return Ok(points
                .into_iter()
                .map(|point| {
                    let fields = parse_object(&point.fields_json);
                    let tags = parse_object(&point.tags_json);
                    journal_row(point, fields, tags)
                })
                .collect());
        }
        if is_sql_query(query) {
            if self.engine.database.is_postgres() {
                return Ok(self
                    .read_only_sql(operation, query)?
                    .into_objects(Inflate::JournalColumns));
            }
            return self
                .engine
                .database
                .with_connection(operation, |connection| {
                    query_read_only(connection, operation, query, Inflate::JournalColumns)
                });
        }
        let (keyword, _) = first_keyword(query);
        if WRITING_KEYWORDS
            .iter()
            .any(|word| word.eq_ignore_ascii_case(keyword))
        {
            return Err(Error::query(
                operation,
                format!("{keyword} is refused: only a single read-only SQL statement is allowed"),
                None,
            ));
        }
        self.query_flux(operation, query)
    }

    fn query_flux(&self, operation: &'static str, source: &str) -> Result<Vec<Row>> {
        let query = flux::parse(source, now_ns())
            .map_err(|error| Error::query(operation, error.to_string(), None))?;
        let points = self.unarchived_points(operation, Some(&query))?;
        let mut rows = Vec::new();
        for point in points {
            let fields = parse_object(&point.fields_json);
            let tags = parse_object(&point.tags_json);
            if query.matches(&point.bucket, &point.measurement, &fields, &tags) {
                rows.push(journal_row(point, fields, tags));
            }
        }
        Ok(rows)
    }
}

/// The eight keys of an unarchived point in empty and Flux results, in the order
/// [`Store::query_journal_table`] gives them.
const POINT_COLUMNS: [&str; 8] = [
    "bucket_name",
    "measurement",
    "fields_json",
    "tags_json",
    "committed_at",
    "archived_at",
    "fields",
    "tags",
];

/// The eight keys of an unarchived point in empty and Flux results.
fn journal_row(point: StoredPoint, fields: Map<String, Value>, tags: Map<String, Value>) -> Row {
    let mut row = Map::new();
    row.insert("bucket_name".to_owned(), Value::String(point.bucket));
    row.insert("measurement".to_owned(), Value::String(point.measurement));
    row.insert("fields_json".to_owned(), Value::String(point.fields_json));
    row.insert("tags_json".to_owned(), Value::String(point.tags_json));
    row.insert("committed_at".to_owned(), Value::from(point.committed_at));
    row.insert("archived_at".to_owned(), Value::Null);
    row.insert("fields".to_owned(), Value::Object(fields));
    row.insert("tags".to_owned(), Value::Object(tags));
    row
}

/// The wall clock in Unix nanoseconds: the `now` of a Flux query.
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i128::try_from(elapsed.as_nanos()).unwrap_or(i128::MAX)
        })
}
