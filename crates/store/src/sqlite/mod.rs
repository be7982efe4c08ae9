//! The storage layer: everything that knows it is SQLite.
//!
//! - `connection`: the one connection behind one lock, with the same-thread transaction
//!   check and the fair hand-over to queued callers.
//! - `schema`: opening a file, its pragmas, and creating or migrating the tables.
//! - `sql`: small helpers shared by every statement (clock, prefix bounds, conversions).
//! - `query`: callers' raw SQL, read-only by SQLite's own authorizer, bounded in time and
//!   rows.
//! - `paging`: iterators that read a page at a time and hold no lock between pages.
//!
//! Nothing here knows of stores, namespaces or journals. The second backend, PostgreSQL,
//! sits beside this module (`postgresql`), behind the seam in `storage`; `connection`'s
//! `Database` holds either kind of link.

pub(crate) mod connection;
pub(crate) mod paging;
pub(crate) mod query;
pub(crate) mod schema;
pub(crate) mod sql;
