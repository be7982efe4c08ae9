//! [`AsyncScopedStore`]: a namespace of an [`AsyncStore`], as [`ScopedStore`] is of a
//! [`Store`](crate::Store), with the same routes to SQLite.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::asynchronous::dispatch::{call, Inline, Worker};
use crate::asynchronous::stream::{AsyncWatcher, PageStream};
use crate::asynchronous::AsyncStore;
use crate::config::{QuotaConfig, ScopedStoreConfig};
use crate::error::Result;
use crate::kv::entries::KeyValue;
use crate::scoped::{ScopedStore, ScopedTransaction};
use crate::store::Store;

/// [`ScopedStore`] for async programs: one namespace of an [`AsyncStore`], with optional
/// quotas checked atomically with the write, every method an `async fn`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use store::{AsyncScopedStore, AsyncStore, QuotaConfig};
/// let store = AsyncStore::open(":memory:").await?;
/// let tenant = AsyncScopedStore::with_quota(&store, "tenant-a", QuotaConfig { max_keys: 1, max_groups: 0 })?;
/// tenant.set("config", "colour", "blue").await?;
/// assert!(tenant.set("config", "size", "10").await.unwrap_err().is_quota_exceeded());
/// assert_eq!(store.get("tenant-a:config", "colour").await?, "blue");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AsyncScopedStore {
    // Visible to the sibling modules that add methods (`revisions`).
    pub(super) store: Store,
    pub(super) scoped: ScopedStore,
    pub(super) inline: Inline,
    pub(super) worker: Worker,
}

impl AsyncScopedStore {
    /// [`ScopedStore::new`]: a namespace with no quota.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.namespace(), "tenant-a");
    /// assert!(store::AsyncScopedStore::new(&store, "tenant_a").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidNamespace` for an empty name or a character other than ASCII letters,
    /// digits and `-`.
    pub fn new(store: &AsyncStore, namespace: &str) -> Result<AsyncScopedStore> {
        AsyncScopedStore::with_quota(store, namespace, QuotaConfig::default())
    }

    /// [`ScopedStore::with_quota`]: a namespace with a quota.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let quota = store::QuotaConfig { max_keys: 0, max_groups: 1 };
    /// let tenant = store::AsyncScopedStore::with_quota(&store, "tenant-a", quota)?;
    /// tenant.set("config", "colour", "blue").await?;
    /// assert!(tenant.set("cache", "page", "html").await.unwrap_err().is_quota_exceeded());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncScopedStore::new`].
    pub fn with_quota(
        store: &AsyncStore,
        namespace: &str,
        quota: QuotaConfig,
    ) -> Result<AsyncScopedStore> {
        AsyncScopedStore::with_config(
            store,
            ScopedStoreConfig {
                namespace: namespace.to_owned(),
                quota,
            },
        )
    }

    /// [`ScopedStore::with_config`]: a namespace from a configuration.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let config = store::ScopedStoreConfig { namespace: "tenant-a".into(), quota: Default::default() };
    /// let tenant = store::AsyncScopedStore::with_config(&store, config)?;
    /// assert_eq!(tenant.config().namespace, "tenant-a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncScopedStore::new`].
    pub fn with_config(store: &AsyncStore, config: ScopedStoreConfig) -> Result<AsyncScopedStore> {
        Ok(AsyncScopedStore {
            store: store.store.clone(),
            scoped: ScopedStore::with_config(&store.store, config)?,
            inline: store.inline,
            worker: store.worker.clone(),
        })
    }

    /// The namespace.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "A1-B2")?;
    /// assert_eq!(tenant.namespace(), "A1-B2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.scoped.namespace()
    }

    /// The namespace and quota, as given.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.config().quota, store::QuotaConfig::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> ScopedStoreConfig {
        self.scoped.config()
    }

    /// The blocking [`ScopedStore`] of the same namespace and connection.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.blocking().set("config", "colour", "blue")?;
    /// assert_eq!(tenant.get("config", "colour").await?, "blue");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn blocking(&self) -> &ScopedStore {
        &self.scoped
    }

    /// [`ScopedStore::get`]: the live value of a key. Runs inline (see the module docs).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.get("config", "colour").await?, "blue");
    /// assert!(store.get("config", "size").await.unwrap_err().is_not_found());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub async fn get(&self, group: &str, key: &str) -> Result<String> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.get",
            [group, key],
            |store| store.get(&group, &key)
        )
    }

    /// [`ScopedStore::exists`]: true if the key has a live value.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// assert!(store.exists("config", "colour").await?);
    /// assert!(!store.exists("config", "size").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn exists(&self, group: &str, key: &str) -> Result<bool> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.exists",
            [group, key],
            |store| store.exists(&group, &key)
        )
    }

    /// [`ScopedStore::set`]: sets a value with no expiry. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.get("config", "colour").await?, "blue");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.set",
            [group, key, value],
            |store| store.set(&group, &key, &value)
        )
    }

    /// [`ScopedStore::set_with_ttl`]: sets a value that expires after `ttl`. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60)).await?;
    /// assert_eq!(store.get("sessions", "alice").await?, "token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn set_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<()> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.set_with_ttl",
            [group, key, value, ttl],
            |store| store.set_with_ttl(&group, &key, &value, ttl)
        )
    }

    /// [`ScopedStore::delete`]: removes a key; a missing key is not an error.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// store.delete("config", "colour").await?;
    /// assert!(!store.exists("config", "colour").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn delete(&self, group: &str, key: &str) -> Result<()> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.delete",
            [group, key],
            |store| store.delete(&group, &key)
        )
    }

    /// [`ScopedStore::delete_group`]: removes every key of a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// store.delete_group("config").await?;
    /// assert_eq!(store.count("config").await?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.delete_group",
            [group],
            |store| store.delete_group(&group)
        )
    }

    /// [`ScopedStore::delete_prefix`]: removes every group whose name starts with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("tenant-a:config", "colour", "blue").await?;
    /// store.set("tenant-b:config", "colour", "red").await?;
    /// store.delete_prefix("tenant-a:").await?;
    /// assert_eq!(store.groups("").await?, ["tenant-b:config"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database` (nothing is removed).
    pub async fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.delete_prefix",
            [group_prefix],
            |store| store.delete_prefix(&group_prefix)
        )
    }

    /// [`ScopedStore::group_exists`]: true if the group has a live entry.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// assert!(store.group_exists("config").await?);
    /// assert!(!store.group_exists("cache").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn group_exists(&self, group: &str) -> Result<bool> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.group_exists",
            [group],
            |store| store.group_exists(&group)
        )
    }

    /// [`ScopedStore::count`]: the number of live entries in a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// store.set("config", "size", "10").await?;
    /// assert_eq!(store.count("config").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn count(&self, group: &str) -> Result<usize> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.count",
            [group],
            |store| store.count(&group)
        )
    }

    /// [`ScopedStore::count_all`]: the live entries of every group starting with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("tenant-a:config", "colour", "blue").await?;
    /// store.set("tenant-b:config", "colour", "red").await?;
    /// assert_eq!(store.count_all("tenant-a:").await?, 1);
    /// assert_eq!(store.count_all("").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn count_all(&self, group_prefix: &str) -> Result<usize> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.count_all",
            [group_prefix],
            |store| store.count_all(&group_prefix)
        )
    }

    /// [`ScopedStore::get_all`]: every live key and value of a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue").await?;
    /// let all = store.get_all("config").await?;
    /// assert_eq!(all.get("colour").map(String::as_str), Some("blue"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.get_all",
            [group],
            |store| store.get_all(&group)
        )
    }

    /// [`ScopedStore::get_page`]: up to `limit` live entries of a group in key order, after skipping `offset`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// for key in ["a", "b", "c"] {
    ///     store.set("letters", key, key).await?;
    /// }
    /// let page = store.get_page("letters", 1, 1).await?;
    /// assert_eq!(page[0].key, "b");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn get_page(
        &self,
        group: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.get_page",
            [group, offset, limit],
            |store| store.get_page(&group, offset, limit)
        )
    }

    /// [`ScopedStore::groups`]: the names of the groups with a live entry starting with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("a", "k", "v").await?;
    /// store.set("b", "k", "v").await?;
    /// assert_eq!(store.groups("").await?, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.groups",
            [group_prefix],
            |store| store.groups(&group_prefix)
        )
    }

    /// [`ScopedStore::get_split`]: the value split at every `separator`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "hosts", "a,b").await?;
    /// assert_eq!(store.get_split("config", "hosts", ",").await?, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncScopedStore::get`].
    pub async fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.get_split",
            [group, key, separator],
            |store| store.get_split(&group, &key, &separator)
        )
    }

    /// [`ScopedStore::get_fields`]: the value split on runs of white space.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "flags", " -v  --colour ").await?;
    /// assert_eq!(store.get_fields("config", "flags").await?, ["-v", "--colour"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncScopedStore::get`].
    pub async fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.get_fields",
            [group, key],
            |store| store.get_fields(&group, &key)
        )
    }

    /// [`ScopedStore::render`]: fills a Go `text/template` from a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("user", "name", "Ada").await?;
    /// assert_eq!(store.render("hello {{ .name }}", "user").await?, "hello Ada");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Template`; `Closed`; `Database`.
    pub async fn render(&self, template_source: &str, group: &str) -> Result<String> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.render",
            [template_source, group],
            |store| store.render(&template_source, &group)
        )
    }

    /// [`ScopedStore::purge_expired`]: removes every expired entry now; returns how many.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let store = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set_with_ttl("cache", "old", "v", std::time::Duration::ZERO).await?;
    /// assert_eq!(store.purge_expired().await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn purge_expired(&self) -> Result<u64> {
        call!(
            self,
            self.scoped,
            Long,
            "store.scoped.purge_expired",
            [],
            |store| store.purge_expired()
        )
    }

    /// [`ScopedStore::all`] as a stream, a page at a time off the runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use futures_core::Stream;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "colour", "blue").await?;
    /// let mut entries = pin!(tenant.all("config"));
    /// let first = poll_fn(|context| entries.as_mut().poll_next(context)).await.transpose()?;
    /// assert_eq!(first.map(|entry| entry.key), Some("colour".to_owned()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn all(&self, group: &str) -> PageStream<KeyValue> {
        PageStream::new("store.scoped.all", &self.worker, self.scoped.all(group))
    }

    /// [`ScopedStore::groups_iter`] as a stream, a page at a time off the runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use futures_core::Stream;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "colour", "blue").await?;
    /// let mut names = pin!(tenant.groups_iter(""));
    /// let first = poll_fn(|context| names.as_mut().poll_next(context)).await.transpose()?;
    /// assert_eq!(first.as_deref(), Some("config"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn groups_iter(&self, group_prefix: &str) -> PageStream<String> {
        PageStream::new(
            "store.scoped.groups_iter",
            &self.worker,
            self.scoped.groups_iter(group_prefix),
        )
    }

    /// [`ScopedStore::watch`] as a stream: the namespace's events, with local groups.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// let watcher = tenant.watch("*", "*");
    /// tenant.set("config", "colour", "blue").await?;
    /// assert_eq!(watcher.dropped(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn watch(&self, group: &str, key: &str) -> AsyncWatcher {
        let prefix = format!("{}:", self.scoped.namespace());
        AsyncWatcher::new(&self.store.engine.events, Some(&prefix), group, key)
    }

    /// [`ScopedStore::transaction`] off the runtime, quotas checked against the pending
    /// state of the transaction.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.transaction(|transaction| transaction.set("g", "k", "v")).await?;
    /// assert_eq!(tenant.get("g", "k").await?, "v");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::transaction`].
    pub async fn transaction<T, F>(&self, operation: F) -> Result<T>
    where
        F: FnOnce(&mut ScopedTransaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let scoped = self.scoped.clone();
        self.worker
            .run("store.scoped.transaction", move || {
                scoped.transaction(operation)
            })
            .await
    }
}

impl fmt::Debug for AsyncScopedStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AsyncScopedStore")
            .field("scoped", &self.scoped)
            .finish_non_exhaustive()
    }
}
