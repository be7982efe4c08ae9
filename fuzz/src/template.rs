//! `Store::render` on arbitrary template source: it renders, or fails with a `Template`
//! error that says whether parsing or executing failed — never a panic, and the same
//! answer every time.

use store::Error;

/// Entries used when the input gives none.
const DEFAULT_ENTRIES: &str = "colour=blue\nsize=10\nmy key=spaced\nempty=";

/// The input is the template source, optionally followed by a NUL and the group's
/// entries as `key=value` lines.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (source, entries) = text.split_once('\0').unwrap_or((&text, DEFAULT_ENTRIES));
    let store = super::memory_store();
    for line in entries.lines().take(32) {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        store.set("data", key, value).expect("set an entry");
    }
    let first = store.render(source, "data");
    match &first {
        Ok(_) => {}
        Err(error @ Error::Template { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with("store.render: parse template: ")
                    || message.starts_with("store.render: execute template: "),
                "{source:?}: unclear message {message:?}"
            );
        }
        Err(other) => panic!("{source:?}: not a template error: {other:?}"),
    }
    let second = store.render(source, "data");
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "{source:?}: rendering is deterministic"
    );
}
