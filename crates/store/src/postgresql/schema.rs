//! The PostgreSQL tables, created on first use.
//!
//! Creation runs in one transaction under an advisory lock, so that several processes
//! opening the same new database at once do not race in `CREATE TABLE IF NOT EXISTS`
//! (which is not safe against concurrent creators of the same name).

use postgres::Client;

use crate::postgresql::notify;
use crate::postgresql::session::quote_identifier;

/// The key of the advisory lock that creation holds (any fixed number: "stor" in ASCII).
const CREATE_LOCK: i64 = 0x7374_6f72;

/// The entries table: the same rows as SQLite's, as bytes (see the module docs of
/// `postgres`). The partial index serves the purge.
const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS entries (
    group_name    BYTEA   NOT NULL,
    entry_key     BYTEA   NOT NULL,
    entry_value   BYTEA   NOT NULL,
    value_is_text BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at    BIGINT,
    PRIMARY KEY (group_name, entry_key)
);
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
";

/// Creates the schema (when the URL named one) and the tables, when missing.
pub(crate) fn ensure(client: &mut Client, schema: Option<&str>) -> Result<(), postgres::Error> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK])?;
    if let Some(schema) = schema {
        transaction.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        ))?;
    }
    transaction.batch_execute(CREATE_TABLES)?;
    transaction.batch_execute(notify::CREATE_FUNCTION)?;
    let has_trigger: bool = transaction
        .query_one(notify::SQL_HAS_TRIGGER, &[])?
        .try_get(0)?;
    if !has_trigger {
        transaction.batch_execute(notify::CREATE_TRIGGER)?;
    }
    transaction.commit()
}
