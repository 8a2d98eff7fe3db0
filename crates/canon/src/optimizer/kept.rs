//! Kept shapes: a plan that a session runs again keeps the shape cost gave it the first
//! time.
//!
//! A session runs a repeated query text from the plan it was optimized to (`plans`), but
//! the query planner shaped that plan by cost on every run: the joins' estimates plan
//! each relation to read its statistics, which takes longer than DataFusion's whole
//! planning of some statements (TPC-DS q88 estimates eight regions of four tables, 15 ms
//! a run against 25 ms for the plain session's planning). The shape depends on the plan,
//! the session's settings and the tables' statistics; the kept plan is forgotten when
//! DDL or `SET` changes the first two or a table is no longer the one its name finds, and
//! its shape with it. Files added under a table that stays the same keep the order their
//! statistics chose then, as the kept plan keeps the rest of its optimization.
//!
//! Layers: the memo ([`KeptShape`]) and the node that carries it to the query planner
//! ([`ShapeKeptNode`]).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::{DFSchemaRef, Result, internal_err};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_planner::DefaultPhysicalPlanner;
use tokio::sync::OnceCell;

/// The shape by cost of one plan that runs more than once, found when it is first planned.
#[derive(Debug, Default)]
pub struct KeptShape {
    /// What [`super::plan_by_cost`] gave: `None` when it changed nothing.
    shaped: OnceCell<Option<LogicalPlan>>,
}

impl KeptShape {
    /// `plan` shaped by cost, as the first call found it; `plan` must be the same plan at
    /// every call, which the owner of the memo sees to.
    async fn plan_by_cost(
        &self,
        plan: &LogicalPlan,
        planner: &DefaultPhysicalPlanner,
        session: &dyn Session,
    ) -> Result<Option<LogicalPlan>> {
        let shaped = self
            .shaped
            .get_or_try_init(|| super::plan_by_cost(plan, planner, session))
            .await?;
        Ok(shaped.clone())
    }
}

/// A plan and the memo of its shape, handed to the query planner in one node: the
/// planner shapes the plan once and plans the kept shape on every later run.
#[derive(Debug, Clone)]
pub struct ShapeKeptNode {
    plan: LogicalPlan,
    shape: Arc<KeptShape>,
}

impl ShapeKeptNode {
    /// `plan`, to be shaped once with `shape` as the memo.
    pub fn plan(plan: LogicalPlan, shape: Arc<KeptShape>) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(Self { plan, shape }),
        })
    }

    /// The plan inside `plan` when it is such a node.
    fn of(plan: &LogicalPlan) -> Option<&Self> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref(),
            _ => None,
        }
    }
}

/// `plan` shaped by cost (see [`super::plan_by_cost`]); a [`ShapeKeptNode`] is shaped
/// once and its shape kept. `None` when shaping changes nothing.
pub(super) async fn plan_by_cost_kept(
    plan: &LogicalPlan,
    planner: &DefaultPhysicalPlanner,
    session: &dyn Session,
) -> Result<Option<LogicalPlan>> {
    match ShapeKeptNode::of(plan) {
        Some(kept) => {
            let shaped = kept
                .shape
                .plan_by_cost(&kept.plan, planner, session)
                .await?;
            Ok(Some(shaped.unwrap_or_else(|| kept.plan.clone())))
        }
        None => super::plan_by_cost(plan, planner, session).await,
    }
}

// The node's identity is its memo's: two nodes are the same plan only when they share it.
impl PartialEq for ShapeKeptNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shape, &other.shape)
    }
}

impl Eq for ShapeKeptNode {}

impl Hash for ShapeKeptNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.shape).hash(state);
    }
}

impl PartialOrd for ShapeKeptNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for ShapeKeptNode {
    fn name(&self) -> &str {
        "CanonShapeKept"
    }

    // No inputs: the node exists only between the plan hook and the query planner, and
    // nothing rewrites the plan inside it there.
    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        self.plan.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("CanonShapeKept")
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        if !exprs.is_empty() || !inputs.is_empty() {
            return internal_err!("CanonShapeKept takes no inputs and no expressions");
        }
        Ok(self.clone())
    }
}
