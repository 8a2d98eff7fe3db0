//! How many rows a region's relations give, and their joins: from the statistics
//! DataFusion derives for each relation's physical plan (files' row counts, column
//! minimum and maximum, filters' selectivity over them) and from the keys the plan knows
//! to be unique (declared keys, grouping keys).
//!
//! A join's rows are its inputs' product divided, for each pair of relations it joins,
//! by the larger number of distinct values of the two sides' key (the textbook estimate,
//! which assumes the smaller side's keys occur on the larger side: a foreign key's).

use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, Dependency};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

use super::enumerate::{Estimates, Set};
use super::graph::Region;

/// The share of rows a join condition other than an equality keeps (DataFusion's
/// default filter selectivity).
const RESIDUAL_SELECTIVITY: f64 = 0.2;

/// One relation's estimate.
#[derive(Debug)]
pub(super) struct Relation {
    /// A short name for plans: the alias or table the relation reads.
    pub label: String,
    /// Its rows, at least one.
    pub rows: f64,
    /// Distinct values of each column of its schema, at most `rows`.
    distinct: Vec<f64>,
}

/// The estimate of `plan`, or `None` when its physical plan does not know its rows.
pub(super) async fn relation(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Option<Relation> {
    let physical = planner.create_physical_plan(plan, session).await.ok()?;
    let statistics = StatisticsContext::new()
        .compute(physical.as_ref(), &StatisticsArgs::new())
        .ok()?;
    let rows = as_f64(*statistics.num_rows.get_value()?).max(1.0);
    let schema = plan.schema();
    let distinct = (0..schema.fields().len())
        .map(|i| {
            if is_unique(schema, i) {
                return rows;
            }
            let column = statistics.column_statistics.get(i);
            let counted = column.and_then(|c| c.distinct_count.get_value().copied());
            let ranged = column.and_then(|c| match (&c.min_value, &c.max_value) {
                (
                    Precision::Exact(min) | Precision::Inexact(min),
                    Precision::Exact(max) | Precision::Inexact(max),
                ) => min.distance_u64(max).map(|d| d.saturating_add(1)),
                _ => None,
            });
            let known = counted.map(as_f64).or(ranged.map(|d| d as f64));
            known.unwrap_or(rows).clamp(1.0, rows)
        })
        .collect();
    Some(Relation {
        label: label(plan),
        rows,
        distinct,
    })
}

/// `n` as a float: estimates need magnitudes, not exact counts.
fn as_f64(n: usize) -> f64 {
    n as f64
}

/// Whether the column at `index` is unique in `schema`'s rows.
fn is_unique(schema: &DFSchema, index: usize) -> bool {
    schema.functional_dependencies().iter().any(|dependence| {
        dependence.mode == Dependency::Single && dependence.source_indices == [index]
    })
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

/// A region's relations with their estimates, as the search asks for them.
pub(super) struct Estimated<'a> {
    pub region: &'a Region,
    pub relations: Vec<Relation>,
}

impl Estimated<'_> {
    /// The distinct values of `expr` in relation `i`: a column's, or the relation's rows
    /// for anything else (the assumption that favours no order).
    fn distinct(&self, i: usize, expr: &Expr) -> f64 {
        let relation = &self.relations[i];
        let column = match expr {
            Expr::Column(c) => Some(c),
            Expr::Cast(cast) => cast.expr.try_as_col(),
            Expr::TryCast(cast) => cast.expr.try_as_col(),
            _ => None,
        };
        column
            .and_then(|c| self.region.relations[i].schema().maybe_index_of_column(c))
            .and_then(|index| relation.distinct.get(index).copied())
            .unwrap_or(relation.rows)
    }

    /// The share of the pairs of rows of relations `i` and `j` that their equalities
    /// keep, or `None` when none joins them.
    fn pair_selectivity(&self, i: usize, j: usize) -> Option<f64> {
        let mut product = 1.0_f64;
        let mut widest = 0.0_f64;
        for edge in &self.region.edges {
            let (a, b) = match (edge.left, edge.right) {
                (l, r) if (l, r) == (i, j) => (&edge.left_expr, &edge.right_expr),
                (l, r) if (l, r) == (j, i) => (&edge.right_expr, &edge.left_expr),
                _ => continue,
            };
            let d = self.distinct(i, a).max(self.distinct(j, b));
            product *= d;
            widest = widest.max(d);
        }
        if widest == 0.0 {
            return None;
        }
        // Several equalities between two relations usually make up one composite key,
        // whose columns are not independent: no more selective than a key of the larger.
        let larger = self.relations[i].rows.max(self.relations[j].rows);
        Some(1.0 / product.min(larger.max(widest)))
    }
}

impl Estimates for Estimated<'_> {
    fn len(&self) -> usize {
        self.relations.len()
    }

    fn neighbours(&self, i: usize) -> Set {
        self.region.edges.iter().fold(0, |set, e| {
            if e.left == i {
                set | 1 << e.right
            } else if e.right == i {
                set | 1 << e.left
            } else {
                set
            }
        })
    }

    fn joined(&self, left: Set, left_rows: f64, right: Set, right_rows: f64) -> f64 {
        let mut rows = left_rows * right_rows;
        let members = |set: Set| (0..self.relations.len()).filter(move |i| set & (1 << i) != 0);
        for i in members(left) {
            for j in members(right) {
                if let Some(selectivity) = self.pair_selectivity(i, j) {
                    rows *= selectivity;
                }
            }
        }
        let both = left | right;
        for residual in &self.region.residuals {
            let covered = residual.set & !both == 0;
            let before = residual.set & !left == 0 || residual.set & !right == 0;
            if covered && !before {
                rows *= RESIDUAL_SELECTIVITY;
            }
        }
        rows.max(1.0)
    }

    fn rows(&self, i: usize) -> f64 {
        self.relations[i].rows
    }
}
