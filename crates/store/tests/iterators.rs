//! `all`, `groups_iter` and `export`: paged, lazy, fused, and free of held locks.

use store::{Entry, Error, KeyValue, Store};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn fill(store: &Store, group: &str, count: usize) {
    let entries = (0..count).map(|index| Entry {
        group: group.to_owned(),
        key: format!("k{index:06}"),
        value: format!("v{index}"),
        expires_at: None,
    });
    store.import(entries).expect("import");
}

#[test]
fn all_good_yields_every_live_entry_in_key_order_across_pages() {
    let store = memory();
    fill(&store, "g", 1_000);
    store.set("g", "", "empty key").expect("set");
    store.set("other", "k", "v").expect("set");
    let entries: Vec<KeyValue> = store.all("g").collect::<Result<_, _>>().expect("all");
    assert_eq!(entries.len(), 1_001);
    assert_eq!(
        entries[0],
        KeyValue {
            key: String::new(),
            value: "empty key".into()
        }
    );
    assert!(entries.windows(2).all(|pair| pair[0].key < pair[1].key));
    assert_eq!(entries[1_000].key, "k000999");
}

#[test]
fn all_good_empty_group_ends_at_once() {
    let store = memory();
    assert!(store.all("nothing").next().is_none());
}

#[test]
fn all_good_loop_body_may_write_without_deadlock() {
    let store = memory();
    fill(&store, "source", 700);
    let mut copied = 0;
    for entry in store.all("source") {
        let entry = entry.expect("entry");
        store
            .set("copy", &entry.key, &entry.value)
            .expect("write inside loop");
        store
            .delete("source", &entry.key)
            .expect("delete inside loop");
        for inner in store.all("copy").take(1) {
            inner.expect("nested iterator");
        }
        copied += 1;
    }
    assert_eq!(copied, 700);
    assert_eq!(store.count("copy").expect("count"), 700);
    assert_eq!(store.count("source").expect("count"), 0);
}

#[test]
fn all_good_sees_keys_inserted_ahead_and_not_removed_ones() {
    let store = memory();
    fill(&store, "g", 600);
    let mut seen = Vec::new();
    for (index, entry) in store.all("g").enumerate() {
        let entry = entry.expect("entry");
        if index == 0 {
            store.set("g", "zzz-ahead", "new").expect("insert ahead");
            store.delete("g", "k000500").expect("remove ahead");
            store.set("g", "a-behind", "new").expect("insert behind");
        }
        seen.push(entry.key);
    }
    assert!(seen.contains(&"zzz-ahead".to_owned()));
    assert!(!seen.contains(&"k000500".to_owned()));
    assert!(!seen.contains(&"a-behind".to_owned()));
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "strictly ascending, no repeats"
    );
}

#[test]
fn all_good_early_stop_holds_nothing() {
    let store = memory();
    fill(&store, "g", 600);
    let first: Vec<_> = store.all("g").take(3).collect();
    assert_eq!(first.len(), 3);
    let mut iterator = store.all("g");
    iterator.next();
    // The iterator is alive but holds no lock: writes and a close go straight through.
    store
        .set("g", "k", "v")
        .expect("write while an iterator is alive");
    drop(iterator);
}

#[test]
fn all_bad_store_closed_during_iteration_yields_one_error() {
    let store = memory();
    fill(&store, "g", 600);
    let mut iterator = store.all("g");
    for _ in 0..256 {
        iterator.next().expect("item").expect("first page");
    }
    store.close().expect("close");
    match iterator.next() {
        Some(Err(Error::Closed { operation })) => assert_eq!(operation, "store.all"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(iterator.next().is_none());
    assert!(iterator.next().is_none());
}

#[test]
fn all_good_is_lazy() {
    let store = memory();
    let iterator = store.all("g");
    store.close().expect("close");
    // Nothing ran at creation; the first next() reports the close.
    assert_eq!(iterator.filter(Result::is_err).count(), 1);
}

#[test]
fn groups_iter_good_distinct_sorted_across_pages() {
    let store = memory();
    let entries = (0..1_000).flat_map(|group| {
        (0..3).map(move |key| Entry {
            group: format!("tenant:{group:04}"),
            key: format!("k{key}"),
            value: "v".into(),
            expires_at: None,
        })
    });
    store.import(entries).expect("import");
    store.set("other", "k", "v").expect("set");
    let groups: Vec<String> = store
        .groups_iter("tenant:")
        .collect::<Result<_, _>>()
        .expect("groups");
    assert_eq!(groups.len(), 1_000);
    assert_eq!(groups[0], "tenant:0000");
    assert_eq!(groups[999], "tenant:0999");
    assert!(groups.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(groups, store.groups("tenant:").expect("groups"));
    assert_eq!(store.groups_iter("").count(), 1_001);
}

#[test]
fn groups_iter_good_literal_prefix() {
    let store = memory();
    for group in ["a_b", "axb", "A_b", "a%", "a"] {
        store.set(group, "k", "v").expect("set");
    }
    let groups: Vec<String> = store
        .groups_iter("a_")
        .collect::<Result<_, _>>()
        .expect("groups");
    assert_eq!(groups, ["a_b"]);
    let groups: Vec<String> = store
        .groups_iter("a%")
        .collect::<Result<_, _>>()
        .expect("groups");
    assert_eq!(groups, ["a%"]);
}

#[test]
fn groups_iter_good_loop_body_may_delete_groups() {
    let store = memory();
    for group in 0..300 {
        store.set(&format!("g{group:03}"), "k", "v").expect("set");
    }
    for group in store.groups_iter("g") {
        store
            .delete_group(&group.expect("group"))
            .expect("delete inside loop");
    }
    assert_eq!(store.count_all("").expect("count"), 0);
}

#[test]
fn export_good_paged_in_group_key_order() {
    let store = memory();
    fill(&store, "b", 300);
    fill(&store, "a", 300);
    fill(&store, "c", 10);
    let entries: Vec<Entry> = store.export("").collect::<Result<_, _>>().expect("export");
    assert_eq!(entries.len(), 610);
    let order: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| (entry.group.as_str(), entry.key.as_str()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
    let only_b = store.export("b").count();
    assert_eq!(only_b, 300);
}
