//! Go's `strconv.FormatFloat` layouts (`%e`, `%f`, `%g`, `%x`, `%b`) and the way `fmt`
//! signs, pads and `#`-flags them.

use std::fmt::Write as _;

use crate::format::{bad_verb, pad, pad_spaces, write_padding, VerbOptions};
use crate::values::{Data, Value};

/// More significant decimal digits than any `f64` has.
const MAX_SIGNIFICANT: usize = 800;

/// More fractional decimal digits than any `f64` has.
const MAX_FRACTION: usize = 1_100;

/// Decimal digits of a non-negative float: value = 0.d1d2d3... × 10 to the power `decimal_point`.
pub(crate) struct Digits {
    pub(crate) digits: Vec<u8>,
    pub(crate) decimal_point: i64,
}

/// Extracts digits from Rust's exponent formatting, such as `1.25e-3`.
pub(crate) fn digits_from(formatted: &str) -> Digits {
    let (mantissa, exp) = formatted.split_once('e').unwrap_or((formatted, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return Digits {
            digits,
            decimal_point: 0,
        };
    }
    Digits {
        digits,
        decimal_point: exp + 1,
    }
}

pub(crate) fn shortest_digits(x: f64) -> Digits {
    digits_from(&format!("{x:e}"))
}

/// Digits rounded to `n` (at least 1) significant figures.
pub(crate) fn rounded_digits(x: f64, n: usize) -> Digits {
    // A float has at most 767 significant decimal digits, so capping the
    // precision (Rust's formatter rejects very large ones) loses nothing.
    let decimals = (n.max(1) - 1).min(MAX_SIGNIFICANT);
    digits_from(&format!("{x:.decimals$e}"))
}

pub(crate) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Go's `%e` layout: d.ddddde±dd.
pub(crate) fn layout_e(d: &Digits, precision: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(d.digits.first().map_or('0', |&b| char::from(b)));
    if precision > 0 {
        s.push('.');
        let tail = d.digits.get(1..).unwrap_or(&[]);
        for i in 0..precision {
            s.push(tail.get(i).map_or('0', |&b| char::from(b)));
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.digits.is_empty() {
        0
    } else {
        d.decimal_point - 1
    };
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.unsigned_abs());
    s
}

/// Go's `%f` layout from digits.
pub(crate) fn layout_f(d: &Digits, precision: usize) -> String {
    let mut s = String::new();
    if d.decimal_point > 0 {
        for i in 0..d.decimal_point {
            let digit = usize::try_from(i).ok().and_then(|i| d.digits.get(i));
            s.push(digit.map_or('0', |&b| char::from(b)));
        }
    } else {
        s.push('0');
    }
    if precision > 0 {
        s.push('.');
        for i in 1..=to_i64(precision) {
            let j = d.decimal_point + i - 1;
            let digit = usize::try_from(j).ok().and_then(|j| d.digits.get(j));
            s.push(digit.map_or('0', |&b| char::from(b)));
        }
    }
    s
}

/// Go's `strconv.FormatFloat` for a non-negative finite value with verb
/// `e`, `E`, `f`, `F`, `g` or `G`; `None` precision means shortest.
pub(crate) fn format_float(x: f64, verb: char, precision: Option<usize>) -> String {
    match verb {
        'f' | 'F' => match precision {
            Some(p) => {
                // A float has at most 1074 fractional decimal digits; the rest are zeros.
                let capped = p.min(MAX_FRACTION);
                let mut s = format!("{x:.capped$}");
                s.extend(std::iter::repeat_n('0', p - capped));
                s
            }
            None => format!("{x}"),
        },
        'e' | 'E' => {
            let d = match precision {
                Some(p) => rounded_digits(x, p + 1),
                None => shortest_digits(x),
            };
            let p = precision.unwrap_or_else(|| d.digits.len().saturating_sub(1));
            layout_e(&d, p, verb == 'E')
        }
        _ => {
            let shortest = precision.is_none();
            let (d, p) = match precision {
                None => {
                    let d = shortest_digits(x);
                    let n = d.digits.len();
                    (d, n)
                }
                Some(p) => {
                    let p = p.max(1);
                    (rounded_digits(x, p), p)
                }
            };
            let digit_count = to_i64(d.digits.len());
            let mut p = to_i64(p);
            let mut exponent_precision = p;
            if exponent_precision > digit_count && digit_count >= d.decimal_point {
                exponent_precision = digit_count;
            }
            if shortest {
                exponent_precision = 6;
            }
            let exp = d.decimal_point - 1;
            if exp < -4 || exp >= exponent_precision {
                p = p.min(digit_count);
                let p = usize::try_from(p - 1).unwrap_or(0);
                layout_e(&d, p, verb == 'G')
            } else {
                if p > d.decimal_point {
                    p = digit_count;
                }
                layout_f(&d, usize::try_from(p - d.decimal_point).unwrap_or(0))
            }
        }
    }
}

/// Go's `strconv.FormatFloat(x, 'b', -1, 64)` for a non-negative value: the mantissa
/// and binary exponent as decimal integers, such as `4503599627370496p-52`.
pub(crate) fn format_float_binary(x: f64) -> String {
    let (mantissa, exponent) = float_parts(x);
    let exponent = exponent - 52;
    let sign = if exponent >= 0 { "+" } else { "" };
    format!("{mantissa}p{sign}{exponent}")
}

/// The mantissa (with its implicit bit) and unbiased exponent of a finite `f64`.
pub(crate) fn float_parts(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7FF).unwrap_or(0);
    let mut mantissa = bits & ((1 << 52) - 1);
    let exponent = if biased == 0 {
        1
    } else {
        mantissa |= 1 << 52;
        biased
    };
    (mantissa, exponent - 1023)
}

/// Go's `strconv.FormatFloat(x, 'x', precision, 64)` for a non-negative value, such as
/// `0x1.91eb851eb851fp+01`; `None` precision means as many digits as needed.
pub(crate) fn format_float_hex(x: f64, precision: Option<usize>, upper: bool) -> String {
    let (mut mantissa, mut exponent) = float_parts(x);
    if mantissa == 0 {
        exponent = 0;
    }
    // Shift so that the leading 1 (if any) is at bit 60.
    mantissa <<= 60 - 52;
    while mantissa != 0 && mantissa & (1 << 60) == 0 {
        mantissa <<= 1;
        exponent -= 1;
    }
    if let Some(precision) = precision.filter(|&p| p < 15) {
        let shift = precision * 4;
        let extra = (mantissa << shift) & ((1 << 60) - 1);
        mantissa >>= 60 - shift;
        if extra | (mantissa & 1) > 1 << 59 {
            mantissa += 1;
        }
        mantissa <<= 60 - shift;
        if mantissa & (1 << 61) != 0 {
            mantissa >>= 1;
            exponent += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let hex_digit = |m: u64| char::from(digits[usize::try_from((m >> 60) & 15).unwrap_or(0)]);
    let mut s = String::from(if upper { "0X" } else { "0x" });
    s.push(if (mantissa >> 60) & 1 == 1 { '1' } else { '0' });
    mantissa <<= 4;
    match precision {
        None if mantissa != 0 => {
            s.push('.');
            while mantissa != 0 {
                s.push(hex_digit(mantissa));
                mantissa <<= 4;
            }
        }
        Some(precision) if precision > 0 => {
            s.push('.');
            for _ in 0..precision {
                s.push(hex_digit(mantissa));
                mantissa <<= 4;
            }
        }
        _ => {}
    }
    s.push(if upper { 'P' } else { 'p' });
    s.push(if exponent < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exponent.unsigned_abs());
    s
}

/// Go's `#` flag on a formatted float: keep the decimal point and, for `%g` and `%x`,
/// pad with zeros to the precision (6 when none is given).
pub(crate) fn keep_decimal_point(number: &str, layout: char, precision: Option<usize>) -> String {
    let mut digits = match layout {
        'g' | 'G' | 'x' => precision.map_or(6, to_i64),
        _ => 0,
    };
    let is_hex = matches!(layout, 'x' | 'X');
    let split = number
        .find(|c| matches!(c, 'p' | 'P') || (!is_hex && matches!(c, 'e' | 'E')))
        .unwrap_or(number.len());
    let (mantissa, tail) = number.split_at(split);
    let mut has_point = false;
    let mut saw_nonzero = false;
    for c in mantissa.chars() {
        if c == '.' {
            has_point = true;
            continue;
        }
        saw_nonzero |= c != '0';
        if saw_nonzero {
            digits -= 1;
        }
    }
    let mut out = mantissa.to_owned();
    if !has_point {
        // A lone leading zero counts once towards the digits.
        if mantissa == "0" {
            digits -= 1;
        }
        out.push('.');
    }
    while digits > 0 {
        out.push('0');
        digits -= 1;
    }
    out.push_str(tail);
    out
}

pub(crate) fn format_float_value(
    out: &mut String,
    x: f64,
    verb: char,
    options: &VerbOptions,
    data: &Data,
) -> Result<(), String> {
    let (layout, precision) = match verb {
        'v' => ('g', options.precision),
        'b' | 'g' | 'G' | 'x' | 'X' => (verb, options.precision),
        'e' | 'E' | 'f' | 'F' => (verb, Some(options.precision.unwrap_or(6))),
        _ => return bad_verb(out, verb, &Value::Float(x), options, data),
    };
    let sign = if x.is_sign_negative() && !x.is_nan() {
        Some('-')
    } else if options.plus {
        Some('+')
    } else if options.space {
        Some(' ')
    } else {
        None
    };
    if !x.is_finite() {
        let body = if x.is_nan() { "NaN" } else { "Inf" };
        let sign = if x.is_nan() && !options.plus && !options.space {
            None
        } else {
            sign.or(Some('+'))
        };
        let text: String = sign.into_iter().chain(body.chars()).collect();
        pad_spaces(out, &text, options);
        return Ok(());
    }
    let mut body = match layout {
        'b' => format_float_binary(x.abs()),
        'x' | 'X' => format_float_hex(x.abs(), precision, layout == 'X'),
        _ => format_float(x.abs(), layout, precision),
    };
    if options.sharp && layout != 'b' {
        body = keep_decimal_point(&body, layout, precision);
    }
    match sign {
        Some(sign) => {
            let len = body.chars().count() + 1;
            match options.width {
                Some(w) if options.zero && !options.minus && w > len => {
                    out.push(sign);
                    write_padding(out, w - len, true);
                    out.push_str(&body);
                }
                _ => pad(out, &format!("{sign}{body}"), options),
            }
        }
        None => pad(out, &body, options),
    }
    Ok(())
}
