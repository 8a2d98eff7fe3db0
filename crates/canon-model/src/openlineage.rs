//! The `[lineage]` section: where Canon sends OpenLineage events about the runs it makes
//! (statements that read or write datasets, model builds), and under which namespace.

use std::path::PathBuf;
use std::time::Duration;

/// The `[lineage]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineageSpec {
    /// Where OpenLineage events go; `None` sends none.
    pub openlineage: Option<OpenLineageSpec>,
}

/// OpenLineage events: their destination, and the namespace of Canon's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLineageSpec {
    /// The namespace of every job Canon names (statements and models); the project's name
    /// unless the section gives one.
    pub namespace: String,
    /// Where the events go.
    pub transport: Transport,
}

/// Where OpenLineage events are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// POSTed to an HTTP endpoint (Marquez's `/api/v1/lineage`, DataHub's, …), from a
    /// bounded queue, so that a slow or absent receiver never holds a statement back.
    Http {
        /// The endpoint.
        url: String,
        /// How long one POST may take.
        timeout: Duration,
        /// How many times a failed POST is tried again.
        retries: u32,
        /// How many events wait for sending at most; later ones are dropped and counted.
        queue: usize,
    },
    /// Appended to a file, one JSON event per line.
    File {
        /// The file, resolved against the project's directory.
        path: PathBuf,
    },
}

impl Transport {
    /// The longest a POST may take.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    /// The most events the queue may hold (each slot is allocated up front).
    pub const MAX_QUEUE: usize = 1_000_000;

    /// The endpoint or file, for messages and `canon.lineage_events`: an endpoint without
    /// its query and fragment, where a key may be passed.
    pub fn target(&self) -> String {
        match self {
            Self::Http { url, .. } => match url::Url::parse(url) {
                Ok(mut shown) => {
                    shown.set_query(None);
                    shown.set_fragment(None);
                    shown.to_string()
                }
                Err(_) => String::from("(an endpoint that does not parse)"),
            },
            Self::File { path } => path.display().to_string(),
        }
    }

    /// The HTTP transport's defaults: 5 s per POST, 2 retries, 10,000 events queued.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_RETRIES: u32 = 2;
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_QUEUE: usize = 10_000;
}
