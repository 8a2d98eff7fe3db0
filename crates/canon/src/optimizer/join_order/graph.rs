//! A region of inner joins taken apart into its relations and join conditions, and put
//! back together in another order.
//!
//! A region is a tree of inner joins, seen through the column-only projections DataFusion
//! puts between them. Whatever else sits below (a scan, a filter, an aggregate, an outer,
//! semi or anti join) is one of its relations, and a barrier: nothing moves across it.

use std::sync::Arc;

use datafusion::common::{DFSchemaRef, NullEquality, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection};

use super::enumerate::{Set, Tree};

/// Inner joins taken apart.
#[derive(Debug)]
pub(super) struct Region {
    /// What the joins join.
    pub relations: Vec<LogicalPlan>,
    /// The equality conditions, each between two relations.
    pub edges: Vec<Edge>,
    /// The other conditions, each over two or more relations.
    pub residuals: Vec<Residual>,
    /// The order the plan had.
    pub written: Tree,
    /// What the region's root gives, which a new order keeps.
    pub output: DFSchemaRef,
}

/// An equality condition between relations `left` and `right`.
#[derive(Debug)]
pub(super) struct Edge {
    pub left: usize,
    pub right: usize,
    pub left_expr: Expr,
    pub right_expr: Expr,
}

/// A condition over the relations of `set` that is not an equality between two of them.
#[derive(Debug)]
pub(super) struct Residual {
    pub expr: Expr,
    pub set: Set,
}

/// `plan` as a join a region can reorder: inner, with SQL's equality (NULL matches
/// nothing).
pub(in crate::optimizer) fn region_join(plan: &LogicalPlan) -> Option<&Join> {
    match plan {
        LogicalPlan::Join(join)
            if join.join_type == JoinType::Inner
                && join.null_equality == NullEquality::NullEqualsNothing
                && !join.null_aware =>
        {
            Some(join)
        }
        _ => None,
    }
}

/// `plan` as a projection of columns only over a region's join, which a new order may
/// leave out (the region's output keeps every column its root gave).
pub(super) fn passes_through(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    match plan {
        LogicalPlan::Projection(projection)
            if projection.expr.iter().all(|e| matches!(e, Expr::Column(_)))
                && region_join(&projection.input).is_some() =>
        {
            Some(&projection.input)
        }
        _ => None,
    }
}

/// The region whose root is `root`, or `None` when it has fewer than three relations
/// (DataFusion already picks the build side of one join) or a condition that is not
/// between relations.
pub(super) fn take_apart(root: &LogicalPlan) -> Option<Region> {
    let mut relations = Vec::new();
    let mut on = Vec::new();
    let mut filters = Vec::new();
    let written = walk(root, &mut relations, &mut on, &mut filters);
    if relations.len() < 3 || relations.len() > 64 {
        return None;
    }
    let owner = |expr: &Expr| -> Option<Set> {
        let mut set: Set = 0;
        for column in expr.column_refs() {
            let mut owners = relations
                .iter()
                .enumerate()
                .filter(|(_, r)| r.schema().has_column(column));
            let (i, _) = owners.next()?;
            if owners.next().is_some() {
                return None;
            }
            set |= 1 << i;
        }
        Some(set)
    };
    let mut edges = Vec::with_capacity(on.len());
    for (l, r) in on {
        let (ls, rs) = (owner(&l)?, owner(&r)?);
        if ls.count_ones() != 1 || rs.count_ones() != 1 || ls == rs {
            return None;
        }
        edges.push(Edge {
            left: ls.trailing_zeros() as usize,
            right: rs.trailing_zeros() as usize,
            left_expr: l,
            right_expr: r,
        });
    }
    let mut residuals = Vec::with_capacity(filters.len());
    for expr in filters {
        let set = owner(&expr)?;
        // A condition on one relation belongs below the region; DataFusion has put it
        // there unless it could not, and then it stays where it was.
        if set.count_ones() < 2 || expr.is_volatile() {
            return None;
        }
        residuals.push(Residual { expr, set });
    }
    Some(Region {
        relations,
        edges,
        residuals,
        written,
        output: Arc::clone(root.schema()),
    })
}

fn walk(
    plan: &LogicalPlan,
    relations: &mut Vec<LogicalPlan>,
    on: &mut Vec<(Expr, Expr)>,
    filters: &mut Vec<Expr>,
) -> Tree {
    if let Some(join) = region_join(plan) {
        let left = walk(&join.left, relations, on, filters);
        let right = walk(&join.right, relations, on, filters);
        on.extend(join.on.iter().cloned());
        if let Some(filter) = &join.filter {
            filters.extend(split_conjunction(filter).into_iter().cloned());
        }
        return Tree::Join(Box::new(left), Box::new(right));
    }
    if let Some(input) = passes_through(plan) {
        return walk(input, relations, on, filters);
    }
    relations.push(plan.clone());
    Tree::Leaf(relations.len() - 1)
}

/// The region's joins in the order `tree` gives, under a projection to the columns the
/// region gave as written.
pub(super) fn rebuild(region: &Region, tree: &Tree) -> Result<LogicalPlan> {
    let mut placed = vec![false; region.residuals.len()];
    let joined = build(region, tree, &mut placed)?;
    let columns = region.output.columns().into_iter().map(Expr::Column);
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns.collect(),
        Arc::new(joined),
    )?))
}

fn build(region: &Region, tree: &Tree, placed: &mut [bool]) -> Result<LogicalPlan> {
    let (l, r) = match tree {
        Tree::Leaf(i) => return Ok(region.relations[*i].clone()),
        Tree::Join(l, r) => (l, r),
    };
    let (ls, rs) = (l.set(), r.set());
    let left = build(region, l, placed)?;
    let right = build(region, r, placed)?;
    let holds = |set: Set, i: usize| set & (1 << i) != 0;
    let on = region
        .edges
        .iter()
        .filter_map(|e| {
            if holds(ls, e.left) && holds(rs, e.right) {
                Some((e.left_expr.clone(), e.right_expr.clone()))
            } else if holds(ls, e.right) && holds(rs, e.left) {
                Some((e.right_expr.clone(), e.left_expr.clone()))
            } else {
                None
            }
        })
        .collect();
    // Each condition goes to the lowest join that holds all it reads.
    let mut filters = Vec::new();
    for (residual, placed) in region.residuals.iter().zip(placed.iter_mut()) {
        if !*placed && residual.set & !(ls | rs) == 0 {
            *placed = true;
            filters.push(residual.expr.clone());
        }
    }
    Ok(LogicalPlan::Join(Join::try_new(
        Arc::new(left),
        Arc::new(right),
        on,
        conjunction(filters),
        JoinType::Inner,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?))
}
