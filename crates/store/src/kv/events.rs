//! Change events: watchers (buffered channels) and callbacks (run on the writer's thread).
//!
//! Every write that changes something produces an [`Event`] once it has committed and the
//! connection lock has been released, so a listener may call back into the store. Delivery
//! to a watcher never blocks the writer: each watcher owns a 16-event buffer, and an event
//! that finds it full is dropped for that watcher and counted in [`Watcher::dropped`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use crate::kv::changes::Change;

/// How many events a watcher buffers before new ones are dropped for it.
pub(crate) const WATCHER_BUFFER: usize = 16;

/// The filter value that matches any group or key.
const WILDCARD: &str = "*";

/// What kind of change an [`Event`] reports.
///
/// ```
/// use store::EventType;
/// assert_eq!(EventType::DeleteGroup.as_str(), "delete_group");
/// assert_eq!(EventType::Set.to_string(), "set");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// A value was written (`set`, `set_with_ttl`, `import`, a workspace summary).
    Set,
    /// A key was removed (`delete`, `delete_many`, `delete_if`).
    Delete,
    /// Every key of a group was removed (`delete_group`, `delete_prefix`).
    DeleteGroup,
    /// A key past its expiry was removed (found by `get`, or by a purge).
    ///
    /// The Go package reports this as `delete`; here it is a kind of its own, named
    /// `expire`, so that a cache can tell an eviction from a deliberate delete. Nothing
    /// outside the process reads event names, so Go compatibility does not need the old
    /// name: a listener that treated every removal alike matches `Delete | Expire`.
    Expire,
}

impl EventType {
    /// The kind's name: the Go package's `set`, `delete` and `delete_group`, and
    /// `expire` for [`EventType::Expire`].
    ///
    /// ```
    /// assert_eq!(store::EventType::Delete.as_str(), "delete");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Set => "set",
            EventType::Delete => "delete",
            EventType::DeleteGroup => "delete_group",
            EventType::Expire => "expire",
        }
    }

    /// The kind [`EventType::as_str`] names (the text the change history stores and
    /// announcements carry); `None` for any other text.
    pub(crate) fn from_name(name: &str) -> Option<EventType> {
        [
            EventType::Set,
            EventType::Delete,
            EventType::DeleteGroup,
            EventType::Expire,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One committed change.
///
/// `key` is empty for [`EventType::DeleteGroup`]; `value` is empty for both deletes.
///
/// ```
/// use store::{EventType, Store};
/// let store = Store::open(":memory:")?;
/// let watcher = store.watch("config", "*");
/// store.set("config", "colour", "blue")?;
/// let event = watcher.recv().expect("an event");
/// assert_eq!((event.kind, event.key.as_str(), event.value.as_str()), (EventType::Set, "colour", "blue"));
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// What happened (Go's `Event.Type`).
    pub kind: EventType,
    /// The group changed.
    pub group: String,
    /// The key changed; empty for a whole-group delete.
    pub key: String,
    /// The new value; empty for deletes.
    pub value: String,
    /// When the change was made.
    pub timestamp: SystemTime,
}

impl Event {
    /// The same event reported under another group name (a namespace's local name).
    pub(crate) fn with_group(&self, group: &str) -> Event {
        Event {
            kind: self.kind,
            group: group.to_owned(),
            key: self.key.clone(),
            value: self.value.clone(),
            timestamp: self.timestamp,
        }
    }

    pub(crate) fn new(kind: EventType, group: &str, key: &str, value: &str) -> Event {
        Event {
            kind,
            group: group.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            timestamp: SystemTime::now(),
        }
    }
}

/// Which events a watcher wants: a group and a key, either of which may be `"*"`, inside
/// an optional namespace whose prefix (`"tenant-a:"`) is stripped from delivered events.
#[derive(Debug)]
pub(crate) struct Filter {
    namespace_prefix: Option<String>,
    group: String,
    key: String,
}

impl Filter {
    pub(crate) fn new(namespace_prefix: Option<&str>, group: &str, key: &str) -> Filter {
        Filter {
            namespace_prefix: namespace_prefix.map(str::to_owned),
            group: group.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The group a matching change is delivered under (local to the namespace), or
    /// `None` if the change does not match.
    pub(crate) fn matching_group<'g>(
        &self,
        kind: EventType,
        group: &'g str,
        key: &str,
    ) -> Option<&'g str> {
        let group = match &self.namespace_prefix {
            None => group,
            Some(prefix) => group.strip_prefix(prefix.as_str())?,
        };
        let group_matches = self.group == WILDCARD || self.group == group;
        // A group delete removes every key, so it reaches every watcher of the group.
        let key_matches = self.key == WILDCARD || kind == EventType::DeleteGroup || self.key == key;
        (group_matches && key_matches).then_some(group)
    }

    /// The change as this watcher should see it (the group local to the namespace), or
    /// `None` if it does not match.
    pub(crate) fn deliverable_change(&self, mut change: Change) -> Option<Change> {
        let local = self
            .matching_group(change.kind, &change.group, &change.key)?
            .len();
        // A local name is the stored name without its namespace prefix: drop the prefix.
        let prefix = change.group.len() - local;
        change.group.drain(..prefix);
        Some(change)
    }

    /// The event as this watcher should see it, or `None` if it does not match.
    fn deliverable(&self, event: &Event) -> Option<Event> {
        let group = self.matching_group(event.kind, &event.group, &event.key)?;
        Some(match self.namespace_prefix {
            None => event.clone(),
            Some(_) => event.with_group(group),
        })
    }
}

type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

struct WatcherSlot {
    id: u64,
    filter: Filter,
    sink: Sink,
    dropped: Arc<AtomicU64>,
}

/// Where a watcher's events go: a thread's channel, or an async task's.
enum Sink {
    Blocking(SyncSender<Event>),
    #[cfg(feature = "tokio")]
    Async(tokio::sync::mpsc::Sender<Event>),
}

impl Sink {
    /// Hands the event over without waiting; false when the buffer was full.
    fn offer(&self, event: Event) -> bool {
        match self {
            Sink::Blocking(sender) => !matches!(sender.try_send(event), Err(TrySendError::Full(_))),
            #[cfg(feature = "tokio")]
            Sink::Async(sender) => !matches!(
                sender.try_send(event),
                Err(tokio::sync::mpsc::error::TrySendError::Full(_))
            ),
        }
    }
}

#[derive(Clone)]
struct CallbackSlot {
    id: u64,
    callback: Callback,
}

#[derive(Default)]
struct Registry {
    is_closed: bool,
    next_id: u64,
    watchers: Vec<WatcherSlot>,
    /// Copy-on-write, so that dispatch takes a snapshot by cloning one `Arc`.
    callbacks: Arc<Vec<CallbackSlot>>,
    /// Live change watchers; while there are any, writers build and dispatch events so
    /// that the signal is raised.
    followers: usize,
}

impl Registry {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn has_listeners(&self) -> bool {
        !self.watchers.is_empty() || !self.callbacks.is_empty() || self.followers > 0
    }
}

/// Wakes the change watchers (`watch_from`) of this process when a change commits, so
/// they read it at once rather than at their next poll.
#[derive(Default)]
struct ChangeSignal {
    generation: Mutex<u64>,
    changed: Condvar,
}

/// The watchers and callbacks of one store.
#[derive(Default)]
pub(crate) struct EventHub {
    registry: Mutex<Registry>,
    /// Lets writers skip building events when nobody listens.
    has_listeners: AtomicBool,
    /// True while a callback is registered: callers that must not run user code (the async
    /// API on a runtime thread) check it.
    has_callbacks: AtomicBool,
    /// True while a change watcher exists.
    has_followers: AtomicBool,
    signal: ChangeSignal,
}

impl EventHub {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Nothing runs user code while holding this lock, but a poisoned lock must not take
        // the store down with it.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh_has_listeners(&self, registry: &Registry) {
        self.has_listeners
            .store(registry.has_listeners(), Ordering::Release);
        self.has_followers
            .store(registry.followers > 0, Ordering::Release);
        self.has_callbacks
            .store(!registry.callbacks.is_empty(), Ordering::Release);
    }

    /// True when at least one callback is registered.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // only the async API asks
    pub(crate) fn has_callbacks(&self) -> bool {
        self.has_callbacks.load(Ordering::Acquire)
    }

    /// True when at least one watcher or callback is registered.
    pub(crate) fn has_listeners(&self) -> bool {
        self.has_listeners.load(Ordering::Acquire)
    }

    /// A watcher of `group` and `key` (either may be `"*"`); with a namespace prefix, the
    /// group is local to the namespace and delivered events carry the local group.
    pub(crate) fn watch(
        self: &Arc<Self>,
        namespace_prefix: Option<&str>,
        group: &str,
        key: &str,
    ) -> Watcher {
        let (sender, receiver) = mpsc::sync_channel(WATCHER_BUFFER);
        let (id, dropped) = self.register(namespace_prefix, group, key, Sink::Blocking(sender));
        Watcher {
            id,
            receiver,
            dropped,
            hub: Arc::downgrade(self),
        }
    }

    /// [`EventHub::watch`] for an async task: the same filter, buffer and drop counting,
    /// delivered into a tokio channel. Returns the id to pass to `unwatch`.
    #[cfg(feature = "tokio")]
    pub(crate) fn watch_async(
        self: &Arc<Self>,
        namespace_prefix: Option<&str>,
        group: &str,
        key: &str,
    ) -> (u64, tokio::sync::mpsc::Receiver<Event>, Arc<AtomicU64>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(WATCHER_BUFFER);
        let (id, dropped) = self.register(namespace_prefix, group, key, Sink::Async(sender));
        (id, receiver, dropped)
    }

    fn register(
        &self,
        namespace_prefix: Option<&str>,
        group: &str,
        key: &str,
        sink: Sink,
    ) -> (u64, Arc<AtomicU64>) {
        let dropped = Arc::new(AtomicU64::new(0));
        let mut registry = self.registry();
        let id = registry.next_id();
        if !registry.is_closed {
            registry.watchers.push(WatcherSlot {
                id,
                filter: Filter {
                    namespace_prefix: namespace_prefix.map(str::to_owned),
                    group: group.to_owned(),
                    key: key.to_owned(),
                },
                sink,
                dropped: Arc::clone(&dropped),
            });
            self.refresh_has_listeners(&registry);
        }
        // On a closed hub the sink is dropped here, so the watcher is born closed.
        (id, dropped)
    }

    pub(crate) fn unwatch(&self, id: u64) {
        let mut registry = self.registry();
        registry.watchers.retain(|slot| slot.id != id);
        self.refresh_has_listeners(&registry);
    }

    pub(crate) fn on_change(self: &Arc<Self>, callback: Callback) -> Subscription {
        let mut registry = self.registry();
        let id = registry.next_id();
        if !registry.is_closed {
            // Copies the list only while a dispatch still holds the old snapshot.
            Arc::make_mut(&mut registry.callbacks).push(CallbackSlot { id, callback });
            self.refresh_has_listeners(&registry);
        }
        Subscription {
            id,
            hub: Arc::downgrade(self),
        }
    }

    fn unregister(&self, id: u64) {
        let mut registry = self.registry();
        if registry.callbacks.iter().any(|slot| slot.id == id) {
            Arc::make_mut(&mut registry.callbacks).retain(|slot| slot.id != id);
            self.refresh_has_listeners(&registry);
        }
    }

    /// Counts a change watcher in (true) or out (false).
    pub(crate) fn follow(&self, joining: bool) {
        let mut registry = self.registry();
        if joining {
            registry.followers += 1;
        } else {
            registry.followers = registry.followers.saturating_sub(1);
        }
        self.refresh_has_listeners(&registry);
    }

    /// How many times change watchers have been woken; pass it to
    /// [`EventHub::wait_for_change`].
    pub(crate) fn change_generation(&self) -> u64 {
        *self
            .signal
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a change commits in this process after `generation` was read, or
    /// `timeout` passes (changes from other processes are found by polling).
    pub(crate) fn wait_for_change(&self, generation: u64, timeout: Duration) {
        let guard = self
            .signal
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *guard != generation {
            return;
        }
        drop(
            self.signal
                .changed
                .wait_timeout_while(guard, timeout, |current| *current == generation)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Wakes every change watcher waiting in this process, if there is any.
    fn wake_followers(&self) {
        if self.has_followers.load(Ordering::Acquire) {
            self.raise_signal();
        }
    }

    /// Moves the generation on and wakes every waiter.
    fn raise_signal(&self) {
        let mut generation = self
            .signal
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generation = generation.wrapping_add(1);
        self.signal.changed.notify_all();
    }

    /// Feeds one event to the matching watchers, then runs every callback registered when
    /// dispatch began. No lock is held while a callback runs.
    pub(crate) fn dispatch(&self, event: &Event) {
        self.wake_followers();
        let callbacks = {
            let registry = self.registry();
            if registry.is_closed {
                return;
            }
            for slot in &registry.watchers {
                let Some(delivered) = slot.filter.deliverable(event) else {
                    continue;
                };
                if !slot.sink.offer(delivered) {
                    slot.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Arc::clone(&registry.callbacks)
        };
        for slot in callbacks.iter() {
            (slot.callback)(event);
        }
    }

    /// Dispatches events one after another, in order.
    pub(crate) fn dispatch_all(&self, events: &[Event]) {
        for event in events {
            self.dispatch(event);
        }
    }

    /// Ends every watcher (after they drain their buffers), forgets every callback and
    /// wakes every change watcher (which then finds the store closed).
    pub(crate) fn close(&self) {
        let mut registry = self.registry();
        registry.is_closed = true;
        registry.watchers.clear();
        registry.callbacks = Arc::new(Vec::new());
        self.refresh_has_listeners(&registry);
        drop(registry);
        self.raise_signal();
    }
}

/// A stream of the events matching one `(group, key)` filter.
///
/// Created by [`Store::watch`](crate::Store::watch). Dropping it (or passing it to
/// [`Store::unwatch`](crate::Store::unwatch)) stops delivery.
///
/// ```
/// use std::time::Duration;
/// let store = store::Store::open(":memory:")?;
/// let watcher = store.watch("sessions", "*");
/// store.set("sessions", "alice", "token")?;
/// let event = watcher.recv_timeout(Duration::from_secs(1)).expect("an event");
/// assert_eq!(event.key, "alice");
/// assert!(watcher.try_recv().is_none());
/// # Ok::<(), store::Error>(())
/// ```
pub struct Watcher {
    id: u64,
    receiver: Receiver<Event>,
    dropped: Arc<AtomicU64>,
    hub: Weak<EventHub>,
}

impl Watcher {
    /// Waits for the next event. `None` once the watcher has been closed (unwatched, or the
    /// store closed) and every event buffered before that has been returned.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("*", "*");
    /// store.set("g", "k", "v")?;
    /// store.close()?;
    /// assert_eq!(watcher.recv().map(|event| event.value), Some("v".to_owned()));
    /// assert!(watcher.recv().is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn recv(&self) -> Option<Event> {
        self.receiver.recv().ok()
    }

    /// The next event if one is waiting, without blocking.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("g", "k");
    /// assert!(watcher.try_recv().is_none());
    /// store.set("g", "k", "v")?;
    /// assert!(watcher.try_recv().is_some());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn try_recv(&self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }

    /// Waits at most `timeout` for the next event.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("g", "*");
    /// assert!(watcher.recv_timeout(Duration::from_millis(10)).is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// How many events were dropped because this watcher's buffer of 16 was full.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("g", "*");
    /// for index in 0..20 {
    ///     store.set("g", &index.to_string(), "v")?;
    /// }
    /// assert_eq!(watcher.dropped(), 4);
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Watcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Watcher")
            .field("id", &self.id)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unwatch(self.id);
        }
    }
}

/// The registration of an [`on_change`](crate::Store::on_change) callback.
///
/// Dropping it does **not** unregister the callback (so `store.on_change(f);` alone keeps
/// `f` for the life of the store); call [`Subscription::unregister`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// let store = store::Store::open(":memory:")?;
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// let subscription = store.on_change(move |_event| {
///     counter.fetch_add(1, Ordering::SeqCst);
/// });
/// store.set("g", "k", "v")?;
/// subscription.unregister();
/// store.set("g", "k", "w")?;
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone)]
pub struct Subscription {
    id: u64,
    hub: Weak<EventHub>,
}

impl Subscription {
    /// Stops the callback. Idempotent, and harmless after the store is closed. A callback
    /// already running finishes; a dispatch already under way still calls it once.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let subscription = store.on_change(|_event| {});
    /// subscription.unregister();
    /// subscription.unregister();
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn unregister(&self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unregister(self.id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, group: &str, key: &str) -> Event {
        Event::new(kind, group, key, "")
    }

    fn filter(namespace_prefix: Option<&str>, group: &str, key: &str) -> Filter {
        Filter::new(namespace_prefix, group, key)
    }

    #[test]
    fn filter_matches_wildcards_and_group_deletes() {
        let matches = |filter: &Filter, event: Event| filter.deliverable(&event).is_some();
        let exact = filter(None, "g", "k");
        assert!(matches(&exact, event(EventType::Set, "g", "k")));
        assert!(!matches(&exact, event(EventType::Set, "g", "other")));
        assert!(!matches(&exact, event(EventType::Set, "h", "k")));
        assert!(matches(&exact, event(EventType::DeleteGroup, "g", "")));
        let any_key = filter(None, "g", "*");
        assert!(matches(&any_key, event(EventType::Delete, "g", "x")));
        let any_group = filter(None, "*", "k");
        assert!(matches(&any_group, event(EventType::Set, "h", "k")));
        assert!(!matches(&any_group, event(EventType::Set, "h", "j")));
    }

    #[test]
    fn filter_namespace_strips_prefix_and_excludes_others() {
        let scoped = filter(Some("tenant-a:"), "*", "*");
        let delivered = scoped.deliverable(&event(EventType::Set, "tenant-a:config", "k"));
        assert_eq!(
            delivered.map(|event| event.group),
            Some("config".to_owned())
        );
        assert!(scoped
            .deliverable(&event(EventType::Set, "tenant-b:config", "k"))
            .is_none());
        assert!(scoped
            .deliverable(&event(EventType::Set, "config", "k"))
            .is_none());
        let exact = filter(Some("tenant-a:"), "config", "*");
        assert!(exact
            .deliverable(&event(EventType::Set, "tenant-a:config", "k"))
            .is_some());
        assert!(exact
            .deliverable(&event(EventType::Set, "tenant-a:other", "k"))
            .is_none());
    }

    #[test]
    fn has_listeners_tracks_registrations() {
        let hub = Arc::new(EventHub::default());
        assert!(!hub.has_listeners());
        let watcher = hub.watch(None, "*", "*");
        assert!(hub.has_listeners());
        drop(watcher);
        assert!(!hub.has_listeners());
        let subscription = hub.on_change(Arc::new(|_event: &Event| {}));
        assert!(hub.has_listeners());
        subscription.unregister();
        assert!(!hub.has_listeners());
    }
}
