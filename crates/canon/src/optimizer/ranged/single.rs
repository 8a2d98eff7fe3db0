//! [`RangedSingleExec`]: a grouped aggregate run in one step within each partition of its
//! input, whose partitions' ranges of the group column meet at most at their bounds; the
//! groups at the bounds are summarised in each partition and finished together.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::kernels::boolean::{not, or};
use datafusion::arrow::compute::kernels::cmp::{eq, gt, lt};
use datafusion::arrow::compute::{filter, filter_record_batch, is_null};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, ScalarValue, exec_err, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::{Stream, StreamExt};

use super::bounds::Bounds;
use super::exec::{Ends, Half, then_ends};

/// A grouped aggregate over rows whose partitions hold ranges of the group column that
/// meet at most at their bounds. The rows of each partition whose key is not one of its
/// bounds are aggregated in that partition in one step, as a partial and a final half
/// would; the rows at the bounds, the only keys another partition may hold, and those
/// without a key, which the statistics leave out, are summarised into partial rows that
/// the partition to end last finishes.
#[derive(Debug)]
pub struct RangedSingleExec {
    /// The rows the aggregate reads.
    input: Arc<dyn ExecutionPlan>,
    /// The aggregate in one step, over the rows.
    single: Half,
    /// The final half, over partial rows.
    last: Half,
    /// The partial rows' schema.
    partial: SchemaRef,
    /// The group column among the rows' columns.
    key: usize,
    /// Each partition's bounds of the group column (`None`: it reads no rows).
    bounds: Arc<[Option<Bounds>]>,
    /// The summaries of the rows at the bounds, gathered from every partition.
    ends: Arc<Ends>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RangedSingleExec {
    /// The aggregate `first` (its partial half) and `last` (its final half) make, run in
    /// one step within the partitions of `input`, `first`'s input whose partitions read
    /// `bounds` of its group column.
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        first: &AggregateExec,
        last: &AggregateExec,
        bounds: Vec<Option<Bounds>>,
    ) -> Result<Self> {
        let single = Half::new(AggregateMode::Single, first);
        let last = Half::new(AggregateMode::Final, last);
        Self::new(input, single, last, first.schema(), bounds.into())
    }

    fn new(
        input: Arc<dyn ExecutionPlan>,
        single: Half,
        last: Half,
        partial: SchemaRef,
        bounds: Arc<[Option<Bounds>]>,
    ) -> Result<Self> {
        let key = single.key("CanonRangedSingle")?;
        let partitions = input.output_partitioning().partition_count();
        if bounds.len() != partitions {
            return internal_err!("CanonRangedSingle needs each partition's bounds");
        }
        // Planned once here, so that a mismatch fails when the plan is made rather than
        // when it runs: both halves give the same rows, and a summary of no rows fits
        // the partial rows.
        let schema = single.plan(input.schema(), None, None)?.schema();
        if last
            .plan(Arc::clone(&partial), None, None)?
            .schema()
            .fields()
            != schema.fields()
        {
            return internal_err!("CanonRangedSingle's halves give different rows");
        }
        if let Some((low, _)) = bounds.iter().flatten().next() {
            Summary::new(&single.aggr_expr)?.partial_row(low.clone(), &partial)?;
        }
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            input,
            single,
            last,
            partial,
            key,
            bounds,
            ends: Arc::new(Ends::new(partitions)),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for RangedSingleExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonRangedSingle: {}", self.single)
    }
}

impl ExecutionPlan for RangedSingleExec {
    fn name(&self) -> &str {
        "CanonRangedSingle"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
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
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The group columns and the aggregates' arguments are over this node's input.
        let mut recursion = TreeNodeRecursion::Continue;
        for (expr, _) in self.single.group_by.expr() {
            recursion = recursion.visit_sibling(|| f(expr))?;
        }
        for aggregate in &self.single.aggr_expr {
            for expr in arguments(aggregate) {
                recursion = recursion.visit_sibling(|| f(&expr))?;
            }
        }
        for filter in self.single.filter_expr.iter().flatten() {
            recursion = recursion.visit_sibling(|| f(filter))?;
        }
        Ok(recursion)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = crate::optimizer::node::one_child("CanonRangedSingle", children)?;
        Ok(Arc::new(Self::new(
            input,
            self.single.clone(),
            self.last.clone(),
            Arc::clone(&self.partial),
            Arc::clone(&self.bounds),
        )?))
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
        let bounds = self.bounds.get(partition).cloned().flatten();
        let split = Split {
            input,
            partition,
            key: self.key,
            low: Summary::new(&self.single.aggr_expr)?,
            high: Summary::new(&self.single.aggr_expr)?,
            null: Summary::new(&self.single.aggr_expr)?,
            bounds,
            filters: self.single.filter_expr.clone(),
            partial: Arc::clone(&self.partial),
            ends: Arc::clone(&self.ends),
            gathered: Arc::clone(&gathered),
            ended: false,
        };
        let middle = Box::pin(RecordBatchStreamAdapter::new(schema, split));
        let finished = self.single.run(middle, None, Arc::clone(&context))?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let last = (self.last.clone(), Arc::clone(&self.partial));
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

/// `mask` with its nulls false (arrow's own `prep_null_mask_filter` takes a mask that has
/// nulls).
fn nulls_false(mask: BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
        None => mask,
    }
}

/// The expressions an aggregate reads from each row: its arguments, then its ordering's.
fn arguments(aggregate: &AggregateFunctionExpr) -> Vec<Arc<dyn PhysicalExpr>> {
    let mut exprs = aggregate.expressions();
    exprs.extend(aggregate.order_bys().iter().map(|o| Arc::clone(&o.expr)));
    exprs
}

/// The aggregates' states over the rows of one group seen so far.
struct Summary {
    aggregates: Vec<(Arc<AggregateFunctionExpr>, Box<dyn Accumulator>)>,
    /// Whether any row of the group was seen: a group of none is not made.
    seen: bool,
}

impl Summary {
    fn new(aggregates: &[Arc<AggregateFunctionExpr>]) -> Result<Self> {
        let aggregates = aggregates
            .iter()
            .map(|a| Ok((Arc::clone(a), a.create_accumulator()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            aggregates,
            seen: false,
        })
    }

    /// Takes in `rows`, all of this group, with `filters` the aggregates' own filters.
    fn update(
        &mut self,
        rows: &RecordBatch,
        filters: &[Option<Arc<dyn PhysicalExpr>>],
    ) -> Result<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        self.seen = true;
        for (i, (aggregate, accumulator)) in self.aggregates.iter_mut().enumerate() {
            let mut values = arguments(aggregate)
                .iter()
                .map(|expr| expr.evaluate(rows)?.into_array(rows.num_rows()))
                .collect::<Result<Vec<ArrayRef>>>()?;
            if let Some(Some(condition)) = filters.get(i) {
                let mask = condition.evaluate(rows)?.into_array(rows.num_rows())?;
                let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
                    return internal_err!("an aggregate's filter gives booleans");
                };
                values = values
                    .iter()
                    .map(|values| Ok(filter(values, mask)?))
                    .collect::<Result<_>>()?;
            }
            accumulator.update_batch(&values)?;
        }
        Ok(())
    }

    /// The partial row of group `key`, in the partial rows' `schema`.
    fn partial_row(&mut self, key: ScalarValue, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut columns = vec![key.to_array()?];
        for (_, accumulator) in &mut self.aggregates {
            for value in accumulator.state()? {
                columns.push(value.to_array()?);
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// One partition's rows without those at its bounds, which are summarised and go to
/// [`Ends`] once the partition's input has ended.
struct Split {
    input: SendableRecordBatchStream,
    partition: usize,
    key: usize,
    /// The rows at the least and at the greatest bound, and those without a key.
    low: Summary,
    high: Summary,
    null: Summary,
    bounds: Option<Bounds>,
    /// The aggregates' own filters.
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    partial: SchemaRef,
    ends: Arc<Ends>,
    /// Every partition's summaries, once this one was the last to end.
    gathered: Arc<Mutex<Option<Vec<RecordBatch>>>>,
    ended: bool,
}

impl Split {
    /// `batch` without its rows at the bounds or without a key, which are summarised; an
    /// error where a key lies outside the bounds, which the files' statistics then told
    /// wrong, rather than a group finished twice.
    fn take_in(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some((low, high)) = &self.bounds else {
            return Ok(batch);
        };
        let keys = batch.column(self.key);
        let (low_scalar, high_scalar) = (low.to_scalar()?, high.to_scalar()?);
        let outside = or(&lt(keys, &low_scalar)?, &gt(keys, &high_scalar)?)?;
        if outside.true_count() > 0 {
            return exec_err!(
                "partition {} holds group keys outside {low}..={high}, the range its \
                 files' statistics give",
                self.partition
            );
        }
        // A key compared with a bound is null where the key is: such rows are not at it.
        let at_low = nulls_false(eq(keys, &low_scalar)?);
        let at_high = nulls_false(eq(keys, &high_scalar)?);
        let nulls = is_null(keys)?;
        let at_ends = or(&or(&at_low, &at_high)?, &nulls)?;
        if at_ends.true_count() == 0 {
            return Ok(batch);
        }
        self.low
            .update(&filter_record_batch(&batch, &at_low)?, &self.filters)?;
        if low != high {
            self.high
                .update(&filter_record_batch(&batch, &at_high)?, &self.filters)?;
        }
        if nulls.true_count() > 0 {
            self.null
                .update(&filter_record_batch(&batch, &nulls)?, &self.filters)?;
        }
        Ok(filter_record_batch(&batch, &not(&at_ends)?)?)
    }

    /// The input has ended: the bounds' summaries join the other partitions'.
    fn end(&mut self) -> Result<()> {
        self.ended = true;
        let mut own = Vec::with_capacity(3);
        if let Some((low, high)) = self.bounds.clone() {
            let null = ScalarValue::try_from(low.data_type())?;
            for (summary, key) in [
                (&mut self.low, low),
                (&mut self.high, high),
                (&mut self.null, null),
            ] {
                if summary.seen {
                    own.push(summary.partial_row(key, &self.partial)?);
                }
            }
        }
        if let Some(all) = self.ends.add(own) {
            *self.gathered.lock().unwrap_or_else(PoisonError::into_inner) = Some(all);
        }
        Ok(())
    }
}

impl Stream for Split {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.input.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(batch))) => match self.take_in(batch) {
                    Ok(rest) if rest.num_rows() == 0 => continue,
                    rest => return Poll::Ready(Some(rest)),
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    if let Err(e) = self.end() {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
