//! A socket's rarer handlers: catch-all listeners of incoming and outgoing events, packet
//! middlewares and the handler of their errors (Node's `onAny`, `onAnyOutgoing`, `use` and
//! the `error` event).
//!
//! A socket holds them behind one pointer that stays empty until one is registered, so the
//! event path of a socket without any costs one branch.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sockeye_core::Payload;

use crate::handler::{
    BoxedMessageHandler, ExtractError, FromMessageParts, IsAsync, IsSync, MessageParts,
    MiddlewareFuture, Refusal,
};
use crate::socket::SocketRef;

/// Names a catch-all listener, to remove it later with
/// [`Socket::off_any`](crate::Socket::off_any) or
/// [`Socket::off_any_outgoing`](crate::Socket::off_any_outgoing) (Rust closures cannot be
/// compared, as Node compares listener functions).
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// use sockeye::extract::Event;
/// let id = socket.on_any(|Event(name): Event| println!("got {name}"));
/// socket.off_any(id);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    pub(crate) fn next() -> ListenerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ListenerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A packet middleware, type-erased.
pub(crate) type BoxedPacketMiddleware =
    Arc<dyn Fn(SocketRef, MessageParts) -> MiddlewareFuture + Send + Sync>;

/// The handler of a packet middleware's refusal.
pub(crate) type BoxedErrorHandler = Arc<dyn Fn(SocketRef, Refusal) + Send + Sync>;

/// A socket's hooks. Shared and copied on write: registering is rare, reading happens on
/// every event of a socket that has some.
#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) any: Vec<(ListenerId, BoxedMessageHandler)>,
    pub(crate) outgoing: Vec<(ListenerId, BoxedMessageHandler)>,
    pub(crate) middlewares: Vec<BoxedPacketMiddleware>,
    pub(crate) on_error: Option<BoxedErrorHandler>,
}

impl Hooks {
    /// Calls each listener of `list` with the event and a copy of its arguments (no ack: the
    /// event's own handler answers it).
    pub(crate) fn notify(
        list: &[(ListenerId, BoxedMessageHandler)],
        s: &SocketRef,
        event: Cow<'static, str>,
        payload: &Payload,
    ) {
        for (_, l) in list {
            l(
                s.clone(),
                MessageParts::new(event.clone(), payload.clone(), None),
            );
        }
    }
}

/// Removes one listener (`Some`) or all of them (`None`); whether anything was removed.
pub(crate) fn remove(
    list: &mut Vec<(ListenerId, BoxedMessageHandler)>,
    id: Option<ListenerId>,
) -> bool {
    let before = list.len();
    match id {
        Some(id) => list.retain(|(i, _)| *i != id),
        None => list.clear(),
    }
    list.len() != before
}

/// A packet middleware (Node's `socket.use`): a closure of up to 8 extractors
/// ([`FromMessageParts`], as event handlers take) that returns `Result<(), E>`, or a future
/// of it, with `E: Into<Refusal>`. It runs before the event's handler; a refusal stops the
/// event (its handler is not called, its ack is not answered) and goes to the socket's
/// [`on_error`](crate::Socket::on_error) handler, as Node emits `error` on the socket.
///
/// # Examples
/// ```
/// # fn f(socket: sockeye::SocketRef) {
/// use sockeye::extract::{Event, Refusal};
/// socket.use_middleware(|Event(name): Event| {
///     if name.starts_with("admin:") { Err(Refusal::new("not allowed")) } else { Ok(()) }
/// });
/// # }
/// ```
pub trait PacketMiddleware<M>: Send + Sync + 'static {
    /// Runs the middleware on one event.
    fn call(&self, s: SocketRef, parts: MessageParts) -> MiddlewareFuture;
}

pub(crate) fn box_packet_middleware<H: PacketMiddleware<M>, M>(h: H) -> BoxedPacketMiddleware {
    Arc::new(move |s, p| h.call(s, p))
}

fn refused(e: ExtractError) -> MiddlewareFuture {
    let msg = e.to_string();
    Box::pin(std::future::ready(Err(Refusal::new(msg))))
}

macro_rules! impl_packet_middleware {
    ($($T:ident),*) => {
        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<F, Fut, E, $($T,)*> PacketMiddleware<(IsAsync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), E>> + Send + 'static,
            E: Into<Refusal>,
            $($T: FromMessageParts + Send,)*
        {
            fn call(&self, s: SocketRef, mut parts: MessageParts) -> MiddlewareFuture {
                let mut left = <[&str]>::len(&[$(stringify!($T)),*]);
                $(left -= 1;
                parts.set_last(left == 0);
                let $T = match $T::from_message_parts(&s, &mut parts) {
                    Ok(v) => v,
                    Err(e) => return refused(e),
                };)*
                let fut = (self)($($T),*);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<F, E, $($T,)*> PacketMiddleware<(IsSync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Result<(), E> + Send + Sync + 'static,
            E: Into<Refusal>,
            $($T: FromMessageParts + Send,)*
        {
            fn call(&self, s: SocketRef, mut parts: MessageParts) -> MiddlewareFuture {
                let mut left = <[&str]>::len(&[$(stringify!($T)),*]);
                $(left -= 1;
                parts.set_last(left == 0);
                let $T = match $T::from_message_parts(&s, &mut parts) {
                    Ok(v) => v,
                    Err(e) => return refused(e),
                };)*
                let res = (self)($($T),*).map_err(Into::into);
                Box::pin(std::future::ready(res))
            }
        }
    };
}

impl_packet_middleware!();
impl_packet_middleware!(T1);
impl_packet_middleware!(T1, T2);
impl_packet_middleware!(T1, T2, T3);
impl_packet_middleware!(T1, T2, T3, T4);
impl_packet_middleware!(T1, T2, T3, T4, T5);
impl_packet_middleware!(T1, T2, T3, T4, T5, T6);
impl_packet_middleware!(T1, T2, T3, T4, T5, T6, T7);
impl_packet_middleware!(T1, T2, T3, T4, T5, T6, T7, T8);
