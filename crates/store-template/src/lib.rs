//! Go's `text/template`, for one template whose data (dot) is a Go `map[string]string`:
//! the engine behind `Store::render` in the `store` crate, usable on its own. Output,
//! error positions and `fmt` formatting follow Go 1.26 byte for byte, so a template
//! written for the Go package renders the same here.
//!
//! - **The whole language a map needs**: text with trim markers, comments, fields of
//!   the map, variables (`:=`, `=`), pipelines and parentheses, every literal form,
//!   `if`/`with`/`range` with `else` chains, `break` and `continue`, and the builtin
//!   functions `and`, `or`, `not`, `len`, `index`, `slice`, `eq`, `ne`, `lt`, `le`,
//!   `gt`, `ge`, `print`, `printf`, `println`, `html`, `js`, `urlquery` and `call`.
//! - **Go's `fmt`**: every verb and flag for the values these produce, floats included
//!   (`%x`, `%b`, `#`), with printable runes judged by the Unicode 15.0 tables Go uses.
//! - **Parsed before it runs**: a syntax error anywhere is reported even if execution
//!   would never reach it; errors say `parse template:` or `execute template:`.
//! - **Bounded**: nesting deeper than 100 levels, more than 10 million `range`
//!   iterations in all, or more than 64 MiB of output is an error, not a stack
//!   overflow, an endless loop or an exhausted memory.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use store_template::{render, TemplateError};
//!
//! let mut data = BTreeMap::new();
//! data.insert("colour".to_owned(), "blue".to_owned());
//! data.insert("size".to_owned(), "10".to_owned());
//!
//! let text = render("{{ range $key, $value := . }}{{ $key }}={{ $value }};{{ end }}", &data)?;
//! assert_eq!(text, "colour=blue;size=10;");
//! assert_eq!(render("{{ printf \"%q\" .colour }}", &data)?, "\"blue\"");
//! assert_eq!(render("{{ .missing }}", &data)?, "<no value>");
//!
//! let error = render("{{ if }}", &data).unwrap_err();
//! assert!(matches!(error, TemplateError::Parse(_)));
//! assert_eq!(error.to_string(), "parse template: template: :1: missing value for if");
//! # Ok::<(), TemplateError>(())
//! ```
//!
//! # Why not `gtmpl`
//!
//! The `gtmpl` crate implements Go templates over its own value type, but a differential
//! run against Go showed it unfit to stand in for the Go package: it ranges over a map
//! in random order (Go sorts the keys), prints `{{ . }}` as a Rust `HashMap` rather
//! than `map[k:v …]`, does not quote with `%q`, and renders a missing `index` as
//! `<no value>` where Go gives the empty string. Nor does it bound hostile templates.
//!
//! # Deliberate refusals
//!
//! Each is a clear error rather than a silent difference from Go:
//! - at parse time: `define`, `template` and `block` (there is one template);
//!   complex constants (`1i`, `1+2i`); hexadecimal floating-point constants
//!   (`0x1p4`); integer constants that do not fit in an `int` (Go fails on these
//!   only when it executes them); string literals that are not valid UTF-8; and
//!   field access directly on a function name (`len.x`);
//! - at execution time: the `%p` verb (there are no pointers to print) and slicing
//!   a string inside a UTF-8 character;
//! - the bounds above, which Go does not have.

#![forbid(unsafe_code)]
#![deny(clippy::all, clippy::pedantic, missing_docs)]

use std::collections::BTreeMap;

mod builtins;
mod exec;
mod float;
mod format;
mod lexer;
mod literal;
mod parser;
mod quote;
mod tree;
mod values;

use crate::exec::Execution;
use crate::lexer::Lexer;
use crate::parser::Parser;
use crate::values::Value;

/// The deepest nesting of control structures and parentheses accepted.
const MAX_DEPTH: usize = 100;

/// The most `range` iterations one execution may run in all, so that a hostile template
/// such as `{{ range 1000000000000 }}` fails instead of running for hours.
const MAX_ITERATIONS: u64 = 10_000_000;

/// The largest output one execution may produce (64 MiB).
const MAX_OUTPUT: usize = 64 << 20;

/// Why rendering failed: the message is Go's, prefixed with the phase that failed.
///
/// ```
/// use std::collections::BTreeMap;
///
/// use store_template::{render, TemplateError};
///
/// let error = render("{{ call .x }}", &BTreeMap::new()).unwrap_err();
/// assert!(matches!(error, TemplateError::Execute(_)));
/// assert!(error.to_string().starts_with("execute template: template: :1: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The template source is not valid (syntax, unknown function, unsupported construct).
    Parse(String),
    /// The template was valid but running it failed (e.g. `call` on a string).
    Execute(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(message) => write!(f, "parse template: {message}"),
            Self::Execute(message) => write!(f, "execute template: {message}"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Parses `source` as a Go text/template and executes it with `data` as dot (a Go
/// `map[string]string`), returning the output.
///
/// # Errors
///
/// [`TemplateError::Parse`] for a malformed or unsupported template, and
/// [`TemplateError::Execute`] when running it fails or exceeds a bound.
///
/// ```
/// use std::collections::BTreeMap;
///
/// let data = BTreeMap::from([("name".to_owned(), "Ada".to_owned())]);
/// let text = store_template::render("Hello, {{ .name }}!", &data)?;
/// assert_eq!(text, "Hello, Ada!");
/// # Ok::<(), store_template::TemplateError>(())
/// ```
pub fn render(source: &str, data: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let items = Lexer::new(source).run();
    let tree = Parser::new(items).parse().map_err(TemplateError::Parse)?;
    let mut execution = Execution::new(data);
    execution
        .walk_list(&tree, &Value::Map)
        .map_err(TemplateError::Execute)?;
    Ok(execution.into_output())
}
