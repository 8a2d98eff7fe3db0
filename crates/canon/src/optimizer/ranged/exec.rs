//! [`RangedFinalExec`]: the final half of a grouped aggregate run within each partition
//! of its partial half, with the groups at the partitions' ends finished together.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::kernels::cmp::not_distinct;
use datafusion::arrow::compute::partition;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, OrderingRequirements, Partitioning, PhysicalExpr,
};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::{EmptyRecordBatchStream, RecordBatchStreamAdapter};
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::{Stream, StreamExt, TryStreamExt, stream};

/// The final half of an aggregate grouped by one column, over partial rows whose
/// partitions hold disjoint ranges of that column but at their ends. Each partition's
/// groups between its first and its last are finished in that partition as they stream;
/// the first and last groups of every partition are gathered, and the partition that ends
/// last finishes them after its own.
#[derive(Debug)]
pub struct RangedFinalExec {
    /// The partial half, sorted on the group column in each partition.
    input: Arc<dyn ExecutionPlan>,
    half: Half,
    /// The group column among the partial rows' columns.
    key: usize,
    ends: Arc<Ends>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RangedFinalExec {
    /// `last`, a final aggregate grouped by one column, run within the partitions of
    /// `input`, the partial aggregate it finishes.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, last: &AggregateExec) -> Result<Self> {
        Self::new(input, Half::new(AggregateMode::Final, last))
    }

    fn new(input: Arc<dyn ExecutionPlan>, half: Half) -> Result<Self> {
        let key = half.key("CanonRangedFinal")?;
        // Planned once here, so that a mismatch fails when the plan is made rather than
        // when it runs.
        let schema = half.plan(input.schema(), None, None)?.schema();
        let partitions = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            input,
            half,
            key,
            ends: Arc::new(Ends::new(partitions)),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// An aggregate as the planner made it, to be run in one `mode` over rows given as it runs.
#[derive(Debug, Clone)]
pub(super) struct Half {
    mode: AggregateMode,
    /// The grouping, over the rows the aggregate reads in its mode.
    pub(super) group_by: Arc<PhysicalGroupBy>,
    /// The aggregates, over the partial half's input.
    pub(super) aggr_expr: Vec<Arc<AggregateFunctionExpr>>,
    /// Each aggregate's own filter (`FILTER (WHERE …)`), over the same.
    pub(super) filter_expr: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// The schema of the partial half's input, which the aggregates were planned over.
    input_schema: SchemaRef,
}

impl Half {
    /// `aggregate`'s grouping and aggregates, to be run in `mode`.
    pub(super) fn new(mode: AggregateMode, aggregate: &AggregateExec) -> Self {
        Self {
            mode,
            group_by: Arc::new(aggregate.group_expr().clone()),
            aggr_expr: aggregate.aggr_expr().to_vec(),
            filter_expr: aggregate.filter_expr().to_vec(),
            input_schema: aggregate.input_schema(),
        }
    }

    /// The index of the one column the aggregate groups by, or an internal error naming
    /// `node`, the plan that needs it to group so.
    pub(super) fn key(&self, node: &str) -> Result<usize> {
        let [(key, _)] = self.group_by.expr() else {
            return internal_err!("{node} groups by one column");
        };
        let Some(key) = key.downcast_ref::<Column>() else {
            return internal_err!("{node} groups by a column");
        };
        Ok(key.index())
    }

    /// The aggregate over `rows` (nothing when `None`) of `schema`, sorted by `ordering`.
    pub(super) fn plan(
        &self,
        schema: SchemaRef,
        rows: Option<SendableRecordBatchStream>,
        ordering: Option<LexOrdering>,
    ) -> Result<AggregateExec> {
        let stream = OneStream {
            schema: Arc::clone(&schema),
            rows: Mutex::new(rows),
        };
        let source = StreamingTableExec::try_new(
            schema,
            vec![Arc::new(stream)],
            None,
            ordering,
            false,
            None,
        )?;
        AggregateExec::try_new(
            self.mode,
            Arc::clone(&self.group_by),
            self.aggr_expr.clone(),
            self.filter_expr.clone(),
            Arc::new(source),
            Arc::clone(&self.input_schema),
        )
    }

    /// The aggregate run over `rows`, sorted by `ordering`.
    pub(super) fn run(
        &self,
        rows: SendableRecordBatchStream,
        ordering: Option<LexOrdering>,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.plan(rows.schema(), Some(rows), ordering)?
            .execute(0, context)
    }
}

impl fmt::Display for Half {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let groups: Vec<&str> = self
            .group_by
            .expr()
            .iter()
            .map(|(_, name)| name.as_str())
            .collect();
        let aggregates: Vec<&str> = self.aggr_expr.iter().map(|a| a.name()).collect();
        write!(
            f,
            "gby=[{}], aggr=[{}]",
            groups.join(", "),
            aggregates.join(", ")
        )
    }
}

impl DisplayAs for RangedFinalExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonRangedFinal: {}", self.half)
    }
}

impl ExecutionPlan for RangedFinalExec {
    fn name(&self) -> &str {
        "CanonRangedFinal"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        // The ends' groups come after the rest.
        vec![false]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        // Each partition's groups are told apart by runs of equal keys.
        let ordering = self.input.output_ordering().cloned();
        vec![ordering.map(OrderingRequirements::from)]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The group columns, over this node's input; the aggregates' arguments and
        // filters are over the partial half's input.
        let mut recursion = TreeNodeRecursion::Continue;
        for (expr, _) in self.half.group_by.expr() {
            recursion = recursion.visit_sibling(|| f(expr))?;
        }
        Ok(recursion)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = crate::optimizer::node::one_child("CanonRangedFinal", children)?;
        Ok(Arc::new(Self::new(input, self.half.clone())?))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let schema = input.schema();
        let gathered = Arc::new(Mutex::new(None));
        let split = Split {
            input,
            key: self.key,
            held: Vec::new(),
            first_ended: false,
            own_ends: Vec::new(),
            ready: VecDeque::new(),
            ends: Arc::clone(&self.ends),
            gathered: Arc::clone(&gathered),
            ended: false,
        };
        let middle = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), split));
        let ordering = self.input.output_ordering().cloned();
        let finished = self.half.run(middle, ordering, Arc::clone(&context))?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let last = (self.half.clone(), schema);
        Ok(then_ends(
            finished,
            gathered,
            last,
            self.schema(),
            context,
            baseline,
        ))
    }
}

/// A partition's output: `finished`, its own groups, then, when it was the partition to
/// end last, the partial rows `gathered` from every partition finished by `last` (the
/// final half and the partial rows' schema). The partition's split fills `gathered` as it
/// ends, which it has once `finished` has.
pub(super) fn then_ends(
    finished: SendableRecordBatchStream,
    gathered: Arc<Mutex<Option<Vec<RecordBatch>>>>,
    (last, partial): (Half, SchemaRef),
    schema: SchemaRef,
    context: Arc<TaskContext>,
    baseline: BaselineMetrics,
) -> SendableRecordBatchStream {
    let empty = Arc::clone(&schema);
    let ends = stream::once(async move {
        let batches = gathered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match batches {
            Some(batches) => {
                let rows = stream::iter(batches.into_iter().map(Ok));
                let rows = Box::pin(RecordBatchStreamAdapter::new(partial, rows));
                last.run(rows, None, context)
            }
            None => Ok(Box::pin(EmptyRecordBatchStream::new(empty)) as SendableRecordBatchStream),
        }
    })
    .try_flatten();
    let out = finished
        .chain(ends)
        .inspect_ok(move |batch| baseline.record_output(batch.num_rows()));
    Box::pin(RecordBatchStreamAdapter::new(schema, out))
}

/// The partial rows at the ends of the partitions, gathered until every partition has
/// ended.
#[derive(Debug)]
pub(super) struct Ends {
    partitions: usize,
    state: Mutex<(Vec<RecordBatch>, usize)>,
}

impl Ends {
    pub(super) fn new(partitions: usize) -> Self {
        Self {
            partitions,
            state: Mutex::new((Vec::new(), 0)),
        }
    }

    /// Adds the end rows of one partition that has ended: every partition's, when it was
    /// the last to end. The gathering starts again then, for the plan's next run; a run
    /// left unfinished (a limit met, an error) leaves its partitions counted, as
    /// DataFusion's own operators leave theirs, until `reset_state` makes a new node.
    pub(super) fn add(&self, rows: Vec<RecordBatch>) -> Option<Vec<RecordBatch>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.extend(rows);
        state.1 += 1;
        if state.1 < self.partitions {
            return None;
        }
        state.1 = 0;
        Some(std::mem::take(&mut state.0))
    }
}

/// One partition's partial rows without its first and last group, which go to [`Ends`].
struct Split {
    input: SendableRecordBatchStream,
    key: usize,
    /// The rows of the group seen last, which may go on in the next batch.
    held: Vec<RecordBatch>,
    /// Whether the partition's first group has ended.
    first_ended: bool,
    /// This partition's first and last groups.
    own_ends: Vec<RecordBatch>,
    ready: VecDeque<RecordBatch>,
    ends: Arc<Ends>,
    /// Every partition's ends, once this one was the last to end.
    gathered: Arc<Mutex<Option<Vec<RecordBatch>>>>,
    ended: bool,
}

impl Split {
    /// Takes in one batch, sorted on the key: every group it ends but the partition's
    /// first becomes ready.
    fn take_in(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = Arc::clone(batch.column(self.key));
        let runs = partition(&[Arc::clone(&keys)])?.ranges();
        let mut runs = runs.as_slice();
        if let (Some(held), Some(first)) = (self.held.last(), runs.first())
            && same_key(held.column(self.key), &keys)?
        {
            self.held.push(batch.slice(first.start, first.len()));
            runs = &runs[1..];
        }
        let Some((last, ended)) = runs.split_last() else {
            return Ok(());
        };
        let held = std::mem::take(&mut self.held);
        self.group_ended(held);
        let mut ended = ended;
        if let Some((first, rest)) = ended.split_first()
            && !self.first_ended
        {
            self.group_ended(vec![batch.slice(first.start, first.len())]);
            ended = rest;
        }
        if let (Some(from), Some(to)) = (ended.first(), ended.last()) {
            self.ready
                .push_back(batch.slice(from.start, to.end - from.start));
        }
        self.held.push(batch.slice(last.start, last.len()));
        Ok(())
    }

    /// A group's rows, complete: the partition's first group goes to the ends, any
    /// other is ready.
    fn group_ended(&mut self, rows: Vec<RecordBatch>) {
        if rows.is_empty() {
            return;
        }
        if self.first_ended {
            self.ready.extend(rows);
        } else {
            self.own_ends.extend(rows);
            self.first_ended = true;
        }
    }

    /// The input has ended: the group held is the partition's last.
    fn end(&mut self) {
        let mut own = std::mem::take(&mut self.own_ends);
        own.append(&mut self.held);
        if let Some(all) = self.ends.add(own) {
            *self.gathered.lock().unwrap_or_else(PoisonError::into_inner) = Some(all);
        }
        self.ended = true;
    }
}

/// Whether the last key of `held` is the first of `keys`.
fn same_key(held: &ArrayRef, keys: &ArrayRef) -> Result<bool> {
    let (Some(last), false) = (held.len().checked_sub(1), keys.is_empty()) else {
        return Ok(false);
    };
    let same = not_distinct(&held.slice(last, 1), &keys.slice(0, 1))?;
    Ok(same.len() == 1 && same.value(0))
}

impl Stream for Split {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(batch)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match self.input.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(batch))) => {
                    if let Err(e) = self.take_in(batch) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => self.end(),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// One stream of rows, given once.
struct OneStream {
    schema: SchemaRef,
    rows: Mutex<Option<SendableRecordBatchStream>>,
}

impl fmt::Debug for OneStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OneStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        rows.unwrap_or_else(|| Box::pin(EmptyRecordBatchStream::new(Arc::clone(&self.schema))))
    }
}
