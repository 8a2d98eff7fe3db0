//! The server itself: listening sockets, TLS, the connection limit, and a shutdown that
//! stops accepting, lets in-flight statements finish within a bound, then cancels them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use canon::Runtime;
use canon::canon_model::server::ServerSpec;
use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::{Identity, Server as Transport, ServerTlsConfig};

use crate::auth::Auth;
use crate::connection::{Connections, Tracked};
use crate::error::ServerError;
use crate::flight::FlightSql;

/// The certificate and private key (PEM files) the server presents.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// What to serve, where, and under which limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where Flight SQL listens.
    pub flight_sql: Option<SocketAddr>,
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
    tls: bool,
    transport: Transport,
    flight_sql: TcpListener,
}

impl Server {
    /// Opens the listening sockets and reads the TLS files, so that every problem is
    /// reported before anything is served.
    pub async fn bind(
        runtime: Arc<Runtime>,
        auth: Auth,
        options: ServeOptions,
    ) -> Result<Self, ServerError> {
        let addr = options.flight_sql.ok_or(ServerError::NothingToServe)?;
        let mut transport = Transport::builder();
        if let Some(files) = &options.tls {
            transport = transport
                .tls_config(tls_config(files)?)
                .map_err(ServerError::Tls)?;
        }
        let flight_sql = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self {
            runtime,
            auth: Arc::new(auth),
            limits: options.limits,
            tls: options.tls.is_some(),
            transport,
            flight_sql,
        })
    }

    /// Where Flight SQL listens (with the port the system chose, if it was 0).
    pub fn flight_sql_addr(&self) -> Option<SocketAddr> {
        self.flight_sql.local_addr().ok()
    }

    /// Whether clients connect with TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Serves until `shutdown` completes; then stops accepting connections, gives
    /// in-flight statements the shutdown timeout to finish, and cancels what remains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let grace = self.limits.shutdown_timeout;
        let connections = Connections::new(Arc::clone(&self.runtime), self.limits.max_connections);
        let incoming = accept(
            self.flight_sql,
            Arc::clone(&connections),
            self.limits.idle_timeout,
        );
        let service = FlightServiceServer::new(FlightSql::new(
            Arc::clone(&self.auth),
            self.limits.statement_timeout,
        ));
        let mut transport = self.transport;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving =
            transport
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                });
        tokio::pin!(serving);
        tokio::select! {
            result = &mut serving => return result.map_err(ServerError::Transport),
            () = shutdown => {}
        }
        tracing::info!(
            open = connections.open(),
            grace = ?grace,
            "shutting down: no new connections, in-flight statements may finish"
        );
        let _ = stop.send(());
        match tokio::time::timeout(grace, &mut serving).await {
            Ok(result) => result.map_err(ServerError::Transport),
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

/// The accepted connections of `listener`, each admitted against the limit and tracked.
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

fn tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, ServerError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| ServerError::TlsFile {
            path: path.clone(),
            source,
        })
    };
    let identity = Identity::from_pem(read(&files.cert)?, read(&files.key)?);
    // tonic builds its TLS configuration with the process's crypto provider, and more than
    // one is compiled in (object_store's and deltalake's clients bring aws-lc-rs): choose
    // ring, tonic's own, unless the process has already chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(ServerTlsConfig::new().identity(identity))
}
