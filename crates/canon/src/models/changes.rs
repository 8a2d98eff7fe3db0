//! Merge models that apply their upstream's Change Data Feed (`incremental = { changes =
//! true }`). The model's query maps each row of one Delta upstream (joined, perhaps, with
//! lookup tables) to at most one row of its own; so the rows the upstream inserted or
//! updated since the last build, run through the same query, are the model's rows to
//! upsert, and the rows it held before the changes give the model keys that may have to go.
//!
//! From the feed between two versions, per upstream key:
//! - its latest insert or update post-image is the row as it is now;
//! - its earliest update pre-image or delete is the row as the last build read it.
//!
//! The query runs over each set in place of the upstream; the model keys of the second that
//! the first does not yield are deleted. One `MERGE`, so one commit, applies both.

use std::sync::Arc;

use canon_model::contract::DatasetSpec;
use canon_model::model::ModelSpec;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{JoinType, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::provider_as_source;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{ExprFunctionExt, LogicalPlan, TableScan, cast};
use datafusion::prelude::{Expr, ident, lit, when};

use crate::contract::Format;
use crate::error::Result;
use crate::project::Project;
use crate::session::Session;

/// The column of a changes build's merge source that says what becomes of each key.
pub(crate) const CHANGE: &str = "canon_change";
/// [`CHANGE`] for a row to insert or update.
pub(crate) const UPSERT: &str = "upsert";
/// [`CHANGE`] for a key to delete.
pub(crate) const DELETE: &str = "delete";

/// The contract of the one upstream whose change feed a changes model reads, or why the
/// model cannot read one: exactly one of what it reads must be a Delta table that declares
/// its feed and a primary key (to tell its rows apart across versions).
pub(crate) fn feed_source<'p>(
    project: &'p Project,
    reads: impl IntoIterator<Item = &'p String>,
) -> std::result::Result<&'p DatasetSpec, String> {
    let reads: Vec<&str> = reads.into_iter().map(String::as_str).collect();
    let feeds: Vec<&DatasetSpec> = reads
        .iter()
        .filter_map(|r| project.contract(r))
        .filter(|c| {
            c.format == Format::Delta && c.delta.as_ref().is_some_and(|d| d.change_data_feed)
        })
        .collect();
    let source = match feeds.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "`changes = true` applies the Change Data Feed of one Delta upstream, and none of \
                 what it reads ({}) declares `change_data_feed = true` in its [dataset.delta]",
                reads.join(", ")
            ));
        }
        many => {
            let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "`changes = true` applies the Change Data Feed of one upstream, and it reads \
                 several that record one ({}); read the others through a view or without their \
                 feed",
                names.join(", ")
            ));
        }
    };
    if source.primary_key.is_empty() {
        return Err(format!(
            "`changes = true` needs a primary_key on `{}`, whose changes it applies: a row's \
             versions are told apart by its key",
            source.name
        ));
    }
    Ok(source)
}

/// Why a query cannot map its upstream's changes row by row, if it cannot: it aggregates,
/// ranks, deduplicates or limits, reads the upstream on the optional side of an outer join,
/// or reads it more than once.
pub(crate) fn not_row_wise(plan: &LogicalPlan, source: &str) -> Option<String> {
    let mut scans = 0;
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        let what = match node {
            LogicalPlan::TableScan(scan) => {
                if scan.table_name.table() == source {
                    scans += 1;
                }
                None
            }
            LogicalPlan::Join(join) => {
                let optional: &[&LogicalPlan] = match join.join_type {
                    JoinType::Left => &[&join.right],
                    JoinType::Right => &[&join.left],
                    JoinType::Full => &[&join.left, &join.right],
                    _ => &[],
                };
                optional
                    .iter()
                    .any(|side| reads(side, source))
                    .then_some("reads it on the optional side of an outer join")
            }
            LogicalPlan::Aggregate(_) => Some("aggregates"),
            LogicalPlan::Window(_) => Some("uses window functions"),
            LogicalPlan::Distinct(_) => Some("uses DISTINCT"),
            LogicalPlan::Limit(_) => Some("uses LIMIT"),
            _ => None,
        };
        Ok(match what {
            Some(what) => {
                found = Some(what);
                TreeNodeRecursion::Stop
            }
            None => TreeNodeRecursion::Continue,
        })
    });
    if let Some(what) = found {
        return Some(format!(
            "`changes = true` maps each changed row of `{source}` to a row of the model, and \
             the query {what}: a change could then touch rows it cannot tell; use kind = \
             \"table\", or a merge model without `changes`"
        ));
    }
    (scans != 1).then(|| {
        format!(
            "`changes = true` needs a query that reads `{source}` once; it reads it {scans} times"
        )
    })
}

/// Whether `plan` scans `source`.
fn reads(plan: &LogicalPlan, source: &str) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.table() == source
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The rows a changes build merges: the model's rows for the upstream rows inserted or
/// updated between `from` and `to` (inclusive), marked [`UPSERT`], and the keys the
/// changed rows no longer yield, marked [`DELETE`] (their other columns NULL). Computed
/// once; with how many there are.
pub(crate) async fn merge_rows(
    session: &Session,
    model: &ModelSpec,
    source: &str,
    source_key: &[String],
    from: u64,
    to: u64,
) -> Result<(DataFrame, u64)> {
    let upstream = session.ctx.table_provider(source).await?;
    let quoted = source.replace('\'', "''");
    let feed = session
        .sql(&format!(
            "SELECT * FROM table_changes('{quoted}', {from}, {to})"
        ))
        .await?;
    let change = || ident("_change_type");
    let by_key: Vec<Expr> = source_key.iter().map(ident).collect();
    let pick = |feed: DataFrame, kinds: &[&str], newest: bool| -> Result<DataFrame> {
        // Within one commit a key can be both deleted and inserted (an overwrite without
        // change files): the insert is the newer state, the delete the older.
        let deleted = when(change().eq(lit("delete")), lit(1)).otherwise(lit(0))?;
        let rank = row_number()
            .partition_by(by_key.clone())
            .order_by(vec![
                ident("_commit_version").sort(!newest, false),
                deleted.sort(newest, false),
            ])
            .build()?
            .alias("canon_rank");
        let kinds = kinds.iter().map(|k| lit(*k)).collect();
        Ok(feed
            .filter(change().in_list(kinds, false))?
            .window(vec![rank])?
            .filter(ident("canon_rank").eq(lit(1u64)))?)
    };
    // The newest change of each key; the rows that exist now are those it left.
    let now = pick(
        feed.clone(),
        &["insert", "update_postimage", "delete"],
        true,
    )?
    .filter(change().not_eq(lit("delete")))?;
    // The oldest of the changes that replaced or removed a row: the row before them.
    let before = pick(feed, &["update_preimage", "delete"], false)?;

    let plan = session.fresh_plan(&model.sql.text).await?;
    let state = session.ctx.state();
    let over = |rows: DataFrame| -> Result<DataFrame> {
        let rows = as_upstream(rows, upstream.as_ref())?.into_view();
        Ok(DataFrame::new(
            state.clone(),
            in_place_of(plan.clone(), source, rows)?,
        ))
    };
    let upserts = over(now)?;
    let previous = over(before)?;

    let key = &model.contract.primary_key;
    let previous_keys = previous
        .select(key.iter().map(ident).collect::<Vec<Expr>>())?
        .distinct()?;
    let gone = super::incremental::not_in(previous_keys, upserts.clone(), key)?;
    let gone = gone.select(
        model
            .contract
            .columns
            .iter()
            .map(|c| {
                if key.contains(&c.name) {
                    ident(&c.name)
                } else {
                    cast(lit(ScalarValue::Null), c.data_type.clone()).alias(&c.name)
                }
            })
            .collect::<Vec<Expr>>(),
    )?;
    let rows = upserts
        .with_column(CHANGE, lit(UPSERT))?
        .union(gone.with_column(CHANGE, lit(DELETE))?)?
        .cache()
        .await?;
    let count = u64::try_from(rows.clone().count().await?).unwrap_or(u64::MAX);
    Ok((rows, count))
}

/// The feed's rows as the upstream's scan yields them: its columns, in its order and types
/// (the feed adds its own columns, and reads partition values and strings plainly).
fn as_upstream(rows: DataFrame, upstream: &dyn TableProvider) -> Result<DataFrame> {
    let schema = upstream.schema();
    Ok(rows.select(
        schema
            .fields()
            .iter()
            .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
            .collect::<Vec<Expr>>(),
    )?)
}

/// `plan` with its scan of `source` reading `rows` instead (same schema, so the scan's
/// projection and filters stay as they are).
fn in_place_of(
    plan: LogicalPlan,
    source: &str,
    rows: Arc<dyn TableProvider>,
) -> Result<LogicalPlan> {
    let replaced = plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::TableScan(scan) if scan.table_name.table() == source => {
            let scan = TableScan {
                source: provider_as_source(Arc::clone(&rows)),
                ..scan
            };
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(replaced.data)
}
