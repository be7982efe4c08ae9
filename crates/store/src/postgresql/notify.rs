//! Change events between servers: every committed change to `entries` is announced with
//! `NOTIFY`, and each store listens on its own connection, so that a watcher in one
//! process sees what another process (on any machine) wrote.
//!
//! - A row trigger sends one notification per changed row, at commit (never for a
//!   rollback). A group delete sends one `delete_group` notification of its own and
//!   silences the trigger for its rows (`store.bulk`, set by `store_delete_group` in
//!   `changes`), as SQLite reports it as one event.
//! - Each session names itself (`store.origin`, a random number); a store skips the
//!   notifications of its own session, whose events it has already delivered in process.
//! - The channel is `store:` and the schema, so stores in different schemas stay apart.
//! - A payload carries the value in hex when it fits PostgreSQL's 8,000-byte limit; a
//!   larger value is marked `*` and the listener reads the row (a newer value, if one
//!   was written meanwhile).
//! - A group and key longer together than about 3,900 bytes cannot be announced at all;
//!   listeners skip such a change with a warning (watchers in the writing process still
//!   see it).
//! - Live events are not durable, in one process or across many: while a listener is
//!   reconnecting after the server went away, what others write is not announced to it.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::kv::events::EventType;
use crate::postgresql::session::outside_runtime;

/// The trigger's function, replaced at every open so that it is always this version's
/// (which takes no lock on the table).
pub(crate) const CREATE_FUNCTION: &str = r"
CREATE OR REPLACE FUNCTION store_entries_notify() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    kind    TEXT;
    row_of  entries;
    payload TEXT;
BEGIN
    IF current_setting('store.bulk', true) = 'group' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        row_of := OLD;
        kind := CASE WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at
                <= (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
            THEN 'expire' ELSE 'delete' END;
    ELSE
        row_of := NEW;
        kind := 'set';
    END IF;
    payload := kind || ' ' || coalesce(current_setting('store.origin', true), '') || ' '
        || encode(row_of.group_name, 'hex') || ' ' || encode(row_of.entry_key, 'hex');
    IF length(payload) >= 7900 THEN
        -- A group and key too long to announce: an announcement no store can read,
        -- which listeners skip with a warning (the write itself must not fail).
        payload := 'too_long ' || coalesce(current_setting('store.origin', true), '');
    ELSIF TG_OP <> 'DELETE' THEN
        IF length(payload) + 2 * length(row_of.entry_value) < 7900 THEN
            payload := payload || ' ' || encode(row_of.entry_value, 'hex');
        ELSE
            payload := payload || ' *';
        END IF;
    END IF;
    PERFORM pg_notify('store:' || TG_TABLE_SCHEMA, payload);
    RETURN NULL;
END
$body$;
";

/// The trigger, created when missing (creating a trigger locks the table, so an open
/// never does it needlessly).
pub(crate) const CREATE_TRIGGER: &str = r"
CREATE TRIGGER entries_notify AFTER INSERT OR UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION store_entries_notify();
";

/// True when the trigger exists.
pub(crate) const SQL_HAS_TRIGGER: &str = "SELECT EXISTS (SELECT 1 FROM pg_trigger
    WHERE tgname = 'entries_notify' AND tgrelid = 'entries'::regclass)";

/// A change another session announced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Announced {
    pub(crate) kind: EventType,
    pub(crate) origin: String,
    pub(crate) group: String,
    pub(crate) key: String,
    /// The value, `None` when it was too large to carry (read it from the row).
    pub(crate) value: Option<Vec<u8>>,
}

/// Reads a payload; `None` for one this version does not know.
pub(crate) fn parse(payload: &str) -> Option<Announced> {
    let mut fields = payload.split(' ');
    let kind = EventType::from_name(fields.next()?)?;
    let origin = fields.next()?.to_owned();
    let group = String::from_utf8_lossy(&unhex(fields.next()?)?).into_owned();
    let key = String::from_utf8_lossy(&unhex(fields.next()?)?).into_owned();
    let value = match fields.next() {
        None => Some(Vec::new()),
        Some("*") => None,
        Some(value) => Some(unhex(value)?),
    };
    Some(Announced {
        kind,
        origin,
        group,
        key,
        value,
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// A connection that listens for one schema's announcements.
pub(crate) struct Listener {
    /// Always `Some` until dropped.
    client: Option<Client>,
}

impl Drop for Listener {
    /// Drops the client where it may block (see `session::outside_runtime`).
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            outside_runtime(move || drop(client));
        }
    }
}

impl Listener {
    /// Connects, sets the schema, and listens on its channel.
    pub(crate) fn connect(
        config: &postgres::Config,
        schema: Option<&str>,
    ) -> Result<Listener, postgres::Error> {
        outside_runtime(|| {
            let mut client = config.connect(NoTls)?;
            if let Some(schema) = schema {
                client.batch_execute(&format!(
                    "SET search_path TO {}",
                    crate::postgresql::session::quote_identifier(schema)
                ))?;
            }
            let current: String = client
                .query_one("SELECT current_schema()", &[])?
                .try_get(0)?;
            let channel = format!("store:{current}").replace('"', "\"\"");
            client.batch_execute(&format!("LISTEN \"{channel}\""))?;
            Ok(Listener {
                client: Some(client),
            })
        })
    }

    /// The payloads that arrive within `wait` (at least one call's worth of waiting);
    /// empty when none did.
    pub(crate) fn next_payloads(&mut self, wait: Duration) -> Result<Vec<String>, postgres::Error> {
        let Some(client) = self.client.as_mut() else {
            return Ok(Vec::new());
        };
        let first = {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(wait);
            waiting.next()?.map(|first| first.payload().to_owned())
        };
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut payloads = vec![first];
        // Whatever else has already arrived, without waiting again.
        let mut notifications = client.notifications();
        let mut ready = notifications.iter();
        while let Some(more) = ready.next()? {
            payloads.push(more.payload().to_owned());
        }
        Ok(payloads)
    }

    /// The current value of a row whose value was too large to announce.
    pub(crate) fn value_of(&mut self, group: &str, key: &str) -> Result<Vec<u8>, postgres::Error> {
        let Some(client) = self.client.as_mut() else {
            return Ok(Vec::new());
        };
        Ok(client
            .query_opt(
                "SELECT entry_value FROM entries WHERE group_name = $1 AND entry_key = $2",
                &[&group.as_bytes(), &key.as_bytes()],
            )?
            .map(|row| row.try_get(0))
            .transpose()?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_good_reads_every_kind() {
        let announced = parse("set 7f 6367 6b ff00").unwrap();
        assert_eq!(
            announced,
            Announced {
                kind: EventType::Set,
                origin: "7f".into(),
                group: "cg".into(),
                key: "k".into(),
                value: Some(vec![0xff, 0]),
            }
        );
        assert_eq!(parse("delete 1 67 6b").unwrap().value, Some(Vec::new()));
        assert_eq!(parse("set 1 67 6b *").unwrap().value, None);
        let group = parse("delete_group 9 67 ").unwrap();
        assert_eq!(
            (group.kind, group.group.as_str(), group.key.as_str()),
            (EventType::DeleteGroup, "g", "")
        );
    }

    #[test]
    fn parse_bad_refuses_unknown_or_broken_payloads() {
        for payload in ["", "rename 1 67 6b", "set 1 6", "set 1 zz 6b", "set"] {
            assert_eq!(parse(payload), None, "{payload}");
        }
    }
}
