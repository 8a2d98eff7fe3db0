//! `DELETE`, `UPDATE` and `MERGE INTO` on Delta datasets: delta-rs's own operations, run
//! when the statement's plan executes (so `EXPLAIN` runs nothing), each one commit.
//!
//! delta-rs checks the constraints a table stores on the rows an `UPDATE` or `MERGE`
//! writes; a contract may add constraints the table does not store, and delta-rs's error
//! does not name the constraint. So Canon first computes the rows an `UPDATE` or a `MERGE`
//! would write and checks them against every rule its inserts check (NOT NULL columns, the
//! table's constraints and the contract's). A violation names the rule and a row, and
//! nothing is committed. A `DELETE` writes only rows that were already in the table.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, exec_err};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::MergeIntoClause;
use datafusion::logical_expr::{Expr, col};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::collect;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use super::merge;
use super::state::{Inner, external};
use super::write::{Rules, delta_state};

/// A data change on a Delta table.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Remove the rows matching the predicate (all rows without one).
    Delete { predicate: Option<Expr> },
    /// Set columns of the rows matching the predicate (all rows without one).
    Update {
        assignments: Vec<(String, Expr)>,
        predicate: Option<Expr>,
    },
    /// Merge the source's rows: `on` matches them with the table's, each clause says what
    /// to do; columns are qualified `target.` and `source.`.
    Merge {
        source: Arc<dyn ExecutionPlan>,
        on: Expr,
        clauses: Vec<MergeIntoClause>,
    },
}

/// The plan of a change: one partition that runs it and yields the row count.
pub(crate) fn plan(
    inner: Arc<Inner>,
    change: Change,
    session: &dyn Session,
) -> Result<Arc<dyn ExecutionPlan>> {
    inner.refuse_write()?;
    let state = delta_state(session)?;
    let schema = count_schema();
    let stream: Arc<dyn PartitionStream> = Arc::new(ChangeStream {
        inner,
        change,
        state,
        schema: Arc::clone(&schema),
    });
    Ok(Arc::new(StreamingTableExec::try_new(
        schema,
        vec![stream],
        None,
        Vec::new(),
        false,
        None,
    )?))
}

/// A MERGE source's physical plan after the session's physical optimizer rules. DataFusion
/// hands `merge_into` the source as first planned, and the change runs it inside its own
/// stream, where the rules that run over the whole plan never reach: a join in the source
/// would still have the partition mode the rules choose (`Auto`), which cannot execute.
pub(crate) fn optimized(
    source: Arc<dyn ExecutionPlan>,
    session: &dyn Session,
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return Ok(source);
    };
    state
        .physical_optimizers()
        .iter()
        .try_fold(source, |plan, rule| {
            rule.optimize(plan, state.config_options())
        })
}

/// DataFusion's DML result: one row, the count of rows changed.
fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// The conjunction of DataFusion's pushed-down filters, with columns unqualified as
/// delta-rs resolves them against the table's own schema.
pub(crate) fn predicate(filters: Vec<Expr>) -> Result<Option<Expr>> {
    filters
        .into_iter()
        .map(unqualified)
        .reduce(|a, b| Ok(a?.and(b?)))
        .transpose()
}

/// `expr` with every column reference stripped of its table qualifier.
pub(crate) fn unqualified(expr: Expr) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
            c.name,
        )))),
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}

struct ChangeStream {
    inner: Arc<Inner>,
    change: Change,
    state: SessionState,
    schema: SchemaRef,
}

impl fmt::Debug for ChangeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let change = match &self.change {
            Change::Delete { .. } => "DELETE",
            Change::Update { .. } => "UPDATE",
            Change::Merge { .. } => "MERGE",
        };
        f.debug_struct("ChangeStream")
            .field("dataset", &self.inner.name)
            .field("change", &change)
            .finish()
    }
}

impl PartitionStream for ChangeStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let run = run(
            Arc::clone(&self.inner),
            self.change.clone(),
            self.state.clone(),
            Arc::clone(&self.schema),
        );
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::once(run),
        ))
    }
}

async fn run(
    inner: Arc<Inner>,
    change: Change,
    state: SessionState,
    schema: SchemaRef,
) -> Result<RecordBatch> {
    let loaded = inner.fresh().await?;
    let table = loaded.table.clone();
    let session: Arc<dyn Session> = Arc::new(state.clone());
    let changed = match change {
        Change::Delete { predicate } => {
            let mut delete = table.delete().with_session_state(session);
            if let Some(predicate) = predicate {
                delete = delete.with_predicate(predicate);
            }
            let (table, metrics) = delete.await.map_err(external)?;
            inner.replace(table)?;
            metrics.num_deleted_rows.unwrap_or_default()
        }
        Change::Update {
            assignments,
            predicate,
        } => {
            check_updated_rows(&inner, &state, &assignments, predicate.as_ref()).await?;
            let mut update = table.update().with_session_state(session);
            if let Some(predicate) = predicate {
                update = update.with_predicate(predicate);
            }
            for (column, value) in assignments {
                update = update.with_update(column, value);
            }
            let (table, metrics) = update.await.map_err(external)?;
            inner.replace(table)?;
            metrics.num_updated_rows
        }
        Change::Merge {
            source,
            on,
            clauses,
        } => {
            // The source's own schema: a source with no rows has no batch to take it from.
            let schema = source.schema();
            let batches = collect(source, state.task_ctx()).await?;
            let rows = MemTable::try_new(schema, vec![batches])?;
            let ctx = SessionContext::new_with_state(state.clone());
            let source = ctx.read_table(Arc::new(rows))?;
            merge::check_merged_rows(&inner, &state, source.clone(), &on, &clauses).await?;
            let mut merge = table
                .merge(source, on)
                .with_commit_properties(super::write::commit_properties(&state))
                .with_session_state(session)
                .with_source_alias(merge::SOURCE)
                .with_target_alias(merge::TARGET);
            for clause in clauses {
                merge = merge::merge_clause(merge, clause, &inner).map_err(external)?;
            }
            let (table, metrics) = merge.await.map_err(external)?;
            inner.replace(table)?;
            metrics
                .num_target_rows_inserted
                .saturating_add(metrics.num_target_rows_updated)
                .saturating_add(metrics.num_target_rows_deleted)
        }
    };
    let count = u64::try_from(changed).unwrap_or(u64::MAX);
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(UInt64Array::from(vec![count]))],
    )?)
}

/// Computes the rows an UPDATE would write and checks each against the table's rules.
async fn check_updated_rows(
    inner: &Arc<Inner>,
    state: &SessionState,
    assignments: &[(String, Expr)],
    predicate: Option<&Expr>,
) -> Result<()> {
    let rules = Rules::new(inner, state)?;
    let ctx = SessionContext::new_with_state(state.clone());
    let loaded = inner.loaded();
    let mut rows: DataFrame = ctx.read_table(Arc::clone(&loaded.scan) as _)?;
    if let Some(predicate) = predicate {
        rows = rows.filter(predicate.clone())?;
    }
    let new_values: Vec<Expr> = inner
        .logical
        .fields()
        .iter()
        .map(|field| {
            let assigned = assignments.iter().find(|(name, _)| name == field.name());
            match assigned {
                Some((name, value)) => value.clone().alias(name),
                None => col(Column::new_unqualified(field.name())),
            }
        })
        .collect();
    let mut stream = rows.select(new_values)?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_columns() != inner.logical.fields().len() {
            return exec_err!("the updated rows of `{}` lost columns", inner.name);
        }
        rules.conform(batch)?;
    }
    Ok(())
}
