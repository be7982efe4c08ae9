//! Compaction: moving old journal points into compressed archives, exactly once.
//!
//! The Go package wrote the archive and then marked the rows, with nothing to repair a
//! crash in between: points could be archived twice, or marked but in no file. Here a
//! compaction
//!
//! 1. streams the selected points, a page at a time with the connection released in
//!    between, into a temporary file (`.<name>.tmp`), compressing as it goes, and syncs
//!    it;
//! 2. in one transaction marks exactly those rows archived with the archive's name and
//!    records the archive as pending in `journal_archives`;
//! 3. renames the temporary file into place, syncs the directory, and marks the archive
//!    published.
//!
//! A crash before 2 changes nothing (the rows are archived by the next run). A crash
//! after 2 is finished on the next open or compaction: the temporary file is renamed,
//! or, if it is gone, rebuilt from the rows carrying the archive's name. Every archived
//! point therefore ends up in exactly one published archive.
//!
//! **Once step 2 has committed, the compaction has happened.** Step 3 only finishes it,
//! and anything recorded as pending is finished by the next open or compaction. So when
//! the archive is in place but the last step, recording it as published, fails, the
//! call still returns the archive's path (the failure is logged, and the record is
//! written next time); only a failure to put the file in place is an error, whose
//! message says that the points are archived and the file will be published later.
//!
//! **Compactions into one directory are serialised** by a lock file in it,
//! `.journal-compact.lock`: an empty SQLite file held by an open `BEGIN EXCLUSIVE`
//! transaction, so that the lock works between threads and processes and is released
//! by the operating system when its holder dies. A compaction waits for it (up to ten
//! minutes). Holding it, any temporary archive in the directory belongs to a compaction
//! that died: one recorded as pending (its transaction committed) is published, any
//! other is removed at once. The open does the same in the directories of the archives
//! already recorded, skipping a directory whose lock is held (a compaction is running
//! there and finishes its own files).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};

use crate::config::beside_database;
use crate::crash::crash_point;
use crate::error::{Error, Result};
#[cfg(not(feature = "zstd"))]
use crate::pipeline::archive::NO_ZSTD;
use crate::pipeline::archive::{
    absolute_text, create_temporary, cutoff_ms, publish_file, remove_quietly, temporary_name,
    write_archive, ArchiveFormat, ArchiveTarget, CompactOptions, DirectoryLock, LOCK_FILE,
    OPERATION,
};
use crate::pipeline::calendar::compact_stamp;
use crate::pipeline::point::StoredPoint;
use crate::postgresql::archive as pg;
use crate::sqlite::paging::{Paged, PAGE_SIZE};
use crate::sqlite::sql::{now_ms, text, to_sql_integer};
use crate::storage::{session, Conn};
use crate::store::Store;

/// The default output directory of a `":memory:"` store, as in the Go package.
const DEFAULT_OUTPUT: &str = ".core/archive";
/// How long a compaction waits for another one into the same directory to finish.
const LOCK_WAIT: Duration = Duration::from_secs(600);

pub(crate) const SQL_MAX_ENTRY_ID: &str = "SELECT COALESCE(MAX(entry_id), 0) FROM journal_entries";
/// Keyset pages of points: `?1` is the page size and the page starts after the point
/// `(?2, ?3)` (`(i64::MIN, i64::MIN)` for the first page, before every row); the
/// selection's own parameters follow.
pub(crate) const SQL_SELECTION_PAGE: &str =
    "SELECT entry_id, bucket_name, measurement, fields_json,
        tags_json, committed_at
    FROM journal_entries
    WHERE archived_at IS NULL AND committed_at < ?4 AND entry_id <= ?5
        AND (committed_at, entry_id) > (?2, ?3)
    ORDER BY committed_at, entry_id LIMIT ?1";
pub(crate) const SQL_MARK_ARCHIVED: &str =
    "UPDATE journal_entries SET archived_at = ?1, archive_name = ?2
    WHERE archived_at IS NULL AND committed_at < ?3 AND entry_id <= ?4";
pub(crate) const SQL_INSERT_ARCHIVE: &str = "INSERT INTO journal_archives
    (archive_name, final_path, temp_path, created_at) VALUES (?1, ?2, ?3, ?4)";
const SQL_ARCHIVE_NAME_USED: &str = "SELECT 1 FROM journal_archives WHERE archive_name = ?1";
const SQL_PENDING_ARCHIVES: &str = "SELECT archive_name, final_path, temp_path
    FROM journal_archives WHERE published_at IS NULL ORDER BY created_at, archive_name";
const SQL_ARCHIVE_PATHS: &str = "SELECT final_path FROM journal_archives";
pub(crate) const SQL_MARK_PUBLISHED: &str =
    "UPDATE journal_archives SET published_at = ?1 WHERE archive_name = ?2";
const SQL_ARCHIVE_ROWS_PAGE: &str = "SELECT entry_id, bucket_name, measurement, fields_json,
        tags_json, committed_at
    FROM journal_entries WHERE archive_name = ?4 AND (committed_at, entry_id) > (?2, ?3)
    ORDER BY committed_at, entry_id LIMIT ?1";

impl Store {
    /// Archives every journal point committed before `options.before` into a new
    /// compressed file `journal-YYYYMMDD-HHMMSS.jsonl.gz` (or `.zst`) in `options.output`,
    /// one JSON object per line, and marks the points archived: they leave empty and
    /// Flux queries but stay visible to SQL. Memory stays bounded whatever the number of
    /// points, and a crash at any moment neither loses a point nor archives one twice.
    /// Returns the archive's path, or `None` when nothing was old enough. Go: `Compact`.
    ///
    /// Compactions into the same directory run one after the other, in this process or
    /// others. Once the points are marked archived the archive counts as made: if only
    /// recording it as published fails afterwards, the path is still returned and the
    /// record is written by the next open or compaction. Temporary files left by a
    /// compaction that was killed are finished or removed by the next one at once.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::{Duration, SystemTime};
    /// let directory = tempfile::tempdir()?;
    /// let store = store::Store::open(":memory:")?;
    /// let fields = serde_json::json!({"ok": true});
    /// store.commit_to_journal("login", fields.as_object().expect("an object"), &BTreeMap::new())?;
    /// let options = store::CompactOptions {
    ///     output: directory.path().join("archive"),
    ///     ..store::CompactOptions::new(SystemTime::now() + Duration::from_secs(1))
    /// };
    /// let archive = store.compact(options.clone())?.expect("one point archived");
    /// assert_eq!(store::read_archive(&archive)?[0].measurement, "login");
    /// assert!(store.query_journal("")?.is_empty());
    /// assert_eq!(store.compact(options)?, None); // nothing left to archive
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `InvalidInput` (`before cutoff is empty` for a time at or before the
    /// Unix epoch); `Io` when the directory or file cannot be written (after the points
    /// were marked, the message says the file will be published later); `Archive` when
    /// the journal changed under a concurrent compaction into another directory, another
    /// compaction into the same directory held its lock for ten minutes, or a stored
    /// point is not valid JSON; `ReadOnly` for a read-only store; `Database`.
    pub fn compact(&self, options: CompactOptions) -> Result<Option<PathBuf>> {
        if self.is_closed() {
            return Err(Error::Closed {
                operation: OPERATION,
            });
        }
        self.engine.database.check_writable(OPERATION)?;
        let CompactOptions {
            before,
            output,
            format,
        } = options;
        #[cfg(not(feature = "zstd"))]
        if format == ArchiveFormat::Zstd {
            return Err(Error::invalid_input(OPERATION, NO_ZSTD));
        }
        let cutoff = cutoff_ms(before)?;
        let output = if output.as_os_str().is_empty() {
            beside_database(&self.database_path(), "archive", DEFAULT_OUTPUT)
        } else {
            output
        };
        let output = output.as_path();
        fs::create_dir_all(output).map_err(|source| {
            Error::io(OPERATION, format!("create {}", output.display()), source)
        })?;
        let _lock = DirectoryLock::acquire(output, LOCK_WAIT)
            .map_err(|source| {
                Error::database(
                    OPERATION,
                    format!("lock {}", output.join(LOCK_FILE).display()),
                    source,
                )
            })?
            .ok_or_else(|| {
                Error::archive(
                    OPERATION,
                    format!(
                        "another compaction into {} is still running after {LOCK_WAIT:?}",
                        output.display()
                    ),
                    None,
                )
            })?;
        if let Err(error) = self.finish_interrupted_archives(OPERATION, Some(output)) {
            log::warn!("{error} (finishing an interrupted archive; retried next time)");
        }
        self.remove_stray_temporaries(OPERATION, output);
        let highest: i64 = self.engine.database.with_link(
            OPERATION,
            "read journal",
            |connection| match connection {
                Conn::Sqlite(connection) => Ok(connection
                    .prepare_cached(SQL_MAX_ENTRY_ID)?
                    .query_row([], |row| row.get(0))?),
                Conn::Postgres(cell) => Ok(pg::max_entry_id(&mut *session(cell)?)?),
            },
        )?;
        let mut points = self.selection(cutoff, highest).peekable();
        if points.peek().is_none() {
            return Ok(None);
        }
        let (target, file) = self.claim_target(output, format)?;
        let marked = self.archive_selection(&target, file, points, cutoff, highest);
        if marked.is_err() {
            remove_quietly(&target.temporary_path);
        }
        marked?;
        // The compaction has happened: what follows only finishes it, and the next open
        // or compaction finishes whatever is left (see the module documentation).
        crash_point("compact.after_transaction");
        publish_file(&target.temporary_path, &target.final_path).map_err(|source| {
            Error::io(
                OPERATION,
                format!(
                    "publish {}: the points are archived and the file will be published \
                     by the next open or compaction",
                    target.final_path.display()
                ),
                source,
            )
        })?;
        crash_point("compact.after_rename");
        if let Err(error) = self.mark_published(&target.name) {
            log::warn!(
                "{error} ({} is complete; it is recorded as published at the next open or \
                 compaction)",
                target.final_path.display()
            );
        }
        Ok(Some(target.final_path))
    }

    /// Steps 3 and 4: the temporary file, then the transaction that marks the rows
    /// selected by `cutoff` and `highest`.
    fn archive_selection(
        &self,
        target: &ArchiveTarget,
        file: File,
        points: impl Iterator<Item = Result<StoredPoint>>,
        cutoff: i64,
        highest: i64,
    ) -> Result<()> {
        let name = target.name.as_str();
        let final_text = absolute_text(&target.final_path)?;
        let temporary_text = absolute_text(&target.temporary_path)?;
        let written = write_archive(file, &target.temporary_path, target.format, points)?;
        crash_point("compact.before_transaction");
        let is_marked =
            self.engine
                .database
                .with_link(
                    OPERATION,
                    "mark archived points",
                    |connection| match connection {
                        Conn::Sqlite(connection) => {
                            let transaction = rusqlite::Transaction::new_unchecked(
                                connection,
                                rusqlite::TransactionBehavior::Immediate,
                            )?;
                            let now = now_ms();
                            let marked = transaction
                                .prepare_cached(SQL_MARK_ARCHIVED)?
                                .execute(params![now, name, cutoff, highest])?;
                            if marked as u64 != written {
                                return Ok(false);
                            }
                            transaction
                                .prepare_cached(SQL_INSERT_ARCHIVE)?
                                .execute(params![name, final_text, temporary_text, now])?;
                            transaction.commit()?;
                            Ok(true)
                        }
                        Conn::Postgres(cell) => {
                            let archive = pg::Archive {
                                name,
                                final_path: &final_text,
                                temporary_path: &temporary_text,
                            };
                            Ok(pg::mark_archived(
                                &mut *session(cell)?,
                                &archive,
                                now_ms(),
                                cutoff,
                                highest,
                                written,
                            )?)
                        }
                    },
                )?;
        if is_marked {
            Ok(())
        } else {
            Err(Error::archive(
                OPERATION,
                "journal changed during compaction (another compaction ran); nothing archived",
                None,
            ))
        }
    }

    /// The points to archive, a page at a time, the connection released between pages.
    fn selection(
        &self,
        cutoff: i64,
        highest: i64,
    ) -> impl Iterator<Item = Result<StoredPoint>> + '_ {
        self.point_pages(OPERATION, Pages::Selection { cutoff, highest })
    }

    /// Points read in (`committed_at`, `entry_id`) pages, holding the connection only
    /// while a page is read.
    fn point_pages(
        &self,
        operation: &'static str,
        pages: Pages,
    ) -> impl Iterator<Item = Result<StoredPoint>> + '_ {
        let (sql, filter) = match &pages {
            Pages::Selection { cutoff, highest } => (
                SQL_SELECTION_PAGE,
                vec![SqlValue::Integer(*cutoff), SqlValue::Integer(*highest)],
            ),
            Pages::Archive(name) => (SQL_ARCHIVE_ROWS_PAGE, vec![SqlValue::Text(name.clone())]),
        };
        Paged::new(move |cursor: Option<&StoredPoint>| {
            let (after_committed_at, after_entry_id) = cursor
                .map_or((i64::MIN, i64::MIN), |last| {
                    (last.committed_at, last.entry_id)
                });
            let page = [
                SqlValue::Integer(to_sql_integer(PAGE_SIZE)),
                SqlValue::Integer(after_committed_at),
                SqlValue::Integer(after_entry_id),
            ];
            self.engine
                .database
                .with_link(
                    operation,
                    "read journal page",
                    |connection| match connection {
                        Conn::Sqlite(connection) => Ok(connection
                            .prepare_cached(sql)?
                            .query_map(
                                params_from_iter(page.iter().chain(filter.iter())),
                                StoredPoint::from_row,
                            )?
                            .collect::<rusqlite::Result<Vec<_>>>()?),
                        Conn::Postgres(cell) => {
                            let after = pg::After {
                                limit: to_sql_integer(PAGE_SIZE),
                                committed_at: after_committed_at,
                                entry_id: after_entry_id,
                            };
                            let session = &mut *session(cell)?;
                            Ok(match &pages {
                                Pages::Selection { cutoff, highest } => {
                                    pg::selection_page(session, &after, *cutoff, *highest)?
                                }
                                Pages::Archive(name) => {
                                    pg::archive_rows_page(session, &after, name)?
                                }
                            })
                        }
                    },
                )
        })
    }

    /// Picks `journal-<UTC stamp>[-N].jsonl.<ext>` unused by a file, a temporary file or
    /// an archive already recorded, and creates its temporary file (atomically: of two
    /// compactions choosing the same name in the same second, one moves on to the next).
    fn claim_target(&self, output: &Path, format: ArchiveFormat) -> Result<(ArchiveTarget, File)> {
        let stamp = compact_stamp(now_ms());
        let extension = format.extension();
        for attempt in 0_u32.. {
            let name = if attempt == 0 {
                format!("journal-{stamp}.jsonl.{extension}")
            } else {
                format!("journal-{stamp}-{attempt}.jsonl.{extension}")
            };
            let final_path = output.join(&name);
            let temporary_path = output.join(temporary_name(&name));
            let is_recorded =
                self.engine
                    .database
                    .with_link(
                        OPERATION,
                        "read archive names",
                        |connection| match connection {
                            Conn::Sqlite(connection) => Ok(connection
                                .prepare_cached(SQL_ARCHIVE_NAME_USED)?
                                .exists([&name])?),
                            Conn::Postgres(cell) => {
                                Ok(pg::archive_name_used(&mut *session(cell)?, &name)?)
                            }
                        },
                    )?;
            if is_recorded || fs::symlink_metadata(&final_path).is_ok() {
                continue;
            }
            match create_temporary(&temporary_path) {
                Ok(file) => {
                    let target = ArchiveTarget {
                        name,
                        temporary_path,
                        final_path,
                        format,
                    };
                    return Ok((target, file));
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(Error::io(
                        OPERATION,
                        format!("create {}", temporary_path.display()),
                        source,
                    ))
                }
            }
        }
        Err(Error::archive(OPERATION, "no free archive name", None))
    }

    fn mark_published(&self, name: &str) -> Result<()> {
        self.engine
            .database
            .with_link(
                OPERATION,
                "mark archive published",
                |connection| match connection {
                    Conn::Sqlite(connection) => Ok(connection
                        .prepare_cached(SQL_MARK_PUBLISHED)?
                        .execute(params![now_ms(), name])
                        .map(drop)?),
                    Conn::Postgres(cell) => {
                        Ok(pg::mark_published(&mut *session(cell)?, name, now_ms())?)
                    }
                },
            )
    }

    /// The archives recorded but not yet published: `(name, final path, temporary path)`.
    fn pending_archives(&self, operation: &'static str) -> Result<Vec<(String, String, String)>> {
        self.engine
            .database
            .with_link(
                operation,
                "read pending archives",
                |connection| match connection {
                    Conn::Sqlite(connection) => Ok(connection
                        .prepare_cached(SQL_PENDING_ARCHIVES)?
                        .query_map([], |row| Ok((text(row, 0)?, text(row, 1)?, text(row, 2)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()?),
                    Conn::Postgres(cell) => Ok(pg::pending_archives(&mut *session(cell)?)?),
                },
            )
    }

    /// Finishes every archive recorded but not yet published (a crash after its rows were
    /// marked): renames its temporary file into place or, if that is gone too, rebuilds
    /// it from its rows. `held` is the directory whose lock the caller holds; an archive
    /// in any other directory is finished only if that directory's lock is free (a
    /// compaction running there finishes its own). Returns the first failure after
    /// trying them all.
    pub(crate) fn finish_interrupted_archives(
        &self,
        operation: &'static str,
        held: Option<&Path>,
    ) -> Result<()> {
        let pending = self.pending_archives(operation)?;
        let mut first_error = None;
        for (name, final_path, temporary_path) in pending {
            let final_path = Path::new(&final_path);
            let directory = final_path.parent().unwrap_or(Path::new(""));
            let is_held = held.is_some_and(|held| is_same_directory(held, directory));
            let _lock = if is_held {
                None
            } else {
                match DirectoryLock::acquire(directory, Duration::ZERO) {
                    Ok(Some(lock)) => Some(lock),
                    // Busy: a compaction there is alive and finishes it itself.
                    Ok(None) => continue,
                    // The directory is gone or unwritable: finishing reports the cause.
                    Err(_) => None,
                }
            };
            let finished =
                self.finish_archive(operation, &name, final_path, Path::new(&temporary_path));
            if let Err(error) = finished {
                log::warn!("{error}");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn finish_archive(
        &self,
        operation: &'static str,
        name: &str,
        final_path: &Path,
        temporary_path: &Path,
    ) -> Result<()> {
        let failed = |source| {
            Error::io(
                operation,
                format!("publish archive {}", final_path.display()),
                source,
            )
        };
        if temporary_path.exists() {
            publish_file(temporary_path, final_path).map_err(failed)?;
        } else if !final_path.exists() {
            if let Some(directory) = final_path.parent() {
                fs::create_dir_all(directory).map_err(failed)?;
            }
            let rows = self.point_pages(operation, Pages::Archive(name.to_owned()));
            let file = create_temporary(temporary_path).map_err(failed)?;
            let rebuilt = write_archive(file, temporary_path, ArchiveFormat::of_name(name), rows);
            if let Err(error) = rebuilt {
                remove_quietly(temporary_path);
                return Err(error);
            }
            publish_file(temporary_path, final_path).map_err(failed)?;
        }
        self.mark_published(name)
    }
}

impl Store {
    /// Removes the temporary archives in `output` that belong to no pending archive:
    /// those of compactions killed before their transaction. The caller holds the
    /// directory's lock, so no live compaction is writing any of them. (Those of
    /// pending archives were published just before; one whose publishing failed is
    /// kept for the next attempt.)
    fn remove_stray_temporaries(&self, operation: &'static str, output: &Path) {
        let pending: Vec<PathBuf> = match self.pending_archives(operation) {
            Ok(pending) => pending
                .into_iter()
                .map(|(_, _, temporary)| PathBuf::from(temporary))
                .collect(),
            Err(error) => {
                log::warn!("{error} (temporary archives are left for the next compaction)");
                return;
            }
        };
        let Ok(listing) = fs::read_dir(output) else {
            return;
        };
        for entry in listing.filter_map(std::result::Result::ok) {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            let is_temporary = Path::new(file_name)
                .extension()
                .is_some_and(|extension| extension == "tmp");
            if !(file_name.starts_with(".journal-") && is_temporary) {
                continue;
            }
            let path = entry.path();
            let is_pending = pending.iter().any(|temporary| {
                temporary.file_name() == path.file_name()
                    && temporary
                        .parent()
                        .is_some_and(|directory| is_same_directory(directory, output))
            });
            if !is_pending {
                remove_quietly(&path);
            }
        }
    }

    /// The directories holding the archives recorded so far.
    fn archive_directories(&self, operation: &'static str) -> Result<Vec<PathBuf>> {
        let paths: Vec<String> =
            self.engine
                .database
                .with_link(
                    operation,
                    "read archive paths",
                    |connection| match connection {
                        Conn::Sqlite(connection) => Ok(connection
                            .prepare_cached(SQL_ARCHIVE_PATHS)?
                            .query_map([], |row| text(row, 0))?
                            .collect::<rusqlite::Result<Vec<_>>>()?),
                        Conn::Postgres(cell) => Ok(pg::archive_paths(&mut *session(cell)?)?),
                    },
                )?;
        let mut directories: Vec<PathBuf> = Vec::new();
        for path in paths {
            if let Some(directory) = Path::new(&path).parent() {
                if !directories.iter().any(|known| known == directory) {
                    directories.push(directory.to_owned());
                }
            }
        }
        Ok(directories)
    }
}

/// Which points a compaction reads a page at a time.
enum Pages {
    /// Those to archive: unarchived, committed before `cutoff`, up to entry `highest`.
    Selection { cutoff: i64, highest: i64 },
    /// Those an archive of this name holds.
    Archive(String),
}

/// True when two directory paths name the same place once made absolute.
fn is_same_directory(left: &Path, right: &Path) -> bool {
    match (std::path::absolute(left), std::path::absolute(right)) {
        (Ok(left), Ok(right)) => left.components().eq(right.components()),
        _ => left == right,
    }
}

/// Step 5 of opening: finish interrupted compactions and remove the temporary files of
/// killed ones, in the directories of the archives recorded so far whose lock is free;
/// failures are logged, not fatal.
pub(crate) fn finish_interrupted_at_open(store: &Store) {
    const OPEN: &str = "store.open";
    if let Err(error) = store.finish_interrupted_archives(OPEN, None) {
        log::warn!("{error} (finishing an interrupted archive; retried at the next compaction)");
    }
    let directories = match store.archive_directories(OPEN) {
        Ok(directories) => directories,
        Err(error) => {
            log::warn!("{error} (looking for temporary archives)");
            return;
        }
    };
    for directory in directories {
        if !directory.is_dir() {
            continue;
        }
        if let Ok(Some(_lock)) = DirectoryLock::acquire(&directory, Duration::ZERO) {
            store.remove_stray_temporaries(OPEN, &directory);
        }
    }
}
