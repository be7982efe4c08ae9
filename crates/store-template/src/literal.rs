//! Decoding of quoted strings, character constants and numbers, following Go's
//! `strconv` and the way templates type untyped constants.

use crate::quote::go_quote;
use crate::tree::Argument;

/// One unit decoded from a quoted literal: a character, or a raw byte from a
/// `\x` or octal escape.
pub(crate) enum Unit {
    Char(char),
    Byte(u8),
}

/// Decodes the first character or escape sequence of `s`, as Go's
/// `strconv.UnquoteChar` does, returning it and the remaining text.
pub(crate) fn unquote_char(s: &str, quote: char) -> Option<(Unit, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote {
        return None;
    }
    if c != '\\' {
        return Some((Unit::Char(c), chars.as_str()));
    }
    let escape = chars.next()?;
    let unit = match escape {
        'a' => Unit::Char('\u{07}'),
        'b' => Unit::Char('\u{08}'),
        'f' => Unit::Char('\u{0c}'),
        'n' => Unit::Char('\n'),
        'r' => Unit::Char('\r'),
        't' => Unit::Char('\t'),
        'v' => Unit::Char('\u{0b}'),
        '\\' => Unit::Char('\\'),
        '\'' | '"' if escape == quote => Unit::Char(escape),
        'x' | 'u' | 'U' => {
            let count = match escape {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let mut value = 0u32;
            for _ in 0..count {
                value = value * 16 + chars.next()?.to_digit(16)?;
            }
            if escape == 'x' {
                Unit::Byte(u8::try_from(value).ok()?)
            } else {
                Unit::Char(char::from_u32(value)?)
            }
        }
        '0'..='7' => {
            let mut value = escape.to_digit(8)?;
            for _ in 0..2 {
                value = value * 8 + chars.next()?.to_digit(8)?;
            }
            Unit::Byte(u8::try_from(value).ok()?)
        }
        _ => return None,
    };
    Some((unit, chars.as_str()))
}

/// Decodes the body of a double-quoted Go string literal.
pub(crate) fn unquote_string(mut body: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(body.len());
    while !body.is_empty() {
        let Some((unit, rest)) = unquote_char(body, '"') else {
            return Err("invalid escape sequence in quoted string".to_owned());
        };
        match unit {
            Unit::Char(c) => {
                let mut encoded = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut encoded).as_bytes());
            }
            Unit::Byte(b) => bytes.push(b),
        }
        body = rest;
    }
    String::from_utf8(bytes)
        .map_err(|_| "quoted string is not valid UTF-8, which is not supported".to_owned())
}

/// Parses a character constant such as `'a'` or `'\n'` to its integer value.
pub(crate) fn parse_char_const(text: &str) -> Result<i64, String> {
    let malformed = || format!("malformed character constant: {text}");
    let body = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .ok_or_else(malformed)?;
    match unquote_char(body, '\'') {
        Some((Unit::Char(c), "")) => Ok(i64::from(u32::from(c))),
        Some((Unit::Byte(b), "")) => Ok(i64::from(b)),
        _ => Err(malformed()),
    }
}

/// Whether underscores in a number are only used as digit separators, as Go requires.
pub(crate) fn underscores_ok(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let bytes = body.as_bytes();
    let mut hex = false;
    // 'd' digit or base prefix, '_' underscore, '^' start, '!' anything else.
    let mut saw = b'^';
    let mut rest = bytes;
    if let [b'0', p, tail @ ..] = bytes {
        if matches!(p.to_ascii_lowercase(), b'b' | b'o' | b'x') {
            hex = p.eq_ignore_ascii_case(&b'x');
            saw = b'd';
            rest = tail;
        }
    }
    for &b in rest {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            saw = b'd';
        } else if b == b'_' {
            if saw != b'd' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Converts a number literal to an integer or floating-point argument,
/// following the way Go types untyped constants in templates.
pub(crate) fn parse_number(text: &str) -> Result<Argument, String> {
    let illegal = || format!("illegal number syntax: {}", go_quote(text));
    if !underscores_ok(text) {
        return Err(illegal());
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    if body.ends_with('i') {
        return Err(format!("complex constant {text} is not supported"));
    }
    let prefix = body.get(..2).map(str::to_ascii_lowercase);
    let radix = match prefix.as_deref() {
        Some("0x") => 16,
        Some("0o") => 8,
        Some("0b") => 2,
        _ => 10,
    };
    let overflow = || format!("integer constant {text} overflows int");
    let to_int = |magnitude: u64| -> Result<Argument, String> {
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        value.map(Argument::Int).ok_or_else(overflow)
    };
    let parse_radix = |digits: &str, radix: u32| -> Result<Option<u64>, String> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Ok(None);
        }
        u64::from_str_radix(digits, radix)
            .map(Some)
            .map_err(|_| overflow())
    };
    if radix != 10 {
        let digits = body.get(2..).unwrap_or("");
        if radix == 16 && digits.contains(['p', 'P', '.']) {
            return Err(format!(
                "hexadecimal floating-point constant {text} is not supported"
            ));
        }
        return match parse_radix(digits, radix)? {
            Some(magnitude) => to_int(magnitude),
            None => Err(illegal()),
        };
    }
    if !body.contains(['.', 'e', 'E']) {
        // A leading zero means octal, as in Go, which rejects "08" as a decimal
        // integer that does not fit its octal reading.
        if let Some(octal) = body.strip_prefix('0').filter(|d| !d.is_empty()) {
            return match parse_radix(octal, 8)? {
                Some(magnitude) => to_int(magnitude),
                None => Err(format!("integer overflow: {}", go_quote(text))),
            };
        }
        return match parse_radix(body, 10)? {
            Some(magnitude) => to_int(magnitude),
            None => Err(illegal()),
        };
    }
    match body.parse::<f64>() {
        Ok(value) if value.is_finite() => {
            Ok(Argument::Float(if negative { -value } else { value }))
        }
        _ => Err(illegal()),
    }
}
