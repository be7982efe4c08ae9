//! The JSON lines of `store export` and `store import`: one entry per line,
//! `{"group","key","value","expires_at"}`, plus `"value_base64"` for a binary value that
//! is not UTF-8 (its exact bytes, standard base64; `value` then shows them with U+FFFD
//! replacements and is ignored on import).

use std::fmt;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

/// One line of `export` and `import`; unknown keys are refused. Only a JSON object is an
/// entry: [`parse`] refuses serde's sequence form of the struct (`["g","k","v"]`).
///
/// ```
/// use store_cli::entry_lines::EntryLine;
/// let line: EntryLine = serde_json::from_str(r#"{"group":"g","key":"k","value":"v","expires_at":null}"#)?;
/// assert_eq!((line.group.as_str(), line.expires_at), ("g", None));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine {
    /// The entry's group.
    pub group: String,
    /// Its key.
    pub key: String,
    /// Its value (for a binary value, its text with U+FFFD replacements, for reading).
    pub value: String,
    /// When it expires, in Unix milliseconds; `null` or absent for never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The exact bytes of a binary value that is not UTF-8, in standard base64; when
    /// present it is what import writes. Absent for text values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

/// A line that could not be read or is not an entry. Display, always one line: `store
/// import: line <n>: <what was wrong>`.
///
/// ```
/// let error = store_cli::entry_lines::parse("\nnot json\n".as_bytes()).unwrap_err();
/// assert_eq!(error.line, 2);
/// assert!(error.to_string().starts_with("store import: line 2: "));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    /// The line's number, counting from 1 (blank lines count).
    pub line: usize,
    /// What was wrong with it.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "store import: line {}: {}",
            self.line, self.message
        )
    }
}

impl std::error::Error for LineError {}

/// The white space JSON allows before a value.
const JSON_WHITE_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The message for a line that is not a JSON object.
const NOT_AN_OBJECT: &str =
    "an entry must be a JSON object {\"group\",\"key\",\"value\",\"expires_at\"}";

/// Reads every entry line, skipping blank ones; stops at the first line that is not
/// UTF-8 or not an entry (a JSON object with `group`, `key`, `value` and optionally
/// `expires_at`).
///
/// ```
/// use store_cli::entry_lines::parse;
/// let text = "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}\n\n";
/// assert_eq!(parse(text.as_bytes())?[0].value, "v");
/// let error = parse("{\"group\":\"g\"}\n".as_bytes()).unwrap_err();
/// assert!(error.to_string().starts_with("store import: line 1: "));
/// # Ok::<(), store_cli::entry_lines::LineError>(())
/// ```
///
/// # Errors
///
/// [`LineError`] naming the first bad line.
pub fn parse(reader: impl BufRead) -> Result<Vec<EntryLine>, LineError> {
    let mut entries = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        // One line, as the CLI prints it: serde names an unknown key verbatim, and a key
        // may hold an escaped line break.
        let failed = |message: String| LineError {
            line: index + 1,
            message: message.replace(['\n', '\r'], " "),
        };
        let line = line.map_err(|error| failed(error.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        // serde also reads a struct from a JSON array of its fields in order; an entry is
        // an object, so that `["g","k","v"]` is refused rather than silently imported.
        if !line.trim_start_matches(JSON_WHITE_SPACE).starts_with('{') {
            return Err(failed(NOT_AN_OBJECT.to_owned()));
        }
        let entry =
            serde_json::from_str::<EntryLine>(&line).map_err(|error| failed(error.to_string()))?;
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_good_skips_blank_lines() {
        let text = "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\",\"expires_at\":null}\n\n{\"group\":\"g\",\"key\":\"j\",\"value\":\"w\",\"expires_at\":5}\n";
        let entries = parse(text.as_bytes()).expect("parse");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].expires_at, Some(5));
    }

    #[test]
    fn parse_bad_names_the_line() {
        let text =
            "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}\n{\"group\":\"g\",\"key\":\"k\"}\n";
        let error = parse(text.as_bytes()).expect_err("missing value");
        assert_eq!(error.line, 2);
        assert!(
            error.to_string().starts_with("store import: line 2: "),
            "{error}"
        );
        let error = parse("not json\n".as_bytes()).expect_err("not JSON");
        assert_eq!(error.line, 1);
        let error = parse("{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\",\"extra\":1}".as_bytes())
            .expect_err("unknown field");
        assert!(error.message.contains("extra"), "{error}");
        let error = parse(&b"\n\xff\n"[..]).expect_err("not UTF-8");
        assert_eq!(error.line, 2);
    }

    #[test]
    fn parse_bad_json_array_is_not_an_entry() {
        let text = "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}\n [\"g\",\"k\",\"v\"]\n";
        let error = parse(text.as_bytes()).expect_err("an array line");
        assert_eq!(error.line, 2);
        assert!(error.message.contains("must be a JSON object"), "{error}");
        let error = parse("[\"g\",\"k\",\"v\",null]".as_bytes()).expect_err("with expiry");
        assert_eq!(error.line, 1);
        let entries = parse(" \t{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}".as_bytes())
            .expect("leading white space before an object");
        assert_eq!(entries[0].key, "k");
    }

    #[test]
    fn parse_bad_message_is_one_line_when_a_key_holds_a_line_break() {
        // Found by the import_line fuzz target.
        let error = parse("{\"a\\nb\\rc\":1}".as_bytes()).expect_err("unknown field");
        assert!(error.message.contains("a b c"), "{error}");
        assert!(!error.to_string().contains(['\n', '\r']), "{error}");
    }
}
