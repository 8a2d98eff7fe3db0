//! The Postgres wire protocol on pgwire: a handler set per connection, holding that
//! connection's Canon session, so every statement passes Canon's policy, plan hook and
//! diagnostics as it does over Flight SQL. Each session also gets a `pg_catalog`, so
//! psql's `\d` and DBeaver can list what there is (`catalog`). Result rows are encoded a
//! batch at a time (`rows`).

mod auth;
mod catalog;
mod copy;
pub(crate) mod listener;
mod query;
mod rows;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, PgWireServerHandlers};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::auth::Auth;
use crate::connection::Connection;
use auth::{SCRAM_ITERATIONS, Secret};
use query::{PgConnection, PgQueries};

/// The pgwire handlers of one connection.
pub struct PgHandlers {
    queries: Arc<PgQueries>,
    startup: Arc<PgStartup>,
}

impl PgHandlers {
    /// The handlers of `connection`: authenticating with `auth` (SCRAM, or a cleartext
    /// password on encrypted connections when `tls`), statements cut at `statement_timeout`.
    pub fn new(
        connection: Arc<Connection>,
        auth: Arc<Auth>,
        tls: bool,
        statement_timeout: Option<Duration>,
    ) -> Self {
        let queries = Arc::new(PgQueries::new(PgConnection::new(
            connection,
            statement_timeout,
        )));
        let startup = if auth.required() {
            let mut scram = ScramAuth::new(Arc::new(Secret::new(Arc::clone(&auth), true)));
            scram.set_iterations(SCRAM_ITERATIONS);
            PgStartup::Password {
                scram: Box::new(
                    SASLAuthStartupHandler::new(Arc::new(parameters())).with_scram(scram),
                ),
                cleartext: tls.then(|| {
                    let secret = Secret::new(auth, false);
                    Box::new(CleartextPasswordAuthStartupHandler::new(
                        secret,
                        parameters(),
                    ))
                }),
            }
        } else {
            PgStartup::Open(Open)
        };
        Self {
            queries,
            startup: Arc::new(startup),
        }
    }
}

/// What the server reports of itself at startup.
fn parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = format!("16.0 (Canon {})", env!("CARGO_PKG_VERSION"));
    parameters
}

impl PgWireServerHandlers for PgHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }
}

/// The authentication of one connection.
pub enum PgStartup {
    /// The token as password: SCRAM-SHA-256, or a cleartext password on a connection
    /// that is encrypted (offered only when the server has TLS).
    Password {
        /// SCRAM, for every connection.
        scram: Box<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
        /// Cleartext, for encrypted connections.
        cleartext: Option<Box<Cleartext>>,
    },
    /// No authentication (`--no-auth`, loopback only).
    Open(Open),
}

/// Cleartext password authentication with the token.
type Cleartext = CleartextPasswordAuthStartupHandler<Secret, DefaultServerParameterProvider>;

/// Startup without authentication.
pub struct Open;

impl NoopStartupHandler for Open {}

#[async_trait]
impl StartupHandler for PgStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Self::Password {
                cleartext: Some(cleartext),
                ..
            } if client.is_secure() => cleartext.on_startup(client, message).await,
            Self::Password { scram, .. } => scram.on_startup(client, message).await,
            Self::Open(open) => open.on_startup(client, message).await,
        }
    }
}
