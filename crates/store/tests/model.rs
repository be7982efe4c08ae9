//! Model-based property test: random sequences of operations run on the store and on a
//! plain in-memory model, which must agree on every result and on the whole content after
//! every step.
//!
//! Group names and prefixes come from a small alphabet full of the characters that a
//! `LIKE`-based implementation gets wrong (`%`, `_`, `^`, `\`, NUL, upper case), so the
//! literal, case-sensitive prefix rules are exercised on every run. TTLs are either long
//! (never expire during a case) or zero (expired by construction), so no case depends on
//! timing. CI runs 64 cases; `STORE_LONG_RUN=1` runs 2000.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use store::{Entry, Error, KeyValue, QuotaConfig, QuotaLimit, ScopedStore, Store};

const GROUPS: &[&str] = &["a", "a%", "a_b", "A", "a\\", "a^", "ab", "", "a\0", "é"];
const PREFIXES: &[&str] = &["", "a", "a%", "a_", "A", "a\\", "a^", "é", "b", "a\0"];
const KEYS: &[&str] = &["k", "K", "%", "_", ""];
/// Namespaces that differ only in case must not see each other.
const NAMESPACES: &[&str] = &["ns-a", "ns-A"];
const QUOTA: QuotaConfig = QuotaConfig {
    max_keys: 3,
    max_groups: 2,
};
const LONG_TTL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Clone, Debug)]
enum Write {
    Set(String, String, String),
    Delete(String, String),
}

#[derive(Clone, Debug)]
enum Operation {
    Set(String, String, String),
    SetWithTtl(String, String, String),
    /// A zero TTL: written, never visible.
    SetExpired(String, String, String),
    Get(String, String),
    Exists(String, String),
    Delete(String, String),
    DeleteGroup(String),
    DeletePrefix(String),
    Count(String),
    CountAll(String),
    GetAll(String),
    GetPage(String, usize, usize),
    All(String),
    Groups(String),
    GroupsIter(String),
    PurgeExpired,
    Transaction(Vec<Write>, bool),
    ScopedSet(usize, String, String, String),
    ScopedCountAll(usize, String),
    Import(Vec<(String, String, String, bool)>),
    Export(String),
}

fn pick(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(choices).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    "[a-z%_\\\\ ]{0,6}"
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        3 => (pick(GROUPS), pick(KEYS), value()).prop_map(|(g, k, v)| Write::Set(g, k, v)),
        1 => (pick(GROUPS), pick(KEYS)).prop_map(|(g, k)| Write::Delete(g, k)),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    let entry = || (pick(GROUPS), pick(KEYS));
    prop_oneof![
        6 => (pick(GROUPS), pick(KEYS), value()).prop_map(|(g, k, v)| Operation::Set(g, k, v)),
        2 => (pick(GROUPS), pick(KEYS), value()).prop_map(|(g, k, v)| Operation::SetWithTtl(g, k, v)),
        3 => (pick(GROUPS), pick(KEYS), value()).prop_map(|(g, k, v)| Operation::SetExpired(g, k, v)),
        3 => entry().prop_map(|(g, k)| Operation::Get(g, k)),
        2 => entry().prop_map(|(g, k)| Operation::Exists(g, k)),
        2 => entry().prop_map(|(g, k)| Operation::Delete(g, k)),
        1 => pick(GROUPS).prop_map(Operation::DeleteGroup),
        1 => pick(PREFIXES).prop_map(Operation::DeletePrefix),
        1 => pick(GROUPS).prop_map(Operation::Count),
        2 => pick(PREFIXES).prop_map(Operation::CountAll),
        1 => pick(GROUPS).prop_map(Operation::GetAll),
        1 => (pick(GROUPS), 0..4_usize, 0..4_usize).prop_map(|(g, o, l)| Operation::GetPage(g, o, l)),
        1 => pick(GROUPS).prop_map(Operation::All),
        2 => pick(PREFIXES).prop_map(Operation::Groups),
        1 => pick(PREFIXES).prop_map(Operation::GroupsIter),
        2 => Just(Operation::PurgeExpired),
        2 => (prop::collection::vec(write(), 1..5), any::<bool>())
            .prop_map(|(writes, commit)| Operation::Transaction(writes, commit)),
        3 => (0..NAMESPACES.len(), pick(GROUPS), pick(KEYS), value())
            .prop_map(|(n, g, k, v)| Operation::ScopedSet(n, g, k, v)),
        1 => (0..NAMESPACES.len(), pick(PREFIXES)).prop_map(|(n, p)| Operation::ScopedCountAll(n, p)),
        1 => prop::collection::vec((pick(GROUPS), pick(KEYS), value(), any::<bool>()), 0..4)
            .prop_map(Operation::Import),
        1 => pick(PREFIXES).prop_map(Operation::Export),
    ]
}

/// (group, key) → (value, is expired). Expired rows are physically present until `get`
/// or a purge removes them, exactly like the store's.
#[derive(Clone, Debug, Default)]
struct Model {
    rows: BTreeMap<(String, String), (String, bool)>,
}

impl Model {
    fn live(&self) -> impl Iterator<Item = (&(String, String), &String)> {
        self.rows
            .iter()
            .filter(|(_, (_, expired))| !expired)
            .map(|(entry, (value, _))| (entry, value))
    }

    fn live_value(&self, group: &str, key: &str) -> Option<&String> {
        match self.rows.get(&(group.to_owned(), key.to_owned())) {
            Some((value, false)) => Some(value),
            _ => None,
        }
    }

    fn put(&mut self, group: &str, key: &str, value: &str, expired: bool) {
        self.rows.insert(
            (group.to_owned(), key.to_owned()),
            (value.to_owned(), expired),
        );
    }

    fn group(&self, group: &str) -> BTreeMap<String, String> {
        self.live()
            .filter(|((entry_group, _), _)| entry_group == group)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect()
    }

    fn count_all(&self, prefix: &str) -> usize {
        self.live()
            .filter(|((group, _), _)| group.starts_with(prefix))
            .count()
    }

    fn groups(&self, prefix: &str) -> Vec<String> {
        self.live()
            .filter(|((group, _), _)| group.starts_with(prefix))
            .map(|((group, _), _)| group.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn export(&self, prefix: &str) -> Vec<(String, String, String)> {
        self.live()
            .filter(|((group, _), _)| group.starts_with(prefix))
            .map(|((group, key), value)| (group.clone(), key.clone(), value.clone()))
            .collect()
    }

    fn expired(&self) -> usize {
        self.rows.values().filter(|(_, expired)| *expired).count()
    }

    /// SPEC §9, counting live rows only.
    fn refusal(&self, namespace: &str, group: &str, key: &str) -> Option<QuotaLimit> {
        let stored = format!("{namespace}:{group}");
        if self.live_value(&stored, key).is_some() {
            return None;
        }
        let prefix = format!("{namespace}:");
        if self.count_all(&prefix) >= QUOTA.max_keys {
            return Some(QuotaLimit::Keys);
        }
        let groups = self.groups(&prefix);
        if !groups.contains(&stored) && groups.len() >= QUOTA.max_groups {
            return Some(QuotaLimit::Groups);
        }
        None
    }
}

fn export(store: &Store, prefix: &str) -> Vec<(String, String, String)> {
    store
        .export(prefix)
        .map(|entry| entry.map(|entry| (entry.group, entry.key, entry.value)))
        .collect::<store::Result<_>>()
        .expect("export")
}

/// Runs one operation on both and asserts that they agree.
#[allow(clippy::too_many_lines)] // one arm per operation
fn step(store: &Store, model: &mut Model, operation: &Operation) {
    match operation {
        Operation::Set(group, key, value) => {
            store.set(group, key, value).expect("set");
            model.put(group, key, value, false);
        }
        Operation::SetWithTtl(group, key, value) => {
            store
                .set_with_ttl(group, key, value, LONG_TTL)
                .expect("set with TTL");
            model.put(group, key, value, false);
        }
        Operation::SetExpired(group, key, value) => {
            store
                .set_with_ttl(group, key, value, Duration::ZERO)
                .expect("set expired");
            model.put(group, key, value, true);
        }
        Operation::Get(group, key) => {
            let expected = model.live_value(group, key).cloned();
            match (store.get(group, key), expected) {
                (Ok(found), Some(expected)) => assert_eq!(found, expected),
                (Err(error), None) => {
                    assert!(error.is_not_found(), "{error}");
                    // A lazy delete removes an expired row.
                    model.rows.remove(&(group.clone(), key.clone()));
                }
                (result, expected) => panic!("get: {result:?}, model {expected:?}"),
            }
        }
        Operation::Exists(group, key) => assert_eq!(
            store.exists(group, key).expect("exists"),
            model.live_value(group, key).is_some()
        ),
        Operation::Delete(group, key) => {
            store.delete(group, key).expect("delete");
            model.rows.remove(&(group.clone(), key.clone()));
        }
        Operation::DeleteGroup(group) => {
            store.delete_group(group).expect("delete group");
            model
                .rows
                .retain(|(entry_group, _), _| entry_group != group);
        }
        Operation::DeletePrefix(prefix) => {
            store.delete_prefix(prefix).expect("delete prefix");
            model
                .rows
                .retain(|(group, _), _| !group.starts_with(prefix));
        }
        Operation::Count(group) => {
            assert_eq!(store.count(group).expect("count"), model.group(group).len());
        }
        Operation::CountAll(prefix) => {
            assert_eq!(
                store.count_all(prefix).expect("count all"),
                model.count_all(prefix)
            );
        }
        Operation::GetAll(group) => {
            assert_eq!(store.get_all(group).expect("get all"), model.group(group));
        }
        Operation::GetPage(group, offset, limit) => {
            let expected: Vec<KeyValue> = model
                .group(group)
                .into_iter()
                .skip(*offset)
                .take(*limit)
                .map(|(key, value)| KeyValue { key, value })
                .collect();
            assert_eq!(
                store.get_page(group, *offset, *limit).expect("page"),
                expected
            );
        }
        Operation::All(group) => {
            let all: Vec<(String, String)> = store
                .all(group)
                .map(|entry| entry.map(|entry| (entry.key, entry.value)))
                .collect::<store::Result<_>>()
                .expect("all");
            assert_eq!(all, model.group(group).into_iter().collect::<Vec<_>>());
        }
        Operation::Groups(prefix) => {
            assert_eq!(store.groups(prefix).expect("groups"), model.groups(prefix));
        }
        Operation::GroupsIter(prefix) => {
            let groups: Vec<String> = store
                .groups_iter(prefix)
                .collect::<store::Result<_>>()
                .expect("groups iter");
            assert_eq!(groups, model.groups(prefix));
        }
        Operation::PurgeExpired => {
            let expected = model.expired() as u64;
            assert_eq!(store.purge_expired().expect("purge"), expected);
            model.rows.retain(|_, (_, expired)| !*expired);
        }
        Operation::Transaction(writes, commit) => {
            let result = store.transaction(|transaction| {
                for write in writes {
                    match write {
                        Write::Set(group, key, value) => transaction.set(group, key, value)?,
                        Write::Delete(group, key) => transaction.delete(group, key)?,
                    }
                }
                if *commit {
                    Ok(())
                } else {
                    Err(Error::InvalidInput {
                        operation: "model.rollback",
                        message: "rolled back on purpose".to_owned(),
                    })
                }
            });
            assert_eq!(result.is_ok(), *commit, "{result:?}");
            if *commit {
                for write in writes {
                    match write {
                        Write::Set(group, key, value) => model.put(group, key, value, false),
                        Write::Delete(group, key) => {
                            model.rows.remove(&(group.clone(), key.clone()));
                        }
                    }
                }
            }
        }
        Operation::ScopedSet(namespace, group, key, value) => {
            let namespace = NAMESPACES[*namespace];
            let scoped = ScopedStore::with_quota(store, namespace, QUOTA).expect("scope");
            let refusal = model.refusal(namespace, group, key);
            match (scoped.set(group, key, value), refusal) {
                (Ok(()), None) => model.put(&format!("{namespace}:{group}"), key, value, false),
                (Err(Error::QuotaExceeded { limit, .. }), Some(expected)) => {
                    assert_eq!(limit, expected);
                }
                (result, refusal) => panic!("scoped set: {result:?}, model {refusal:?}"),
            }
        }
        Operation::ScopedCountAll(namespace, prefix) => {
            let namespace = NAMESPACES[*namespace];
            let scoped = ScopedStore::new(store, namespace).expect("scope");
            assert_eq!(
                scoped.count_all(prefix).expect("scoped count all"),
                model.count_all(&format!("{namespace}:{prefix}"))
            );
        }
        Operation::Import(entries) => {
            let entries: Vec<Entry> = entries
                .iter()
                .map(|(group, key, value, expired)| Entry {
                    group: group.clone(),
                    key: key.clone(),
                    value: value.clone(),
                    // 1 ms after the epoch: long expired.
                    expires_at: expired.then_some(1),
                })
                .collect();
            assert_eq!(
                store.import(entries.clone()).expect("import"),
                entries.len()
            );
            for entry in entries {
                let expired = entry.expires_at.is_some();
                model.put(&entry.group, &entry.key, &entry.value, expired);
            }
        }
        Operation::Export(prefix) => assert_eq!(export(store, prefix), model.export(prefix)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(support::sized(64, 2_000) as u32))]

    #[test]
    fn model_good_random_operations_agree_with_a_plain_model(
        operations in prop::collection::vec(operation(), 1..60)
    ) {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("model.db");
        let store = Store::open_with(store::StoreConfig {
            purge_interval: Duration::ZERO,
            durability: store::Durability::Normal,
            ..store::StoreConfig::new(&path)
        })
        .expect("open");
        // A second connection sees the rows physically present, expired ones included.
        let raw = rusqlite::Connection::open(&path).expect("raw connection");
        let mut model = Model::default();
        for operation in &operations {
            step(&store, &mut model, operation);
            // The whole live content, and every row still present, agree after every step.
            prop_assert_eq!(export(&store, ""), model.export(""));
            let rows: i64 = raw
                .query_row("SELECT count(*) FROM entries", [], |row| row.get(0))
                .expect("count rows");
            prop_assert_eq!(rows, model.rows.len() as i64, "rows present, {} expired", model.expired());
        }
        // Issue 13: replaying the whole change history rebuilds exactly the rows present,
        // each stamped with the revision of the change that last wrote it, and the
        // revisions run 1, 2, 3, ... with no gap.
        let (replayed, revisions) = replay_history(&store);
        let expected: Vec<u64> = (1..=store.revision().expect("revision")).collect();
        prop_assert_eq!(revisions, expected);
        let mut statement = raw
            .prepare("SELECT group_name, entry_key, entry_value, revision FROM entries")
            .expect("prepare");
        let present: RevisionedRows = statement
            .query_map([], |row| {
                Ok((
                    (row.get(0)?, row.get(1)?),
                    (row.get(2)?, row.get::<_, i64>(3)?.unsigned_abs()),
                ))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        prop_assert_eq!(replayed, present);
    }
}

/// Rows by (group, key): the value and the revision that last wrote it.
type RevisionedRows = BTreeMap<(String, String), (String, u64)>;

/// The rows the change history describes, and every revision seen, in order.
fn replay_history(store: &Store) -> (RevisionedRows, Vec<u64>) {
    let mut watcher = store.watch_from("*", "*", 0).expect("watch_from");
    let mut rows = BTreeMap::new();
    let mut revisions = Vec::new();
    while let Some(change) = watcher.try_recv().expect("read history") {
        revisions.push(change.revision);
        let value = String::from_utf8(change.value.clone()).expect("text values");
        match change.kind {
            store::EventType::Set => {
                rows.insert((change.group, change.key), (value, change.revision));
            }
            store::EventType::DeleteGroup => rows.retain(|(group, _), _| *group != change.group),
            _ => {
                rows.remove(&(change.group, change.key));
            }
        }
    }
    (rows, revisions)
}
