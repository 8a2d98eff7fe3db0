//! `MERGE INTO` a Delta dataset: DataFusion's clauses renamed to the `target.`/`source.`
//! columns delta-rs reads, handed to delta-rs's merge, and the rows they would write
//! checked first.
//!
//! delta-rs enforces the constraints a table stores, but its error counts the failing
//! rows without naming the constraint, and it cannot know the contract's own constraints.
//! So Canon computes the rows each `UPDATE` and `INSERT` clause would write (the first
//! clause whose condition holds takes a row, as in the MERGE itself) and checks them
//! against every rule an `INSERT` is checked against before delta-rs runs.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, JoinType, Result, ScalarValue, TableReference};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClause, MergeIntoClauseKind};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::DataFrame;
use deltalake_core::DeltaResult;
use deltalake_core::operations::merge::{
    DeleteBuilder as MergeDelete, MergeBuilder, UpdateBuilder as MergeUpdate,
};
use futures::StreamExt;

use super::state::Inner;
use super::write::Rules;

/// Whether a type is one only the scan reads (dictionary-encoded partition values, view
/// types); the table stores the plain type.
fn is_scan_only(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Dictionary(..) | DataType::Utf8View | DataType::BinaryView
    )
}

/// How `MERGE` names the two sides in its expressions, as delta-rs reads them.
pub(super) const TARGET: &str = "target";
pub(super) const SOURCE: &str = "source";

/// A `MERGE`'s condition and clauses with their columns renamed to `target.` and
/// `source.`, from the qualifiers DataFusion planned them with (`merge_schema`: the table's
/// columns, then the source's).
pub(crate) fn renamed(
    target_columns: usize,
    merge_schema: &DFSchema,
    on: Expr,
    clauses: Vec<MergeIntoClause>,
) -> Result<(Expr, Vec<MergeIntoClause>)> {
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
    Ok((rename(on)?, clauses))
}

/// Adds one `WHEN …` clause to delta-rs's merge.
pub(super) fn merge_clause(
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

/// Checks the rows a MERGE's `UPDATE` and `INSERT` clauses would write against the
/// table's rules: NOT NULL columns, its stored constraints and the contract's. A row
/// goes to the first clause of its kind whose condition holds, as in the MERGE itself.
pub(super) async fn check_merged_rows(
    inner: &Inner,
    state: &SessionState,
    source: DataFrame,
    on: &Expr,
    clauses: &[MergeIntoClause],
) -> Result<()> {
    let rules = Rules::new(inner, state)?;
    let ctx = SessionContext::new_with_state(state.clone());
    let target = ctx
        .read_table(Arc::clone(&inner.loaded().scan) as _)?
        .alias(TARGET)?;
    let source = source.alias(SOURCE)?;
    for kind in [
        MergeIntoClauseKind::Matched,
        MergeIntoClauseKind::NotMatched,
        MergeIntoClauseKind::NotMatchedBySource,
    ] {
        let of_kind: Vec<&MergeIntoClause> =
            clauses.iter().filter(|c| rows_of(c.kind) == kind).collect();
        if of_kind
            .iter()
            .all(|c| matches!(c.action, MergeIntoAction::Delete))
        {
            continue;
        }
        let candidates = match kind {
            MergeIntoClauseKind::Matched => {
                target
                    .clone()
                    .join_on(source.clone(), JoinType::Inner, [on.clone()])?
            }
            MergeIntoClauseKind::NotMatched | MergeIntoClauseKind::NotMatchedByTarget => source
                .clone()
                .join_on(target.clone(), JoinType::LeftAnti, [on.clone()])?,
            MergeIntoClauseKind::NotMatchedBySource => {
                target
                    .clone()
                    .join_on(source.clone(), JoinType::LeftAnti, [on.clone()])?
            }
        };
        // Whether an earlier clause of this kind already took the row.
        let mut taken: Option<Expr> = None;
        for clause in of_kind {
            let holds = clause
                .predicate
                .clone()
                .map_or_else(|| lit(true), Expr::is_true);
            let takes = match &taken {
                Some(earlier) => holds.clone().and(!earlier.clone()),
                None => holds.clone(),
            };
            taken = Some(match taken {
                Some(earlier) => earlier.or(holds),
                None => holds,
            });
            let Some(values) = written_values(inner, &clause.action) else {
                continue;
            };
            let rows = candidates.clone().filter(takes)?.select(values)?;
            let mut stream = rows.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                rules.conform(batch?)?;
            }
        }
    }
    Ok(())
}

/// The rows a clause kind applies to: `NOT MATCHED BY TARGET` is `NOT MATCHED` spelled out.
fn rows_of(kind: MergeIntoClauseKind) -> MergeIntoClauseKind {
    match kind {
        MergeIntoClauseKind::NotMatchedByTarget => MergeIntoClauseKind::NotMatched,
        other => other,
    }
}

/// The table's columns as a clause writes them, or `None` for a `DELETE`. An `UPDATE`
/// keeps the target's value of every column it does not set; an `INSERT` leaves the
/// columns it does not name NULL.
fn written_values(inner: &Inner, action: &MergeIntoAction) -> Option<Vec<Expr>> {
    let fields = inner.logical.fields().iter();
    let values = match action {
        MergeIntoAction::Delete => return None,
        MergeIntoAction::Update(sets) => fields
            .map(|field| {
                let set = sets.iter().find(|(name, _)| name == field.name());
                let value = match set {
                    Some((_, value)) => value.clone(),
                    None => col(Column::new(Some(TARGET), field.name())),
                };
                value.alias(field.name())
            })
            .collect(),
        MergeIntoAction::Insert { columns, values } => fields
            .enumerate()
            .map(|(i, field)| {
                let value = if columns.is_empty() {
                    values.get(i).cloned()
                } else {
                    columns
                        .iter()
                        .position(|c| c == field.name())
                        .and_then(|at| values.get(at).cloned())
                };
                value
                    .unwrap_or_else(|| lit(ScalarValue::Null))
                    .alias(field.name())
            })
            .collect(),
    };
    Some(values)
}
