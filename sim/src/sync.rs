//! Locking shared state.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, carrying on when an earlier holder panicked: every critical section
/// in the simulators leaves the state consistent before anything that could panic, so
/// a poisoned lock must not take the whole simulator down with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
