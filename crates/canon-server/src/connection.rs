//! Client connections: each one counted against the limit, given its own Canon session on
//! its first authenticated request, closed when idle too long, and recorded when it ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use canon::datafusion::dataframe::DataFrame;
use canon::datafusion::scalar::ScalarValue;
use canon::{Event, Runtime, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

/// Every open connection of one server.
pub struct Connections {
    runtime: Arc<Runtime>,
    max: usize,
    next: AtomicU64,
    open: AtomicUsize,
}

impl Connections {
    /// The connections of a server over `runtime` that admits at most `max` at once.
    pub fn new(runtime: Arc<Runtime>, max: u32) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            max: usize::try_from(max).unwrap_or(usize::MAX),
            next: AtomicU64::new(1),
            open: AtomicUsize::new(0),
        })
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a new connection from `peer`; past the limit it is admitted refused, so
    /// that its requests can say why instead of the socket closing unexplained.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr, protocol: &'static str) -> Arc<Connection> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        let refused = before >= self.max;
        if refused {
            tracing::warn!(connection = id, %peer, max = self.max, "connection refused: limit reached");
        }
        Arc::new(Connection {
            id,
            peer,
            protocol,
            refused,
            connections: Arc::clone(self),
            in_flight: AtomicUsize::new(0),
            last_active: Mutex::new(std::time::Instant::now()),
            state: Mutex::default(),
        })
    }
}

/// One client connection.
pub struct Connection {
    id: u64,
    peer: SocketAddr,
    protocol: &'static str,
    refused: bool,
    connections: Arc<Connections>,
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened).
    last_active: Mutex<std::time::Instant>,
    state: Mutex<State>,
}

/// What a connection keeps between requests.
#[derive(Default)]
struct State {
    session: Option<(Session, String)>,
    next_handle: u64,
    /// Statements planned by GetFlightInfo, waiting for their DoGet.
    tickets: HashMap<u64, DataFrame>,
    /// Prepared statements, with the parameters last bound to each.
    prepared: HashMap<String, Vec<ScalarValue>>,
    closed_because: Option<&'static str>,
}

impl Connection {
    /// The server's number for this connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether this connection came past the limit and may do nothing.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// The connection limit, for refusals.
    pub fn limit(&self) -> usize {
        self.connections.max
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This connection's session, made for `user` on first use.
    pub fn session(&self, user: &str) -> Session {
        let mut state = self.state();
        if let Some((session, _)) = &state.session {
            return session.clone();
        }
        let session = self.open_session(user);
        state.session = Some((session.clone(), user.to_string()));
        session
    }

    /// A new session for `user` on this connection, its opening recorded; the caller keeps
    /// it (for the connection, or for the requests that name it).
    pub fn open_session(&self, user: &str) -> Session {
        let session = self.connections.runtime.session();
        let _ = self
            .connections
            .runtime
            .diagnostics()
            .record(Event::SessionOpened {
                session: session.id(),
                protocol: self.protocol.to_string(),
                connection: self.id,
                peer: self.peer.to_string(),
                user: user.to_string(),
            });
        tracing::info!(connection = self.id, peer = %self.peer, user, session = %session.id(), "session opened");
        session
    }

    /// Keeps a planned statement until its ticket is redeemed; returns the ticket's number.
    pub fn park(&self, df: DataFrame) -> u64 {
        let mut state = self.state();
        state.next_handle = state.next_handle.wrapping_add(1);
        let handle = state.next_handle;
        state.tickets.insert(handle, df);
        handle
    }

    /// The statement a ticket stands for; each ticket is redeemed once.
    pub fn redeem(&self, handle: u64) -> Option<DataFrame> {
        self.state().tickets.remove(&handle)
    }

    /// A new name for a prepared statement of this connection.
    pub fn prepared_name(&self) -> String {
        let mut state = self.state();
        state.next_handle = state.next_handle.wrapping_add(1);
        let prefix = if self.protocol == "postgres" {
            "pg"
        } else {
            "flight"
        };
        let name = format!("{prefix}_{}_{}", self.id, state.next_handle);
        state.prepared.insert(name.clone(), Vec::new());
        name
    }

    /// Whether `name` is one of this connection's prepared statements.
    pub fn has_prepared(&self, name: &str) -> bool {
        self.state().prepared.contains_key(name)
    }

    /// Binds parameter values to a prepared statement.
    pub fn bind(&self, name: &str, values: Vec<ScalarValue>) -> bool {
        match self.state().prepared.get_mut(name) {
            Some(bound) => {
                *bound = values;
                true
            }
            None => false,
        }
    }

    /// The values last bound to a prepared statement.
    pub fn bound(&self, name: &str) -> Option<Vec<ScalarValue>> {
        self.state().prepared.get(name).cloned()
    }

    /// Forgets a prepared statement.
    pub fn forget(&self, name: &str) -> bool {
        self.state().prepared.remove(name).is_some()
    }

    /// Marks a request as running until the returned guard drops.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Whether nothing runs on this connection.
    pub fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// How long the connection has had nothing in flight.
    pub fn idle_for(&self) -> Duration {
        if !self.idle() {
            return Duration::ZERO;
        }
        self.last_active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Says why the server is about to close this connection, for its `session_closed`.
    pub fn closing_because(&self, reason: &'static str) {
        self.state().closed_because = Some(reason);
    }

    /// Ends the connection: records its session's end and frees its place.
    pub(crate) fn closed(&self) {
        let mut state = self.state();
        let reason = state
            .closed_because
            .unwrap_or("client closed the connection");
        if let Some((session, user)) = state.session.take() {
            let _ = self
                .connections
                .runtime
                .diagnostics()
                .record(Event::SessionClosed {
                    session: session.id(),
                    connection: self.id,
                    reason: reason.to_string(),
                });
            tracing::info!(connection = self.id, user, reason, "session closed");
        }
        state.tickets.clear();
        self.connections.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request in flight on a connection; idle time does not count while one runs.
pub struct Busy(Arc<Connection>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last_active.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client's byte stream, tied to its [`Connection`]: it ends the connection when it is
/// dropped, and reads end of stream once the connection has been idle too long.
pub struct Tracked<IO> {
    io: IO,
    connection: Arc<Connection>,
    idle_timeout: Option<Duration>,
    idle: Option<Pin<Box<Sleep>>>,
}

impl<IO> Tracked<IO> {
    /// Wraps an accepted stream.
    pub fn new(io: IO, connection: Arc<Connection>, idle_timeout: Option<Duration>) -> Self {
        let idle = idle_timeout.map(|d| Box::pin(tokio::time::sleep(d)));
        Self {
            io,
            connection,
            idle_timeout,
            idle,
        }
    }

    /// Whether the connection has had nothing in flight for the idle timeout. The clock
    /// is the connection's own (requests end, not bytes move), read only when the timer
    /// fires, so that reads and writes cost nothing extra.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let (Some(idle), Some(timeout)) = (self.idle.as_mut(), self.idle_timeout) else {
            return false;
        };
        while idle.as_mut().poll(cx).is_ready() {
            let idle_for = self.connection.idle_for();
            if idle_for >= timeout {
                self.connection.closing_because("idle timeout");
                return true;
            }
            idle.as_mut().reset(Instant::now() + (timeout - idle_for));
        }
        false
    }
}

impl<IO> Drop for Tracked<IO> {
    fn drop(&mut self) {
        self.connection.closed();
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            // End of stream closes the connection the way a client's close would.
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Ok(())),
            polled => polled,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What every request of a connection can find in its extensions.
#[derive(Clone)]
pub struct ConnectionInfo(pub Arc<Connection>);

impl<IO> Connected for Tracked<IO> {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo(Arc::clone(&self.connection))
    }
}
