//! Requests this server sent to the others and waits answers for: a bounded table, and the
//! stream of a broadcast's acks, this server's and the others' merged.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use parking_lot::Mutex;
use sockeye_core::adapter::{AckEvent, AckFailure, AckReply, AckStream, SocketInfo};
use sockeye_core::value::Value;
use sockeye_core::{AdapterError, Payload, Room};
use tokio::sync::{mpsc, oneshot};

/// Answers gathered from other servers, until `expected` came.
pub(crate) struct Collect<T> {
    pub(crate) expected: usize,
    pub(crate) received: usize,
    pub(crate) acc: T,
    pub(crate) done: Option<oneshot::Sender<()>>,
}

impl<T: Default> Collect<T> {
    pub(crate) fn new(expected: usize) -> (Collect<T>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (
            Collect {
                expected,
                received: 0,
                acc: T::default(),
                done: Some(tx),
            },
            rx,
        )
    }

    /// Counts one answer; wakes the requester when it was the last expected.
    pub(crate) fn count(&mut self) {
        self.received += 1;
        if self.received >= self.expected {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// Sockets from other servers, bounded.
#[derive(Default)]
pub(crate) struct Fetched {
    pub(crate) sockets: Vec<SocketInfo>,
    /// More sockets came than the bound allows.
    pub(crate) overflow: bool,
}

/// An answer to a broadcast with acks, from another server.
#[derive(Debug)]
pub(crate) enum RemoteAck {
    /// A server sent the packet to this many sockets.
    Count(usize),
    /// One socket's answer (its first argument, if any).
    Ack(Option<Value>),
}

pub(crate) enum Pending {
    Fetch(Collect<Fetched>),
    Rooms(Collect<HashSet<Room>>),
    Emit(Collect<Vec<Payload>>),
    Ack(mpsc::Sender<RemoteAck>),
}

/// The requests in flight, by request id.
pub(crate) struct Table {
    map: Mutex<HashMap<String, Pending>>,
    max: usize,
}

impl Table {
    pub(crate) fn new(max: usize) -> Arc<Table> {
        Arc::new(Table {
            map: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// Registers a request; refused when `max` are in flight already.
    pub(crate) fn insert(self: &Arc<Self>, id: &str, p: Pending) -> Result<Guard, AdapterError> {
        let mut map = self.map.lock();
        if map.len() >= self.max {
            return Err(AdapterError::Other(format!(
                "{} cluster requests in flight already",
                self.max
            )));
        }
        map.insert(id.to_owned(), p);
        Ok(Guard {
            table: Arc::clone(self),
            id: id.to_owned(),
        })
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.map.lock().contains_key(id)
    }

    /// Runs `f` on a request in flight, if there is one with this id.
    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(&mut Pending) -> R) -> Option<R> {
        self.map.lock().get_mut(id).map(f)
    }

    /// Forgets every request (the adapter closes): their requesters see them end.
    pub(crate) fn clear(&self) {
        self.map.lock().clear();
    }
}

/// Forgets its request when dropped (answered, timed out, or its future dropped).
pub(crate) struct Guard {
    table: Arc<Table>,
    id: String,
}

impl Guard {
    /// Forgets the request now and returns it.
    pub(crate) fn take(&self) -> Option<Pending> {
        self.table.map.lock().remove(&self.id)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.table.map.lock().remove(&self.id);
    }
}

/// Waits for `done` at most `timeout`; `true` when every answer came.
pub(crate) async fn wait(done: oneshot::Receiver<()>, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, done).await, Ok(Ok(())))
}

/// Remote acks a request may queue before its stream reads them; past this they are lost
/// (counted as lagged): a peer cannot grow this without bound.
pub(crate) const ACK_QUEUE: usize = 65_536;

/// The acks of a broadcast: this server's stream, merged with the other servers' answers.
/// It ends once this server's stream ended and every expected server told its count and
/// sent that many answers, or at the timeout (a [`AckFailure::Timeout`] for each remote
/// answer still expected, then whatever this server's stream still yields).
pub(crate) struct ClusterAcks {
    local: Option<AckStream>,
    remote: mpsc::Receiver<RemoteAck>,
    servers_expected: usize,
    servers_seen: usize,
    acks_expected: usize,
    acks_seen: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
    remote_done: bool,
    timeouts_left: usize,
    _guard: Guard,
}

impl ClusterAcks {
    pub(crate) fn new(
        local: AckStream,
        remote: mpsc::Receiver<RemoteAck>,
        servers_expected: usize,
        timeout: Duration,
        guard: Guard,
    ) -> ClusterAcks {
        ClusterAcks {
            local: Some(local),
            remote,
            servers_expected,
            servers_seen: 0,
            acks_expected: 0,
            acks_seen: 0,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            remote_done: servers_expected == 0,
            timeouts_left: 0,
            _guard: guard,
        }
    }

    fn remote_complete(&self) -> bool {
        self.servers_seen >= self.servers_expected && self.acks_seen >= self.acks_expected
    }
}

impl Stream for ClusterAcks {
    type Item = AckEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AckEvent>> {
        let this = &mut *self;
        if this.timeouts_left > 0 {
            this.timeouts_left -= 1;
            return Poll::Ready(Some(AckEvent::Reply(AckReply::new(
                None,
                Err(AckFailure::Timeout),
            ))));
        }
        if let Some(local) = &mut this.local {
            match local.as_mut().poll_next(cx) {
                Poll::Ready(Some(ev)) => return Poll::Ready(Some(ev)),
                Poll::Ready(None) => this.local = None,
                Poll::Pending => {}
            }
        }
        while !this.remote_done {
            match this.remote.poll_recv(cx) {
                Poll::Ready(Some(RemoteAck::Count(n))) => {
                    // One count per server; more come only from a confused or hostile peer.
                    if this.servers_seen < this.servers_expected {
                        this.servers_seen += 1;
                        this.acks_expected = this.acks_expected.saturating_add(n);
                        return Poll::Ready(Some(AckEvent::Expected(n)));
                    }
                }
                Poll::Ready(Some(RemoteAck::Ack(v))) => {
                    // An answer no count announced is not one of this broadcast's.
                    if this.acks_seen < this.acks_expected {
                        this.acks_seen += 1;
                        let args = Payload::from_values(v.into_iter().collect());
                        return Poll::Ready(Some(AckEvent::Reply(AckReply::new(None, Ok(args)))));
                    }
                }
                Poll::Ready(None) => {
                    // The adapter closed: what did not come will not.
                    this.remote_done = true;
                    this.timeouts_left = this.acks_expected - this.acks_seen;
                    return self.poll_next(cx);
                }
                Poll::Pending => break,
            }
            if this.remote_complete() {
                this.remote_done = true;
            }
        }
        if !this.remote_done && this.remote_complete() {
            this.remote_done = true;
        }
        if this.remote_done && this.local.is_none() {
            return Poll::Ready(None);
        }
        if !this.remote_done && this.deadline.as_mut().poll(cx).is_ready() {
            this.remote_done = true;
            this.timeouts_left = this.acks_expected - this.acks_seen;
            return self.poll_next(cx);
        }
        Poll::Pending
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &mut ClusterAcks) -> Vec<String> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(ev)) = Pin::new(&mut *s).poll_next(&mut cx) {
            out.push(match ev {
                AckEvent::Expected(n) => format!("expect {n}"),
                AckEvent::Reply(r) => match r.result {
                    Ok(p) => format!("ack {:?}", p.values()),
                    Err(e) => format!("fail {e}"),
                },
                _ => "other".into(),
            });
        }
        out
    }

    fn local(events: Vec<AckEvent>) -> AckStream {
        struct It(std::vec::IntoIter<AckEvent>);
        impl Stream for It {
            type Item = AckEvent;
            fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<AckEvent>> {
                Poll::Ready(self.0.next())
            }
        }
        Box::pin(It(events.into_iter()))
    }

    #[tokio::test]
    async fn merges_and_bounds_remote_answers() {
        let table = Table::new(4);
        let (tx, rx) = mpsc::channel(16);
        let guard = table.insert("r1", Pending::Ack(tx.clone())).unwrap();
        let mut s = ClusterAcks::new(
            local(vec![
                AckEvent::Expected(1),
                AckEvent::Reply(AckReply::new(None, Ok(Payload::default()))),
            ]),
            rx,
            2,
            Duration::from_secs(5),
            guard,
        );
        tx.try_send(RemoteAck::Count(1)).unwrap();
        tx.try_send(RemoteAck::Ack(Some(Value::Int(7)))).unwrap();
        // Past the count: dropped.
        tx.try_send(RemoteAck::Ack(Some(Value::Int(8)))).unwrap();
        tx.try_send(RemoteAck::Count(0)).unwrap();
        // A third server's count, when two were expected: dropped.
        tx.try_send(RemoteAck::Count(5)).unwrap();
        let events = collect(&mut s);
        assert_eq!(
            events,
            [
                "expect 1",
                "ack Some([])",
                "expect 1",
                "ack Some([Int(7)])",
                "expect 0"
            ]
        );
        assert!(table.contains("r1"));
        drop(s);
        assert!(!table.contains("r1"), "the guard forgets the request");
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_missing_answers() {
        let table = Table::new(4);
        let (tx, rx) = mpsc::channel(16);
        let guard = table.insert("r1", Pending::Ack(tx.clone())).unwrap();
        let mut s = ClusterAcks::new(local(vec![]), rx, 1, Duration::from_millis(100), guard);
        tx.try_send(RemoteAck::Count(2)).unwrap();
        tx.try_send(RemoteAck::Ack(None)).unwrap();
        assert_eq!(collect(&mut s), ["expect 2", "ack Some([])"]);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(collect(&mut s), ["fail no answer before the timeout"]);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(
            Pin::new(&mut s).poll_next(&mut cx),
            Poll::Ready(None)
        ));
    }

    #[test]
    fn the_table_is_bounded() {
        let table = Table::new(2);
        let (tx, _rx) = mpsc::channel(1);
        let a = table.insert("a", Pending::Ack(tx.clone())).unwrap();
        let _b = table.insert("b", Pending::Ack(tx.clone())).unwrap();
        assert!(table.insert("c", Pending::Ack(tx.clone())).is_err());
        drop(a);
        assert!(table.insert("c", Pending::Ack(tx)).is_ok());
    }
}
