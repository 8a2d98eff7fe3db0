//! `canon worker`: a worker of the project's distributed plans, serving datafusion-
//! distributed's worker service over gRPC until shutdown. Every request must carry the
//! secret coordinators and workers share (`CANON_WORKER_TOKEN`), unless the worker listens
//! on loopback with `--no-auth`: a worker runs whatever plan it is sent.

use std::net::SocketAddr;
use std::sync::Arc;

use canon::Runtime;
use canon::distributed::TOKEN_ENV;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server as Transport;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Status};

use crate::error::ServerError;
use crate::serve::listen;

/// A worker whose socket is open; [`WorkerServer::run`] serves until shutdown.
pub struct WorkerServer {
    runtime: Arc<Runtime>,
    listener: TcpListener,
    /// The `authorization` value every request must carry; `None` with `--no-auth`.
    expected: Option<Arc<str>>,
}

impl WorkerServer {
    /// Settles authentication and opens the listening socket, so that both problems are
    /// reported before anything runs: the token (`CANON_WORKER_TOKEN`'s value) is
    /// required unless `no_auth`, which only loopback addresses may use.
    pub async fn bind(
        runtime: Arc<Runtime>,
        addr: SocketAddr,
        token: Option<String>,
        no_auth: bool,
    ) -> Result<Self, ServerError> {
        let expected = match (token.filter(|t| !t.is_empty()), no_auth) {
            (_, true) if !addr.ip().is_loopback() => {
                return Err(ServerError::NoAuthNotLoopback { addr });
            }
            (_, true) => None,
            (Some(token), false) => Some(Arc::from(format!("Bearer {token}"))),
            (None, false) => return Err(ServerError::NoWorkerToken),
        };
        let listener = listen(Some(addr))
            .await?
            .ok_or(ServerError::NothingToServe)?;
        Ok(Self {
            runtime,
            listener,
            expected,
        })
    }

    /// Where the worker listens (with the port the system chose, if it was 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Runs the tasks coordinators send until `shutdown` completes; tasks in flight are
    /// dropped with the connections, which fails their queries on the coordinator.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let worker = self.runtime.worker().map_err(ServerError::Worker)?;
        let expected = self.expected;
        let service = InterceptedService::new(worker.into_worker_server(), move |request| {
            admit(expected.as_deref(), request)
        });
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        Transport::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(ServerError::Transport)
    }
}

/// Lets a request in when it carries the shared secret (compared in constant time).
fn admit(expected: Option<&str>, request: Request<()>) -> Result<Request<()>, Status> {
    let Some(expected) = expected else {
        return Ok(request);
    };
    let given = request
        .metadata()
        .get("authorization")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if bool::from(given.ct_eq(expected.as_bytes())) {
        Ok(request)
    } else {
        tracing::warn!("refused a request without the workers' shared secret");
        Err(Status::unauthenticated(format!(
            "this worker needs the coordinator to send {TOKEN_ENV}'s secret"
        )))
    }
}
