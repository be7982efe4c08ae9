//! InfluxDB line protocol for journal points.
//!
//! Written here rather than with the `influxdb-line-protocol` crate: that builder escapes
//! `\` in measurements, tag keys, tag values and field keys, which InfluxDB 1.x and the Go
//! InfluxDB 2.x keep literally (checked against influxd 1.6.7: a tag value `a\b` sent as
//! `a\\b` is stored as `a\\b`), so every backslash would arrive doubled.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::pipeline::point::to_json;

/// One line of line protocol for a point, ending in `\n`; `None` when the point has no
/// measurement or no field left to send (InfluxDB refuses such a line).
pub(crate) fn line(
    measurement: &str,
    tags: &Map<String, Value>,
    fields: &Map<String, Value>,
    committed_at: i64,
) -> Option<String> {
    if measurement.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(64);
    escape_name(&mut out, measurement, &[',', ' ']);
    // `serde_json::Map` is a `BTreeMap`: keys come sorted, as InfluxDB prefers them.
    for (key, value) in tags {
        let value = match value {
            Value::String(value) => value.clone(),
            Value::Null => continue,
            other => to_json(other),
        };
        if key.is_empty() || value.is_empty() {
            continue;
        }
        out.push(',');
        escape_name(&mut out, key, &[',', '=', ' ']);
        out.push('=');
        escape_name(&mut out, &value, &[',', '=', ' ']);
    }
    let mut separator = ' ';
    for (key, value) in fields {
        // An empty field key is a syntax error that would sink the whole batch.
        if key.is_empty() || value.is_null() {
            continue;
        }
        out.push(separator);
        separator = ',';
        escape_name(&mut out, key, &[',', '=', ' ']);
        out.push('=');
        field_value(&mut out, value);
    }
    if separator == ' ' {
        return None;
    }
    let _ = writeln!(out, " {committed_at}");
    Some(out)
}

/// A measurement, tag key, tag value or field key: each of `special` preceded by `\`,
/// and CR or LF (which would end the line) written as an escaped space.
fn escape_name(out: &mut String, text: &str, special: &[char]) {
    for character in text.chars() {
        match character {
            '\r' | '\n' => out.push_str("\\ "),
            _ if special.contains(&character) => {
                out.push('\\');
                out.push(character);
            }
            _ => out.push(character),
        }
    }
}

fn field_value(out: &mut String, value: &Value) {
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                let _ = write!(out, "{integer}i");
            } else if let Some(float) = number.as_f64() {
                // Rust's float Display never uses an exponent and keeps the shortest
                // round-trip digits: `1.5`, `2`, `0.0000001`.
                let _ = write!(out, "{float}");
            }
        }
        Value::String(text) => quoted(out, text),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Array(_) | Value::Object(_) => quoted(out, &to_json(value)),
        Value::Null => {}
    }
}

/// A string field value: in `"`, with `"` and `\` escaped; newlines are allowed inside.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        if matches!(character, '"' | '\\') {
            out.push('\\');
        }
        out.push(character);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: &Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn line_of(measurement: &str, tags: &Value, fields: &Value) -> Option<String> {
        line(
            measurement,
            &object(tags),
            &object(fields),
            1_700_000_000_123,
        )
    }

    #[test]
    fn line_good_types_sorted() {
        let fields = json!({"z": 1, "a": 1.5, "b": 2.0, "s": "hi", "t": true, "f": false,
            "n": null, "o": {"k": [1, "x"]}, "big": 18_446_744_073_709_551_615_u64, "neg": -7});
        let tags = json!({"user": "ada", "host": "a1"});
        assert_eq!(
            line_of("cpu", &tags, &fields).as_deref(),
            Some(concat!(
                "cpu,host=a1,user=ada a=1.5,b=2,big=18446744073709552000,f=false,neg=-7i,",
                r#"o="{\"k\":[1,\"x\"]}",s="hi",t=true,z=1i 1700000000123"#,
                "\n"
            ))
        );
    }

    #[test]
    fn line_good_escapes_names_and_strings() {
        let tags = json!({"k ey": "v,a=l ue", "back": r"C:\dir"});
        let fields = json!({"f=x": r#"say "hi" \o/"#});
        assert_eq!(
            line_of("my m,eas=ure", &tags, &fields).as_deref(),
            Some(concat!(
                r"my\ m\,eas=ure,back=C:\dir,k\ ey=v\,a\=l\ ue ",
                r#"f\=x="say \"hi\" \\o/" 1700000000123"#,
                "\n"
            ))
        );
    }

    #[test]
    fn line_good_line_breaks_outside_strings_become_escaped_spaces() {
        let tags = json!({"a\nb": "c\r\nd"});
        let fields = json!({"x\ny": "one\ntwo"});
        assert_eq!(
            line_of("m\nn", &tags, &fields).as_deref(),
            Some("m\\ n,a\\ b=c\\ \\ d x\\ y=\"one\ntwo\" 1700000000123\n")
        );
    }

    #[test]
    fn line_good_omits_empty_tags_and_null_fields() {
        let tags = json!({"": "x", "empty": "", "keep": "y"});
        let fields = json!({"gone": null, "": 1, "v": 1});
        assert_eq!(
            line_of("m", &tags, &fields).as_deref(),
            Some("m,keep=y v=1i 1700000000123\n")
        );
    }

    #[test]
    fn line_bad_no_field_or_measurement_is_not_sent() {
        assert_eq!(line_of("m", &json!({"a": "b"}), &json!({})), None);
        assert_eq!(line_of("m", &json!({}), &json!({"only": null})), None);
        assert_eq!(line_of("", &json!({}), &json!({"v": 1})), None);
    }
}
