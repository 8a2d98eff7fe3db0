//! The server itself: listening sockets for Flight SQL, the Postgres wire protocol and
//! HTTP, TLS, the connection limit they share, and a shutdown that stops accepting, lets
//! in-flight statements finish within a bound, then cancels them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use canon::Runtime;
use canon::canon_model::server::ServerSpec;
use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::transport::Server as Transport;

use crate::auth::Auth;
use crate::connection::{Connections, Tracked};
use crate::error::ServerError;
use crate::flight::FlightSql;
use crate::http::{self, HttpOptions};
use crate::pg::listener::{self as pg, PgOptions};
use crate::tls::{Tls, TlsFiles};

/// What to serve, where, and under which limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where Flight SQL listens.
    pub flight_sql: Option<SocketAddr>,
    /// Where the Postgres wire protocol listens.
    pub postgres: Option<SocketAddr>,
    /// Where the HTTP API listens.
    pub http: Option<SocketAddr>,
    /// TLS for every listener, when given.
    pub tls: Option<TlsFiles>,
    /// Connection, statement, idle and shutdown limits.
    pub limits: ServerSpec,
}

/// A server whose sockets are open; [`Server::run`] serves until shutdown.
pub struct Server {
    runtime: Arc<Runtime>,
    auth: Arc<Auth>,
    limits: ServerSpec,
    tls: Option<Tls>,
    flight_sql: Option<TcpListener>,
    postgres: Option<TcpListener>,
    http: Option<TcpListener>,
}

impl Server {
    /// Opens the listening sockets and reads the TLS files, so that every problem is
    /// reported before anything is served.
    pub async fn bind(
        runtime: Arc<Runtime>,
        auth: Auth,
        options: ServeOptions,
    ) -> Result<Self, ServerError> {
        if options.flight_sql.is_none() && options.postgres.is_none() && options.http.is_none() {
            return Err(ServerError::NothingToServe);
        }
        let tls = options.tls.as_ref().map(Tls::load).transpose()?;
        Ok(Self {
            runtime,
            auth: Arc::new(auth),
            limits: options.limits,
            tls,
            flight_sql: listen(options.flight_sql).await?,
            postgres: listen(options.postgres).await?,
            http: listen(options.http).await?,
        })
    }

    /// Where Flight SQL listens (with the port the system chose, if it was 0).
    pub fn flight_sql_addr(&self) -> Option<SocketAddr> {
        self.flight_sql.as_ref()?.local_addr().ok()
    }

    /// Where the Postgres wire protocol listens.
    pub fn postgres_addr(&self) -> Option<SocketAddr> {
        self.postgres.as_ref()?.local_addr().ok()
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref()?.local_addr().ok()
    }

    /// Whether clients connect with TLS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes; then stops accepting connections, gives
    /// in-flight statements the shutdown timeout to finish, and cancels what remains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let grace = self.limits.shutdown_timeout;
        let connections = Connections::new(Arc::clone(&self.runtime), self.limits.max_connections);
        let (stop, stopped) = watch::channel(false);
        let (flight_tls, pg_tls) = match self.tls {
            Some(tls) => (Some(tls.flight_sql), Some(tls.postgres)),
            None => (None, None),
        };
        // HTTP's TLS is the Postgres listener's: one rustls configuration, no ALPN.
        let http_tls = pg_tls.clone();

        let flight = {
            let connections = Arc::clone(&connections);
            let auth = Arc::clone(&self.auth);
            let limits = self.limits.clone();
            let mut stopped = stopped.clone();
            let listener = self.flight_sql;
            async move {
                let Some(listener) = listener else {
                    return Ok(());
                };
                let mut transport = Transport::builder();
                if let Some(tls) = flight_tls {
                    transport = transport.tls_config(tls).map_err(ServerError::Tls)?;
                }
                let service =
                    FlightServiceServer::new(FlightSql::new(auth, limits.statement_timeout));
                let incoming = accept(listener, connections, limits.idle_timeout);
                let signal = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                transport
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, signal)
                    .await
                    .map_err(ServerError::Transport)
            }
        };
        let postgres = {
            let options = Arc::new(PgOptions {
                auth: Arc::clone(&self.auth),
                tls: pg_tls,
                statement_timeout: self.limits.statement_timeout,
                idle_timeout: self.limits.idle_timeout,
            });
            let connections = Arc::clone(&connections);
            let listener = self.postgres;
            let stopped = stopped.clone();
            async move {
                if let Some(listener) = listener {
                    pg::serve(listener, connections, options, stopped).await;
                }
                Ok::<(), ServerError>(())
            }
        };
        let http = {
            let options = HttpOptions {
                auth: Arc::clone(&self.auth),
                tls: http_tls,
                statement_timeout: self.limits.statement_timeout,
                idle_timeout: self.limits.idle_timeout,
            };
            let connections = Arc::clone(&connections);
            let runtime = Arc::clone(&self.runtime);
            let listener = self.http;
            async move {
                match listener {
                    Some(listener) => http::serve(listener, runtime, connections, options, stopped)
                        .await
                        .map_err(ServerError::Http),
                    None => Ok(()),
                }
            }
        };
        let serving = async { tokio::try_join!(flight, postgres, http).map(drop) };
        tokio::pin!(serving);
        tokio::select! {
            result = &mut serving => return result,
            () = shutdown => {}
        }
        tracing::info!(
            open = connections.open(),
            grace = ?grace,
            "shutting down: no new connections, in-flight statements may finish"
        );
        let _ = stop.send(true);
        match tokio::time::timeout(grace, &mut serving).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    open = connections.open(),
                    "statements still running after {grace:?} were cancelled"
                );
                Ok(())
            }
        }
    }
}

/// A listening socket at `addr`, if one is asked for.
pub(crate) async fn listen(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, ServerError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|source| ServerError::Bind { addr, source })
}

/// The accepted Flight SQL connections of `listener`, each admitted against the limit and
/// tracked.
fn accept(
    listener: TcpListener,
    connections: Arc<Connections>,
    idle: Option<Duration>,
) -> impl Stream<Item = Result<Tracked<TcpStream>, std::io::Error>> {
    futures::stream::unfold(listener, move |listener| {
        let connections = Arc::clone(&connections);
        async move {
            let accepted = match listener.accept().await {
                Ok((stream, peer)) => {
                    // Small answers (a point query) go out at once, not after Nagle's delay.
                    let _ = stream.set_nodelay(true);
                    let connection = connections.admit(peer, "flight_sql");
                    Ok(Tracked::new(stream, connection, idle))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    // Out of file descriptors and the like: pause rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(e)
                }
            };
            Some((accepted, listener))
        }
    })
}
