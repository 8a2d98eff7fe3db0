//! Typed events for every decision Canon makes, kept in memory, optionally appended to a
//! JSON-lines file, and readable as `canon.diagnostics`.
//!
//! A leaf of the runtime: events carry their own payloads, built from the model's plain
//! types (`canon_model`) and JSON, so this module imports nothing of the runtime but its
//! error type.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use canon_model::declarations::{Parameter, PreparedOrigin, Tier};
use canon_model::evolution::EvolutionSpec;
use canon_model::lineage::Lineage;
use canon_model::policy::{PolicyViolation, StatementClass};
use canon_model::profile::OnWriteError;

use crate::error::CanonError;

/// How many events stay in memory; the log file, when set, keeps them all.
const MEMORY_CAPACITY: usize = 10_000;

/// One decision Canon made.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The runtime profile was built.
    ProfileBuilt {
        /// The profile fingerprint.
        fingerprint: String,
        /// Every fingerprinted setting.
        settings: BTreeMap<String, String>,
    },
    /// A dataset was registered.
    DatasetRegistered {
        /// Dataset name.
        dataset: String,
        /// Storage format.
        format: String,
        /// Resolved location.
        location: String,
        /// The canonical DDL it was registered from.
        ddl: String,
        /// Fingerprint of the registered schema.
        schema_fingerprint: String,
        /// Per-table scan options, from the DDL's OPTIONS.
        options: BTreeMap<String, String>,
        /// Where the DDL alone would not have given the contract, and what Canon did.
        notes: Vec<String>,
        /// The rules files are read under (strict when the dataset declares none).
        evolution: EvolutionSpec,
        /// The expression adapter attached to the table's scans.
        adapter: String,
        /// For formats with a table factory of their own, the table's state (for Delta:
        /// scan configuration, version read, protocol, constraints).
        #[serde(skip_serializing_if = "Option::is_none")]
        format_state: Option<serde_json::Value>,
    },
    /// A dataset could not be registered (and so no dataset was).
    RegistrationFailed {
        /// Dataset name.
        dataset: String,
        /// Why.
        error: String,
    },
    /// The SQL policy refused a statement.
    PolicyRejected {
        /// The session it was refused in.
        session: String,
        /// The policy key that refused it.
        rule: String,
        /// The statement's class.
        class: StatementClass,
        /// The statement, shortened.
        statement: String,
    },
    /// A plan passed the policy and is about to run: recorded by the plan hook for every
    /// plan DataFusion executes, and by the session for DDL and `SET` that run directly.
    QueryPlanned {
        /// The session that planned it.
        session: String,
        /// The statement's class.
        class: StatementClass,
        /// The SQL statement as parsed; empty for plans built with the DataFrame API.
        statement: String,
        /// The plan fingerprint (see `sql::fingerprint`).
        fingerprint: String,
        /// The tables read and each output column's source columns; for a write, each
        /// column of the rows it writes (its own output is a count).
        lineage: Lineage,
        /// The table the plan writes (`INSERT`, `UPDATE`, `DELETE`, `MERGE`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        writes: Option<String>,
    },
    /// A plan that passed the plan hook finished running: all its output was read, it
    /// failed, or its reader stopped early. Its operators' spill metrics are summed.
    QueryFinished {
        /// The session that ran it.
        session: String,
        /// The `seq` of the plan's `query_planned` event.
        planned: u64,
        /// The plan fingerprint, as in `query_planned`.
        fingerprint: String,
        /// Rows the plan produced (until it failed or was stopped).
        output_rows: u64,
        /// How many times operators spilled to disk (`spill_count`).
        spill_count: u64,
        /// Bytes spilled to disk (`spilled_bytes`).
        spilled_bytes: u64,
        /// Rows spilled to disk (`spilled_rows`).
        spilled_rows: u64,
        /// The error the run ended with, if it failed.
        error: Option<String>,
        /// Whether its reader stopped before the end (it disconnected, a timeout, a cancel).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stopped: bool,
    },
    /// A project macro was registered at start-up, or a Canon function took a builtin's
    /// name because the project declares the override.
    FunctionRegistered {
        /// Function name.
        name: String,
        /// The function's tier.
        tier: Tier,
        /// `name(arg TYPE, …) -> TYPE` for macros, the syntax for Canon's functions.
        signature: String,
        /// The tier of the function it replaced, if it replaced one.
        overrides: Option<Tier>,
        /// Where it (or the override) is declared.
        origin: Option<String>,
    },
    /// `CREATE FUNCTION` made a macro in a session.
    MacroCreated {
        /// The session.
        session: String,
        /// Function name.
        name: String,
        /// `name(arg TYPE, …) -> TYPE`.
        signature: String,
        /// The tier of the function it replaced, if it replaced one.
        replaces: Option<Tier>,
    },
    /// A statement was prepared in a session.
    StatementPrepared {
        /// The session.
        session: String,
        /// Statement name.
        name: String,
        /// Where the statement comes from.
        origin: PreparedOrigin,
        /// Its parameters and their types.
        parameters: Vec<Parameter>,
        /// The PREPARE statement.
        statement: String,
    },
    /// A prepared statement was executed.
    StatementExecuted {
        /// The session.
        session: String,
        /// Statement name.
        name: String,
        /// The parameter values, as SQL.
        parameters: Vec<String>,
    },
    /// A server connection (`canon serve`) was authenticated and given its own session.
    SessionOpened {
        /// The session every later event of this connection names.
        session: String,
        /// The protocol the client speaks (`flight_sql` or `postgres`).
        protocol: String,
        /// The server's number for the connection, unique while it runs.
        connection: u64,
        /// The client's address.
        peer: String,
        /// The user name the client gave (any name is accepted; the token authenticates).
        user: String,
    },
    /// A model build ended for one model (`canon build`): built, unchanged, failed or
    /// skipped.
    ModelBuilt {
        /// The model.
        model: String,
        /// Its kind (`table`, `append`, `merge`, `view`).
        model_kind: String,
        /// What became of it.
        status: String,
        /// The rows written, for a model that wrote.
        rows: Option<u64>,
        /// How long it took, in milliseconds.
        elapsed_ms: u64,
        /// Why it failed or was skipped.
        message: Option<String>,
    },
    /// OpenLineage events were dropped: the queue to the receiver was full, or sending
    /// failed after its retries. Counts are totals since the runtime started.
    LineageEventsDropped {
        /// Where the events were going (`http` or `file`).
        transport: String,
        /// Events dropped so far.
        dropped: u64,
        /// Why the latest was dropped.
        reason: String,
    },
    /// A server connection's session ended.
    SessionClosed {
        /// The session.
        session: String,
        /// The server's number for the connection.
        connection: u64,
        /// Why: the client closed it, it was idle too long, or the server stopped.
        reason: String,
    },
}

impl Event {
    /// The event's kind, as in its JSON `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ProfileBuilt { .. } => "profile_built",
            Self::DatasetRegistered { .. } => "dataset_registered",
            Self::RegistrationFailed { .. } => "registration_failed",
            Self::PolicyRejected { .. } => "policy_rejected",
            Self::QueryPlanned { .. } => "query_planned",
            Self::QueryFinished { .. } => "query_finished",
            Self::FunctionRegistered { .. } => "function_registered",
            Self::MacroCreated { .. } => "macro_created",
            Self::StatementPrepared { .. } => "statement_prepared",
            Self::StatementExecuted { .. } => "statement_executed",
            Self::SessionOpened { .. } => "session_opened",
            Self::SessionClosed { .. } => "session_closed",
            Self::ModelBuilt { .. } => "model_built",
            Self::LineageEventsDropped { .. } => "lineage_events_dropped",
        }
    }

    /// The dataset the event is about, if any.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            Self::DatasetRegistered { dataset, .. } | Self::RegistrationFailed { dataset, .. } => {
                Some(dataset)
            }
            Self::ModelBuilt { model, .. } => Some(model),
            _ => None,
        }
    }

    /// The refusal of `violation` in `session`.
    pub fn policy_rejected(session: String, violation: &PolicyViolation) -> Self {
        Self::PolicyRejected {
            session,
            rule: violation.rule.to_string(),
            class: violation.class,
            statement: violation.statement.clone(),
        }
    }
}

/// An event with its sequence number and time.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Position in this runtime's event stream, from 1.
    pub seq: u64,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// The event stream of one runtime, shared by all its sessions.
///
/// The JSON-lines log, when there is one, is buffered: lines reach the file when the
/// buffer fills, when an event comes more than [`FLUSH_INTERVAL`] after the last write, on
/// [`Diagnostics::flush`], and when the last handle is dropped (the [`Runtime`] also
/// flushes when it is dropped). A write that fails is handled by the log's
/// [`OnWriteError`] rule: under `Fail` the event being recorded (and every later one) is
/// refused with an error naming the file, so the statement it belongs to does not run;
/// under `Warn` a warning is logged once and events stay in memory only.
///
/// [`Runtime`]: crate::Runtime
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    inner: Arc<Mutex<Inner>>,
    /// Whether events go to a log file too (fixed when the stream is made).
    logged: bool,
}

/// The longest a recorded event waits in the buffer when later events keep coming, so that
/// a long-running process's log can be followed.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Size of the log's write buffer.
const BUFFER_CAPACITY: usize = 64 * 1024;

#[derive(Default)]
struct Inner {
    next_seq: u64,
    records: VecDeque<Record>,
    log: Option<Log>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("next_seq", &self.next_seq)
            .field("log", &self.log)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

/// Something that follows the event stream as it is recorded (OpenLineage's emitter).
/// It is called after the event is recorded, outside the stream's lock, and must not
/// block: a statement's events wait for it.
pub(crate) trait Observer: Send + Sync {
    /// One event, just recorded.
    fn observe(&self, record: &Record);
}

/// A handle on an event stream that does not keep it alive, for what the stream itself
/// holds (an observer recording its own events).
#[derive(Debug, Clone)]
pub(crate) struct WeakDiagnostics(std::sync::Weak<Mutex<Inner>>, bool);

impl WeakDiagnostics {
    /// Records an event if the stream still exists; `None` when it is gone.
    pub(crate) fn record(&self, event: Event) -> Option<Result<u64, CanonError>> {
        let inner = self.0.upgrade()?;
        Some(
            Diagnostics {
                inner,
                logged: self.1,
            }
            .record(event),
        )
    }
}

/// The JSON-lines file and what to do when it cannot be written.
#[derive(Debug)]
struct Log {
    path: PathBuf,
    on_error: OnWriteError,
    state: LogState,
    last_write: Instant,
}

#[derive(Debug)]
enum LogState {
    Open(BufWriter<File>),
    /// A write failed; nothing more is written. The first error's text, for later refusals.
    Broken(String),
}

impl Log {
    /// Appends one line (with its newline), writing the buffer out when it is full or
    /// [`FLUSH_INTERVAL`] has passed since the last write.
    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        let writer = self.writer()?;
        writer.write_all(line)?;
        if self.last_write.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer()?.flush()?;
        self.last_write = Instant::now();
        Ok(())
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        match &mut self.state {
            LogState::Open(writer) => Ok(writer),
            LogState::Broken(first) => Err(std::io::Error::other(format!(
                "an earlier write failed ({first}); no event is written after it"
            ))),
        }
    }

    /// Handles a failed write under the log's rule: the error to return under `Fail`, or
    /// `None` (after a warning, the first time) under `Warn`. Either way the log is broken
    /// from now on, so that a half-written buffer is never followed by more lines.
    fn failed(&mut self, source: std::io::Error) -> Option<CanonError> {
        let first = matches!(self.state, LogState::Open(_));
        if first {
            self.state = LogState::Broken(source.to_string());
        }
        match self.on_error {
            OnWriteError::Fail => Some(CanonError::DiagnosticsLog {
                path: self.path.clone(),
                source,
            }),
            OnWriteError::Warn => {
                if first {
                    tracing::warn!(
                        path = %self.path.display(),
                        error = %source,
                        "the diagnostics log cannot be written; events are kept in memory \
                         only from now on (diagnostics.on_write_error = \"warn\")"
                    );
                }
                None
            }
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let LogState::Open(writer) = &mut self.state
            && let Err(error) = writer.flush()
        {
            tracing::error!(
                path = %self.path.display(),
                %error,
                "the last diagnostics events could not be written to the log"
            );
        }
    }
}

impl Diagnostics {
    /// An in-memory event stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// An event stream that also appends each event to `path` as a JSON line. A failed
    /// write fails the event (see [`Self::set_on_write_error`]).
    pub fn with_log(path: impl AsRef<Path>) -> Result<Self, CanonError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| CanonError::DiagnosticsLog {
                path: path.clone(),
                source,
            })?;
        let mut diagnostics = Self::new();
        diagnostics.logged = true;
        diagnostics.lock().log = Some(Log {
            path,
            on_error: OnWriteError::default(),
            state: LogState::Open(BufWriter::with_capacity(BUFFER_CAPACITY, file)),
            last_write: Instant::now(),
        });
        Ok(diagnostics)
    }

    /// Sets what happens when the log cannot be written; the runtime sets the project's
    /// `[diagnostics] on_write_error` before recording anything.
    pub fn set_on_write_error(&self, rule: OnWriteError) {
        if let Some(log) = &mut self.lock().log {
            log.on_error = rule;
        }
    }

    /// Has `observer` follow every event recorded from now on.
    pub(crate) fn observe(&self, observer: Arc<dyn Observer>) {
        let previous = self.lock().observer.replace(observer);
        // Dropped outside the lock: an observer may wait on its own work when it goes.
        drop(previous);
    }

    /// A handle that records into this stream without keeping it alive.
    pub(crate) fn downgrade(&self) -> WeakDiagnostics {
        WeakDiagnostics(Arc::downgrade(&self.inner), self.logged)
    }

    /// The log file, if events are appended to one.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.lock().log.as_ref().map(|log| log.path.clone())
    }

    /// Records an event, appending it to the log file's buffer when there is one.
    ///
    /// Returns the event's `seq`. Under `on_write_error = "fail"` an event that cannot be
    /// written is not recorded and the error names the log file.
    pub fn record(&self, event: Event) -> Result<u64, CanonError> {
        // Serialized before taking the lock; only the sequence number and time are added
        // under it.
        let payload = self.logged.then(|| serde_json::to_string(&event));
        let mut inner = self.lock();
        let seq = inner.next_seq.saturating_add(1);
        let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        if let (Some(log), Some(payload)) = (&mut inner.log, payload) {
            let written = payload
                .map_err(std::io::Error::from)
                .and_then(|payload| log.append(&line(seq, &at, &payload)));
            if let Err(source) = written
                && let Some(error) = log.failed(source)
            {
                return Err(error);
            }
        }
        inner.next_seq = seq;
        if inner.records.len() == MEMORY_CAPACITY {
            inner.records.pop_front();
        }
        let record = Record { seq, at, event };
        let Some(observer) = inner.observer.clone() else {
            inner.records.push_back(record);
            return Ok(seq);
        };
        inner.records.push_back(record.clone());
        drop(inner);
        observer.observe(&record);
        Ok(seq)
    }

    /// Writes buffered events to the log file, handling a failure like [`Self::record`].
    pub fn flush(&self) -> Result<(), CanonError> {
        let mut inner = self.lock();
        let Some(log) = &mut inner.log else {
            return Ok(());
        };
        if matches!(log.state, LogState::Broken(_)) && log.on_error == OnWriteError::Warn {
            return Ok(());
        }
        match log.flush() {
            Ok(()) => Ok(()),
            Err(source) => log.failed(source).map_or(Ok(()), Err),
        }
    }

    /// The events still in memory, oldest first.
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.iter().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the event list inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One log line, as `serde_json` writes a [`Record`]: `seq` and `at`, then the event's own
/// fields (which an internally tagged enum always writes as a non-empty object).
fn line(seq: u64, at: &str, payload: &str) -> Vec<u8> {
    let fields = payload.strip_prefix('{').unwrap_or(payload);
    format!("{{\"seq\":{seq},\"at\":\"{at}\",{fields}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line spliced around a pre-serialized event is exactly the record's JSON.
    #[test]
    fn log_line_is_the_records_json() {
        let record = Record {
            seq: 7,
            at: "2026-01-02T03:04:05.678Z".into(),
            event: Event::RegistrationFailed {
                dataset: "trips".into(),
                error: "a \"quoted\" reason".into(),
            },
        };
        let payload = serde_json::to_string(&record.event).unwrap_or_default();
        let expected = format!("{}\n", serde_json::to_string(&record).unwrap_or_default());
        assert_eq!(
            String::from_utf8_lossy(&line(record.seq, &record.at, &payload)),
            expected
        );
    }
}
