//! Opening the SQLite file: pragmas, tables, and migration of files written by older
//! versions of the Go package.
//!
//! The `entries` table is column-for-column the Go package's, so a file written by Go
//! opens here unchanged and the other way round. A new file creates it `WITHOUT ROWID`:
//! the rows are then stored in primary-key order, which made group reads five to seven
//! times faster and counts about twelve times faster than a rowid table when measured.
//!
//! # Opening writes nothing when nothing needs writing
//!
//! Opening an existing, current file only reads: the journal mode is read before it is
//! set (a file already in WAL mode needs no change, and changing it takes the exclusive
//! lock), and the schema is checked against `sqlite_master` before any `CREATE` or
//! migration runs in a write transaction. So a read-only command opens a file while
//! another process holds a write transaction on it, exactly as `sqlite3` can.
//!
//! # Busy at open
//!
//! Setting the journal mode does not call SQLite's busy handler: when several processes
//! create one file at the same moment, all but one get `SQLITE_BUSY` at once. Every open
//! step that can meet `SQLITE_BUSY` or `SQLITE_LOCKED` is therefore retried with a short
//! backoff (1 ms doubling to 20 ms) until the busy timeout (5 s) has passed.
//!
//! # Read-only
//!
//! [`StoreConfig::read_only`](crate::StoreConfig::read_only) opens the file with
//! `SQLITE_OPEN_READ_ONLY`: no pragma that writes, no schema set-up (a file whose schema
//! would need a migration is refused), and the file must exist. A WAL file read by a
//! reader that cannot create its `-shm` (a read-only directory) cannot be opened the
//! ordinary way; when no `-wal` with content and no `-shm` exist (a file closed
//! cleanly), nothing can be writing it in WAL mode, so it is opened as an immutable file
//! (`file:…?immutable=1`) instead. With a `-wal` that holds frames and no way to build
//! its index, the open fails with a message saying so: reading the main file alone
//! would return stale data.
//!
//! # The WAL index (`-shm`) and full disks
//!
//! SQLite's unix VFS grows the `-shm` by writing one byte at the end of each new 4 KiB
//! page before it maps the page, so the file system allocates every page it maps and a
//! full disk fails that write (`SQLITE_IOERR_SHMSIZE`) instead of faulting later. The
//! `-shm` only grows while the WAL grows, so the store keeps the WAL bounded (see
//! [`StoreConfig::wal_size_limit`](crate::StoreConfig::wal_size_limit)) and, on open
//! for writing, reserves the index for a WAL of that size the same way SQLite does,
//! after the connection has joined the `-shm` (so no other opener truncates it). A disk
//! too full even for that makes the open fail as [`Error::DiskFull`] rather than a later
//! write fault. Writing zeros past the end of the `-shm` is exactly SQLite's own way of
//! extending it, so the reservation never changes what SQLite has written.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::config::StoreConfig;
use crate::error::{Error, Result};

const OPERATION: &str = "store.open";

/// The path that means "a private in-memory database".
pub(crate) const MEMORY_PATH: &str = ":memory:";

pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 64;
/// The first and the longest pause between two attempts of an open step that met
/// `SQLITE_BUSY`.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const LONGEST_BACKOFF: Duration = Duration::from_millis(20);

/// The size of one WAL-index region in the `-shm` file, and the WAL frames it indexes.
const SHM_REGION_BYTES: u64 = 32 * 1024;
const FRAMES_PER_SHM_REGION: u64 = 4096;
/// The page size of the `-shm` as SQLite's unix VFS extends it.
const SHM_PAGE_BYTES: u64 = 4096;

const CREATE_ENTRIES: &str = "CREATE TABLE IF NOT EXISTS entries (
    group_name  TEXT NOT NULL,
    entry_key   TEXT NOT NULL,
    entry_value TEXT NOT NULL,
    expires_at  INTEGER,
    revision    INTEGER,
    PRIMARY KEY (group_name, entry_key)
) WITHOUT ROWID";

/// Lets the purge find expired rows without reading the entries that never expire.
const CREATE_EXPIRES_AT_INDEX: &str = "CREATE INDEX IF NOT EXISTS entries_expires_at_idx
    ON entries (expires_at) WHERE expires_at IS NOT NULL";

/// Every table, index and trigger a current file has (`type`, `name`).
const CURRENT_OBJECTS: [(&str, &str); 13] = [
    ("table", "entries"),
    ("index", "entries_expires_at_idx"),
    ("table", "entry_changes"),
    ("trigger", "entry_changes_on_insert"),
    ("trigger", "entry_changes_on_update"),
    ("trigger", "entry_changes_on_delete"),
    ("table", "journal_entries"),
    ("index", "journal_entries_bucket_committed_at_idx"),
    ("index", "journal_entries_unarchived_idx"),
    ("index", "journal_entries_archive_name_idx"),
    ("table", "journal_archives"),
    ("table", "workspace_commits"),
    ("table", "journal_outbox"),
];

/// An opened connection, and whether its file records revisions: always after an open
/// for writing (which adds the history); a read-only open of an earlier release's file
/// may lack it.
pub(crate) struct Opened {
    pub(crate) connection: Connection,
    pub(crate) has_change_feed: bool,
}

/// Opens the connection and prepares it: pragmas, schema, migration; or, for a
/// read-only configuration, opens it for reading and checks the schema.
pub(crate) fn open_connection(config: &StoreConfig) -> Result<Opened> {
    let path = config.database_path.as_path();
    let is_memory = path.as_os_str() == MEMORY_PATH;
    if config.read_only && !is_memory {
        return open_read_only(path);
    }
    let connection = if is_memory {
        Connection::open_in_memory()
    } else {
        // No SQLITE_OPEN_URI: the path is a file name, never a `file:` URI.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Connection::open_with_flags(path, flags)
    }
    .map_err(|source| {
        Error::database(
            OPERATION,
            format!("open database {}", path.display()),
            source,
        )
    })?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    configure(&connection, is_memory, config, deadline)?;
    let state = retry_busy(deadline, || schema_state(&connection))
        .map_err(|source| Error::database(OPERATION, "check schema", source))?;
    if state != SchemaState::Current {
        retry_busy(deadline, || ensure_schema(&connection))
            .map_err(|source| Error::database(OPERATION, "ensure schema", source))?;
    }
    if !is_memory && !config.read_only {
        reserve_shm(&connection, path, config.wal_size_limit)?;
    }
    Ok(Opened {
        connection,
        has_change_feed: true,
    })
}

fn configure(
    connection: &Connection,
    is_memory: bool,
    config: &StoreConfig,
    deadline: Instant,
) -> Result<()> {
    let failed = |context: &str| {
        let context = context.to_owned();
        move |source| Error::database(OPERATION, context, source)
    };
    // First, so that every later step waits for a writer rather than failing at once.
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(failed("set busy timeout"))?;
    let journal_mode =
        retry_busy(deadline, || ensure_wal(connection)).map_err(failed("set journal mode"))?;
    let expected = if is_memory { "memory" } else { "wal" };
    if !journal_mode.eq_ignore_ascii_case(expected) {
        return Err(Error::invalid_input(
            OPERATION,
            format!("set journal mode: SQLite reports {journal_mode:?}, expected {expected:?}"),
        ));
    }
    connection
        .pragma_update(None, "synchronous", config.durability.pragma_value())
        .map_err(failed("set synchronous"))?;
    // After a checkpoint has reset the WAL, SQLite truncates it to this size.
    let limit = i64::try_from(config.wal_size_limit).unwrap_or(i64::MAX);
    connection
        .pragma_update(None, "journal_size_limit", limit)
        .map_err(failed("set journal size limit"))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(())
}

/// Puts the file in WAL mode unless it already is, and returns the journal mode. Reading
/// the schema first makes SQLite read the file header, so an existing WAL file reports
/// `wal` without the exclusive lock a change of mode takes.
fn ensure_wal(connection: &Connection) -> rusqlite::Result<String> {
    connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    let current: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if current.eq_ignore_ascii_case("wal") || current.eq_ignore_ascii_case("memory") {
        return Ok(current);
    }
    connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
}

/// Runs `attempt` again while it fails with `SQLITE_BUSY` or `SQLITE_LOCKED`, pausing a
/// little longer each time, until `deadline`.
pub(crate) fn retry_busy<T>(
    deadline: Instant,
    mut attempt: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let mut pause = FIRST_BACKOFF;
    loop {
        match attempt() {
            Err(error) if is_busy(&error) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(error);
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(LONGEST_BACKOFF);
            }
            other => return other,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// How far a file's schema is from the current one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SchemaState {
    /// Every table, index, trigger and column is there: opening writes nothing.
    Current,
    /// Current but for the change history (a file of an earlier release): readable as it
    /// is, with revisions unavailable until it is opened once for writing.
    NoChangeFeed,
    /// Needs a migration before it can be read.
    Old,
}

/// Where the file stands against the current schema (and the Go package's old `kv`
/// table, which always needs migrating).
fn schema_state(connection: &Connection) -> rusqlite::Result<SchemaState> {
    let mut statement = connection.prepare(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')",
    )?;
    let present = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let has = |kind: &str, name: &str| present.iter().any(|(k, n)| k == kind && n == name);
    let is_change_feed = |name: &str| name == "entry_changes" || name.starts_with("entry_changes_");
    let readable = !has("table", "kv")
        && CURRENT_OBJECTS
            .iter()
            .filter(|(_, name)| !is_change_feed(name))
            .all(|(kind, name)| has(kind, name))
        && has_column(connection, "entries", "expires_at")?
        && has_column(connection, "journal_entries", "archive_name")?;
    if !readable {
        return Ok(SchemaState::Old);
    }
    let has_change_feed = CURRENT_OBJECTS
        .iter()
        .filter(|(_, name)| is_change_feed(name))
        .all(|(kind, name)| has(kind, name))
        && has_column(connection, "entries", "revision")?;
    Ok(if has_change_feed {
        SchemaState::Current
    } else {
        SchemaState::NoChangeFeed
    })
}

/// Opens an existing file for reading only.
fn open_read_only(path: &Path) -> Result<Opened> {
    let open_failed = |source| {
        Error::database(
            OPERATION,
            format!("open database {} read-only", path.display()),
            source,
        )
    };
    if !path.exists() {
        return Err(Error::invalid_input(
            OPERATION,
            format!(
                "open database {} read-only: the file does not exist (read-only never creates one)",
                path.display()
            ),
        ));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(open_failed)?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| Error::database(OPERATION, "set busy timeout", source))?;
    let opened = match retry_busy(deadline, || schema_state(&connection)) {
        Ok(state) => finish_read_only(connection, state)?,
        Err(error) if needs_immutable(&error, path) => {
            drop(connection);
            let connection = open_immutable(path).map_err(open_failed)?;
            let state = schema_state(&connection)
                .map_err(|source| Error::database(OPERATION, "check schema", source))?;
            finish_read_only(connection, state)?
        }
        Err(source) => {
            return Err(Error::database(
                OPERATION,
                format!(
                    "read database {} read-only (a WAL file whose -wal holds frames needs its -shm, which a read-only directory cannot hold)",
                    path.display()
                ),
                source,
            ))
        }
    };
    Ok(opened)
}

fn finish_read_only(connection: Connection, state: SchemaState) -> Result<Opened> {
    if state == SchemaState::Old {
        return Err(Error::ReadOnly {
            operation: OPERATION,
            action: "migrate the schema (open the file once for writing first)",
        });
    }
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(Opened {
        connection,
        has_change_feed: state == SchemaState::Current,
    })
}

/// The path with `suffix` appended, e.g. `app.db-wal`.
fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// True when a read-only open failed for want of a `-shm` it may not create, and the
/// file can safely be read as immutable: no `-shm` and no `-wal` with content exist, so
/// no connection is using the file in WAL mode.
fn needs_immutable(error: &rusqlite::Error, path: &Path) -> bool {
    let shm_missing = !sibling(path, "-shm").exists();
    let wal_empty = std::fs::metadata(sibling(path, "-wal")).map_or(true, |wal| wal.len() == 0);
    let cannot_open = matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly)
    );
    cannot_open && shm_missing && wal_empty
}

/// Opens `path` as `file:<path>?immutable=1`, read-only.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    let absolute = std::fs::canonicalize(path).map_err(|error| {
        rusqlite::Error::InvalidPath(std::path::PathBuf::from(format!(
            "{}: {error}",
            path.display()
        )))
    })?;
    let uri = format!("file:{}?immutable=1", percent_encode_path(&absolute)?);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri, flags)
}

/// The path as a URI path: every byte but ASCII letters, digits, `/`, `-`, `.`, `_` and
/// `~` percent-encoded.
fn percent_encode_path(path: &Path) -> rusqlite::Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| rusqlite::Error::InvalidPath(path.to_path_buf()))?;
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    Ok(encoded)
}

/// The `-shm` size that indexes a WAL of `wal_size_limit` bytes (4 KiB pages), rounded
/// up to whole 32 KiB regions, plus one region.
fn shm_reserve_bytes(wal_size_limit: u64) -> u64 {
    let frames = wal_size_limit / SHM_PAGE_BYTES;
    (frames / FRAMES_PER_SHM_REGION + 2) * SHM_REGION_BYTES
}

/// Extends the `-shm` to index a WAL of `wal_size_limit` bytes, the way SQLite's unix
/// VFS does (one zero byte written at the end of each new 4 KiB page), so the file
/// system has allocated every page before SQLite maps it.
///
/// Only bytes past the current end are written, and only while this connection holds
/// the WAL write lock (`BEGIN IMMEDIATE`, not waiting): the index grows only under that
/// lock (a writer appending frames, or recovery), so no other connection can be
/// writing the pages being reserved. When another connection is writing, the
/// reservation is skipped; that writer extends the index as it needs. The connection
/// has already joined the `-shm`, so no later opener truncates it while the store is
/// open.
fn reserve_shm(connection: &Connection, path: &Path, wal_size_limit: u64) -> Result<()> {
    let shm = sibling(path, "-shm");
    let database_failed = |source| Error::database(OPERATION, "reserve the WAL index", source);
    // SQLite opens a file this user may not write read-only even when asked for
    // read-write; it never extends the index then, and neither does the store.
    if connection
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(database_failed)?
    {
        return Ok(());
    }
    connection
        .busy_timeout(Duration::ZERO)
        .map_err(database_failed)?;
    let began = connection.execute_batch("BEGIN IMMEDIATE");
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(database_failed)?;
    match began {
        Ok(()) => {}
        Err(error) if is_busy(&error) => return Ok(()),
        Err(error) => return Err(database_failed(error)),
    }
    let reserved = extend_shm(&shm, shm_reserve_bytes(wal_size_limit));
    let ended = connection.execute_batch("COMMIT");
    reserved.map_err(|source| {
        Error::io_or_disk_full(OPERATION, format!("reserve {}", shm.display()), source)
    })?;
    ended.map_err(database_failed)
}

/// The `-shm` descriptors this process opened, by (device, inode), never closed.
///
/// Closing a descriptor drops every POSIX lock the process holds on the file, the locks
/// SQLite's own connections hold on the `-shm` included: another process could then
/// take the WAL index over and truncate it under this process's mapping (a SIGBUS, seen
/// with four processes opening one new file at once). So each `-shm` is opened once per
/// process and its descriptor kept.
#[cfg(unix)]
static SHM_HANDLES: std::sync::Mutex<Vec<((u64, u64), std::fs::File)>> =
    std::sync::Mutex::new(Vec::new());

/// Writes a zero byte at the end of every 4 KiB page of `shm` from its current end up
/// to `target` bytes; nothing when the file is missing or already that long.
fn extend_shm(shm: &Path, target: u64) -> std::io::Result<()> {
    // Only an existing -shm: SQLite creates it; a missing one means no WAL index is used.
    let metadata = match std::fs::metadata(shm) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let identity = (metadata.dev(), metadata.ino());
        let mut handles = SHM_HANDLES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = handles.iter().position(|(known, _)| *known == identity);
        let index = if let Some(index) = known {
            index
        } else {
            let Some(file) = open_shm(shm)? else {
                return Ok(());
            };
            handles.push((identity, file));
            handles.len() - 1
        };
        write_pages(&mut handles[index].1, target)
    }
    #[cfg(not(unix))]
    {
        drop(metadata);
        match open_shm(shm)? {
            Some(mut file) => write_pages(&mut file, target),
            None => Ok(()),
        }
    }
}

/// Opens the `-shm` for writing; `None` when it is gone or not writable by this user
/// (SQLite gives the `-shm` the database file's permissions and extends it itself).
fn open_shm(shm: &Path) -> std::io::Result<Option<std::fs::File>> {
    match std::fs::OpenOptions::new().write(true).open(shm) {
        Ok(file) => Ok(Some(file)),
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

fn write_pages(file: &mut std::fs::File, target: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};

    let current = file.metadata()?.len();
    // The last byte of the page holding the current end lies at or past the end.
    let mut page = current / SHM_PAGE_BYTES;
    while (page + 1) * SHM_PAGE_BYTES <= target {
        file.seek(SeekFrom::Start((page + 1) * SHM_PAGE_BYTES - 1))?;
        file.write_all(&[0])?;
        page += 1;
    }
    Ok(())
}

/// Creates what is missing and migrates what is old, in one transaction.
fn ensure_schema(connection: &Connection) -> rusqlite::Result<()> {
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)?;
    transaction.execute_batch(CREATE_ENTRIES)?;
    if !has_column(&transaction, "entries", "expires_at")? {
        add_expires_at(&transaction)?;
    }
    migrate_legacy_kv(&transaction)?;
    transaction.execute_batch(CREATE_EXPIRES_AT_INDEX)?;
    ensure_change_feed(&transaction)?;
    ensure_journal_schema(&transaction)?;
    transaction.commit()
}

fn has_column(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    // pragma_table_info takes the table name as a bound argument.
    connection
        .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
        .exists((table, column))
}

fn add_expires_at(connection: &Connection) -> rusqlite::Result<()> {
    add_column(
        connection,
        "ALTER TABLE entries ADD COLUMN expires_at INTEGER",
    )
}

/// Runs an `ALTER TABLE … ADD COLUMN`; a column another opener added first is fine.
fn add_column(connection: &Connection, statement: &str) -> rusqlite::Result<()> {
    match connection.execute_batch(statement) {
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.contains("duplicate column") =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Adds the change history (issue 13) to a file without it: the `revision` column of
/// `entries` (`NULL` for rows written before, read as revision 0), the `entry_changes`
/// table and its triggers. See `kv::changes` for what they record.
fn ensure_change_feed(connection: &Connection) -> rusqlite::Result<()> {
    if !has_column(connection, "entries", "revision")? {
        add_column(
            connection,
            "ALTER TABLE entries ADD COLUMN revision INTEGER",
        )?;
    }
    connection.execute_batch(CREATE_CHANGE_FEED)
}

/// The change history: one row per committed change, numbered by `revision` (the rowid,
/// so SQLite gives each new row the largest revision plus one, under the write lock; no
/// `AUTOINCREMENT`, because pruning never removes the newest row). The triggers record
/// every write to `entries`, whoever makes it: this store, the Go package, `sqlite3`.
///
/// - One trigger per kind of write, with no `WHEN`: it inserts the change, and SQLite
///   numbers it. The store's own writes (`kv::entries`) name that same number in the row
///   beforehand (`revision = max + 1`, computed in the statement that writes the row, and
///   every such statement writes one row), so the row already carries its revision. A
///   write that names none (the Go package, any other program: an insert leaves
///   `revision` `NULL`, an update leaves it unchanged) is stamped with the change's
///   revision by the trigger's second statement, whose condition reads only the row
///   being written, so SQLite tests it once before looking anything up: the store's
///   writes pay for no lookup. (A program that writes the `revision` column itself gets
///   the row it wrote; the history stays gap-free either way.)
/// - The first design (two triggers per write, each with a `WHEN` subquery comparing the
///   row's revision with the history's newest) made a set in the benchmark's memory mode
///   take 2.05 times as long as a set before revisions, against 1.86 times now, for the
///   same history (it never shipped). What is left is the second row
///   itself: one more B-tree insert, and one more page journaled (memory) or written to
///   the WAL (files) per commit.
/// - A delete records `expire` when the row had already expired, `delete` otherwise,
///   unless the newest change is a `delete_group` of the row's group: the store writes
///   that one row first and then deletes the group's rows under it. The newest change is
///   one probe of the history's last row, and the record is a plain `VALUES` (the first
///   design's `SELECT … FROM (SELECT now)` ran a subquery per deleted row: a delete in
///   memory mode took 2.6 times as long as before revisions, against 1.9 times now).
///
/// `changed_at` is Unix milliseconds from SQLite's clock, so it works in any writer;
/// `'now'` is the same for every use within one statement.
const CREATE_CHANGE_FEED: &str = "CREATE TABLE IF NOT EXISTS entry_changes (
    revision    INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    entry_key   TEXT NOT NULL,
    entry_value TEXT,
    expires_at  INTEGER,
    changed_at  INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS entry_changes_on_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO entry_changes (kind, group_name, entry_key, entry_value, expires_at, changed_at)
    VALUES ('set', NEW.group_name, NEW.entry_key, NEW.entry_value, NEW.expires_at,
        CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER));
    UPDATE entries SET revision = (SELECT max(revision) FROM entry_changes)
        WHERE NEW.revision IS NULL
            AND group_name = NEW.group_name AND entry_key = NEW.entry_key;
END;
CREATE TRIGGER IF NOT EXISTS entry_changes_on_update
AFTER UPDATE OF entry_value, expires_at ON entries
BEGIN
    INSERT INTO entry_changes (kind, group_name, entry_key, entry_value, expires_at, changed_at)
    VALUES ('set', NEW.group_name, NEW.entry_key, NEW.entry_value, NEW.expires_at,
        CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER));
    UPDATE entries SET revision = (SELECT max(revision) FROM entry_changes)
        WHERE NEW.revision IS OLD.revision
            AND group_name = NEW.group_name AND entry_key = NEW.entry_key;
END;
CREATE TRIGGER IF NOT EXISTS entry_changes_on_delete AFTER DELETE ON entries
WHEN ifnull((SELECT kind = 'delete_group' AND group_name = OLD.group_name
    FROM entry_changes ORDER BY revision DESC LIMIT 1), 0) = 0
BEGIN
    INSERT INTO entry_changes (kind, group_name, entry_key, entry_value, expires_at, changed_at)
    VALUES (CASE WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at
            <= CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)
            THEN 'expire' ELSE 'delete' END,
        OLD.group_name, OLD.entry_key, NULL, NULL,
        CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER));
END";

/// Moves the rows of the Go package's first table, `kv(grp, key, value[, expires_at])`,
/// into `entries`; a row already in `entries` wins.
fn migrate_legacy_kv(connection: &Connection) -> rusqlite::Result<()> {
    let has_kv = connection
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_kv {
        return Ok(());
    }
    let expires_at = if has_column(connection, "kv", "expires_at")? {
        "expires_at"
    } else {
        "NULL"
    };
    connection.execute(
        &format!(
            "INSERT OR IGNORE INTO entries (group_name, entry_key, entry_value, expires_at)
             SELECT grp, key, value, {expires_at} FROM kv"
        ),
        [],
    )?;
    connection.execute_batch("DROP TABLE kv")
}

/// The journal table, column for column the Go package's (Go created it lazily; here it
/// exists from the start), plus the nullable `archive_name` that ties an archived row to
/// the one archive holding it.
const CREATE_JOURNAL: &str = "CREATE TABLE IF NOT EXISTS journal_entries (
    entry_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_name  TEXT NOT NULL,
    measurement  TEXT NOT NULL,
    fields_json  TEXT NOT NULL,
    tags_json    TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    archived_at  INTEGER,
    archive_name TEXT
);
CREATE INDEX IF NOT EXISTS journal_entries_bucket_committed_at_idx
    ON journal_entries (bucket_name, committed_at)";

/// Rust-only additions: the unarchived points in query and compaction order, the rows of
/// each archive (to rebuild one lost before publication), the archives themselves, and
/// the workspaces already committed (exactly-once recovery).
const CREATE_JOURNAL_EXTRAS: &str = "CREATE INDEX IF NOT EXISTS journal_entries_unarchived_idx
    ON journal_entries (committed_at, entry_id) WHERE archived_at IS NULL;
CREATE INDEX IF NOT EXISTS journal_entries_archive_name_idx
    ON journal_entries (archive_name, committed_at, entry_id) WHERE archive_name IS NOT NULL;
CREATE TABLE IF NOT EXISTS journal_archives (
    archive_name TEXT PRIMARY KEY,
    final_path   TEXT NOT NULL,
    temp_path    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE TABLE IF NOT EXISTS workspace_commits (
    workspace_id   TEXT PRIMARY KEY,
    workspace_name TEXT NOT NULL,
    entry_id       INTEGER NOT NULL,
    committed_at   INTEGER NOT NULL
)";

/// The points waiting for InfluxDB (SPEC §12): a row per journal point committed while a
/// journal is configured, deleted once InfluxDB acknowledges it; `failed_at` marks a
/// point InfluxDB refused.
const CREATE_JOURNAL_OUTBOX: &str = "CREATE TABLE IF NOT EXISTS journal_outbox (
    entry_id        INTEGER PRIMARY KEY,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    failed_at       INTEGER,
    last_error      TEXT
)";

/// Creates the journal tables, adding `archive_name` to a journal table written by Go.
fn ensure_journal_schema(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(CREATE_JOURNAL)?;
    if !has_column(connection, "journal_entries", "archive_name")? {
        match connection.execute_batch("ALTER TABLE journal_entries ADD COLUMN archive_name TEXT") {
            Err(rusqlite::Error::SqliteFailure(_, Some(message)))
                if message.contains("duplicate column") => {}
            other => other?,
        }
    }
    connection.execute_batch(CREATE_JOURNAL_EXTRAS)?;
    connection.execute_batch(CREATE_JOURNAL_OUTBOX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_path_good_escapes_all_but_unreserved() {
        let encoded = percent_encode_path(Path::new("/tmp/a b/c?d#e%f/ü.db")).expect("UTF-8");
        assert_eq!(encoded, "/tmp/a%20b/c%3Fd%23e%25f/%C3%BC.db");
    }

    #[test]
    fn shm_reserve_bytes_good_covers_the_wal_limit() {
        // 64 MiB of 4 KiB frames is 16384 frames: four regions, plus the partial and one.
        assert_eq!(shm_reserve_bytes(64 << 20), 6 * SHM_REGION_BYTES);
        assert_eq!(shm_reserve_bytes(0), 2 * SHM_REGION_BYTES);
    }

    #[test]
    fn retry_busy_good_retries_until_success_and_gives_up_at_deadline() {
        let busy = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            )
        };
        let mut attempts = 0;
        let value = retry_busy(Instant::now() + BUSY_TIMEOUT, || {
            attempts += 1;
            if attempts < 4 {
                Err(busy())
            } else {
                Ok(attempts)
            }
        })
        .expect("succeeds on the fourth attempt");
        assert_eq!(value, 4);
        let error = retry_busy(Instant::now(), || Err::<(), _>(busy())).unwrap_err();
        assert!(is_busy(&error));
    }
}
