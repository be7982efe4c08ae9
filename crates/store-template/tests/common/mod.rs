//! Helpers shared by the integration tests: the data every template renders from, and
//! assertions on output and on parse or execution errors.
// Each test file uses only some of them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use store_template::{render, TemplateError};

pub fn data() -> BTreeMap<String, String> {
    [
        ("colour", "blue"),
        ("size", "10"),
        ("my key", "spaced"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn check(source: &str, want: &str) {
    assert_eq!(
        render(source, &data()),
        Ok(want.to_owned()),
        "template: {source:?}"
    );
}

pub fn check_with(source: &str, data: &BTreeMap<String, String>, want: &str) {
    assert_eq!(
        render(source, data),
        Ok(want.to_owned()),
        "template: {source:?}"
    );
}

pub fn parse_err(source: &str) -> String {
    match render(source, &data()) {
        Err(TemplateError::Parse(message)) => message,
        other => panic!("{source:?}: expected a parse error, got {other:?}"),
    }
}

pub fn exec_err(source: &str) -> String {
    match render(source, &data()) {
        Err(TemplateError::Execute(message)) => message,
        other => panic!("{source:?}: expected an execution error, got {other:?}"),
    }
}

pub fn parse_err_contains(source: &str, want: &str) {
    let message = parse_err(source);
    assert!(
        message.contains(want),
        "{source:?}: {message:?} lacks {want:?}"
    );
}

pub fn exec_err_contains(source: &str, want: &str) {
    let message = exec_err(source);
    assert!(
        message.contains(want),
        "{source:?}: {message:?} lacks {want:?}"
    );
}
