//! Values met during execution and Go's notions of their type and truth.

use std::collections::BTreeMap;

use crate::format::{format_value, VerbOptions};

/// A value during execution. `Nil` stands for Go's "no value" (a missing map
/// key or the `nil` literal); it prints as `<no value>` from an action and as
/// `<nil>` through the `fmt`-style functions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte, as Go's `index` yields from a string (`uint8`).
    Uint8(u8),
    Float(f64),
    Str(String),
    /// The root map (dot at the start of execution).
    Map,
}

pub(crate) type Data = BTreeMap<String, String>;

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint8(_) => "uint8",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Map => "map[string]string",
    }
}

pub(crate) fn truth(v: &Value, data: &Data) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Uint8(b) => *b != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Map => !data.is_empty(),
    }
}

/// Formats a value as Go's `%v` would (used for messages).
pub(crate) fn value_text(v: &Value, data: &Data) -> String {
    let mut out = String::new();
    // Formatting with %v cannot fail.
    let _ = format_value(&mut out, v, 'v', &VerbOptions::default(), data);
    out
}
