//! Locking that survives a panicking holder.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the value over from a holder that panicked. Only for state that
/// stays consistent whatever point a holder reached (a flag, a list replaced whole, a
/// unit lock), as every caller's is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
