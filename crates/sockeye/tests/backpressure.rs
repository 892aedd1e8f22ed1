//! A client cannot pile up waiting async handlers: past `max_waiting_handlers` its
//! connection is not read until one of them finishes, other clients are served meanwhile,
//! and no message is lost.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sockeye::extract::Data;
use sockeye::{SocketIoBuilder, SocketRef};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// A server with `/slow` (see [`install`]) and the given bound; the counter of handlers
/// started and the gate holding `permits` permits.
async fn slow_server(limit: usize, permits: usize) -> (Server, Arc<AtomicUsize>, Arc<Semaphore>) {
    slow_server_with(builder().max_waiting_handlers(limit), permits).await
}

/// [`slow_server`] from a builder of one's own.
async fn slow_server_with(
    b: SocketIoBuilder,
    permits: usize,
) -> (Server, Arc<AtomicUsize>, Arc<Semaphore>) {
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(permits));
    let (s2, g2) = (started.clone(), gate.clone());
    let srv = start_with(b, move |io, _| install(io, s2, g2)).await;
    (srv, started, gate)
}

/// Joins `/slow` over polling, then POSTs `n` `work` events in one body, in a task of its own.
async fn post_work(addr: SocketAddr, n: u32) -> (Poller, JoinHandle<HttpResponse>) {
    let mut p = Poller::open(addr).await;
    p.post_ok("40/slow,").await;
    assert!(p.recv().await.starts_with("40/slow,{\"sid\":"));
    let body = (0..n)
        .map(|n| format!(r#"42/slow,["work",{n}]"#))
        .collect::<Vec<_>>()
        .join("\u{1e}");
    let sid = p.sid.clone();
    let post = tokio::spawn(async move { eio_post(addr, &sid, body.as_bytes()).await });
    (p, post)
}

/// `/slow`: each `work` handler counts itself, waits for a permit, then answers `done`.
fn install(io: &sockeye::SocketIo, started: Arc<AtomicUsize>, gate: Arc<Semaphore>) {
    io.ns("/slow", move |socket: SocketRef| {
        let (started, gate) = (started.clone(), gate.clone());
        socket.on("work", move |s: SocketRef, Data(n): Data<u32>| {
            let (started, gate) = (started.clone(), gate.clone());
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
                let _ = s.emit("done", &n);
            }
        });
    });
}

#[tokio::test]
async fn waiting_handlers_are_bounded_and_nothing_is_lost() {
    let (srv, started, gate) = slow_server(4, 0).await;
    let pauses = sockeye::metrics::read_pauses();
    let mut ws = Ws::connect_ns(srv.addr, "/slow").await;
    for n in 0..50 {
        ws.text(&format!(r#"42/slow,["work",{n}]"#)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Four handlers wait; the other 46 messages are not read yet.
    assert_eq!(started.load(Ordering::SeqCst), 4);
    assert!(sockeye::metrics::read_pauses() > pauses);
    // Other clients are served meanwhile.
    srv.assert_healthy().await;

    gate.add_permits(50);
    let mut done = Vec::new();
    for _ in 0..50 {
        let t = ws.recv_text().await;
        let n: u32 = t
            .strip_prefix(r#"42/slow,["done","#)
            .and_then(|r| r.strip_suffix("]"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {t}"));
        done.push(n);
    }
    done.sort_unstable();
    assert_eq!(done, (0..50).collect::<Vec<_>>());
    assert_eq!(started.load(Ordering::SeqCst), 50);
    srv.assert_healthy().await;
}

#[tokio::test]
async fn handlers_that_finish_at_once_are_not_counted() {
    // The limit is 1, and every handler finishes without waiting: nothing is paused.
    let (srv, started, _gate) = slow_server(1, 1000).await;
    let mut ws = Ws::connect_ns(srv.addr, "/slow").await;
    for n in 0..200 {
        ws.text(&format!(r#"42/slow,["work",{n}]"#)).await;
    }
    for n in 0..200 {
        assert_eq!(ws.recv_text().await, format!(r#"42/slow,["done",{n}]"#));
    }
    assert_eq!(started.load(Ordering::SeqCst), 200);
}

#[tokio::test]
async fn a_polling_client_gets_its_post_answered_when_reading_resumes() {
    let (srv, started, gate) = slow_server(2, 0).await;
    // One POST with three events: two start and wait, which pauses reading; the third waits
    // in the body, and so does the answer.
    let (mut p, post) = post_work(srv.addr, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "a handler started past the bound"
    );
    assert!(
        !post.is_finished(),
        "the POST was answered while reading was paused"
    );
    gate.add_permits(3);
    let res = post.await.expect("the POST task");
    assert_eq!((res.status, res.text()), (200, "ok".to_owned()));
    let mut done = Vec::new();
    for _ in 0..3 {
        done.push(p.recv().await);
    }
    done.sort();
    let want: Vec<String> = (0..3).map(|n| format!(r#"42/slow,["done",{n}]"#)).collect();
    assert_eq!(done, want);
}

#[tokio::test]
async fn a_polling_body_is_held_at_the_bound_and_a_dropped_post_ends_the_session() {
    // A heartbeat slower than the test: only the dropped POST can end the session.
    let slow_heartbeat = builder()
        .max_waiting_handlers(2)
        .ping_interval(Duration::from_secs(20))
        .ping_timeout(Duration::from_secs(20));
    let (srv, started, gate) = slow_server_with(slow_heartbeat, 0).await;
    // 100 events in one body against a bound of 2: only two run.
    let (_p, post) = post_work(srv.addr, 100).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(started.load(Ordering::SeqCst), 2);
    // The client gives up on its POST (its connection closes): the 98 events it sent are
    // not run later as if nothing happened; the session ends instead.
    post.abort();
    assert!(post.await.is_err_and(|e| e.is_cancelled()));
    let io = srv.io.clone();
    assert!(
        wait_until(Duration::from_secs(3), || io.connection_count() == 0).await,
        "the session did not end"
    );
    gate.add_permits(100);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "events of the dropped POST ran"
    );
    srv.assert_healthy_no_leak().await;
}
