//! One function per command, each a thin call into the library.

use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::{json, Value};
use store_cli::entry_lines::{self, EntryLine};

use crate::failure::Failure;
use crate::journal;
use crate::output::Output;
use crate::{progress, revisions, values, Command, Global, JournalCommand, WorkspaceCommand};

/// Runs one command against the store the global options describe.
pub(crate) fn run(global: &Global, command: Command) -> Result<(), Failure> {
    let mut output = Output::new(global.json);
    // Reading an archive needs no store: do not create one as a side effect.
    if let Command::Archive(command) = command {
        let result = journal::archive(&mut output, command);
        output.flush()?;
        return result;
    }
    let store = global.open(ships_journal(&command))?;
    let result = execute(&store, &mut output, command);
    let flushed = output.flush();
    let closed = store.close();
    match result.and(flushed.map_err(Failure::from)) {
        Err(failure) if !failure.is_quiet() => Err(failure),
        // A closed standard output still ends with the store closed properly.
        other => closed.map_err(Failure::from).and(other),
    }
}

/// Whether `command` ships journal points to InfluxDB (commits a point or flushes), the
/// only commands that read, and may refuse, the InfluxDB options.
fn ships_journal(command: &Command) -> bool {
    matches!(
        command,
        Command::Journal(JournalCommand::Commit { .. } | JournalCommand::Flush)
            | Command::Workspace(WorkspaceCommand::Commit { .. })
    )
}

fn execute(store: &store::Store, output: &mut Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Set {
            group,
            key,
            value,
            ttl,
            if_revision,
            if_absent,
        } => match (if_revision, if_absent) {
            (Some(expected), _) => {
                revisions::set_if(store, output, &group, &key, &value, Some(expected))?;
            }
            (None, true) => revisions::set_if(store, output, &group, &key, &value, None)?,
            (None, false) => set(store, output, &group, &key, &value, ttl)?,
        },
        Command::Get {
            group,
            key,
            revision: true,
        } => revisions::get(store, output, &group, &key)?,
        Command::Get { group, key, .. } => values::get(store, output, &group, &key)?,
        Command::Incr { group, key, delta } => values::incr(store, output, &group, &key, delta)?,
        Command::Ttl { group, key } => values::ttl(store, output, &group, &key)?,
        Command::Expire { group, key, ttl } => values::expire(store, output, &group, &key, ttl)?,
        Command::Persist { group, key } => values::persist(store, output, &group, &key)?,
        Command::Delete {
            group,
            key,
            if_revision: Some(expected),
        } => revisions::delete_if(store, output, &group, &key, expected)?,
        Command::Delete { group, key, .. } => {
            store.delete(&group, &key)?;
            output.done()?;
        }
        Command::DeleteGroup { group } => {
            store.delete_group(&group)?;
            output.done()?;
        }
        Command::DeletePrefix { prefix, all } => {
            delete_prefix(store, output, &prefix.unwrap_or_default(), all)?;
        }
        Command::Count { group } => {
            let count = store.count(&group)?;
            output.line(&count.to_string(), &json!(count))?;
        }
        Command::CountAll { prefix } => {
            let count = store.count_all(&prefix)?;
            output.line(&count.to_string(), &json!(count))?;
        }
        Command::List { group } => list(store, output, &group)?,
        Command::Groups { prefix } => {
            let groups = store.groups(&prefix)?;
            output.line(&groups.join("\n"), &json!(groups))?;
        }
        Command::Render {
            group,
            template,
            file,
        } => {
            let source = match (template, file) {
                (Some(template), _) => template,
                (None, Some(path)) => read_template(&path)?,
                (None, None) => {
                    return Err(Failure::bad_input(
                        "store render: give a TEMPLATE or --file PATH",
                    ))
                }
            };
            let text = store.render(&source, &group)?;
            output.raw(&text, &Value::String(text.clone()))?;
        }
        Command::Purge => {
            let removed = store.purge_expired()?;
            output.line(&removed.to_string(), &json!(removed))?;
        }
        Command::Watch { group, key, from } => revisions::watch(store, output, &group, &key, from)?,
        Command::Export { group_prefix } => export(store, output, &group_prefix)?,
        Command::Import { file } => import(store, output, file.as_deref())?,
        Command::Journal(command) => journal::journal(store, output, command)?,
        Command::Workspace(command) => journal::workspace(store, output, command)?,
        Command::Compact {
            before,
            output: folder,
            format,
        } => journal::compact(store, output, before, folder.unwrap_or_default(), format)?,
        Command::Archive(command) => journal::archive(output, command)?,
        Command::Stats => stats(store, output)?,
    }
    Ok(())
}

/// Plain `set` (no `--if-…`): prints nothing, or `{"ok":true}` with `--json`.
fn set(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    value: &str,
    ttl: Option<std::time::Duration>,
) -> Result<(), Failure> {
    match ttl {
        _ if value == "-" => values::set_from_stdin(store, group, key, ttl)?,
        Some(ttl) => store.set_with_ttl(group, key, value, ttl)?,
        None => store.set(group, key, value)?,
    }
    output.done()?;
    Ok(())
}

fn delete_prefix(
    store: &store::Store,
    output: &mut Output,
    prefix: &str,
    all: bool,
) -> Result<(), Failure> {
    match (prefix.is_empty(), all) {
        (false, false) | (true, true) => store.delete_prefix(prefix)?,
        (true, false) => {
            return Err(Failure::bad_input(
                "store delete-prefix: an empty PREFIX matches every group: pass --all to delete them all",
            ))
        }
        (false, true) => {
            return Err(Failure::bad_input(format!(
                "store delete-prefix: --all deletes every group, not only those starting with {prefix:?}: give one or the other"
            )))
        }
    }
    output.done()?;
    Ok(())
}

fn list(store: &store::Store, output: &mut Output, group: &str) -> Result<(), Failure> {
    let entries = store.get_all(group)?;
    if output.is_json() {
        output.json_line(&json!(entries))?;
    } else {
        for (key, value) in &entries {
            output.line(&format!("{key}\t{value}"), &Value::Null)?;
        }
    }
    Ok(())
}

fn stats(store: &store::Store, output: &mut Output) -> Result<(), Failure> {
    let stats = store.stats()?;
    if output.is_json() {
        output.json_line(&stats)?;
    } else {
        let rows = [
            ("file size (bytes)", stats.file_size_bytes.to_string()),
            ("entries", stats.entries.to_string()),
            ("groups", stats.groups.to_string()),
            (
                "expired, not yet purged",
                stats.expired_unpurged.to_string(),
            ),
            ("journal points", stats.journal_points.to_string()),
            ("archived points", stats.archived_points.to_string()),
            ("pending exports", stats.pending_exports.to_string()),
            ("failed exports", stats.failed_exports.to_string()),
            (
                "last export error",
                stats.last_export_error.unwrap_or_else(|| "none".to_owned()),
            ),
        ];
        for (name, value) in rows {
            output.line(&format!("{name:<24}{value}"), &Value::Null)?;
        }
    }
    Ok(())
}

fn read_template(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| {
        Failure::bad_input(format!("store render: read {}: {error}", path.display()))
    })
}

fn export(store: &store::Store, output: &mut Output, group_prefix: &str) -> Result<(), Failure> {
    let bar = progress::bar(output.is_json(), None, "exporting");
    for entry in store.export_raw(group_prefix) {
        let entry = entry?;
        let (value, value_base64) = values::text_or_base64(entry.value);
        let line = EntryLine {
            group: entry.group,
            key: entry.key,
            value,
            expires_at: entry.expires_at,
            value_base64,
        };
        output.json_line(&line)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Reads every line first, so that a bad line N aborts before anything is written; then
/// writes them all in one transaction.
fn import(store: &store::Store, output: &mut Output, file: Option<&Path>) -> Result<(), Failure> {
    let reader: Box<dyn Read> = match file {
        Some(path) => Box::new(std::fs::File::open(path).map_err(|error| {
            Failure::bad_input(format!("store import: open {}: {error}", path.display()))
        })?),
        None => Box::new(std::io::stdin().lock()),
    };
    let entries = entry_lines::parse(BufReader::new(reader))
        .map_err(|error| Failure::bad_input(error.to_string()))?;
    // Binary values are decoded before anything is written, so a bad one aborts all.
    let mut decoded = Vec::with_capacity(entries.len());
    for (index, line) in entries.into_iter().enumerate() {
        let value = match line.value_base64.as_deref().map(values::decode) {
            Some(Err(message)) => {
                return Err(Failure::bad_input(format!(
                    "store import: entry {}: {message}",
                    index + 1
                )))
            }
            Some(Ok(bytes)) => bytes,
            None => line.value.into_bytes(),
        };
        decoded.push(store::RawEntry {
            group: line.group,
            key: line.key,
            value,
            expires_at: line.expires_at,
        });
    }
    let bar = progress::bar(output.is_json(), Some(decoded.len() as u64), "importing");
    let imported = store.import_raw(decoded.into_iter().inspect(|_| bar.inc(1)))?;
    bar.finish_and_clear();
    output.line(&imported.to_string(), &json!(imported))?;
    Ok(())
}
