//! OpenLineage events for the runs Canon makes (`[lineage] openlineage`), for the lineage
//! systems teams already run (Marquez, DataHub, OpenMetadata, Airflow's provider).
//!
//! Every statement that reads or writes the project's datasets is a run: the emitter
//! follows the diagnostics stream and, when a plan's run finishes, sends its START (timed
//! when the plan was recorded) and then COMPLETE or FAIL with the same runId. Both wait for
//! the end because some recorded plans never run (`EXPLAIN`, a plan that fails to build),
//! and a START must not be left without its end. Every model build is a run too, with the
//! model as its output and the model's column lineage on it.
//!
//! Layers, bottom to top: [`naming`] (datasets' OpenLineage names), [`event`] (events and
//! facets as JSON), [`transport`] (file, or HTTP from a bounded queue); this module (runs
//! from diagnostics and builds, and `canon.lineage_events`).

mod event;
mod naming;
mod transport;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use canon_model::lineage::Lineage;
use canon_model::openlineage::OpenLineageSpec;
use canon_model::policy::StatementClass;
use canon_model::{DatasetSpec, Project};
use serde_json::Value;

use self::event::{Known, Run, State};
use self::transport::Sender;
use crate::diagnostics::{Diagnostics, Event, Observer, Record};
use crate::stores::Stores;

/// How many planned statements wait for their end at most.
const OPEN: usize = 10_000;

/// Sends a project's runs as OpenLineage events.
pub(crate) struct Emitter {
    namespace: String,
    /// The project's datasets and models by name.
    known: HashMap<String, Known>,
    /// The `parent` facet every run carries, from the environment.
    parent: Option<Value>,
    /// Statements planned and not finished, by their `query_planned` seq, with the time
    /// they were planned; the oldest go past [`OPEN`] (plans that never run).
    open: Mutex<BTreeMap<u64, (Run, String)>>,
    sender: Sender,
}

impl Emitter {
    /// Starts the project's transport and has it follow `diagnostics`; `None` when the
    /// project sends no events.
    pub fn start(
        project: &Project,
        stores: &Stores,
        diagnostics: &Diagnostics,
    ) -> crate::Result<Option<Arc<Self>>> {
        let Some(spec) = &project.lineage.openlineage else {
            return Ok(None);
        };
        let emitter = Arc::new(Self::new(project, stores, spec, diagnostics)?);
        diagnostics.observe(Arc::clone(&emitter) as Arc<dyn Observer>);
        Ok(Some(emitter))
    }

    fn new(
        project: &Project,
        stores: &Stores,
        spec: &OpenLineageSpec,
        diagnostics: &Diagnostics,
    ) -> crate::Result<Self> {
        let sender = Sender::start(&spec.transport, diagnostics.downgrade()).map_err(|source| {
            crate::CanonError::OpenLineage {
                target: spec.transport.target(),
                source,
            }
        })?;
        let mut known = HashMap::new();
        let contracts = project
            .datasets
            .iter()
            .chain(project.models.iter().map(|m| &m.contract));
        for contract in contracts {
            let known_as = Self::known(contract, &spec.namespace, stores);
            known.insert(contract.name.clone(), known_as);
        }
        let variable = |name| std::env::var(name).ok();
        let parent = event::parent(
            variable("OPENLINEAGE_PARENT_ID").as_deref(),
            variable("OPENLINEAGE_ROOT_PARENT_ID").as_deref(),
        );
        if parent.is_none() && std::env::var_os("OPENLINEAGE_PARENT_ID").is_some() {
            tracing::warn!(
                "OPENLINEAGE_PARENT_ID is not `namespace/job/runId`; runs name no parent"
            );
        }
        Ok(Self {
            namespace: spec.namespace.clone(),
            known,
            parent,
            open: Mutex::new(BTreeMap::new()),
            sender,
        })
    }

    /// A dataset or model as events name it; one without storage of its own (a view) is
    /// named in the jobs' namespace.
    fn known(spec: &DatasetSpec, namespace: &str, stores: &Stores) -> Known {
        // A local location (`file://`, or `project:///…` in the project's directory) is
        // named by its path on disk.
        let local = url::Url::parse(&spec.location)
            .ok()
            .and_then(|url| stores.local_path(&url));
        let location = match &local {
            Some(path) => path.to_string_lossy(),
            None => std::borrow::Cow::Borrowed(spec.location.as_str()),
        };
        let name = naming::of_location(&location).unwrap_or_else(|| naming::DatasetName {
            namespace: namespace.to_string(),
            name: spec.name.clone(),
        });
        Known {
            name,
            canon: spec.name.clone(),
            columns: spec
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.to_string()))
                .collect(),
        }
    }

    /// Starts the run of a model build (its START event); `reads` are what its query
    /// reads and `lineage` its column lineage. The run ends with [`ModelRun::finish`], or
    /// in FAIL if it is dropped first (its build panicked or was cancelled).
    pub fn model_started(
        self: &Arc<Self>,
        model: &str,
        reads: &[String],
        lineage: &Lineage,
    ) -> Option<ModelRun> {
        let output = self.known.get(model)?;
        let facet = event::column_lineage(lineage, |t| self.known.get(t));
        let run = self.run(
            format!("model.{model}"),
            "MODEL",
            None,
            self.inputs(reads.iter().map(String::as_str)),
            vec![event::dataset(output, &self.namespace, Some(facet))],
        );
        self.emit(&run, State::Start);
        Some(ModelRun {
            emitter: Arc::clone(self),
            run: Some(run),
        })
    }

    /// A new run of the job `job_name` in the jobs' namespace, under the parent run.
    fn run(
        &self,
        job_name: String,
        job_type: &'static str,
        sql: Option<String>,
        inputs: Vec<Value>,
        outputs: Vec<Value>,
    ) -> Run {
        Run {
            id: uuid::Uuid::new_v4().hyphenated().to_string(),
            job_namespace: self.namespace.clone(),
            job_name,
            job_type,
            sql,
            inputs,
            outputs,
            parent: self.parent.clone(),
        }
    }

    fn inputs<'a>(&self, tables: impl Iterator<Item = &'a str>) -> Vec<Value> {
        tables
            .filter_map(|t| self.known.get(t))
            .map(|known| event::dataset(known, &self.namespace, None))
            .collect()
    }

    fn emit(&self, run: &Run, state: State<'_>) {
        let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        self.emit_at(run, state, now);
    }

    fn emit_at(&self, run: &Run, state: State<'_>, at: String) {
        let event = event::run_event(run, state, &at);
        match serde_json::to_vec(&event) {
            Ok(bytes) => self.sender.send(bytes),
            Err(e) => tracing::warn!(error = %e, "an OpenLineage event did not serialize"),
        }
    }

    /// A statement's run, started when its plan is recorded: one that reads or writes a
    /// dataset or model of the project.
    fn planned(
        &self,
        (seq, at): (u64, &str),
        statement: &str,
        fingerprint: &str,
        lineage: &Lineage,
        writes: Option<&str>,
    ) {
        let inputs = self.inputs(lineage.tables.iter().map(String::as_str));
        let output = writes.and_then(|t| self.known.get(t));
        if inputs.is_empty() && output.is_none() {
            return;
        }
        let outputs = output
            .map(|known| {
                // A write's lineage names the columns it writes only when they are the
                // target's own columns.
                let columns_are_targets = !lineage.columns.is_empty()
                    && lineage
                        .columns
                        .iter()
                        .all(|c| known.columns.iter().any(|(name, _)| *name == c.name));
                let facet = columns_are_targets
                    .then(|| event::column_lineage(lineage, |t| self.known.get(t)));
                event::dataset(known, &self.namespace, facet)
            })
            .into_iter()
            .collect();
        let short = fingerprint.get(..16).unwrap_or(fingerprint);
        let sql = (!statement.is_empty()).then(|| statement.to_string());
        let run = self.run(format!("query.{short}"), "QUERY", sql, inputs, outputs);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.insert(seq, (run, at.to_string()));
        while open.len() > OPEN {
            open.pop_first();
        }
    }

    /// A statement's run ended: its START, then COMPLETE, or FAIL when it failed or its
    /// reader stopped before the end.
    fn finished(&self, planned: u64, error: Option<&str>, stopped: bool) {
        let run = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&planned);
        let Some((run, at)) = run else {
            return;
        };
        self.emit_at(&run, State::Start, at);
        let end = match (error, stopped) {
            (Some(error), _) => State::Fail(error),
            (None, true) => State::Fail("the statement was stopped before its end"),
            (None, false) => State::Complete,
        };
        self.emit(&run, end);
    }

    /// Waits, for at most two of the transport's timeouts, until every event handed over
    /// so far has been sent or dropped; the runtime does when it closes, while its events
    /// can still record drops.
    pub fn drain(&self) {
        self.sender.drain();
    }

    /// `canon.lineage_events`' row: transport, target, emitted, sent, dropped, last error.
    pub fn counts(&self) -> (&'static str, String, [u64; 3], Option<String>) {
        let counts = self.sender.counts();
        let last = counts
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (
            self.sender.kind(),
            self.sender.target().to_string(),
            [
                counts.emitted.load(Ordering::Relaxed),
                counts.sent.load(Ordering::Relaxed),
                counts.dropped.load(Ordering::Relaxed),
            ],
            last,
        )
    }
}

/// The emitter goes when the last handle on the runtime's events does, which is after the
/// last statement's end (a failed statement's stream may outlive the runtime): what is
/// queued is sent then, for at most two of the transport's timeouts.
impl Drop for Emitter {
    fn drop(&mut self) {
        self.sender.close();
    }
}

/// A model build's run, between its START and its end.
pub(crate) struct ModelRun {
    emitter: Arc<Emitter>,
    run: Option<Run>,
}

impl ModelRun {
    /// Ends the run: COMPLETE, or FAIL with `error`.
    pub fn finish(mut self, error: Option<&str>) {
        if let Some(run) = self.run.take() {
            let end = error.map_or(State::Complete, State::Fail);
            self.emitter.emit(&run, end);
        }
    }
}

impl Drop for ModelRun {
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            let end = State::Fail("the model's build stopped before its end");
            self.emitter.emit(&run, end);
        }
    }
}

impl Observer for Emitter {
    fn observe(&self, record: &Record) {
        match &record.event {
            Event::QueryPlanned {
                class: StatementClass::Query | StatementClass::Dml,
                statement,
                fingerprint,
                lineage,
                writes,
                ..
            } => self.planned(
                (record.seq, &record.at),
                statement,
                fingerprint,
                lineage,
                writes.as_deref(),
            ),
            Event::QueryFinished {
                planned,
                error,
                stopped,
                ..
            } => self.finished(*planned, error.as_deref(), *stopped),
            _ => {}
        }
    }
}
