//! Literal prefix matching on arbitrary names: `count_all`, `groups`, `delete_prefix` (and
//! their scoped versions) select exactly the groups that start with the prefix byte for
//! byte — `%`, `_`, `^`, `\`, NUL and case are ordinary (SPEC §0, §4).

use std::collections::BTreeSet;

use store::ScopedStore;

/// The input's lines, read as UTF-8: the first is the prefix, up to 16 more are group
/// names.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let prefix = lines.next().unwrap_or_default();
    let groups: BTreeSet<&str> = lines.take(16).collect();
    let matching: Vec<String> = groups
        .iter()
        .filter(|group| group.starts_with(prefix))
        .map(|group| (*group).to_owned())
        .collect();

    let store = super::memory_store();
    let scoped = ScopedStore::new(&store, "ns").expect("scope");
    for group in &groups {
        store.set(group, "key", group).expect("set");
        scoped.set(group, "key", group).expect("scoped set");
    }
    // The plain store holds each group twice: as given, and as the scoped "ns:<group>".
    let stored: BTreeSet<String> = groups
        .iter()
        .flat_map(|group| [(*group).to_owned(), format!("ns:{group}")])
        .collect();
    let stored_matching: Vec<String> = stored
        .into_iter()
        .filter(|group| group.starts_with(prefix))
        .collect();
    let context = format!("prefix {prefix:?}, groups {groups:?}");
    assert_eq!(
        store.groups(prefix).expect("groups"),
        stored_matching,
        "{context}"
    );
    assert_eq!(
        store.count_all(prefix).expect("count"),
        stored_matching.len(),
        "{context}"
    );
    assert_eq!(
        scoped.groups(prefix).expect("scoped groups"),
        matching,
        "{context}"
    );
    assert_eq!(
        scoped.count_all(prefix).expect("scoped count"),
        matching.len(),
        "{context}"
    );

    scoped.delete_prefix(prefix).expect("scoped delete prefix");
    let kept: Vec<String> = groups
        .iter()
        .filter(|group| !group.starts_with(prefix))
        .map(|group| (*group).to_owned())
        .collect();
    assert_eq!(scoped.groups("").expect("scoped groups"), kept, "{context}");
    assert_eq!(
        store.count_all("").expect("count"),
        groups.len() + kept.len()
    );
}
