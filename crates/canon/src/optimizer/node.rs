//! What Canon's own plan nodes share.

use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{Expr, LogicalPlan};

/// The one input of Canon's plan nodes that take one input and no expressions (a shared
/// result, a reordered region), or an internal error naming the node.
pub(crate) fn one_input(
    node: &str,
    exprs: Vec<Expr>,
    inputs: Vec<LogicalPlan>,
) -> Result<LogicalPlan> {
    match (exprs.is_empty(), <[LogicalPlan; 1]>::try_from(inputs)) {
        (true, Ok([input])) => Ok(input),
        _ => internal_err!("{node} takes one input and no expressions"),
    }
}
