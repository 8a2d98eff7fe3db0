//! The physical side of a shared subplan: [`SharedExec`] is one reader of a
//! [`SharedResult`], which computes its input once and replays the rows to every reader.
//!
//! The rows stay in memory as far as the memory pool allows them; past that they go to a
//! temporary file of the runtime's disk manager (Arrow IPC), which each reader reads back.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::ipc::reader::StreamDecoder;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::stats::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::spill_file::{SpillFile, SpillWriter};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet, SpillMetrics};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties, execute_stream,
};
use futures::future::{BoxFuture, Shared};
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};

/// The outcome of computing a shared input, as every reader sees it.
type SharedRows = Shared<BoxFuture<'static, Result<Arc<Rows>, Arc<DataFusionError>>>>;

/// The rows of one shared subplan: computed by the first reader that runs, then replayed.
pub struct SharedResult {
    id: usize,
    rows: OnceLock<SharedRows>,
}

impl SharedResult {
    /// A result not computed yet; `id` tells it apart in plans.
    pub fn new(id: usize) -> Self {
        Self {
            id,
            rows: OnceLock::new(),
        }
    }

    /// The number that names the result in plans.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The rows, computed from `input` if no reader has started them yet. They are
    /// computed in a task of their own, so that no reader depends on another reader's
    /// stream being polled; dropping the plan drops the task.
    /// `spill` counts what the computing reader writes to disk.
    fn rows(
        &self,
        input: &Arc<dyn ExecutionPlan>,
        context: &Arc<TaskContext>,
        spill: SpillMetrics,
    ) -> SharedRows {
        self.rows
            .get_or_init(|| {
                let input = Arc::clone(input);
                let context = Arc::clone(context);
                let id = self.id;
                async move {
                    SpawnedTask::spawn(compute(input, context, id, spill))
                        .join_unwind()
                        .await
                        .map_err(|e| Arc::new(DataFusionError::ExecutionJoin(Box::new(e))))?
                        .map(Arc::new)
                        .map_err(Arc::new)
                }
                .boxed()
                .shared()
            })
            .clone()
    }
}

impl fmt::Debug for SharedResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedResult")
            .field("id", &self.id)
            .field("started", &self.rows.get().is_some())
            .finish()
    }
}

/// A temporary file of rows and the writer that fills it.
type Spill = (Arc<dyn SpillFile>, StreamWriter<Box<dyn SpillWriter>>);

/// A shared input's rows: those the memory pool granted, then those written to disk.
struct Rows {
    kept: Vec<RecordBatch>,
    spilled: Option<Arc<dyn SpillFile>>,
    _reservation: MemoryReservation,
}

/// Runs `input` to the end, keeping its rows in memory while the pool grants them and
/// writing the rest to a temporary file.
async fn compute(
    input: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    id: usize,
    metrics: SpillMetrics,
) -> Result<Rows> {
    let schema = input.schema();
    let mut stream = execute_stream(input, Arc::clone(&context))?;
    // Spillable, so that a fair pool grants the rows a fair share, not all the room the
    // query's later operators need (TPC-DS q23's 1.98 M item-day counts, 353 MB, held
    // unspillable, left its final aggregates 5 MB of a 512 MiB pool).
    let reservation = MemoryConsumer::new(format!("CanonShared[{id}]"))
        .with_can_spill(true)
        .register(context.memory_pool());
    let mut kept = Vec::new();
    let mut spill: Option<Spill> = None;
    while let Some(batch) = stream.try_next().await? {
        if spill.is_none() && reservation.try_grow(batch.get_array_memory_size()).is_ok() {
            kept.push(batch);
            continue;
        }
        let (_, writer) = match &mut spill {
            Some(spill) => spill,
            None => {
                let file = context
                    .runtime_env()
                    .disk_manager
                    .create_tmp_file("keeping a shared subplan's rows")?;
                let writer = StreamWriter::try_new(file.open_writer()?, &schema)?;
                metrics.spill_file_count.add(1);
                spill.insert((file, writer))
            }
        };
        writer.write(&batch)?;
        metrics.spilled_rows.add(batch.num_rows());
    }
    let spilled = match spill {
        Some((file, mut writer)) => {
            writer.finish()?;
            writer.get_mut().finish()?;
            let bytes = file.size().and_then(|b| usize::try_from(b).ok());
            metrics.spilled_bytes.add(bytes.unwrap_or(0));
            Some(file)
        }
        None => None,
    };
    Ok(Rows {
        kept,
        spilled,
        _reservation: reservation,
    })
}

/// The batches of `rows`, those kept in memory first.
fn replay(rows: &Rows) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let kept = futures::stream::iter(rows.kept.clone().into_iter().map(Ok));
    Ok(match &rows.spilled {
        Some(file) => kept.chain(decode(file.read_stream()?)).boxed(),
        None => kept.boxed(),
    })
}

/// The record batches of an Arrow IPC stream read in chunks.
fn decode(
    chunks: impl Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
) -> impl Stream<Item = Result<RecordBatch>> + Send {
    let state = (chunks, StreamDecoder::new(), Buffer::from(Vec::<u8>::new()));
    futures::stream::try_unfold(state, |(mut chunks, mut decoder, mut buffer)| async move {
        loop {
            if !buffer.is_empty()
                && let Some(batch) = decoder.decode(&mut buffer)?
            {
                return Ok(Some((batch, (chunks, decoder, buffer))));
            }
            if !buffer.is_empty() {
                continue;
            }
            match chunks.next().await {
                Some(chunk) => buffer = Buffer::from(chunk?),
                None => {
                    decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    })
}

/// One reader of a [`SharedResult`]: its input runs once for all readers.
#[derive(Debug)]
pub struct SharedExec {
    input: Arc<dyn ExecutionPlan>,
    result: Arc<SharedResult>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SharedExec {
    /// A reader of `result`, whose rows `input` computes.
    pub fn new(input: Arc<dyn ExecutionPlan>, result: Arc<SharedResult>) -> Self {
        // One partition: the rows are computed once, whoever reads them.
        let properties = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            result,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "CanonSharedExec: result={}", self.result.id)
            }
            DisplayFormatType::TreeRender => write!(f, "result={}", self.result.id),
        }
    }
}

impl ExecutionPlan for SharedExec {
    fn name(&self) -> &str {
        "CanonSharedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Every reader's input is rewritten alike; the result stays the one they share.
        let input = crate::optimizer::node::one_child("CanonSharedExec", children)?;
        Ok(Arc::new(Self::new(input, Arc::clone(&self.result))))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, _partition: Option<usize>) -> Vec<ChildStats> {
        // Without the input's statistics a shared aggregate looks unbounded, and a join
        // over it is planned as if it were large (TPC-DS q64 repartitioned 2.9 M sales
        // rows to meet 18 K items, where the build side is the items).
        vec![ChildStats::At(None)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        // One partition, holding every row of the input.
        Ok(match input_stats.first() {
            Some(stats) => Arc::clone(stats),
            None => Arc::new(Statistics::new_unknown(&self.schema())),
        })
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("CanonSharedExec has one partition, not {partition}");
        }
        let spill = SpillMetrics::new(&self.metrics, partition);
        let rows = self.result.rows(&self.input, &context, spill);
        let stream = futures::stream::once(async move {
            let rows = rows.await.map_err(DataFusionError::Shared)?;
            replay(&rows)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::stats::Precision;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_plan::statistics::StatisticsContext;

    use super::*;

    /// A join over a shared result plans by its rows, as over the aggregate itself.
    #[test]
    fn a_shared_result_has_its_inputs_statistics() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..42))],
        )?;
        let input = MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None)?;
        let shared = SharedExec::new(input, Arc::new(SharedResult::new(1)));
        let statistics = StatisticsContext::new().compute(&shared, &StatisticsArgs::new())?;
        assert_eq!(statistics.num_rows, Precision::Exact(42));
        Ok(())
    }
}
