//! A global join order: each region of inner joins in a plan is reordered by estimated
//! cost, when the estimates say the written order costs clearly more.
//!
//! DataFusion keeps the order a query's joins were written in and only swaps each join's
//! sides by statistics, so a selective dimension written last is joined last, after every
//! row of the fact table met every other dimension. Canon's query planner, before it
//! plans a query physically, takes each region apart into its relations (what lies below
//! the inner joins: scans, filters, aggregates, outer joins, and the side of a semi join
//! that filters by a unique key) and their conditions, plans
//! each relation on its own to read its statistics, searches the orders, and puts the
//! region back together in the cheapest when it costs less than nine tenths of the
//! written one. The chosen order shows in `EXPLAIN` as a `CanonJoinOrder` line over the
//! region, with its estimates; it plans to nothing of its own.
//!
//! Layers: orders and their search ([`enumerate`]), regions taken apart and rebuilt
//! ([`graph`]), filters' selectivity ([`selectivity`]), distinct values counted in parquet
//! dictionaries ([`dictionary`]) or in a sample of a column's values ([`sample`]), both
//! kept by column chunk ([`chunks`]), the relations' estimates ([`estimate`]) and their
//! pairs' ([`pairs`]), and the rewrite with its plan node (here).

mod chunks;
mod dictionary;
mod enumerate;
pub(super) mod estimate;
mod estimated;
mod graph;
mod pairs;
mod sample;
pub(super) mod selectivity;

pub use chunks::ChunkReads;
pub use dictionary::DictionaryCounts;
pub use estimated::{EstimatedRowsExec, ForgetEstimates};
use estimated::{JoinShape, Small};
pub use sample::SampledShares;

use std::fmt::{self, Write};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, Result, internal_err};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, Subquery, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::eliminate_join::EliminateJoin;
use datafusion::optimizer::optimize_projections::OptimizeProjections;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::future::BoxFuture;

use crate::optimizer::node::inputs_rewritten;
use crate::profile::JoinOrderKind;

use enumerate::{Costed, Estimates, Tree};
use graph::Region;
pub(super) use graph::{is_dimension, region_join};
use pairs::Estimated;

/// The share of the written order's estimated cost a new order must stay under to
/// replace it: estimates err, and an order that is only a little cheaper on paper is not
/// worth leaving the order a person wrote.
const REQUIRED_SAVING: f64 = 0.9;

/// `plan` with each region of inner joins in the cheapest order found, or `None` when no
/// region changed. `planner` plans relations to read their statistics. The caller asks
/// [`by_cost`] first.
pub(super) fn reorder<'a>(
    plan: &'a LogicalPlan,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Result<Option<LogicalPlan>>> {
    visit(plan, false, planner, session)
}

/// Whether `session` plans joins by their estimated cost: not with `[profile] join_order =
/// "written"` (the session config's [`JoinOrderKind`]) nor with DataFusion's
/// `datafusion.optimizer.join_reordering` off.
pub(super) fn by_cost(session: &dyn Session) -> bool {
    let written = session.config().get_extension::<JoinOrderKind>().as_deref()
        == Some(&JoinOrderKind::Written);
    !written && session.config_options().optimizer.join_reordering
}

/// `plan` with its regions reordered, from the bottom up: the regions below a region's
/// relations (an aggregate's input, an outer join's sides) are reordered before it, so
/// each relation is visited and estimated once. `inside` says that `plan` is part of a
/// region whose root is above it.
fn visit<'a>(
    plan: &'a LogicalPlan,
    inside: bool,
    planner: &'a DefaultPhysicalPlanner,
    session: &'a dyn Session,
) -> BoxFuture<'a, Result<Option<LogicalPlan>>> {
    Box::pin(async move {
        let is_join = graph::member(plan).is_some();
        // A region's joins and projections are the region's, which its root tries as a
        // whole; below them (and on a semi join's filtering side) a new region may start.
        let inherits = is_join || (inside && graph::passes_through(plan).is_some());
        let into = graph::goes_into(plan);
        let mut rewritten = inputs_rewritten(plan, |input| {
            let part = inherits
                && into.iter().any(|side| std::ptr::eq(*side, input))
                && graph::in_region(input);
            visit(input, part, planner, session)
        })
        .await?;
        if let Some(with_subqueries) =
            reorder_subqueries(rewritten.as_ref().unwrap_or(plan), planner, session).await?
        {
            rewritten = Some(with_subqueries);
        }
        let current = rewritten.as_ref().unwrap_or(plan);
        if is_join && !inside {
            // First with the left joins lifted over the region; when that does not pay,
            // with them as the relations they were.
            for lift_outer in [true, false] {
                let Some(region) = graph::take_apart(current, lift_outer) else {
                    continue;
                };
                let lifted = !region.lifted.is_empty();
                if let Some(ordered) = order(region, planner, session).await? {
                    return Ok(Some(ordered));
                }
                if !lifted {
                    break;
                }
            }
        }
        Ok(rewritten)
    })
}

/// `plan` with the regions of the subqueries in its expressions reordered (a scalar
/// subquery DataFusion keeps as one, TPC-DS q24's average over every store sale), or
/// `None` when none changed.
async fn reorder_subqueries(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    let mut subqueries = Vec::new();
    plan.apply_subqueries(|subquery| {
        if let LogicalPlan::Subquery(subquery) = subquery {
            subqueries.push(subquery.clone());
        }
        Ok(TreeNodeRecursion::Jump)
    })?;
    let mut reordered = Vec::new();
    for subquery in subqueries {
        if let Some(new) = visit(&subquery.subquery, false, planner, session).await? {
            let new = Subquery {
                subquery: Arc::new(new),
                ..subquery.clone()
            };
            reordered.push((subquery, new));
        }
    }
    if reordered.is_empty() {
        return Ok(None);
    }
    let rewritten = plan.clone().map_subqueries(|node| {
        let LogicalPlan::Subquery(subquery) = &node else {
            return Ok(Transformed::no(node));
        };
        match reordered.iter().find(|(old, _)| old == subquery) {
            Some((_, new)) => Ok(Transformed::yes(LogicalPlan::Subquery(new.clone()))),
            None => Ok(Transformed::no(node)),
        }
    })?;
    Ok(Some(rewritten.data))
}

/// The region in its cheapest order, under a [`JoinOrderNode`], or `None` when the written
/// order stays: a relation without estimates, no connected order, or too little saved.
async fn order(
    region: Region,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    let mut relations = Vec::with_capacity(region.relations.len());
    for (k, plan) in region.relations.iter().enumerate() {
        // The columns the region's equalities read of this relation.
        let keys: Vec<&Column> = region
            .edges
            .iter()
            .flat_map(|e| [(e.left, &e.left_expr), (e.right, &e.right_expr)])
            .filter(|(relation, _)| *relation == k)
            .filter_map(|(_, expr)| estimate::column_of(expr))
            .collect();
        match estimate::relation(plan, &keys, planner, session).await {
            Some(relation) => relations.push(relation),
            None => return Ok(None),
        }
    }
    let estimated = Estimated::new(&region, relations);
    let Some(best) = enumerate::best(&estimated) else {
        return Ok(None);
    };
    let written = enumerate::cost_of(&region.written, &estimated);
    // A lifted left join meets the region's rows instead of its preserved side's.
    let lifted_rows: f64 = region
        .lifted
        .iter()
        .map(|l| estimated.rows(l.relation))
        .sum();
    let lifted_probes = region.lifted.len() as f64 * best.rows;
    if best.cost + lifted_probes >= (written.cost + lifted_rows) * REQUIRED_SAVING {
        return Ok(None);
    }
    let Ok(rebuilt) = graph::rebuild(&region, &best.tree) else {
        return Ok(None);
    };
    // A filtering side whose columns nothing reads becomes a semi join again, wherever
    // the order put it. The written order dropped each key once no later join read it;
    // the new one carries only what is read above it too.
    let context = OptimizerContext::new();
    let semi = EliminateJoin::new().rewrite(rebuilt, &context)?.data;
    let pruned = OptimizeProjections::new().rewrite(semi, &context)?.data;
    // One walk of the order gives its text for `EXPLAIN` and its shape. A lifted left join
    // sits between the region's root and its joins; the joins below it are left to
    // DataFusion's estimates.
    let mut order_text = String::new();
    let (shape, _) = walk_order(&best.tree, &estimated, &mut order_text);
    let node = JoinOrderNode {
        input: pruned,
        description: describe(&order_text, &best, &written, region.lifted.len()),
        rows: whole_rows(best.rows),
        shape: region.lifted.is_empty().then_some(shape),
    };
    Ok(Some(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    })))
}

/// The chosen order (`order`, as [`walk_order`] wrote it) with each join's estimated
/// rows, and both orders' costs.
fn describe(order: &str, best: &Costed, written: &Costed, lifted: usize) -> String {
    let mut text = format!(
        "order={order} rows≈{} cost≈{} written_cost≈{}",
        count(best.rows),
        count(best.cost),
        count(written.cost)
    );
    if lifted > 0 {
        let _ = write!(text, " then_left_joins={lifted}");
    }
    text
}

/// The order `tree` with each join's estimated rows: written to `out` for reading
/// (`((a:1 ⋈ b:2):3 ⋈ c:4):5`), and returned as its shape, with its root's rows.
fn walk_order(tree: &Tree, estimated: &Estimated, out: &mut String) -> (JoinShape, f64) {
    match tree {
        Tree::Leaf(i) => {
            let relation = &estimated.relations[*i];
            let _ = write!(out, "{}:{}", relation.label, count(relation.rows));
            (JoinShape::Relation, relation.rows)
        }
        Tree::Join(l, r) => {
            out.push('(');
            let (left, left_rows) = walk_order(l, estimated, out);
            out.push_str(" ⋈ ");
            let (right, right_rows) = walk_order(r, estimated, out);
            let rows = estimated.joined(l.set(), left_rows, r.set(), right_rows);
            let _ = write!(out, "):{}", count(rows));
            let shape = JoinShape::Join(Box::new(left), Box::new(right), whole_rows(rows));
            (shape, rows)
        }
    }
}

/// An estimate of rows as a count. Saturates: an estimate beyond `usize` is as good as
/// unbounded.
fn whole_rows(rows: f64) -> usize {
    rows.max(0.0).round() as usize
}

/// `n` rounded for reading: 365, 57.3K, 1.4M, 9.9G.
fn count(n: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")];
    for (size, unit) in UNITS {
        if n >= size {
            return format!("{:.1}{unit}", n / size);
        }
    }
    format!("{n:.0}")
}

/// A region of joins Canon reordered, with the estimates it chose by; it plans to its
/// input's plan, carrying the estimated rows to DataFusion's join selection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct JoinOrderNode {
    input: LogicalPlan,
    description: String,
    rows: usize,
    /// The joins below the root with their estimates, when the plan's joins are the order's.
    shape: Option<JoinShape>,
}

impl UserDefinedLogicalNodeCore for JoinOrderNode {
    fn name(&self) -> &str {
        "CanonJoinOrder"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonJoinOrder: {}", self.description)
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(Self {
            input: super::node::one_input(UserDefinedLogicalNodeCore::name(self), exprs, inputs)?,
            description: self.description.clone(),
            rows: self.rows,
            shape: self.shape.clone(),
        })
    }
}

/// Plans a [`JoinOrderNode`] as its input's plan under an [`EstimatedRowsExec`], with the
/// joins below that meet a large side under one of their own.
#[derive(Debug)]
pub struct JoinOrderPlanner;

#[async_trait]
impl ExtensionPlanner for JoinOrderPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(region) = node.as_any().downcast_ref::<JoinOrderNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return internal_err!("CanonJoinOrder takes one input");
        };
        let input = match &region.shape {
            Some(shape) => {
                let small = Small::of(session.config_options());
                EstimatedRowsExec::within(Arc::clone(input), shape, &small)
            }
            None => Arc::clone(input),
        };
        Ok(Some(Arc::new(EstimatedRowsExec::new(input, region.rows))))
    }
}
