//! Namespaces and quotas.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use store::{
    Entry, Error, EventType, QuotaConfig, QuotaLimit, ScopedStore, ScopedStoreConfig, Store,
};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn quota(max_keys: usize, max_groups: usize) -> QuotaConfig {
    QuotaConfig {
        max_keys,
        max_groups,
    }
}

#[test]
fn new_bad_invalid_namespaces_are_refused() {
    let store = memory();
    for bad in [
        "tenant_a", "foo.bar", "foo:bar", "foo bar", "foo/bar", "tenant!", "@ns", "",
    ] {
        match ScopedStore::new(&store, bad) {
            Err(Error::InvalidNamespace { namespace }) => assert_eq!(namespace, bad),
            other => panic!("{bad:?}: expected InvalidNamespace, got {other:?}"),
        }
    }
    let error = ScopedStore::with_quota(&store, "tenant_a", quota(1, 1)).expect_err("invalid");
    assert_eq!(
        error.to_string(),
        r#"store.scoped.new: invalid namespace "tenant_a": use letters, digits and '-' (e.g. "tenant-a")"#
    );
    assert_eq!(store.count_all("").expect("count"), 0, "nothing written");
}

#[test]
fn new_good_valid_namespaces_and_config_echo() {
    let store = memory();
    for good in ["abc", "ABC", "123", "a-b-c", "A1-B2"] {
        let scoped = ScopedStore::new(&store, good).expect("valid");
        assert_eq!(scoped.namespace(), good);
        assert_eq!(scoped.config().quota, QuotaConfig::default());
    }
    let config = ScopedStoreConfig {
        namespace: "tenant-a".into(),
        quota: quota(5, 2),
    };
    let scoped = ScopedStore::with_config(&store, config.clone()).expect("valid");
    assert_eq!(scoped.config(), config);
}

#[test]
fn set_good_stored_as_namespace_colon_group() {
    let store = memory();
    let tenant = ScopedStore::new(&store, "tenant-a").expect("scope");
    tenant.set("config", "colour", "blue").expect("set");
    tenant.set("", "empty group", "v").expect("set");
    tenant.set("a:b", "colon group", "v").expect("set");
    assert_eq!(
        store.get("tenant-a:config", "colour").expect("plain read"),
        "blue"
    );
    assert_eq!(
        store.get("tenant-a:", "empty group").expect("plain read"),
        "v"
    );
    assert_eq!(
        store
            .get("tenant-a:a:b", "colon group")
            .expect("plain read"),
        "v"
    );
    store.set("tenant-a:direct", "k", "v").expect("plain write");
    assert_eq!(tenant.get("direct", "k").expect("seen by the scope"), "v");
}

#[test]
fn every_read_is_confined_to_the_namespace() {
    let store = memory();
    let a = ScopedStore::new(&store, "tenant-a").expect("scope");
    let b = ScopedStore::new(&store, "tenant-b").expect("scope");
    let upper = ScopedStore::new(&store, "Tenant-A").expect("scope");
    a.set("config", "colour", "blue").expect("set");
    a.set("cache", "page", "html").expect("set");
    b.set("config", "colour", "red").expect("set");
    upper.set("config", "colour", "green").expect("set");
    store.set("config", "colour", "plain").expect("set");
    assert_eq!(a.get("config", "colour").expect("get"), "blue");
    assert_eq!(upper.get("config", "colour").expect("get"), "green");
    assert_eq!(a.count_all("").expect("count"), 2);
    assert_eq!(
        upper.count_all("").expect("count"),
        1,
        "namespaces are case-sensitive"
    );
    assert_eq!(a.groups("").expect("groups"), ["cache", "config"]);
    let iterated: Vec<String> = a
        .groups_iter("c")
        .collect::<Result<_, _>>()
        .expect("groups");
    assert_eq!(iterated, ["cache", "config"]);
    assert_eq!(a.groups("con").expect("groups"), ["config"]);
    assert_eq!(a.get_all("config").expect("all").len(), 1);
    assert_eq!(a.all("config").count(), 1);
    assert_eq!(a.get_page("config", 0, 10).expect("page").len(), 1);
    assert!(a.exists("config", "colour").expect("exists"));
    assert!(!a.exists("other", "colour").expect("exists"));
    assert!(a.group_exists("cache").expect("group exists"));
    assert_eq!(a.count("config").expect("count"), 1);
    assert_eq!(
        a.get_split("config", "colour", "l").expect("split"),
        ["b", "ue"]
    );
    assert_eq!(a.get_fields("config", "colour").expect("fields"), ["blue"]);
}

#[test]
fn delete_prefix_good_never_touches_other_namespaces() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    let ab = ScopedStore::new(&store, "ab").expect("scope");
    a.set("x", "k", "v").expect("set");
    a.set("y", "k", "v").expect("set");
    ab.set("x", "k", "v").expect("set");
    store
        .set("a", "k", "v")
        .expect("plain group named like the namespace");
    a.delete_prefix("x").expect("delete x");
    assert_eq!(a.groups("").expect("groups"), ["y"]);
    a.delete_prefix("").expect("delete the whole namespace");
    assert_eq!(a.count_all("").expect("count"), 0);
    assert_eq!(ab.count_all("").expect("count"), 1);
    assert_eq!(store.get("a", "k").expect("plain group"), "v");
}

#[test]
fn delete_and_delete_group_good() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    store.set("g", "k", "outside").expect("set");
    a.set("g", "k", "inside").expect("set");
    a.set("g", "j", "inside").expect("set");
    a.delete("g", "k").expect("delete");
    assert!(!a.exists("g", "k").expect("exists"));
    a.delete_group("g").expect("delete group");
    assert_eq!(a.count("g").expect("count"), 0);
    assert_eq!(store.get("g", "k").expect("outside untouched"), "outside");
}

#[test]
fn purge_expired_good_only_this_namespace() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    a.set_with_ttl("cache", "1", "v", Duration::ZERO)
        .expect("set");
    a.set_with_ttl("cache", "2", "v", Duration::ZERO)
        .expect("set");
    store
        .set_with_ttl("ab:cache", "1", "v", Duration::ZERO)
        .expect("set");
    store
        .set_with_ttl("cache", "1", "v", Duration::ZERO)
        .expect("set");
    assert_eq!(a.purge_expired().expect("purge"), 2);
    assert_eq!(store.purge_expired().expect("purge the rest"), 2);
}

#[test]
fn get_bad_not_found_names_local_group_and_scoped_operation() {
    let store = memory();
    let a = ScopedStore::new(&store, "tenant-a").expect("scope");
    let error = a.get("config", "colour").expect_err("missing");
    assert_eq!(
        error.to_string(),
        r#"store.scoped.get: not found: group "config", key "colour""#
    );
    let error = a.get_split("config", "colour", ",").expect_err("missing");
    assert!(error
        .to_string()
        .starts_with("store.scoped.get_split: not found: group \"config\""));
}

#[test]
fn render_good_uses_the_local_group() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    a.set("user", "name", "Ada").expect("set");
    store.set("user", "name", "Grace").expect("set");
    assert_eq!(a.render("{{ .name }}", "user").expect("render"), "Ada");
}

#[test]
fn watch_good_sees_only_the_namespace_with_local_groups() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    let everything = a.watch("*", "*");
    let config_colour = a.watch("config", "colour");
    a.set("config", "colour", "blue").expect("set");
    a.set("config", "size", "10").expect("set");
    store
        .set("a:config", "colour", "via plain store")
        .expect("plain write into the namespace");
    store
        .set("ab:config", "colour", "other namespace")
        .expect("set");
    store.set("config", "colour", "plain").expect("set");
    a.delete_group("config").expect("delete group");
    let all: Vec<(EventType, String, String)> = std::iter::from_fn(|| everything.try_recv())
        .map(|event| (event.kind, event.group, event.key))
        .collect();
    assert_eq!(
        all,
        [
            (EventType::Set, "config".into(), "colour".into()),
            (EventType::Set, "config".into(), "size".into()),
            (EventType::Set, "config".into(), "colour".into()),
            (EventType::DeleteGroup, "config".into(), String::new()),
        ]
    );
    let exact: Vec<String> = std::iter::from_fn(|| config_colour.try_recv())
        .map(|event| event.value)
        .collect();
    assert_eq!(exact, ["blue", "via plain store", ""]);
    a.unwatch(everything);
}

#[test]
fn on_change_good_sees_only_the_namespace_with_local_groups() {
    let store = memory();
    let a = ScopedStore::new(&store, "a").expect("scope");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let subscription = a.on_change(move |event| {
        log.lock()
            .expect("lock")
            .push(format!("{}:{}/{}", event.kind, event.group, event.key));
    });
    a.set("config", "colour", "blue").expect("set");
    store.set("b:config", "colour", "red").expect("set");
    a.delete("config", "colour").expect("delete");
    subscription.unregister();
    a.set("config", "after", "v").expect("set");
    assert_eq!(
        *seen.lock().expect("lock"),
        ["set:config/colour", "delete:config/colour"]
    );
}

#[test]
fn set_bad_key_quota_refuses_and_writes_nothing() {
    let store = memory();
    let a = ScopedStore::with_quota(&store, "tenant-a", quota(2, 0)).expect("scope");
    let watcher = store.watch("*", "*");
    a.set("g", "1", "v").expect("first");
    a.set("h", "2", "v").expect("second, another group");
    let error = a.set("g", "3", "v").expect_err("third key");
    assert!(error.is_quota_exceeded());
    assert_eq!(
        error.to_string(),
        r#"store.scoped.set: quota exceeded: namespace "tenant-a" key limit (2)"#
    );
    match error {
        Error::QuotaExceeded {
            operation,
            namespace,
            limit,
            maximum,
        } => {
            assert_eq!(
                (operation, namespace.as_str(), limit, maximum),
                ("store.scoped.set", "tenant-a", QuotaLimit::Keys, 2)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let error = a
        .set_with_ttl("g", "3", "v", Duration::from_secs(60))
        .expect_err("with TTL too");
    assert!(error
        .to_string()
        .starts_with("store.scoped.set_with_ttl: quota exceeded"));
    assert!(!a.exists("g", "3").expect("exists"), "nothing written");
    assert_eq!(
        std::iter::from_fn(|| watcher.try_recv()).count(),
        2,
        "no event for a refusal"
    );
}

#[test]
fn set_good_upsert_of_live_key_is_free() {
    let store = memory();
    let a = ScopedStore::with_quota(&store, "a", quota(1, 1)).expect("scope");
    a.set("g", "k", "1").expect("set");
    a.set("g", "k", "2").expect("overwrite at the limit");
    a.set_with_ttl("g", "k", "3", Duration::from_secs(60))
        .expect("overwrite with TTL");
    assert_eq!(a.get("g", "k").expect("get"), "3");
}

#[test]
fn set_good_expired_and_deleted_keys_free_quota() {
    let store = memory();
    let a = ScopedStore::with_quota(&store, "a", quota(1, 0)).expect("scope");
    a.set_with_ttl("g", "old", "v", Duration::ZERO)
        .expect("expired at once");
    a.set("g", "new", "v").expect("expired keys do not count");
    a.delete("g", "new").expect("delete");
    a.set("g", "newer", "v").expect("deleted keys do not count");
    // Rewriting an expired key is a new key, checked against the quota.
    let b = ScopedStore::with_quota(&store, "b", quota(1, 0)).expect("scope");
    b.set("g", "live", "v").expect("set");
    store
        .import([Entry {
            group: "b:g".into(),
            key: "stale".into(),
            value: "v".into(),
            expires_at: Some(1),
        }])
        .expect("plain write of an expired row");
    assert!(b
        .set("g", "stale", "v")
        .expect_err("a new key")
        .is_quota_exceeded());
}

#[test]
fn set_bad_group_quota() {
    let store = memory();
    let a = ScopedStore::with_quota(&store, "tenant-a", quota(0, 2)).expect("scope");
    a.set("g1", "k", "v").expect("first group");
    a.set("g2", "k", "v").expect("second group");
    a.set("g1", "other", "v")
        .expect("more keys in an existing group");
    let error = a.set("g3", "k", "v").expect_err("third group");
    assert_eq!(
        error.to_string(),
        r#"store.scoped.set: quota exceeded: namespace "tenant-a" group limit (2)"#
    );
    assert!(matches!(
        error,
        Error::QuotaExceeded {
            limit: QuotaLimit::Groups,
            maximum: 2,
            ..
        }
    ));
    a.delete_group("g2").expect("free a group");
    a.set("g3", "k", "v").expect("now allowed");
}

#[test]
fn quotas_are_independent_and_plain_writes_count() {
    let store = memory();
    let a = ScopedStore::with_quota(&store, "a", quota(1, 0)).expect("scope");
    let b = ScopedStore::with_quota(&store, "b", quota(1, 0)).expect("scope");
    a.set("g", "k", "v").expect("a");
    b.set("g", "k", "v").expect("b has its own quota");
    store
        .set("a:g", "extra", "v")
        .expect("plain writes bypass quotas");
    assert_eq!(a.count_all("").expect("count"), 2);
    a.delete("g", "k").expect("delete");
    assert!(a
        .set("g", "again", "v")
        .expect_err("still full: plain write counted")
        .is_quota_exceeded());
}

#[test]
fn set_good_quota_race_between_threads_never_exceeds_limit() {
    for round in 0..3 {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("app.db");
        drop(Store::open(&path).expect("create"));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|thread| {
                let path = path.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    // Each thread has its own connection, as separate processes would.
                    let store = Store::open(&path).expect("open");
                    let tenant =
                        ScopedStore::with_quota(&store, "tenant", quota(100, 0)).expect("scope");
                    barrier.wait();
                    let mut accepted = 0;
                    for index in 0..40 {
                        match tenant.set("g", &format!("{thread}-{index}"), "v") {
                            Ok(()) => accepted += 1,
                            Err(error) if error.is_quota_exceeded() => {}
                            Err(error) => panic!("unexpected {error}"),
                        }
                    }
                    accepted
                })
            })
            .collect();
        let accepted: usize = handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .sum();
        let store = Store::open(&path).expect("reopen");
        assert_eq!(accepted, 100, "round {round}");
        assert_eq!(
            store.count_all("tenant:").expect("count"),
            100,
            "round {round}"
        );
    }
}

#[test]
fn set_good_quota_race_on_one_store_never_exceeds_limit() {
    let store = memory();
    let tenant = ScopedStore::with_quota(&store, "tenant", quota(100, 0)).expect("scope");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|thread| {
            let tenant = tenant.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..40)
                    .filter(|index| tenant.set("g", &format!("{thread}-{index}"), "v").is_ok())
                    .count()
            })
        })
        .collect();
    let accepted: usize = handles
        .into_iter()
        .map(|handle| handle.join().expect("thread"))
        .sum();
    assert_eq!(accepted, 100);
    assert_eq!(tenant.count_all("").expect("count"), 100);
}

#[test]
fn closed_store_good_construction_bad_operations() {
    let store = memory();
    store.close().expect("close");
    let a = ScopedStore::new(&store, "a").expect("construction works on a closed store");
    match a.get("g", "k") {
        Err(Error::Closed { operation }) => assert_eq!(operation, "store.scoped.get"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(a.set("g", "k", "v"), Err(Error::Closed { .. })));
    assert!(matches!(
        a.transaction(|_| Ok(())),
        Err(Error::Closed { .. })
    ));
    assert!(a.watch("*", "*").recv().is_none());
}
