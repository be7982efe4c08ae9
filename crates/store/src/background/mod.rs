//! Background work: the threads a store runs beside its callers.
//!
//! - `purge`: removes expired entries every `purge_interval`, in bounded batches.
//! - `listener`: delivers other servers' change announcements (PostgreSQL stores).
//! - `shipper`: ships the journal's outbox to InfluxDB when woken by a commit.
//!
//! Each thread is handed a closure by the engine and knows nothing of stores; the
//! closure holds a weak reference, so a thread never keeps a dropped store alive.

pub(crate) mod listener;
pub(crate) mod purge;
pub(crate) mod shipper;
