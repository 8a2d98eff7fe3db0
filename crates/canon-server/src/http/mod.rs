//! `canon serve --http`: Canon's sessions over HTTP, for web and service code. Statements
//! answer as Arrow IPC streams, JSON or CSV; the catalog, the model graph's lineage and the
//! recent statements answer as JSON. `/` serves the web console, which shows all of it.
//!
//! Every connection is admitted against the server's limit and closed when idle, as the
//! other protocols' are; every request authenticates with the same token. Each request
//! runs in a session of its own, unless it names one with a `Canon-Session` header that a
//! previous answer gave, to run a sequence (`SET`, then queries) in one session.
//!
//! Layers, bottom to top: [`answer`] (errors as JSON with a fitting status); [`results`]
//! (a statement's batches as a response body in the format asked for); [`sessions`] (the
//! sessions requests name); [`catalog`] (datasets, lineage, recent statements) and
//! [`statements`] (`/api/sql`, `/api/explain`); [`console`] (the page and its scripts);
//! this module (routes, connections, shutdown).

mod answer;
mod catalog;
mod console;
mod results;
mod sessions;
mod statements;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use canon::Runtime;
use pgwire::tokio::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use self::answer::ApiError;
use self::sessions::Sessions;
use crate::auth::Auth;
use crate::connection::{Busy, Connection, Connections, Tracked};

/// What every HTTP request is served with.
pub(crate) struct HttpOptions {
    pub auth: Arc<Auth>,
    pub tls: Option<TlsAcceptor>,
    pub statement_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
}

/// The state the handlers share.
pub(crate) struct Shared {
    runtime: Arc<Runtime>,
    auth: Arc<Auth>,
    statement_timeout: Option<Duration>,
    sessions: Sessions,
    /// The model graph's lineage, compiled on first request (the project does not change
    /// while the server runs).
    lineage: tokio::sync::OnceCell<serde_json::Value>,
}

/// Serves HTTP on `listener` until `stop` turns true; requests in flight may then finish
/// (the caller bounds the wait).
pub(crate) async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    connections: Arc<Connections>,
    options: HttpOptions,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        runtime,
        auth: options.auth,
        statement_timeout: options.statement_timeout,
        sessions: Sessions::new(options.idle_timeout),
        lineage: tokio::sync::OnceCell::new(),
    });
    let routes = Router::new()
        .route("/api/sql", post(statements::sql))
        .route("/api/explain", post(statements::explain))
        .route("/api/datasets", get(catalog::datasets))
        .route("/api/datasets/{name}", get(catalog::dataset))
        .route("/api/lineage", get(catalog::lineage))
        .route("/api/queries", get(catalog::queries))
        .route("/", get(console::page))
        .route("/{file}", get(console::file))
        .fallback(answer::not_found)
        .with_state(shared);
    let listener = Admitting::new(
        listener,
        connections,
        options.idle_timeout,
        options.tls,
        stop.clone(),
    )?;
    let signal = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    axum::serve(
        listener,
        routes.into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(signal)
    .await
}

/// A connection's bytes, plain or over TLS.
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The listening socket, admitting each connection against the server's limit: a task
/// accepts connections and completes their TLS handshakes, each in a task of its own so
/// that a slow client delays no other, and hands the ready ones to axum.
struct Admitting {
    local: SocketAddr,
    ready: mpsc::Receiver<(Tracked<Box<dyn Duplex>>, Peer)>,
}

impl Admitting {
    fn new(
        listener: TcpListener,
        connections: Arc<Connections>,
        idle_timeout: Option<Duration>,
        tls: Option<TlsAcceptor>,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (ready, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Once the server stops, no connection is accepted (its socket closes here)
                // while the requests in flight finish.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = ready.closed() => break,
                    _ = stop.wait_for(|stop| *stop) => break,
                };
                let (stream, addr) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an HTTP connection failed");
                        // Out of file descriptors and the like: pause rather than spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = connections.admit(addr, "http");
                let ready = ready.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let io: Box<dyn Duplex> = match tls {
                        None => Box::new(stream),
                        Some(tls) => {
                            match tokio::time::timeout(HANDSHAKE, tls.accept(stream)).await {
                                Ok(Ok(stream)) => Box::new(stream),
                                Ok(Err(e)) => {
                                    tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
                                    connection.closing_because("TLS handshake failed");
                                    connection.closed();
                                    return;
                                }
                                Err(_) => {
                                    connection.closing_because("TLS handshake timed out");
                                    connection.closed();
                                    return;
                                }
                            }
                        }
                    };
                    let peer = Peer {
                        addr,
                        connection: Some(Arc::clone(&connection)),
                    };
                    let _ = ready
                        .send((Tracked::new(io, connection, idle_timeout), peer))
                        .await;
                });
            }
        });
        Ok(Self {
            local,
            ready: receiver,
        })
    }
}

/// A connection as its requests see it.
#[derive(Clone)]
pub(crate) struct Peer {
    addr: SocketAddr,
    connection: Option<Arc<Connection>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.connection {
            Some(connection) => write!(f, "{} (connection {})", self.addr, connection.id()),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl Listener for Admitting {
    type Io = Tracked<Box<dyn Duplex>>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accepting task ends only when this receiver is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local,
            connection: None,
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, Admitting>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Admitting>) -> Self {
        stream.remote_addr().clone()
    }
}

/// An authenticated request on an admitted connection: who sent it, and its connection
/// held busy (so it is not closed as idle) until the answer has been sent.
pub(crate) struct Caller {
    user: String,
    connection: Arc<Connection>,
    busy: Busy,
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let connection = parts
            .extensions
            .get::<axum::extract::ConnectInfo<Peer>>()
            .and_then(|info| info.0.connection.clone())
            .ok_or_else(|| ApiError::internal("request arrived without its connection"))?;
        if connection.refused() {
            return Err(ApiError::busy(connection.limit()));
        }
        let user = user(&shared.auth, &parts.headers)?;
        let busy = connection.busy();
        Ok(Self {
            user,
            connection,
            busy,
        })
    }
}

/// The user a request authenticates as, from its `authorization` header.
fn user(auth: &Auth, headers: &HeaderMap) -> Result<String, ApiError> {
    let header = match headers.get(axum::http::header::AUTHORIZATION) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::unauthorized("the authorization header is not text"))?,
        ),
        None => None,
    };
    auth.user(header)
        .map_err(|refusal| ApiError::unauthorized(refusal.to_string()))
}
