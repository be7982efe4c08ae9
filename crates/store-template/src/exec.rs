//! Runs a parse tree against the data, with `range` iterations and output bounded.

use crate::builtins::apply_func;
use crate::format::{format_value, VerbOptions};
use crate::tree::{argument_text, Argument, Command, Function, Node, Pipeline};
use crate::values::{truth, type_name, value_text, Data, Value};
use crate::{MAX_ITERATIONS, MAX_OUTPUT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// The iteration of a `range`.
pub(crate) enum RangeIter<'d> {
    Map(std::collections::btree_map::Iter<'d, String, String>),
    Int(std::ops::Range<i64>),
    Uint8(std::ops::Range<u8>),
}

impl Iterator for RangeIter<'_> {
    type Item = (Value, Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Map(it) => it
                .next()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone()))),
            Self::Int(it) => it.next().map(|i| (Value::Int(i), Value::Int(i))),
            Self::Uint8(it) => it.next().map(|b| (Value::Uint8(b), Value::Uint8(b))),
        }
    }
}

pub(crate) struct Execution<'d> {
    pub(crate) data: &'d Data,
    pub(crate) variables: Vec<(String, Value)>,
    pub(crate) out: String,
    pub(crate) line: usize,
    /// `range` iterations run so far, bounded by [`MAX_ITERATIONS`].
    pub(crate) iterations: u64,
}

impl<'d> Execution<'d> {
    /// A fresh execution over `data`, with `$` bound to the data.
    pub(crate) fn new(data: &'d Data) -> Self {
        Self {
            data,
            variables: vec![("$".to_owned(), Value::Map)],
            out: String::new(),
            line: 1,
            iterations: 0,
        }
    }

    /// The output written so far.
    pub(crate) fn into_output(self) -> String {
        self.out
    }

    pub(crate) fn fail<T>(&self, message: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("template: :{}: {message}", self.line))
    }

    pub(crate) fn walk_list(&mut self, list: &[Node], dot: &Value) -> Result<Flow, String> {
        for node in list {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.declarations.is_empty() {
                        if value == Value::Nil {
                            self.out.push_str("<no value>");
                        } else {
                            format_value(
                                &mut self.out,
                                &value,
                                'v',
                                &VerbOptions::default(),
                                self.data,
                            )
                            .or_else(|message| self.fail(message))?;
                        }
                    }
                    Flow::Normal
                }
                Node::Cond {
                    with,
                    branches,
                    else_list,
                } => self.walk_cond(*with, branches, else_list.as_deref(), dot)?,
                Node::Range {
                    pipe,
                    list,
                    else_list,
                } => self.walk_range(pipe, list, else_list.as_deref(), dot)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if self.out.len() > MAX_OUTPUT {
                return self.fail(format!("output exceeds {MAX_OUTPUT} bytes"));
            }
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    pub(crate) fn walk_cond(
        &mut self,
        with: bool,
        branches: &[(Pipeline, Vec<Node>)],
        else_list: Option<&[Node]>,
        dot: &Value,
    ) -> Result<Flow, String> {
        let mark = self.variables.len();
        let mut flow = None;
        for (pipe, list) in branches {
            let value = self.eval_pipeline(dot, pipe)?;
            if truth(&value, self.data) {
                let inner = if with { &value } else { dot };
                flow = Some(self.walk_list(list, inner)?);
                break;
            }
        }
        let flow = match (flow, else_list) {
            (Some(flow), _) => flow,
            (None, Some(list)) => self.walk_list(list, dot)?,
            (None, None) => Flow::Normal,
        };
        self.variables.truncate(mark);
        Ok(flow)
    }

    pub(crate) fn walk_range(
        &mut self,
        pipe: &Pipeline,
        list: &[Node],
        else_list: Option<&[Node]>,
        dot: &Value,
    ) -> Result<Flow, String> {
        let mark = self.variables.len();
        let value = self.eval_pipeline(dot, pipe)?;
        let iter_mark = self.variables.len();
        let data: &'d Data = self.data;
        let items = match &value {
            Value::Map => RangeIter::Map(data.iter()),
            Value::Int(n) => {
                if pipe.declarations.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                RangeIter::Int(0..*n)
            }
            Value::Uint8(n) => {
                if pipe.declarations.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                RangeIter::Uint8(0..*n)
            }
            Value::Nil => RangeIter::Int(0..0),
            other => {
                return self.fail(format!(
                    "range can't iterate over {}",
                    value_text(other, data)
                ))
            }
        };
        let mut ran = false;
        for (key, elem) in items {
            ran = true;
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return self.fail(format!("range ran more than {MAX_ITERATIONS} iterations"));
            }
            self.set_range_vars(pipe, key, elem.clone())?;
            let flow = self.walk_list(list, &elem)?;
            self.variables.truncate(iter_mark);
            if flow == Flow::Break {
                break;
            }
        }
        let flow = match else_list {
            Some(list) if !ran => self.walk_list(list, dot)?,
            _ => Flow::Normal,
        };
        self.variables.truncate(mark);
        Ok(flow)
    }

    pub(crate) fn set_range_vars(
        &mut self,
        pipe: &Pipeline,
        key: Value,
        elem: Value,
    ) -> Result<(), String> {
        match (pipe.declarations.as_slice(), pipe.is_assign) {
            ([], _) => {}
            ([v], true) => self.set_var(v, elem)?,
            ([k, v, ..], true) => {
                self.set_var(k, key)?;
                self.set_var(v, elem)?;
            }
            (declarations, false) => {
                self.set_top_var(1, elem);
                if declarations.len() > 1 {
                    self.set_top_var(2, key);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn set_top_var(&mut self, n: usize, value: Value) {
        let len = self.variables.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.variables.get_mut(i)) {
            slot.1 = value;
        }
    }

    pub(crate) fn set_var(&mut self, name: &str, value: Value) -> Result<(), String> {
        match self.variables.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    pub(crate) fn var_value(&self, name: &str) -> Result<Value, String> {
        match self.variables.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Ok(value.clone()),
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    pub(crate) fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipeline) -> Result<Value, String> {
        self.line = pipe.line;
        let mut value = None;
        for command in &pipe.commands {
            value = Some(self.eval_command(dot, command, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.declarations {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.variables.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    pub(crate) fn not_a_function(
        &self,
        first: &Argument,
        rest: &[Argument],
        final_value: Option<&Value>,
    ) -> Result<(), String> {
        if !rest.is_empty() || final_value.is_some() {
            return self.fail(format!(
                "can't give argument to non-function {}",
                argument_text(first)
            ));
        }
        Ok(())
    }

    pub(crate) fn eval_command(
        &mut self,
        dot: &Value,
        command: &Command,
        final_value: Option<Value>,
    ) -> Result<Value, String> {
        self.line = command.line;
        let Some((first, rest)) = command.args.split_first() else {
            return self.fail("empty command");
        };
        let has_args = !rest.is_empty() || final_value.is_some();
        match first {
            Argument::Field(fields) => self.eval_fields(dot.clone(), fields, has_args),
            Argument::Chain(pipe, fields) => {
                let receiver = self.eval_pipeline(dot, pipe)?;
                self.eval_fields(receiver, fields, has_args)
            }
            Argument::Var(name, fields) => {
                let value = self.var_value(name)?;
                if fields.is_empty() {
                    self.not_a_function(first, rest, final_value.as_ref())?;
                    Ok(value)
                } else {
                    self.eval_fields(value, fields, has_args)
                }
            }
            Argument::Function(f) => self.call_func(dot, *f, rest, final_value),
            Argument::Pipeline(pipe) => {
                self.not_a_function(first, rest, final_value.as_ref())?;
                self.eval_pipeline(dot, pipe)
            }
            Argument::Nil => self.fail("nil is not a command"),
            Argument::Dot
            | Argument::Bool(_)
            | Argument::Int(_)
            | Argument::Float(_)
            | Argument::Str(_) => {
                self.not_a_function(first, rest, final_value.as_ref())?;
                self.eval_arg(dot, first)
            }
        }
    }

    pub(crate) fn eval_arg(&mut self, dot: &Value, arg: &Argument) -> Result<Value, String> {
        match arg {
            Argument::Dot => Ok(dot.clone()),
            Argument::Nil => Ok(Value::Nil),
            Argument::Bool(b) => Ok(Value::Bool(*b)),
            Argument::Int(i) => Ok(Value::Int(*i)),
            Argument::Float(f) => Ok(Value::Float(*f)),
            Argument::Str(s) => Ok(Value::Str(s.clone())),
            Argument::Field(fields) => self.eval_fields(dot.clone(), fields, false),
            Argument::Var(name, fields) => {
                let value = self.var_value(name)?;
                self.eval_fields(value, fields, false)
            }
            Argument::Function(f) => self.call_func(dot, *f, &[], None),
            Argument::Pipeline(pipe) => self.eval_pipeline(dot, pipe),
            Argument::Chain(pipe, fields) => {
                let receiver = self.eval_pipeline(dot, pipe)?;
                self.eval_fields(receiver, fields, false)
            }
        }
    }

    /// Walks a chain of field names; `has_args` applies to the last one.
    pub(crate) fn eval_fields(
        &self,
        mut receiver: Value,
        fields: &[String],
        has_args: bool,
    ) -> Result<Value, String> {
        let count = fields.len();
        for (i, name) in fields.iter().enumerate() {
            receiver = match receiver {
                Value::Nil => Value::Nil,
                Value::Map => {
                    if has_args && i + 1 == count {
                        return self.fail(format!("{name} is not a method but has arguments"));
                    }
                    self.data
                        .get(name)
                        .map_or(Value::Nil, |v| Value::Str(v.clone()))
                }
                other => {
                    return self.fail(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(&other)
                    ))
                }
            };
        }
        Ok(receiver)
    }

    pub(crate) fn call_func(
        &mut self,
        dot: &Value,
        f: Function,
        args: &[Argument],
        final_value: Option<Value>,
    ) -> Result<Value, String> {
        let count = args.len() + usize::from(final_value.is_some());
        let (min, max) = f.arity();
        if count < min || max.is_some_and(|m| count != m) {
            let want = match max {
                Some(m) => m.to_string(),
                None => format!("at least {min}"),
            };
            return self.fail(format!(
                "wrong number of args for {}: want {want} got {count}",
                f.name()
            ));
        }
        if matches!(f, Function::And | Function::Or) {
            // These short-circuit: later arguments are not evaluated.
            let want = f == Function::Or;
            let mut last = Value::Nil;
            for arg in args {
                let value = self.eval_arg(dot, arg)?;
                if truth(&value, self.data) == want {
                    return Ok(value);
                }
                last = value;
            }
            return Ok(final_value.unwrap_or(last));
        }
        let mut values = Vec::with_capacity(count);
        for arg in args {
            values.push(self.eval_arg(dot, arg)?);
        }
        values.extend(final_value);
        let callee = args.first().map(argument_text);
        apply_func(f, &values, callee.as_deref(), self.data)
            .or_else(|message| self.fail(format!("error calling {}: {message}", f.name())))
    }
}
