//! The `[distributed]` section: the workers that run the stages of distributed plans.

use std::time::Duration;

use url::Url;

/// The environment variable whose comma-separated worker URLs replace the project's list.
pub const WORKERS_ENV: &str = "CANON_WORKERS";

/// Where distributed plans run; with no workers, every plan runs in the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedSpec {
    /// The workers' addresses (`http://host:port`), in the order the project lists them.
    pub workers: Vec<Url>,
    /// How long connecting to a worker may take before its query fails naming it.
    pub connect_timeout: Duration,
    /// How long a connected worker may stay silent to keep-alive pings before its query
    /// fails naming it: a worker that died or hangs never leaves a query waiting.
    pub keepalive_timeout: Duration,
    /// How many bytes of files one partition of a distributed scan reads: a scan larger
    /// than one worker's partitions can take is spread over several workers.
    pub bytes_per_partition: u64,
}

impl Default for DistributedSpec {
    fn default() -> Self {
        Self {
            workers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(20),
            bytes_per_partition: 16 * 1024 * 1024,
        }
    }
}

impl DistributedSpec {
    /// Whether sessions plan distributed queries.
    pub fn is_enabled(&self) -> bool {
        !self.workers.is_empty()
    }
}

/// Parses one worker address: an absolute `http` URL with a host and no credentials.
///
/// Workers speak plain HTTP/2 (gRPC): `https` is refused rather than tried, so that no one
/// believes the shared secret travels encrypted.
pub fn parse_worker(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(format!(
                "`{text}`: workers speak plain HTTP/2 (http://host:port); put them on a private \
                 network or behind TLS-terminating networking"
            ));
        }
        _ => {
            return Err(format!(
                "`{text}` is not a worker address: use http://host:port"
            ));
        }
    }
    if url.host().is_none() {
        return Err(format!("`{text}` names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "a worker address holds no credentials: set CANON_WORKER_TOKEN instead".to_string(),
        );
    }
    Ok(url)
}

/// The worker list of the `CANON_WORKERS` value: comma-separated addresses, each once; an
/// empty value turns distribution off.
pub fn parse_workers(value: &str) -> Result<Vec<Url>, String> {
    let mut workers: Vec<Url> = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let url = parse_worker(part)?;
        if workers.contains(&url) {
            return Err(format!("`{part}` is listed twice"));
        }
        workers.push(url);
    }
    Ok(workers)
}
