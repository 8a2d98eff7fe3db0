//! The errors that stop `canon serve` from starting or serving.

use std::net::SocketAddr;
use std::path::PathBuf;

use canon::CanonError;
use canon::datafusion::error::DataFusionError;

/// Why the server could not start, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No shared secret is set and `--no-auth` was not given.
    #[error(
        "CANON_SERVER_TOKEN is not set: set it to the token clients must present, \
         or pass --no-auth to serve on a loopback address without authentication"
    )]
    NoToken,
    /// A worker was started without the secret coordinators must present.
    #[error(
        "CANON_WORKER_TOKEN is not set: set it, on the workers and the coordinators, to the \
         secret coordinators present, or pass --no-auth to listen on a loopback address \
         without authentication"
    )]
    NoWorkerToken,
    /// The worker could not be set up from the runtime.
    #[error(transparent)]
    Worker(CanonError),
    /// `--no-auth` was given for an address other hosts can reach.
    #[error("--no-auth serves only loopback addresses, and {addr} is not one")]
    NoAuthNotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// No protocol was asked for.
    #[error("nothing to serve: give --flight-sql ADDR, --postgres ADDR, --http ADDR or several")]
    NothingToServe,
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be read.
    #[error("cannot read {}", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// The operating system's answer.
        source: std::io::Error,
    },
    /// A TLS file holds no PEM certificate or key where one was expected.
    #[error("{}: {message}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The certificate and key do not go together.
    #[error("TLS configuration")]
    Certificate(#[source] rustls::Error),
    /// The TLS certificate and key were read but do not make a configuration.
    #[error("TLS configuration")]
    Tls(#[source] tonic::transport::Error),
    /// The transport failed while serving.
    #[error("Flight SQL transport")]
    Transport(#[source] tonic::transport::Error),
    /// The HTTP listener failed while serving.
    #[error("HTTP transport")]
    Http(#[source] std::io::Error),
}

/// Whose fault a failed statement is, as both protocols report it to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The SQL policy refused it.
    Refused,
    /// The SQL does not parse, or breaks Canon's prepared-statement rules.
    Syntax,
    /// It parses but does not plan: unknown names, wrong types, unsupported features.
    Plan,
    /// It ran out of memory (or another resource) under the runtime's limits.
    Exhausted,
    /// Anything else: the server's fault, not the statement's.
    Server,
}

impl Fault {
    /// The fault of `error`.
    pub fn of(error: &CanonError) -> Self {
        match error {
            CanonError::Policy(_) => Self::Refused,
            CanonError::Syntax(_) | CanonError::Prepared(_) => Self::Syntax,
            CanonError::DataFusion(e) => match e.find_root() {
                DataFusionError::SQL(..) => Self::Syntax,
                DataFusionError::Plan(_)
                | DataFusionError::SchemaError(..)
                | DataFusionError::NotImplemented(_) => Self::Plan,
                DataFusionError::ResourcesExhausted(_) => Self::Exhausted,
                _ => Self::Server,
            },
            _ => Self::Server,
        }
    }
}
