//! The aliases of Canon's key sets, refused in the plans a user writes.
//!
//! Canon's rules recognise the key sets they added by their alias: the scan reduction
//! takes one away again where the join order made it redundant, and the window rewrite
//! accepts a semi join below an aggregate only when it is a key set, a copy of a filter
//! the query applies elsewhere too. A semi join that a query wrote under the same alias
//! would pass for one and could change the answer, so the analyzer, which sees the plan
//! before any of Canon's rules ran, refuses those aliases.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, plan_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;

use super::keys::is_added_key_set;

/// Refuses a plan that names a relation by one of the aliases Canon's key sets carry.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReservedAliases;

impl AnalyzerRule for ReservedAliases {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let mut reserved = None;
        plan.apply_with_subqueries(|node| {
            Ok(match node {
                LogicalPlan::SubqueryAlias(alias) if is_added_key_set(node) => {
                    reserved = Some(alias.alias.table().to_owned());
                    TreeNodeRecursion::Stop
                }
                _ => TreeNodeRecursion::Continue,
            })
        })?;
        match reserved {
            Some(alias) => plan_err!(
                "the alias {alias} is reserved for the key sets Canon's optimizer adds; \
                 name the relation otherwise"
            ),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "canon_reserved_aliases"
    }
}
