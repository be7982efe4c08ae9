//! Literal prefix matching on arbitrary names: `count_all`, `groups`, `delete_prefix` (and
//! their scoped versions) select exactly the groups that start with the prefix byte for
//! byte — `%`, `_`, `^`, `\`, NUL and case are ordinary (SPEC §0, §4).

use std::collections::BTreeSet;

use store::ScopedStore;

const NAMESPACE_PREFIX: &str = "ns:";

/// The groups a scoped store of namespace `ns` sees among the stored ones: those under
/// `ns:`, with that removed (a plain write to `ns:x` is the scoped group `x`, SPEC §9).
fn scoped_view(stored: &BTreeSet<String>) -> BTreeSet<String> {
    stored
        .iter()
        .filter_map(|group| group.strip_prefix(NAMESPACE_PREFIX))
        .map(str::to_owned)
        .collect()
}

fn starting_with(groups: &BTreeSet<String>, prefix: &str) -> Vec<String> {
    groups
        .iter()
        .filter(|group| group.starts_with(prefix))
        .cloned()
        .collect()
}

/// The input's lines, read as UTF-8: the first is the prefix, up to 16 more are group
/// names, each written once through the plain store and once through the scoped store of
/// namespace `ns`.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let prefix = lines.next().unwrap_or_default();
    let groups: BTreeSet<&str> = lines.take(16).collect();

    let store = super::memory_store();
    let scoped = ScopedStore::new(&store, "ns").expect("scope");
    for group in &groups {
        store.set(group, "key", group).expect("set");
        scoped.set(group, "key", group).expect("scoped set");
    }
    let mut stored: BTreeSet<String> = groups
        .iter()
        .flat_map(|group| [(*group).to_owned(), format!("{NAMESPACE_PREFIX}{group}")])
        .collect();
    let context = format!("prefix {prefix:?}, groups {groups:?}");

    let expected = starting_with(&stored, prefix);
    assert_eq!(store.groups(prefix).expect("groups"), expected, "{context}");
    assert_eq!(
        store.count_all(prefix).expect("count"),
        expected.len(),
        "{context}"
    );
    let expected = starting_with(&scoped_view(&stored), prefix);
    assert_eq!(
        scoped.groups(prefix).expect("scoped groups"),
        expected,
        "{context}"
    );
    assert_eq!(
        scoped.count_all(prefix).expect("scoped count"),
        expected.len(),
        "{context}"
    );

    scoped.delete_prefix(prefix).expect("scoped delete prefix");
    let doomed = format!("{NAMESPACE_PREFIX}{prefix}");
    stored.retain(|group| !group.starts_with(&doomed));
    let expected: Vec<String> = stored.iter().cloned().collect();
    assert_eq!(store.groups("").expect("groups"), expected, "{context}");
    let expected: Vec<String> = scoped_view(&stored).into_iter().collect();
    assert_eq!(
        scoped.groups("").expect("scoped groups"),
        expected,
        "{context}"
    );
}
