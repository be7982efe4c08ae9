//! Measures how many `Workspace::put` calls a second a release build sustains.
//!
//! ```text
//! cargo run --release -p store --example workspace_put_rate [-- COUNT]
//! ```
//!
//! Each put is its own SQLite transaction (so a crash of the program loses none), run
//! through a cached prepared statement on a file in exclusive locking mode with
//! `synchronous=OFF` (scratch space: see the `workspace` module); the target is at least
//! 100 000 puts a second.

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u32 = std::env::args()
        .nth(1)
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(200_000);
    let directory = tempfile::tempdir()?;
    let store = store::Store::open_with(store::StoreConfig {
        workspace_state_directory: directory.path().join("state"),
        purge_interval: Duration::ZERO,
        ..store::StoreConfig::new(directory.path().join("store.db"))
    })?;
    let workspace = store.new_workspace("rate")?;
    let mut record = serde_json::Map::new();
    record.insert("user".into(), "ada".into());
    let started = Instant::now();
    for index in 0..count {
        record.insert("index".into(), index.into());
        let kind = if index % 3 == 0 {
            "profile_match"
        } else {
            "like"
        };
        workspace.put(kind, record.clone())?;
    }
    let elapsed = started.elapsed();
    let rate = f64::from(count) / elapsed.as_secs_f64();
    println!("{count} puts in {elapsed:.2?}: {rate:.0} puts per second");
    let aggregate = workspace.commit()?;
    println!("committed {aggregate:?}");
    Ok(())
}
