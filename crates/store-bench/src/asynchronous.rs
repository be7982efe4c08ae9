//! The async API against the blocking store and raw rusqlite, in one run: `async_get` and
//! `async_set` (one task awaiting one call after another, on a current-thread and a
//! multi-thread runtime) and `async_concurrency` (mixed reads and writes by 64 tasks
//! against 1 task: the one connection is the bottleneck, so 64 tasks should cost no more
//! per operation than one).
//!
//! Each figure is the median over interleaved rounds of the time per operation.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use store::{AsyncStore, Store};

use crate::backend::{store_config, Backend, RawBackend};
use crate::failure::{Context, Failure, Result};
use crate::workloads::Mode;

/// The goal of `async_get` and `async_set` on a current-thread runtime: async time per
/// operation at most 1.5 times the blocking store's.
pub const ASYNC_GOAL: f64 = 1.5;
/// The goal of `async_concurrency`: 64 tasks within 1.2 times the time per operation of one.
pub const CONCURRENCY_GOAL: f64 = 1.2;

const GROUP: &str = "bench";
const KEYS: usize = 1_000;
const TASKS: usize = 64;

/// One async figure.
#[derive(Debug, Serialize)]
pub struct AsyncFigure {
    pub workload: &'static str,
    pub durability: &'static str,
    /// `current_thread` or `multi_thread`.
    pub runtime: &'static str,
    /// The async subject's time per operation (64 tasks for `async_concurrency`).
    pub async_ns: f64,
    /// The blocking store's (1 task for `async_concurrency`).
    pub baseline_ns: f64,
    /// What `baseline_ns` measures: `store` or `one_task`.
    pub baseline: &'static str,
    /// Raw rusqlite's, when measured.
    pub rusqlite_ns: Option<f64>,
    /// `async_ns / baseline_ns`.
    pub ratio: f64,
    pub goal: f64,
}

/// The table line of an async figure.
#[must_use]
pub fn async_row(figure: &AsyncFigure) -> String {
    let rusqlite = figure
        .rusqlite_ns
        .map_or(String::new(), |ns| format!(", rusqlite {:.2} µs", ns / 1e3));
    format!(
        "{} ({}, {}): async {:.2} µs/op, {} {:.2} µs{rusqlite}; ratio {:.2}× (goal ≤{:.1}×: {})",
        figure.workload,
        figure.durability,
        figure.runtime,
        figure.async_ns / 1e3,
        figure.baseline,
        figure.baseline_ns / 1e3,
        figure.ratio,
        figure.goal,
        if figure.ratio <= figure.goal {
            "met"
        } else {
            "missed"
        }
    )
}

fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.build().context("start a tokio runtime")
}

fn operations(mode: Mode, quick: bool) -> usize {
    let full = if mode == Mode::Full { 400 } else { 20_000 };
    if quick {
        full / 4
    } else {
        full
    }
}

fn key(index: usize) -> String {
    format!("key-{:04}", index % KEYS)
}

fn per_op(elapsed: Duration, operations: usize) -> f64 {
    let operations = u32::try_from(operations.max(1)).unwrap_or(u32::MAX);
    elapsed.as_secs_f64() * 1e9 / f64::from(operations)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

/// Opens a subject's store in `directory` (or in memory) with `KEYS` keys written.
fn open_filled(mode: Mode, directory: &Path, name: &str) -> Result<Store> {
    let path = match mode {
        Mode::Memory => ":memory:".into(),
        Mode::Full | Mode::Normal => directory.join(format!("{name}.db")),
    };
    let store = Store::open_with(store_config(&path, mode.durability()))?;
    store.transaction(|transaction| {
        for index in 0..KEYS {
            transaction.set(GROUP, &key(index), "value")?;
        }
        Ok(())
    })?;
    Ok(store)
}

fn open_raw(mode: Mode, directory: &Path) -> Result<RawBackend> {
    let path = match mode {
        Mode::Memory => ":memory:".into(),
        Mode::Full | Mode::Normal => directory.join("raw.db"),
    };
    let raw = RawBackend::open(&path, mode.durability(), directory)?;
    for index in 0..KEYS {
        raw.set(GROUP, &key(index), "value")?;
    }
    Ok(raw)
}

/// One call of the workload on the async store.
async fn async_call(store: &AsyncStore, is_get: bool, index: usize) -> Result<()> {
    if is_get {
        store.get(GROUP, &key(index)).await?;
    } else {
        store.set(GROUP, &key(index), "value").await?;
    }
    Ok(())
}

/// `async_get` or `async_set` in one mode: both runtimes, against the store and rusqlite.
///
/// # Errors
///
/// When a store cannot be opened or a call fails.
pub fn measure_point(
    is_get: bool,
    mode: Mode,
    quick: bool,
    rounds: usize,
) -> Result<Vec<AsyncFigure>> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let operations = operations(mode, quick);
    let blocking = open_filled(mode, directory.path(), "store")?;
    let asynchronous = open_filled(mode, directory.path(), "async")?.into_async();
    let raw = open_raw(mode, directory.path())?;
    let runtimes = [
        ("current_thread", runtime(false)?),
        ("multi_thread", runtime(true)?),
    ];
    let mut store_samples = Vec::new();
    let mut raw_samples = Vec::new();
    let mut async_samples = vec![Vec::new(), Vec::new()];
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        for index in 0..operations {
            if is_get {
                blocking.get(GROUP, &key(index))?;
            } else {
                blocking.set(GROUP, &key(index), "value")?;
            }
        }
        store_samples.push(per_op(started.elapsed(), operations));
        let started = Instant::now();
        for index in 0..operations {
            if is_get {
                raw.get(GROUP, &key(index))?;
            } else {
                raw.set(GROUP, &key(index), "value")?;
            }
        }
        raw_samples.push(per_op(started.elapsed(), operations));
        for ((_, runtime), samples) in runtimes.iter().zip(&mut async_samples) {
            let store = asynchronous.clone();
            // Spawned, so that on the multi-thread runtime it runs on a worker thread.
            let elapsed =
                runtime.block_on(async move { runtime_task(store, is_get, operations).await })?;
            samples.push(per_op(elapsed, operations));
        }
    }
    let store_ns = median(store_samples);
    let rusqlite_ns = median(raw_samples);
    let workload = if is_get { "async_get" } else { "async_set" };
    Ok(runtimes
        .iter()
        .zip(async_samples)
        .map(|((name, _), samples)| {
            let async_ns = median(samples);
            AsyncFigure {
                workload,
                durability: mode.as_str(),
                runtime: name,
                async_ns,
                baseline_ns: store_ns,
                baseline: "store",
                rusqlite_ns: Some(rusqlite_ns),
                ratio: async_ns / store_ns,
                goal: ASYNC_GOAL,
            }
        })
        .collect())
}

async fn runtime_task(store: AsyncStore, is_get: bool, operations: usize) -> Result<Duration> {
    let task = tokio::spawn(async move {
        let started = Instant::now();
        for index in 0..operations {
            async_call(&store, is_get, index).await?;
        }
        Ok::<_, Failure>(started.elapsed())
    });
    task.await.context("the benchmark task")?
}

/// `async_concurrency` in one mode: `operations` mixed calls (one write in four) by one
/// task, then shared by 64 tasks, on both runtimes.
///
/// # Errors
///
/// When a store cannot be opened or a call fails.
pub fn measure_concurrency(mode: Mode, quick: bool, rounds: usize) -> Result<Vec<AsyncFigure>> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let operations = operations(mode, quick) / TASKS * TASKS;
    let store = open_filled(mode, directory.path(), "async")?.into_async();
    let mut figures = Vec::new();
    for (name, multi_thread) in [("current_thread", false), ("multi_thread", true)] {
        let runtime = runtime(multi_thread)?;
        let mut one = Vec::new();
        let mut many = Vec::new();
        for _ in 0..rounds.max(1) {
            for (tasks, samples) in [(1, &mut one), (TASKS, &mut many)] {
                let store = store.clone();
                let elapsed = runtime.block_on(mixed(store, tasks, operations))?;
                samples.push(per_op(elapsed, operations));
            }
        }
        let (one_ns, many_ns) = (median(one), median(many));
        figures.push(AsyncFigure {
            workload: "async_concurrency",
            durability: mode.as_str(),
            runtime: name,
            async_ns: many_ns,
            baseline_ns: one_ns,
            baseline: "one_task",
            rusqlite_ns: None,
            ratio: many_ns / one_ns,
            goal: CONCURRENCY_GOAL,
        });
    }
    Ok(figures)
}

async fn mixed(store: AsyncStore, tasks: usize, operations: usize) -> Result<Duration> {
    let started = Instant::now();
    let share = operations / tasks;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for step in 0..share {
                    let index = task * share + step;
                    async_call(&store, index % 4 != 0, index).await?;
                }
                Ok::<_, Failure>(())
            })
        })
        .collect();
    for handle in handles {
        handle.await.context("a benchmark task")??;
    }
    Ok(started.elapsed())
}
