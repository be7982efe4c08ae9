//! The key-value layer: entries in groups, namespaces with quotas, change events, and
//! the operations written once for every kind of caller.
//!
//! - `entries`: the SQLite statements of the `entries` table, run on a connection it is
//!   handed.
//! - `rows`: the same statements on whichever database holds the store (SQLite's, or
//!   PostgreSQL's in `postgres::entries`).
//! - `namespace`: a tenant's stored prefix and the quota check.
//! - `events`: watchers and callbacks, delivered after the commit with no lock held.
//! - `operations`: each operation's logic, over a `Backend` that says where statements
//!   run and where events go (a store call, or a transaction).
//!
//! Nothing here names the public handles; they are built on this layer.

pub(crate) mod changes;
pub(crate) mod entries;
pub(crate) mod events;
pub(crate) mod namespace;
pub(crate) mod operations;
pub(crate) mod rows;
