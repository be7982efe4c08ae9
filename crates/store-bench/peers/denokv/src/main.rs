//! The denokv_sqlite peer of `store-bench`: Deno KV's SQLite backend, driven over a line
//! protocol on stdin and stdout so that `store-bench` can interleave its rounds with the
//! store's and raw rusqlite's (see `../Cargo.toml` for why it is a separate process).
//!
//! Requests, one per line; every reply is `ok [numbers…]` or `err <message>`:
//!
//! | request | effect |
//! |---|---|
//! | `open <full\|normal\|memory> <path>` | open a database (`:memory:` for memory) |
//! | `fill <keys> <groups>` | write the data set, untimed |
//! | `run <set\|get_hit\|get_miss\|delete> <keys> <groups> <start> <end>` | time ops `start..end`, reply with one latency in nanoseconds per op |
//! | `close` | close the database |
//!
//! Keys are `[group, key]` string pairs; values are 100-byte `Uint8Array`s
//! (`KvValue::Bytes`). Each operation is one `block_on` on a current-thread tokio runtime,
//! as a synchronous caller would use it; denokv then hands the work to its own SQLite
//! worker thread.

use std::error::Error;
use std::io::{self, BufRead, Write};
use std::num::NonZeroU32;
use std::time::Instant;

use denokv_proto::{
    encode_key, AtomicWrite, Consistency, Key, KeyPart, KvValue, Mutation, MutationKind, ReadRange,
    SnapshotReadOptions,
};
use denokv_sqlite::{Sqlite, SqliteConfig, SqliteNotifier};
use rand::SeedableRng;
use tokio::runtime::Runtime;

type Failure = Box<dyn Error + Send + Sync>;

/// The same key scheme as `store-bench` (`src/keys.rs`): op `i` touches key `perm(i)`.
const PERMUTATION_MULTIPLIER: u64 = 1_000_003;
const VALUE_SIZE: usize = 100;
/// Deno KV accepts at most 1,000 mutations in one atomic write.
const FILL_BATCH: usize = 1_000;

fn permuted(index: usize, keys: usize) -> usize {
    if keys == 0 || keys as u64 % PERMUTATION_MULTIPLIER == 0 {
        return index;
    }
    ((index as u64 * PERMUTATION_MULTIPLIER) % keys as u64) as usize
}

fn group_name(index: usize, groups: usize) -> String {
    format!("group-{:04}", index % groups.max(1))
}

fn key_name(index: usize) -> String {
    format!("key-{index:08}")
}

fn missing_key_name(index: usize) -> String {
    format!("missing-{index:08}")
}

fn value() -> Vec<u8> {
    let mut value = b"value-".to_vec();
    value.resize(VALUE_SIZE, b'x');
    value
}

fn encoded(group: String, key: String) -> Result<Vec<u8>, Failure> {
    Ok(encode_key(&Key(vec![
        KeyPart::String(group),
        KeyPart::String(key),
    ]))?)
}

struct Peer {
    runtime: Runtime,
    database: Option<Sqlite>,
}

impl Peer {
    fn database(&self) -> Result<&Sqlite, Failure> {
        self.database
            .as_ref()
            .ok_or_else(|| "no database is open".into())
    }

    fn open(&mut self, durability: &str, path: &str) -> Result<(), Failure> {
        let synchronous = match durability {
            "full" | "memory" => "FULL",
            "normal" => "NORMAL",
            other => return Err(format!("unknown durability {other:?}").into()),
        };
        let path = path.to_owned();
        let synchronous = synchronous.to_owned();
        let connect = move || {
            let connection = if path == ":memory:" {
                rusqlite::Connection::open_in_memory()
            } else {
                rusqlite::Connection::open(&path)
            }
            .map_err(|error| deno_error::JsErrorBox::generic(error.to_string()))?;
            connection
                .pragma_update(None, "synchronous", &synchronous)
                .map_err(|error| deno_error::JsErrorBox::generic(error.to_string()))?;
            let random: Box<dyn rand::RngCore + Send> =
                Box::new(rand::rngs::StdRng::from_entropy());
            Ok((connection, random))
        };
        let config = SqliteConfig {
            num_workers: 1,
            batch_timeout: None,
        };
        self.database = Some(Sqlite::new(connect, SqliteNotifier::default(), config)?);
        Ok(())
    }

    fn write(&self, mutations: Vec<Mutation>) -> Result<(), Failure> {
        let database = self.database()?;
        let write = AtomicWrite {
            checks: Vec::new(),
            mutations,
            enqueues: Vec::new(),
        };
        let outcome = self.runtime.block_on(database.atomic_write(write))?;
        match outcome {
            denokv_proto::AtomicWriteOutcome::Committed(_) => Ok(()),
            other => Err(format!("atomic write not committed: {other:?}").into()),
        }
    }

    fn get(&self, key: Vec<u8>) -> Result<bool, Failure> {
        let database = self.database()?;
        let mut end = key.clone();
        end.push(0);
        let range = ReadRange {
            start: key,
            end,
            limit: NonZeroU32::MIN,
            reverse: false,
        };
        let options = SnapshotReadOptions {
            consistency: Consistency::Strong,
        };
        let output = self
            .runtime
            .block_on(database.snapshot_read(vec![range], options))?;
        Ok(output.iter().any(|range| !range.entries.is_empty()))
    }

    fn fill(&self, keys: usize, groups: usize) -> Result<(), Failure> {
        let value = value();
        let indices: Vec<usize> = (0..keys).collect();
        for batch in indices.chunks(FILL_BATCH) {
            let mutations = batch
                .iter()
                .map(|&index| {
                    Ok(Mutation {
                        key: encoded(group_name(index, groups), key_name(index))?,
                        kind: MutationKind::Set(KvValue::Bytes(value.clone())),
                        expire_at: None,
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            self.write(mutations)?;
        }
        Ok(())
    }

    fn run(
        &self,
        operation: &str,
        keys: usize,
        groups: usize,
        start: usize,
        end: usize,
    ) -> Result<Vec<u64>, Failure> {
        // Names are made before the clock starts, as `store-bench` does for its subjects.
        let names: Vec<(String, String)> = (start..end)
            .map(|op| {
                let index = permuted(op, keys);
                let key = if operation == "get_miss" {
                    missing_key_name(index)
                } else {
                    key_name(index)
                };
                (group_name(index, groups), key)
            })
            .collect();
        let value = value();
        let mut latencies = Vec::with_capacity(names.len());
        let mut last = Instant::now();
        for (group, key) in names {
            // Encoding the [group, key] key is part of every denokv call.
            let key = encoded(group, key)?;
            match operation {
                "set" => self.write(vec![Mutation {
                    key,
                    kind: MutationKind::Set(KvValue::Bytes(value.clone())),
                    expire_at: None,
                }])?,
                "delete" => self.write(vec![Mutation {
                    key,
                    kind: MutationKind::Delete,
                    expire_at: None,
                }])?,
                "get_hit" => {
                    if !self.get(key)? {
                        return Err("get_hit: a key of the data set is missing".into());
                    }
                }
                "get_miss" => {
                    if self.get(key)? {
                        return Err("get_miss: a missing key was found".into());
                    }
                }
                other => return Err(format!("unknown operation {other:?}").into()),
            }
            let now = Instant::now();
            latencies.push(u64::try_from((now - last).as_nanos()).unwrap_or(u64::MAX));
            last = now;
        }
        Ok(latencies)
    }

    fn handle(&mut self, line: &str) -> Result<Vec<u64>, Failure> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |position: usize| -> Result<usize, Failure> {
            Ok(words
                .get(position)
                .ok_or("missing argument")?
                .parse::<usize>()?)
        };
        match words.first().copied().unwrap_or_default() {
            "open" => {
                // The path is the rest of the line, spaces and all.
                let mut parts = line.splitn(3, ' ').skip(1);
                let durability = parts.next().ok_or("missing durability")?;
                let path = parts.next().ok_or("missing path")?;
                self.open(durability, path)?;
                Ok(Vec::new())
            }
            "fill" => {
                self.fill(number(1)?, number(2)?)?;
                Ok(Vec::new())
            }
            "run" => {
                let operation = words.get(1).ok_or("missing operation")?;
                self.run(operation, number(2)?, number(3)?, number(4)?, number(5)?)
            }
            "close" => {
                if let Some(database) = self.database.take() {
                    database.close();
                }
                Ok(Vec::new())
            }
            other => Err(format!("unknown command {other:?}").into()),
        }
    }
}

fn main() -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut peer = Peer {
        runtime,
        database: None,
    };
    let stdin = io::stdin();
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        match peer.handle(line.trim_end()) {
            Ok(numbers) => {
                write!(stdout, "ok")?;
                for number in numbers {
                    write!(stdout, " {number}")?;
                }
                writeln!(stdout)?;
            }
            Err(error) => writeln!(stdout, "err {}", error.to_string().replace('\n', " "))?,
        }
        stdout.flush()?;
    }
    if let Some(database) = peer.database.take() {
        database.close();
    }
    Ok(())
}
