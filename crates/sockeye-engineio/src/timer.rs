//! The one timer all sessions share: a binary heap of deadlines, each with the session it is
//! for, and one task per engine that sleeps until the earliest.
//!
//! A session hands its next deadline over when it moves earlier than what the heap holds for
//! it (see `Session::arm`); entries are never removed: one that fires after its session's
//! deadline moved later finds nothing due and arms the next. A session so holds one to a few
//! entries of 16 bytes, and no task or timer of its own.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::task::Waker;

use parking_lot::Mutex;

use crate::session::Time;

/// One deadline and what it is for. Ordered by time only, earliest first.
#[derive(Debug)]
struct Entry<K> {
    at: Time,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        // `BinaryHeap` is a max-heap: the earliest deadline is the greatest entry.
        other.at.cmp(&self.at)
    }
}

/// Deadlines in time order (sans-IO: times in, due entries out).
#[derive(Debug)]
pub(crate) struct Deadlines<K> {
    heap: BinaryHeap<Entry<K>>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K> Deadlines<K> {
    pub(crate) fn push(&mut self, at: Time, key: K) {
        self.heap.push(Entry { at, key });
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Time> {
        self.heap.peek().map(|e| e.at)
    }

    /// Moves every entry due at `now` into `due`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Time, due: &mut Vec<(Time, K)>) {
        while self.heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = self.heap.pop() {
                due.push((e.at, e.key));
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries `keep` accepts (entries of sessions that are gone), and gives
    /// back memory the heap no longer needs.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&K) -> bool) {
        let mut keep = keep;
        self.heap.retain(|e| keep(&e.key));
        if self.heap.capacity() > 4 * self.heap.len().max(64) {
            self.heap.shrink_to(2 * self.heap.len());
        }
    }
}

/// The deadlines of an engine's sessions and the waker of the task that runs them.
pub(crate) struct Timer<K> {
    state: Mutex<State<K>>,
}

struct State<K> {
    deadlines: Deadlines<K>,
    /// The task's waker, and the deadline it sleeps until (none: until woken).
    waker: Option<Waker>,
    sleeping_until: Option<Time>,
    started: bool,
}

impl<K> Default for Timer<K> {
    fn default() -> Self {
        Timer {
            state: Mutex::new(State {
                deadlines: Deadlines::default(),
                waker: None,
                sleeping_until: None,
                started: false,
            }),
        }
    }
}

/// What a caller of [`Timer::schedule`] must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scheduled {
    /// Nothing: the task will see the entry in time.
    Done,
    /// Start the task (the first entry ever).
    Start,
}

impl<K> Timer<K> {
    /// Adds entries; wakes the task when one is earlier than what it sleeps until.
    pub(crate) fn schedule(&self, entries: impl IntoIterator<Item = (Time, K)>) -> Scheduled {
        let mut earliest = Time::NEVER;
        let (waker, start) = {
            let mut st = self.state.lock();
            for (at, key) in entries {
                earliest = earliest.min(at);
                st.deadlines.push(at, key);
            }
            if earliest == Time::NEVER {
                return Scheduled::Done;
            }
            let start = !std::mem::replace(&mut st.started, true);
            let wake = st.sleeping_until.is_none_or(|s| earliest < s);
            if wake {
                // Until the task runs again, later entries need not wake it.
                st.sleeping_until = Some(earliest);
            }
            (if wake { st.waker.take() } else { None }, start)
        };
        if let Some(w) = waker {
            w.wake();
        }
        if start {
            Scheduled::Start
        } else {
            Scheduled::Done
        }
    }

    /// For the task: takes what is due at `now` into `due`, registers `waker` and returns
    /// the next deadline to sleep until.
    pub(crate) fn poll_due(
        &self,
        now: Time,
        due: &mut Vec<(Time, K)>,
        waker: &Waker,
    ) -> Option<Time> {
        let mut st = self.state.lock();
        st.deadlines.pop_due(now, due);
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
        let next = st.deadlines.next();
        st.sleeping_until = next;
        next
    }

    /// Drops the entries `keep` refuses when the heap holds more than `limit` of them.
    pub(crate) fn compact(&self, limit: usize, keep: impl FnMut(&K) -> bool) {
        let mut st = self.state.lock();
        if st.deadlines.len() > limit {
            st.deadlines.retain(keep);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state.lock().deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;
    use std::task::Wake;

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    #[test]
    fn pops_in_time_order_and_only_what_is_due() {
        let mut d = Deadlines::default();
        for (at, k) in [(30, "c"), (10, "a"), (20, "b"), (10, "a2"), (40, "d")] {
            d.push(t(at), k);
        }
        assert_eq!(d.next(), Some(t(10)));
        let mut due = Vec::new();
        d.pop_due(t(9), &mut due);
        assert!(due.is_empty());
        d.pop_due(t(20), &mut due);
        let times: Vec<u64> = due.iter().map(|(at, _)| at.as_micros() / 1000).collect();
        assert_eq!(times, vec![10, 10, 20]);
        assert_eq!(d.next(), Some(t(30)));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn retain_drops_dead_keys_and_shrinks() {
        let mut d = Deadlines::default();
        for i in 0..10_000u64 {
            d.push(t(i), i);
        }
        d.retain(|k| k % 100 == 0);
        assert_eq!(d.len(), 100);
        let mut due = Vec::new();
        d.pop_due(Time::NEVER, &mut due);
        assert_eq!(due.len(), 100);
        assert!(due.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, AtomicOrdering::SeqCst);
        }
    }

    #[test]
    fn wakes_the_task_only_for_an_earlier_deadline() {
        let timer = Timer::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert_eq!(timer.schedule([(t(100), 1)]), Scheduled::Start);
        let mut due = Vec::new();
        assert_eq!(timer.poll_due(t(0), &mut due, &waker), Some(t(100)));
        // Later than what the task sleeps until: no wake-up.
        assert_eq!(timer.schedule([(t(200), 2)]), Scheduled::Done);
        assert_eq!(count.0.load(AtomicOrdering::SeqCst), 0);
        // Earlier: the task is woken, once, however many come before it runs.
        timer.schedule([(t(50), 3)]);
        timer.schedule([(t(40), 4)]);
        assert_eq!(count.0.load(AtomicOrdering::SeqCst), 1);
        assert_eq!(timer.poll_due(t(45), &mut due, &waker), Some(t(50)));
        assert_eq!(due.iter().map(|e| e.1).collect::<Vec<_>>(), vec![4]);
        timer.schedule([(t(10), 5)]);
        assert_eq!(count.0.load(AtomicOrdering::SeqCst), 2);
        timer.compact(2, |k| *k != 2);
        assert_eq!(timer.len(), 3);
    }
}
