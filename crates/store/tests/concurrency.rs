//! Several threads mixing every operation: no deadlock, no lost acknowledged write.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use store::{
    Entry, Error, EventType, KeyValue, QuotaConfig, QuotaLimit, ScopedStore, Store, StoreConfig,
};
use support::Rng;

const THREADS: usize = 8;

#[test]
fn mixed_operations_from_eight_threads_lose_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        purge_interval: Duration::from_millis(10),
        ..StoreConfig::new(directory.path().join("app.db"))
    };
    let store = Store::open_with(config).expect("open");

    // A callback that writes: every set in a "work:" group is audited in "audit".
    let writer = store.clone();
    let audited = Arc::new(AtomicUsize::new(0));
    let audit_count = Arc::clone(&audited);
    let subscription = store.on_change(move |event| {
        if event.kind == EventType::Set && event.group.starts_with("work:") {
            writer
                .set(
                    "audit",
                    &format!("{}/{}", event.group, event.key),
                    &event.value,
                )
                .expect("audit write from a callback");
            audit_count.fetch_add(1, Ordering::Relaxed);
        }
    });

    let barrier = Arc::new(Barrier::new(THREADS));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let group = format!("work:{thread}");
                let watcher = store.watch(&group, "*");
                // What this thread's group must hold at the end: the acknowledged writes.
                let mut model: BTreeMap<String, String> = BTreeMap::new();
                let mut operations = 0_u64;
                barrier.wait();
                let mut step = 0_u64;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    step += 1;
                    let key = format!("k{}", step % 50);
                    match step % 7 {
                        0..=2 => {
                            let value = format!("v{step}");
                            store.set(&group, &key, &value).expect("set");
                            model.insert(key.clone(), value);
                        }
                        3 => {
                            store.delete(&group, &key).expect("delete");
                            model.remove(&key);
                        }
                        4 => {
                            let expected = model.get(&key);
                            match store.get(&group, &key) {
                                Ok(value) => assert_eq!(Some(&value), expected),
                                Err(error) => {
                                    assert!(error.is_not_found(), "{error}");
                                    assert!(expected.is_none());
                                }
                            }
                        }
                        5 => {
                            let all = store.get_all(&group).expect("get all");
                            assert_eq!(all, model);
                        }
                        _ => {
                            store
                                .set_with_ttl("scratch", &key, "x", Duration::ZERO)
                                .expect("expired write for the purge");
                            while watcher.try_recv().is_some() {}
                            let other = store.watch("*", &key);
                            store.unwatch(other);
                        }
                    }
                    operations += 1;
                }
                (group, model, operations)
            })
        })
        .collect();

    let mut total_operations = 0;
    let mut models = Vec::new();
    for handle in handles {
        let (group, model, operations) = handle.join().expect("no thread panicked or deadlocked");
        total_operations += operations;
        models.push((group, model));
    }
    stop.store(true, Ordering::Relaxed);
    subscription.unregister();
    assert!(
        total_operations > 100,
        "only {total_operations} operations ran"
    );
    for (group, model) in &models {
        assert_eq!(&store.get_all(group).expect("get all"), model, "{group}");
    }
    assert!(audited.load(Ordering::Relaxed) > 0);
    store.close().expect("close");

    // Everything acknowledged is on disk.
    let reopened = Store::open(directory.path().join("app.db")).expect("reopen");
    for (group, model) in &models {
        assert_eq!(
            &reopened.get_all(group).expect("get all"),
            model,
            "{group} after reopen"
        );
    }
}

#[test]
fn close_during_concurrent_writes_ends_cleanly() {
    let store = Store::open(":memory:").expect("open");
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut acknowledged = 0_u64;
                loop {
                    match store.set("g", &format!("{thread}-{acknowledged}"), "v") {
                        Ok(()) => acknowledged += 1,
                        Err(store::Error::Closed { .. }) => return acknowledged,
                        Err(other) => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(50));
    store.close().expect("close");
    for handle in handles {
        handle.join().expect("writer ended with Closed");
    }
}

// ---------------------------------------------------------------------------------------
// Eight threads, a fixed number of operations each, checked against a model
// ---------------------------------------------------------------------------------------

/// Each thread's own namespace: small, so the quota keeps refusing.
const THREAD_QUOTA: QuotaConfig = QuotaConfig {
    max_keys: 12,
    max_groups: 3,
};
/// One namespace every thread writes into at once: its quota must hold under the race.
const SHARED_QUOTA: QuotaConfig = QuotaConfig {
    max_keys: 24,
    max_groups: 4,
};
const LONG_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What one thread's acknowledged operations left behind: (stored group, key) → value,
/// for its namespace and its plain groups; and its keys in the shared namespace.
#[derive(Debug, Default)]
struct ThreadModel {
    entries: BTreeMap<(String, String), String>,
    shared: BTreeMap<(String, String), String>,
    shared_refusals: usize,
    quota_refusals: usize,
    set_events_seen: usize,
}

impl ThreadModel {
    /// SPEC §9: the refusal a scoped set of (group, key) would meet, if any.
    fn refusal(&self, namespace: &str, stored_group: &str, key: &str) -> Option<QuotaLimit> {
        let prefix = format!("{namespace}:");
        if self
            .entries
            .contains_key(&(stored_group.to_owned(), key.to_owned()))
        {
            return None;
        }
        let in_namespace: Vec<&(String, String)> = self
            .entries
            .keys()
            .filter(|(group, _)| group.starts_with(&prefix))
            .collect();
        if in_namespace.len() >= THREAD_QUOTA.max_keys {
            return Some(QuotaLimit::Keys);
        }
        let groups: BTreeSet<&String> = in_namespace.iter().map(|(group, _)| group).collect();
        if !groups.contains(&stored_group.to_owned()) && groups.len() >= THREAD_QUOTA.max_groups {
            return Some(QuotaLimit::Groups);
        }
        None
    }

    fn group(&self, stored_group: &str) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter(|((group, _), _)| group == stored_group)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect()
    }

    fn under(&self, prefix: &str) -> BTreeMap<(String, String), String> {
        self.entries
            .iter()
            .filter(|((group, _), _)| group.starts_with(prefix))
            .map(|(entry, value)| (entry.clone(), value.clone()))
            .collect()
    }

    fn remove_where(&mut self, doomed: impl Fn(&str, &str) -> bool) {
        self.entries.retain(|(group, key), _| !doomed(group, key));
    }
}

fn exported(store: &Store, prefix: &str) -> BTreeMap<(String, String), String> {
    store
        .export(prefix)
        .map(|entry| entry.map(|entry| ((entry.group, entry.key), entry.value)))
        .collect::<store::Result<_>>()
        .expect("export")
}

/// A scoped set that the model says may be refused: the store must agree exactly.
fn expect_quota(result: store::Result<()>, refusal: Option<QuotaLimit>, context: &str) {
    match (result, refusal) {
        (Ok(()), None) => {}
        (Err(Error::QuotaExceeded { limit, .. }), Some(expected)) => {
            assert_eq!(limit, expected, "{context}");
        }
        (result, refusal) => panic!("{context}: expected refusal {refusal:?}, got {result:?}"),
    }
}

/// Set events reach a thread's namespace watcher in that thread's write order (SPEC §8).
fn check_watcher(
    watcher: &store::Watcher,
    thread: usize,
    last: &mut Option<(u64, u64)>,
    model: &mut ThreadModel,
) {
    while let Some(event) = watcher.try_recv() {
        if event.kind != EventType::Set {
            continue;
        }
        let (owner, position) = event.value.split_once('.').expect("a tagged value");
        assert_eq!(owner, format!("t{thread}"), "{event:?}");
        let (step, index) = position.split_once('.').unwrap_or((position, "0"));
        let order = (
            step.parse().expect("a step"),
            index.parse().expect("an index"),
        );
        assert!(
            Some(order) > *last,
            "thread {thread}: {event:?} after {last:?}"
        );
        *last = Some(order);
        model.set_events_seen += 1;
    }
}

#[allow(clippy::too_many_lines)] // one match arm per operation reads better than a split
fn mixed_worker(
    store: &Store,
    shared: &ScopedStore,
    thread: usize,
    seed: u64,
    operations: usize,
) -> ThreadModel {
    let namespace = format!("t{thread}");
    let scoped = ScopedStore::with_quota(store, &namespace, THREAD_QUOTA).expect("scope");
    let plain = format!("p{thread}/");
    let watcher = scoped.watch("*", "*");
    let mut rng = Rng::new(seed ^ thread as u64);
    let mut model = ThreadModel::default();
    let mut last_set = None;
    for step in 0..operations {
        let group = ["g0", "g1", "g2", "cb"][rng.below(4)];
        let key = format!("k{}", rng.below(6));
        let value = format!("t{thread}.{step}");
        let stored = format!("{namespace}:{group}");
        let context = format!("thread {thread} step {step} (seed {seed})");
        let live = model.group(&stored);
        match rng.below(28) {
            0..=3 => {
                let refusal = model.refusal(&namespace, &stored, &key);
                expect_quota(scoped.set(group, &key, &value), refusal, &context);
                if refusal.is_none() {
                    model.entries.insert((stored, key), value);
                } else {
                    model.quota_refusals += 1;
                }
            }
            4 => {
                let refusal = model.refusal(&namespace, &stored, &key);
                let result = scoped.set_with_ttl(group, &key, &value, LONG_TTL);
                expect_quota(result, refusal, &context);
                if refusal.is_none() {
                    model.entries.insert((stored, key), value);
                }
            }
            5 => {
                // Expired by construction: checked against the quota, then never visible.
                let ttl_group = format!("{namespace}:ttl");
                let refusal = model.refusal(&namespace, &ttl_group, &key);
                let result = scoped.set_with_ttl("ttl", &key, &value, Duration::ZERO);
                expect_quota(result, refusal, &context);
                assert!(!scoped.exists("ttl", &key).expect("exists"), "{context}");
            }
            6 => match scoped.get(group, &key) {
                Ok(found) => assert_eq!(Some(&found), live.get(&key), "{context}"),
                Err(error) => assert!(
                    error.is_not_found() && !live.contains_key(&key),
                    "{context}: {error}"
                ),
            },
            7 => assert_eq!(
                scoped.exists(group, &key).expect("exists"),
                live.contains_key(&key),
                "{context}"
            ),
            8 => {
                scoped.delete(group, &key).expect("delete");
                model.entries.remove(&(stored, key));
            }
            9 => {
                scoped.delete_group(group).expect("delete group");
                model.remove_where(|entry_group, _| entry_group == stored);
            }
            10 => {
                scoped.delete_prefix("g").expect("delete prefix");
                let doomed = format!("{namespace}:g");
                model.remove_where(|entry_group, _| entry_group.starts_with(&doomed));
            }
            11 => {
                assert_eq!(scoped.count(group).expect("count"), live.len(), "{context}");
                let in_namespace = model.under(&format!("{namespace}:")).len();
                assert_eq!(scoped.count_all("").expect("count all"), in_namespace);
            }
            12 => {
                assert_eq!(scoped.get_all(group).expect("get all"), live, "{context}");
                let page = scoped.get_page(group, 1, 2).expect("get page");
                let expected: Vec<KeyValue> = live
                    .iter()
                    .skip(1)
                    .take(2)
                    .map(|(key, value)| KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect();
                assert_eq!(page, expected, "{context}");
            }
            13 => {
                let all: BTreeMap<String, String> = scoped
                    .all(group)
                    .map(|entry| entry.map(|entry| (entry.key, entry.value)))
                    .collect::<store::Result<_>>()
                    .expect("all");
                assert_eq!(all, live, "{context}");
            }
            14 => {
                let expected: Vec<String> = model
                    .under(&format!("{namespace}:"))
                    .keys()
                    .map(|(group, _)| group[namespace.len() + 1..].to_owned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                assert_eq!(scoped.groups("").expect("groups"), expected, "{context}");
                let iterated: Vec<String> = scoped
                    .groups_iter("")
                    .collect::<store::Result<_>>()
                    .expect("groups iter");
                assert_eq!(iterated, expected, "{context}");
            }
            15 => match (scoped.get_split(group, &key, "."), live.get(&key)) {
                (Ok(pieces), Some(value)) => {
                    assert_eq!(pieces, value.split('.').collect::<Vec<_>>(), "{context}");
                    let fields = scoped.get_fields(group, &key).expect("get fields");
                    assert_eq!(fields, [value.as_str()], "{context}");
                }
                (Err(error), None) => assert!(error.is_not_found(), "{context}: {error}"),
                (result, expected) => panic!("{context}: {result:?} for {expected:?}"),
            },
            16 => {
                let rendered = scoped
                    .render(
                        "{{ len . }}:{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
                        group,
                    )
                    .expect("render");
                let expected: String = live
                    .iter()
                    .map(|(key, value)| format!("{key}={value};"))
                    .collect();
                assert_eq!(rendered, format!("{}:{expected}", live.len()), "{context}");
            }
            17 => {
                scoped.purge_expired().expect("scoped purge");
                store.purge_expired().expect("purge");
            }
            18 => {
                // A transaction of two to four writes; one in four rolled back on purpose.
                let commit = !rng.one_in(4);
                let writes: Vec<(String, String, bool)> = (0..2 + rng.below(3))
                    .map(|index| {
                        let group = ["g0", "g1", "g2", "cb"][rng.below(4)].to_owned();
                        (
                            group,
                            format!("k{}", rng.below(6)),
                            rng.one_in(3) && index > 0,
                        )
                    })
                    .collect();
                let mut pending = ThreadModel {
                    entries: model.entries.clone(),
                    ..ThreadModel::default()
                };
                let mut refused = None;
                for (index, (group, key, is_delete)) in writes.iter().enumerate() {
                    let stored = format!("{namespace}:{group}");
                    if *is_delete {
                        pending.entries.remove(&(stored, key.clone()));
                    } else if let Some(limit) = pending.refusal(&namespace, &stored, key) {
                        refused = Some(limit);
                        break;
                    } else {
                        pending
                            .entries
                            .insert((stored, key.clone()), format!("{value}.{index}"));
                    }
                }
                let result = scoped.transaction(|transaction| {
                    for (index, (group, key, is_delete)) in writes.iter().enumerate() {
                        if *is_delete {
                            transaction.delete(group, key)?;
                        } else {
                            transaction.set(group, key, &format!("{value}.{index}"))?;
                        }
                    }
                    if commit {
                        Ok(())
                    } else {
                        Err(Error::InvalidInput {
                            operation: "test.rollback",
                            message: "rolled back on purpose".to_owned(),
                        })
                    }
                });
                match (result, refused, commit) {
                    (Ok(()), None, true) => model.entries = pending.entries,
                    (Err(Error::QuotaExceeded { limit, .. }), Some(expected), _) => {
                        assert_eq!(limit, expected, "{context}");
                    }
                    (Err(Error::InvalidInput { operation, .. }), None, false) => {
                        assert_eq!(operation, "test.rollback", "{context}");
                    }
                    (result, refused, commit) => {
                        panic!("{context}: {result:?}, refused {refused:?}, commit {commit}")
                    }
                }
            }
            19 => {
                let plain_group = format!("{plain}{group}");
                if rng.one_in(3) {
                    store.delete(&plain_group, &key).expect("plain delete");
                    model.entries.remove(&(plain_group, key));
                } else {
                    store.set(&plain_group, &key, &value).expect("plain set");
                    model.entries.insert((plain_group, key), value);
                }
            }
            20 => {
                let entries: Vec<Entry> = (0..1 + rng.below(3))
                    .map(|index| Entry {
                        group: format!("{plain}import"),
                        key: format!("k{}", rng.below(6)),
                        value: format!("{value}.{index}"),
                        expires_at: None,
                    })
                    .collect();
                let written = store.import(entries.clone()).expect("import");
                assert_eq!(written, entries.len(), "{context}");
                for entry in entries {
                    model.entries.insert((entry.group, entry.key), entry.value);
                }
            }
            21 => {
                assert_eq!(exported(store, &plain), model.under(&plain), "{context}");
                if rng.one_in(4) {
                    store.delete_prefix(&plain).expect("plain delete prefix");
                    model.remove_where(|entry_group, _| entry_group.starts_with(&plain));
                }
            }
            22..=24 => {
                let shared_group = format!("s{}", rng.below(7));
                let shared_key = format!("t{thread}-k{}", rng.below(6));
                match shared.set(&shared_group, &shared_key, &value) {
                    Ok(()) => {
                        model.shared.insert((shared_group, shared_key), value);
                    }
                    Err(error) if error.is_quota_exceeded() => model.shared_refusals += 1,
                    Err(error) => panic!("{context}: {error}"),
                }
            }
            _ => {
                if let Some((shared_group, shared_key)) = model.shared.keys().next().cloned() {
                    shared
                        .delete(&shared_group, &shared_key)
                        .expect("shared delete");
                    model.shared.remove(&(shared_group, shared_key));
                }
            }
        }
        check_watcher(&watcher, thread, &mut last_set, &mut model);
    }
    model
}

#[test]
fn mixed_operations_from_eight_threads_match_a_model_and_keep_quotas() {
    let seed = support::seed();
    let operations = support::sized(400, 5_000);
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let config = StoreConfig {
        purge_interval: Duration::from_millis(5),
        durability: store::Durability::Normal,
        ..StoreConfig::new(&path)
    };
    let store = Store::open_with(config).expect("open");
    let shared = ScopedStore::with_quota(&store, "shared", SHARED_QUOTA).expect("scope");

    // A callback that writes, with a transaction or a plain call: each thread's "cb" group
    // is mirrored into a plain group, on the writing thread, after each commit.
    let mirror = store.clone();
    let subscription = store.on_change(move |event| {
        let Some(namespace) = event.group.strip_suffix(":cb") else {
            return;
        };
        let mirror_group = format!("mirror:{namespace}");
        match event.kind {
            EventType::Set => mirror
                .transaction(|transaction| transaction.set(&mirror_group, &event.key, &event.value))
                .expect("mirror set from a callback"),
            EventType::Delete => mirror
                .delete(&mirror_group, &event.key)
                .expect("mirror delete from a callback"),
            _ => mirror
                .delete_group(&mirror_group)
                .expect("mirror delete group from a callback"),
        }
    });

    let barrier = Arc::new(Barrier::new(THREADS));
    let (finished, results) = std::sync::mpsc::channel();
    for thread in 0..THREADS {
        let store = store.clone();
        let shared = shared.clone();
        let barrier = Arc::clone(&barrier);
        let finished = finished.clone();
        std::thread::spawn(move || {
            barrier.wait();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                mixed_worker(&store, &shared, thread, seed, operations)
            }));
            // The receiver is gone only if the test has already failed.
            let _ = finished.send((thread, outcome));
        });
    }
    // No deadlock: every thread reports within the bound.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut models = BTreeMap::new();
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        let (thread, outcome) = results
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("a thread deadlocked or hung (seed {seed})"));
        match outcome {
            Ok(model) => models.insert(thread, model),
            Err(panic) => std::panic::resume_unwind(panic),
        };
    }
    subscription.unregister();

    let check = |store: &Store, when: &str| {
        let mut shared_expected = BTreeMap::new();
        for (thread, model) in &models {
            let namespace = format!("t{thread}:");
            assert_eq!(
                exported(store, &namespace),
                model.under(&namespace),
                "{when} t{thread}"
            );
            let plain = format!("p{thread}/");
            assert_eq!(
                exported(store, &plain),
                model.under(&plain),
                "{when} p{thread}"
            );
            let mirrored: BTreeMap<String, String> =
                store.get_all(&format!("mirror:t{thread}")).expect("mirror");
            assert_eq!(
                mirrored,
                model.group(&format!("t{thread}:cb")),
                "{when} mirror t{thread}"
            );
            for ((group, key), value) in &model.shared {
                shared_expected.insert((format!("shared:{group}"), key.clone()), value.clone());
            }
        }
        let in_shared = exported(store, "shared:");
        assert_eq!(in_shared, shared_expected, "{when}: shared namespace");
        assert!(
            in_shared.len() <= SHARED_QUOTA.max_keys,
            "{when}: shared keys"
        );
        let shared_groups: BTreeSet<&String> = in_shared.keys().map(|(group, _)| group).collect();
        assert!(
            shared_groups.len() <= SHARED_QUOTA.max_groups,
            "{when}: shared groups"
        );
        for thread in models.keys() {
            let scoped = ScopedStore::new(store, &format!("t{thread}")).expect("scope");
            assert!(scoped.count_all("").expect("count") <= THREAD_QUOTA.max_keys);
            assert!(scoped.groups("").expect("groups").len() <= THREAD_QUOTA.max_groups);
        }
    };
    check(&store, "before close");
    let refusals: usize = models.values().map(|model| model.quota_refusals).sum();
    let shared_refusals: usize = models.values().map(|model| model.shared_refusals).sum();
    let set_events: usize = models.values().map(|model| model.set_events_seen).sum();
    assert!(
        refusals > 0 && shared_refusals > 0,
        "the quotas were reached"
    );
    assert!(set_events > 0, "the watchers saw events");
    store.close().expect("close");
    let reopened = Store::open(&path).expect("reopen");
    check(&reopened, "after reopen");
    println!(
        "concurrency: {THREADS} threads x {operations} operations, {refusals} quota refusals, \
         {shared_refusals} shared-quota refusals, {set_events} set events in order (seed {seed})"
    );
}

#[test]
fn open_good_many_connections_create_one_new_file_at_once() {
    const OPENERS: usize = 12;
    const ROUNDS: usize = 15;
    for round in 0..ROUNDS {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = Arc::new(directory.path().join(format!("new-{round}.db")));
        let barrier = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|opener| {
                let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let store = Store::open(path.as_path())?;
                    store.set("openers", &format!("o{opener:02}"), "here")?;
                    store.close()
                })
            })
            .collect();
        let failures: Vec<String> = openers
            .into_iter()
            .filter_map(|opener| opener.join().expect("no panic").err())
            .map(|error| error.to_string())
            .collect();
        assert_eq!(failures, Vec::<String>::new(), "round {round}");
        let store = Store::open(path.as_path()).expect("reopen");
        assert_eq!(store.count("openers").expect("count"), OPENERS);
    }
}
