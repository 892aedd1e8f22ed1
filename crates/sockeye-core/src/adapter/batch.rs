//! Deliveries in batches: what an adapter delivers from other servers reaches idle
//! connections in one write each per batch, not one wake-up of each connection per message.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// How many [`deliver_batch`] calls are open on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// What ends a batch: set by the engine (see [`set_batch_flush`]).
static FLUSH: OnceLock<fn()> = OnceLock::new();

/// Runs `f` as one batch of deliveries and returns what it returns.
///
/// A packet sent during the batch to a WebSocket connection whose task is idle does not wake
/// that task: the connection is noted, and when the outermost batch on this thread ends, this
/// thread writes each noted connection's queue to its stream, everything the batch queued for
/// it in one system call (the same path a connection's event handlers take when they send to
/// other connections). Connections that are busy, and every other transport, are woken as
/// always; order and whole frames are kept either way.
///
/// For adapters: a cluster adapter that receives broadcasts from other servers delivers each
/// read's worth of messages in one batch. The more messages a batch holds, the more each write
/// carries, so take what has already arrived (without waiting for more) and bound the batch.
/// `f` must not block or wait: the connections noted are written only when it returns.
///
/// # Examples
/// ```
/// use sockeye_core::adapter::{deliver_batch, in_batch};
///
/// let incoming = vec!["a", "b", "c"];
/// let delivered = deliver_batch(|| {
///     assert!(in_batch());
///     // deliver each message through the namespace's `LocalHandle` here
///     incoming.len()
/// });
/// assert_eq!(delivered, 3);
/// assert!(!in_batch());
/// ```
pub fn deliver_batch<R>(f: impl FnOnce() -> R) -> R {
    /// Closes the batch, even when `f` panics.
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            let depth = DEPTH.with(|d| {
                let depth = d.get().saturating_sub(1);
                d.set(depth);
                depth
            });
            if depth == 0 {
                if let Some(flush) = FLUSH.get() {
                    flush();
                }
            }
        }
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let _close = Close;
    f()
}

/// Whether a [`deliver_batch`] is open on this thread: transports hold back their writes to
/// idle connections until it ends.
///
/// # Examples
/// ```
/// use sockeye_core::adapter::{deliver_batch, in_batch};
///
/// assert!(!in_batch());
/// deliver_batch(|| assert!(in_batch()));
/// ```
#[inline]
pub fn in_batch() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Sets what the end of the outermost [`deliver_batch`] runs on its thread: the engine's
/// writes of what its transports held back. Set once per process (the engine does it when a
/// server is built); later calls change nothing.
///
/// # Examples
/// ```
/// fn write_held_back() {}
/// sockeye_core::adapter::set_batch_flush(write_held_back);
/// ```
pub fn set_batch_flush(flush: fn()) {
    let _ = FLUSH.set(flush);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static FLUSHED: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        FLUSHED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn only_the_outermost_batch_flushes_even_on_panic() {
        set_batch_flush(count);
        // No engine in this crate's tests: the flush set is this test's.
        let before = FLUSHED.load(Ordering::SeqCst);
        deliver_batch(|| {
            deliver_batch(|| assert!(in_batch()));
            assert!(in_batch());
        });
        assert!(!in_batch());
        let caught = std::panic::catch_unwind(|| deliver_batch(|| panic!("in a batch")));
        assert!(caught.is_err());
        assert!(!in_batch(), "a panic closes the batch");
        assert_eq!(FLUSHED.load(Ordering::SeqCst) - before, 2);
    }
}
