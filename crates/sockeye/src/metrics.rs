//! Counters of packets dropped or clients disconnected by policy, never silently.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static VOLATILE_DROPS: AtomicU64 = AtomicU64::new(0);

/// Volatile packets dropped because their client's queue was not empty, since the process
/// started.
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::volatile_drops() < u64::MAX);
/// ```
pub fn volatile_drops() -> u64 {
    VOLATILE_DROPS.load(Ordering::Relaxed)
}

/// Outbound queue overflows (see `EngineConfig::max_queued_bytes`), since the process started.
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::queue_overflows() < u64::MAX);
/// ```
pub fn queue_overflows() -> u64 {
    sockeye_engineio::metrics::queue_overflows()
}
