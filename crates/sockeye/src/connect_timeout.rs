//! The connect timeout (Node's `connectTimeout`): a connection that has joined no namespace
//! when it runs out is closed.
//!
//! Every connection of a server gets the same timeout, so their deadlines come in the order
//! the connections do: a FIFO queue is already sorted. A new connection appends one entry
//! (its deadline and a weak reference, 24 bytes) and wakes nothing; one task per server
//! sleeps until the oldest deadline, closes the connections that are due and still have no
//! namespace, and sleeps again. So a connection costs no task, no tokio timer and no wake-up
//! of its own.
//!
//! Entries are not removed when their connection joins a namespace or closes: the task skips
//! them when they come due. When the queue holds many of them (a burst of connections that
//! all joined), it is compacted, so its length stays within twice the connections still
//! waiting to join, plus a constant.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::client::Conn;
use crate::io::IoInner;

/// Below this length the queue is never compacted.
const COMPACT_FLOOR: usize = 1024;

/// Deadlines in time order, each with its key (sans-IO: times in, due keys out).
struct Fifo<K> {
    queue: VecDeque<(Instant, K)>,
    /// The length at which the queue is compacted next.
    compact_at: usize,
}

impl<K> Fifo<K> {
    fn new() -> Self {
        Fifo {
            queue: VecDeque::new(),
            compact_at: COMPACT_FLOOR,
        }
    }

    /// Appends `key` due at `at`, which is no earlier than any queued deadline. When the
    /// queue has grown to its compaction length, first drops the entries `keep` refuses.
    /// Returns whether the queue was empty.
    fn push(&mut self, at: Instant, key: K, keep: impl FnMut(&K) -> bool) -> bool {
        let mut keep = keep;
        if self.queue.len() >= self.compact_at {
            self.queue.retain(|(_, k)| keep(k));
            self.compact_at = (2 * self.queue.len()).max(COMPACT_FLOOR);
            if self.queue.capacity() > 4 * self.compact_at {
                self.queue.shrink_to(self.compact_at);
            }
        }
        let was_empty = self.queue.is_empty();
        self.queue.push_back((at, key));
        was_empty
    }

    /// Moves the keys due at `now` into `due`, oldest first; returns the next deadline.
    fn pop_due(&mut self, now: Instant, due: &mut Vec<K>) -> Option<Instant> {
        while self.queue.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, k)) = self.queue.pop_front() {
                due.push(k);
            }
        }
        self.queue.front().map(|(at, _)| *at)
    }
}

/// The pending connect deadlines of one server.
pub(crate) struct ConnectTimeouts {
    state: Mutex<State>,
}

struct State {
    fifo: Fifo<Weak<Conn>>,
    /// The task's waker, while it waits for an entry (the queue is empty).
    waker: Option<Waker>,
    started: bool,
}

impl Default for ConnectTimeouts {
    fn default() -> Self {
        ConnectTimeouts {
            state: Mutex::new(State {
                fifo: Fifo::new(),
                waker: None,
                started: false,
            }),
        }
    }
}

/// Whether a connection is still waiting for its first namespace.
fn still_waiting(conn: &Conn) -> bool {
    !conn.data().has_joined() && !conn.is_closed()
}

/// [`still_waiting`], for a queued entry.
fn waiting(conn: &Weak<Conn>) -> bool {
    conn.upgrade().is_some_and(|c| still_waiting(&c))
}

impl ConnectTimeouts {
    /// Starts `conn`'s timeout of `timeout` from now. `io` is the server the task serves
    /// (it ends with it); the first call starts the task, on the current tokio runtime.
    pub(crate) fn add(&self, io: &Arc<IoInner>, conn: &Arc<Conn>, timeout: Duration) {
        let (start, waker) = {
            let mut st = self.state.lock();
            // Read under the lock, so that the queue stays in time order whatever thread
            // adds.
            let at = Instant::now() + timeout;
            let was_empty = st.fifo.push(at, Arc::downgrade(conn), waiting);
            let start = !std::mem::replace(&mut st.started, true);
            (start, if was_empty { st.waker.take() } else { None })
        };
        if let Some(w) = waker {
            w.wake();
        }
        if start {
            tokio::spawn(run(Arc::downgrade(io)));
        }
    }

    /// For the task: moves the entries due at `now` into `due`, and returns the next
    /// deadline (none: the queue is empty, and `waker` is woken by the next entry).
    fn poll_due(&self, now: Instant, due: &mut Vec<Weak<Conn>>, waker: &Waker) -> Option<Instant> {
        let mut st = self.state.lock();
        let next = st.fifo.pop_due(now, due);
        if next.is_none() && !st.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
        next
    }
}

/// The server's one connect-timeout task; it ends with the server.
fn run(io: Weak<IoInner>) -> impl Future<Output = ()> + Send {
    let mut sleep = Box::pin(tokio::time::sleep(Duration::ZERO));
    let mut armed: Option<Instant> = None;
    let mut due: Vec<Weak<Conn>> = Vec::new();
    poll_fn(move |cx| loop {
        let Some(inner) = io.upgrade() else {
            return Poll::Ready(());
        };
        let next = inner
            .connect_timeouts
            .poll_due(Instant::now(), &mut due, cx.waker());
        if !due.is_empty() {
            for conn in due.drain(..) {
                if let Some(conn) = conn.upgrade() {
                    if still_waiting(&conn) {
                        tracing::debug!(sid = %conn.sid(), "no namespace joined in time");
                        conn.close(sockeye_engineio::DisconnectReason::ForcedClose);
                    }
                }
            }
            continue;
        }
        let Some(at) = next else {
            return Poll::Pending;
        };
        if armed != Some(at) {
            // Resetting a tokio timer re-registers it: only when the deadline moves.
            sleep.as_mut().reset(at);
            armed = Some(at);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn due_keys_come_out_oldest_first_and_the_rest_wait() {
        let base = Instant::now();
        let mut f = Fifo::new();
        assert!(f.push(at(base, 10), 1, |_| true));
        assert!(!f.push(at(base, 20), 2, |_| true));
        assert!(!f.push(at(base, 20), 3, |_| true));
        assert!(!f.push(at(base, 30), 4, |_| true));
        let mut due = Vec::new();
        assert_eq!(f.pop_due(at(base, 5), &mut due), Some(at(base, 10)));
        assert!(due.is_empty());
        assert_eq!(f.pop_due(at(base, 20), &mut due), Some(at(base, 30)));
        assert_eq!(due, [1, 2, 3]);
        due.clear();
        assert_eq!(f.pop_due(at(base, 31), &mut due), None);
        assert_eq!(due, [4]);
        // Empty again: the next push reports it (the task must be woken).
        assert!(f.push(at(base, 40), 5, |_| true));
    }

    #[test]
    fn compaction_keeps_the_queue_within_twice_the_waiting_keys() {
        let base = Instant::now();
        let mut f = Fifo::new();
        // A long burst in which only every hundredth key still waits.
        for i in 0..100_000u64 {
            f.push(at(base, i), i, |k| k % 100 == 0);
            assert!(f.queue.len() <= COMPACT_FLOOR.max(2 * (i as usize / 100 + 1)) + 1);
        }
        assert!(f.queue.len() < 3 * COMPACT_FLOOR, "{}", f.queue.len());
        // What is left is still in time order, and every waiting key survived.
        let mut due = Vec::new();
        f.pop_due(at(base, 1_000_000), &mut due);
        assert!(due.windows(2).all(|w| w[0] < w[1]));
        let waiting: Vec<u64> = due.iter().copied().filter(|k| k % 100 == 0).collect();
        assert_eq!(waiting, (0..100_000).step_by(100).collect::<Vec<u64>>());
    }

    #[test]
    fn an_empty_queue_registers_the_waker() {
        let t = ConnectTimeouts::default();
        let mut due = Vec::new();
        assert_eq!(t.poll_due(Instant::now(), &mut due, Waker::noop()), None);
        assert!(due.is_empty());
        assert!(t.state.lock().waker.is_some());
    }
}
