//! Running a statement with its metrics: the results, the executed plan annotated with
//! DataFusion's metrics (as `EXPLAIN ANALYZE` shows it), and the parquet reader's scan
//! metrics summed over the plan, including its predicate cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, collect};

use crate::error::Result;
use crate::finished::unwrapped;

/// Parquet scan metrics worth a summary line, in display order. The predicate cache
/// ones say how many rows the filter evaluation cached and how many were reused for the
/// output instead of being decoded twice.
pub const SCAN_METRICS: [&str; 5] = [
    "predicate_cache_inner_records",
    "predicate_cache_records",
    "pushdown_rows_matched",
    "pushdown_rows_pruned",
    "bytes_scanned",
];

/// A statement's results with the plan that produced them and its metrics.
#[derive(Debug)]
pub struct Analysis {
    /// The statement's results.
    pub batches: Vec<RecordBatch>,
    /// The executed physical plan, one operator per line, with its metrics.
    pub plan: String,
    /// [`SCAN_METRICS`] summed over the plan's parquet scans; absent when no scan has them.
    pub scan_metrics: BTreeMap<&'static str, usize>,
}

impl Analysis {
    /// Runs a statement's DataFrame (from [`crate::Session::statement`] or
    /// [`crate::Session::execute`]) and keeps the executed plan with its metrics.
    pub async fn collect(df: DataFrame) -> Result<Self> {
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        let batches = collect(Arc::clone(&plan), task_ctx).await?;
        let plan = unwrapped(&plan);
        let text = DisplayableExecutionPlan::with_metrics(plan.as_ref())
            .indent(true)
            .to_string();
        let mut scan_metrics = BTreeMap::new();
        sum_metrics(plan.as_ref(), &mut scan_metrics);
        Ok(Self {
            batches,
            plan: text,
            scan_metrics,
        })
    }
}

fn sum_metrics(plan: &dyn ExecutionPlan, totals: &mut BTreeMap<&'static str, usize>) {
    if let Some(metrics) = plan.metrics() {
        for metric in metrics.aggregate_by_name().iter() {
            let name = metric.value().name();
            if let Some(known) = SCAN_METRICS.iter().find(|m| **m == name) {
                *totals.entry(*known).or_default() += metric.value().as_usize();
            }
        }
    }
    for child in plan.children() {
        sum_metrics(child.as_ref(), totals);
    }
}
