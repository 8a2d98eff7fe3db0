//! `canon worker`: runs the stages of the project's distributed plans that coordinators
//! (sessions with `[distributed] workers`) send it, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use canon::CanonError;
use canon_server::WorkerServer;

use crate::Failure;
use crate::serve::{say, stop_signal, usage};

/// The flags of `canon worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Listen on this address (e.g. 127.0.0.1:50061; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Accept coordinators without the shared secret; only for loopback addresses.
    #[arg(long)]
    no_auth: bool,
}

/// Loads the project, opens the socket, prints where it is, and runs tasks.
pub async fn run(
    project: &Path,
    diagnostics: Option<&Path>,
    args: WorkerArgs,
) -> Result<(), Failure> {
    let token =
        canon::distributed::worker_token().map_err(|e| Failure::from(CanonError::from(e)))?;
    let runtime = crate::load(project, diagnostics).await?;
    let worker = WorkerServer::bind(Arc::new(runtime), args.listen, token, args.no_auth)
        .await
        .map_err(usage)?;
    let stop = stop_signal();
    if let Some(addr) = worker.addr() {
        say(&format!("canon worker: listening on http://{addr}"));
    }
    tracing::info!(addr = ?worker.addr(), "worker started");
    worker
        .run(stop)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    say("canon worker: stopped");
    Ok(())
}
