//! `canon serve`: Canon's sessions, policy and contracts over Arrow Flight SQL, the
//! Postgres wire protocol and HTTP, for ADBC, JDBC and ODBC clients, psql, BI tools, web
//! pages and services.
//!
//! Each client connection gets its own Canon session, made on its first authenticated
//! request; every statement runs through that session, so the SQL policy, the plan hook
//! and diagnostics apply to the server exactly as to the library and the CLI. Results
//! stream to the client batch by batch.
//!
//! Layers, bottom to top; each imports only from those below it:
//! 1. [`error`]: why the server could not start or serve.
//! 2. [`auth`]: the shared secret and the handshake's session tokens.
//! 3. [`connection`]: connections against the limit, their sessions, idle closing.
//! 4. `stream`: result streams cut at the statement timeout; `contain`: a panic in the
//!    engine fails its statement, not the connection; `tls`: one certificate for both
//!    protocols.
//! 5. `flight`: the Flight SQL service (statements, prepared statements, metadata),
//!    `pg`: the Postgres wire protocol (authentication, simple and extended queries), and
//!    `http`: the HTTP API (statements as Arrow, JSON or CSV; the catalog and lineage).
//! 6. [`serve`]: listening sockets and shutdown.
//! 7. [`worker`]: `canon worker`, the worker service of the project's distributed plans, on
//!    a listening socket opened as `serve` opens its own (cargo feature `distributed`, on
//!    by default).

#![deny(missing_docs)]

pub mod auth;
pub mod connection;
mod contain;
pub mod error;
mod flight;
mod http;
mod pg;
pub mod serve;
mod stream;
mod tls;
#[cfg(feature = "distributed")]
pub mod worker;

pub use auth::{Auth, TOKEN_VARIABLE};
pub use error::ServerError;
pub use serve::{ServeOptions, Server};
pub use tls::TlsFiles;
#[cfg(feature = "distributed")]
pub use worker::WorkerServer;
