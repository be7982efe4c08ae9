//! The pure parts of the `store` command that other crates may call: the parser of
//! `import`'s JSON lines, so that the fuzz crate (`fuzz/`) can feed it arbitrary bytes.
//! Everything else lives in the binary (`src/main.rs`), a thin layer over the library.
#![forbid(unsafe_code)]
#![deny(clippy::all, clippy::pedantic, missing_docs)]

pub mod entry_lines;
