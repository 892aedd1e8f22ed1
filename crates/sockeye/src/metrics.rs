//! Counters of packets dropped or clients disconnected by policy, never silently.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static VOLATILE_DROPS: AtomicU64 = AtomicU64::new(0);
pub(crate) static READ_PAUSES: AtomicU64 = AtomicU64::new(0);

/// Times a connection stopped being read because it had as many async event handlers waiting
/// as `SocketIoBuilder::max_waiting_handlers` allows, since the process started.
///
/// # Examples
/// ```
/// assert!(sockeye::metrics::read_pauses() < u64::MAX);
/// ```
pub fn read_pauses() -> u64 {
    READ_PAUSES.load(Ordering::Relaxed)
}

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
