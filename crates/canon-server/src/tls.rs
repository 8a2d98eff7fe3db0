//! TLS from one certificate and key (PEM files), for both protocols.

use std::path::PathBuf;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Identity, ServerTlsConfig};

use crate::error::ServerError;

/// The certificate chain and private key (PEM files) the server presents.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// The certificate and key, read and checked once for both listeners.
pub(crate) struct Tls {
    pub flight_sql: ServerTlsConfig,
    pub postgres: TlsAcceptor,
}

impl Tls {
    /// Reads the files and builds both configurations.
    pub fn load(files: &TlsFiles) -> Result<Self, ServerError> {
        // rustls builds with the process's crypto provider, and more than one is compiled
        // in (object_store's and deltalake's clients bring aws-lc-rs): choose ring, the
        // one tonic and pgwire are built with, unless the process has already chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServerError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let (cert, key) = (read(&files.cert)?, read(&files.key)?);
        let pem_error = |path: &PathBuf, e: rustls::pki_types::pem::Error| ServerError::Pem {
            path: path.clone(),
            message: e.to_string(),
        };
        let chain = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(&files.cert, e))?;
        let private = PrivateKeyDer::from_pem_slice(&key).map_err(|e| pem_error(&files.key, e))?;
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(ServerError::Certificate)?;
        Ok(Self {
            flight_sql: ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
            postgres: TlsAcceptor::from(Arc::new(config)),
        })
    }
}
