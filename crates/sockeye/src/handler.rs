//! Handlers and extractors.
//!
//! A handler is a closure (sync or async) whose arguments are *extractors*: types that take
//! what they need from the socket and the packet, as axum's handlers take theirs from the
//! request. Up to 8 arguments, in any order.
//!
//! | extractor | connect | event | disconnect |
//! |---|---|---|---|
//! | [`SocketRef`] | yes | yes | yes |
//! | [`Data<T>`] / [`TryData<T>`] (auth, or the event's arguments) | yes | yes | |
//! | [`Payload`] (the event's arguments as they arrived, to relay unchanged) | | yes | |
//! | [`Bin`] (binary attachments) | | yes | |
//! | [`AckSender`] | | yes | |
//! | [`Event`] (the event's name) | | yes | |
//! | [`State<T>`] | yes | yes | yes |
//! | [`SocketIo`] | yes | yes | yes |
//! | [`DisconnectReason`] | | | yes |

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ack::AckSender;
use crate::io::SocketIo;
use crate::socket::{DisconnectReason, Socket, SocketRef};
use sockeye_core::Payload;

/// Runs a handler's future: polled once right away (most handlers finish without waiting),
/// spawned on the runtime only if it has to wait. A panic is caught and logged.
pub(crate) fn run<F: Future<Output = ()> + Send + 'static>(fut: F) {
    run_then_spawn(fut, || ());
}

/// Runs an event handler's future like [`run`]; when it has to wait, it counts against its
/// connection's bound on waiting handlers until it finishes (or panics).
pub(crate) fn run_event<F: Future<Output = ()> + Send + 'static>(s: &SocketRef, fut: F) {
    run_then_spawn(fut, || {
        let limit = s.io_inner().config.max_waiting_handlers;
        crate::client::WaitingHandler::new(s.conn.clone(), limit)
    });
}

/// Polls `fut` once; if it has to wait, spawns it with what `on_wait` returns, kept (and
/// dropped) with the task.
fn run_then_spawn<F, G>(fut: F, on_wait: impl FnOnce() -> G)
where
    F: Future<Output = ()> + Send + 'static,
    G: Send + 'static,
{
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => {
            let kept = on_wait();
            // The rest of a handler stays in the span it started in (its socket's).
            let span = tracing::Span::current();
            tokio::spawn(async move {
                let _kept = kept;
                if span.is_none() {
                    fut.await;
                } else {
                    tracing::Instrument::instrument(fut, span).await;
                }
            });
        }
        Err(_) => tracing::error!("a handler panicked"),
    }
}

/// Runs a sync handler, catching a panic.
pub(crate) fn run_sync(f: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("a handler panicked");
    }
}

/// Why an extractor could not produce its value; the handler is not called.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// use sockeye::extract::{ExtractError, FromMessageParts, MessageParts};
/// /// The first argument as a user name, or the handler is not called.
/// struct Name(String);
/// impl FromMessageParts for Name {
///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
///         Ok(Name(parts.payload.arg(0)?))
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The data does not deserialize as the asked type.
    #[error("deserialize: {0}")]
    Deserialize(#[from] serde_json::Error),
    /// The state type was never registered with the builder.
    #[error("no state of type {0} was registered")]
    MissingState(&'static str),
    /// The ack was already taken, or the client asked for none.
    #[error("no ack requested")]
    NoAck,
}

/// What an event handler is called with.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// use sockeye::extract::{ExtractError, FromMessageParts, MessageParts};
/// /// Whether the client asked for an ack.
/// struct WantsAck(bool);
/// impl FromMessageParts for WantsAck {
///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
///         Ok(WantsAck(parts.ack_id.is_some()))
///     }
/// }
/// ```
#[derive(Debug)]
pub struct MessageParts {
    /// The event name (the handler's own name for it when the handler was found by name).
    pub event: Cow<'static, str>,
    /// The arguments.
    pub payload: Payload,
    /// The client's ack id, when it wants an answer.
    pub ack_id: Option<u64>,
    /// Whether the extractor running now is the handler's last one.
    last: bool,
}

impl MessageParts {
    pub(crate) fn new(
        event: Cow<'static, str>,
        payload: Payload,
        ack_id: Option<u64>,
    ) -> MessageParts {
        MessageParts {
            event,
            payload,
            ack_id,
            last: false,
        }
    }

    /// Whether the extractor running now is the handler's last one: it may then take what it
    /// needs out of the parts instead of cloning it, as no other extractor will look.
    ///
    /// # Examples
    /// ```
    /// use sockeye::extract::{ExtractError, FromMessageParts, MessageParts};
    /// use sockeye::SocketRef;
    ///
    /// /// The event's name, taken without a copy when it is the last argument.
    /// struct Name(String);
    /// impl FromMessageParts for Name {
    ///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
    ///         Ok(Name(if parts.is_last_extractor() {
    ///             std::mem::take(&mut parts.event).into_owned()
    ///         } else {
    ///             parts.event.to_string()
    ///         }))
    ///     }
    /// }
    /// ```
    pub fn is_last_extractor(&self) -> bool {
        self.last
    }

    pub(crate) fn set_last(&mut self, last: bool) {
        self.last = last;
    }
}

/// What a connect handler or middleware is called with.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// use sockeye::extract::{ConnectParts, ExtractError, FromConnectParts};
/// /// Whether the client sent an auth payload.
/// struct HasAuth(bool);
/// impl FromConnectParts for HasAuth {
///     fn from_connect_parts(_: &SocketRef, parts: &ConnectParts) -> Result<Self, ExtractError> {
///         Ok(HasAuth(parts.auth.is_some()))
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectParts {
    /// The auth payload (a payload of one argument, the auth object, in the parser's form),
    /// when the client sent one.
    pub auth: Option<Payload>,
}

/// An extractor for event handlers.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// use sockeye::extract::{ExtractError, FromMessageParts, MessageParts};
/// /// How many arguments the event has.
/// struct ArgCount(usize);
/// impl FromMessageParts for ArgCount {
///     fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
///         Ok(ArgCount(parts.payload.len()))
///     }
/// }
/// let handler = |ArgCount(n): ArgCount| println!("{n} arguments");
/// # let _ = handler;
/// ```
pub trait FromMessageParts: Sized {
    /// Takes the value from the socket and the packet.
    ///
    /// # Errors
    /// When the value cannot be produced; the handler is then not called.
    fn from_message_parts(s: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError>;
}

/// An extractor for connect handlers and middlewares.
///
/// # Examples
/// ```
/// use sockeye::SocketRef;
/// use sockeye::extract::{ConnectParts, ExtractError, FromConnectParts};
/// /// The `x-tenant` header of the handshake.
/// struct Tenant(String);
/// impl FromConnectParts for Tenant {
///     fn from_connect_parts(s: &SocketRef, _: &ConnectParts) -> Result<Self, ExtractError> {
///         Ok(Tenant(s.handshake().header("x-tenant").unwrap_or("public").to_owned()))
///     }
/// }
/// ```
pub trait FromConnectParts: Sized {
    /// Takes the value from the socket and the connect packet.
    ///
    /// # Errors
    /// When the value cannot be produced; the handler is then not called.
    fn from_connect_parts(s: &SocketRef, parts: &ConnectParts) -> Result<Self, ExtractError>;
}

/// An extractor for disconnect handlers.
///
/// # Examples
/// ```
/// use sockeye::{DisconnectReason, SocketRef};
/// use sockeye::extract::{ExtractError, FromDisconnectParts};
/// /// Whether the client left on its own.
/// struct Voluntary(bool);
/// impl FromDisconnectParts for Voluntary {
///     fn from_disconnect_parts(_: &SocketRef, r: DisconnectReason) -> Result<Self, ExtractError> {
///         Ok(Voluntary(r == DisconnectReason::ClientNamespaceDisconnect))
///     }
/// }
/// ```
pub trait FromDisconnectParts: Sized {
    /// Takes the value from the socket and the reason.
    ///
    /// # Errors
    /// When the value cannot be produced; the handler is then not called.
    fn from_disconnect_parts(s: &SocketRef, reason: DisconnectReason)
        -> Result<Self, ExtractError>;
}

/// The event's arguments (or the connect auth) deserialized as `T`.
///
/// With one argument `T` is that argument; with several, `T` takes them all as an array
/// (use a tuple). The handler is not called when they do not fit `T`; use [`TryData`] to
/// handle that yourself.
///
/// # Examples
/// ```
/// # use sockeye::{SocketRef, extract::Data};
/// let handler = |socket: SocketRef, Data(msg): Data<String>| {
///     let _ = socket.emit("message", &msg);
/// };
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

/// Like [`Data`], but hands the deserialization error to the handler.
///
/// # Examples
/// ```
/// # use sockeye::extract::TryData;
/// let handler = |TryData(msg): TryData<String>| match msg {
///     Ok(text) => println!("{text}"),
///     Err(e) => eprintln!("not a string: {e}"),
/// };
/// # let _ = handler;
/// ```
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

/// The binary values of the event's arguments, in order: the JSON parser's attachments
/// (in placeholder order), or the binary values inside the arguments with another parser
/// (depth first, the order Node's JSON parser numbers them in).
///
/// # Examples
/// ```
/// # use sockeye::extract::Bin;
/// let handler = |Bin(bins): Bin| println!("{} attachments", bins.len());
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct Bin(pub Vec<Bytes>);

/// The event's name (useful in a catch-all handler).
///
/// # Examples
/// ```
/// use sockeye::{SocketRef, extract::Event};
/// let handler = |s: SocketRef, Event(name): Event| println!("{} sent {name}", s.id());
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct Event(pub String);

/// A clone of the state registered with [`crate::SocketIoBuilder::with_state`].
///
/// # Examples
/// ```
/// # use sockeye::extract::State;
/// #[derive(Clone)]
/// struct Config { greeting: String }
/// let handler = |State(c): State<Config>| println!("{}", c.greeting);
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

impl<T: DeserializeOwned> FromMessageParts for Data<T> {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(Data(parts.payload.args()?))
    }
}

impl<T: DeserializeOwned> FromMessageParts for TryData<T> {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(TryData(parts.payload.args()))
    }
}

/// The event's arguments as they arrived, to relay unchanged (`emit_payload` on a socket, on
/// [`SocketIo`] or on an operator) without decoding them.
///
/// As the handler's last argument it takes the payload out of the message. Anywhere else it
/// is a clone that shares the message's bytes rather than copying them: the JSON text and the
/// binary attachments are reference-counted buffers (`Bytes`), so a clone costs a count (the
/// first clone of a buffer allocates that count's few bytes), plus the list of the arguments'
/// ranges (kept inline up to four arguments) and, with attachments, the short list of their
/// handles. The clone cannot be avoided there: the extractors after it may read the payload
/// (`Data<T>`, `Bin`, another `Payload`). A payload made of structured values (from
/// [`Payload::from_values`]) is copied value by value by a clone; put the `Payload` last to
/// relay such a payload without one.
///
/// # Examples
/// ```
/// use sockeye::{Payload, SocketIo, SocketRef};
///
/// let (_svc, io) = SocketIo::new_svc();
/// io.ns("/", |socket: SocketRef| {
///     // Relayed to everyone else; the payload is the last argument, so it is taken.
///     socket.on("chat", |s: SocketRef, p: Payload| async move {
///         let _ = s.broadcast().emit_payload("chat", &p).await;
///     });
/// });
/// ```
impl FromMessageParts for Payload {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(if parts.is_last_extractor() {
            std::mem::take(&mut parts.payload)
        } else {
            parts.payload.clone()
        })
    }
}

impl FromMessageParts for Bin {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(Bin(parts.payload.binaries()))
    }
}

impl FromMessageParts for Event {
    fn from_message_parts(_: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(Event(if parts.is_last_extractor() {
            std::mem::take(&mut parts.event).into_owned()
        } else {
            parts.event.to_string()
        }))
    }
}

impl FromMessageParts for AckSender {
    fn from_message_parts(s: &SocketRef, parts: &mut MessageParts) -> Result<Self, ExtractError> {
        Ok(AckSender::new(s.clone(), parts.ack_id.take()))
    }
}

fn auth_value<T: DeserializeOwned>(parts: &ConnectParts) -> Result<T, serde_json::Error> {
    match &parts.auth {
        Some(a) => a.arg(0),
        None => serde_json::from_slice(b"{}"),
    }
}

impl<T: DeserializeOwned> FromConnectParts for Data<T> {
    fn from_connect_parts(_: &SocketRef, parts: &ConnectParts) -> Result<Self, ExtractError> {
        Ok(Data(auth_value(parts)?))
    }
}

impl<T: DeserializeOwned> FromConnectParts for TryData<T> {
    fn from_connect_parts(_: &SocketRef, parts: &ConnectParts) -> Result<Self, ExtractError> {
        Ok(TryData(auth_value(parts)))
    }
}

impl FromDisconnectParts for DisconnectReason {
    fn from_disconnect_parts(
        _: &SocketRef,
        reason: DisconnectReason,
    ) -> Result<Self, ExtractError> {
        Ok(reason)
    }
}

macro_rules! common_extractor {
    ($ty:ty, $s:ident => $body:expr) => {
        impl FromMessageParts for $ty {
            fn from_message_parts(
                $s: &SocketRef,
                _: &mut MessageParts,
            ) -> Result<Self, ExtractError> {
                $body
            }
        }
        impl FromConnectParts for $ty {
            fn from_connect_parts($s: &SocketRef, _: &ConnectParts) -> Result<Self, ExtractError> {
                $body
            }
        }
        impl FromDisconnectParts for $ty {
            fn from_disconnect_parts(
                $s: &SocketRef,
                _: DisconnectReason,
            ) -> Result<Self, ExtractError> {
                $body
            }
        }
    };
}

common_extractor!(SocketRef, s => Ok(s.clone()));
common_extractor!(SocketIo, s => Ok(s.io()));

fn state<T: Clone + Send + Sync + 'static>(s: &Socket) -> Result<State<T>, ExtractError> {
    s.io_inner()
        .state
        .get::<T>()
        .cloned()
        .map(State)
        .ok_or(ExtractError::MissingState(std::any::type_name::<T>()))
}

impl<T: Clone + Send + Sync + 'static> FromMessageParts for State<T> {
    fn from_message_parts(s: &SocketRef, _: &mut MessageParts) -> Result<Self, ExtractError> {
        state(s)
    }
}
impl<T: Clone + Send + Sync + 'static> FromConnectParts for State<T> {
    fn from_connect_parts(s: &SocketRef, _: &ConnectParts) -> Result<Self, ExtractError> {
        state(s)
    }
}
impl<T: Clone + Send + Sync + 'static> FromDisconnectParts for State<T> {
    fn from_disconnect_parts(s: &SocketRef, _: DisconnectReason) -> Result<Self, ExtractError> {
        state(s)
    }
}

/// Marks a handler that returns a future.
///
/// # Examples
/// ```
/// use sockeye::{SocketRef, extract::{IsAsync, MessageHandler}};
/// fn takes<H: MessageHandler<(IsAsync, SocketRef)>>(_: H) {}
/// takes(|_: SocketRef| async {});
/// ```
#[derive(Debug)]
pub struct IsAsync;
/// Marks a handler that returns nothing.
///
/// # Examples
/// ```
/// use sockeye::{SocketRef, extract::{IsSync, MessageHandler}};
/// fn takes<H: MessageHandler<(IsSync, SocketRef)>>(_: H) {}
/// takes(|_: SocketRef| {});
/// ```
#[derive(Debug)]
pub struct IsSync;

/// An event handler: a closure of up to 8 extractors ([`FromMessageParts`]), sync or async.
///
/// # Examples
/// ```
/// use sockeye::{SocketRef, extract::MessageHandler};
/// fn register<H: MessageHandler<M>, M>(socket: &SocketRef, h: H) {
///     socket.on("event", h);
/// }
/// # fn g(s: &SocketRef) { register(s, |_: SocketRef| {}); }
/// ```
pub trait MessageHandler<M>: Send + std::marker::Sync + 'static {
    /// Calls the handler.
    fn call(&self, s: SocketRef, parts: MessageParts);
}

/// A connect handler: a closure of up to 8 extractors ([`FromConnectParts`]), sync or async.
///
/// # Examples
/// ```
/// use sockeye::{SocketIo, SocketRef, extract::ConnectHandler};
/// fn chat<H: ConnectHandler<M>, M>(io: &SocketIo, h: H) {
///     io.ns("/chat", h);
/// }
/// # fn g(io: &SocketIo) { chat(io, |_: SocketRef| {}); }
/// ```
pub trait ConnectHandler<M>: Send + std::marker::Sync + 'static {
    /// Calls the handler.
    fn call(&self, s: SocketRef, parts: ConnectParts);
}

/// A disconnect handler: a closure of up to 8 extractors ([`FromDisconnectParts`]), sync or
/// async.
///
/// # Examples
/// ```
/// use sockeye::{SocketRef, extract::DisconnectHandler};
/// fn on_leave<H: DisconnectHandler<M>, M>(socket: &SocketRef, h: H) {
///     socket.on_disconnect(h);
/// }
/// # fn g(s: &SocketRef) { on_leave(s, |_: SocketRef| {}); }
/// ```
pub trait DisconnectHandler<M>: Send + std::marker::Sync + 'static {
    /// Calls the handler.
    fn call(&self, s: SocketRef, reason: DisconnectReason);
}

/// Why a middleware refused. A connect middleware's refusal is sent to the client as its
/// `connect_error` (`{"message":..,"data":..}`); a packet middleware's (see
/// [`crate::Socket::use_middleware`]) goes to the socket's
/// [`on_error`](crate::Socket::on_error) handler and nothing is sent, as in Node.
///
/// # Examples
/// ```
/// # use sockeye::extract::Refusal;
/// let r = Refusal::new("unauthorized").with_data(serde_json::json!({"reason": "bad token"}));
/// assert_eq!(r.message, "unauthorized");
/// ```
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The message (`connect_error`'s `err.message` in the client).
    pub message: String,
    /// Extra data (`err.data` in the client).
    pub data: Option<serde_json::Value>,
}

impl Refusal {
    /// A refusal with a message.
    ///
    /// # Examples
    /// ```
    /// use sockeye::extract::Refusal;
    /// let r = Refusal::new("unauthorized");
    /// assert!(r.data.is_none());
    /// ```
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data.
    ///
    /// # Examples
    /// ```
    /// use sockeye::extract::Refusal;
    /// let r = Refusal::new("unauthorized").with_data(serde_json::json!({"retry": false}));
    /// assert_eq!(r.data.unwrap()["retry"], false);
    /// ```
    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Refusal {
        self.data = Some(data);
        self
    }
}

impl From<&str> for Refusal {
    fn from(m: &str) -> Self {
        Refusal::new(m)
    }
}

impl From<String> for Refusal {
    fn from(m: String) -> Self {
        Refusal::new(m)
    }
}

/// The future a middleware returns.
///
/// # Examples
/// ```
/// use sockeye::extract::{MiddlewareFuture, Refusal};
/// let fut: MiddlewareFuture = Box::pin(async { Err(Refusal::new("closed")) });
/// # let _ = fut;
/// ```
pub type MiddlewareFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// A connect middleware: an async closure of up to 8 extractors ([`FromConnectParts`]) that
/// returns `Result<(), E>` with `E: Into<Refusal>`.
///
/// # Examples
/// ```
/// use sockeye::{SocketIo, SocketRef, extract::Middleware};
/// fn guarded<M: Middleware<T>, T>(io: &SocketIo, mw: M) {
///     io.ns("/private", |_: SocketRef| {}).with(mw);
/// }
/// # let _ = guarded::<fn() -> std::future::Ready<Result<(), sockeye::extract::Refusal>>, (sockeye::extract::IsAsync,)>;
/// ```
pub trait Middleware<M>: Send + std::marker::Sync + 'static {
    /// Calls the middleware.
    fn call(&self, s: SocketRef, parts: ConnectParts) -> MiddlewareFuture;
}

macro_rules! impl_handlers {
    ($($T:ident),*) => {
        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<F, Fut, $($T,)*> MessageHandler<(IsAsync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + std::marker::Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($T: FromMessageParts + Send,)*
        {
            fn call(&self, s: SocketRef, mut parts: MessageParts) {
                let mut left = <[&str]>::len(&[$(stringify!($T)),*]);
                $(left -= 1;
                parts.last = left == 0;
                let $T = match $T::from_message_parts(&s, &mut parts) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, &parts.event, e),
                };)*
                run_event(&s, (self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<F, $($T,)*> MessageHandler<(IsSync, $($T,)*)> for F
        where
            F: Fn($($T),*) + Send + std::marker::Sync + 'static,
            $($T: FromMessageParts + Send,)*
        {
            fn call(&self, s: SocketRef, mut parts: MessageParts) {
                let mut left = <[&str]>::len(&[$(stringify!($T)),*]);
                $(left -= 1;
                parts.last = left == 0;
                let $T = match $T::from_message_parts(&s, &mut parts) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, &parts.event, e),
                };)*
                run_sync(|| (self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, $($T,)*> ConnectHandler<(IsAsync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + std::marker::Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($T: FromConnectParts + Send,)*
        {
            fn call(&self, s: SocketRef, parts: ConnectParts) {
                $(let $T = match $T::from_connect_parts(&s, &parts) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, "connect", e),
                };)*
                run((self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, $($T,)*> ConnectHandler<(IsSync, $($T,)*)> for F
        where
            F: Fn($($T),*) + Send + std::marker::Sync + 'static,
            $($T: FromConnectParts + Send,)*
        {
            fn call(&self, s: SocketRef, parts: ConnectParts) {
                $(let $T = match $T::from_connect_parts(&s, &parts) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, "connect", e),
                };)*
                run_sync(|| (self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, $($T,)*> DisconnectHandler<(IsAsync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + std::marker::Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($T: FromDisconnectParts + Send,)*
        {
            fn call(&self, s: SocketRef, reason: DisconnectReason) {
                $(let $T = match $T::from_disconnect_parts(&s, reason) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, "disconnect", e),
                };)*
                run((self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, $($T,)*> DisconnectHandler<(IsSync, $($T,)*)> for F
        where
            F: Fn($($T),*) + Send + std::marker::Sync + 'static,
            $($T: FromDisconnectParts + Send,)*
        {
            fn call(&self, s: SocketRef, reason: DisconnectReason) {
                $(let $T = match $T::from_disconnect_parts(&s, reason) {
                    Ok(v) => v,
                    Err(e) => return extract_failed(&s, "disconnect", e),
                };)*
                run_sync(|| (self)($($T),*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, E, $($T,)*> Middleware<(IsAsync, $($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + std::marker::Sync + 'static,
            Fut: Future<Output = Result<(), E>> + Send + 'static,
            E: Into<Refusal>,
            $($T: FromConnectParts + Send,)*
        {
            fn call(&self, s: SocketRef, parts: ConnectParts) -> MiddlewareFuture {
                $(let $T = match $T::from_connect_parts(&s, &parts) {
                    Ok(v) => v,
                    Err(e) => {
                        let msg = e.to_string();
                        return Box::pin(async move { Err(Refusal::new(msg)) });
                    }
                };)*
                let fut = (self)($($T),*);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
        }
    };
}

impl_handlers!();
impl_handlers!(T1);
impl_handlers!(T1, T2);
impl_handlers!(T1, T2, T3);
impl_handlers!(T1, T2, T3, T4);
impl_handlers!(T1, T2, T3, T4, T5);
impl_handlers!(T1, T2, T3, T4, T5, T6);
impl_handlers!(T1, T2, T3, T4, T5, T6, T7);
impl_handlers!(T1, T2, T3, T4, T5, T6, T7, T8);

fn extract_failed(s: &SocketRef, what: &str, e: ExtractError) {
    tracing::warn!(socket = %s.id(), "{what}: handler not called: {e}");
}

/// A type-erased event handler, as a socket stores it.
///
/// A closure that captures nothing (the usual handler) is kept as a `'static` reference:
/// no allocation per socket, and no reference count to touch on every event, which with
/// many connections is a cache miss per message. Anything else is shared through an `Arc`.
pub(crate) enum BoxedMessageHandler {
    Static(&'static MessageFn),
    Counted(Arc<MessageFn>),
}

/// The erased signature of an event handler.
pub(crate) type MessageFn = dyn Fn(SocketRef, MessageParts) + Send + std::marker::Sync;

impl BoxedMessageHandler {
    fn new<F: Fn(SocketRef, MessageParts) + Send + std::marker::Sync + 'static>(f: F) -> Self {
        if std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>() {
            // A zero-sized box allocates nothing, so leaking it leaks nothing.
            BoxedMessageHandler::Static(Box::leak(Box::new(f)))
        } else {
            BoxedMessageHandler::Counted(Arc::new(f))
        }
    }
}

impl Clone for BoxedMessageHandler {
    fn clone(&self) -> Self {
        match self {
            BoxedMessageHandler::Static(f) => BoxedMessageHandler::Static(*f),
            BoxedMessageHandler::Counted(f) => BoxedMessageHandler::Counted(f.clone()),
        }
    }
}

impl std::ops::Deref for BoxedMessageHandler {
    type Target = MessageFn;

    fn deref(&self) -> &MessageFn {
        match self {
            BoxedMessageHandler::Static(f) => *f,
            BoxedMessageHandler::Counted(f) => &**f,
        }
    }
}

/// Type-erased handlers of the rarer kinds, as stored.
pub(crate) type BoxedConnectHandler =
    Arc<dyn Fn(SocketRef, ConnectParts) + Send + std::marker::Sync>;
pub(crate) type BoxedDisconnectHandler =
    Arc<dyn Fn(SocketRef, DisconnectReason) + Send + std::marker::Sync>;
pub(crate) type BoxedMiddleware =
    Arc<dyn Fn(SocketRef, ConnectParts) -> MiddlewareFuture + Send + std::marker::Sync>;

pub(crate) fn box_message<H: MessageHandler<M>, M>(h: H) -> BoxedMessageHandler {
    BoxedMessageHandler::new(move |s, p| h.call(s, p))
}
pub(crate) fn box_connect<H: ConnectHandler<M>, M>(h: H) -> BoxedConnectHandler {
    Arc::new(move |s, p| h.call(s, p))
}
pub(crate) fn box_disconnect<H: DisconnectHandler<M>, M>(h: H) -> BoxedDisconnectHandler {
    Arc::new(move |s, r| h.call(s, r))
}
pub(crate) fn box_middleware<H: Middleware<M>, M>(h: H) -> BoxedMiddleware {
    Arc::new(move |s, p| h.call(s, p))
}

/// A socket's event handlers: a short list searched in place (the usual few handlers, whose
/// names are mostly literals shared by every socket), a hash map past
/// [`HandlerTable::INLINE`] of them.
#[derive(Default)]
#[repr(C)]
pub(crate) struct HandlerTable {
    many: Option<Box<crate::fast_hash::FastMap<Cow<'static, str>, BoxedMessageHandler>>>,
    /// Catch-all listeners, packet middlewares and their error handler, when any was set.
    pub(crate) hooks: Option<Arc<crate::hooks::Hooks>>,
    few: smallvec::SmallVec<[(Cow<'static, str>, BoxedMessageHandler); 4]>,
    /// The handler of every event without one of its own (`Socket::on_fallback`).
    pub(crate) fallback: Option<BoxedMessageHandler>,
}

impl HandlerTable {
    /// How many handlers are searched linearly before a map takes over.
    pub(crate) const INLINE: usize = 16;

    /// Sets the handler of `event`, replacing any previous one.
    pub(crate) fn insert(&mut self, event: Cow<'static, str>, handler: BoxedMessageHandler) {
        if let Some(map) = self.many.as_mut() {
            map.insert(event, handler);
            return;
        }
        if let Some(slot) = self.few.iter_mut().find(|(name, _)| *name == event) {
            slot.1 = handler;
            return;
        }
        if self.few.len() < Self::INLINE {
            self.few.push((event, handler));
            return;
        }
        let mut map: crate::fast_hash::FastMap<_, _> = self.few.drain(..).collect();
        map.insert(event, handler);
        self.few = smallvec::SmallVec::new();
        self.many = Some(Box::new(map));
    }

    /// The handler of `event`, with the name it was registered under.
    pub(crate) fn get(&self, event: &[u8]) -> Option<(&Cow<'static, str>, &BoxedMessageHandler)> {
        match &self.many {
            Some(map) => map.get_key_value(std::str::from_utf8(event).ok()?),
            None => self
                .few
                .iter()
                .find(|(name, _)| name.len() == event.len() && name.as_bytes() == event)
                .map(|(name, h)| (name, h)),
        }
    }

    /// Forgets every handler (and hook).
    pub(crate) fn clear(&mut self) {
        self.few = smallvec::SmallVec::new();
        self.many = None;
        self.hooks = None;
        self.fallback = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler with state of its own, so each one is a distinct allocation.
    fn handler() -> BoxedMessageHandler {
        let state = Box::new(0u8);
        BoxedMessageHandler::new(move |_, _| {
            let _ = &state;
        })
    }

    fn same(a: &BoxedMessageHandler, b: &BoxedMessageHandler) -> bool {
        match (a, b) {
            (BoxedMessageHandler::Counted(a), BoxedMessageHandler::Counted(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    #[test]
    fn closures_without_state_are_kept_without_a_reference_count() {
        assert!(matches!(
            BoxedMessageHandler::new(|_, _| {}),
            BoxedMessageHandler::Static(_)
        ));
        assert!(matches!(handler(), BoxedMessageHandler::Counted(_)));
        // Zero-sized but with a destructor: kept in an `Arc`, so the destructor runs.
        struct Marker;
        impl Drop for Marker {
            fn drop(&mut self) {}
        }
        let marker = Marker;
        let h = BoxedMessageHandler::new(move |_, _| {
            let _ = &marker;
        });
        assert!(matches!(h, BoxedMessageHandler::Counted(_)));
    }

    #[test]
    fn handler_table_finds_replaces_and_grows_into_a_map() {
        let mut t = HandlerTable::default();
        let a = handler();
        t.insert("message".into(), a.clone());
        assert!(same(t.get("message".as_bytes()).unwrap().1, &a));
        assert!(t.get(b"messag").is_none());
        assert!(t.get(b"messagf").is_none());
        let b = handler();
        t.insert(String::from("message").into(), b.clone());
        assert!(same(t.get("message".as_bytes()).unwrap().1, &b));
        let mut all = vec![("message".to_owned(), b.clone())];
        for i in 0..HandlerTable::INLINE * 2 {
            let h = handler();
            t.insert(format!("event-{i}").into(), h.clone());
            all.push((format!("event-{i}"), h));
            for (name, h) in &all {
                assert!(
                    same(t.get(name.as_bytes()).unwrap().1, h),
                    "{name} after {i}"
                );
            }
        }
        assert!(t.many.is_some());
        let c = handler();
        t.insert("event-3".into(), c.clone());
        assert!(same(t.get("event-3".as_bytes()).unwrap().1, &c));
        t.clear();
        assert!(t.get(b"message").is_none() && t.get(b"event-3").is_none());
    }
}
