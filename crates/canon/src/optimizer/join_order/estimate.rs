//! How many rows a region's relations give, and how many distinct values their columns
//! hold: from the statistics DataFusion derives for each relation's physical plan (files'
//! row counts, column minimum and maximum, filters' selectivity over them) and from the
//! keys the plan knows to be unique (declared keys, grouping keys).
//!
//! Distinct values come from the statistics, from a key's uniqueness, from the parquet
//! dictionaries of a text column ([`dictionary`]) and from a sample of a wide integer
//! column ([`sample`]); the pairs of a region combine them ([`super::pairs`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, DFSchema, ScalarValue, Statistics};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

use crate::optimizer::group_keys::passes_columns;
use crate::optimizer::keys::is_unique;

use super::selectivity::{self, ColumnFacts, selectivity};
use super::{dictionary, sample};

/// One relation's estimate.
#[derive(Debug)]
pub(in crate::optimizer) struct Relation {
    /// A short name for plans: the alias or table the relation reads.
    pub label: String,
    /// Its rows, at least one.
    pub rows: f64,
    /// Its table's rows before any filter or semi join, at least `rows`.
    unfiltered: f64,
    /// Distinct values of each column of its schema, at most `rows`.
    distinct: Vec<f64>,
    /// For each unique column, the rows of its table before any filter: the values a
    /// foreign key that refers to it can take.
    domain: Vec<Option<f64>>,
    /// For a filtered table, the distinct values in the whole table of each column the
    /// filter does not read: the values the filter kept some of, at random.
    whole_distinct: Vec<Option<f64>>,
}

/// The estimate of `plan`, or `None` when its physical plan does not know its rows; the
/// columns in `read` may have their distinct values sampled (see [`sample`]).
pub(in crate::optimizer) async fn relation(
    plan: &LogicalPlan,
    read: &[&Column],
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<Relation> {
    let (physical, statistics) = statistics_of(plan, planner, session).await?;
    let mut rows = as_f64(*statistics.num_rows.get_value()?).max(1.0);
    let mut unfiltered = rows;
    if let Some(table_rows) = Box::pin(semi_joined_table_rows(plan, planner, session)).await {
        unfiltered = table_rows.max(rows);
    }
    let schema = plan.schema();
    let width = schema.fields().len();
    let mut whole = vec![None; width];
    // A filtered table: each condition estimated on its own (see `selectivity`).
    if let Some((predicate, scan)) = filtered_scan(plan)
        && let Some(table) = Table::of(scan, &predicate, planner, session).await
    {
        let kept = selectivity(&predicate, table.rows, &|e: &Expr| table.facts(e));
        rows = (table.rows * kept).max(1.0);
        unfiltered = table.rows;
        let filtered_on = predicate.column_refs();
        for (i, whole) in whole.iter_mut().enumerate() {
            *whole = scanned_name(plan, i)
                .filter(|name| !filtered_on.iter().any(|c| c.name == *name))
                .and_then(|name| table.distinct_named(name));
        }
    }
    let domain = (0..width)
        .map(|i| is_unique(schema, i).then_some(unfiltered))
        .collect();
    let mut distinct: Vec<f64> = (0..width)
        .map(|i| column_distinct(schema, i, statistics.column_statistics.get(i), rows))
        .map(|known| known.unwrap_or(rows))
        .collect();
    if unfiltered >= sample::MIN_ROWS {
        // Only the columns the caller reads: a sample costs a fresh process a read.
        let read: Vec<usize> = read
            .iter()
            .filter_map(|c| schema.maybe_index_of_column(c))
            .collect();
        for (i, (d, whole)) in distinct.iter_mut().zip(&mut whole).enumerate() {
            if !read.contains(&i) {
                continue;
            }
            let column = statistics.column_statistics.get(i);
            if let Some(sampled) =
                sampled_distinct(plan, &physical, i, column, unfiltered, session).await
            {
                *d = d.min(sampled).max(1.0);
                *whole = whole.map(|w| w.min(sampled).max(1.0));
            }
        }
    }
    Some(Relation {
        label: label(plan),
        rows,
        unfiltered,
        distinct,
        domain,
        whole_distinct: whole,
    })
}

impl Relation {
    /// A relation of `rows` rows whose columns hold `distinct` values each.
    #[cfg(test)]
    pub(super) fn of_distinct(rows: f64, distinct: Vec<f64>) -> Self {
        let n = distinct.len();
        Self {
            label: String::new(),
            rows,
            unfiltered: rows,
            distinct,
            domain: vec![None; n],
            whole_distinct: vec![None; n],
        }
    }

    /// The distinct values of the column at `index` of the relation's schema, at most its
    /// rows.
    pub(in crate::optimizer) fn distinct_of(&self, index: usize) -> f64 {
        self.distinct.get(index).copied().unwrap_or(self.rows)
    }

    /// The rows of the table of the column at `index`, where that column is unique.
    pub(in crate::optimizer) fn domain_of(&self, index: usize) -> Option<f64> {
        self.domain.get(index).copied().flatten()
    }

    /// The distinct values in its whole table of the column at `index`, where the
    /// relation is a table filtered on other columns.
    pub(super) fn whole_distinct_of(&self, index: usize) -> Option<f64> {
        self.whole_distinct.get(index).copied().flatten()
    }
}

/// The rows of the table `plan` reads before any filter, where `plan` is a relation
/// semi-joined with other tables (through aliases and column projections): a semi join
/// keeps some of its relation's rows, and the relation's unique columns still range over
/// all of its table's. DataFusion's estimate of the semi join's rows stood for them: TPC-H
/// q5 with keys declared semi-joins its nations with Asia's region, and its five nations,
/// taken for five of five, seemed to meet every customer; the order joined 1994's orders
/// with their lines before it found Asia's customers (0.8× the speed of the project
/// without keys).
async fn semi_joined_table_rows(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<f64> {
    let kept = match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            return Box::pin(semi_joined_table_rows(&alias.input, planner, session)).await;
        }
        LogicalPlan::Projection(projection) if passes_columns(projection) => {
            return Box::pin(semi_joined_table_rows(&projection.input, planner, session)).await;
        }
        LogicalPlan::Join(join) => match join.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => &join.left,
            JoinType::RightSemi | JoinType::RightAnti => &join.right,
            _ => return None,
        },
        _ => return None,
    };
    Box::pin(relation(kept, &[], planner, session))
        .await
        .map(|relation| relation.unfiltered)
}

/// The distinct values of column `i` of the relation `plan` (planned as `physical`) by a
/// sample of its table's files (see [`sample`]), where its range is as wide as the table's
/// `unfiltered` rows and so bounds nothing; `None` where the range bounds it already, the
/// statistics count it, it is unique, or it is not an integer column of a scanned table.
async fn sampled_distinct(
    plan: &LogicalPlan,
    physical: &Arc<dyn ExecutionPlan>,
    i: usize,
    column: Option<&ColumnStatistics>,
    unfiltered: f64,
    session: &dyn Session,
) -> Option<f64> {
    let schema = plan.schema();
    let field = schema.fields().get(i)?;
    let counted = column.is_some_and(|c| c.distinct_count.get_value().is_some());
    if counted || is_unique(schema, i) || !sample::sampled_type(field.data_type()) {
        return None;
    }
    if distinct_values(column).is_some_and(|by_range| by_range < unfiltered / 2.0) {
        return None;
    }
    let name = scanned_name(plan, i)?;
    let share = sample::distinct_share(physical, name, session).await?;
    Some(unfiltered * share)
}

/// The name in its table's files of column `i` of `plan`, where `plan` reads a table
/// through aliases, filters and projections of bare columns.
fn scanned_name(plan: &LogicalPlan, i: usize) -> Option<&str> {
    match plan {
        LogicalPlan::TableScan(scan) => scan
            .projected_schema
            .fields()
            .get(i)
            .map(|f| f.name().as_str()),
        LogicalPlan::SubqueryAlias(alias) => scanned_name(&alias.input, i),
        LogicalPlan::Filter(filter) => scanned_name(&filter.input, i),
        LogicalPlan::Projection(projection) => match projection.expr.get(i)? {
            Expr::Column(column) => {
                let below = projection.input.schema().maybe_index_of_column(column)?;
                scanned_name(&projection.input, below)
            }
            _ => None,
        },
        _ => None,
    }
}

/// A subplan's physical plan and the statistics DataFusion derives for it.
type Planned = Option<(Arc<dyn ExecutionPlan>, Arc<Statistics>)>;

tokio::task_local! {
    /// The subplans planned so far for one query's estimates: the join order's second try
    /// without lifted left joins, eager aggregation and the conditions' order ask for many
    /// of the same ones, and planning each (a quarter of a millisecond) is most of what
    /// Canon's planning adds to a short query.
    static PLANNED: RefCell<HashMap<LogicalPlan, Planned>>;
}

/// Runs `estimating` with the subplans it plans for its estimates remembered until it
/// ends: one query's worth, so that no estimate outlives the files it was read from.
pub(in crate::optimizer) async fn remembering<F: Future>(estimating: F) -> F::Output {
    PLANNED.scope(RefCell::default(), estimating).await
}

/// `plan`'s physical plan and the statistics DataFusion derives for it, planned once
/// within [`remembering`].
async fn statistics_of(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Planned {
    if let Ok(Some(planned)) = PLANNED.try_with(|known| known.borrow().get(plan).cloned()) {
        return planned;
    }
    let planned = plan_statistics(plan, planner, session).await;
    // Outside `remembering` there is nothing to remember in.
    let _ = PLANNED.try_with(|known| known.borrow_mut().insert(plan.clone(), planned.clone()));
    planned
}

/// `plan`'s physical plan and the statistics DataFusion derives for it.
async fn plan_statistics(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Planned {
    let physical = planner.create_physical_plan(plan, session).await.ok()?;
    let statistics = StatisticsContext::new()
        .compute(physical.as_ref(), &StatisticsArgs::new())
        .ok()?;
    Some((physical, statistics))
}

/// The distinct values of column `i` of a relation of `rows` rows with `schema`: all its
/// rows for a unique column, else what the column's statistics say, at most `rows`.
fn column_distinct(
    schema: &DFSchema,
    i: usize,
    column: Option<&ColumnStatistics>,
    rows: f64,
) -> Option<f64> {
    if is_unique(schema, i) {
        return Some(rows);
    }
    distinct_values(column).map(|d| d.clamp(1.0, rows))
}

/// A column's distinct values: counted in the statistics, or bounded by its range where
/// its values are whole (integers, dates) or decimals, counted in whole units.
fn distinct_values(column: Option<&ColumnStatistics>) -> Option<f64> {
    let column = column?;
    if let Some(counted) = column.distinct_count.get_value() {
        return Some(as_f64(*counted));
    }
    match (column.min_value.get_value(), column.max_value.get_value()) {
        (Some(min), Some(max)) => min
            .distance_u64(max)
            .filter(|_| !matches!(min, ScalarValue::Float32(_) | ScalarValue::Float64(_)))
            .map(|d| (d as f64 / units(min)).floor() + 1.0),
        _ => None,
    }
}

/// The steps of a decimal's range in one whole unit (100 for two decimal places), 1 for
/// anything else. A decimal's range counted in its smallest steps says a column of time
/// zones from -10.00 to -5.00 holds 501 values where it holds six: an equality on it then
/// looked as selective as a key's, and TPC-DS q33 joined its addresses first.
fn units(value: &ScalarValue) -> f64 {
    let scale = match value {
        ScalarValue::Decimal32(_, _, s)
        | ScalarValue::Decimal64(_, _, s)
        | ScalarValue::Decimal128(_, _, s)
        | ScalarValue::Decimal256(_, _, s) => *s,
        _ => 0,
    };
    10f64.powi(i32::from(scale.max(0)))
}

/// The conditions on a table read by `plan` (a filter over a scan, under aliases and
/// projections, and the filters pushed into the scan), with the scan; `None` when `plan`
/// is not such a table or nothing filters it.
fn filtered_scan(plan: &LogicalPlan) -> Option<(Expr, &LogicalPlan)> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => filtered_scan(&alias.input),
        LogicalPlan::Projection(projection) => filtered_scan(&projection.input),
        LogicalPlan::Filter(filter) => match filter.input.as_ref() {
            LogicalPlan::TableScan(scan) => {
                let mut conditions: Vec<Expr> = split_conjunction(&filter.predicate)
                    .into_iter()
                    .cloned()
                    .collect();
                for pushed in &scan.filters {
                    if !conditions.contains(pushed) {
                        conditions.push(pushed.clone());
                    }
                }
                Some((conjunction(conditions)?, &filter.input))
            }
            _ => None,
        },
        LogicalPlan::TableScan(scan) => Some((conjunction(scan.filters.clone())?, plan)),
        _ => None,
    }
}

/// A scanned table before its filters: its rows and what is known of each column.
pub(in crate::optimizer) struct Table<'a> {
    rows: f64,
    schema: &'a DFSchema,
    columns: Vec<ColumnFacts>,
}

impl<'a> Table<'a> {
    /// What the statistics of `scan` (a table scan) say, or `None` without a row count;
    /// for a column `predicate` reads whose distinct values they do not count, its files'
    /// dictionaries do where they can.
    pub(in crate::optimizer) async fn of(
        scan: &'a LogicalPlan,
        predicate: &Expr,
        planner: &DefaultPhysicalPlanner,
        session: &dyn Session,
    ) -> Option<Table<'a>> {
        let (physical, statistics) = statistics_of(scan, planner, session).await?;
        let rows = as_f64(*statistics.num_rows.get_value()?).max(1.0);
        let schema = scan.schema().as_ref();
        let columns = (0..schema.fields().len())
            .map(|i| {
                let column = statistics.column_statistics.get(i);
                let bound = |p: Option<&Precision<ScalarValue>>| {
                    p.and_then(|p| p.get_value()).and_then(selectivity::number)
                };
                let distinct = column_distinct(schema, i, column, rows);
                let nulls = column.and_then(|c| c.null_count.get_value().copied());
                ColumnFacts {
                    min: bound(column.map(|c| &c.min_value)),
                    max: bound(column.map(|c| &c.max_value)),
                    distinct,
                    null_fraction: nulls.map_or(0.0, |n| (as_f64(n) / rows).min(1.0)),
                }
            })
            .collect::<Vec<_>>();
        let mut table = Table {
            rows,
            schema,
            columns,
        };
        for column in predicate.column_refs() {
            if let Some(index) = table.index_of(column)
                && let Some(facts) = table.columns.get(index)
                && facts.distinct.is_none()
            {
                let counted = dictionary::distinct_values(&physical, &column.name, session).await;
                if let Some(facts) = table.columns.get_mut(index) {
                    facts.distinct = counted.map(|d| d.clamp(1.0, rows));
                }
            }
        }
        Some(table)
    }

    /// The distinct values the column named `name` has in the whole table, where known.
    fn distinct_named(&self, name: &str) -> Option<f64> {
        let index = self.schema.index_of_column_by_name(None, name)?;
        self.columns.get(index)?.distinct
    }

    /// The share of the table's rows `predicate` keeps (see [`selectivity`]).
    pub(in crate::optimizer) fn kept(&self, predicate: &Expr) -> f64 {
        selectivity(predicate, self.rows, &|e: &Expr| self.facts(e))
    }

    /// What is known of the column `expr` reads (through casts), if it is one.
    fn facts(&self, expr: &Expr) -> Option<&ColumnFacts> {
        self.columns.get(self.index_of(column_of(expr)?)?)
    }

    /// The index of `column` in the scan's schema.
    fn index_of(&self, column: &Column) -> Option<usize> {
        self.schema
            .maybe_index_of_column(column)
            .or_else(|| self.schema.index_of_column_by_name(None, &column.name))
    }
}

/// The column `expr` reads, directly or through a cast.
pub(super) fn column_of(expr: &Expr) -> Option<&Column> {
    match expr {
        Expr::Column(c) => Some(c),
        Expr::Cast(cast) => cast.expr.try_as_col(),
        Expr::TryCast(cast) => cast.expr.try_as_col(),
        _ => None,
    }
}

/// `n` as a float: estimates need magnitudes, not exact counts.
fn as_f64(n: usize) -> f64 {
    n as f64
}

/// The alias or table name `plan` reads, through whatever lies above it (a filter, a
/// projection, an aggregate, a semi join's filtering side): the name a person wrote.
fn label(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => alias.alias.table().to_string(),
        LogicalPlan::TableScan(scan) => scan.table_name.table().to_string(),
        LogicalPlan::Join(join)
            if join.join_type == JoinType::RightSemi || join.join_type == JoinType::RightAnti =>
        {
            label(&join.right)
        }
        other => match other.inputs().first() {
            Some(input) => label(input),
            None => other
                .display()
                .to_string()
                .split(':')
                .next()
                .unwrap_or("?")
                .to_lowercase(),
        },
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::stats::Precision;

    use super::*;

    fn ranged(min: ScalarValue, max: ScalarValue) -> ColumnStatistics {
        ColumnStatistics {
            min_value: Precision::Exact(min),
            max_value: Precision::Exact(max),
            ..ColumnStatistics::new_unknown()
        }
    }

    #[test]
    fn a_range_bounds_whole_values_and_decimal_units_but_not_floats() {
        let keys = ranged(
            ScalarValue::Int32(Some(1)),
            ScalarValue::Int32(Some(18_000)),
        );
        assert_eq!(distinct_values(Some(&keys)), Some(18_000.0));
        // Time zones from -10.00 to -5.00: six whole hours, not 501 cents.
        let zones = ranged(
            ScalarValue::Decimal128(Some(-1000), 5, 2),
            ScalarValue::Decimal128(Some(-500), 5, 2),
        );
        assert_eq!(distinct_values(Some(&zones)), Some(6.0));
        let floats = ranged(
            ScalarValue::Float64(Some(0.5)),
            ScalarValue::Float64(Some(9.5)),
        );
        assert_eq!(distinct_values(Some(&floats)), None);
        let counted = ColumnStatistics {
            distinct_count: Precision::Exact(42),
            ..keys
        };
        assert_eq!(distinct_values(Some(&counted)), Some(42.0));
    }
}
