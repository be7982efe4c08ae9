//! Running one workload in one mode: every subject on its own fresh database (the store,
//! raw rusqlite, for some write workloads raw rusqlite on the schema before revisions,
//! and the peers that apply), the timed operations split into rounds, and the rounds
//! interleaved (store, rusqlite, peers, then the next round starting one subject later)
//! so that drift of the machine — another build, a warming cache, a CPU changing speed —
//! falls on every subject alike.
//!
//! The data set is written into the store's and raw rusqlite's databases together, a
//! slice of 1,000 keys at a time in turn. Written one database after the other, whichever
//! came first ran its reads up to twice as slowly (with the same instruction and
//! cache-miss counts under callgrind: the order alone decided which subject won, by how
//! the two databases' pages ended up in memory), and that would have been charged to the
//! store or to the baseline at random.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::{Backend, RawBackend, StoreBackend};
use crate::failure::{Context, Result};
use crate::keys::DataSet;
use crate::peer::Peer;
use crate::report::Comparison;
use crate::stats::Summary;
use crate::workloads::{fill_with, Contents, Mode, Plan, Scale, Workload};

/// Keys written into one database before the next database's turn.
const FILL_SLICE: usize = 1_000;

/// Writes the data set into every backend, a slice at a time in turn, the first backend
/// of each turn rotating, so that no database's pages all come before another's.
fn fill_together(
    backends: &[(&dyn Backend, &'static str)],
    total: usize,
    fill: impl Fn(&dyn Backend, std::ops::Range<usize>) -> Result<()>,
) -> Result<()> {
    let mut start = 0;
    let mut turn = 0;
    while start < total {
        let end = (start + FILL_SLICE).min(total);
        for offset in 0..backends.len() {
            let (backend, name) = backends[(turn + offset) % backends.len()];
            fill(backend, start..end).context(name)?;
        }
        start = end;
        turn += 1;
    }
    Ok(())
}

/// The name of the subject under test.
pub const STORE: &str = "store";
/// The name of the raw SQLite floor.
pub const RUSQLITE: &str = "rusqlite";
/// The name of raw SQLite on the schema before revisions, running that release's upsert.
pub const RUSQLITE_WITHOUT_REVISIONS: &str = "rusqlite_norev";

enum Runner<'a> {
    Local(&'a dyn Backend),
    Remote(&'a mut Peer),
}

struct Subject<'a> {
    name: &'static str,
    runner: Runner<'a>,
    latencies: Vec<u64>,
}

fn nanoseconds(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

impl Subject<'_> {
    fn run(
        &mut self,
        workload: &Workload,
        plan: &Plan,
        data: &DataSet,
        start: usize,
        end: usize,
    ) -> Result<()> {
        match &mut self.runner {
            Runner::Remote(peer) => {
                let operation = workload.peer.map_or("", |peer| peer.operation);
                let latencies = peer.run(operation, plan, start, end)?;
                self.latencies.extend(latencies);
            }
            Runner::Local(backend) => {
                // One clock read per operation: each latency runs from the end of the
                // previous operation (or of its untimed set-up) to the end of this one.
                let mut last = Instant::now();
                for index in start..end {
                    if let Some(before_each) = workload.before_each {
                        before_each(*backend, plan, data, index)?;
                        last = Instant::now();
                    }
                    (workload.operation)(*backend, plan, data, index)?;
                    let now = Instant::now();
                    self.latencies.push(nanoseconds(last, now));
                    last = now;
                }
            }
        }
        Ok(())
    }
}

fn location(directory: &Path, mode: Mode, name: &str) -> PathBuf {
    if mode == Mode::Memory {
        PathBuf::from(":memory:")
    } else {
        directory.join(name)
    }
}

/// Runs `workload` in `mode` on the store, raw rusqlite and the `peers` that apply, in
/// `rounds` interleaved rounds, and compares the store with each of the others.
///
/// # Errors
///
/// When a subject fails to open, prepare or run; the message names the subject.
pub fn run_workload(
    workload: &Workload,
    mode: Mode,
    scale: Scale,
    rounds: usize,
    peers: &mut [Peer],
) -> Result<Vec<Comparison>> {
    let plan = (workload.plan)(scale, mode);
    let data = DataSet::new(plan.keys, plan.groups);
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let durability = mode.durability();
    let store = StoreBackend::open(
        &location(directory.path(), mode, "store.db"),
        durability,
        directory.path(),
    )
    .context(STORE)?;
    let raw = RawBackend::open(
        &location(directory.path(), mode, "raw.db"),
        durability,
        directory.path(),
    )
    .context(RUSQLITE)?;
    let without_revisions = if workload.without_revisions {
        Some(
            RawBackend::open_without_revisions(
                &location(directory.path(), mode, "raw-norev.db"),
                durability,
                directory.path(),
            )
            .context(RUSQLITE_WITHOUT_REVISIONS)?,
        )
    } else {
        None
    };
    let mut local: Vec<(&dyn Backend, &'static str)> = vec![(&store, STORE), (&raw, RUSQLITE)];
    if let Some(backend) = &without_revisions {
        local.push((backend, RUSQLITE_WITHOUT_REVISIONS));
    }
    match workload.contents {
        Contents::Empty => {}
        Contents::DataSet => fill_together(&local, data.len(), |backend, range| {
            fill_with(backend, &data, range, None)
        })?,
        Contents::Points => fill_together(&local, plan.keys, |backend, range| {
            backend.load_points(range)
        })?,
    }
    for &(backend, name) in &local {
        (workload.prepare)(backend, &plan, &data, 0).context(name)?;
    }
    let mut subjects: Vec<Subject> = local
        .iter()
        .map(|&(backend, name)| Subject {
            name,
            runner: Runner::Local(backend),
            latencies: Vec::with_capacity(plan.operations),
        })
        .collect();
    if let Some(peer_workload) = workload.peer {
        for peer in peers.iter_mut().filter(|peer| peer.supports(mode)) {
            peer.open(mode, directory.path())?;
            if peer_workload.fill {
                peer.fill(&plan)?;
            }
            subjects.push(Subject {
                name: peer.name,
                runner: Runner::Remote(peer),
                latencies: Vec::with_capacity(plan.operations),
            });
        }
    }
    let rounds = rounds.clamp(1, plan.operations.max(1));
    let count = subjects.len();
    for round in 0..rounds {
        let start = plan.operations * round / rounds;
        let end = plan.operations * (round + 1) / rounds;
        for turn in 0..count {
            let subject = &mut subjects[(round + turn) % count];
            subject
                .run(workload, &plan, &data, start, end)
                .context(subject.name)?;
        }
    }
    let mut summaries = Vec::with_capacity(count);
    for subject in &mut subjects {
        if let Runner::Remote(peer) = &mut subject.runner {
            peer.close()?;
        }
        if let Some(summary) = Summary::of(&mut subject.latencies) {
            summaries.push((subject.name, summary));
        }
    }
    drop(subjects);
    store.close().context(STORE)?;
    let Some((_, store_summary)) = summaries.iter().find(|(name, _)| *name == STORE) else {
        return Ok(Vec::new());
    };
    Ok(summaries
        .iter()
        .filter(|(name, _)| *name != STORE)
        .map(|(name, summary)| {
            Comparison::new(workload.name, mode.as_str(), store_summary, name, summary)
        })
        .collect())
}
