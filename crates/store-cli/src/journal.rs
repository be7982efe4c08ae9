//! The journal, workspace, compact and archive commands.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::failure::Failure;
use crate::output::Output;
use crate::{progress, ArchiveCommand, JournalCommand, WorkspaceCommand};

/// Parses `KEY=VALUE` (split at the first `=`; the key must not be empty).
pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// A field value: JSON when it is JSON (`3`, `1.5`, `true`, `"quoted"`, `{..}`), else text.
fn field_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

pub(crate) fn journal(
    store: &store::Store,
    output: &mut Output,
    command: JournalCommand,
) -> Result<(), Failure> {
    match command {
        JournalCommand::Commit {
            measurement,
            fields,
            tags,
        } => {
            let fields: Map<String, Value> = fields
                .into_iter()
                .map(|(key, value)| (key, field_value(&value)))
                .collect();
            let tags: BTreeMap<String, String> = tags.into_iter().collect();
            let entry = store.commit_to_journal(&measurement, &fields, &tags)?;
            let plain = format!(
                "committed {} to bucket {} at {}",
                entry.measurement, entry.bucket, entry.committed_at
            );
            output.line(&plain, &entry)?;
        }
        JournalCommand::Flush => {
            let shipped = store.flush_journal()?;
            output.line(&shipped.to_string(), &json!(shipped))?;
        }
        JournalCommand::Query { query } => {
            if output.is_json() && !store::is_sql_query(&query) {
                // Points (empty and Flux queries): an array of objects, one per point.
                output.json_line(&store.query_journal(&query)?)?;
            } else {
                let table = store.query_journal_table(&query)?;
                if output.is_json() {
                    // SQL keeps the statement's columns, in order, repeated names included,
                    // which a JSON object cannot.
                    output.json_line(&table)?;
                } else {
                    print_table(output, &table)?;
                }
            }
        }
    }
    Ok(())
}

/// A table as a header line of its column names, in order, then one tab-separated line
/// per row; nothing at all when there are no rows.
fn print_table(output: &mut Output, table: &store::Table) -> Result<(), Failure> {
    if table.rows.is_empty() {
        return Ok(());
    }
    output.line(&table.columns.join("\t"), &Value::Null)?;
    for row in &table.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|value| match value {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect();
        output.line(&cells.join("\t"), &Value::Null)?;
    }
    Ok(())
}

fn aggregate_text(aggregate: &BTreeMap<String, u64>) -> String {
    aggregate
        .iter()
        .map(|(kind, count)| format!("{kind}\t{count}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The waiting workspace called `name`, closing every other one found.
fn waiting_workspace(store: &store::Store, name: &str) -> Result<store::Workspace, Failure> {
    let mut found = None;
    for workspace in store.recover_orphans(None)? {
        if workspace.name() == name {
            found = Some(workspace);
        } else {
            workspace.close()?;
        }
    }
    found.ok_or_else(|| {
        Failure::not_found(format!(
            "store workspace: no waiting workspace named {name:?}"
        ))
    })
}

pub(crate) fn workspace(
    store: &store::Store,
    output: &mut Output,
    command: WorkspaceCommand,
) -> Result<(), Failure> {
    match command {
        WorkspaceCommand::Put {
            name,
            kind,
            json_object,
        } => {
            let data = match serde_json::from_str::<Value>(&json_object) {
                Ok(Value::Object(data)) => data,
                Ok(_) => return Err(Failure::bad_input("store workspace put: JSON_OBJECT must be a JSON object, e.g. '{\"user\":\"ada\"}'")),
                Err(error) => return Err(Failure::bad_input(format!("store workspace put: JSON_OBJECT: {error}"))),
            };
            let workspace = store.open_workspace(&name)?;
            let put = workspace.put(&kind, data);
            let count = workspace.count();
            workspace.close()?;
            put?;
            let count = count?;
            output.line(
                &format!("{name}\t{count}"),
                &json!({ "name": name, "count": count }),
            )?;
        }
        WorkspaceCommand::Show { name } => {
            let workspace = waiting_workspace(store, &name)?;
            let aggregate = workspace.aggregate();
            workspace.close()?;
            let aggregate = aggregate?;
            output.line(&aggregate_text(&aggregate), &json!(aggregate))?;
        }
        WorkspaceCommand::Commit { name } => {
            let aggregate = waiting_workspace(store, &name)?.commit()?;
            output.line(&aggregate_text(&aggregate), &json!(aggregate))?;
        }
        WorkspaceCommand::Discard { name } => {
            waiting_workspace(store, &name)?.discard()?;
            output.done()?;
        }
        WorkspaceCommand::List => {
            let mut listing = BTreeMap::new();
            for workspace in store.recover_orphans(None)? {
                let aggregate = workspace.aggregate();
                let name = workspace.name().to_owned();
                workspace.close()?;
                listing.insert(name, aggregate?);
            }
            if output.is_json() {
                output.json_line(&listing)?;
            } else {
                for (name, aggregate) in &listing {
                    let kinds: Vec<String> = aggregate
                        .iter()
                        .map(|(kind, count)| format!("{kind}={count}"))
                        .collect();
                    output.line(&format!("{name}\t{}", kinds.join(" ")), &Value::Null)?;
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn compact(
    store: &store::Store,
    output: &mut Output,
    before: SystemTime,
    folder: PathBuf,
    format: store::ArchiveFormat,
) -> Result<(), Failure> {
    let spinner = progress::bar(output.is_json(), None, "compacting");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let archived = store.compact(store::CompactOptions {
        before,
        output: folder,
        format,
    });
    spinner.finish_and_clear();
    match archived? {
        Some(path) => {
            let text = path.display().to_string();
            output.line(&text, &Value::String(text.clone()))?;
        }
        None => output.line("nothing to compact", &Value::Null)?,
    }
    Ok(())
}

pub(crate) fn archive(output: &mut Output, command: ArchiveCommand) -> Result<(), Failure> {
    match command {
        ArchiveCommand::Cat { path } => {
            for entry in store::read_archive(&path)? {
                output.json_line(&entry)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pair_good_and_bad() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_pair("a="), Ok(("a".into(), String::new())));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
    }

    #[test]
    fn is_sql_good_after_white_space_and_comments() {
        for sql in [
            "SELECT 1",
            "  with x AS (SELECT 1) SELECT * FROM x",
            "-- note\nSELECT 1",
            "/* a */ pragma table_info(entries)",
            "EXPLAIN SELECT 1",
        ] {
            assert!(store::is_sql_query(sql), "{sql}");
        }
        for flux in ["", r#"from(bucket: "store")"#, "selected", "DELETE FROM x"] {
            assert!(!store::is_sql_query(flux), "{flux}");
        }
    }

    #[test]
    fn field_value_reads_json_else_text() {
        assert_eq!(field_value("3"), json!(3));
        assert_eq!(field_value("1.5"), json!(1.5));
        assert_eq!(field_value("true"), json!(true));
        assert_eq!(field_value("\"3\""), json!("3"));
        assert_eq!(field_value("ada"), json!("ada"));
        assert_eq!(field_value("{\"a\":1}"), json!({"a": 1}));
    }
}
