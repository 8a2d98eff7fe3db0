//! `canon worker`: a worker of the project's distributed plans, serving datafusion-
//! distributed's worker service over gRPC until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use canon::Runtime;
use tokio::net::TcpListener;
use tonic::transport::Server as Transport;
use tonic::transport::server::TcpIncoming;

use crate::error::ServerError;
use crate::serve::listen;

/// A worker whose socket is open; [`WorkerServer::run`] serves until shutdown.
pub struct WorkerServer {
    runtime: Arc<Runtime>,
    listener: TcpListener,
}

impl WorkerServer {
    /// Opens the listening socket, so that a taken port is reported before anything runs.
    pub async fn bind(runtime: Arc<Runtime>, addr: SocketAddr) -> Result<Self, ServerError> {
        let listener = listen(Some(addr))
            .await?
            .ok_or(ServerError::NothingToServe)?;
        Ok(Self { runtime, listener })
    }

    /// Where the worker listens (with the port the system chose, if it was 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Runs the tasks coordinators send until `shutdown` completes; tasks in flight are
    /// dropped with the connections, which fails their queries on the coordinator.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let worker = self.runtime.worker();
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        Transport::builder()
            .add_service(worker.into_worker_server())
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(ServerError::Transport)
    }
}
