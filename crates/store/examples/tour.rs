//! A real end-to-end run on the embedded default: a store file at `.core/store.db`.
//!
//! Run it from the repository root with `cargo run --release --example tour -p store`;
//! running it again shows the data persisted by the previous run.

use std::path::Path;
use std::time::Duration;

use store::{EventType, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(".core/store.db");
    std::fs::create_dir_all(".core")?;
    let store = Store::open(path)?;
    println!("opened {}", path.display());

    let runs = match store.get("tour", "runs") {
        Ok(value) => value.parse::<u64>().unwrap_or(0) + 1,
        Err(error) if error.is_not_found() => 1,
        Err(error) => return Err(error.into()),
    };
    store.set("tour", "runs", &runs.to_string())?;
    println!("this is run {runs} of the tour on this file");

    // Configuration, watched as it changes.
    let watcher = store.watch("config", "*");
    store.set("config", "colour", "blue")?;
    store.set("config", "size", "10")?;
    for event in std::iter::from_fn(|| watcher.try_recv()) {
        println!(
            "event: {} {}/{} = {:?}",
            event.kind, event.group, event.key, event.value
        );
    }

    // A callback that keeps an audit trail, writing back into the store.
    let audit = store.clone();
    let subscription = store.on_change(move |event| {
        if event.group == "sessions" && event.kind == EventType::Set {
            audit.set("audit", &event.key, "session opened").ok();
        }
    });

    // Sessions with a TTL: one long-lived, one that expires almost at once.
    store.set_with_ttl("sessions", "alice", "token-a", Duration::from_secs(3600))?;
    store.set_with_ttl("sessions", "bob", "token-b", Duration::from_millis(50))?;
    subscription.unregister();
    std::thread::sleep(Duration::from_millis(100));
    println!(
        "sessions live: {} (bob expired: {})",
        store.count("sessions")?,
        store.get("sessions", "bob").is_err()
    );
    println!("audit trail: {:?}", store.get_all("audit")?);

    // Many tenants in one file, listed by literal prefix.
    for tenant in ["tenant-a", "tenant-b"] {
        store.set(&format!("{tenant}:config"), "plan", "pro")?;
    }
    println!("tenant groups: {:?}", store.groups("tenant-")?);

    // A template filled from a group.
    println!(
        "render: {}",
        store.render(
            "{{ range $key, $value := . }}{{ $key }}={{ $value }} {{ end }}",
            "config"
        )?
    );

    // Walk a group a page at a time; the loop body may write.
    for entry in store.all("config") {
        let entry = entry?;
        store.set("config-backup", &entry.key, &entry.value)?;
    }
    println!("backed up {} config keys", store.count("config-backup")?);
    println!("purged {} expired entries", store.purge_expired()?);
    println!("live entries in the file: {}", store.count_all("")?);

    store.close()?;
    Ok(())
}
