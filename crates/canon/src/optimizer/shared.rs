//! Shared subplans: an aggregate that occurs twice in one plan is computed once.
//!
//! A common table expression read twice is planned twice: TPC-H q15 aggregates three
//! months of lineitem for its view `revenue0` once to find the top revenue and again to
//! join it with the suppliers. The rule finds complete aggregates whose whole subplans
//! print alike and puts a [`SharedExec`] over each occurrence, so the first to ask
//! computes each partition and the others read its batches.
//!
//! Alike must mean the same rows, so a subplan qualifies only when every leaf is a file
//! scan (which names its files), no expression in it is volatile, and no scan in it waits
//! on a dynamic filter (fed by one occurrence's join, not the other's).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::{ExecutionPlan, displayable};

use super::shared_exec::SharedExec;

/// Computes once each aggregate subplan that occurs more than once in a plan.
#[derive(Debug, Default, Clone, Copy)]
pub struct SharedSubplans;

impl PhysicalOptimizerRule for SharedSubplans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut counts = HashMap::new();
        count(&plan, &mut counts);
        if counts.values().all(|&n| n < 2) {
            return Ok(plan);
        }
        // Only the outermost repeated subplans: one inside another is computed once with it.
        let mut readers = HashMap::new();
        choose(&plan, &counts, &mut readers);
        let mut shared: HashMap<String, Arc<SharedExec>> = HashMap::new();
        plan.transform_down(|node| {
            let Some((key, &n)) = key(&node).and_then(|k| readers.get_key_value(&k)) else {
                return Ok(Transformed::no(node));
            };
            let occurrence = match shared.get(key) {
                Some(first) => first.occurrence(),
                None => {
                    let first = SharedExec::occurrences(&node, n);
                    shared.insert(key.clone(), Arc::clone(&first));
                    first
                }
            };
            let occurrence: Arc<dyn ExecutionPlan> = occurrence;
            Ok(Transformed::new(occurrence, true, TreeNodeRecursion::Jump))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "canon_shared_subplans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// How often each qualifying subplan occurs in `plan`.
fn count(plan: &Arc<dyn ExecutionPlan>, counts: &mut HashMap<String, usize>) {
    if let Some(key) = key(plan) {
        let n = counts.entry(key).or_insert(0);
        *n = n.saturating_add(1);
    }
    for child in plan.children() {
        count(child, counts);
    }
}

/// How often each outermost repeated subplan occurs: its readers.
fn choose(
    plan: &Arc<dyn ExecutionPlan>,
    counts: &HashMap<String, usize>,
    readers: &mut HashMap<String, usize>,
) {
    if let Some(key) = key(plan).filter(|k| counts.get(k).is_some_and(|&n| n > 1)) {
        let n = readers.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        return;
    }
    for child in plan.children() {
        choose(child, counts, readers);
    }
}

/// The subplan's identity, its indented text, if it is a complete aggregate that may be
/// shared.
fn key(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let aggregate = (plan.as_ref() as &dyn Any).downcast_ref::<AggregateExec>()?;
    if *aggregate.mode() == AggregateMode::Partial || !reads_files_only(plan.as_ref()) {
        return None;
    }
    let text = displayable(plan.as_ref()).indent(true).to_string();
    (!text.contains("DynamicFilter")).then_some(text)
}

/// Whether every leaf of `plan` is a file scan and none of its expressions is volatile.
fn reads_files_only(plan: &dyn ExecutionPlan) -> bool {
    let mut volatile = false;
    let visited = plan.apply_expressions(&mut |expr| {
        volatile |= is_volatile(expr);
        Ok(if volatile {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    if volatile || visited.is_err() {
        return false;
    }
    let children = plan.children();
    if children.is_empty() {
        let line = displayable(plan).one_line().to_string();
        return plan.name() == "DataSourceExec" && line.contains("file_groups=");
    }
    children
        .iter()
        .all(|child| reads_files_only(child.as_ref()))
}
