//! Namespaces: a tenant's stored prefix and its quotas.
//!
//! A namespace stores its groups as `namespace:group`, exactly as the Go package does, so
//! a Go program sharing the file sees the same rows. Every prefix is matched literally and
//! case-sensitively, so namespaces `A` and `a` never see each other's data (the Go
//! package's `LIKE` let them leak into each other). The quota check runs in the same
//! write transaction as the write it guards, so it is exact across threads and processes.

use crate::config::{QuotaConfig, ScopedStoreConfig};
use crate::error::{Error, QuotaLimit, Result};
use crate::kv::rows;
use crate::storage::{Conn, StorageResult};

/// A namespace's name, its stored prefix and its quota.
#[derive(Debug)]
pub(crate) struct Scope {
    config: ScopedStoreConfig,
    /// `namespace:`, the prefix of every stored group.
    prefix: String,
}

impl Scope {
    pub(crate) fn new(config: ScopedStoreConfig) -> Result<Scope> {
        let is_valid = !config.namespace.is_empty()
            && config
                .namespace
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        if !is_valid {
            return Err(Error::InvalidNamespace {
                namespace: config.namespace,
            });
        }
        let prefix = format!("{}:", config.namespace);
        Ok(Scope { config, prefix })
    }

    /// The namespace's configuration: its name and quota.
    pub(crate) fn config(&self) -> &ScopedStoreConfig {
        &self.config
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn stored_group(&self, group: &str) -> String {
        let mut stored = String::with_capacity(self.prefix.len() + group.len());
        stored.push_str(&self.prefix);
        stored.push_str(group);
        stored
    }

    /// Turns a stored group name into the namespace's local name.
    pub(crate) fn strip_in_place(&self, group: &mut String) {
        if group.starts_with(&self.prefix) {
            group.drain(..self.prefix.len());
        }
    }

    pub(crate) fn has_quota(&self) -> bool {
        self.config.quota.max_keys > 0 || self.config.quota.max_groups > 0
    }

    /// Which limit writing `key` into the stored `group` would break, if any. Run it in
    /// the same write transaction as the write itself.
    pub(crate) fn refusal(
        &self,
        connection: &mut Conn<'_>,
        group: &str,
        key: &str,
    ) -> StorageResult<Option<QuotaLimit>> {
        let QuotaConfig {
            max_keys,
            max_groups,
        } = self.config.quota;
        // Overwriting a live key adds nothing to either count.
        if rows::exists(connection, group, key)? {
            return Ok(None);
        }
        if max_keys > 0 && rows::count_prefix_up_to(connection, &self.prefix, max_keys)? >= max_keys
        {
            return Ok(Some(QuotaLimit::Keys));
        }
        if max_groups > 0
            && !rows::group_is_live(connection, group)?
            && rows::count_groups_prefix_up_to(connection, &self.prefix, max_groups)? >= max_groups
        {
            return Ok(Some(QuotaLimit::Groups));
        }
        Ok(None)
    }

    pub(crate) fn quota_error(&self, operation: &'static str, limit: QuotaLimit) -> Error {
        Error::QuotaExceeded {
            operation,
            namespace: self.config.namespace.clone(),
            limit,
            maximum: match limit {
                QuotaLimit::Keys => self.config.quota.max_keys,
                QuotaLimit::Groups => self.config.quota.max_groups,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_new_validates_namespace() {
        for good in ["abc", "ABC", "123", "a-b-c", "A1-B2"] {
            let config = ScopedStoreConfig {
                namespace: good.into(),
                quota: QuotaConfig::default(),
            };
            assert!(Scope::new(config).is_ok(), "{good}");
        }
        for bad in [
            "tenant_a", "foo.bar", "foo:bar", "foo bar", "foo/bar", "tenant!", "@ns", "", "é",
        ] {
            let config = ScopedStoreConfig {
                namespace: bad.into(),
                quota: QuotaConfig::default(),
            };
            assert!(
                matches!(Scope::new(config), Err(Error::InvalidNamespace { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn strip_in_place_removes_only_the_prefix() {
        let scope = Scope::new(ScopedStoreConfig {
            namespace: "a".into(),
            quota: QuotaConfig::default(),
        });
        let Ok(scope) = scope else {
            panic!("valid namespace");
        };
        let mut group = "a:config".to_owned();
        scope.strip_in_place(&mut group);
        assert_eq!(group, "config");
        assert_eq!(scope.stored_group("x:y"), "a:x:y");
    }
}
