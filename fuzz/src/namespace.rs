//! `ScopedStore` construction from an arbitrary name: accepted exactly when it matches
//! `^[A-Za-z0-9-]+$` (SPEC §9), refused with `InvalidNamespace` naming it otherwise, and
//! an accepted namespace keeps its data under `<namespace>:` and nowhere else.

use store::{Error, QuotaConfig, ScopedStore};

/// The input, read as UTF-8 (invalid sequences become U+FFFD, which is refused), is the
/// namespace name.
pub fn check(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let is_valid = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    let store = super::memory_store();
    let quota = QuotaConfig {
        max_keys: 2,
        max_groups: 1,
    };
    match ScopedStore::with_quota(&store, &name, quota) {
        Ok(scoped) => {
            assert!(is_valid, "{name:?} was accepted");
            assert_eq!(scoped.namespace(), name);
            scoped.set("group", "key", "value").expect("set");
            let stored = format!("{name}:group");
            assert_eq!(store.get(&stored, "key").expect("get"), "value");
            assert_eq!(store.groups("").expect("groups"), [stored]);
            assert_eq!(scoped.groups("").expect("scoped groups"), ["group"]);
            // A namespace whose name extends this one shares none of it.
            let longer = ScopedStore::new(&store, &format!("{name}-x")).expect("valid");
            assert_eq!(longer.count_all("").expect("count"), 0);
            // The quota holds for this name too.
            let refused = scoped
                .set("other", "key", "value")
                .expect_err("group limit");
            assert!(refused.is_quota_exceeded(), "{refused:?}");
        }
        Err(Error::InvalidNamespace { namespace }) => {
            assert!(!is_valid, "{name:?} was refused");
            assert_eq!(namespace, name);
        }
        Err(other) => panic!("{name:?}: unexpected {other:?}"),
    }
}
