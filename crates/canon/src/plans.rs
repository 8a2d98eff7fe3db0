//! Plans of repeated statements. A session keeps what each query's SQL text planned to,
//! analyzed and optimized, and runs the same text again from it: no parsing, planning,
//! logical optimization, fingerprint or lineage. At TPC-H SF 1 those take 3–15 ms a query,
//! against 40 ms of execution for the shortest.
//!
//! A DataFrame run from a kept plan holds one [`ReusedPlan`] node with no inputs, so
//! DataFusion's analyzer and optimizer pass over it at once and the plan hook plans the
//! optimized plan inside it. A plan built on top of such a DataFrame (a filter, a join, an
//! `EXPLAIN`) gets the analyzed plan back first ([`ExpandReused`]) and is optimized whole.
//!
//! A plan is kept only when the same text must plan the same way again:
//! - it is a query: no DDL, DML, `SET`, `EXPLAIN` or prepared statement;
//! - every expression in it is immutable: `now()` is evaluated when a plan is optimized,
//!   `random()` and `$1` are left out as well;
//! - every table it reads is one the session's catalog names, and is still that very table
//!   when the text comes again (not a table function's, nor one dropped and created anew).
//!
//! The session forgets every plan when it runs DDL, `SET` or anything else DataFusion runs
//! directly, since those change what names mean and how plans are optimized.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, Result, TableReference, internal_err};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::UserDefinedLogicalNode;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};

use crate::optimizer::KeptShape;
use crate::sql::{Lineage, fingerprint, lineage};

/// How many statements' plans a session keeps; the least recently run goes first.
const CAPACITY: usize = 64;

/// What one query text planned to, kept to run the text again.
#[derive(Debug)]
pub(crate) struct Reusable {
    /// The statement as parsed, as each run records it.
    pub(crate) statement: String,
    /// The plan after DataFusion's analyzer: what a plan built on top starts from.
    analyzed: LogicalPlan,
    /// The plan after the optimizer, which the plan hook plans.
    pub(crate) optimized: LogicalPlan,
    /// The optimized plan's fingerprint, as the hook records it.
    pub(crate) fingerprint: String,
    /// The optimized plan's lineage, as the hook records it.
    pub(crate) lineage: Lineage,
    /// Every table the statement reads, under the name it was found by.
    tables: Vec<(TableReference, Arc<dyn TableProvider>)>,
    /// The optimized plan's shape by cost, found on its first run.
    pub(crate) shape: Arc<KeptShape>,
}

impl Reusable {
    /// Analyzes and optimizes `planned` in `state`, when it is a plan that may be kept;
    /// `None` when it is not (see the module documentation) or when optimizing fails, in
    /// which case the error shows when the statement runs, as for any plan.
    pub(crate) async fn of(
        ctx: &SessionContext,
        state: &SessionState,
        statement: &str,
        planned: &LogicalPlan,
    ) -> Option<Arc<Self>> {
        let tables = reads(planned)?;
        if !all_named(ctx, &tables).await {
            return None;
        }
        let options = state.config_options();
        let analyzed = state
            .analyzer()
            .execute_and_check(planned.clone(), options, |_, _| {})
            .ok()?;
        let optimized = state
            .optimizer()
            .optimize(analyzed.clone(), state, |_, _| {})
            .ok()?;
        Some(Arc::new(Self {
            statement: statement.to_string(),
            fingerprint: fingerprint(&optimized),
            lineage: lineage::in_session(&optimized, options),
            analyzed,
            optimized,
            tables,
            shape: Arc::default(),
        }))
    }

    /// Whether every table the statement read is still the one its name finds.
    async fn is_current(&self, ctx: &SessionContext) -> bool {
        all_named(ctx, &self.tables).await
    }

    /// The plan a DataFrame runs this statement from.
    pub(crate) fn plan(self: &Arc<Self>) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(ReusedPlan {
                reusable: Arc::clone(self),
            }),
        })
    }
}

/// Whether each name finds its very table in the session's catalog now.
async fn all_named(
    ctx: &SessionContext,
    tables: &[(TableReference, Arc<dyn TableProvider>)],
) -> bool {
    for (name, table) in tables {
        let found = ctx.table_provider(name.clone()).await;
        if !found.is_ok_and(|found| std::ptr::addr_eq(Arc::as_ptr(&found), Arc::as_ptr(table))) {
            return false;
        }
    }
    true
}

/// The tables a query reads, subqueries included; `None` when it is not a query that may
/// be kept.
fn reads(plan: &LogicalPlan) -> Option<Vec<(TableReference, Arc<dyn TableProvider>)>> {
    let mut tables = Vec::new();
    let mut keeps = true;
    let _ = plan.apply_with_subqueries(|node| {
        keeps = match node {
            LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Extension(_) => false,
            LogicalPlan::TableScan(scan) => match source_as_provider(&scan.source) {
                Ok(table) => {
                    tables.push((scan.table_name.clone(), table));
                    true
                }
                Err(_) => false,
            },
            node => node.expressions().iter().all(is_fixed),
        };
        Ok(if keeps {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    keeps.then_some(tables)
}

/// Whether an expression gives the same value whenever it is planned: no function that
/// is not immutable, no parameter and no variable.
fn is_fixed(expr: &Expr) -> bool {
    !expr
        .exists(|e| {
            Ok(match e {
                Expr::ScalarFunction(f) => f.func.signature().volatility != Volatility::Immutable,
                Expr::Placeholder(_) | Expr::ScalarVariable(..) => true,
                _ => false,
            })
        })
        .unwrap_or(true)
}

/// A session's kept plans, by SQL text.
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    entries: Mutex<Entries>,
}

/// The kept plans with the tick each was last used at.
#[derive(Debug, Default)]
struct Entries {
    by_text: HashMap<String, (u64, Arc<Reusable>)>,
    tick: u64,
}

impl Entries {
    /// The tick of a use now: later than every use before it.
    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }
}

impl PlanCache {
    /// The kept plan of `sql`, when there is one and the tables it read are still the ones
    /// their names find; a plan whose tables changed is forgotten.
    pub(crate) async fn get(&self, ctx: &SessionContext, sql: &str) -> Option<Arc<Reusable>> {
        let reusable = {
            let mut entries = self.lock();
            let tick = entries.next_tick();
            let (used, reusable) = entries.by_text.get_mut(sql)?;
            *used = tick;
            Arc::clone(reusable)
        };
        if reusable.is_current(ctx).await {
            return Some(reusable);
        }
        self.lock().by_text.remove(sql);
        None
    }

    /// Keeps `reusable` as what `sql` plans to.
    pub(crate) fn insert(&self, sql: &str, reusable: Arc<Reusable>) {
        let mut entries = self.lock();
        if entries.by_text.len() >= CAPACITY && !entries.by_text.contains_key(sql) {
            let oldest = entries
                .by_text
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(text, _)| text.clone());
            if let Some(oldest) = oldest {
                entries.by_text.remove(&oldest);
            }
        }
        let tick = entries.next_tick();
        entries.by_text.insert(sql.to_string(), (tick, reusable));
    }

    /// Forgets every kept plan.
    pub(crate) fn clear(&self) {
        self.lock().by_text.clear();
    }

    /// How many plans are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_text.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map stays whole whatever panicked while it was held.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A statement run from its kept plan: a leaf to DataFusion's analyzer and optimizer.
#[derive(Debug, Clone)]
pub(crate) struct ReusedPlan {
    reusable: Arc<Reusable>,
}

/// The kept plan a plan consists of, when it is one [`ReusedPlan`].
pub(crate) fn reused(plan: &LogicalPlan) -> Option<&Arc<Reusable>> {
    match plan {
        LogicalPlan::Extension(e) => e
            .node
            .as_any()
            .downcast_ref::<ReusedPlan>()
            .map(|r| &r.reusable),
        _ => None,
    }
}

/// `plan` with a [`ReusedPlan`] at its root replaced by its analyzed plan, for callers that
/// show or rewrite a plan rather than run it.
pub(crate) fn expanded(plan: LogicalPlan) -> LogicalPlan {
    match reused(&plan) {
        Some(reusable) => reusable.analyzed.clone(),
        None => plan,
    }
}

impl PartialEq for ReusedPlan {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.reusable, &other.reusable)
    }
}

impl Eq for ReusedPlan {}

impl Hash for ReusedPlan {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.reusable).hash(state);
    }
}

impl PartialOrd for ReusedPlan {
    /// One kept plan equals itself; different ones do not compare.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for ReusedPlan {
    fn name(&self) -> &str {
        "CanonReused"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        self.reusable.analyzed.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CanonReused: fingerprint={}", self.reusable.fingerprint)
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        if !exprs.is_empty() || !inputs.is_empty() {
            return internal_err!("CanonReused takes no inputs and no expressions");
        }
        Ok(self.clone())
    }
}

/// The first analyzer rule: a kept plan below the root of the plan being analyzed (a
/// DataFrame built on one) becomes its analyzed plan again, so that the whole is optimized.
/// At the root it stays, and the plan hook plans the kept optimized plan.
#[derive(Debug, Default)]
pub(crate) struct ExpandReused;

impl AnalyzerRule for ExpandReused {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let at_root = reused(&plan).is_some();
        let below = || {
            plan.exists(|node| Ok(reused(node).is_some()))
                .unwrap_or(true)
        };
        if at_root || !below() {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|node| {
            Ok(match reused(&node) {
                Some(reusable) => Transformed::yes(reusable.analyzed.clone()),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "canon_expand_reused"
    }
}

/// Plans a kept plan that reaches DataFusion's physical planner whole, as in an `EXPLAIN`
/// built on a DataFrame with DataFusion's own API: as the optimized plan it keeps.
#[derive(Debug)]
pub(crate) struct ReusedPlanner;

#[async_trait]
impl ExtensionPlanner for ReusedPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn DfSession,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(reused) = node.as_any().downcast_ref::<ReusedPlan>() else {
            return Ok(None);
        };
        let plan = &reused.reusable.optimized;
        planner.create_physical_plan(plan, session).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::EmptyRelation;

    use super::*;

    fn reusable(statement: &str) -> Arc<Reusable> {
        let empty = LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(DFSchema::empty()),
        });
        Arc::new(Reusable {
            statement: statement.to_string(),
            analyzed: empty.clone(),
            optimized: empty,
            fingerprint: String::new(),
            lineage: Lineage::default(),
            tables: Vec::new(),
            shape: Arc::default(),
        })
    }

    #[tokio::test]
    async fn a_full_cache_forgets_the_plan_run_longest_ago() {
        let ctx = SessionContext::new();
        let cache = PlanCache::default();
        for n in 0..CAPACITY {
            cache.insert(&format!("q{n}"), reusable(&format!("q{n}")));
        }
        // q0 is run again, so q1 is now the one run longest ago.
        assert!(cache.get(&ctx, "q0").await.is_some());
        cache.insert("new", reusable("new"));
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(&ctx, "q1").await.is_none());
        for kept in ["q0", "q2", "new"] {
            let found = cache.get(&ctx, kept).await;
            assert_eq!(found.map(|r| r.statement.clone()).as_deref(), Some(kept));
        }
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
