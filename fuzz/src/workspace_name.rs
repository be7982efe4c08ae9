//! `Store::new_workspace` and `Store::open_workspace` with an arbitrary name: refused with
//! `invalid workspace name` exactly when the name breaks SPEC §13's rule, and otherwise a
//! file `<name>.duckdb` strictly inside the state directory — checked on canonical paths
//! — with nothing created anywhere else.

use std::path::Path;

use store::{Error, Store, StoreConfig};

/// SPEC §13: 1–200 bytes; no leading `.`; no `..`; none of `/ \ : * ? " < > |`; no
/// control character; no white space at either end.
fn is_valid(name: &str) -> bool {
    (1..=200).contains(&name.len())
        && !name.starts_with('.')
        && !name.contains("..")
        && !name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|'])
        && !name
            .chars()
            .any(|character| character <= '\u{1f}' || character == '\u{7f}')
        && name.trim() == name
}

/// The names of the entries of a directory, sorted.
fn listing(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("list the directory")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The input, read as UTF-8 (invalid sequences become U+FFFD), is the name.
pub fn check(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let root = tempfile::tempdir().expect("a temporary directory");
    let state = root.path().join("state");
    let store = Store::open_with(StoreConfig {
        purge_interval: std::time::Duration::ZERO,
        workspace_state_directory: state.clone(),
        ..StoreConfig::new(":memory:")
    })
    .expect("open an in-memory store");
    match store.new_workspace(&name) {
        Ok(workspace) => {
            assert!(is_valid(&name), "{name:?} was accepted");
            let path = workspace.database_path().to_owned();
            assert_eq!(
                path.file_name()
                    .map(|file| file.to_string_lossy().into_owned()),
                Some(format!("{name}.duckdb")),
                "{name:?}"
            );
            let file = path.canonicalize().expect("the file exists");
            let inside = state.canonicalize().expect("the state directory exists");
            assert_eq!(file.parent(), Some(inside.as_path()), "{name:?}: {file:?}");
            assert_eq!(listing(root.path()), ["state"], "{name:?}");
            workspace.put("kind", serde_json::Map::new()).expect("put");
            workspace.close().expect("close, keeping the file");
            let reopened = store.open_workspace(&name).expect("reopen by name");
            assert_eq!(reopened.database_path(), path, "{name:?}");
            assert_eq!(reopened.count().expect("count"), 1, "{name:?}");
            reopened.commit().expect("commit");
            let points = store.query_journal("").expect("journal");
            assert_eq!(points.len(), 1, "{name:?}");
            assert_eq!(points[0]["measurement"], name.as_ref(), "{name:?}");
            assert_eq!(points[0]["tags"]["workspace"], name.as_ref(), "{name:?}");
            assert!(
                listing(&state).is_empty(),
                "{name:?}: {:?}",
                listing(&state)
            );
        }
        Err(Error::InvalidInput { operation, message }) => {
            assert!(!is_valid(&name), "{name:?} was refused: {message}");
            assert_eq!(operation, "store.new_workspace");
            assert!(
                message.starts_with("invalid workspace name "),
                "{name:?}: {message}"
            );
            let error = store.open_workspace(&name).expect_err("refused again");
            assert!(
                error.to_string().contains("invalid workspace name"),
                "{name:?}: {error}"
            );
            assert!(listing(root.path()).is_empty(), "{name:?}: created files");
        }
        Err(other) => panic!("{name:?}: unexpected {other:?}"),
    }
}
