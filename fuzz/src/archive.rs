//! `read_archive` on an arbitrary file: entries, or an `Archive` error naming the file
//! (and the line, once past the compression) — never a panic — and the same answer every
//! time (SPEC §14).

use std::path::Path;

use store::{read_archive, Error};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The input is the whole file.
pub fn check(data: &[u8]) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("journal-20240101-000000.jsonl.gz");
    std::fs::write(&path, data).expect("write the archive");
    let first = read_archive(&path);
    let is_compressed = data.starts_with(GZIP_MAGIC) || data.starts_with(ZSTD_MAGIC);
    match &first {
        Ok(_) => assert!(
            is_compressed,
            "{data:?}: read without a gzip or zstd header"
        ),
        Err(error @ Error::Archive { .. }) => {
            let message = error.to_string();
            let expected = format!("store.read_archive: {}", path.display());
            assert!(
                message.starts_with(&expected),
                "unclear message {message:?}"
            );
            if !is_compressed {
                assert!(
                    message.contains("is not a gzip or zstd archive"),
                    "{message:?}"
                );
            }
        }
        Err(error @ Error::Io { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with("store.read_archive: ") && message.contains("jsonl.gz"),
                "unclear message {message:?}"
            );
        }
        Err(other) => panic!("{data:?}: not an archive or I/O error: {other:?}"),
    }
    let second = read_archive(Path::new(&path));
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "reading is deterministic"
    );
}
