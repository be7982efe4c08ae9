//! Scoped stores: many tenants in one file, each with optional quotas.
//!
//! [`ScopedStore`] and [`ScopedTransaction`] are the public face of a namespace; the
//! prefix and the quota check live in `kv::namespace`, and the operations themselves in
//! `kv::operations`, shared with `Store` and `Transaction`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{QuotaConfig, ScopedStoreConfig};
use crate::engine::Engine;
use crate::error::Result;
use crate::kv::entries::KeyValue;
use crate::kv::events::{Event, Subscription, Watcher};
use crate::kv::namespace::Scope;
use crate::kv::operations::{Operations, SCOPED_NAMES, SCOPED_TRANSACTION_NAMES};
use crate::sqlite::paging::Paged;
use crate::store::Store;
use crate::transaction::Transaction;

/// A view of a [`Store`] confined to one namespace, with optional quotas. Go:
/// `ScopedStore`.
///
/// It has every data method of `Store`, with each `group` local to the namespace (stored
/// as `namespace:group`), plus `watch`, `unwatch`, `on_change` and `transaction`. Clones
/// share the store.
///
/// ```
/// use store::{QuotaConfig, ScopedStore, Store};
/// let store = Store::open(":memory:")?;
/// let tenant = ScopedStore::with_quota(&store, "tenant-a", QuotaConfig { max_keys: 2, max_groups: 0 })?;
/// tenant.set("config", "colour", "blue")?;
/// tenant.set("config", "size", "10")?;
/// assert!(tenant.set("config", "theme", "dark").unwrap_err().is_quota_exceeded());
/// assert_eq!(store.get("tenant-a:config", "colour")?, "blue"); // as the Go package stores it
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone)]
pub struct ScopedStore {
    store: Store,
    scope: Arc<Scope>,
}

impl ScopedStore {
    /// A scoped store with no quota. The namespace must be ASCII letters, digits and
    /// `-`. Go: `NewScoped`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.namespace(), "tenant-a");
    /// assert!(store::ScopedStore::new(&store, "tenant_a").is_err());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidNamespace` for an empty name or any other character.
    pub fn new(store: &Store, namespace: &str) -> Result<ScopedStore> {
        ScopedStore::with_quota(store, namespace, QuotaConfig::default())
    }

    /// A scoped store with a quota. Go: `NewScopedWithQuota`.
    ///
    /// ```
    /// use store::QuotaConfig;
    /// let store = store::Store::open(":memory:")?;
    /// let quota = QuotaConfig { max_keys: 0, max_groups: 1 };
    /// let tenant = store::ScopedStore::with_quota(&store, "tenant-a", quota)?;
    /// tenant.set("config", "colour", "blue")?;
    /// assert!(tenant.set("cache", "page", "html").unwrap_err().is_quota_exceeded());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::new`].
    pub fn with_quota(store: &Store, namespace: &str, quota: QuotaConfig) -> Result<ScopedStore> {
        ScopedStore::with_config(
            store,
            ScopedStoreConfig {
                namespace: namespace.to_owned(),
                quota,
            },
        )
    }

    /// A scoped store from a configuration. Go: `NewScopedConfigured`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let config = store::ScopedStoreConfig { namespace: "tenant-a".into(), quota: Default::default() };
    /// let tenant = store::ScopedStore::with_config(&store, config)?;
    /// assert_eq!(tenant.namespace(), "tenant-a");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::new`].
    pub fn with_config(store: &Store, config: ScopedStoreConfig) -> Result<ScopedStore> {
        Ok(ScopedStore {
            store: store.clone(),
            scope: Arc::new(Scope::new(config)?),
        })
    }

    /// The namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store::ScopedStore::new(&store, "A1-B2")?.namespace(), "A1-B2");
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.scope.config().namespace
    }

    /// The namespace and quota, as given.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.config().quota, store::QuotaConfig::default());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> ScopedStoreConfig {
        self.scope.config().clone()
    }

    /// The engine of the store the namespace lives in.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.store.engine
    }

    /// The namespace's stored prefix, e.g. `tenant-a:`.
    pub(crate) fn scope_prefix(&self) -> &str {
        self.scope.prefix()
    }

    pub(crate) fn operations(&self) -> Operations<'_, Engine> {
        Operations {
            backend: &*self.store.engine,
            names: &SCOPED_NAMES,
            scope: Some(&self.scope),
        }
    }

    /// [`Store::get`] of a group in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "colour", "blue")?;
    /// assert_eq!(tenant.get("config", "colour")?, "blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`]; `NotFound` names the local group.
    pub fn get(&self, group: &str, key: &str) -> Result<String> {
        self.operations().get(group, key)
    }

    /// [`Store::exists`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "blue")?; // outside the namespace
    /// assert!(!tenant.exists("config", "colour")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::exists`].
    pub fn exists(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().exists(group, key)
    }

    /// [`Store::set`] in the namespace, checked against its quota atomically.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "colour", "blue")?;
    /// assert_eq!(store.groups("")?, ["tenant-a:config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `QuotaExceeded` (nothing written); otherwise as [`Store::set`].
    pub fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.operations().set(group, key, value)
    }

    /// [`Store::set_with_ttl`] in the namespace, checked against its quota atomically.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// assert!(tenant.exists("sessions", "alice")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set`].
    pub fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.operations().set_with_ttl(group, key, value, ttl)
    }

    /// [`Store::delete`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// tenant.delete("g", "k")?;
    /// assert!(!tenant.exists("g", "k")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete`].
    pub fn delete(&self, group: &str, key: &str) -> Result<()> {
        self.operations().delete(group, key)
    }

    /// [`Store::delete_group`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// tenant.delete_group("g")?;
    /// assert_eq!(tenant.count("g")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_group`].
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.operations().delete_group(group)
    }

    /// [`Store::delete_prefix`] within the namespace: `""` empties the namespace and
    /// never touches another.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// store.set("tenant-b:g", "k", "v")?;
    /// tenant.delete_prefix("")?;
    /// assert_eq!(store.groups("")?, ["tenant-b:g"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_prefix`].
    pub fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        self.operations().delete_prefix(group_prefix)
    }

    /// [`Store::group_exists`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// assert!(tenant.group_exists("g")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::group_exists`].
    pub fn group_exists(&self, group: &str) -> Result<bool> {
        self.operations().group_exists(group)
    }

    /// [`Store::count`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// assert_eq!(tenant.count("g")?, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::count`].
    pub fn count(&self, group: &str) -> Result<usize> {
        self.operations().count(group)
    }

    /// [`Store::count_all`] within the namespace: `""` counts the whole namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "k", "v")?;
    /// tenant.set("cache", "k", "v")?;
    /// store.set("tenant-b:config", "k", "v")?;
    /// assert_eq!(tenant.count_all("")?, 2);
    /// assert_eq!(tenant.count_all("con")?, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::count_all`].
    pub fn count_all(&self, group_prefix: &str) -> Result<usize> {
        self.operations().count_all(group_prefix)
    }

    /// [`Store::get_all`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// assert_eq!(tenant.get_all("g")?.get("k").map(String::as_str), Some("v"));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_all`].
    pub fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.operations().get_all(group)
    }

    /// [`Store::get_page`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "a", "1")?;
    /// tenant.set("g", "b", "2")?;
    /// assert_eq!(tenant.get_page("g", 1, 1)?[0].key, "b");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_page`].
    pub fn get_page(&self, group: &str, offset: usize, limit: usize) -> Result<Vec<KeyValue>> {
        self.operations().get_page(group, offset, limit)
    }

    /// [`Store::all`] in the namespace, paged with no lock held between pages.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "a", "1")?;
    /// assert_eq!(tenant.all("g").count(), 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn all(&self, group: &str) -> impl Iterator<Item = Result<KeyValue>> {
        let scoped = self.clone();
        let group = group.to_owned();
        Paged::new(move |after: Option<&KeyValue>| scoped.operations().key_page(&group, after))
    }

    /// [`Store::groups`] within the namespace, without the `namespace:` prefix.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "k", "v")?;
    /// tenant.set("cache", "k", "v")?;
    /// assert_eq!(tenant.groups("")?, ["cache", "config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::groups`].
    pub fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        self.operations().groups(group_prefix)
    }

    /// [`Store::groups_iter`] within the namespace, without the `namespace:` prefix.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "k", "v")?;
    /// let groups: Vec<String> = tenant.groups_iter("").collect::<store::Result<_>>()?;
    /// assert_eq!(groups, ["config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn groups_iter(&self, group_prefix: &str) -> impl Iterator<Item = Result<String>> {
        let scoped = self.clone();
        let prefix = group_prefix.to_owned();
        Paged::new(move |after: Option<&String>| scoped.operations().group_page(&prefix, after))
    }

    /// [`Store::get_split`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "hosts", "a,b")?;
    /// assert_eq!(tenant.get_split("g", "hosts", ",")?, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_split`].
    pub fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        self.operations().get_split(group, key, separator)
    }

    /// [`Store::get_fields`] in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "flags", "-v -q")?;
    /// assert_eq!(tenant.get_fields("g", "flags")?, ["-v", "-q"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_fields`].
    pub fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        self.operations().get_fields(group, key)
    }

    /// [`Store::render`] of a group in the namespace.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("user", "name", "Ada")?;
    /// assert_eq!(tenant.render("hello {{ .name }}", "user")?, "hello Ada");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::render`].
    pub fn render(&self, template_source: &str, group: &str) -> Result<String> {
        self.operations().render(template_source, group)
    }

    /// [`Store::purge_expired`] of this namespace only.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set_with_ttl("cache", "old", "v", Duration::ZERO)?;
    /// store.set_with_ttl("other", "old", "v", Duration::ZERO)?;
    /// assert_eq!(tenant.purge_expired()?, 1);
    /// assert_eq!(store.purge_expired()?, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::purge_expired`].
    pub fn purge_expired(&self) -> Result<u64> {
        self.operations().purge_expired()
    }

    /// [`Store::watch`] within the namespace: `group` is local (`"*"` = any group of the
    /// namespace) and delivered events carry the local group.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let watcher = tenant.watch("*", "*");
    /// tenant.set("config", "colour", "blue")?;
    /// store.set("tenant-b:config", "colour", "red")?;
    /// assert_eq!(watcher.try_recv().map(|event| event.group), Some("config".to_owned()));
    /// assert!(watcher.try_recv().is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn watch(&self, group: &str, key: &str) -> Watcher {
        self.store
            .engine
            .events
            .watch(Some(self.scope.prefix()), group, key)
    }

    /// Stops a watcher; the same as dropping it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.unwatch(tenant.watch("*", "*"));
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn unwatch(&self, watcher: Watcher) {
        drop(watcher);
    }

    /// [`Store::on_change`] for the namespace's events only, with the local group.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let groups = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&groups);
    /// tenant.on_change(move |event| seen.lock().unwrap().push(event.group.clone()));
    /// tenant.set("config", "colour", "blue")?;
    /// store.set("elsewhere", "k", "v")?;
    /// assert_eq!(*groups.lock().unwrap(), ["config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn on_change<F>(&self, callback: F) -> Subscription
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        let scope = Arc::clone(&self.scope);
        self.store.on_change(move |event| {
            if let Some(group) = event.group.strip_prefix(scope.prefix()) {
                callback(&event.with_group(group));
            }
        })
    }

    /// [`Store::transaction`] within the namespace, quotas enforced against the pending
    /// state of the transaction.
    ///
    /// ```
    /// use store::QuotaConfig;
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::with_quota(&store, "tenant-a", QuotaConfig { max_keys: 1, max_groups: 0 })?;
    /// let result = tenant.transaction(|transaction| {
    ///     transaction.set("g", "a", "1")?;
    ///     transaction.set("g", "b", "2") // over the quota: everything rolls back
    /// });
    /// assert!(result.unwrap_err().is_quota_exceeded());
    /// assert_eq!(tenant.count_all("")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::transaction`].
    pub fn transaction<T, F>(&self, operation: F) -> Result<T>
    where
        F: FnOnce(&mut ScopedTransaction<'_>) -> Result<T>,
    {
        self.store
            .transaction_named("store.scoped.transaction", |transaction| {
                let mut scoped = ScopedTransaction {
                    transaction,
                    scope: &self.scope,
                };
                operation(&mut scoped)
            })
    }
}

impl fmt::Debug for ScopedStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ScopedStore")
            .field("namespace", &self.scope.config().namespace)
            .field("quota", &self.scope.config().quota)
            .field("store", &self.store)
            .finish()
    }
}

/// The handle a [`ScopedStore::transaction`] closure works through: the transaction's
/// methods with groups inside the namespace and quotas checked against pending writes.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
/// tenant.transaction(|transaction| {
///     transaction.set("config", "colour", "blue")?;
///     assert_eq!(transaction.groups("")?, ["config"]);
///     Ok(())
/// })?;
/// # Ok::<(), store::Error>(())
/// ```
pub struct ScopedTransaction<'a> {
    transaction: &'a Transaction<'a>,
    scope: &'a Scope,
}

impl ScopedTransaction<'_> {
    pub(crate) fn operations(&self) -> Operations<'_, Transaction<'_>> {
        Operations {
            backend: self.transaction,
            names: &SCOPED_TRANSACTION_NAMES,
            scope: Some(self.scope),
        }
    }

    /// [`ScopedStore::get`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let value = tenant.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     transaction.get("g", "k")
    /// })?;
    /// assert_eq!(value, "v");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get`].
    pub fn get(&self, group: &str, key: &str) -> Result<String> {
        self.operations().get(group, key)
    }

    /// [`ScopedStore::exists`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert!(!tenant.transaction(|transaction| transaction.exists("g", "k"))?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::exists`].
    pub fn exists(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().exists(group, key)
    }

    /// [`ScopedStore::set`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.transaction(|transaction| transaction.set("g", "k", "v"))?;
    /// assert_eq!(store.get("tenant-a:g", "k")?, "v");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set`].
    pub fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.operations().set(group, key, value)
    }

    /// [`ScopedStore::set_with_ttl`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.transaction(|transaction| transaction.set_with_ttl("g", "k", "v", Duration::from_secs(60)))?;
    /// assert!(tenant.exists("g", "k")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_with_ttl`].
    pub fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.operations().set_with_ttl(group, key, value, ttl)
    }

    /// [`ScopedStore::delete`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// tenant.transaction(|transaction| transaction.delete("g", "k"))?;
    /// assert!(!tenant.exists("g", "k")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete`].
    pub fn delete(&self, group: &str, key: &str) -> Result<()> {
        self.operations().delete(group, key)
    }

    /// [`ScopedStore::delete_group`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// tenant.transaction(|transaction| transaction.delete_group("g"))?;
    /// assert_eq!(tenant.count("g")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete_group`].
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.operations().delete_group(group)
    }

    /// [`ScopedStore::delete_prefix`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("g", "k", "v")?;
    /// tenant.transaction(|transaction| transaction.delete_prefix(""))?;
    /// assert_eq!(tenant.count_all("")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete_prefix`].
    pub fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        self.operations().delete_prefix(group_prefix)
    }

    /// [`ScopedStore::group_exists`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert!(!tenant.transaction(|transaction| transaction.group_exists("g"))?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::group_exists`].
    pub fn group_exists(&self, group: &str) -> Result<bool> {
        self.operations().group_exists(group)
    }

    /// [`ScopedStore::count`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let count = tenant.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     transaction.count("g")
    /// })?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::count`].
    pub fn count(&self, group: &str) -> Result<usize> {
        self.operations().count(group)
    }

    /// [`ScopedStore::count_all`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.transaction(|transaction| transaction.count_all(""))?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::count_all`].
    pub fn count_all(&self, group_prefix: &str) -> Result<usize> {
        self.operations().count_all(group_prefix)
    }

    /// [`ScopedStore::get_all`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert!(tenant.transaction(|transaction| transaction.get_all("g"))?.is_empty());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_all`].
    pub fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.operations().get_all(group)
    }

    /// [`ScopedStore::get_page`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert!(tenant.transaction(|transaction| transaction.get_page("g", 0, 10))?.is_empty());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_page`].
    pub fn get_page(&self, group: &str, offset: usize, limit: usize) -> Result<Vec<KeyValue>> {
        self.operations().get_page(group, offset, limit)
    }

    /// [`ScopedStore::all`] inside the transaction; the iterator borrows the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let count = tenant.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     Ok(transaction.all("g").count())
    /// })?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn all(&self, group: &str) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        let group = group.to_owned();
        Paged::new(move |after: Option<&KeyValue>| self.operations().key_page(&group, after))
    }

    /// [`ScopedStore::groups`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert!(tenant.transaction(|transaction| transaction.groups(""))?.is_empty());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::groups`].
    pub fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        self.operations().groups(group_prefix)
    }

    /// [`ScopedStore::groups_iter`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let count = tenant.transaction(|transaction| Ok(transaction.groups_iter("").count()))?;
    /// assert_eq!(count, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn groups_iter(&self, group_prefix: &str) -> impl Iterator<Item = Result<String>> + '_ {
        let prefix = group_prefix.to_owned();
        Paged::new(move |after: Option<&String>| self.operations().group_page(&prefix, after))
    }

    /// [`ScopedStore::get_split`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let parts = tenant.transaction(|transaction| {
    ///     transaction.set("g", "k", "a b")?;
    ///     transaction.get_split("g", "k", " ")
    /// })?;
    /// assert_eq!(parts, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_split`].
    pub fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        self.operations().get_split(group, key, separator)
    }

    /// [`ScopedStore::get_fields`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let fields = tenant.transaction(|transaction| {
    ///     transaction.set("g", "k", " a  b ")?;
    ///     transaction.get_fields("g", "k")
    /// })?;
    /// assert_eq!(fields, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_fields`].
    pub fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        self.operations().get_fields(group, key)
    }

    /// [`ScopedStore::render`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// let text = tenant.transaction(|transaction| {
    ///     transaction.set("user", "name", "Ada")?;
    ///     transaction.render("{{ .name }}", "user")
    /// })?;
    /// assert_eq!(text, "Ada");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::render`].
    pub fn render(&self, template_source: &str, group: &str) -> Result<String> {
        self.operations().render(template_source, group)
    }

    /// [`ScopedStore::purge_expired`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&store, "tenant-a")?;
    /// assert_eq!(tenant.transaction(|transaction| transaction.purge_expired())?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::purge_expired`].
    pub fn purge_expired(&self) -> Result<u64> {
        self.operations().purge_expired()
    }
}

impl fmt::Debug for ScopedTransaction<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ScopedTransaction")
            .field("namespace", &self.scope.config().namespace)
            .field("transaction", self.transaction)
            .finish()
    }
}
