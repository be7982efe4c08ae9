//! The time-series pipeline: journal points, the Flux subset, archives, the InfluxDB
//! outbox with its line protocol and client, and workspace files.
//!
//! - `point`: the journal's records and SQL.
//! - `flux`: the Flux subset `query_journal` accepts, parsed into a time range and tag
//!   filters.
//! - `calendar`: RFC 3339 and archive names, by jiff.
//! - `archive`: the gzip/zstd JSON-lines archive format, its writer, reader and lock.
//! - `outbox`: the durable outbox and how a batch of it is shipped.
//! - `line_protocol`: InfluxDB line protocol.
//! - `influx`: the HTTP client for InfluxDB's write endpoints.
//! - `workspace_file`: a workspace's own file: naming, locking, probing, quarantine.
//!
//! Nothing here names the public handles.

pub(crate) mod archive;
pub(crate) mod calendar;
pub(crate) mod flux;
pub(crate) mod influx;
pub(crate) mod line_protocol;
pub(crate) mod outbox;
pub(crate) mod point;
pub(crate) mod workspace_file;
