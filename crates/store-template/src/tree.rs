//! The parse tree: nodes, pipelines, commands and their arguments.

use crate::float::format_float;
use crate::lexer::{Keyword, Token};
use crate::quote::go_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    And,
    Call,
    Eq,
    Ge,
    Gt,
    Html,
    Index,
    Js,
    Le,
    Len,
    Lt,
    Ne,
    Not,
    Or,
    Print,
    Printf,
    Println,
    Slice,
    Urlquery,
}

impl Function {
    pub(crate) const ALL: [Self; 19] = [
        Self::And,
        Self::Call,
        Self::Eq,
        Self::Ge,
        Self::Gt,
        Self::Html,
        Self::Index,
        Self::Js,
        Self::Le,
        Self::Len,
        Self::Lt,
        Self::Ne,
        Self::Not,
        Self::Or,
        Self::Print,
        Self::Printf,
        Self::Println,
        Self::Slice,
        Self::Urlquery,
    ];

    pub(crate) fn lookup(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::And => "and",
            Self::Call => "call",
            Self::Eq => "eq",
            Self::Ge => "ge",
            Self::Gt => "gt",
            Self::Html => "html",
            Self::Index => "index",
            Self::Js => "js",
            Self::Le => "le",
            Self::Len => "len",
            Self::Lt => "lt",
            Self::Ne => "ne",
            Self::Not => "not",
            Self::Or => "or",
            Self::Print => "print",
            Self::Printf => "printf",
            Self::Println => "println",
            Self::Slice => "slice",
            Self::Urlquery => "urlquery",
        }
    }

    /// The minimum and (if fixed) maximum number of arguments.
    pub(crate) fn arity(self) -> (usize, Option<usize>) {
        match self {
            Self::And
            | Self::Or
            | Self::Call
            | Self::Eq
            | Self::Index
            | Self::Slice
            | Self::Printf => (1, None),
            Self::Not | Self::Len => (1, Some(1)),
            Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge => (2, Some(2)),
            Self::Print | Self::Println | Self::Html | Self::Js | Self::Urlquery => (0, None),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Argument {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.a.b`: field names without dots.
    Field(Vec<String>),
    /// `$x.a.b`: the variable name (with `$`) and field names.
    Var(String, Vec<String>),
    Function(Function),
    Pipeline(Box<Pipeline>),
    /// `(pipeline).a.b`.
    Chain(Box<Pipeline>, Vec<String>),
}

#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) line: usize,
    pub(crate) args: Vec<Argument>,
}

#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) line: usize,
    pub(crate) declarations: Vec<String>,
    pub(crate) is_assign: bool,
    pub(crate) commands: Vec<Command>,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
    /// `if` or `with`, with any `else if`/`else with` branches flattened.
    Cond {
        with: bool,
        branches: Vec<(Pipeline, Vec<Node>)>,
        else_list: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipeline,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    },
    Break,
    Continue,
}

/// How a list of nodes ended.
pub(crate) enum Stop {
    Eof(usize),
    End(usize),
    /// `{{else}}`, possibly followed by `if` or `with`.
    Else(usize, Option<Keyword>),
}

/// What an action parsed to.
pub(crate) enum Parsed {
    Node(Node),
    End(usize),
    Else(usize, Option<Keyword>),
}

/// Renders a field chain such as `.a.b`.
pub(crate) fn fields_text(fields: &[String]) -> String {
    fields.iter().fold(String::new(), |mut acc, f| {
        acc.push('.');
        acc.push_str(f);
        acc
    })
}

/// A short source-like rendering of an argument, for error messages.
pub(crate) fn argument_text(arg: &Argument) -> String {
    match arg {
        Argument::Dot => ".".to_owned(),
        Argument::Nil => "nil".to_owned(),
        Argument::Bool(b) => b.to_string(),
        Argument::Int(i) => i.to_string(),
        Argument::Float(f) => format_float(*f, 'g', None),
        Argument::Str(s) => go_quote(s),
        Argument::Field(fields) => fields_text(fields),
        Argument::Var(name, fields) => format!("{name}{}", fields_text(fields)),
        Argument::Function(f) => f.name().to_owned(),
        Argument::Pipeline(_) => "(...)".to_owned(),
        Argument::Chain(_, fields) => format!("(...){}", fields_text(fields)),
    }
}

/// Describes a token for "unexpected" errors, like Go's item formatting.
pub(crate) fn describe(token: &Token) -> String {
    let quoted = |s: &str| {
        if s.chars().count() > 10 {
            let head: String = s.chars().take(10).collect();
            format!("{}...", go_quote(&head))
        } else {
            go_quote(s)
        }
    };
    match token {
        Token::Eof => "EOF".to_owned(),
        Token::Error(message) => message.clone(),
        Token::Keyword(k) => format!("<{}>", k.name()),
        Token::Text(s)
        | Token::Ident(s)
        | Token::Number(s)
        | Token::CharConst(s)
        | Token::Variable(s) => quoted(s),
        Token::Str(s) => quoted(&go_quote(s)),
        Token::Field(s) => quoted(&format!(".{s}")),
        Token::Bool(b) => quoted(&b.to_string()),
        Token::Char(c) => quoted(&c.to_string()),
        Token::LeftDelim => quoted("{{"),
        Token::RightDelim => quoted("}}"),
        Token::Space => quoted(" "),
        Token::Nil => "<nil>".to_owned(),
        Token::Dot => quoted("."),
        Token::LeftParen => quoted("("),
        Token::RightParen => quoted(")"),
        Token::Pipe => quoted("|"),
        Token::Assign => quoted("="),
        Token::Declare => quoted(":="),
    }
}
