//! Journal points: the record a caller sees, the row as stored, and the SQL that writes
//! and reads them. The table keeps the Go package's name and columns
//! (`journal_entries`, `fields_json`, `committed_at`, …), so Go and Rust read and write
//! the same files.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use crate::pipeline::outbox::queue_point;
use crate::sqlite::sql::text;

/// One result row of [`Store::query_journal`](crate::Store::query_journal) or
/// [`Workspace::query`](crate::Workspace::query): column name to value.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// let rows: Vec<store::Row> = store.query_journal("SELECT 1 AS one")?;
/// assert_eq!(rows[0]["one"], 1);
/// # Ok::<(), store::Error>(())
/// ```
pub type Row = Map<String, Value>;

/// One point of the journal, as [`Store::commit_to_journal`](crate::Store::commit_to_journal)
/// returns it and [`read_archive`](crate::read_archive) reads it back.
///
/// ```
/// use std::collections::BTreeMap;
/// let store = store::Store::open(":memory:")?;
/// let mut fields = serde_json::Map::new();
/// fields.insert("likes".into(), 3.into());
/// let tags = BTreeMap::from([("user".to_owned(), "ada".to_owned())]);
/// let entry = store.commit_to_journal("activity", &fields, &tags)?;
/// assert_eq!(entry.bucket, "store"); // no journal configured: the local bucket
/// assert_eq!(entry.fields["likes"], 3);
/// # Ok::<(), store::Error>(())
/// ```
///
/// It is also the line of an archive (and of the CLI's JSON output): serde reads it from
/// and writes it to `{"bucket","measurement","fields","tags","committed_at"}`, in that
/// order (the declaration's). The archive writer builds its lines by hand in the Go
/// package's alphabetical order instead, so that the stored JSON text of fields and tags
/// is copied byte for byte (big integers, `1.10`) rather than re-serialised.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JournalEntry {
    /// The bucket: the configured journal's `bucket_name`, else `"store"`.
    pub bucket: String,
    /// What was measured, e.g. `activity`.
    pub measurement: String,
    /// The values, e.g. `{"likes": 3}`.
    pub fields: Map<String, Value>,
    /// Labels to select points by, e.g. `{"user": "ada"}`.
    pub tags: BTreeMap<String, String>,
    /// When the point was committed, in Unix milliseconds.
    pub committed_at: i64,
}

/// The bucket of points written while no journal is configured.
pub(crate) const LOCAL_BUCKET: &str = "store";

pub(crate) const SQL_INSERT_POINT: &str = "INSERT INTO journal_entries
    (bucket_name, measurement, fields_json, tags_json, committed_at)
    VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const SQL_UNARCHIVED: &str =
    "SELECT entry_id, bucket_name, measurement, fields_json, tags_json,
        committed_at
    FROM journal_entries WHERE archived_at IS NULL ORDER BY committed_at, entry_id";
pub(crate) const SQL_UNARCHIVED_IN_BUCKET: &str =
    "SELECT entry_id, bucket_name, measurement, fields_json,
        tags_json, committed_at
    FROM journal_entries
    WHERE archived_at IS NULL AND bucket_name = ?1
        AND (?2 IS NULL OR committed_at >= ?2) AND (?3 IS NULL OR committed_at < ?3)
    ORDER BY committed_at, entry_id";

/// A journal row as stored.
#[derive(Clone, Debug)]
pub(crate) struct StoredPoint {
    pub(crate) entry_id: i64,
    pub(crate) bucket: String,
    pub(crate) measurement: String,
    pub(crate) fields_json: String,
    pub(crate) tags_json: String,
    pub(crate) committed_at: i64,
}

impl StoredPoint {
    /// Reads `entry_id, bucket_name, measurement, fields_json, tags_json, committed_at`.
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPoint> {
        Ok(StoredPoint {
            entry_id: row.get(0)?,
            bucket: text(row, 1)?,
            measurement: text(row, 2)?,
            fields_json: text(row, 3)?,
            tags_json: text(row, 4)?,
            committed_at: row.get(5)?,
        })
    }
}

/// Why a point without a field is refused.
pub(crate) const NO_FIELD: &str = "fields are empty: a point needs at least one field with a \
    non-empty name and a non-null value (InfluxDB cannot store a point without one)";

/// True when `fields` holds a field InfluxDB can store: a non-empty name with a value
/// other than `null` (the line protocol omits the others, see `line_protocol::line`).
///
/// A point without one used to be committed and then silently dropped from the outbox,
/// so a caller saw "committed" for a point that never reached InfluxDB. It is refused
/// instead, whether or not a journal is configured, so that the same call behaves the
/// same way in every configuration.
pub(crate) fn has_field(fields: &Map<String, Value>) -> bool {
    fields
        .iter()
        .any(|(name, value)| !name.is_empty() && !value.is_null())
}

/// Inserts one point and returns its `entry_id`. Shared by `commit_to_journal` and the
/// workspace commit, so both write the same row and, when `is_shipping`, the same outbox
/// row; the caller runs it inside its transaction so that the two commit together.
pub(crate) fn insert_point(
    connection: &Connection,
    bucket: &str,
    measurement: &str,
    fields_json: &str,
    tags_json: &str,
    committed_at: i64,
    is_shipping: bool,
) -> rusqlite::Result<i64> {
    connection
        .prepare_cached(SQL_INSERT_POINT)?
        .execute(params![
            bucket,
            measurement,
            fields_json,
            tags_json,
            committed_at
        ])?;
    let entry_id = connection.last_insert_rowid();
    if is_shipping {
        queue_point(connection, entry_id)?;
    }
    Ok(entry_id)
}

/// Compact JSON with sorted keys, as Go's `json.Marshal` writes a map. `serde_json`'s map
/// is a `BTreeMap`, so the order comes for free; serialising a `Value` cannot fail.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// A stored JSON object, or an empty one when the text (written by another program) is
/// not an object: reads never fail on foreign data.
pub(crate) fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}
