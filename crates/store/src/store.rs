//! The `Store` handle: its configuration, closing, events and the key-value operations
//! (opening is `open.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::engine::Engine;
use crate::error::Result;
use crate::kv::entries::KeyValue;
use crate::kv::events::{Event, Subscription, Watcher};
use crate::kv::operations::{Operations, STORE_NAMES};
use crate::sqlite::paging::Paged;

/// An embedded key-value store in one SQLite file.
///
/// `Store` is a cheap handle: clone it freely and share it between threads; every clone
/// uses the same connection, and closing any of them closes them all. Dropping the last
/// clone closes the store.
///
/// ```
/// use std::time::Duration;
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(3600))?;
/// assert_eq!(store.get("config", "colour")?, "blue");
/// assert_eq!(store.count_all("")?, 2);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) engine: Arc<Engine>,
}

impl Store {
    pub(crate) fn operations(&self) -> Operations<'_, Engine> {
        self.engine.operations(&STORE_NAMES)
    }

    /// The configuration the store was opened with (an empty workspace state directory
    /// replaced by the default).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.config().database_path, std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> StoreConfig {
        self.engine.config.clone()
    }

    /// The database path exactly as given.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.database_path(), std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn database_path(&self) -> PathBuf {
        self.engine.config.database_path.clone()
    }

    /// True once [`Store::close`] has been called on any clone.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.close()?;
    /// assert!(store.is_closed());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.engine.database.is_closed()
    }

    /// Closes the store for every clone: later calls return [`Error::Closed`](crate::Error::Closed), watchers
    /// end, callbacks are forgotten, the purge thread stops, the InfluxDB shipper stops
    /// after one last attempt bounded to a few seconds (points not shipped stay queued for
    /// the next open), and the connection closes once any operation in progress has
    /// finished. Idempotent.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.close()?;
    /// store.close()?;
    /// assert!(matches!(store.get("g", "k"), Err(store::Error::Closed { .. })));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` when called inside a transaction on the same thread; `Database` if
    /// SQLite fails to close the file (the store is closed all the same).
    pub fn close(&self) -> Result<()> {
        // Refuse before marking anything, so that a close inside a transaction changes
        // nothing rather than waiting for a lock this thread holds.
        self.engine
            .database
            .check_not_in_transaction("store.close")?;
        self.engine.close().map(|_| ())
    }

    /// The live value of a key. An expired row found here is deleted (with an `Expire`
    /// event) and reported as not found.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get("config", "colour")?, "blue");
    /// assert!(store.get("config", "size").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub fn get(&self, group: &str, key: &str) -> Result<String> {
        self.operations().get(group, key)
    }

    /// True if the key has a live value. Never deletes anything.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert!(store.exists("config", "colour")?);
    /// assert!(!store.exists("config", "size")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn exists(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().exists(group, key)
    }

    /// Sets a value with no expiry (clearing any TTL the key had). Emits `Set`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "colour", "green")?;
    /// assert_eq!(store.get("config", "colour")?, "green");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.operations().set(group, key, value)
    }

    /// Sets a value that expires after `ttl` (rounded up to whole milliseconds). A zero
    /// TTL writes an entry that is already expired. Emits `Set`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// assert_eq!(store.get("sessions", "alice")?, "token");
    /// store.set_with_ttl("sessions", "bob", "token", Duration::ZERO)?;
    /// assert!(store.get("sessions", "bob").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.operations().set_with_ttl(group, key, value, ttl)
    }

    /// Removes a key, live or expired. A missing key is not an error. Emits `Delete` when
    /// a row was removed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.delete("config", "colour")?;
    /// store.delete("config", "colour")?;
    /// assert!(!store.exists("config", "colour")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn delete(&self, group: &str, key: &str) -> Result<()> {
        self.operations().delete(group, key)
    }

    /// Removes every key of a group. Emits one `DeleteGroup` when anything was removed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// store.delete_group("config")?;
    /// assert_eq!(store.count("config")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.operations().delete_group(group)
    }

    /// Removes every group whose name starts with `group_prefix` (byte for byte,
    /// case-sensitive; `""` removes everything), in one transaction. Emits one
    /// `DeleteGroup` per group removed, in ascending order, after the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("tenant-b:config", "colour", "red")?;
    /// store.delete_prefix("tenant-a:")?;
    /// assert_eq!(store.groups("")?, vec!["tenant-b:config".to_owned()]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (nothing is removed).
    pub fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        self.operations().delete_prefix(group_prefix)
    }

    /// True if the group has at least one live entry.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert!(store.group_exists("config")?);
    /// assert!(!store.group_exists("cache")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn group_exists(&self, group: &str) -> Result<bool> {
        self.operations().group_exists(group)
    }

    /// The number of live entries in a group.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// assert_eq!(store.count("config")?, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn count(&self, group: &str) -> Result<usize> {
        self.operations().count(group)
    }

    /// The number of live entries in every group whose name starts with `group_prefix`
    /// (byte for byte, case-sensitive; `""` counts everything).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("Tenant-A:config", "colour", "red")?;
    /// assert_eq!(store.count_all("tenant-a:")?, 2);
    /// assert_eq!(store.count_all("")?, 3);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn count_all(&self, group_prefix: &str) -> Result<usize> {
        self.operations().count_all(group_prefix)
    }

    /// Every live key and value of a group.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// let all = store.get_all("config")?;
    /// assert_eq!(all.get("colour").map(String::as_str), Some("blue"));
    /// assert_eq!(all.len(), 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.operations().get_all(group)
    }

    /// Up to `limit` live entries of a group in key order, after skipping `offset`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// for key in ["a", "b", "c", "d"] {
    ///     store.set("letters", key, key)?;
    /// }
    /// let page = store.get_page("letters", 1, 2)?;
    /// let keys: Vec<&str> = page.iter().map(|entry| entry.key.as_str()).collect();
    /// assert_eq!(keys, ["b", "c"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn get_page(&self, group: &str, offset: usize, limit: usize) -> Result<Vec<KeyValue>> {
        self.operations().get_page(group, offset, limit)
    }

    /// Every live entry of a group in key order, read a page at a time. No lock is held
    /// between pages, so the loop body may use the store, writes included. Go: `All`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// for entry in store.all("config") {
    ///     let entry = entry?;
    ///     store.set("copy", &entry.key, &entry.value)?; // writing inside the loop is fine
    /// }
    /// assert_eq!(store.count("copy")?, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn all(&self, group: &str) -> impl Iterator<Item = Result<KeyValue>> {
        let store = self.clone();
        let group = group.to_owned();
        Paged::new(move |after: Option<&KeyValue>| store.operations().key_page(&group, after))
    }

    /// The names of the groups that have a live entry and start with `group_prefix` (byte
    /// for byte, case-sensitive; `""` lists every group), in ascending order.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("tenant-b:config", "colour", "red")?;
    /// assert_eq!(store.groups("tenant-a:")?, ["tenant-a:cache", "tenant-a:config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        self.operations().groups(group_prefix)
    }

    /// The same names as [`Store::groups`], read a page at a time with no lock held
    /// between pages. Go: `GroupsSeq`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("a", "k", "v")?;
    /// store.set("b", "k", "v")?;
    /// let names: Vec<String> = store.groups_iter("").collect::<store::Result<_>>()?;
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn groups_iter(&self, group_prefix: &str) -> impl Iterator<Item = Result<String>> {
        let store = self.clone();
        let prefix = group_prefix.to_owned();
        Paged::new(move |after: Option<&String>| store.operations().group_page(&prefix, after))
    }

    /// The value split at every `separator`, as Go's `strings.Split`: empty pieces are
    /// kept, and an empty separator splits into characters.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "hosts", "a,b,,c")?;
    /// assert_eq!(store.get_split("config", "hosts", ",")?, ["a", "b", "", "c"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        self.operations().get_split(group, key, separator)
    }

    /// The value split on runs of white space, as Go's `strings.Fields`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "flags", " -v\t--colour  always\n")?;
    /// assert_eq!(store.get_fields("config", "flags")?, ["-v", "--colour", "always"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        self.operations().get_fields(group, key)
    }

    /// Renders a Go `text/template` with the group's live entries as its data, a map from
    /// key to value: `{{ .colour }}`, `{{ index . "any key" }}`, `{{ range $k, $v := . }}`.
    /// A missing key renders as `<no value>`, as in Go.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("user", "name", "Ada")?;
    /// store.set("user", "colour", "blue")?;
    /// let text = store.render("{{ .name }} likes {{ .colour }}", "user")?;
    /// assert_eq!(text, "Ada likes blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Template` with `parse template: …` for a malformed template or `execute template:
    /// …` when running it fails; `Closed`; `Database`.
    pub fn render(&self, template_source: &str, group: &str) -> Result<String> {
        self.operations().render(template_source, group)
    }

    /// Removes every expired entry now, in batches of at most 500 so that other callers
    /// get the connection in between, and returns how many were removed. Emits `Delete`
    /// for each, after its batch commits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.set_with_ttl("cache", "old", "v", Duration::ZERO)?;
    /// store.set("cache", "kept", "v")?;
    /// assert_eq!(store.purge_expired()?, 1);
    /// assert_eq!(store.purge_expired()?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (batches already committed stay removed).
    pub fn purge_expired(&self) -> Result<u64> {
        self.engine
            .purge_expired_as(&STORE_NAMES, STORE_NAMES.purge_expired)
    }

    /// A stream of the events for `group` and `key`; `"*"` in either matches anything.
    /// A `DeleteGroup` reaches every watcher of its group whatever the key. Each watcher
    /// buffers 16 events; further ones are dropped (and counted) rather than slowing the
    /// writer. On a closed store the watcher is already closed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let colour = store.watch("config", "colour");
    /// store.set("config", "size", "10")?;
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(colour.try_recv().map(|event| event.value), Some("blue".to_owned()));
    /// assert!(colour.try_recv().is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn watch(&self, group: &str, key: &str) -> Watcher {
        self.engine.events.watch(None, group, key)
    }

    /// Stops a watcher; the same as dropping it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("*", "*");
    /// store.unwatch(watcher);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn unwatch(&self, watcher: Watcher) {
        drop(watcher);
    }

    /// Calls `callback` for every event, on the thread that made the change, after the
    /// change has committed and with no lock held: the callback may read, write, watch or
    /// unregister. The write returns once every callback has. Go: `OnChange`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let mirror = store.clone();
    /// let subscription = store.on_change(move |event| {
    ///     if event.group == "config" {
    ///         mirror.set("audit", &event.key, event.kind.as_str()).ok();
    ///     }
    /// });
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get("audit", "colour")?, "set");
    /// subscription.unregister();
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn on_change<F>(&self, callback: F) -> Subscription
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.engine.events.on_change(Arc::new(callback))
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Store")
            .field(
                "database_path",
                &crate::postgresql::redacted(&self.engine.config.database_path),
            )
            .field("is_closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
