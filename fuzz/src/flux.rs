//! `Store::query_journal` on arbitrary text, which is mostly read as Flux: it answers with
//! rows or a `Query` error saying what was wrong — never a panic — and changes nothing,
//! whatever the text (SPEC §11).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use store::{Error, Row, Store};

/// The statement kinds the store runs as SQL rather than Flux.
const SQL_KEYWORDS: &[&str] = &["select", "with", "explain", "pragma"];

/// How a refusal or failure may begin, after `store.query_journal: `.
const CLEAR_STARTS: &[&str] = &[
    "parse Flux: ",
    "unsupported Flux: ",
    "only a single read-only SQL statement is allowed",
    "prepare query: ",
    "run query: ",
    "query is empty",
];

/// The first word after white space and SQL comments, as the store picks it.
fn first_word(query: &str) -> &str {
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let end = rest
        .find(|character: char| !character.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Three points in two measurements, and one plain entry.
fn filled_store() -> Store {
    let store = super::memory_store();
    for (measurement, fields, tags) in [
        ("login", json!({"n": 1, "ok": true}), [("user", "ada")]),
        ("request", json!({"ms": 2.5, "route": "/"}), [("host", "a")]),
        ("login", json!({"n": 2, "text": "x"}), [("user", "bob")]),
    ] {
        let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        let tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        store
            .commit_to_journal(measurement, &fields, &tags)
            .expect("commit a point");
    }
    store.set("config", "colour", "blue").expect("set");
    store
}

/// The input, read as UTF-8 (invalid sequences become U+FFFD), is the query.
pub fn check(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let store = filled_store();
    let every_point: Vec<Row> = store.query_journal("").expect("every point");
    let is_sql = SQL_KEYWORDS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(first_word(&query)));
    match store.query_journal(&query) {
        Ok(rows) if query.trim().is_empty() => assert_eq!(rows, every_point, "{query:?}"),
        Ok(_) if is_sql => {}
        Ok(rows) => {
            // Flux selects some of the points, in their order, each with its eight keys.
            let mut candidates = every_point.iter();
            for row in &rows {
                assert_eq!(row.len(), 8, "{query:?}: {row:?}");
                assert!(
                    candidates.any(|point| point == row),
                    "{query:?}: {row:?} is not one of the points, in order"
                );
            }
        }
        Err(error @ Error::Query { .. }) => {
            let message = error.to_string();
            let reason = message
                .strip_prefix("store.query_journal: ")
                .unwrap_or_else(|| panic!("{query:?}: unclear message {message:?}"));
            let is_clear = CLEAR_STARTS.iter().any(|start| reason.starts_with(start))
                || reason.contains(" is refused: only a single read-only SQL statement");
            assert!(is_clear, "{query:?}: unclear message {message:?}");
            if !is_sql {
                assert!(
                    !reason.starts_with("prepare query: ") && !reason.starts_with("run query: "),
                    "{query:?}: Flux ran as SQL: {message:?}"
                );
            }
        }
        Err(other) => panic!("{query:?}: not a query error: {other:?}"),
    }
    // Nothing any query does changes the journal or the entries.
    assert_eq!(
        store.query_journal("").expect("every point again"),
        every_point,
        "{query:?}"
    );
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert_eq!(store.count_all("").expect("count"), 1, "{query:?}");
}
