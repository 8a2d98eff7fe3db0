//! How a plan's run ended: a transparent node at the root of every plan the plan hook
//! makes, which records a `QueryFinished` event with the rows produced, the operators'
//! spill metrics and the error, if any, when the run ends.
//!
//! The run ends when every output partition's stream has ended (its last batch read, or
//! an error), before the reader sees the end; a run whose streams are dropped early (a
//! reader that stops, a cancelled query) ends when the last of them is dropped.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::Stream;

use crate::diagnostics::{Diagnostics, Event};
use crate::error::CanonError;

/// What the `query_finished` event says about the plan besides its metrics.
#[derive(Debug, Clone)]
pub(crate) struct PlanRecord {
    /// The runtime's event stream.
    pub diagnostics: Diagnostics,
    /// The session that runs the plan.
    pub session: String,
    /// The `seq` of the plan's `query_planned` event.
    pub planned: u64,
    /// The plan fingerprint.
    pub fingerprint: String,
    /// The profile's `memory_limit`, named when the run runs out of memory.
    pub memory_limit: Option<u64>,
}

/// The root node: executes its input unchanged and records how the run ended.
#[derive(Debug)]
pub(crate) struct RecordFinished {
    input: Arc<dyn ExecutionPlan>,
    run: Arc<Run>,
}

impl RecordFinished {
    /// Wraps a plan about to run.
    pub fn wrap(input: Arc<dyn ExecutionPlan>, record: PlanRecord) -> Arc<dyn ExecutionPlan> {
        let partitions = input.properties().partitioning.partition_count();
        let run = Arc::new(Run {
            record,
            input: Arc::clone(&input),
            open: AtomicUsize::new(partitions),
            started: AtomicBool::new(false),
            recorded: AtomicBool::new(false),
            rows: AtomicU64::new(0),
            error: Mutex::new(None),
            stopped: AtomicBool::new(false),
        });
        Arc::new(Self { input, run })
    }
}

/// The plan a [`RecordFinished`] root wraps, or the plan itself: what explanations show.
pub(crate) fn unwrapped(plan: &Arc<dyn ExecutionPlan>) -> &Arc<dyn ExecutionPlan> {
    match (plan.as_ref() as &dyn Any).downcast_ref::<RecordFinished>() {
        Some(root) => &root.input,
        None => plan,
    }
}

/// One run of a wrapped plan.
#[derive(Debug)]
struct Run {
    record: PlanRecord,
    input: Arc<dyn ExecutionPlan>,
    /// Output partitions whose streams have not ended.
    open: AtomicUsize,
    started: AtomicBool,
    recorded: AtomicBool,
    rows: AtomicU64,
    error: Mutex<Option<String>>,
    /// A partition's stream was dropped before its end (a reader that stopped, a cancel).
    stopped: AtomicBool,
}

impl Run {
    /// A partition's stream ended; the last one records the run.
    fn partition_ended(&self) -> Result<(), CanonError> {
        let previous = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match previous {
            Ok(1) => self.finish(),
            _ => Ok(()),
        }
    }

    fn failed(&self, error: &DataFusionError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(error.strip_backtrace());
        }
    }

    /// Records the `query_finished` event, once.
    fn finish(&self) -> Result<(), CanonError> {
        if self.recorded.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut spills = Spills::default();
        spills.add(self.input.as_ref());
        let error = self.error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let record = &self.record;
        record
            .diagnostics
            .record(Event::QueryFinished {
                session: record.session.clone(),
                planned: record.planned,
                fingerprint: record.fingerprint.clone(),
                output_rows: self.rows.load(Ordering::Acquire),
                spill_count: spills.count,
                spilled_bytes: spills.bytes,
                spilled_rows: spills.rows,
                error,
                stopped: self.stopped.load(Ordering::Acquire),
            })
            .map(drop)
    }
}

impl Drop for Run {
    /// A run whose streams were dropped before they ended is recorded here.
    fn drop(&mut self) {
        if self.started.load(Ordering::Acquire)
            && let Err(error) = self.finish()
        {
            tracing::error!(%error, "recording the end of a query");
        }
    }
}

/// Spill metrics summed over a plan's operators.
#[derive(Debug, Default)]
struct Spills {
    count: u64,
    bytes: u64,
    rows: u64,
}

impl Spills {
    fn add(&mut self, plan: &dyn ExecutionPlan) {
        if let Some(metrics) = plan.metrics() {
            let add = |total: &mut u64, value: Option<usize>| {
                let value = value.map_or(0, |v| u64::try_from(v).unwrap_or(u64::MAX));
                *total = total.saturating_add(value);
            };
            add(&mut self.count, metrics.spill_count());
            add(&mut self.bytes, metrics.spilled_bytes());
            add(&mut self.rows, metrics.spilled_rows());
        }
        for child in plan.children() {
            self.add(child.as_ref());
        }
    }
}

impl DisplayAs for RecordFinished {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "CanonRecordFinished")
            }
            DisplayFormatType::TreeRender => Ok(()),
        }
    }
}

impl ExecutionPlan for RecordFinished {
    fn name(&self) -> &str {
        "CanonRecordFinished"
    }

    /// Transparent to code that downcasts the root: it sees the plan that runs.
    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Self::wrap(input, self.run.record.clone())),
            _ => Err(DataFusionError::Internal(
                "CanonRecordFinished takes exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.run.started.store(true, Ordering::Release);
        let inner = match self.input.execute(partition, context) {
            Ok(stream) => stream,
            Err(error) => {
                // A partition that cannot start ends the run as a failure.
                let error = name_the_limit(error, self.run.record.memory_limit);
                self.run.failed(&error);
                if let Err(recording) = self.run.partition_ended() {
                    tracing::error!(error = %recording, "recording the end of a failed query");
                }
                return Err(error);
            }
        };
        Ok(Box::pin(FinishStream {
            inner,
            run: Arc::clone(&self.run),
            ended: false,
        }))
    }
}

/// One output partition's stream, counting rows and reporting its end to the run.
struct FinishStream {
    inner: SendableRecordBatchStream,
    run: Arc<Run>,
    ended: bool,
}

impl FinishStream {
    /// Ends this partition; when it was the last, a failure to record the run is the
    /// stream's error.
    fn end(&mut self) -> Option<DataFusionError> {
        self.ended = true;
        self.run
            .partition_ended()
            .err()
            .map(CanonError::into_datafusion)
    }
}

impl Stream for FinishStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                let rows = u64::try_from(batch.num_rows()).unwrap_or(u64::MAX);
                self.run.rows.fetch_add(rows, Ordering::AcqRel);
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(Some(Err(error))) => {
                let error = name_the_limit(error, self.run.record.memory_limit);
                self.run.failed(&error);
                // The run's own error is the one to report; recording it is best effort.
                if let Some(recording) = self.end() {
                    tracing::error!(error = %recording, "recording the end of a failed query");
                }
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => Poll::Ready(self.end().map(Err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An operator that ran out of memory points at DataFusion's `datafusion.runtime.*` keys,
/// which a Canon project sets in `[profile]`: say so, keeping DataFusion's error as the
/// cause.
fn name_the_limit(error: DataFusionError, memory_limit: Option<u64>) -> DataFusionError {
    let Some(limit) = memory_limit else {
        return error;
    };
    if !matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)) {
        return error;
    }
    let message = format!(
        "the query needs more memory than the profile allows ([profile] memory_limit = \
         {limit} bytes, shared by every query of the runtime); raise it, or let operators \
         reserve less"
    );
    DataFusionError::Context(message, Box::new(error))
}

impl RecordBatchStream for FinishStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for FinishStream {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.run.stopped.store(true, Ordering::Release);
        if let Some(error) = self.end() {
            tracing::error!(%error, "recording the end of a query stopped early");
        }
    }
}
