//! Workspace files: the SQLite files a workspace buffers its records in, under the
//! state directory, and everything done to them as files — naming, locking, probing a
//! file found at open without disturbing it, preparing its tables, removing it with its
//! side files, and quarantining one that is unusable.
//!
//! The files are scratch space (WAL, `synchronous=OFF`); what makes a workspace commit
//! exactly once is the store's `workspace_commits` table, written by `crate::workspace`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::error::{Error, Result};
use crate::sqlite::sql::{now_ms, text};

/// The extension of a workspace file, kept from the Go package (which used DuckDB).
pub(crate) const EXTENSION: &str = "duckdb";
pub(crate) const QUARANTINE: &str = "quarantine";
pub(crate) const MAXIMUM_NAME_BYTES: usize = 200;
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 16;

pub(crate) const CREATE_WORKSPACE: &str = "CREATE TABLE IF NOT EXISTS workspace_entries (
    entry_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_kind TEXT NOT NULL,
    entry_data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE VIEW IF NOT EXISTS entries (id, kind, data, created_at) AS
    SELECT entry_id, entry_kind, entry_data, created_at FROM workspace_entries;
CREATE TABLE IF NOT EXISTS workspace_meta (
    meta_key   TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
)";
pub(crate) const SQL_HAS_ENTRIES_TABLE: &str =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workspace_entries'";
pub(crate) const SQL_READ_META: &str = "SELECT meta_value FROM workspace_meta WHERE meta_key = ?1";
pub(crate) const SQL_WRITE_META: &str =
    "INSERT INTO workspace_meta (meta_key, meta_value) VALUES (?1, ?2)
    ON CONFLICT (meta_key) DO UPDATE SET meta_value = excluded.meta_value";
pub(crate) const SQL_PUT: &str =
    "INSERT INTO workspace_entries (entry_kind, entry_data, created_at) VALUES (?1, ?2, ?3)";
pub(crate) const SQL_COUNT: &str = "SELECT COUNT(*) FROM workspace_entries";
pub(crate) const SQL_AGGREGATE: &str =
    "SELECT entry_kind, COUNT(*) FROM workspace_entries GROUP BY entry_kind ORDER BY entry_kind";
pub(crate) const SQL_IS_COMMITTED: &str = "SELECT 1 FROM workspace_commits WHERE workspace_id = ?1";
pub(crate) const SQL_RECORD_COMMIT: &str = "INSERT INTO workspace_commits
    (workspace_id, workspace_name, entry_id, committed_at) VALUES (?1, ?2, ?3, ?4)";
/// Removes a workspace file with its `-wal` and `-shm`; missing files are fine. The side
/// files go first, so that a crash part-way never leaves a stale WAL beside a new file.
pub(crate) fn remove_files(path: &Path) -> io::Result<()> {
    for candidate in [
        side_file(path, "-wal"),
        side_file(path, "-shm"),
        path.to_owned(),
    ] {
        match fs::remove_file(&candidate) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Checks the rules of SPEC §13: a name can never reach outside the state directory.
pub(crate) fn validate_name(operation: &'static str, name: &str) -> Result<()> {
    let problem = if name.is_empty() || name.len() > MAXIMUM_NAME_BYTES {
        Some("use 1 to 200 bytes")
    } else if name.starts_with('.') {
        Some("it may not start with '.'")
    } else if name.contains("..") {
        Some("it may not contain '..'")
    } else if name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|']) {
        Some("it may not contain / \\ : * ? \" < > |")
    } else if name
        .chars()
        .any(|character| character <= '\u{1f}' || character == '\u{7f}')
    {
        Some("it may not contain control characters")
    } else if name.trim() != name {
        Some("it may not start or end with white space")
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| {
        Err(Error::invalid_input(
            operation,
            format!("invalid workspace name {name:?}: {problem}"),
        ))
    })
}

/// A fresh workspace id: 128 bits from the operating system's random source, as hex.
/// Random rather than derived from time and process id, so ids stay unique across
/// machines, clock changes and reused process ids.
pub(crate) fn new_workspace_id(operation: &'static str) -> Result<String> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| {
        Error::io(
            operation,
            "generate workspace id",
            io::Error::other(error.to_string()),
        )
    })?;
    Ok(bytes
        .iter()
        .fold(String::with_capacity(32), |mut hex, byte| {
            hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
            hex
        }))
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Opens a workspace file and takes its lock: exclusive locking mode, then a write, after
/// which SQLite holds the file's exclusive lock until the connection closes. Fails with
/// `SQLITE_BUSY` at once (no busy timeout) when another handle holds it.
pub(crate) fn open_locked(path: &Path) -> rusqlite::Result<Connection> {
    let connection = open_exclusive(path)?;
    enter_wal(&connection)?;
    Ok(connection)
}

/// Opens a file in exclusive locking mode, reading and writing nothing yet.
pub(crate) fn open_exclusive(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::ZERO)?;
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

/// Opens an existing file to test whether it is a workspace, in a way that leaves it and
/// its side files as they were whatever the answer:
///
/// - exclusive locking mode, set before the first read, keeps SQLite's WAL index in
///   memory: the `-shm` is neither read nor written (and the first read takes the
///   file's exclusive lock, so a live handle still shows as `SQLITE_BUSY`);
/// - `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` stops the close from checkpointing the `-wal`
///   into the file and deleting it;
/// - the journal mode is left alone until the file has proved to be a workspace
///   (switching it writes to the file).
///
/// Reads replay the `-wal` in memory only. The caller turns checkpoints back on and
/// enters WAL mode once it keeps the file.
pub(crate) fn open_probe(path: &Path) -> rusqlite::Result<Connection> {
    let connection = open_exclusive(path)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    Ok(connection)
}

/// Puts an opened workspace file in WAL mode with `synchronous=OFF`.
pub(crate) fn enter_wal(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    // Scratch space, where speed matters more than surviving power loss: see the module
    // documentation.
    connection.pragma_update(None, "synchronous", "OFF")
}

/// A reason to quarantine an empty file that has a non-empty `-wal` beside it, without
/// opening it: SQLite deletes such a `-wal` as soon as it opens the file. `None` for
/// every other file (an empty file alone is a workspace claimed but never written, and
/// is adopted as an empty one).
pub(crate) fn empty_beside_wal(path: &Path) -> Option<String> {
    let is_empty = fs::metadata(path).is_ok_and(|metadata| metadata.len() == 0);
    let has_wal = fs::metadata(side_file(path, "-wal")).is_ok_and(|metadata| metadata.len() > 0);
    (is_empty && has_wal).then(|| "an empty file beside a non-empty -wal".to_owned())
}

/// Creates the tables (a Go file may lack the view or the meta table) and returns the
/// file's id, assigning one if it has none. Runs as a write transaction, which is what
/// takes the exclusive lock.
pub(crate) fn prepare_file(
    connection: &Connection,
    name: &str,
    new_id: &str,
) -> rusqlite::Result<String> {
    let transaction =
        rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)?;
    transaction.execute_batch(CREATE_WORKSPACE)?;
    let existing: Option<String> = transaction
        .query_row(SQL_READ_META, ["workspace_id"], |row| text(row, 0))
        .optional()?;
    let workspace_id = match existing {
        Some(id) if !id.is_empty() => id,
        _ => {
            transaction.execute(SQL_WRITE_META, params!["workspace_id", new_id])?;
            transaction.execute(SQL_WRITE_META, params!["workspace_name", name])?;
            transaction.execute(SQL_WRITE_META, params!["created_at", now_ms().to_string()])?;
            new_id.to_owned()
        }
    };
    transaction.execute(SQL_WRITE_META, params!["opened_at", now_ms().to_string()])?;
    transaction.commit()?;
    Ok(workspace_id)
}

/// Moves an unusable file, with its `-wal` and `-shm`, to `<dir>/quarantine/<name>.duckdb`
/// (or `<name>.1.duckdb`, … when that is taken). The three arrive byte for byte as they
/// were found: [`Store::adopt`] tests a file without letting SQLite touch them.
pub(crate) fn quarantine(directory: &Path, name: &str, path: &Path) -> io::Result<()> {
    let target_directory = directory.join(QUARANTINE);
    fs::create_dir_all(&target_directory)?;
    let mut attempt = 0_u32;
    let target = loop {
        let file_name = if attempt == 0 {
            format!("{name}.{EXTENSION}")
        } else {
            format!("{name}.{attempt}.{EXTENSION}")
        };
        let candidate = target_directory.join(file_name);
        if fs::symlink_metadata(&candidate).is_err() {
            break candidate;
        }
        attempt += 1;
    };
    fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = side_file(path, suffix);
        if side.exists() {
            fs::rename(&side, side_file(&target, suffix))?;
        }
    }
    Ok(())
}

/// True when two directory paths name the same place once made absolute (against the
/// current directory) and compared component by component, so `a/b/` equals `a/b`.
pub(crate) fn is_same_directory(left: &Path, right: &Path) -> bool {
    match (std::path::absolute(left), std::path::absolute(right)) {
        (Ok(left), Ok(right)) => left.components().eq(right.components()),
        _ => left == right,
    }
}

/// One open workspace file: its name, path, id and locked connection. The public
/// `Workspace` is this plus the store it commits into.
pub(crate) struct WorkspaceFile {
    pub(crate) name: String,
    pub(crate) database_path: PathBuf,
    /// The random id recorded in `workspace_commits` when committed.
    pub(crate) id: String,
    /// `None` once the file has been closed by `commit`, `discard` or `close`.
    pub(crate) connection: Mutex<Option<Connection>>,
}

/// The orphan files found when the store opened, held (and so locked) until
/// `Store::recover_orphans` or `Store::open_workspace` hands them out or the store
/// closes.
#[derive(Default)]
pub(crate) struct OrphanCache {
    files: Mutex<Vec<WorkspaceFile>>,
}

impl OrphanCache {
    fn files(&self) -> MutexGuard<'_, Vec<WorkspaceFile>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `found` until handed out.
    pub(crate) fn hold(&self, found: impl IntoIterator<Item = WorkspaceFile>) {
        self.files().extend(found);
    }

    pub(crate) fn take_all(&self) -> Vec<WorkspaceFile> {
        std::mem::take(&mut *self.files())
    }

    pub(crate) fn take_named(&self, name: &str) -> Option<WorkspaceFile> {
        let mut files = self.files();
        let index = files.iter().position(|file| file.name == name)?;
        Some(files.remove(index))
    }

    /// Closes every cached file; the files stay for the next open.
    pub(crate) fn close(&self) {
        drop(self.take_all());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_name_good_and_bad() {
        for good in [
            "a",
            "scoring-run",
            "Run 2024_01",
            "名前",
            "a.b",
            &"x".repeat(200),
        ] {
            assert!(validate_name("test", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "a..b",
            "..",
            "a/b",
            "a\\b",
            "c:",
            "a*",
            "a?",
            "a\"",
            "<a",
            "a>",
            "a|b",
            "a\u{0}b",
            "a\nb",
            "a\u{7f}",
            " a",
            "a ",
            &"x".repeat(201),
        ] {
            let error = validate_name("test", bad).expect_err(bad);
            assert!(
                error.to_string().contains("invalid workspace name"),
                "{error}"
            );
        }
    }

    #[test]
    fn new_workspace_id_good_hex_128_bits_and_distinct() {
        let first = new_workspace_id("test").expect("id");
        let second = new_workspace_id("test").expect("id");
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first, second);
    }

    #[test]
    fn is_same_directory_ignores_trailing_separators() {
        assert!(is_same_directory(Path::new("a/b/"), Path::new("a/b")));
        assert!(is_same_directory(Path::new("./a/b"), Path::new("a/b")));
        assert!(!is_same_directory(Path::new("a/b"), Path::new("a/c")));
    }
}
