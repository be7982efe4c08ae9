//! The async twins of the binary-value, counter, TTL-control and batch calls
//! (`crate::values`), routed as every other call is (see the module above): point reads
//! and writes may run inline under the same conditions, batches always off the runtime.

use std::time::Duration;

use crate::asynchronous::dispatch::call;
use crate::asynchronous::AsyncStore;
use crate::error::Result;

impl AsyncStore {
    /// [`Store::get_bytes`](crate::Store::get_bytes): a value's exact bytes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_bytes("blocks", "b1", &[0xff, 0x00]).await?;
    /// assert_eq!(store.get_bytes("blocks", "b1").await?, [0xff, 0x00]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes`](crate::Store::get_bytes).
    pub async fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        call!(
            self,
            self.store,
            Read,
            "store.get_bytes",
            [group, key],
            |store| store.get_bytes(&group, &key)
        )
    }

    /// [`Store::set_bytes`](crate::Store::set_bytes): stores any bytes. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_bytes("blocks", "b1", b"\0raw").await?;
    /// assert_eq!(store.get_bytes("blocks", "b1").await?, b"\0raw");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes`](crate::Store::set_bytes).
    pub async fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        call!(
            self,
            self.store,
            Write,
            "store.set_bytes",
            [group, key, value],
            |store| store.set_bytes(&group, &key, &value)
        )
    }

    /// [`Store::set_bytes_with_ttl`](crate::Store::set_bytes_with_ttl). Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::time::Duration;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_bytes_with_ttl("blocks", "b1", &[1, 2], Duration::from_secs(60)).await?;
    /// assert!(store.ttl("blocks", "b1").await?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes_with_ttl`](crate::Store::set_bytes_with_ttl).
    pub async fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        call!(
            self,
            self.store,
            Write,
            "store.set_bytes_with_ttl",
            [group, key, value, ttl],
            |store| store.set_bytes_with_ttl(&group, &key, &value, ttl)
        )
    }

    /// [`Store::increment`](crate::Store::increment): adds `delta` atomically and returns
    /// the new value. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert_eq!(store.increment("counters", "hits", 2).await?, 2);
    /// assert_eq!(store.increment("counters", "hits", -1).await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::increment`](crate::Store::increment).
    pub async fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        call!(
            self,
            self.store,
            Write,
            "store.increment",
            [group, key, delta],
            |store| store.increment(&group, &key, delta)
        )
    }

    /// [`Store::ttl`](crate::Store::ttl): the time a key has left; `None` for no expiry.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.ttl("config", "colour").await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::ttl`](crate::Store::ttl).
    pub async fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        call!(self, self.store, Read, "store.ttl", [group, key], |store| {
            store.ttl(&group, &key)
        })
    }

    /// [`Store::expire`](crate::Store::expire): a new expiry, the value kept.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::time::Duration;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("sessions", "alice", "token").await?;
    /// assert!(store.expire("sessions", "alice", Duration::from_secs(60)).await?);
    /// assert!(store.persist("sessions", "alice").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::expire`](crate::Store::expire).
    pub async fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        call!(
            self,
            self.store,
            Write,
            "store.expire",
            [group, key, ttl],
            |store| store.expire(&group, &key, ttl)
        )
    }

    /// [`Store::persist`](crate::Store::persist): removes a key's expiry.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert!(!store.persist("config", "colour").await?); // it had none
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::persist`](crate::Store::persist).
    pub async fn persist(&self, group: &str, key: &str) -> Result<bool> {
        call!(
            self,
            self.store,
            Write,
            "store.persist",
            [group, key],
            |store| store.persist(&group, &key)
        )
    }

    /// [`Store::get_and_touch`](crate::Store::get_and_touch): reads a value and slides its
    /// expiry to `ttl` from now.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::time::Duration;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("sessions", "alice", "token").await?;
    /// let value = store.get_and_touch("sessions", "alice", Duration::from_secs(60)).await?;
    /// assert_eq!(value, "token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_and_touch`](crate::Store::get_and_touch).
    pub async fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        call!(
            self,
            self.store,
            Write,
            "store.get_and_touch",
            [group, key, ttl],
            |store| store.get_and_touch(&group, &key, ttl)
        )
    }

    /// [`Store::get_many`](crate::Store::get_many): many keys of a group under one lock,
    /// answered in order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let values = store.get_many("config", &["colour", "size"]).await?;
    /// assert_eq!(values, [Some("blue".to_owned()), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_many`](crate::Store::get_many).
    pub async fn get_many<K: AsRef<str>>(
        &self,
        group: &str,
        keys: &[K],
    ) -> Result<Vec<Option<String>>> {
        let keys: Vec<String> = keys.iter().map(|key| key.as_ref().to_owned()).collect();
        call!(self, self.store, Long, "store.get_many", [group], |store| {
            store.get_many(&group, &keys)
        })
    }

    /// [`Store::set_many`](crate::Store::set_many): many keys of a group in one
    /// transaction.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")]).await?;
    /// assert_eq!(store.count("config").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_many`](crate::Store::set_many) (nothing is written).
    pub async fn set_many<I, K, V>(&self, group: &str, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let entries: Vec<(String, String)> = entries
            .into_iter()
            .map(|(key, value)| (key.as_ref().to_owned(), value.as_ref().to_owned()))
            .collect();
        call!(self, self.store, Long, "store.set_many", [group], |store| {
            store.set_many(&group, entries.iter().map(|(key, value)| (key, value)))
        })
    }

    /// [`Store::delete_many`](crate::Store::delete_many): many keys of a group in one
    /// statement; how many were removed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")]).await?;
    /// assert_eq!(store.delete_many("config", &["colour", "size", "none"]).await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_many`](crate::Store::delete_many).
    pub async fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        let keys: Vec<String> = keys.iter().map(|key| key.as_ref().to_owned()).collect();
        call!(
            self,
            self.store,
            Long,
            "store.delete_many",
            [group],
            |store| store.delete_many(&group, &keys)
        )
    }
}
