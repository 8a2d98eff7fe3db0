//! The `[server]` section: the limits `canon serve` keeps for its clients.

use std::time::Duration;

/// Limits of `canon serve`; command-line flags override each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// How many client connections may be open at once; those past it are refused.
    pub max_connections: u32,
    /// How long one statement may run, results streamed included, before it is cancelled.
    pub statement_timeout: Option<Duration>,
    /// How long a connection may sit with nothing in flight before the server closes it.
    pub idle_timeout: Option<Duration>,
    /// On SIGTERM or SIGINT, how long in-flight statements may take before they are cancelled.
    pub shutdown_timeout: Duration,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            max_connections: 64,
            statement_timeout: None,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}
