//! `canon serve`: the project over Arrow Flight SQL, the Postgres wire protocol and HTTP
//! until SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use canon_server::{Auth, ServeOptions, Server, ServerError, TOKEN_VARIABLE, TlsFiles};

use crate::Failure;

/// The flags of `canon serve`; each limit overrides the project's `[server]`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Serve Arrow Flight SQL on this address (e.g. 127.0.0.1:50051; port 0 picks one).
    #[arg(long, value_name = "ADDR", required_unless_present_any = ["postgres", "http"])]
    flight_sql: Option<SocketAddr>,
    /// Serve the Postgres wire protocol on this address (e.g. 127.0.0.1:5432).
    #[arg(long, value_name = "ADDR")]
    postgres: Option<SocketAddr>,
    /// Serve the HTTP API on this address (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Serve without authentication; only for loopback addresses.
    #[arg(long)]
    no_auth: bool,
    /// The TLS certificate chain (PEM); with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM); with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// At most this many client connections at once.
    #[arg(long, value_name = "N")]
    max_connections: Option<u32>,
    /// Cancel a statement that runs (results included) longer than this, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    statement_timeout: Option<Duration>,
    /// Close a connection with nothing in flight for this long, e.g. 10m.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,
    /// On SIGTERM or SIGINT, cancel statements still running after this long.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    shutdown_timeout: Option<Duration>,
}

/// Loads the project, opens the listeners, prints where they are, and serves.
pub async fn run(
    project: &Path,
    diagnostics: Option<&Path>,
    args: ServeArgs,
) -> Result<(), Failure> {
    let addrs: Vec<SocketAddr> = args
        .flight_sql
        .into_iter()
        .chain(args.postgres)
        .chain(args.http)
        .collect();
    // Authentication is settled before the project loads: a server that would refuse
    // to start says so at once.
    let token = std::env::var(TOKEN_VARIABLE).ok();
    let auth = Auth::new(token, args.no_auth, &addrs).map_err(usage)?;
    let runtime = crate::load(project, diagnostics).await?;
    let mut limits = runtime.project().server.clone();
    if let Some(max) = args.max_connections {
        limits.max_connections = max.max(1);
    }
    let zero_is_none = |d: Duration| (!d.is_zero()).then_some(d);
    if let Some(d) = args.statement_timeout {
        limits.statement_timeout = zero_is_none(d);
    }
    if let Some(d) = args.idle_timeout {
        limits.idle_timeout = zero_is_none(d);
    }
    if let Some(d) = args.shutdown_timeout {
        limits.shutdown_timeout = d;
    }
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let options = ServeOptions {
        flight_sql: args.flight_sql,
        postgres: args.postgres,
        http: args.http,
        tls,
        limits,
    };
    let server = Server::bind(Arc::new(runtime), auth, options)
        .await
        .map_err(usage)?;
    let stop = stop_signal();
    if let Some(addr) = server.flight_sql_addr() {
        let scheme = if server.tls() { "grpc+tls" } else { "grpc" };
        say(&format!("canon serve: Flight SQL on {scheme}://{addr}"));
    }
    if let Some(addr) = server.postgres_addr() {
        say(&format!("canon serve: Postgres on postgresql://{addr}"));
    }
    if let Some(addr) = server.http_addr() {
        let scheme = if server.tls() { "https" } else { "http" };
        say(&format!("canon serve: HTTP on {scheme}://{addr}"));
    }
    server
        .run(stop)
        .await
        .map_err(|e| Failure::runtime(render(&e)))?;
    say("canon serve: stopped");
    Ok(())
}

/// One line on standard output, for whoever started the server; a reader that has gone
/// away must not stop the server (`println!` would panic).
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Listens for SIGTERM and SIGINT from this call on; the future completes on either.
///
/// Called before the listening addresses are printed: whoever reads them may stop the
/// server at once, and a signal that came before the handlers would kill the process
/// (or, between the handler and its listener, be lost).
pub(crate) fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        tokio::select! {
            () = received(terminate, "SIGTERM") => {}
            () = received(interrupt, "SIGINT") => {}
        }
    }
}

/// Completes when `listener` receives its signal; never, if it could not be installed.
async fn received(listener: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match listener {
        Ok(mut listener) => {
            listener.recv().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}; stop the server with the other signal");
            std::future::pending::<()>().await;
        }
    }
}

/// A server error with its causes, one after another.
fn render(error: &ServerError) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

pub(crate) fn usage(error: ServerError) -> Failure {
    Failure::usage(render(&error))
}
