//! Printing results: plain text for people, JSON for programs.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

/// Where and how a command prints its result.
pub(crate) struct Output {
    is_json: bool,
    stdout: io::StdoutLock<'static>,
}

impl Output {
    pub(crate) fn new(is_json: bool) -> Output {
        Output {
            is_json,
            stdout: io::stdout().lock(),
        }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.is_json
    }

    /// Prints `plain` as it is (no newline added) or, with `--json`, `json` on one line.
    pub(crate) fn raw(&mut self, plain: &str, json: &Value) -> io::Result<()> {
        if self.is_json {
            self.json_line(json)
        } else {
            self.stdout.write_all(plain.as_bytes())
        }
    }

    /// Prints `plain` byte for byte (no newline added) or, with `--json`, `json` on one
    /// line.
    pub(crate) fn raw_bytes(&mut self, plain: &[u8], json: &Value) -> io::Result<()> {
        if self.is_json {
            self.json_line(json)
        } else {
            self.stdout.write_all(plain)
        }
    }

    /// Prints `plain` followed by a newline or, with `--json`, `json` on one line.
    pub(crate) fn line(&mut self, plain: &str, json: &impl Serialize) -> io::Result<()> {
        if self.is_json {
            self.json_line(json)
        } else {
            writeln!(self.stdout, "{plain}")
        }
    }

    /// Prints nothing, or `{"ok":true}` with `--json`: the result of a command that only
    /// changes the store.
    pub(crate) fn done(&mut self) -> io::Result<()> {
        if self.is_json {
            self.json_line(&serde_json::json!({ "ok": true }))
        } else {
            Ok(())
        }
    }

    /// Prints one JSON value on its own line, whatever the mode (JSON lines streams).
    pub(crate) fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.stdout, value)?;
        self.stdout.write_all(b"\n")
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}
