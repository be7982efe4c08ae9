//! Configuration: plain data, validated once when the store opens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// How the store is opened. Build it with [`StoreConfig::new`] and change the fields you
/// care about; every other field keeps its default.
///
/// ```
/// use std::time::Duration;
/// use store::{Durability, Store, StoreConfig};
///
/// let config = StoreConfig {
///     purge_interval: Duration::from_secs(5),
///     durability: Durability::Normal,
///     ..StoreConfig::new(":memory:")
/// };
/// let store = Store::open_with(config)?;
/// assert_eq!(store.config().purge_interval, Duration::from_secs(5));
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The SQLite file; `":memory:"` (exactly) for a private in-memory database.
    pub database_path: PathBuf,
    /// Where journal points are shipped; `None` keeps the journal local.
    pub journal: Option<JournalConfig>,
    /// How often the background thread removes expired entries; `Duration::ZERO` turns the
    /// thread off (expired entries stay invisible and are removed by `get` or
    /// [`Store::purge_expired`](crate::Store::purge_expired)).
    pub purge_interval: Duration,
    /// Where workspace buffer files live; empty means the default: `state` beside the
    /// database file (`<database dir>/state`, so `.core/state` for `.core/store.db`), or
    /// `.core/state` under the current directory for `":memory:"`.
    pub workspace_state_directory: PathBuf,
    /// How hard SQLite works to keep a commit through a power cut.
    pub durability: Durability,
    /// Open the file for reading only (`SQLITE_OPEN_READ_ONLY`); default `false`.
    ///
    /// The file must exist and have a current schema (a file needing a migration is
    /// refused). Opening writes nothing and changes no journal mode, the background
    /// purge, interrupted-compaction recovery and InfluxDB shipping do not run, an
    /// expired entry found by `get` is reported missing but not deleted, and every
    /// write fails with [`Error::ReadOnly`](crate::Error::ReadOnly) naming the
    /// operation. Reads never block and are never blocked by a writer in another
    /// process. A WAL file in a directory the reader cannot write is opened as
    /// immutable when it was closed cleanly (no `-wal` with content, no `-shm`); one
    /// with a live `-wal` there cannot be read and the open says so.
    ///
    /// ```
    /// # let directory = tempfile::tempdir()?;
    /// # let path = directory.path().join("app.db");
    /// # store::Store::open(&path)?.close()?;
    /// let config = store::StoreConfig { read_only: true, ..store::StoreConfig::new(&path) };
    /// let store = store::Store::open_with(config)?;
    /// assert!(store.set("g", "k", "v").unwrap_err().is_read_only());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub read_only: bool,
    /// The size in bytes the WAL (`-wal` file) is kept to; default 64 MiB
    /// ([`DEFAULT_WAL_SIZE_LIMIT`]).
    ///
    /// It is SQLite's `PRAGMA journal_size_limit` (the WAL is truncated to it when a
    /// checkpoint resets it), and a WAL found larger than it by
    /// [`Store::purge_expired`](crate::Store::purge_expired) or the background purge is
    /// checkpointed with `TRUNCATE`, without waiting for readers (a reader still using
    /// the WAL makes it wait for the next purge). A long reader lets the WAL grow past
    /// the limit; this brings it back once the reader ends, even if nothing is written
    /// afterwards. It also sizes the WAL index (`-shm`) reserved at open.
    ///
    /// ```
    /// let config = store::StoreConfig {
    ///     wal_size_limit: 16 << 20,
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// assert_eq!(store::Store::open_with(config)?.config().wal_size_limit, 16 << 20);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub wal_size_limit: u64,
    /// How much of the change history (revisions, `watch_from`) is kept; see
    /// [`ChangeRetention`]. Default: the last 100,000 changes, none older than 7 days.
    ///
    /// ```
    /// let config = store::StoreConfig {
    ///     change_retention: store::ChangeRetention { max_changes: Some(1_000), max_age: None },
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// assert_eq!(store::Store::open_with(config)?.config().change_retention.max_changes, Some(1_000));
    /// # Ok::<(), store::Error>(())
    /// ```
    pub change_retention: ChangeRetention,
}

/// How much of the change history a store keeps for [`watch_from`] and replay.
///
/// A change is pruned once it is outside either limit: more than `max_changes` newer
/// changes exist, or it is older than `max_age`. `None` turns a limit off; both `None`
/// keeps every change. The newest change is always kept, so the store's
/// [`revision`](crate::Store::revision) survives any pruning. Pruning runs in the
/// background purge (and [`Store::purge_expired`](crate::Store::purge_expired)), oldest
/// first, in batches of 500 rows, so writers never wait behind one long delete. A
/// watcher that falls behind the retained history gets
/// [`Error::Compacted`](crate::Error::Compacted).
///
/// [`watch_from`]: crate::Store::watch_from
///
/// ```
/// use std::time::Duration;
/// let retention = store::ChangeRetention::default();
/// assert_eq!(retention.max_changes, Some(100_000));
/// assert_eq!(retention.max_age, Some(Duration::from_secs(7 * 24 * 60 * 60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeRetention {
    /// Keep at most this many of the newest changes (at least 1 is always kept).
    pub max_changes: Option<u64>,
    /// Keep no change older than this (by the writer's clock).
    pub max_age: Option<Duration>,
}

impl Default for ChangeRetention {
    fn default() -> ChangeRetention {
        ChangeRetention {
            max_changes: Some(100_000),
            max_age: Some(Duration::from_secs(7 * 24 * 60 * 60)),
        }
    }
}

/// The default [`StoreConfig::wal_size_limit`]: 64 MiB, enough for a burst of writes
/// without a checkpoint in its way, small enough that a long reader leaves no large file
/// behind.
///
/// ```
/// assert_eq!(store::StoreConfig::new("app.db").wal_size_limit, store::DEFAULT_WAL_SIZE_LIMIT);
/// ```
pub const DEFAULT_WAL_SIZE_LIMIT: u64 = 64 << 20;

/// The default background purge interval, as in the Go package.
pub(crate) const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// The default workspace state directory of a `":memory:"` store, as in the Go package.
pub(crate) const DEFAULT_STATE_DIRECTORY: &str = ".core/state";

/// The default directory `leaf` (`state`, `archive`) of a store: beside the database
/// file, so that every process reaching the same file by whatever path, from whatever
/// directory, finds the same workspaces and archives; `in_memory_default` under the
/// current directory for `":memory:"`, which has no file.
pub(crate) fn beside_database(
    database_path: &Path,
    leaf: &str,
    in_memory_default: &str,
) -> PathBuf {
    // A PostgreSQL URL names no folder either: its local files go where `:memory:`'s do.
    if database_path.as_os_str() == crate::sqlite::schema::MEMORY_PATH
        || crate::postgresql::is_url(database_path)
    {
        return PathBuf::from(in_memory_default);
    }
    database_path
        .parent()
        .map_or_else(|| PathBuf::from(leaf), |directory| directory.join(leaf))
}

impl StoreConfig {
    /// A configuration for `database_path` with every other field at its default: no
    /// journal shipping, a purge every 60 seconds, workspaces in `state` beside the
    /// database file (`.core/state` under the current directory for `":memory:"` and for
    /// a PostgreSQL URL),
    /// [`Durability::Full`], read-write, and a 64 MiB WAL size limit.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::time::Duration;
    /// let config = store::StoreConfig::new("data/app.db");
    /// assert_eq!(config.workspace_state_directory, Path::new("data/state"));
    /// assert_eq!(config.purge_interval, Duration::from_secs(60));
    /// assert_eq!(config.durability, store::Durability::Full);
    /// assert!(config.journal.is_none());
    /// assert!(!config.read_only);
    /// ```
    #[must_use]
    pub fn new(database_path: impl Into<PathBuf>) -> StoreConfig {
        let database_path = database_path.into();
        StoreConfig {
            workspace_state_directory: default_state_directory(&database_path),
            database_path,
            journal: None,
            purge_interval: DEFAULT_PURGE_INTERVAL,
            durability: Durability::Full,
            read_only: false,
            wal_size_limit: DEFAULT_WAL_SIZE_LIMIT,
            change_retention: ChangeRetention::default(),
        }
    }

    /// Checks the configuration without opening anything. [`Store::open_with`] runs it
    /// first.
    ///
    /// [`Store::open_with`]: crate::Store::open_with
    ///
    /// ```
    /// let error = store::StoreConfig::new("").validate().unwrap_err();
    /// assert!(error.to_string().contains("database path is empty"));
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` (operation `store.config.validate`) naming the first field that is
    /// empty or malformed.
    pub fn validate(&self) -> Result<()> {
        const OPERATION: &str = "store.config.validate";
        if self.database_path.as_os_str().is_empty() {
            return Err(Error::invalid_input(OPERATION, "database path is empty"));
        }
        if let Some(journal) = &self.journal {
            journal.problem().map_or(Ok(()), |problem| {
                Err(Error::invalid_input(
                    OPERATION,
                    format!("journal config: {problem}"),
                ))
            })?;
        }
        Ok(())
    }

    /// The configuration with defaults filled in where a field was left empty.
    pub(crate) fn normalised(mut self) -> StoreConfig {
        if self.workspace_state_directory.as_os_str().is_empty() {
            self.workspace_state_directory = default_state_directory(&self.database_path);
        }
        self
    }
}

/// `state` beside the database file, or `.core/state` for `":memory:"`.
fn default_state_directory(database_path: &Path) -> PathBuf {
    beside_database(database_path, "state", DEFAULT_STATE_DIRECTORY)
}

/// How SQLite syncs commits to disk (`PRAGMA synchronous`).
///
/// Both levels survive a crash of the program; they differ only on power loss or an
/// operating-system crash, where `Normal` may lose the last commits (never corrupt).
///
/// ```
/// assert_eq!(store::Durability::default(), store::Durability::Full);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `PRAGMA synchronous=FULL`: every commit is on disk when the call returns.
    #[default]
    Full,
    /// `PRAGMA synchronous=NORMAL`: in WAL mode, commits are synced at checkpoints.
    Normal,
}

impl Durability {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Where journal points are shipped: an InfluxDB server.
///
/// ```
/// let journal = store::JournalConfig::new("http://127.0.0.1:8086", "core", "events");
/// assert_eq!(journal.protocol, store::JournalProtocol::V2);
/// assert!(journal.token.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:8086`.
    pub endpoint_url: String,
    /// The InfluxDB 2/3 organisation.
    pub organisation: String,
    /// The bucket (the database name for InfluxDB 1.x).
    pub bucket_name: String,
    /// Sent as `Authorization: Token <token>` when present.
    pub token: Option<String>,
    /// Which write API the server speaks.
    pub protocol: JournalProtocol,
}

impl JournalConfig {
    /// A journal configuration with no token and the V2 protocol.
    ///
    /// ```
    /// let journal = store::JournalConfig::new("http://127.0.0.1:8086", "core", "events");
    /// assert_eq!(journal.bucket_name, "events");
    /// ```
    #[must_use]
    pub fn new(endpoint_url: &str, organisation: &str, bucket_name: &str) -> JournalConfig {
        JournalConfig {
            endpoint_url: endpoint_url.to_owned(),
            organisation: organisation.to_owned(),
            bucket_name: bucket_name.to_owned(),
            token: None,
            protocol: JournalProtocol::V2,
        }
    }

    /// The first thing wrong with this configuration, if any.
    fn problem(&self) -> Option<&'static str> {
        if cfg!(not(feature = "influx")) {
            Some(crate::pipeline::influx::NO_CLIENT)
        } else if self.endpoint_url.trim().is_empty() {
            Some("endpoint URL is empty")
        } else if self.organisation.trim().is_empty() {
            Some("organisation is empty")
        } else if self.bucket_name.trim().is_empty() {
            Some("bucket name is empty")
        } else if !is_absolute_http_url(&self.endpoint_url) {
            Some("endpoint URL is invalid: use an absolute http:// or https:// URL")
        } else {
            None
        }
    }
}

/// True for `http://host…` or `https://host…` with a non-empty host and no white space.
fn is_absolute_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    let Some(rest) = rest else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    !host.is_empty() && !host.starts_with(':') && !url.chars().any(char::is_whitespace)
}

/// Which InfluxDB write API the journal is shipped to.
///
/// ```
/// assert_eq!(store::JournalProtocol::default(), store::JournalProtocol::V2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JournalProtocol {
    /// `POST {endpoint}/api/v2/write?org=..&bucket=..&precision=ms` (InfluxDB 2 and 3).
    #[default]
    V2,
    /// `POST {endpoint}/write?db=<bucket_name>&precision=ms` (InfluxDB 1.x).
    V1,
}

/// Limits on one namespace of a [`ScopedStore`](crate::ScopedStore); `0` means unlimited.
///
/// ```
/// let quota = store::QuotaConfig { max_keys: 100, max_groups: 5 };
/// assert_eq!(store::QuotaConfig::default(), store::QuotaConfig { max_keys: 0, max_groups: 0 });
/// # let _ = quota;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaConfig {
    /// The most live keys the namespace may hold, across all its groups.
    pub max_keys: usize,
    /// The most groups with a live key the namespace may hold.
    pub max_groups: usize,
}

/// A namespace and its quota, for [`ScopedStore::with_config`](crate::ScopedStore::with_config).
///
/// ```
/// let config = store::ScopedStoreConfig {
///     namespace: "tenant-a".into(),
///     quota: store::QuotaConfig { max_keys: 100, max_groups: 0 },
/// };
/// let store = store::Store::open(":memory:")?;
/// let scoped = store::ScopedStore::with_config(&store, config.clone())?;
/// assert_eq!(scoped.config(), config);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedStoreConfig {
    /// ASCII letters, digits and `-`, e.g. `tenant-a`.
    pub namespace: String,
    /// The namespace's limits.
    pub quota: QuotaConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(feature = "influx"))]
    fn validate_bad_journal_without_the_influx_feature() {
        let config = StoreConfig {
            journal: Some(JournalConfig::new(
                "http://127.0.0.1:8086",
                "core",
                "events",
            )),
            ..StoreConfig::new(":memory:")
        };
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("cargo feature `influx`"), "{message}");
    }

    #[test]
    #[cfg(feature = "influx")]
    fn validate_bad_journal_fields_in_order() {
        let mut journal = JournalConfig::new("", "", "");
        let config = |journal: &JournalConfig| StoreConfig {
            journal: Some(journal.clone()),
            ..StoreConfig::new("x.db")
        };
        let message = |journal: &JournalConfig| config(journal).validate().unwrap_err().to_string();
        assert!(message(&journal).contains("journal config: endpoint URL is empty"));
        journal.endpoint_url = "http://127.0.0.1:8086".into();
        assert!(message(&journal).contains("organisation is empty"));
        journal.organisation = "core".into();
        assert!(message(&journal).contains("bucket name is empty"));
        journal.bucket_name = "events".into();
        assert!(config(&journal).validate().is_ok());
        journal.endpoint_url = "127.0.0.1:8086".into();
        assert!(message(&journal).contains("endpoint URL is invalid"));
    }

    #[test]
    fn is_absolute_http_url_good_and_bad() {
        for good in [
            "http://localhost",
            "https://a.b:8086/x",
            "HTTP://h:1?q",
            "http://u@h",
        ] {
            assert!(is_absolute_http_url(good), "{good}");
        }
        for bad in [
            "",
            "http://",
            "https:///path",
            "ftp://h",
            "http://:80",
            "http://h x",
            "localhost",
        ] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn normalised_good_fills_empty_state_directory_beside_the_database() {
        let config = |path: &str| {
            StoreConfig {
                workspace_state_directory: PathBuf::new(),
                ..StoreConfig::new(path)
            }
            .normalised()
            .workspace_state_directory
        };
        assert_eq!(config("/srv/data/x.db"), PathBuf::from("/srv/data/state"));
        assert_eq!(config(".core/store.db"), PathBuf::from(".core/state"));
        assert_eq!(config("x.db"), PathBuf::from("state"));
        assert_eq!(config(":memory:"), PathBuf::from(".core/state"));
    }

    #[test]
    fn new_good_state_directory_beside_the_database() {
        let state = |path: &str| StoreConfig::new(path).workspace_state_directory;
        assert_eq!(state("/srv/data/x.db"), PathBuf::from("/srv/data/state"));
        assert_eq!(state("data/x.db"), PathBuf::from("data/state"));
        assert_eq!(state(":memory:"), PathBuf::from(".core/state"));
        assert_eq!(
            beside_database(Path::new("/srv/x.db"), "archive", ".core/archive"),
            PathBuf::from("/srv/archive")
        );
    }
}
