//! `CanonSharedExec`: a subplan that occurs more than once in a plan, computed once per run
//! and read by each occurrence.
//!
//! Each output partition is computed by whichever occurrence asks first and buffered
//! (under the run's memory pool); the others wait for it and read the same batches. The
//! last expected reader takes the buffer, which frees it. A plan may run more than once,
//! so the buffers belong to a run, told apart by its task context.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

/// One occurrence of a shared subplan.
#[derive(Debug)]
pub(crate) struct SharedExec {
    input: Arc<dyn ExecutionPlan>,
    shared: Arc<Shared>,
}

impl SharedExec {
    /// The occurrences of `input`, `readers` of them, all reading one computation.
    pub fn occurrences(input: &Arc<dyn ExecutionPlan>, readers: usize) -> Arc<Self> {
        let shared = Arc::new(Shared {
            readers,
            runs: Mutex::new(Vec::new()),
        });
        Arc::new(Self {
            input: Arc::clone(input),
            shared,
        })
    }

    /// Another occurrence of the same computation.
    pub fn occurrence(self: &Arc<Self>) -> Arc<Self> {
        Arc::new(Self {
            input: Arc::clone(&self.input),
            shared: Arc::clone(&self.shared),
        })
    }
}

/// What the occurrences of one subplan share.
#[derive(Debug)]
struct Shared {
    /// How many occurrences read each partition.
    readers: usize,
    /// The runs under way, each with a slot per output partition.
    runs: Mutex<Vec<Run>>,
}

/// One run's buffers.
#[derive(Debug)]
struct Run {
    context: Weak<TaskContext>,
    partitions: Vec<Arc<Slot>>,
}

/// One output partition of a run.
#[derive(Debug, Default)]
struct Slot {
    results: tokio::sync::OnceCell<Buffered>,
}

/// A computed partition, until its last reader takes it.
#[derive(Debug)]
struct Buffered {
    batches: Mutex<Option<Vec<RecordBatch>>>,
    reservation: Mutex<Option<MemoryReservation>>,
    /// Readers that have not read it yet.
    remaining: AtomicUsize,
}

/// A lock whose holder cannot leave the data half-written: a poisoned one is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The slot of `partition` in the run of `context`; runs that ended are forgotten.
    fn slot(
        &self,
        context: &Arc<TaskContext>,
        partition: usize,
        partitions: usize,
    ) -> Option<Arc<Slot>> {
        let mut runs = lock(&self.runs);
        runs.retain(|run| run.context.strong_count() > 0);
        let index = match runs
            .iter()
            .position(|run| std::ptr::eq(run.context.as_ptr(), Arc::as_ptr(context)))
        {
            Some(index) => index,
            None => {
                runs.push(Run {
                    context: Arc::downgrade(context),
                    partitions: (0..partitions).map(|_| Arc::default()).collect(),
                });
                runs.len().checked_sub(1)?
            }
        };
        runs.get(index)?.partitions.get(partition).cloned()
    }
}

impl Buffered {
    /// The batches for one reader; `None` for a reader past those expected.
    fn read(&self) -> Option<Vec<RecordBatch>> {
        let previous = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()?;
        let mut batches = lock(&self.batches);
        if previous == 1 {
            lock(&self.reservation).take();
            batches.take()
        } else {
            batches.clone()
        }
    }
}

/// Computes one partition of `input` into memory the run's pool accounts for.
async fn buffer(
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
    readers: usize,
) -> Result<Buffered> {
    let reservation = MemoryConsumer::new(format!("CanonSharedExec[{partition}]"))
        .register(context.memory_pool());
    let mut stream = input.execute(partition, context)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        reservation.try_grow(batch.get_array_memory_size())?;
        batches.push(batch);
    }
    Ok(Buffered {
        batches: Mutex::new(Some(batches)),
        reservation: Mutex::new(Some(reservation)),
        remaining: AtomicUsize::new(readers),
    })
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "CanonSharedExec: readers={}", self.shared.readers)
            }
            DisplayFormatType::TreeRender => write!(f, "readers={}", self.shared.readers),
        }
    }
}

impl ExecutionPlan for SharedExec {
    fn name(&self) -> &str {
        "CanonSharedExec"
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
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// A new input is a new computation: its occurrences no longer share it.
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) if Arc::ptr_eq(&input, &self.input) => Ok(self),
            (Some(input), true) => Ok(Self::occurrences(&input, 1)),
            _ => Err(DataFusionError::Internal(
                "CanonSharedExec takes exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.properties().partitioning.partition_count();
        let Some(slot) = self.shared.slot(&context, partition, partitions) else {
            return Err(DataFusionError::Internal(format!(
                "CanonSharedExec has no partition {partition} of {partitions}"
            )));
        };
        let input = Arc::clone(&self.input);
        let readers = self.shared.readers;
        let schema = self.schema();
        let batches = futures::stream::once(async move {
            let buffered = slot
                .results
                .get_or_try_init(|| {
                    buffer(Arc::clone(&input), partition, Arc::clone(&context), readers)
                })
                .await?;
            let stream: SendableRecordBatchStream = match buffered.read() {
                Some(batches) => Box::pin(RecordBatchStreamAdapter::new(
                    input.schema(),
                    futures::stream::iter(batches.into_iter().map(Ok)),
                )),
                // A reader past those expected (an operator that reads its input twice)
                // computes the partition again.
                None => input.execute(partition, context)?,
            };
            Ok::<_, DataFusionError>(stream)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}
