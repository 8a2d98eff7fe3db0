//! `DELETE`, `UPDATE` and `MERGE INTO` on Delta datasets: delta-rs's own operations, run
//! when the statement's plan executes (so `EXPLAIN` runs nothing), each one commit.
//!
//! delta-rs checks the constraints a table stores on the rows an `UPDATE` or `MERGE`
//! writes; a contract may add constraints the table does not store, so for an `UPDATE`
//! Canon first computes the updated rows and checks them against every rule its inserts
//! check (NOT NULL columns, the table's constraints and the contract's). A violation names
//! the rule and a row, and nothing is committed. A `MERGE` on a table that lacks some of
//! the contract's constraints is refused, since its written rows cannot be checked before
//! delta-rs commits them. A `DELETE` writes only rows that were already in the table.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result, TableReference, exec_err};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClause, MergeIntoClauseKind};
use datafusion::logical_expr::{Expr, col};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::collect;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::DataFrame;
use deltalake_core::DeltaResult;
use deltalake_core::operations::merge::{
    DeleteBuilder as MergeDelete, MergeBuilder, UpdateBuilder as MergeUpdate,
};
use futures::StreamExt;

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

/// Whether a type is one only the scan reads (dictionary-encoded partition values, view
/// types); the table stores the plain type.
fn is_scan_only(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Dictionary(..) | DataType::Utf8View | DataType::BinaryView
    )
}

/// How `MERGE` names the two sides in its expressions, as delta-rs reads them.
const TARGET: &str = "target";
const SOURCE: &str = "source";

/// A `MERGE`'s expressions with their columns renamed to `target.` and `source.`, from the
/// qualifiers DataFusion planned them with (`merge_schema`: the table's columns, then the
/// source's).
pub(crate) fn merge(
    target_columns: usize,
    merge_schema: &DFSchema,
    source: Arc<dyn ExecutionPlan>,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<Change> {
    let qualifiers: Vec<Option<TableReference>> =
        merge_schema.iter().map(|(q, _)| q.cloned()).collect();
    let target = qualifiers.first().cloned().flatten();
    let source_side = qualifiers.get(target_columns).cloned().flatten();
    let rename = |expr: Expr| -> Result<Expr> {
        expr.unalias_nested()
            .data
            .transform_up(|e| match e {
                // The scan reads partition values dictionary-encoded and strings as views
                // when configured; delta-rs casts to the table's own types itself.
                Expr::Cast(cast) if is_scan_only(cast.field.data_type()) => {
                    Ok(Transformed::yes(*cast.expr))
                }
                Expr::Column(c) => {
                    let side = match &c.relation {
                        Some(r) if Some(r) == target.as_ref() => Some(TARGET),
                        Some(r) if Some(r) == source_side.as_ref() => Some(SOURCE),
                        _ => None,
                    };
                    Ok(match side {
                        Some(side) => Transformed::yes(Expr::Column(Column::new(
                            Some(TableReference::bare(side)),
                            c.name,
                        ))),
                        None => Transformed::no(Expr::Column(c)),
                    })
                }
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
    };
    let clauses = clauses
        .into_iter()
        .map(|clause| {
            let predicate = clause.predicate.map(rename).transpose()?;
            let action = match clause.action {
                MergeIntoAction::Update(sets) => MergeIntoAction::Update(
                    sets.into_iter()
                        .map(|(c, v)| Ok((c, rename(v)?)))
                        .collect::<Result<_>>()?,
                ),
                MergeIntoAction::Insert { columns, values } => MergeIntoAction::Insert {
                    columns,
                    values: values.into_iter().map(rename).collect::<Result<_>>()?,
                },
                MergeIntoAction::Delete => MergeIntoAction::Delete,
            };
            Ok(MergeIntoClause {
                kind: clause.kind,
                predicate,
                action,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Change::Merge {
        source,
        on: rename(on)?,
        clauses,
    })
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
            refuse_unstored_constraints(&inner)?;
            let batches = collect(source, state.task_ctx()).await?;
            let schema = batches
                .first()
                .map(|b| b.schema())
                .unwrap_or_else(|| Arc::new(Schema::empty()));
            let rows = MemTable::try_new(schema, vec![batches])?;
            let ctx = SessionContext::new_with_state(state.clone());
            let source = ctx.read_table(Arc::new(rows))?;
            let mut merge = table
                .merge(source, on)
                .with_session_state(session)
                .with_source_alias(SOURCE)
                .with_target_alias(TARGET);
            for clause in clauses {
                merge = merge_clause(merge, clause, &inner).map_err(external)?;
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

/// A `MERGE` writes rows Canon cannot see before delta-rs commits them, so it runs only
/// where delta-rs itself enforces every constraint: those the table stores.
fn refuse_unstored_constraints(inner: &Inner) -> Result<()> {
    let constraints = inner
        .constraints
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let unstored: Vec<String> = constraints
        .iter()
        .filter(|c| !c.stored)
        .map(|c| format!("`{}` ({})", c.name, c.expression))
        .collect();
    if unstored.is_empty() {
        return Ok(());
    }
    exec_err!(
        "MERGE INTO Delta dataset `{}` refused: the contract's constraint(s) {} are not \
         stored in the table, and a MERGE's rows can only be checked by the table's own \
         constraints; nothing was committed",
        inner.name,
        unstored.join(", ")
    )
}

/// Adds one `WHEN …` clause to delta-rs's merge.
fn merge_clause(
    merge: MergeBuilder,
    clause: MergeIntoClause,
    inner: &Inner,
) -> DeltaResult<MergeBuilder> {
    let MergeIntoClause {
        kind,
        predicate,
        action,
    } = clause;
    let by_source = kind == MergeIntoClauseKind::NotMatchedBySource;
    match action {
        MergeIntoAction::Update(sets) => {
            let update = |mut u: MergeUpdate| {
                if let Some(p) = predicate {
                    u = u.predicate(p);
                }
                for (column, value) in sets {
                    u = u.update(column, value);
                }
                u
            };
            if by_source {
                merge.when_not_matched_by_source_update(update)
            } else {
                merge.when_matched_update(update)
            }
        }
        MergeIntoAction::Delete => {
            let delete = |mut d: MergeDelete| {
                if let Some(p) = predicate {
                    d = d.predicate(p);
                }
                d
            };
            if by_source {
                merge.when_not_matched_by_source_delete(delete)
            } else {
                merge.when_matched_delete(delete)
            }
        }
        MergeIntoAction::Insert { columns, values } => {
            let columns: Vec<String> = if columns.is_empty() {
                inner
                    .logical
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            } else {
                columns
            };
            merge.when_not_matched_insert(|mut i| {
                if let Some(p) = predicate {
                    i = i.predicate(p);
                }
                for (column, value) in columns.into_iter().zip(values) {
                    i = i.set(column, value);
                }
                i
            })
        }
    }
}
