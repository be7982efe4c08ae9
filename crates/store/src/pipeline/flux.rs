//! The subset of Flux that `query_journal` understands: a tokenizer and a
//! recursive-descent parser.
//!
//! The Go package picked `bucket`, `range` and `_measurement` out of the query with
//! regular expressions and silently ignored everything else, so a query with a filter it
//! did not understand returned rows the caller had asked to exclude. Here the whole query
//! is parsed, and anything outside the subset is an error that says what was not
//! understood and what is supported:
//!
//! ```text
//! query    = from { "|>" ( range | filter ) }            (at most one range)
//! from     = "from" "(" "bucket" ":" string ")"
//! range    = "range" "(" "start" ":" time [ "," "stop" ":" time ] ")"
//! filter   = "filter" "(" "fn" ":" "(" "r" ")" "=>" cmp { "and" cmp } ")"
//! cmp      = ref "==" literal
//! ref      = "r." ident | "r[" string "]"
//! literal  = string | integer | float | "true" | "false"
//! time     = duration | "now()" | rfc3339 | string | "time(v:" (rfc3339 | string) ")"
//! duration = ["-"] 1*( digits unit )   unit = ns us µs ms s m h d w
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::pipeline::calendar::parse_rfc3339;

/// Appended to every error, so the caller sees what would have worked.
const SUPPORTED: &str = "supported: from(bucket: \"name\") followed by \
    |> range(start: <time>[, stop: <time>]) (at most once) and \
    |> filter(fn: (r) => r.<name> == <literal> [and ...]); \
    a time is a duration such as -24h or -1h30m (units ns us µs ms s m h d w), now(), \
    an RFC 3339 time, a string holding one, or time(v: ...); \
    a literal is a string, a number, true or false; \
    r._measurement and r._bucket compare the point itself, any other name a tag or field";

const NANOS_PER_MILLI: i128 = 1_000_000;

/// A parsed query: which bucket, which time window, and which comparisons a point must
/// pass (all of them).
#[derive(Debug, PartialEq)]
pub(crate) struct FluxQuery {
    pub(crate) bucket: String,
    /// Inclusive lower bound on `committed_at`, in milliseconds.
    pub(crate) start_ms: Option<i64>,
    /// Exclusive upper bound on `committed_at`, in milliseconds.
    pub(crate) stop_ms: Option<i64>,
    comparisons: Vec<Comparison>,
}

#[derive(Debug, PartialEq)]
enum Reference {
    Measurement,
    Bucket,
    /// A tag or a field of that name.
    Column(String),
}

#[derive(Debug, PartialEq)]
enum Literal {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

#[derive(Debug, PartialEq)]
struct Comparison {
    reference: Reference,
    literal: Literal,
}

/// Why a query was refused: a form outside the subset, or text that is not Flux at all.
#[derive(Debug, PartialEq)]
pub(crate) struct FluxError {
    is_unsupported: bool,
    what: String,
    line: usize,
    column: usize,
}

impl fmt::Display for FluxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_unsupported {
            "unsupported Flux"
        } else {
            "parse Flux"
        };
        write!(
            formatter,
            "{kind}: {} at line {}, column {}; {SUPPORTED}",
            self.what, self.line, self.column
        )
    }
}

/// Parses `source`; relative times are taken from `now_ns` (Unix nanoseconds).
pub(crate) fn parse(source: &str, now_ns: i128) -> Result<FluxQuery, FluxError> {
    let tokens = tokenize(source)?;
    Parser {
        source,
        tokens,
        position: 0,
        now_ns,
    }
    .query()
}

impl FluxQuery {
    /// True when a point in `bucket` passes every comparison.
    pub(crate) fn matches(
        &self,
        bucket: &str,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &Map<String, Value>,
    ) -> bool {
        bucket == self.bucket
            && self
                .comparisons
                .iter()
                .all(|comparison| comparison.matches(bucket, measurement, fields, tags))
    }
}

impl Comparison {
    fn matches(
        &self,
        bucket: &str,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &Map<String, Value>,
    ) -> bool {
        match (&self.reference, &self.literal) {
            (Reference::Measurement, Literal::String(text)) => measurement == text,
            (Reference::Bucket, Literal::String(text)) => bucket == text,
            (Reference::Measurement | Reference::Bucket, _) => false,
            (Reference::Column(name), Literal::String(text)) => {
                tags.get(name).and_then(Value::as_str) == Some(text)
                    || fields.get(name).and_then(Value::as_str) == Some(text)
            }
            (Reference::Column(name), Literal::Boolean(flag)) => {
                fields.get(name).and_then(Value::as_bool) == Some(*flag)
            }
            (Reference::Column(name), Literal::Integer(integer)) => fields
                .get(name)
                .is_some_and(|value| number_equals(value, Some(*integer), as_f64(*integer))),
            (Reference::Column(name), Literal::Float(float)) => fields
                .get(name)
                .is_some_and(|value| number_equals(value, None, *float)),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // comparing with a float literal is inexact by nature
fn as_f64(integer: i64) -> f64 {
    integer as f64
}

/// A JSON number equal to the literal: exactly when both are integers, else as floats
/// (so `2` matches `2.0`).
fn number_equals(value: &Value, integer: Option<i64>, float: f64) -> bool {
    let Value::Number(number) = value else {
        return false;
    };
    if let (Some(stored), Some(integer)) = (number.as_i64(), integer) {
        return stored == integer;
    }
    #[allow(clippy::float_cmp)] // equality is what the query asks for
    number.as_f64().is_some_and(|stored| stored == float)
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Identifier(String),
    String(String),
    Integer(i64),
    Float(f64),
    /// A duration without its sign, e.g. `1h30m`.
    Duration(String),
    /// A bare RFC 3339 time.
    Time(String),
    Pipe,
    Arrow,
    Equal,
    LeftParen,
    RightParen,
    LeftBracket,
    RightBracket,
    Colon,
    Comma,
    Dot,
    Minus,
    /// Any other operator or bracket (`!=`, `<`, `+`, `{`, …): valid Flux, never
    /// supported here.
    Other(String),
    End,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Identifier(name) => format!("`{name}`"),
            TokenKind::String(text) => format!("string {text:?}"),
            TokenKind::Integer(integer) => format!("number {integer}"),
            TokenKind::Float(float) => format!("number {float}"),
            TokenKind::Duration(text) => format!("duration {text}"),
            TokenKind::Time(text) => format!("time {text}"),
            TokenKind::Pipe => "`|>`".to_owned(),
            TokenKind::Arrow => "`=>`".to_owned(),
            TokenKind::Equal => "`==`".to_owned(),
            TokenKind::LeftParen => "`(`".to_owned(),
            TokenKind::RightParen => "`)`".to_owned(),
            TokenKind::LeftBracket => "`[`".to_owned(),
            TokenKind::RightBracket => "`]`".to_owned(),
            TokenKind::Colon => "`:`".to_owned(),
            TokenKind::Comma => "`,`".to_owned(),
            TokenKind::Dot => "`.`".to_owned(),
            TokenKind::Minus => "`-`".to_owned(),
            TokenKind::Other(text) => format!("`{text}`"),
            TokenKind::End => "the end of the query".to_owned(),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    /// Byte offset in the source, for line and column in errors.
    offset: usize,
}

/// Line and column (both from 1, columns in characters) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |text| text.chars().count())
        + 1;
    (line, column)
}

fn error_at(source: &str, offset: usize, is_unsupported: bool, what: String) -> FluxError {
    let (line, column) = line_column(source, offset);
    FluxError {
        is_unsupported,
        what,
        line,
        column,
    }
}

/// Operators that are Flux but not part of the subset, longest first.
const OTHER_OPERATORS: &[&str] = &[
    "!=", "<=", ">=", "=~", "!~", "<-", "<", ">", "+", "*", "/", "%", "^", "=", "{", "}", "?", "!",
];

fn tokenize(source: &str) -> Result<Vec<Token>, FluxError> {
    let mut tokens = Vec::new();
    let mut rest = source;
    loop {
        let trimmed = rest.trim_start();
        if let Some(comment) = trimmed.strip_prefix("//") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        rest = trimmed;
        let offset = source.len() - rest.len();
        let Some(first) = rest.chars().next() else {
            tokens.push(Token {
                kind: TokenKind::End,
                offset,
            });
            return Ok(tokens);
        };
        let (kind, length) = if first.is_ascii_digit() {
            number_like(source, offset)?
        } else if first.is_ascii_alphabetic() || first == '_' {
            let length = rest
                .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
                .unwrap_or(rest.len());
            (TokenKind::Identifier(rest[..length].to_owned()), length)
        } else if first == '"' {
            string_literal(source, offset)?
        } else {
            punctuation(source, offset)?
        };
        tokens.push(Token { kind, offset });
        rest = &rest[length..];
    }
}

fn punctuation(source: &str, offset: usize) -> Result<(TokenKind, usize), FluxError> {
    let rest = &source[offset..];
    for (text, kind) in [
        ("|>", TokenKind::Pipe),
        ("=>", TokenKind::Arrow),
        ("==", TokenKind::Equal),
        ("(", TokenKind::LeftParen),
        (")", TokenKind::RightParen),
        ("[", TokenKind::LeftBracket),
        ("]", TokenKind::RightBracket),
        (":", TokenKind::Colon),
        (",", TokenKind::Comma),
        (".", TokenKind::Dot),
        ("-", TokenKind::Minus),
    ] {
        if rest.starts_with(text) {
            return Ok((kind, text.len()));
        }
    }
    if let Some(operator) = OTHER_OPERATORS
        .iter()
        .find(|operator| rest.starts_with(**operator))
    {
        return Ok((TokenKind::Other((*operator).to_owned()), operator.len()));
    }
    let character = rest.chars().next().unwrap_or_default();
    Err(error_at(
        source,
        offset,
        false,
        format!("unexpected character {character:?}"),
    ))
}

/// A number, a duration (`1h30m`) or a bare RFC 3339 time (`2024-01-31T00:00:00Z`).
fn number_like(source: &str, offset: usize) -> Result<(TokenKind, usize), FluxError> {
    let rest = &source[offset..];
    let bytes = rest.as_bytes();
    let leading_digits = bytes
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if leading_digits == 4 && bytes.get(4) == Some(&b'-') {
        let length = rest
            .find(|character: char| {
                !(character.is_ascii_alphanumeric() || matches!(character, ':' | '.' | '+' | '-'))
            })
            .unwrap_or(rest.len());
        return Ok((TokenKind::Time(rest[..length].to_owned()), length));
    }
    let after_digits = &rest[leading_digits..];
    if after_digits.starts_with(|character: char| character.is_alphabetic()) {
        return duration_literal(source, offset);
    }
    let fraction = after_digits
        .strip_prefix('.')
        .map(|after| after.bytes().take_while(u8::is_ascii_digit).count())
        .filter(|count| *count > 0);
    let length = fraction.map_or(leading_digits, |digits| leading_digits + 1 + digits);
    let text = &rest[..length];
    // An integer too large for i64 is still a number: read it as a float.
    let kind = match text.parse::<i64>() {
        Ok(integer) if fraction.is_none() => Ok(TokenKind::Integer(integer)),
        _ => text.parse::<f64>().map(TokenKind::Float),
    };
    let kind =
        kind.map_err(|_| error_at(source, offset, false, format!("cannot parse number {text}")))?;
    Ok((kind, length))
}

/// `1*( digits unit )`: the text is kept and its units checked when the value is needed.
fn duration_literal(source: &str, offset: usize) -> Result<(TokenKind, usize), FluxError> {
    let rest = &source[offset..];
    let mut length = 0;
    loop {
        let digits = rest[length..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            break;
        }
        let unit = rest[length + digits..]
            .find(|character: char| !character.is_alphabetic())
            .unwrap_or(rest.len() - length - digits);
        if unit == 0 {
            return Err(error_at(
                source,
                offset,
                false,
                format!(
                    "cannot parse duration {}: a number without a unit",
                    &rest[..length + digits]
                ),
            ));
        }
        length += digits + unit;
    }
    Ok((TokenKind::Duration(rest[..length].to_owned()), length))
}

fn string_literal(source: &str, offset: usize) -> Result<(TokenKind, usize), FluxError> {
    let rest = &source[offset + 1..];
    let mut text = String::new();
    let mut characters = rest.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '"' => return Ok((TokenKind::String(text), index + 2)),
            '\\' => match characters.next() {
                Some((_, '"')) => text.push('"'),
                Some((_, '\\')) => text.push('\\'),
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                Some((escape_index, escape)) => {
                    return Err(error_at(
                        source,
                        offset + 1 + escape_index,
                        true,
                        format!("string escape \\{escape} (use \\\" \\\\ \\n \\t)"),
                    ))
                }
                None => break,
            },
            other => text.push(other),
        }
    }
    Err(error_at(
        source,
        offset,
        false,
        "unterminated string".to_owned(),
    ))
}

/// Nanoseconds per unit; `None` for a unit outside the subset.
fn unit_nanos(unit: &str) -> Option<i128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        _ => return None,
    })
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    position: usize,
    now_ns: i128,
}

impl Parser<'_> {
    fn peek(&self) -> &TokenKind {
        self.tokens
            .get(self.position)
            .map_or(&TokenKind::End, |token| &token.kind)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.position)
            .or_else(|| self.tokens.last())
            .map_or(0, |token| token.offset)
    }

    fn advance(&mut self) -> TokenKind {
        let kind = self.peek().clone();
        if self.position < self.tokens.len() {
            self.position += 1;
        }
        kind
    }

    fn parse_error(&self, what: String) -> FluxError {
        error_at(self.source, self.offset(), false, what)
    }

    fn unsupported(&self, what: String) -> FluxError {
        error_at(self.source, self.offset(), true, what)
    }

    /// An unexpected token: Flux the subset lacks when it is an operator or bracket of
    /// Flux, otherwise malformed text.
    fn unexpected(&self, expected: &str) -> FluxError {
        let found = self.peek();
        let what = format!("expected {expected}, found {}", found.describe());
        match found {
            TokenKind::Other(_) => self.unsupported(what),
            _ => self.parse_error(what),
        }
    }

    fn expect(&mut self, kind: &TokenKind, expected: &str) -> Result<(), FluxError> {
        if self.peek() == kind {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// The next token's content if `extract` accepts it.
    fn take<T>(
        &mut self,
        expected: &str,
        extract: impl FnOnce(&TokenKind) -> Option<T>,
    ) -> Result<T, FluxError> {
        match extract(self.peek()) {
            Some(value) => {
                self.advance();
                Ok(value)
            }
            None => Err(self.unexpected(expected)),
        }
    }

    /// The next token if it is an identifier.
    fn take_identifier(&mut self, expected: &str) -> Result<String, FluxError> {
        self.take(expected, |kind| match kind {
            TokenKind::Identifier(name) => Some(name.clone()),
            _ => None,
        })
    }

    /// The next token if it is a string literal.
    fn take_string(&mut self, expected: &str) -> Result<String, FluxError> {
        self.take(expected, |kind| match kind {
            TokenKind::String(text) => Some(text.clone()),
            _ => None,
        })
    }

    fn expect_identifier(&mut self, name: &str) -> Result<(), FluxError> {
        match self.peek() {
            TokenKind::Identifier(found) if found == name => {
                self.advance();
                Ok(())
            }
            TokenKind::Identifier(found) => {
                Err(self.unsupported(format!("`{found}` where `{name}` was expected")))
            }
            _ => Err(self.unexpected(&format!("`{name}`"))),
        }
    }

    fn query(mut self) -> Result<FluxQuery, FluxError> {
        match self.peek() {
            TokenKind::Identifier(name) if name == "from" => {}
            TokenKind::Identifier(name) => {
                return Err(self.unsupported(format!(
                    "a query starting with `{name}` (a query starts with from(bucket: ...))"
                )))
            }
            _ => return Err(self.unexpected("from(bucket: \"name\")")),
        }
        let bucket = self.from()?;
        let mut query = FluxQuery {
            bucket,
            start_ms: None,
            stop_ms: None,
            comparisons: Vec::new(),
        };
        let mut has_range = false;
        while self.peek() != &TokenKind::End {
            self.expect(&TokenKind::Pipe, "`|>`")?;
            let name = self.take_identifier("range(...) or filter(...)")?;
            match name.as_str() {
                "range" if has_range => {
                    self.position -= 1;
                    return Err(self.unsupported("a second range()".to_owned()));
                }
                "range" => {
                    has_range = true;
                    let (start, stop) = self.range()?;
                    query.start_ms = Some(start);
                    query.stop_ms = stop;
                }
                "filter" => {
                    let comparisons = self.filter()?;
                    query.comparisons.extend(comparisons);
                }
                other => {
                    self.position -= 1;
                    return Err(self.unsupported(format!("function {other}()")));
                }
            }
        }
        Ok(query)
    }

    fn from(&mut self) -> Result<String, FluxError> {
        self.expect_identifier("from")?;
        self.expect(&TokenKind::LeftParen, "`(`")?;
        self.argument_name("bucket")?;
        let bucket = self.take_string("a bucket name in double quotes")?;
        self.expect(&TokenKind::RightParen, "`)`")?;
        Ok(bucket)
    }

    /// `name:`; another argument name is unsupported.
    fn argument_name(&mut self, name: &str) -> Result<(), FluxError> {
        match self.peek() {
            TokenKind::Identifier(found) if found == name => {}
            TokenKind::Identifier(found) => {
                return Err(self.unsupported(format!("argument `{found}` (expected `{name}`)")))
            }
            _ => return Err(self.unexpected(&format!("`{name}:`"))),
        }
        self.advance();
        self.expect(&TokenKind::Colon, "`:`")
    }

    fn range(&mut self) -> Result<(i64, Option<i64>), FluxError> {
        self.expect(&TokenKind::LeftParen, "`(`")?;
        self.argument_name("start")?;
        let start = self.time()?;
        let mut stop = None;
        if self.peek() == &TokenKind::Comma {
            self.advance();
            self.argument_name("stop")?;
            stop = Some(self.time()?);
        }
        self.expect(&TokenKind::RightParen, "`)` or `, stop: <time>`")?;
        Ok((to_bound_ms(start), stop.map(to_bound_ms)))
    }

    /// A time in Unix nanoseconds.
    fn time(&mut self) -> Result<i128, FluxError> {
        let offset = self.offset();
        if let TokenKind::Duration(text) = self.peek() {
            let nanos = self.duration_nanos(&text.clone())?;
            self.advance();
            return Ok(self.now_ns + nanos);
        }
        match self.advance() {
            TokenKind::Minus => {
                let TokenKind::Duration(text) = self.peek() else {
                    return Err(self.unexpected("a duration such as 24h after `-`"));
                };
                let nanos = self.duration_nanos(&text.clone())?;
                self.advance();
                Ok(self.now_ns - nanos)
            }
            TokenKind::Time(text) | TokenKind::String(text) => {
                parse_rfc3339(&text).ok_or_else(|| {
                    error_at(
                        self.source,
                        offset,
                        false,
                        format!("cannot parse time {text:?} as RFC 3339"),
                    )
                })
            }
            TokenKind::Identifier(name) if name == "now" => {
                self.expect(&TokenKind::LeftParen, "`(`")?;
                self.expect(&TokenKind::RightParen, "`)`")?;
                Ok(self.now_ns)
            }
            TokenKind::Identifier(name) if name == "time" => {
                self.expect(&TokenKind::LeftParen, "`(`")?;
                self.argument_name("v")?;
                let value = match self.peek() {
                    TokenKind::Time(_) | TokenKind::String(_) => self.time()?,
                    _ => return Err(self.unexpected("an RFC 3339 time")),
                };
                self.expect(&TokenKind::RightParen, "`)`")?;
                Ok(value)
            }
            TokenKind::Identifier(name) => {
                self.position -= 1;
                Err(self.unsupported(format!("time value `{name}`")))
            }
            _ => {
                self.position -= 1;
                Err(self.unexpected("a time: -24h, now(), or an RFC 3339 time"))
            }
        }
    }

    fn duration_nanos(&self, text: &str) -> Result<i128, FluxError> {
        let mut total: i128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let unit_length = rest[digits..]
                .find(|character: char| character.is_ascii_digit())
                .unwrap_or(rest.len() - digits);
            let unit = &rest[digits..digits + unit_length];
            let Some(per_unit) = unit_nanos(unit) else {
                let what = if matches!(unit, "mo" | "y") {
                    format!("calendar unit `{unit}` in duration {text}")
                } else {
                    format!("duration unit `{unit}` in {text}")
                };
                return Err(self.unsupported(what));
            };
            let amount = rest[..digits].parse::<i128>().ok();
            total = amount
                .and_then(|amount| amount.checked_mul(per_unit))
                .and_then(|nanos| total.checked_add(nanos))
                .ok_or_else(|| {
                    self.parse_error(format!("cannot parse duration {text}: too long"))
                })?;
            rest = &rest[digits + unit_length..];
        }
        Ok(total)
    }

    fn filter(&mut self) -> Result<Vec<Comparison>, FluxError> {
        self.expect(&TokenKind::LeftParen, "`(`")?;
        self.argument_name("fn")?;
        self.expect(&TokenKind::LeftParen, "`(r)`")?;
        let parameter = self.take_identifier("the parameter name `r`")?;
        self.expect(&TokenKind::RightParen, "`)`")?;
        self.expect(&TokenKind::Arrow, "`=>`")?;
        let mut comparisons = vec![self.comparison(&parameter)?];
        loop {
            match self.peek() {
                TokenKind::Identifier(word) if word == "and" => {
                    self.advance();
                    comparisons.push(self.comparison(&parameter)?);
                }
                TokenKind::Identifier(word) if word == "or" => {
                    return Err(self.unsupported("`or` (only `and` joins comparisons)".to_owned()))
                }
                TokenKind::RightParen => {
                    self.advance();
                    return Ok(comparisons);
                }
                _ => return Err(self.unexpected("`and` or `)`")),
            }
        }
    }

    fn comparison(&mut self, parameter: &str) -> Result<Comparison, FluxError> {
        let reference = self.reference(parameter)?;
        match self.peek() {
            TokenKind::Equal => {
                self.advance();
            }
            TokenKind::Other(operator) => {
                return Err(self.unsupported(format!("operator `{operator}` (only `==`)")))
            }
            _ => return Err(self.unexpected("`==`")),
        }
        let literal = self.literal()?;
        Ok(Comparison { reference, literal })
    }

    fn reference(&mut self, parameter: &str) -> Result<Reference, FluxError> {
        match self.peek() {
            TokenKind::Identifier(name) if name == parameter => {}
            TokenKind::Identifier(name) => {
                return Err(self.unsupported(format!(
                    "expression `{name}` (a comparison starts with {parameter}.<name>)"
                )))
            }
            _ => return Err(self.unexpected(&format!("{parameter}.<name>"))),
        }
        self.advance();
        let offset = self.offset();
        let name = match self.advance() {
            TokenKind::Dot => self.take_identifier("a column name after `.`")?,
            TokenKind::LeftBracket => {
                let name = self.take_string("a column name in double quotes")?;
                self.expect(&TokenKind::RightBracket, "`]`")?;
                name
            }
            _ => {
                self.position -= 1;
                return Err(self.unexpected(&format!("`.` or `[` after `{parameter}`")));
            }
        };
        match name.as_str() {
            "_measurement" | "measurement" => Ok(Reference::Measurement),
            "_bucket" | "bucket" | "bucket_name" => Ok(Reference::Bucket),
            "_field" | "_value" | "_time" | "_start" | "_stop" => Err(error_at(
                self.source,
                offset,
                true,
                format!("column `{name}` (compare _measurement, _bucket, tags or fields by name)"),
            )),
            _ => Ok(Reference::Column(name)),
        }
    }

    fn literal(&mut self) -> Result<Literal, FluxError> {
        match self.advance() {
            TokenKind::String(text) => Ok(Literal::String(text)),
            TokenKind::Integer(integer) => Ok(Literal::Integer(integer)),
            TokenKind::Float(float) => Ok(Literal::Float(float)),
            TokenKind::Identifier(word) if word == "true" => Ok(Literal::Boolean(true)),
            TokenKind::Identifier(word) if word == "false" => Ok(Literal::Boolean(false)),
            TokenKind::Minus => match self.advance() {
                TokenKind::Integer(integer) => Ok(Literal::Integer(-integer)),
                TokenKind::Float(float) => Ok(Literal::Float(-float)),
                _ => {
                    self.position -= 1;
                    Err(self.unexpected("a number after `-`"))
                }
            },
            TokenKind::Identifier(word) => {
                self.position -= 1;
                Err(self.unsupported(format!(
                    "value `{word}` (compare with a string, a number, true or false)"
                )))
            }
            _ => {
                self.position -= 1;
                Err(self.unexpected("a string, a number, true or false"))
            }
        }
    }
}

/// Milliseconds `t` such that `committed_at >= t` ⇔ `committed_at` (ms) is at or after
/// the nanosecond time: a ceiling division, saturating.
fn to_bound_ms(nanos: i128) -> i64 {
    let millis =
        nanos.div_euclid(NANOS_PER_MILLI) + i128::from(nanos.rem_euclid(NANOS_PER_MILLI) != 0);
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_NS: i128 = 1_700_000_000_000 * NANOS_PER_MILLI;

    fn parsed(source: &str) -> FluxQuery {
        parse(source, NOW_NS).unwrap_or_else(|error| panic!("{source}: {error}"))
    }

    fn refused(source: &str) -> String {
        match parse(source, NOW_NS) {
            Ok(query) => panic!("{source} parsed as {query:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn parse_good_from_range_filter() {
        let query = parsed(
            r#"from(bucket: "events")
                // the last day
                |> range(start: -1d, stop: now())
                |> filter(fn: (r) => r._measurement == "login" and r["user"] == "ada" and r.n == -2)"#,
        );
        assert_eq!(query.bucket, "events");
        assert_eq!(query.start_ms, Some(1_700_000_000_000 - 86_400_000));
        assert_eq!(query.stop_ms, Some(1_700_000_000_000));
        assert_eq!(
            query.comparisons,
            vec![
                Comparison {
                    reference: Reference::Measurement,
                    literal: Literal::String("login".into())
                },
                Comparison {
                    reference: Reference::Column("user".into()),
                    literal: Literal::String("ada".into())
                },
                Comparison {
                    reference: Reference::Column("n".into()),
                    literal: Literal::Integer(-2)
                },
            ]
        );
    }

    #[test]
    fn parse_good_time_forms() {
        let start =
            |time: &str| parsed(&format!("from(bucket:\"b\")|>range(start:{time})")).start_ms;
        assert_eq!(start("-1h30m"), Some(1_700_000_000_000 - 5_400_000));
        assert_eq!(start("2w"), Some(1_700_000_000_000 + 1_209_600_000));
        assert_eq!(start("-1500us"), Some(1_700_000_000_000 - 1));
        assert_eq!(start("-1µs"), Some(1_700_000_000_000));
        assert_eq!(start("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(start("\"1970-01-01T00:00:01.0005Z\""), Some(1_001));
        assert_eq!(start("time(v: 1970-01-01T01:00:00+01:00)"), Some(0));
        assert_eq!(start("time(v: \"1970-01-01T00:00:00Z\")"), Some(0));
        assert_eq!(start("now()"), Some(1_700_000_000_000));
    }

    #[test]
    fn parse_bad_unsupported_forms_are_named() {
        for (source, named) in [
            ("from(bucket:\"b\") |> limit(n: 1)", "function limit()"),
            (
                "from(bucket:\"b\") |> filter(fn: (r) => r.a == \"x\" or r.b == \"y\")",
                "`or`",
            ),
            (
                "from(bucket:\"b\") |> filter(fn: (r) => r.a != \"x\")",
                "operator `!=`",
            ),
            (
                "from(bucket:\"b\") |> filter(fn: (r) => r.a < 1)",
                "operator `<`",
            ),
            (
                "from(bucket:\"b\") |> filter(fn: (r) => r._value == 1)",
                "column `_value`",
            ),
            (
                "from(bucket:\"b\") |> filter(fn: (r) => r._field == \"x\")",
                "column `_field`",
            ),
            (
                "from(bucket:\"b\") |> range(start: -1mo)",
                "calendar unit `mo`",
            ),
            (
                "from(bucket:\"b\") |> range(start: -1y)",
                "calendar unit `y`",
            ),
            (
                "from(bucket:\"b\") |> range(start: -1h) |> range(start: -2h)",
                "a second range()",
            ),
            ("from(bucket:\"b\") |> group()", "function group()"),
            (
                "from(bucket:\"b\") |> yield(name: \"x\")",
                "function yield()",
            ),
            ("buckets()", "a query starting with `buckets`"),
            ("from(host: \"x\")", "argument `host`"),
        ] {
            let message = refused(source);
            assert!(
                message.starts_with("unsupported Flux: "),
                "{source}: {message}"
            );
            assert!(message.contains(named), "{source}: {message}");
            assert!(message.contains("supported: from(bucket:"), "{message}");
        }
    }

    #[test]
    fn parse_bad_malformed_text_is_a_parse_error() {
        for source in [
            "from(bucket: \"b\"",
            "from(bucket: \"b) ",
            "from(bucket: \"b\") |> range(start: 2024-13-01T00:00:00Z)",
            "from(bucket: \"b\") |> range(start: \"yesterday\")",
            "from(bucket: \"b\") |> range(start: -1h30)",
            "from(bucket: \"b\") range(start: -1h)",
            "from(bucket: \"b\") |> filter(fn: (r) => r.a == )",
            "from(bucket: \"b\") # comment",
        ] {
            let message = refused(source);
            assert!(message.starts_with("parse Flux: "), "{source}: {message}");
        }
        assert!(refused("from(bucket: \"b\") |> range(start: \"x\")").contains("line 1, column 35"));
    }

    #[test]
    fn matches_good_tags_fields_numbers_booleans() {
        let query = parsed(
            r#"from(bucket: "b") |> filter(fn: (r) => r.host == "a" and r.n == 2 and r.ok == true and r.x == 1.5)"#,
        );
        let fields = serde_json::json!({"n": 2.0, "ok": true, "x": 1.5});
        let tags = serde_json::json!({"host": "a"});
        let (Value::Object(fields), Value::Object(tags)) = (fields, tags) else {
            panic!("objects")
        };
        assert!(query.matches("b", "m", &fields, &tags));
        assert!(!query.matches("other", "m", &fields, &tags));
        let mut wrong = fields.clone();
        wrong.insert("n".into(), Value::from(3));
        assert!(!query.matches("b", "m", &wrong, &tags));
        let mut text = fields;
        text.insert("n".into(), Value::from("2"));
        assert!(
            !query.matches("b", "m", &text, &tags),
            "a string is not a number"
        );
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text() {
        let pieces = [
            "from",
            "(",
            ")",
            "bucket",
            ":",
            "\"b\"",
            "|>",
            "range",
            "filter",
            "start",
            "stop",
            "-",
            "1h",
            "30m",
            "µs",
            "2024-01-01T00:00:00Z",
            "now",
            "time",
            "v",
            "fn",
            "r",
            "=>",
            ".",
            "[",
            "]",
            "==",
            "and",
            "or",
            "!=",
            "1.5",
            "7",
            "true",
            "\"",
            "\\",
            "//",
            "\n",
            " ",
            "é",
            "日本",
            ",",
            "{",
            "#",
            "9999999999999999999999",
            "1e",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut source = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = state % 24;
            for _ in 0..length {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let index = usize::try_from(state % pieces.len() as u64).unwrap_or(0);
                source.push_str(pieces[index]);
            }
            // Either outcome is fine; reaching the next iteration means no panic.
            let _ = parse(&source, NOW_NS);
        }
    }

    #[test]
    fn to_bound_ms_rounds_up() {
        assert_eq!(to_bound_ms(0), 0);
        assert_eq!(to_bound_ms(1), 1);
        assert_eq!(to_bound_ms(-1), 0);
        assert_eq!(to_bound_ms(-1_000_001), -1);
        assert_eq!(to_bound_ms(i128::MAX), i64::MAX);
    }
}
