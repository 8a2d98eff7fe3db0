//! The Postgres listener: each accepted socket admitted against the limit and served by
//! pgwire with its own handlers, closed when idle too long, and, on shutdown, once its
//! statement has finished.

use std::sync::Arc;
use std::time::Duration;

use pgwire::tokio::{TlsAcceptor, process_socket};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::PgHandlers;
use crate::auth::Auth;
use crate::connection::{Connection, Connections};

/// How often a connection looks at its idle time and at the shutdown flag.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// What every Postgres connection is served with.
pub(crate) struct PgOptions {
    pub auth: Arc<Auth>,
    pub tls: Option<TlsAcceptor>,
    pub statement_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
}

/// Accepts connections until `stop` turns true, then waits for the open ones: each closes
/// once nothing runs on it (the caller bounds the wait).
pub(crate) async fn serve(
    listener: TcpListener,
    connections: Arc<Connections>,
    options: Arc<PgOptions>,
    mut stop: watch::Receiver<bool>,
) {
    let mut open = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let connection = connections.admit(peer, "postgres");
                    open.spawn(serve_one(socket, connection, Arc::clone(&options), stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a Postgres connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            Some(_) = open.join_next(), if !open.is_empty() => {}
        }
    }
    drop(listener);
    while open.join_next().await.is_some() {}
}

/// Serves one connection until the client leaves, it idles past the timeout, or the
/// server stops and nothing runs on it.
async fn serve_one(
    socket: TcpStream,
    connection: Arc<Connection>,
    options: Arc<PgOptions>,
    stop: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let _closes = Closes(Arc::clone(&connection));
    let handlers = Arc::new(PgHandlers::new(
        Arc::clone(&connection),
        Arc::clone(&options.auth),
        options.tls.is_some(),
        options.statement_timeout,
    ));
    let served = process_socket(socket, options.tls.clone(), handlers);
    tokio::pin!(served);
    let mut watch = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            result = &mut served => {
                if let Err(e) = result {
                    tracing::debug!(connection = connection.id(), error = %e, "Postgres connection ended");
                }
                break;
            }
            _ = watch.tick() => {
                if *stop.borrow() && connection.idle() {
                    connection.closing_because("server stopped");
                    break;
                }
                if options.idle_timeout.is_some_and(|limit| connection.idle_for() >= limit) {
                    connection.closing_because("idle timeout");
                    break;
                }
            }
        }
    }
}

/// Ends the connection when its task ends, however it ends.
struct Closes(Arc<Connection>);

impl Drop for Closes {
    fn drop(&mut self) {
        self.0.closed();
    }
}
