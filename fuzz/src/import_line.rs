//! The `store import` line parser (`store_cli::entry_lines::parse`) on arbitrary bytes:
//! every entry, or an error naming the first bad line — never a panic — and what it
//! parses imports into a store exactly (CLI.md).
//!
//! This module needs the CLI crate, which the store's own tests cannot depend on, so its
//! stable version lives in `crates/store-cli/tests/hostile_input.rs`, which includes this
//! file by path.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{Store, StoreConfig};
use store_cli::entry_lines::{parse, EntryLine};

/// Lines as `BufRead::lines` splits them: on `\n`, without a trailing `\r`, and no empty
/// last line after a final `\n`.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = data.split(|byte| *byte == b'\n').collect();
    if lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect()
}

fn is_blank(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_ok_and(|text| text.trim().is_empty())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Imports `entries` into a fresh store and checks that an export gives back every entry
/// that is certainly still live (the last one of each group and key), and none that had
/// certainly expired when imported.
fn check_import(entries: Vec<EntryLine>) {
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(":memory:")
    })
    .expect("open an in-memory store");
    let mut last: BTreeMap<(String, String), EntryLine> = BTreeMap::new();
    for entry in &entries {
        last.insert((entry.group.clone(), entry.key.clone()), entry.clone());
    }
    let count = entries.len();
    let before = now_ms();
    let imported = store
        .import(entries.into_iter().map(|line| store::Entry {
            group: line.group,
            key: line.key,
            value: line.value,
            expires_at: line.expires_at,
        }))
        .expect("import what was parsed");
    let exported: BTreeMap<(String, String), store::Entry> = store
        .export("")
        .map(|entry| entry.map(|entry| ((entry.group.clone(), entry.key.clone()), entry)))
        .collect::<store::Result<_>>()
        .expect("export");
    let after = now_ms();
    assert_eq!(imported, count);
    for (key, line) in &last {
        match line.expires_at {
            Some(at) if at <= before => assert!(!exported.contains_key(key), "{line:?}"),
            Some(at) if at <= after.saturating_add(60_000) => {} // may expire meanwhile
            _ => {
                let entry = exported.get(key).unwrap_or_else(|| panic!("{line:?} lost"));
                assert_eq!(
                    (&entry.value, entry.expires_at),
                    (&line.value, line.expires_at)
                );
            }
        }
    }
    assert!(
        exported.keys().all(|key| last.contains_key(key)),
        "an entry nobody imported"
    );
}

/// The input is the text fed to `store import`.
pub fn check(data: &[u8]) {
    let lines = split_lines(data);
    match parse(data) {
        Ok(entries) => {
            let filled = lines.iter().filter(|line| !is_blank(line)).count();
            assert_eq!(entries.len(), filled, "{data:?}");
            for entry in &entries {
                let text = serde_json::to_string(entry).expect("serialise");
                let again: EntryLine = serde_json::from_str(&text).expect("parse again");
                assert_eq!(&again, entry, "an entry survives export and import");
            }
            check_import(entries);
        }
        Err(error) => {
            assert!(
                (1..=lines.len()).contains(&error.line),
                "{data:?}: line {} of {}",
                error.line,
                lines.len()
            );
            let bad = lines[error.line - 1];
            assert!(
                !is_blank(bad),
                "{data:?}: a blank line was refused: {error}"
            );
            let before: Vec<u8> = lines[..error.line - 1].join(&b'\n');
            assert!(
                parse(&before[..]).is_ok(),
                "{data:?}: an earlier line was bad"
            );
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("store import: line {}: ", error.line)),
                "{message:?}"
            );
            assert!(
                !error.message.is_empty() && !message.contains(['\n', '\r']),
                "{message:?}"
            );
        }
    }
}
