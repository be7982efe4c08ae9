//! `store-bench`: how fast the store is against the physical limit (raw rusqlite running
//! the store's own SQL) and against the stores users would otherwise pick
//! (`denokv_sqlite`, Python's diskcache), measured side by side in one run.
//!
//! ```text
//! cargo run --release -p store-bench                       # everything, about 6 minutes
//! cargo run --release -p store-bench -- --quick            # a tenth of the size, under 2 minutes
//! cargo run --release -p store-bench -- --quick --workload set --json
//! cargo run --release -p store-bench -- --quick --postgres postgres://user@host/db
//! ```
//!
//! See `BENCHMARKS.md` at the repository root for what each figure means.
#![forbid(unsafe_code)]
#![deny(clippy::all, clippy::pedantic)]
#![allow(clippy::module_name_repetitions)]

mod asynchronous;
mod backend;
mod failure;
mod feed;
mod isolated;
mod keys;
mod peer;
mod pipeline;
mod postgres;
mod report;
mod runner;
mod stats;
mod workloads;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::failure::{Context, Failure, Result};
use crate::peer::Peer;
use crate::report::{json_line, rss_row, stall_row, table_header, table_row, Comparison};
use crate::workloads::{Mode, Scale, WORKLOADS};

/// Keys in a data set at full size; `--quick` uses a tenth.
const FULL_KEYS: usize = 100_000;
/// Keys walked by `all()` for the peak-RSS figure, and purged for the stall figure.
const ISOLATED_KEYS: usize = 1_000_000;
/// Changes in the history the `replay` figure reads; `--quick` uses a tenth.
const REPLAY_CHANGES: usize = 1_000_000;
/// Changes timed by the `feed_latency` figure; `--quick` uses a quarter.
const FEED_CHANGES: usize = 200;
/// The measurements that run in processes of their own.
const ISOLATED: [&str; 8] = [
    "latency",
    "all_rss",
    "purge_stall",
    "async_get",
    "async_set",
    "async_concurrency",
    "feed_latency",
    "replay",
];

/// Side-by-side benchmarks of the store against raw rusqlite, `denokv_sqlite` and diskcache.
#[derive(Debug, Parser)]
#[allow(clippy::struct_excessive_bools)] // each is a command-line switch
#[command(name = "store-bench", version, about)]
struct Arguments {
    /// Every workload at a tenth of its size (under two minutes on two cores).
    #[arg(long)]
    quick: bool,
    /// One JSON object per line on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only these workloads (repeat or separate with commas); see --list.
    #[arg(long = "workload", value_name = "NAME", value_delimiter = ',')]
    workloads: Vec<String>,
    /// Run only these modes: full, normal, memory (repeat or separate with commas).
    #[arg(long = "durability", value_name = "MODE", value_delimiter = ',')]
    durabilities: Vec<String>,
    /// Interleaved rounds each workload's operations are split into.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Also compare with Python's diskcache (needs python3 and `pip install diskcache`).
    #[arg(long)]
    with_diskcache: bool,
    /// Leave out the `denokv_sqlite` peer (which is built with Cargo on first use).
    #[arg(long)]
    no_denokv: bool,
    /// Also run set and get in a `postgres` mode, the store against raw `postgres` calls
    /// on this database (in schemas `bench_<pid>`, `bench_<pid>_raw` and
    /// `bench_<pid>_norev`, dropped after), and the `pg_concurrency` workload.
    #[arg(long, value_name = "URL", env = "STORE_BENCH_POSTGRES")]
    postgres: Option<String>,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    #[command(subcommand)]
    child: Option<Child>,
}

/// The processes the benchmark starts for its isolated measurements.
#[derive(Debug, Subcommand)]
enum Child {
    #[command(name = "__fill-walk", hide = true)]
    FillWalk {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        keys: usize,
    },
    #[command(name = "__walk", hide = true)]
    Walk {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        keys: usize,
    },
    #[command(name = "__purge-stall", hide = true)]
    PurgeStall {
        #[arg(long)]
        durability: String,
        #[arg(long)]
        keys: usize,
    },
    #[command(name = "__feed-writer", hide = true)]
    FeedWriter {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        durability: String,
        #[arg(long)]
        changes: usize,
    },
    #[command(name = "__fill-replay", hide = true)]
    FillReplay {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        changes: usize,
    },
    #[command(name = "__replay", hide = true)]
    Replay {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        changes: usize,
    },
    #[command(name = "__latency", hide = true)]
    Latency {
        #[arg(long)]
        durability: String,
        #[arg(long)]
        keys: usize,
        #[arg(long)]
        rounds: usize,
    },
}

fn parse_mode(name: &str) -> Result<Mode> {
    Mode::parse(name).ok_or_else(|| {
        Failure::new(format!(
            "unknown durability {name:?}: use full, normal or memory (or postgres, with --postgres)"
        ))
    })
}

/// The failure for asking for the PostgreSQL mode (`what`) without a database.
fn needs_postgres(what: &str) -> Failure {
    Failure::new(format!(
        "{what} needs --postgres URL (or STORE_BENCH_POSTGRES)"
    ))
}

fn run_child(child: Child) -> Result<()> {
    match child {
        Child::FillWalk { path, keys } => isolated::fill_walk(&path, keys),
        Child::Walk { path, keys } => isolated::walk(&path, keys),
        Child::PurgeStall { durability, keys } => {
            isolated::purge_stall(parse_mode(&durability)?, keys)
        }
        Child::Latency {
            durability,
            keys,
            rounds,
        } => isolated::latency(parse_mode(&durability)?, keys, rounds),
        Child::FeedWriter {
            path,
            durability,
            changes,
        } => feed::feed_writer(&path, parse_mode(&durability)?, changes),
        Child::FillReplay { path, changes } => feed::fill_replay(&path, changes),
        Child::Replay { path, changes } => feed::replay(&path, changes),
    }
}

/// What one run does, decided from the arguments.
#[allow(clippy::struct_excessive_bools)] // each is a part of the run, on or off
struct Selection {
    workloads: Vec<&'static workloads::Workload>,
    isolated: Vec<&'static str>,
    modes: Vec<Mode>,
    /// Whether set and get also run in the `postgres` mode.
    postgres: bool,
    /// Whether `pg_concurrency` runs.
    pg_concurrency: bool,
}

fn select(arguments: &Arguments) -> Result<Selection> {
    let has_postgres = arguments.postgres.is_some();
    let mut selection = Selection {
        workloads: Vec::new(),
        isolated: Vec::new(),
        modes: Vec::new(),
        postgres: false,
        pg_concurrency: false,
    };
    if arguments.workloads.is_empty() {
        selection.workloads = WORKLOADS.iter().collect();
        selection.isolated = ISOLATED.to_vec();
        selection.pg_concurrency = has_postgres;
    }
    for name in &arguments.workloads {
        if let Some(workload) = workloads::find(name) {
            selection.workloads.push(workload);
        } else if let Some(isolated) = ISOLATED.iter().find(|isolated| *isolated == name) {
            selection.isolated.push(isolated);
        } else if name == postgres::CONCURRENCY {
            if !has_postgres {
                return Err(needs_postgres(postgres::CONCURRENCY));
            }
            selection.pg_concurrency = true;
        } else {
            return Err(Failure::new(format!(
                "unknown workload {name:?}; `store-bench --list` shows them"
            )));
        }
    }
    if arguments.durabilities.is_empty() {
        selection.modes = Mode::ALL.to_vec();
        selection.postgres = has_postgres;
    } else {
        for name in &arguments.durabilities {
            if name == postgres::MODE {
                if !has_postgres {
                    return Err(needs_postgres("--durability postgres"));
                }
                selection.postgres = true;
            } else {
                selection.modes.push(parse_mode(name)?);
            }
        }
    }
    Ok(selection)
}

fn list() {
    for workload in WORKLOADS {
        println!("{:<17} {}", workload.name, workload.summary);
    }
    println!(
        "{:<17} p50/p99 of set and get against rusqlite, in a process of its own",
        "latency"
    );
    println!(
        "{:<17} peak RSS while all() walks 1,000,000 keys, in a process of its own",
        "all_rss"
    );
    println!(
        "{:<17} longest set while the background purge removes 1,000,000 expired keys",
        "purge_stall"
    );
    println!(
        "{:<17} AsyncStore::get per call on both tokio runtimes, against the store and rusqlite",
        "async_get"
    );
    println!(
        "{:<17} AsyncStore::set per call on both tokio runtimes, against the store and rusqlite",
        "async_set"
    );
    println!(
        "{:<17} mixed calls by 64 tasks against 1 task, on both tokio runtimes",
        "async_concurrency"
    );
    println!(
        "{:<17} delay of 200 sets made by another process to reach a watch_from follower",
        "feed_latency"
    );
    println!(
        "{:<17} watch_from(\"*\", \"*\", 0) over 1,000,000 changes: rate and peak RSS",
        "replay"
    );
    println!(
        "{:<17} set and get throughput with 1, 4 and 16 clients on PostgreSQL (only with --postgres)",
        postgres::CONCURRENCY
    );
}

/// Writes to stdout, as a table row or a JSON line.
struct Output {
    is_json: bool,
    notes: Vec<String>,
}

impl Output {
    fn line(text: &str) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{text}").context("write to stdout")?;
        stdout.flush().context("write to stdout")
    }

    fn comparison(&self, comparison: &Comparison) -> Result<()> {
        if self.is_json {
            Output::line(&json_line(comparison)?)
        } else {
            Output::line(&table_row(comparison))
        }
    }

    fn figure<T: serde::Serialize>(
        &self,
        figure: &T,
        row: impl FnOnce(&T) -> String,
    ) -> Result<()> {
        if self.is_json {
            Output::line(&json_line(figure)?)
        } else {
            Output::line(&row(figure))
        }
    }

    fn note(&mut self, text: String) {
        eprintln!("store-bench: {text}");
        self.notes.push(text);
    }
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!(
        "{cpu}, {cores} cores, {} {}, SQLite {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        rusqlite::version()
    )
}

fn start_peers(arguments: &Arguments, selection: &Selection, output: &mut Output) -> Vec<Peer> {
    let mut peers = Vec::new();
    let wants_peers = !selection.modes.is_empty()
        && selection
            .workloads
            .iter()
            .any(|workload| workload.peer.is_some());
    if !wants_peers {
        return peers;
    }
    if arguments.no_denokv {
        output.note("denokv_sqlite left out (--no-denokv)".to_owned());
    } else {
        match peer::start_denokv(arguments.json) {
            Ok(peer) => peers.push(peer),
            Err(failure) => output.note(format!("denokv_sqlite skipped: {failure}")),
        }
    }
    if arguments.with_diskcache {
        match peer::start_diskcache() {
            Ok(peer) => peers.push(peer),
            Err(failure) => output.note(format!("diskcache skipped: {failure}")),
        }
    }
    peers
}

fn run(arguments: &Arguments) -> Result<()> {
    if arguments.list {
        list();
        return Ok(());
    }
    let selection = select(arguments)?;
    let target = match &arguments.postgres {
        Some(url) => Some(postgres::Target::new(url)?),
        None => None,
    };
    let divisor = if arguments.quick { 10 } else { 1 };
    let scale = Scale {
        keys: FULL_KEYS / divisor,
    };
    let mut output = Output {
        is_json: arguments.json,
        notes: Vec::new(),
    };
    let mut peers = start_peers(arguments, &selection, &mut output);
    if !output.is_json {
        Output::line(&format!(
            "store-bench: {} keys per data set, {} interleaved rounds; {}",
            scale.keys,
            arguments.rounds,
            machine_description()
        ))?;
        Output::line(&table_header())?;
    }
    let postgres_target = target.as_ref().filter(|_| selection.postgres);
    let on_postgres =
        |workload: &workloads::Workload| postgres_target.filter(|_| postgres::runs(workload));
    let total = selection.workloads.len() * selection.modes.len()
        + selection
            .workloads
            .iter()
            .filter(|workload| on_postgres(workload).is_some())
            .count();
    let mut done = 0;
    for workload in &selection.workloads {
        for &mode in &selection.modes {
            done += 1;
            eprintln!(
                "store-bench: [{done}/{total}] {} ({})",
                workload.name,
                mode.as_str()
            );
            let comparisons =
                runner::run_workload(workload, mode, scale, arguments.rounds, &mut peers)
                    .context(format!("{} ({})", workload.name, mode.as_str()))?;
            for comparison in &comparisons {
                output.comparison(comparison)?;
            }
        }
        if let Some(target) = on_postgres(workload) {
            done += 1;
            eprintln!(
                "store-bench: [{done}/{total}] {} ({})",
                workload.name,
                postgres::MODE
            );
            let comparisons = postgres::measure_point(workload, target, scale, arguments.rounds)
                .context(format!("{} ({})", workload.name, postgres::MODE))?;
            for comparison in &comparisons {
                output.comparison(comparison)?;
            }
        }
    }
    drop(peers);
    if let Some(target) = target.as_ref().filter(|_| selection.pg_concurrency) {
        eprintln!("store-bench: {}", postgres::CONCURRENCY);
        let figures = postgres::measure_concurrency(target, scale, arguments.rounds)
            .context(postgres::CONCURRENCY)?;
        if !output.is_json {
            Output::line(&postgres::concurrency_header())?;
        }
        for figure in &figures {
            output.figure(figure, postgres::concurrency_row)?;
        }
    }
    run_isolated(arguments, &selection, scale, &mut output)?;
    if !output.is_json {
        for note in &output.notes {
            Output::line(&format!("note: {note}"))?;
        }
    }
    Ok(())
}

fn run_isolated(
    arguments: &Arguments,
    selection: &Selection,
    scale: Scale,
    output: &mut Output,
) -> Result<()> {
    let isolated_keys = ISOLATED_KEYS / if arguments.quick { 10 } else { 1 };
    let file_modes: Vec<Mode> = selection
        .modes
        .iter()
        .copied()
        .filter(|mode| *mode != Mode::Memory)
        .collect();
    for name in &selection.isolated {
        match *name {
            "latency" => {
                for &mode in &selection.modes {
                    eprintln!(
                        "store-bench: latency ({}) in its own process",
                        mode.as_str()
                    );
                    for comparison in isolated::measure_latency(mode, scale.keys, arguments.rounds)
                        .context(format!("latency ({})", mode.as_str()))?
                    {
                        output.comparison(&comparison)?;
                    }
                }
            }
            "async_get" | "async_set" | "async_concurrency" => {
                for &mode in &selection.modes {
                    eprintln!("store-bench: {name} ({})", mode.as_str());
                    let figures = if *name == "async_concurrency" {
                        asynchronous::measure_concurrency(mode, arguments.quick, arguments.rounds)
                    } else {
                        let is_get = *name == "async_get";
                        asynchronous::measure_point(is_get, mode, arguments.quick, arguments.rounds)
                    }
                    .context(format!("{name} ({})", mode.as_str()))?;
                    for figure in &figures {
                        output.figure(figure, asynchronous::async_row)?;
                    }
                }
            }
            "feed_latency" => {
                let changes = FEED_CHANGES / if arguments.quick { 4 } else { 1 };
                for &mode in &file_modes {
                    eprintln!("store-bench: feed_latency ({})", mode.as_str());
                    let figure = feed::measure_latency(mode, changes)
                        .context(format!("feed_latency ({})", mode.as_str()))?;
                    output.figure(&figure, feed::latency_row)?;
                }
            }
            "replay" => {
                let changes = REPLAY_CHANGES / if arguments.quick { 10 } else { 1 };
                eprintln!("store-bench: replay in processes of its own");
                let figure = feed::measure_replay(changes).context("replay")?;
                output.figure(&figure, feed::replay_row)?;
            }
            "all_rss" => {
                eprintln!("store-bench: all_rss in its own process");
                match isolated::measure_rss(isolated_keys) {
                    Ok(figure) => output.figure(&figure, rss_row)?,
                    Err(failure) => output.note(format!("all_rss skipped: {failure}")),
                }
            }
            _ => {
                for &mode in &file_modes {
                    eprintln!(
                        "store-bench: purge_stall ({}) in its own process",
                        mode.as_str()
                    );
                    let figure = isolated::measure_stall(mode, isolated_keys)
                        .context(format!("purge_stall ({})", mode.as_str()))?;
                    output.figure(&figure, stall_row)?;
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut arguments = Arguments::parse();
    let outcome = match arguments.child.take() {
        Some(child) => run_child(child),
        None => run(&arguments),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("store-bench: {failure}");
            ExitCode::FAILURE
        }
    }
}
