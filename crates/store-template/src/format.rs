//! Go's `fmt` verbs, flags, width and precision, as `print`, `println` and `printf` use
//! them; floating-point layouts live in `float`.

use std::fmt::Write as _;

use crate::float::format_float_value;
use crate::quote::{can_backquote, is_print, quote_rune, quote_with};
use crate::values::{type_name, Data, Value};

/// Largest width or precision accepted by `printf`, as in Go.
const MAX_FORMAT_NUMBER: usize = 1_000_000;

/// The flags, width and precision of one formatting verb.
#[derive(Debug, Clone, Copy, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "mirrors the independent flags of a Go formatting verb"
)]
pub(crate) struct VerbOptions {
    pub(crate) minus: bool,
    pub(crate) plus: bool,
    pub(crate) sharp: bool,
    pub(crate) space: bool,
    pub(crate) zero: bool,
    pub(crate) go_syntax: bool,
    pub(crate) width: Option<usize>,
    pub(crate) precision: Option<usize>,
}

pub(crate) fn write_padding(out: &mut String, n: usize, zero: bool) {
    let fill = if zero { '0' } else { ' ' };
    out.extend(std::iter::repeat_n(fill, n));
}

/// Pads `s` to the width, on the left unless the minus flag is set.
pub(crate) fn pad(out: &mut String, s: &str, options: &VerbOptions) {
    let width = options.width.unwrap_or(0);
    let fill = width.saturating_sub(s.chars().count());
    if options.minus {
        out.push_str(s);
        write_padding(out, fill, options.zero);
    } else {
        write_padding(out, fill, options.zero);
        out.push_str(s);
    }
}

pub(crate) fn pad_spaces(out: &mut String, s: &str, options: &VerbOptions) {
    pad(
        out,
        s,
        &VerbOptions {
            zero: false,
            ..*options
        },
    );
}

pub(crate) fn bad_verb(
    out: &mut String,
    verb: char,
    v: &Value,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if *v == Value::Nil {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        format_value(out, v, 'v', options, data)?;
    }
    out.push(')');
    Ok(())
}

/// Formats one value with one verb, as Go's `fmt` does.
pub(crate) fn format_value(
    out: &mut String,
    v: &Value,
    verb: char,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    match (verb, v) {
        ('T' | 'v', Value::Nil) => pad(out, "<nil>", options),
        ('T', _) => format_plain_string(out, type_name(v), options),
        ('p', Value::Map) => return Err("the %p verb is not supported".to_owned()),
        ('t' | 'v', Value::Bool(b)) => pad(out, if *b { "true" } else { "false" }, options),
        (_, Value::Int(i)) if verb != 'p' => format_int(out, *i, verb, options, data)?,
        ('v', Value::Uint8(b)) if options.go_syntax => {
            // Go prints an unsigned integer in hexadecimal under %#v.
            let hex = VerbOptions {
                sharp: true,
                ..*options
            };
            format_integer(out, i64::from(*b), 16, false, 'v', &hex);
        }
        (_, Value::Uint8(b)) if verb != 'p' => match verb {
            'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' | 'c' | 'q' | 'U' => {
                format_int(out, i64::from(*b), verb, options, data)?;
            }
            _ => bad_verb(out, verb, v, options, data)?,
        },
        (_, Value::Float(f)) if verb != 'p' => format_float_value(out, *f, verb, options, data)?,
        (_, Value::Str(s)) if verb != 'p' => format_string(out, s, verb, options, data)?,
        (_, Value::Map) => format_map(out, verb, options, data)?,
        _ => bad_verb(out, verb, v, options, data)?,
    }
    Ok(())
}

pub(crate) fn format_plain_string(out: &mut String, s: &str, options: &VerbOptions) {
    match options.precision {
        Some(p) => {
            let truncated: String = s.chars().take(p).collect();
            pad(out, &truncated, options);
        }
        None => pad(out, s, options),
    }
}

pub(crate) fn format_quoted_string(out: &mut String, s: &str, options: &VerbOptions) {
    let truncated: String = match options.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    };
    let quoted = if options.sharp && can_backquote(&truncated) {
        format!("`{truncated}`")
    } else {
        quote_with(&truncated, options.plus)
    };
    pad(out, &quoted, options);
}

/// Hexadecimal encoding of a string's bytes (`%x`, `%X`).
pub(crate) fn format_string_hex(out: &mut String, s: &str, upper: bool, options: &VerbOptions) {
    let bytes = s.as_bytes();
    let length = options
        .precision
        .map_or(bytes.len(), |p| p.min(bytes.len()));
    let mut width = 2 * length;
    if width == 0 {
        write_padding(out, options.width.unwrap_or(0), options.zero);
        return;
    }
    if options.space {
        if options.sharp {
            width *= 2;
        }
        width += length - 1;
    } else if options.sharp {
        width += 2;
    }
    let fill = options.width.unwrap_or(0).saturating_sub(width);
    if !options.minus {
        write_padding(out, fill, options.zero);
    }
    let prefix = if upper { "0X" } else { "0x" };
    if options.sharp {
        out.push_str(prefix);
    }
    for (i, b) in bytes.iter().take(length).enumerate() {
        if options.space && i > 0 {
            out.push(' ');
            if options.sharp {
                out.push_str(prefix);
            }
        }
        let _ = if upper {
            write!(out, "{b:02X}")
        } else {
            write!(out, "{b:02x}")
        };
    }
    if options.minus {
        write_padding(out, fill, options.zero);
    }
}

pub(crate) fn format_string(
    out: &mut String,
    s: &str,
    verb: char,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    match verb {
        'v' if options.go_syntax => format_quoted_string(out, s, options),
        'v' | 's' => format_plain_string(out, s, options),
        'x' => format_string_hex(out, s, false, options),
        'X' => format_string_hex(out, s, true, options),
        'q' => format_quoted_string(out, s, options),
        _ => bad_verb(out, verb, &Value::Str(s.to_owned()), options, data)?,
    }
    Ok(())
}

pub(crate) fn format_map(
    out: &mut String,
    verb: char,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    out.push_str(if options.go_syntax {
        "map[string]string{"
    } else {
        "map["
    });
    for (i, (key, value)) in data.iter().enumerate() {
        if i > 0 {
            out.push_str(if options.go_syntax { ", " } else { " " });
        }
        format_string(out, key, verb, options, data)?;
        out.push(':');
        format_string(out, value, verb, options, data)?;
    }
    out.push(if options.go_syntax { '}' } else { ']' });
    Ok(())
}

pub(crate) fn format_int(
    out: &mut String,
    v: i64,
    verb: char,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    match verb {
        'v' | 'd' => format_integer(out, v, 10, false, verb, options),
        'b' => format_integer(out, v, 2, false, verb, options),
        'o' | 'O' => format_integer(out, v, 8, false, verb, options),
        'x' => format_integer(out, v, 16, false, verb, options),
        'X' => format_integer(out, v, 16, true, verb, options),
        'c' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, c.encode_utf8(&mut [0u8; 4]), options);
        }
        'q' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, options.plus), options);
        }
        'U' => format_unicode(out, v, options),
        _ => bad_verb(out, verb, &Value::Int(v), options, data)?,
    }
    Ok(())
}

pub(crate) fn format_integer(
    out: &mut String,
    v: i64,
    base: u32,
    upper: bool,
    verb: char,
    options: &VerbOptions,
) {
    let negative = v < 0;
    let magnitude = v.unsigned_abs();
    let digits = match (base, upper) {
        (2, _) => format!("{magnitude:b}"),
        (8, _) => format!("{magnitude:o}"),
        (16, false) => format!("{magnitude:x}"),
        (16, true) => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let mut precision = 0;
    if let Some(p) = options.precision {
        if p == 0 && magnitude == 0 {
            write_padding(out, options.width.unwrap_or(0), false);
            return;
        }
        precision = p;
    } else if let (true, false, Some(w)) = (options.zero, options.minus, options.width) {
        precision = w;
        if negative || options.plus || options.space {
            precision = precision.saturating_sub(1);
        }
    }
    let mut body = "0".repeat(precision.saturating_sub(digits.len()));
    body.push_str(&digits);
    let mut s = String::new();
    if negative {
        s.push('-');
    } else if options.plus {
        s.push('+');
    } else if options.space {
        s.push(' ');
    }
    if verb == 'O' {
        s.push_str("0o");
    }
    if options.sharp {
        match base {
            2 => s.push_str("0b"),
            8 if !body.starts_with('0') => s.push('0'),
            16 => s.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    s.push_str(&body);
    pad_spaces(out, &s, options);
}

pub(crate) fn format_unicode(out: &mut String, v: i64, options: &VerbOptions) {
    // Go formats a negative rune as its two's complement bits.
    let bits = u64::from_ne_bytes(v.to_ne_bytes());
    let hex = format!("{bits:X}");
    let precision = options.precision.filter(|&p| p > 4).unwrap_or(4);
    let mut s = format!("U+{}{hex}", "0".repeat(precision.saturating_sub(hex.len())));
    if options.sharp {
        if let Some(c) = u32::try_from(bits).ok().and_then(char::from_u32) {
            if is_print(c) {
                let _ = write!(s, " '{c}'");
            }
        }
    }
    pad_spaces(out, &s, options);
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(values: &[Value], data: &Data) -> Result<String, String> {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in values.iter().enumerate() {
        let is_string = matches!(v, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        format_value(&mut out, v, 'v', &VerbOptions::default(), data)?;
        prev_string = is_string;
    }
    Ok(out)
}

/// Go's `fmt.Sprintln`: spaces between all operands and a final newline.
pub(crate) fn sprintln(values: &[Value], data: &Data) -> Result<String, String> {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        format_value(&mut out, v, 'v', &VerbOptions::default(), data)?;
    }
    out.push('\n');
    Ok(out)
}

/// Parses a decimal number in a format string, as Go's `parsenum`.
/// Returns the number (if any) and the new position.
pub(crate) fn parse_format_number(bytes: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let mut num: Option<usize> = None;
    while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        let n = num.unwrap_or(0);
        if n > MAX_FORMAT_NUMBER {
            return (None, bytes.len());
        }
        num = Some(n * 10 + usize::from(b - b'0'));
        i += 1;
    }
    (num, i)
}

/// The state of one `printf` call.
pub(crate) struct Printer<'a> {
    bytes: &'a [u8],
    args: &'a [Value],
    arg_num: usize,
    reordered: bool,
    good_arg_num: bool,
}

impl Printer<'_> {
    /// Handles an explicit argument index such as `[2]`; returns the new
    /// position and whether an index was found.
    pub(crate) fn arg_number(&mut self, i: usize) -> (usize, bool) {
        if self.bytes.get(i) != Some(&b'[') {
            return (i, false);
        }
        self.reordered = true;
        let rest = self.bytes.get(i..).unwrap_or(&[]);
        let close = if rest.len() < 3 {
            None
        } else {
            rest.iter().position(|&b| b == b']')
        };
        let Some(close) = close else {
            self.good_arg_num = false;
            return (i + 1, false);
        };
        let (num, end) = parse_format_number(rest, 1);
        match num {
            Some(n) if end == close && n >= 1 && n <= self.args.len() => {
                self.arg_num = n - 1;
                (i + close + 1, true)
            }
            Some(_) if end == close => {
                self.good_arg_num = false;
                (i + close + 1, true)
            }
            _ => {
                self.good_arg_num = false;
                (i + close + 1, false)
            }
        }
    }

    /// Parses the flags, width, precision and argument indexes of a verb
    /// starting at `i`; returns them and the position of the verb.
    pub(crate) fn parse_spec(&mut self, mut i: usize, out: &mut String) -> (VerbOptions, usize) {
        let mut options = VerbOptions::default();
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'#' => options.sharp = true,
                b'0' => options.zero = !options.minus,
                b'+' => options.plus = true,
                b'-' => {
                    options.minus = true;
                    options.zero = false;
                }
                b' ' => options.space = true,
                _ => break,
            }
            i += 1;
        }
        let (next, mut after_index) = self.arg_number(i);
        i = next;
        if self.bytes.get(i) == Some(&b'*') {
            i += 1;
            match self.int_arg() {
                Some(n) => {
                    options.width = usize::try_from(n.unsigned_abs()).ok();
                    if n < 0 {
                        options.minus = true;
                        options.zero = false;
                    }
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (num, next) = parse_format_number(self.bytes, i);
            i = next;
            options.width = num;
            if after_index && num.is_some() {
                self.good_arg_num = false;
            }
        }
        if i + 1 < self.bytes.len() && self.bytes.get(i) == Some(&b'.') {
            i += 1;
            if after_index {
                self.good_arg_num = false;
            }
            let (next, found) = self.arg_number(i);
            i = next;
            after_index = found;
            if self.bytes.get(i) == Some(&b'*') {
                i += 1;
                match self.int_arg().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => options.precision = Some(n),
                    None => out.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (num, next) = parse_format_number(self.bytes, i);
                i = next;
                options.precision = Some(num.unwrap_or(0));
            }
        }
        if !after_index {
            let (next, _) = self.arg_number(i);
            i = next;
        }
        (options, i)
    }

    /// Takes an integer argument for `*`.
    pub(crate) fn int_arg(&mut self) -> Option<i64> {
        let value = self.args.get(self.arg_num)?;
        self.arg_num += 1;
        match value {
            Value::Int(n)
                if usize::try_from(n.unsigned_abs()).is_ok_and(|m| m <= MAX_FORMAT_NUMBER) =>
            {
                Some(*n)
            }
            Value::Uint8(n) => Some(i64::from(*n)),
            _ => None,
        }
    }
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value], data: &Data) -> Result<String, String> {
    let bytes = format.as_bytes();
    let end = bytes.len();
    let mut out = String::new();
    let mut p = Printer {
        bytes,
        args,
        arg_num: 0,
        reordered: false,
        good_arg_num: true,
    };
    let mut i = 0;
    while i < end {
        p.good_arg_num = true;
        let start = i;
        while i < end && bytes.get(i) != Some(&b'%') {
            i += 1;
        }
        out.push_str(format.get(start..i).unwrap_or(""));
        if i >= end {
            break;
        }
        i += 1;
        let (mut options, next) = p.parse_spec(i, &mut out);
        i = next;
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !p.good_arg_num {
            let _ = write!(out, "%!{verb}(BADINDEX)");
        } else if let Some(arg) = args.get(p.arg_num) {
            if verb == 'v' {
                options.go_syntax = options.sharp;
                options.sharp = false;
                options.plus = false;
            }
            format_value(&mut out, arg, verb, &options, data)?;
            p.arg_num += 1;
        } else {
            let _ = write!(out, "%!{verb}(MISSING)");
        }
    }
    if !p.reordered && p.arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args.iter().skip(p.arg_num).enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if *arg == Value::Nil {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(arg));
                out.push('=');
                format_value(&mut out, arg, 'v', &VerbOptions::default(), data)?;
            }
        }
        out.push(')');
    }
    Ok(out)
}
