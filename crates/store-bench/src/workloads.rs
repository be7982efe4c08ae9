//! The workload registry: what each workload writes before the clock starts, what one
//! timed operation does, and how big it is.
//!
//! A workload is one entry in [`WORKLOADS`], written once against [`Backend`] so that the
//! store and raw rusqlite do exactly the same calls; a workload that a peer process can
//! also run names the peer's operation. Adding a workload is one more entry here (a plan,
//! a preparation and an operation) and, when it needs an operation the [`Backend`] lacks,
//! one method implemented for the store and for raw rusqlite (`pipeline.rs` holds the raw
//! side of the namespace and pipeline operations).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use store::Durability;

use crate::backend::{now_ms, Backend};
use crate::failure::{Failure, Result};
use crate::keys::{permuted, DataSet};
use crate::pipeline;

/// Where a subject's database lives and how hard it syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A file with `synchronous=FULL`: every commit waits for `fsync`.
    Full,
    /// A file with `synchronous=NORMAL`.
    Normal,
    /// `:memory:`.
    Memory,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 3] = [Mode::Full, Mode::Normal, Mode::Memory];

    /// The name used in the report and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Normal => "normal",
            Mode::Memory => "memory",
        }
    }

    /// The mode named `name`, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.as_str() == name)
    }

    /// The store's durability setting for this mode (`:memory:` ignores it).
    #[must_use]
    pub fn durability(self) -> Durability {
        match self {
            Mode::Normal => Durability::Normal,
            Mode::Full | Mode::Memory => Durability::Full,
        }
    }
}

/// The size of a run: 100,000 keys normally, 10,000 with `--quick`.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// The number of keys in a data set.
    pub keys: usize,
}

/// How big one workload is in one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Keys in the data set.
    pub keys: usize,
    /// Groups the keys are spread over.
    pub groups: usize,
    /// Timed operations per subject.
    pub operations: usize,
}

/// What a peer process runs for a workload.
#[derive(Clone, Copy, Debug)]
pub struct PeerWorkload {
    /// The peer's operation: `set`, `get_hit`, `get_miss` or `delete`.
    pub operation: &'static str,
    /// Whether the data set is written first.
    pub fill: bool,
}

/// What the databases hold before the clock starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Nothing.
    Empty,
    /// Every key of the data set, live. The runner writes it into all local subjects
    /// together, a slice at a time in turn (see `runner.rs`).
    DataSet,
    /// `plan.keys` journal points ([`pipeline::point`]), written like the data set.
    Points,
}

/// Untimed set-up or one timed operation.
type Step = fn(&dyn Backend, &Plan, &DataSet, usize) -> Result<()>;

/// One workload.
pub struct Workload {
    /// The name used in the report and by `--workload`.
    pub name: &'static str,
    /// What one operation is, for `--list` and the report.
    pub summary: &'static str,
    /// The size in a mode at a scale.
    pub plan: fn(Scale, Mode) -> Plan,
    /// What the databases hold before the clock starts.
    pub contents: Contents,
    /// Untimed, once per subject before the first round, after `contents`.
    pub prepare: Step,
    /// Untimed, before each operation (for workloads whose operation consumes its data).
    pub before_each: Option<Step>,
    /// The timed operation number `index`.
    pub operation: Step,
    /// What the `denokv_sqlite` and diskcache peers run, where they apply.
    pub peer: Option<PeerWorkload>,
    /// Whether raw rusqlite also runs it on the schema before revisions (issue 13), with
    /// the upsert of that release: what the change history costs a write.
    pub without_revisions: bool,
}

/// Operations that write: in `Full` mode each one waits for an `fsync` (about 0.3 ms on
/// the reference machine), so a tenth as many are timed.
fn write_plan(scale: Scale, mode: Mode) -> Plan {
    Plan {
        keys: scale.keys,
        groups: 100,
        operations: if mode == Mode::Full {
            scale.keys / 10
        } else {
            scale.keys
        },
    }
}

fn read_plan(scale: Scale, _mode: Mode) -> Plan {
    Plan {
        keys: scale.keys,
        groups: 100,
        operations: scale.keys,
    }
}

#[allow(clippy::unnecessary_wraps)] // every step has the same signature
fn nothing(_backend: &dyn Backend, _plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    Ok(())
}

/// Writes keys `range` of the data set, with `expires_at` on each.
///
/// # Errors
///
/// When the backend fails to write them.
pub fn fill_with(
    backend: &dyn Backend,
    data: &DataSet,
    range: std::ops::Range<usize>,
    expires_at: Option<i64>,
) -> Result<()> {
    let value = data.value();
    backend.load(&mut range.map(|index| (data.group_of(index), data.key(index), value, expires_at)))
}

fn expect(condition: bool, what: impl FnOnce() -> String) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(Failure::new(what()))
    }
}

fn set(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    backend.set(data.group_of(key), data.key(key), data.value())
}

fn set_with_ttl(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let ttl = Duration::from_secs(3_600);
    backend.set_with_ttl(data.group_of(key), data.key(key), data.value(), ttl)
}

fn get_hit(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let found = backend.get(data.group_of(key), data.key(key))?;
    expect(found.is_some(), || {
        format!("key {} is missing", data.key(key))
    })
}

fn get_miss(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let found = backend.get(data.group_of(key), data.missing_key(key))?;
    expect(found.is_none(), || {
        format!("key {} was found", data.missing_key(key))
    })
}

fn delete(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    backend.delete(data.group_of(key), data.key(key))
}

fn exists(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let found = backend.exists(data.group_of(key), data.key(key))?;
    expect(found, || format!("key {} does not exist", data.key(key)))
}

fn count(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let counted = backend.count(data.group_of(index))?;
    let expected = plan.keys / plan.groups;
    expect(counted >= expected, || {
        format!("counted {counted} keys, expected at least {expected}")
    })
}

fn get_all(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let read = backend.get_all(data.group_of(index))?.len();
    let expected = plan.keys / plan.groups;
    expect(read >= expected, || {
        format!("read {read} keys, expected at least {expected}")
    })
}

fn all(backend: &dyn Backend, plan: &Plan, data: &DataSet, _index: usize) -> Result<()> {
    let yielded = backend.all(data.group_of(0))?;
    expect(yielded == plan.keys, || {
        format!("all() yielded {yielded} keys, expected {}", plan.keys)
    })
}

fn groups(backend: &dyn Backend, plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    let listed = backend.groups("")?.len();
    expect(listed == plan.groups, || {
        format!("listed {listed} groups, expected {}", plan.groups)
    })
}

/// The group the watched workload writes to; 100 more watchers watch other groups.
const WATCHED_GROUP: &str = "group-0000";

#[allow(clippy::unnecessary_wraps)] // every step has the same signature
fn watch(backend: &dyn Backend, _plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    if let Some(store) = backend.as_store() {
        for other in 0..100 {
            store.watch(&format!("other-{other:03}"), "*");
        }
        store.watch(WATCHED_GROUP, "*");
    }
    Ok(())
}

#[allow(clippy::unnecessary_wraps)] // every step has the same signature
fn drain(backend: &dyn Backend, _plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    if let Some(store) = backend.as_store() {
        store.drain_watchers();
    }
    Ok(())
}

fn set_watched(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    backend.set(WATCHED_GROUP, data.key(key), data.value())
}

#[allow(clippy::unnecessary_wraps)] // every step has the same signature
fn subscribe(backend: &dyn Backend, _plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    if let Some(store) = backend.as_store() {
        let counter = Arc::new(AtomicU64::new(0));
        for _ in 0..10 {
            store.count_changes(&counter);
        }
    }
    Ok(())
}

fn fill_expired(backend: &dyn Backend, _plan: &Plan, data: &DataSet, _index: usize) -> Result<()> {
    fill_with(backend, data, 0..data.len(), Some(now_ms() - 60_000))
}

fn purge(backend: &dyn Backend, plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    let removed = backend.purge_expired()?;
    expect(removed == plan.keys as u64, || {
        format!("purged {removed} keys, expected {}", plan.keys)
    })
}

/// Sets in one transaction of the `transaction` workload.
pub const TRANSACTION_SETS: usize = 1_000;
/// Records in each workspace of the `workspace_commit` workload.
pub const WORKSPACE_RECORDS: usize = 10_000;

fn scoped_set(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    backend.scoped_set(data.group_of(key), data.key(key), data.value())
}

fn set_in_transaction(
    backend: &dyn Backend,
    plan: &Plan,
    data: &DataSet,
    index: usize,
) -> Result<()> {
    let start = index * TRANSACTION_SETS;
    let mut rows = (start..start + TRANSACTION_SETS).map(|operation| {
        let key = permuted(operation, plan.keys);
        (data.group_of(key), data.key(key), data.value())
    });
    backend.set_in_transaction(&mut rows)
}

fn start_put_workspace(
    backend: &dyn Backend,
    _plan: &Plan,
    _data: &DataSet,
    _index: usize,
) -> Result<()> {
    backend.start_workspace("put")
}

/// Two kinds, alternating, so that the aggregate has more than one row.
fn record_kind(index: usize) -> &'static str {
    if index % 2 == 0 {
        "like"
    } else {
        "profile_match"
    }
}

fn workspace_put(backend: &dyn Backend, _plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    backend.workspace_put(record_kind(index), pipeline::record(index, data.key(index)))
}

fn fill_workspace(backend: &dyn Backend, _plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    backend.start_workspace(&format!("commit-{index:06}"))?;
    for record in 0..WORKSPACE_RECORDS {
        backend.workspace_put(
            record_kind(record),
            pipeline::record(record, data.key(record)),
        )?;
    }
    Ok(())
}

fn commit_workspace(
    backend: &dyn Backend,
    _plan: &Plan,
    _data: &DataSet,
    _index: usize,
) -> Result<()> {
    let committed: u64 = backend.commit_workspace()?.values().sum();
    expect(committed == WORKSPACE_RECORDS as u64, || {
        format!("committed {committed} records, expected {WORKSPACE_RECORDS}")
    })
}

fn commit_to_journal(
    backend: &dyn Backend,
    _plan: &Plan,
    _data: &DataSet,
    index: usize,
) -> Result<()> {
    let (fields, tags) = pipeline::point(index);
    backend.commit_to_journal(pipeline::MEASUREMENT, &fields, &tags)
}

fn flux_query(backend: &dyn Backend, plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    let rows = backend.query_journal(&pipeline::FLUX_QUERY)?.len();
    let expected = plan.keys / pipeline::HOSTS;
    expect(rows == expected, || {
        format!("the query returned {rows} points, expected {expected}")
    })
}

fn fill_points(backend: &dyn Backend, plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    backend.load_points(0..plan.keys)
}

fn compact(backend: &dyn Backend, _plan: &Plan, _data: &DataSet, _index: usize) -> Result<()> {
    let archived = backend.compact()?;
    expect(archived, || "compact archived nothing".to_owned())
}

// Issue 14: counters, expiry control, batches and large binary values.

fn increment(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let value = backend.increment(data.group_of(key), data.key(key), 1)?;
    expect(value >= 1, || format!("increment gave {value}"))
}

fn ttl(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    backend.ttl(data.group_of(key), data.key(key)).map(drop)
}

fn expire(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = permuted(index, plan.keys);
    let ttl = Duration::from_secs(3_600);
    let changed = backend.expire(data.group_of(key), data.key(key), ttl)?;
    expect(changed, || format!("key {} is missing", data.key(key)))
}

/// How many keys one batch call reads or writes.
const BATCH: usize = 100;

/// The `BATCH` keys of group `index % groups` (the data set spreads keys round-robin).
fn batch_keys<'d>(plan: &Plan, data: &'d DataSet, index: usize) -> (&'d str, Vec<&'d str>) {
    let group = index % plan.groups;
    let keys = (0..BATCH)
        .map(|offset| data.key(group + offset * plan.groups))
        .collect();
    (data.group_of(group), keys)
}

fn get_many(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let (group, keys) = batch_keys(plan, data, index);
    let found = backend.get_many(group, &keys)?;
    expect(found == BATCH, || {
        format!("get_many found {found} of {BATCH}")
    })
}

fn get_100(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let (group, keys) = batch_keys(plan, data, index);
    let mut found = 0;
    for key in keys {
        found += usize::from(backend.get(group, key)?.is_some());
    }
    expect(found == BATCH, || {
        format!("100 gets found {found} of {BATCH}")
    })
}

fn set_many(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let (group, keys) = batch_keys(plan, data, index);
    let rows: Vec<(&str, &str)> = keys.into_iter().map(|key| (key, data.value())).collect();
    backend.set_many(group, &rows)
}

/// One mebibyte of bytes that are not UTF-8 (every byte value, NULs included).
fn mebibyte() -> &'static [u8] {
    static VALUE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| {
        (0..1_048_576_usize)
            .map(|index| u8::try_from(index % 251).unwrap_or(0) ^ 0x80)
            .collect()
    })
}

fn batch_read_plan(scale: Scale, _mode: Mode) -> Plan {
    Plan {
        keys: scale.keys,
        groups: 100,
        operations: scale.keys / 100,
    }
}

fn big_plan(_scale: Scale, _mode: Mode) -> Plan {
    Plan {
        keys: 16,
        groups: 1,
        operations: 50,
    }
}

fn set_bytes_1mib(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = index % plan.keys;
    backend.set_bytes(data.group_of(key), data.key(key), mebibyte())
}

fn fill_big(backend: &dyn Backend, plan: &Plan, data: &DataSet, _index: usize) -> Result<()> {
    for key in 0..plan.keys {
        backend.set_bytes(data.group_of(key), data.key(key), mebibyte())?;
    }
    Ok(())
}

fn get_bytes_1mib(backend: &dyn Backend, plan: &Plan, data: &DataSet, index: usize) -> Result<()> {
    let key = index % plan.keys;
    let value = backend.get_bytes(data.group_of(key), data.key(key))?;
    expect(value.is_some_and(|value| value.len() == 1_048_576), || {
        format!("key {} is not 1 MiB", data.key(key))
    })
}

/// Every workload, in report order.
pub static WORKLOADS: &[Workload] = &[
    Workload {
        name: "set",
        summary: "set of a new key (100-byte value) into an empty store",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: set,
        peer: Some(PeerWorkload {
            operation: "set",
            fill: false,
        }),
        without_revisions: true,
    },
    Workload {
        name: "set_with_ttl",
        summary: "set_with_ttl (1 hour) of a new key",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: set_with_ttl,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "get_hit",
        summary: "get of an existing key",
        plan: read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: get_hit,
        peer: Some(PeerWorkload {
            operation: "get_hit",
            fill: true,
        }),
        without_revisions: false,
    },
    Workload {
        name: "get_miss",
        summary: "get of a missing key in an existing group",
        plan: read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: get_miss,
        peer: Some(PeerWorkload {
            operation: "get_miss",
            fill: true,
        }),
        without_revisions: false,
    },
    Workload {
        name: "delete",
        summary: "delete of an existing key",
        plan: write_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: delete,
        peer: Some(PeerWorkload {
            operation: "delete",
            fill: true,
        }),
        without_revisions: true,
    },
    Workload {
        name: "exists",
        summary: "exists of an existing key",
        plan: read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: exists,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "count",
        summary: "count of one group (1,000 keys)",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: scale.keys / 100,
        },
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: count,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "get_all",
        summary: "get_all of one group (1,000 keys)",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: scale.keys / 200,
        },
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: get_all,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "all",
        summary: "all() over one group of 100,000 keys, to the end",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 1,
            operations: 10,
        },
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: all,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "groups",
        summary: "groups(\"\") listing 1,000 groups (100 keys each)",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: scale.keys / 100,
            operations: 100,
        },
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: groups,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "set_watched",
        summary: "set with 100 watchers on other groups and 1 on its own",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: watch,
        before_each: Some(drain),
        operation: set_watched,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "set_on_change",
        summary: "set with 10 on_change callbacks",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: subscribe,
        before_each: None,
        operation: set,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "purge_expired",
        summary: "purge_expired removing 100,000 expired keys",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: 5,
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: Some(fill_expired),
        operation: purge,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "scoped_set",
        summary: "ScopedStore::set of a new key with a quota (max_keys and max_groups set)",
        plan: |scale, mode| {
            let keys = scale.keys / 10;
            Plan {
                keys,
                groups: 100,
                operations: if mode == Mode::Full { keys / 10 } else { keys },
            }
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: scoped_set,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "transaction",
        summary: "Store::transaction of 1,000 sets of new keys",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: scale.keys / TRANSACTION_SETS,
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: set_in_transaction,
        peer: None,
        without_revisions: true,
    },
    Workload {
        name: "workspace_put",
        summary: "Workspace::put of a two-field record (the workspace file is synchronous=OFF)",
        plan: read_plan,
        contents: Contents::Empty,
        prepare: start_put_workspace,
        before_each: None,
        operation: workspace_put,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "workspace_commit",
        summary: "Workspace::commit of 10,000 records (written, untimed, before each)",
        plan: |scale, _mode| Plan {
            keys: WORKSPACE_RECORDS,
            groups: 100,
            operations: scale.keys / 5_000,
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: Some(fill_workspace),
        operation: commit_workspace,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "commit_to_journal",
        summary: "commit_to_journal of a point with three fields and one tag",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: commit_to_journal,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "flux_query",
        summary: "query_journal: Flux range + filter over 100,000 points, a tenth returned",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: 10,
        },
        contents: Contents::Points,
        prepare: nothing,
        before_each: None,
        operation: flux_query,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "compact",
        summary: "compact of 100,000 points into a gzip archive (written, untimed, before each)",
        plan: |scale, _mode| Plan {
            keys: scale.keys,
            groups: 100,
            operations: 5,
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: Some(fill_points),
        operation: compact,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "increment",
        summary: "increment by 1 of a key (new, then existing), one write transaction",
        plan: write_plan,
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: increment,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "ttl",
        summary: "ttl of an existing key",
        plan: read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: ttl,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "expire",
        summary: "expire (1 hour) of an existing key, value untouched",
        plan: write_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: expire,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "get_many",
        summary: "get_many of 100 existing keys of one group: one lock, one statement",
        plan: batch_read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: get_many,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "get_100",
        summary: "the same 100 keys as get_many, read by 100 get calls",
        plan: batch_read_plan,
        contents: Contents::DataSet,
        prepare: nothing,
        before_each: None,
        operation: get_100,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "set_many",
        summary: "set_many of 100 keys of one group in one transaction",
        plan: |scale, mode| Plan {
            operations: (write_plan(scale, mode).operations / 100).max(10),
            ..write_plan(scale, mode)
        },
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: set_many,
        peer: None,
        without_revisions: true,
    },
    Workload {
        name: "set_bytes_1mib",
        summary: "set_bytes of a 1 MiB binary value (16 keys overwritten in turn)",
        plan: big_plan,
        contents: Contents::Empty,
        prepare: nothing,
        before_each: None,
        operation: set_bytes_1mib,
        peer: None,
        without_revisions: false,
    },
    Workload {
        name: "get_bytes_1mib",
        summary: "get_bytes of a 1 MiB binary value",
        plan: big_plan,
        contents: Contents::Empty,
        prepare: fill_big,
        before_each: None,
        operation: get_bytes_1mib,
        peer: None,
        without_revisions: false,
    },
];

/// The workload named `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|workload| workload.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_good_names_are_unique_and_found() {
        let mut names: Vec<&str> = WORKLOADS.iter().map(|workload| workload.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
        for workload in WORKLOADS {
            assert!(find(workload.name).is_some_and(|found| found.name == workload.name));
        }
        assert!(find("no-such-workload").is_none());
    }

    #[test]
    fn workloads_good_every_plan_has_operations() {
        for workload in WORKLOADS {
            for mode in Mode::ALL {
                let plan = (workload.plan)(Scale { keys: 10_000 }, mode);
                assert!(plan.operations > 0, "{} has no operations", workload.name);
                assert!(plan.groups > 0 && plan.keys >= plan.groups);
            }
        }
    }

    #[test]
    fn mode_good_round_trips_names() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("fast"), None);
    }
}
