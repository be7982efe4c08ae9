//! The statements and settings the store runs, by name, for the benchmark's raw-rusqlite
//! baseline (`crates/store-bench`), so that the baseline runs the store's SQL by
//! construction instead of a copy checked against the store's source text.
//!
//! Not part of the API: hidden from the documentation, and free to change in any release.
//!
//! ```
//! assert!(store::statements::entries::GET.starts_with("SELECT entry_value"));
//! ```

use std::time::Duration;

/// The `entries` table (`kv::entries`).
pub mod entries {
    use crate::kv::entries as source;

    /// Reads a value and its expiry.
    pub const GET: &str = source::SQL_GET;
    /// Deletes one entry if it has expired.
    pub const DELETE_IF_EXPIRED: &str = source::SQL_DELETE_IF_EXPIRED;
    /// Whether a live entry exists.
    pub const EXISTS: &str = source::SQL_EXISTS;
    /// Inserts or replaces an entry.
    pub const UPSERT: &str = source::SQL_UPSERT;
    /// Deletes one entry.
    pub const DELETE: &str = source::SQL_DELETE;
    /// Counts a group's live entries.
    pub const COUNT: &str = source::SQL_COUNT;
    /// Every live entry of a group, by key.
    pub const GET_ALL: &str = source::SQL_GET_ALL;
    /// The first page of a group's keys.
    pub const KEYS_FIRST: &str = source::SQL_KEYS_FIRST;
    /// The next page of a group's keys.
    pub const KEYS_NEXT: &str = source::SQL_KEYS_NEXT;
    /// The live groups under a prefix.
    pub const GROUPS: &str = source::SQL_GROUPS;
    /// One batch of the expired-entry purge.
    pub const PURGE_BATCH: &str = source::SQL_PURGE_BATCH;
    /// Counts a prefix's live entries, stopping at a limit (the key quota).
    pub const COUNT_PREFIX_UP_TO: &str = source::SQL_COUNT_PREFIX_UP_TO;
    /// Counts a prefix's live groups, stopping at a limit (the group quota).
    pub const COUNT_GROUPS_PREFIX_UP_TO: &str = source::SQL_COUNT_GROUPS_PREFIX_UP_TO;
    /// Whether a group has a live entry.
    pub const GROUP_IS_LIVE: &str = source::SQL_GROUP_IS_LIVE;
    /// The expiry of a live entry (`ttl`).
    pub const TTL: &str = source::SQL_TTL;
    /// Sets a live entry's expiry (`expire`).
    pub const EXPIRE: &str = source::SQL_EXPIRE;
    /// Sets a live entry's expiry and returns its value (`get_and_touch`).
    pub const EXPIRE_RETURNING: &str = source::SQL_EXPIRE_RETURNING;
    /// Removes a live entry's expiry (`persist`).
    pub const PERSIST: &str = source::SQL_PERSIST;
    /// The live entries among a JSON array of keys (`get_many`).
    pub const GET_MANY: &str = source::SQL_GET_MANY;
    /// Deletes the entries among a JSON array of keys (`delete_many`).
    pub const DELETE_MANY: &str = source::SQL_DELETE_MANY;
    /// How many rows one purge statement removes at most.
    pub const PURGE_BATCH_SIZE: usize = crate::kv::operations::PURGE_BATCH;
}

/// The change history (`kv::changes`, issue 13).
pub mod changes {
    /// Up to `?2` changes after revision `?1`, oldest first: what a `ChangeWatcher` reads.
    pub const AFTER: &str = crate::kv::changes::SQL_AFTER;
    /// The newest revision (0 before the first change).
    pub const LATEST: &str = crate::kv::changes::SQL_LATEST;
    /// How many changes a `ChangeWatcher` reads from the history at a time.
    pub const REPLAY_BATCH: usize = crate::revisions::REPLAY_BATCH;
}

/// The journal, workspaces and archives.
pub mod pipeline {
    /// Inserts one journal point.
    pub const INSERT_POINT: &str = crate::pipeline::point::SQL_INSERT_POINT;
    /// A bucket's unarchived points in a time range.
    pub const UNARCHIVED_IN_BUCKET: &str = crate::pipeline::point::SQL_UNARCHIVED_IN_BUCKET;
    /// The bucket of a store with no InfluxDB configured.
    pub const LOCAL_BUCKET: &str = crate::pipeline::point::LOCAL_BUCKET;
    /// A workspace file's schema.
    pub const CREATE_WORKSPACE: &str = crate::pipeline::workspace_file::CREATE_WORKSPACE;
    /// Writes one workspace metadata value.
    pub const WRITE_META: &str = crate::pipeline::workspace_file::SQL_WRITE_META;
    /// Buffers one workspace event.
    pub const PUT: &str = crate::pipeline::workspace_file::SQL_PUT;
    /// Counts a workspace's events by kind.
    pub const AGGREGATE: &str = crate::pipeline::workspace_file::SQL_AGGREGATE;
    /// Whether a workspace has been committed.
    pub const IS_COMMITTED: &str = crate::pipeline::workspace_file::SQL_IS_COMMITTED;
    /// Records a workspace's commit.
    pub const RECORD_COMMIT: &str = crate::pipeline::workspace_file::SQL_RECORD_COMMIT;
    /// A workspace file's statement cache.
    pub const WORKSPACE_STATEMENT_CACHE_CAPACITY: usize =
        crate::pipeline::workspace_file::STATEMENT_CACHE_CAPACITY;
    /// The newest journal entry id.
    pub const MAX_ENTRY_ID: &str = crate::compact::SQL_MAX_ENTRY_ID;
    /// One page of the points a compaction selects.
    pub const SELECTION_PAGE: &str = crate::compact::SQL_SELECTION_PAGE;
    /// Marks the selected points archived.
    pub const MARK_ARCHIVED: &str = crate::compact::SQL_MARK_ARCHIVED;
    /// Records an archive before it is published.
    pub const INSERT_ARCHIVE: &str = crate::compact::SQL_INSERT_ARCHIVE;
    /// Records an archive's publication.
    pub const MARK_PUBLISHED: &str = crate::compact::SQL_MARK_PUBLISHED;
}

/// How many rows an iterator reads per page.
pub const PAGE_SIZE: usize = crate::sqlite::paging::PAGE_SIZE;
/// How long a statement waits for another connection's lock.
pub const BUSY_TIMEOUT: Duration = crate::sqlite::schema::BUSY_TIMEOUT;
/// The store connection's prepared-statement cache.
pub const STATEMENT_CACHE_CAPACITY: usize = crate::sqlite::schema::STATEMENT_CACHE_CAPACITY;
