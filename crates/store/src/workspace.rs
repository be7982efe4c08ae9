//! Workspaces: scratch buffers of JSON records, one SQLite file each, that end as one
//! journal point.
//!
//! A workspace collects records (`put`) in its own file under the state directory,
//! `<state dir>/<name>.duckdb` (a SQLite file; the extension keeps Go's paths), and
//! `commit` turns the count per kind into one journal point and a
//! `workspace:<name>`/`summary` entry, in one store transaction. A crash leaves the file
//! behind; it is found again at the next open or by [`Store::recover_orphans`].
//!
//! Two guarantees the Go package lacked:
//!
//! - **Liveness lock.** A live [`Workspace`] holds its file in SQLite's exclusive locking
//!   mode, so no other handle, in this process or another, can open it and mistake it for
//!   an orphan.
//! - **Exactly-once commit.** Each file carries a random 128-bit id that the commit
//!   records in `workspace_commits` in the same transaction as the journal point. A file
//!   whose id is already recorded (a crash between the commit and the file's removal) is
//!   removed by recovery rather than committed again.
//!
//! The files are scratch space, so they run in WAL mode with `synchronous=OFF`: each
//! `put` is its own transaction, handed to the operating system before `put` returns, so
//! a crash of the program loses nothing; only an operating-system crash or power loss
//! can lose recent puts or damage the file (a file SQLite then cannot read is moved to
//! `quarantine/` by recovery). Measured here, `synchronous=NORMAL` halved the put rate
//! (its syncs at each WAL checkpoint), to about 60 000 a second; `OFF` sustains over
//! 100 000 a second in a release build (`examples/workspace_put_rate.rs`). The commit
//! into the store honours the store's own [`Durability`](crate::Durability).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use crate::crash::crash_point;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kv::entries;
use crate::kv::events::{Event, EventType};
use crate::kv::operations::Backend;
use crate::pipeline::point::{insert_point, to_json, Row};
use crate::pipeline::workspace_file::{
    empty_beside_wal, enter_wal, is_busy, is_same_directory, new_workspace_id, open_locked,
    open_probe, prepare_file, quarantine, remove_files, side_file, validate_name, WorkspaceFile,
    EXTENSION, QUARANTINE, SQL_AGGREGATE, SQL_COUNT, SQL_HAS_ENTRIES_TABLE, SQL_IS_COMMITTED,
    SQL_PUT, SQL_RECORD_COMMIT,
};
use crate::postgresql::workspace::{self as pg, Commit as WorkspaceCommit};
use crate::sqlite::query::{query_read_only, Inflate};
use crate::sqlite::sql::{now_ms, text};
use crate::storage::{session, Conn};
use crate::store::Store;

/// A buffer of JSON records that ends as one journal point. Create one with
/// [`Store::new_workspace`] or [`Store::open_workspace`]; finish it with
/// [`commit`](Workspace::commit), [`discard`](Workspace::discard) or
/// [`close`](Workspace::close) (dropping it is the same as `close`: the file stays for
/// recovery).
///
/// ```
/// let directory = tempfile::tempdir()?;
/// let store = store::Store::open_with(store::StoreConfig {
///     workspace_state_directory: directory.path().join("state"),
///     ..store::StoreConfig::new(":memory:")
/// })?;
/// let workspace = store.new_workspace("scoring-run")?;
/// let mut like = serde_json::Map::new();
/// like.insert("user".into(), "ada".into());
/// workspace.put("like", like.clone())?;
/// workspace.put("like", like)?;
/// assert_eq!(workspace.count()?, 2);
/// let summary = workspace.commit()?;
/// assert_eq!(summary["like"], 2);
/// assert_eq!(store.get("workspace:scoring-run", "summary")?, r#"{"like":2}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Workspace {
    /// The file, its name, id and connection.
    file: WorkspaceFile,
    /// Weak, so that a workspace never keeps a store alive; a dropped store reads as
    /// closed.
    engine: Weak<Engine>,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Workspace")
            .field("name", &self.file.name)
            .field("database_path", &self.file.database_path)
            .field("id", &self.file.id)
            .finish_non_exhaustive()
    }
}

impl Workspace {
    /// The workspace's name, e.g. `scoring-run`.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("scoring-run")?;
    /// assert_eq!(workspace.name(), "scoring-run");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// The workspace's file, `<state dir>/<name>.duckdb`.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("scoring-run")?;
    /// assert_eq!(workspace.database_path(), directory.path().join("scoring-run.duckdb"));
    /// assert!(workspace.database_path().exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn database_path(&self) -> &Path {
        &self.file.database_path
    }

    /// Appends one record of `kind` (stored as compact JSON with the current time).
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// let record = serde_json::json!({"user": "ada", "score": 0.9});
    /// workspace.put("profile_match", record.as_object().cloned().unwrap_or_default())?;
    /// assert!(workspace.put("", serde_json::Map::new()).is_err()); // kind is empty
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed` when the store is closed; `InvalidInput` (`kind is empty`); `Database`.
    #[allow(clippy::needless_pass_by_value)] // the signature is the public contract
    pub fn put(&self, kind: &str, data: Map<String, Value>) -> Result<()> {
        const OPERATION: &str = "store.workspace.put";
        self.check_store_open(OPERATION)?;
        if kind.is_empty() {
            return Err(Error::invalid_input(OPERATION, "kind is empty"));
        }
        let data = to_json(&data);
        self.with_connection(OPERATION, "append entry", |connection| {
            connection
                .prepare_cached(SQL_PUT)?
                .execute(params![kind, data, now_ms()])
        })?;
        Ok(())
    }

    /// The number of records.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// assert_eq!(workspace.count()?, 0);
    /// workspace.put("like", serde_json::Map::new())?;
    /// assert_eq!(workspace.count()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed` when the store is closed; `Database`.
    pub fn count(&self) -> Result<u64> {
        const OPERATION: &str = "store.workspace.count";
        self.check_store_open(OPERATION)?;
        let count: i64 = self.with_connection(OPERATION, "count entries", |connection| {
            connection
                .prepare_cached(SQL_COUNT)?
                .query_row([], |row| row.get(0))
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The number of records per kind, e.g. `{"like": 2, "profile_match": 1}`.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// workspace.put("profile_match", serde_json::Map::new())?;
    /// let counts = workspace.aggregate()?;
    /// assert_eq!(counts.get("like"), Some(&2));
    /// assert_eq!(counts.get("profile_match"), Some(&1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed` when the store is closed; `Database`.
    pub fn aggregate(&self) -> Result<BTreeMap<String, u64>> {
        const OPERATION: &str = "store.workspace.aggregate";
        self.check_store_open(OPERATION)?;
        self.aggregate_as(OPERATION)
    }

    fn aggregate_as(&self, operation: &'static str) -> Result<BTreeMap<String, u64>> {
        self.with_connection(operation, "aggregate entries", |connection| {
            connection
                .prepare_cached(SQL_AGGREGATE)?
                .query_map([], |row| {
                    let count: i64 = row.get(1)?;
                    Ok((text(row, 0)?, u64::try_from(count).unwrap_or(0)))
                })?
                .collect()
        })
    }

    /// Runs one read-only SQL statement against the workspace file; the records are in
    /// the view `entries(id, kind, data, created_at)`.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// let rows = workspace.query("SELECT kind, COUNT(*) AS n FROM entries GROUP BY kind")?;
    /// assert_eq!(rows[0]["kind"], "like");
    /// assert_eq!(rows[0]["n"], 1);
    /// assert!(workspace.query("DELETE FROM workspace_entries").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed` when the store is closed; `Query` for SQL that is not a single read-only
    /// statement (`read-only`) or that fails.
    pub fn query(&self, sql: &str) -> Result<Vec<Row>> {
        const OPERATION: &str = "store.workspace.query";
        self.check_store_open(OPERATION)?;
        let mut guard = self.connection();
        let Some(connection) = guard.as_mut() else {
            return Err(Error::Closed {
                operation: OPERATION,
            });
        };
        query_read_only(connection, OPERATION, sql, Inflate::Nothing)
    }

    /// Commits the workspace: in one store transaction, a journal point (measurement =
    /// the name, fields = [`aggregate`](Workspace::aggregate), tag `workspace` = the name)
    /// and the entry `workspace:<name>`/`summary` holding the fields as JSON; then the
    /// `Set` event for that entry, and the file is removed. Returns the aggregate.
    ///
    /// A workspace whose id was already committed (its file survived a crash) writes
    /// nothing again: its files are removed and the aggregate returned.
    ///
    /// An empty workspace (no records) writes no journal point, since a point needs at
    /// least one field (see [`Store::commit_to_journal`]); it still writes the summary
    /// `{}` with its `Set` event, removes its files and returns the empty aggregate. It
    /// is not refused, so that a loop committing every recovered orphan never sticks on
    /// an empty one, and "this run finished with nothing" stays visible in the summary.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// let path = workspace.database_path().to_owned();
    /// workspace.commit()?;
    /// assert!(!path.exists());
    /// let points = store.query_journal(r#"from(bucket: "store") |> filter(fn: (r) => r.workspace == "run")"#)?;
    /// assert_eq!(points[0]["fields"]["like"], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed` when the store is closed; `Database`. On any error the file is kept, so
    /// the workspace can be recovered.
    pub fn commit(self) -> Result<BTreeMap<String, u64>> {
        const OPERATION: &str = "store.workspace.commit";
        let engine = self.live_engine(OPERATION)?;
        let aggregate = self.aggregate_as(OPERATION)?;
        crash_point("workspace.commit.before_transaction");
        let fields_json = to_json(&aggregate);
        let tags_json = to_json(&BTreeMap::from([("workspace", self.file.name.as_str())]));
        let bucket = engine.journal_bucket();
        let group = format!("workspace:{}", self.file.name);
        let is_shipping = engine.is_shipping();
        let commit = WorkspaceCommit {
            id: &self.file.id,
            name: &self.file.name,
            bucket: &bucket,
            fields_json: &fields_json,
            tags_json: &tags_json,
            summary_group: &group,
            is_empty: aggregate.is_empty(),
            is_shipping,
        };
        let is_new_commit =
            engine
                .database
                .with_atomic_link(
                    OPERATION,
                    "commit workspace",
                    |connection| match connection {
                        Conn::Sqlite(transaction) => Ok(commit_on_sqlite(transaction, &commit)?),
                        Conn::Postgres(cell) => Ok(pg::commit(&mut *session(cell)?, &commit)?),
                    },
                )?;
        crash_point("workspace.commit.after_transaction");
        if is_new_commit {
            engine.point_committed();
        }
        if is_new_commit && engine.wants_events() {
            engine.emit(Event::new(EventType::Set, &group, "summary", &fields_json));
        }
        if let Err(error) = self.close_and_remove_files() {
            // The point is committed; recovery removes a file left behind.
            log::warn!(
                "{OPERATION}: committed, but could not remove {}: {error}",
                self.file.database_path.display()
            );
        }
        crash_point("workspace.commit.after_remove");
        Ok(aggregate)
    }

    /// Throws the workspace away: closes and removes its files. Works after the store
    /// has closed.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// let path = workspace.database_path().to_owned();
    /// workspace.discard()?;
    /// assert!(!path.exists());
    /// assert!(store.query_journal("")?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Io` when a file exists but cannot be removed.
    pub fn discard(self) -> Result<()> {
        self.close_and_remove_files().map_err(|source| {
            Error::io(
                "store.workspace.discard",
                format!("remove {}", self.file.database_path.display()),
                source,
            )
        })
    }

    /// Closes the workspace and keeps its file, to be found again by
    /// [`Store::open_workspace`] or [`Store::recover_orphans`]. Dropping it does the same.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("run")?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// workspace.close()?;
    /// let reopened = store.open_workspace("run")?;
    /// assert_eq!(reopened.count()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Database` when SQLite fails to close the file (it is closed all the same).
    pub fn close(self) -> Result<()> {
        let connection = self.connection().take();
        match connection {
            Some(connection) => connection.close().map_err(|(_, source)| {
                Error::database("store.workspace.close", "close workspace", source)
            }),
            None => Ok(()),
        }
    }

    fn connection(&self) -> MutexGuard<'_, Option<Connection>> {
        // SQLite rolls back whatever a panicking holder left half done.
        self.file
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn with_connection<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let guard = self.connection();
        let Some(connection) = guard.as_ref() else {
            return Err(Error::Closed { operation });
        };
        work(connection).map_err(|source| Error::database(operation, context, source))
    }

    fn check_store_open(&self, operation: &'static str) -> Result<()> {
        self.live_engine(operation).map(|_| ())
    }

    /// The store's engine, while the store is open.
    fn live_engine(&self, operation: &'static str) -> Result<Arc<Engine>> {
        match self.engine.upgrade() {
            Some(engine) if !engine.database.is_closed() => Ok(engine),
            _ => Err(Error::Closed { operation }),
        }
    }

    fn close_and_remove_files(&self) -> io::Result<()> {
        let connection = self.connection().take();
        if let Some(connection) = connection {
            if let Err((_, error)) = connection.close() {
                log::warn!(
                    "store.workspace: closing {} failed: {error}",
                    self.file.database_path.display()
                );
            }
        }
        remove_files(&self.file.database_path)
    }
}

/// What became of an existing workspace file.
enum Adoption {
    /// Not held by anybody and not yet committed: now held by this handle.
    Adopted(Workspace),
    /// Held by a live handle, here or in another process.
    Locked,
    /// Already committed; its files have been removed.
    Committed,
    /// Not a workspace file (not SQLite, unreadable, no `workspace_entries`).
    Unusable(String),
}

impl Store {
    fn state_directory(&self) -> PathBuf {
        self.config().workspace_state_directory
    }

    fn check_open(&self, operation: &'static str) -> Result<()> {
        if self.is_closed() {
            Err(Error::Closed { operation })
        } else {
            Ok(())
        }
    }

    fn is_committed(&self, operation: &'static str, workspace_id: &str) -> Result<bool> {
        self.engine
            .database
            .with(operation, "read workspace commits", |connection| {
                connection
                    .prepare_cached(SQL_IS_COMMITTED)?
                    .exists([workspace_id])
            })
    }

    /// Starts a new workspace: `<state dir>/<name>.duckdb`, created along with the state
    /// directory. Go: `NewWorkspace`.
    ///
    /// ```
    /// let directory = tempfile::tempdir()?;
    /// let store = store::Store::open_with(store::StoreConfig {
    ///     workspace_state_directory: directory.path().join("state"),
    ///     ..store::StoreConfig::new(":memory:")
    /// })?;
    /// let workspace = store.new_workspace("import-2024")?;
    /// assert!(store.new_workspace("import-2024").is_err()); // already exists
    /// assert!(store.new_workspace("../escape").is_err());   // invalid name
    /// workspace.discard()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `InvalidInput` (`invalid workspace name …`, `workspace already exists:
    /// …`); `ReadOnly` for a read-only store; `Io` or `Database` when the directory or
    /// file cannot be created.
    pub fn new_workspace(&self, name: &str) -> Result<Workspace> {
        const OPERATION: &str = "store.new_workspace";
        self.check_open(OPERATION)?;
        self.engine.database.check_writable(OPERATION)?;
        validate_name(OPERATION, name)?;
        self.create_workspace(OPERATION, name)
    }

    fn create_workspace(&self, operation: &'static str, name: &str) -> Result<Workspace> {
        let directory = self.state_directory();
        fs::create_dir_all(&directory).map_err(|source| {
            Error::io(
                operation,
                format!("create state directory {}", directory.display()),
                source,
            )
        })?;
        let path = directory.join(format!("{name}.{EXTENSION}"));
        // Claiming the name with create_new is atomic: of two creators, one wins.
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => drop(file),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::invalid_input(
                    operation,
                    format!("workspace already exists: {name:?}"),
                ))
            }
            Err(source) => {
                return Err(Error::io(
                    operation,
                    format!("create {}", path.display()),
                    source,
                ))
            }
        }
        let created = (|| {
            // A WAL left by an earlier file of this name must not be replayed into this one.
            for side in [side_file(&path, "-wal"), side_file(&path, "-shm")] {
                match fs::remove_file(&side) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => {
                        return Err(Error::io(
                            operation,
                            format!("remove stale {}", side.display()),
                            error,
                        ))
                    }
                    _ => {}
                }
            }
            let new_id = new_workspace_id(operation)?;
            let failed = |source| {
                Error::database(
                    operation,
                    format!("create workspace {}", path.display()),
                    source,
                )
            };
            let connection = open_locked(&path).map_err(failed)?;
            let workspace_id = prepare_file(&connection, name, &new_id).map_err(failed)?;
            Ok(self.workspace(name, path.clone(), workspace_id, connection))
        })();
        if created.is_err() {
            // The file is ours and holds nothing: leave no half-made workspace behind.
            if let Err(error) = remove_files(&path) {
                log::warn!("{operation}: could not remove {}: {error}", path.display());
            }
        }
        created
    }

    /// A public handle for `file`, committing into this store.
    fn handle(&self, file: WorkspaceFile) -> Workspace {
        Workspace {
            file,
            engine: Arc::downgrade(&self.engine),
        }
    }

    fn workspace(
        &self,
        name: &str,
        database_path: PathBuf,
        workspace_id: String,
        connection: Connection,
    ) -> Workspace {
        Workspace {
            file: WorkspaceFile {
                name: name.to_owned(),
                database_path,
                id: workspace_id,
                connection: Mutex::new(Some(connection)),
            },
            engine: Arc::downgrade(&self.engine),
        }
    }

    /// Takes over an existing workspace file, unless a live handle holds it.
    ///
    /// The file is tested without changing it or its side files, so that one found
    /// unusable reaches quarantine exactly as it was: SQLite would otherwise checkpoint
    /// the `-wal` into the file and delete it when the test connection closes (and it
    /// deletes a `-wal` beside an empty file as soon as it opens one). See [`open_probe`].
    fn adopt(&self, operation: &'static str, name: &str, path: &Path) -> Result<Adoption> {
        let new_id = new_workspace_id(operation)?;
        if let Some(reason) = empty_beside_wal(path) {
            return Ok(Adoption::Unusable(reason));
        }
        let opened = open_probe(path).and_then(|connection| {
            let has_entries = connection.prepare(SQL_HAS_ENTRIES_TABLE)?.exists([])?;
            if !has_entries {
                return Ok(None);
            }
            // A workspace: from here on it is opened as any other.
            connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)?;
            enter_wal(&connection)?;
            let workspace_id = prepare_file(&connection, name, &new_id)?;
            Ok(Some((connection, workspace_id)))
        });
        let (connection, workspace_id) = match opened {
            Ok(Some(opened)) => opened,
            Ok(None) => return Ok(Adoption::Unusable("no workspace_entries table".to_owned())),
            Err(error) if is_busy(&error) => return Ok(Adoption::Locked),
            Err(error) => return Ok(Adoption::Unusable(error.to_string())),
        };
        if self.is_committed(operation, &workspace_id)? {
            drop(connection);
            if let Err(error) = remove_files(path) {
                log::warn!(
                    "{operation}: {} was already committed but could not be removed: {error}",
                    path.display()
                );
            }
            return Ok(Adoption::Committed);
        }
        Ok(Adoption::Adopted(self.workspace(
            name,
            path.to_owned(),
            workspace_id,
            connection,
        )))
    }

    /// Reopens the waiting workspace `name` (one closed, or left by a crash), or starts a
    /// new one if there is none. A file already committed is cleaned up and a fresh,
    /// empty workspace returned.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.open_workspace("nightly")?; // new
    /// workspace.put("like", serde_json::Map::new())?;
    /// drop(workspace); // closed, file kept
    /// let workspace = store.open_workspace("nightly")?; // the same file again
    /// assert_eq!(workspace.count()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `InvalidInput` for an invalid name, a workspace held by a live handle
    /// (`workspace already exists`) or a file that is not a workspace; `Io`; `Database`.
    pub fn open_workspace(&self, name: &str) -> Result<Workspace> {
        const OPERATION: &str = "store.open_workspace";
        self.check_open(OPERATION)?;
        validate_name(OPERATION, name)?;
        if let Some(cached) = self.engine.orphans.take_named(name) {
            if cached.database_path.exists() {
                return Ok(self.handle(cached));
            }
        }
        let path = self.state_directory().join(format!("{name}.{EXTENSION}"));
        if fs::symlink_metadata(&path).is_err() {
            return self.create_workspace(OPERATION, name);
        }
        match self.adopt(OPERATION, name, &path)? {
            Adoption::Adopted(workspace) => Ok(workspace),
            Adoption::Committed => self.create_workspace(OPERATION, name),
            Adoption::Locked => Err(Error::invalid_input(
                OPERATION,
                format!("workspace already exists: {name:?} is held open by another handle"),
            )),
            Adoption::Unusable(reason) => Err(Error::invalid_input(
                OPERATION,
                format!("{} is not a workspace file: {reason}", path.display()),
            )),
        }
    }

    /// The workspaces left waiting in a state directory (by a crash, or closed without
    /// committing), as handles to commit or discard, sorted by name. `None` (or the
    /// configured directory) also returns those found when the store opened. Files held
    /// by a live handle are skipped; files already committed are removed; files that are
    /// not workspaces are moved to `<dir>/quarantine/`. Go: `RecoverOrphans`.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let store = store::Store::open_with(store::StoreConfig {
    /// #     workspace_state_directory: directory.path().into(),
    /// #     ..store::StoreConfig::new(":memory:")
    /// # })?;
    /// let workspace = store.new_workspace("interrupted")?;
    /// workspace.put("like", serde_json::Map::new())?;
    /// assert!(store.recover_orphans(None)?.is_empty()); // held by a live handle
    /// workspace.close()?;
    /// for orphan in store.recover_orphans(None)? {
    ///     assert_eq!(orphan.name(), "interrupted");
    ///     orphan.commit()?;
    /// }
    /// assert_eq!(store.query_journal("")?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Io` when the directory cannot be read; `Database`.
    pub fn recover_orphans(&self, state_directory: Option<&Path>) -> Result<Vec<Workspace>> {
        const OPERATION: &str = "store.recover_orphans";
        self.check_open(OPERATION)?;
        let configured = self.state_directory();
        let directory = state_directory.unwrap_or(&configured);
        let mut orphans = if is_same_directory(directory, &configured) {
            let cached = self.engine.orphans.take_all();
            cached.into_iter().map(|file| self.handle(file)).collect()
        } else {
            Vec::new()
        };
        orphans.extend(self.scan_orphans(OPERATION, directory)?);
        orphans.sort_by(|left, right| left.file.name.cmp(&right.file.name));
        Ok(orphans)
    }

    /// Finds the orphans of `directory`; a missing directory has none.
    fn scan_orphans(&self, operation: &'static str, directory: &Path) -> Result<Vec<Workspace>> {
        if !directory.is_dir() {
            return Ok(Vec::new());
        }
        let listing = fs::read_dir(directory).map_err(|source| {
            Error::io(operation, format!("read {}", directory.display()), source)
        })?;
        let mut orphans = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|source| {
                Error::io(operation, format!("read {}", directory.display()), source)
            })?;
            // Not following symbolic links: only files really in the directory.
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|file_name| file_name.strip_suffix(&format!(".{EXTENSION}")))
            else {
                continue;
            };
            if !is_file || validate_name(operation, name).is_err() {
                continue;
            }
            let path = entry.path();
            match self.adopt(operation, name, &path)? {
                Adoption::Adopted(workspace) => orphans.push(workspace),
                Adoption::Locked | Adoption::Committed => {}
                Adoption::Unusable(reason) => {
                    log::warn!(
                        "{operation}: {} is not a workspace ({reason}); moving it to {QUARANTINE}/",
                        path.display()
                    );
                    if let Err(error) = quarantine(directory, name, &path) {
                        log::warn!(
                            "{operation}: could not quarantine {}: {error}",
                            path.display()
                        );
                    }
                }
            }
        }
        Ok(orphans)
    }
}

/// Step 6 of opening: find the configured state directory's orphans and hold them.
/// Failures are logged, never fatal.
pub(crate) fn cache_orphans_at_open(store: &Store) {
    const OPERATION: &str = "store.open";
    let directory = store.state_directory();
    match store.scan_orphans(OPERATION, &directory) {
        Ok(found) => store
            .engine
            .orphans
            .hold(found.into_iter().map(|workspace| workspace.file)),
        Err(error) => log::warn!("{error} (while looking for workspace orphans)"),
    }
}

/// A workspace commit on SQLite, inside the caller's write transaction: the point, the
/// record that makes it exactly once, and the summary; false when the file committed
/// before. (`postgresql::workspace::commit` is the same on PostgreSQL.)
fn commit_on_sqlite(
    transaction: &rusqlite::Connection,
    commit: &WorkspaceCommit<'_>,
) -> rusqlite::Result<bool> {
    let is_committed = transaction
        .prepare_cached(SQL_IS_COMMITTED)?
        .exists([commit.id])?;
    if is_committed {
        return Ok(false);
    }
    // No records: no journal point (InfluxDB cannot store one without a field), only the
    // summary. Nothing to record for exactly-once: committing the same empty file again
    // writes the same `{}`.
    if !commit.is_empty {
        let committed_at = now_ms();
        let entry_id = insert_point(
            transaction,
            commit.bucket,
            commit.name,
            commit.fields_json,
            commit.tags_json,
            committed_at,
            commit.is_shipping,
        )?;
        transaction
            .prepare_cached(SQL_RECORD_COMMIT)?
            .execute(params![commit.id, commit.name, entry_id, committed_at])?;
    }
    entries::upsert(
        transaction,
        commit.summary_group,
        "summary",
        commit.fields_json,
        None,
    )?;
    Ok(true)
}
