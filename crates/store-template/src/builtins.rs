//! The builtin functions: comparison, `index`, `slice`, `len` and the escapers.

use std::fmt::Write as _;

use crate::format::{sprint, sprintf, sprintln};
use crate::quote::is_print;
use crate::tree::Function;
use crate::values::{truth, type_name, Data, Value};

pub(crate) fn apply_func(
    f: Function,
    values: &[Value],
    callee: Option<&str>,
    data: &Data,
) -> Result<Value, String> {
    let Some((first, rest)) = values.split_first() else {
        return match f {
            Function::Print | Function::Html | Function::Js | Function::Urlquery => {
                Ok(Value::Str(String::new()))
            }
            Function::Println => Ok(Value::Str("\n".to_owned())),
            _ => Err("missing argument".to_owned()),
        };
    };
    let second = rest.first().unwrap_or(&Value::Nil);
    Ok(match f {
        // Handled with short-circuiting by the caller.
        Function::And | Function::Or => first.clone(),
        Function::Not => Value::Bool(!truth(first, data)),
        Function::Len => Value::Int(length(first, data)?),
        Function::Eq => Value::Bool(equal(first, rest)?),
        Function::Ne => Value::Bool(!equal(first, rest)?),
        Function::Lt => Value::Bool(less(first, second)?),
        Function::Le => Value::Bool(less(first, second)? || equal(first, rest)?),
        Function::Gt => Value::Bool(!(less(first, second)? || equal(first, rest)?)),
        Function::Ge => Value::Bool(!less(first, second)?),
        Function::Index => index(first, rest, data)?,
        Function::Slice => slice(first, rest)?,
        Function::Call => {
            return Err(match (first, callee) {
                (Value::Nil, _) => "call of nil".to_owned(),
                (other, Some(name)) => {
                    format!("non-function {name} of type {}", type_name(other))
                }
                (other, None) => format!("non-function of type {}", type_name(other)),
            })
        }
        Function::Print => Value::Str(sprint(values, data)?),
        Function::Println => Value::Str(sprintln(values, data)?),
        Function::Printf => match first {
            Value::Str(format) => Value::Str(sprintf(format, rest, data)?),
            other => {
                return Err(format!(
                    "the format must be a string, not {}",
                    type_name(other)
                ))
            }
        },
        Function::Html => Value::Str(html_escape(&escaper_text(values, data)?)),
        Function::Js => Value::Str(js_escape(&escaper_text(values, data)?)),
        Function::Urlquery => Value::Str(query_escape(&escaper_text(values, data)?)),
    })
}

pub(crate) fn length(v: &Value, data: &Data) -> Result<i64, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::Map => data.len(),
        Value::Nil => return Err("len of untyped nil".to_owned()),
        other => return Err(format!("len of type {}", type_name(other))),
    };
    i64::try_from(n).map_err(|_| "length too large".to_owned())
}

pub(crate) fn is_basic(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_) | Value::Int(_) | Value::Uint8(_) | Value::Float(_) | Value::Str(_)
    )
}

pub(crate) fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        type_name(a),
        type_name(b)
    )
}

/// Go's `eq`: whether `a` equals any of `others`.
#[allow(
    clippy::float_cmp,
    reason = "Go's eq compares floating-point values exactly"
)]
pub(crate) fn equal(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    for b in others {
        let same = match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            // Go compares signed and unsigned integers by value.
            (Value::Int(x), Value::Uint8(y)) | (Value::Uint8(y), Value::Int(x)) => {
                *x == i64::from(*y)
            }
            (Value::Uint8(x), Value::Uint8(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Nil, Value::Nil) => true,
            (Value::Map, Value::Map) => {
                return Err("non-comparable type map[string]string".to_owned())
            }
            (Value::Nil, _) | (_, Value::Nil) => false,
            _ => return Err(incompatible(a, b)),
        };
        if same {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub(crate) fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Int(x), Value::Uint8(y)) => Ok(*x < i64::from(*y)),
        (Value::Uint8(x), Value::Int(y)) => Ok(i64::from(*x) < *y),
        (Value::Uint8(x), Value::Uint8(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ if !is_basic(a) || !is_basic(b) || matches!((a, b), (Value::Bool(_), Value::Bool(_))) => {
            Err("invalid type for comparison".to_owned())
        }
        _ => Err(incompatible(a, b)),
    }
}

/// Converts an index argument, checking it against `cap`.
pub(crate) fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    if let Value::Uint8(b) = v {
        let i = usize::from(*b);
        return if i <= cap {
            Ok(i)
        } else {
            Err(format!("index out of range: {b}"))
        };
    }
    match v {
        Value::Int(x) => match usize::try_from(*x) {
            Ok(i) if i <= cap => Ok(i),
            _ => Err(format!("index out of range: {x}")),
        },
        Value::Nil => Err("cannot index slice/array with nil".to_owned()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            type_name(other)
        )),
    }
}

pub(crate) fn index(item: &Value, indexes: &[Value], data: &Data) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("index of untyped nil".to_owned());
    }
    let mut current = item.clone();
    for index in indexes {
        current = match &current {
            Value::Str(s) => {
                let i = index_arg(index, s.len())?;
                match s.as_bytes().get(i) {
                    Some(b) => Value::Uint8(*b),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Value::Map => match index {
                Value::Str(key) => Value::Str(data.get(key).cloned().unwrap_or_default()),
                Value::Nil => return Err("value is nil; should be of type string".to_owned()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        type_name(other)
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(current)
}

pub(crate) fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let s = match item {
        Value::Str(s) => s,
        Value::Nil => return Err("slice of untyped nil".to_owned()),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".to_owned());
    }
    let mut bounds = [0, s.len()];
    for (bound, index) in bounds.iter_mut().zip(indexes) {
        *bound = index_arg(index, s.len())?;
    }
    let [low, high] = bounds;
    if low > high {
        return Err(format!("invalid slice index: {low} > {high}"));
    }
    s.get(low..high)
        .map(|part| Value::Str(part.to_owned()))
        .ok_or_else(|| "slicing a string inside a UTF-8 character is not supported".to_owned())
}

/// The text the escaping functions work on, like Go's `evalArgs`.
pub(crate) fn escaper_text(values: &[Value], data: &Data) -> Result<String, String> {
    if let [Value::Str(s)] = values {
        return Ok(s.clone());
    }
    let printable: Vec<Value> = values
        .iter()
        .map(|v| match v {
            Value::Nil => Value::Str("<no value>".to_owned()),
            other => other.clone(),
        })
        .collect();
    sprint(&printable, data)
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
