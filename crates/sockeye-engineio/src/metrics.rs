//! Process-wide counters of the policies that drop or disconnect.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) static OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// How many times a client's outbound queue overflowed (each one a dropped packet, or a
/// disconnect under [`crate::OverflowPolicy::Disconnect`]), since the process started.
///
/// # Examples
/// ```
/// let before = sockeye_engineio::metrics::queue_overflows();
/// assert!(sockeye_engineio::metrics::queue_overflows() >= before);
/// ```
pub fn queue_overflows() -> u64 {
    OVERFLOWS.load(Ordering::Relaxed)
}
