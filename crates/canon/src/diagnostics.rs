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
use std::time::SystemTime;

use serde::Serialize;

use canon_model::declarations::{Parameter, PreparedOrigin, Tier};
use canon_model::evolution::EvolutionSpec;
use canon_model::lineage::Lineage;
use canon_model::policy::{PolicyViolation, StatementClass};

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
        /// The tables read and each output column's source columns.
        lineage: Lineage,
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
            Self::FunctionRegistered { .. } => "function_registered",
            Self::MacroCreated { .. } => "macro_created",
            Self::StatementPrepared { .. } => "statement_prepared",
            Self::StatementExecuted { .. } => "statement_executed",
        }
    }

    /// The dataset the event is about, if any.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            Self::DatasetRegistered { dataset, .. } | Self::RegistrationFailed { dataset, .. } => {
                Some(dataset)
            }
            _ => None,
        }
    }
}

impl From<&PolicyViolation> for Event {
    fn from(violation: &PolicyViolation) -> Self {
        Self::PolicyRejected {
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
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    records: VecDeque<Record>,
    log: Option<(PathBuf, BufWriter<File>)>,
}

impl Diagnostics {
    /// An in-memory event stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// An event stream that also appends each event to `path` as a JSON line.
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
        let diagnostics = Self::new();
        diagnostics.lock().log = Some((path, BufWriter::new(file)));
        Ok(diagnostics)
    }

    /// Records an event, writing it through to the log file when there is one.
    pub fn record(&self, event: Event) -> Result<(), CanonError> {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let record = Record {
            seq: inner.next_seq,
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
        };
        if let Some((path, log)) = &mut inner.log {
            let line = serde_json::to_string(&record).map_err(std::io::Error::from);
            line.and_then(|line| writeln!(log, "{line}").and_then(|()| log.flush()))
                .map_err(|source| CanonError::DiagnosticsLog {
                    path: path.clone(),
                    source,
                })?;
        }
        if inner.records.len() == MEMORY_CAPACITY {
            inner.records.pop_front();
        }
        inner.records.push_back(record);
        Ok(())
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
