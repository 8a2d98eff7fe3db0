//! A region of inner joins taken apart into its relations and join conditions, and put
//! back together in another order.
//!
//! A region is a tree of inner joins, seen through the column-only projections DataFusion
//! puts between them. A semi join whose filtering side has at most one row per join key
//! belongs to it too: it keeps what an inner join with that side keeps, only without the
//! side's columns, and DataFusion makes one of each inner join with a dimension whose
//! columns nothing reads (TPC-DS q64's promotion, with keys declared). Whatever else sits
//! below (a scan, a filter, an aggregate, an outer or anti join, any other semi join) is
//! one of its relations, and a barrier: nothing moves across it. The one exception is a
//! left join whose other side no condition of the region reads: its preserved side is the
//! relation, and the join is made again over the region's joins ([`Lifted`]).

use std::sync::Arc;

use datafusion::common::{Column, DFSchemaRef, NullEquality, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Expr, Filter, Join, JoinConstraint, JoinType, LogicalPlan, Projection,
};

use crate::optimizer::group_keys::passes_columns;
use crate::optimizer::keys::{is_added_key_set, unique_on};
use crate::optimizer::node::with_sides;

use super::enumerate::{Set, Tree, holds};

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
    /// The left joins whose preserved side is one of the relations, joined again over the
    /// region's joins in the new order.
    pub lifted: Vec<Lifted>,
}

/// A left join lifted out of a region: its preserved side is relation `relation`, and the
/// join, with the conditions over it, is applied over the region's joins instead. That
/// keeps every row, since no condition of the region reads the other side's columns:
/// `(A ⟕ B) ⋈ C = (A ⋈ C) ⟕ B`. TPC-DS q80 joins each sale with its return before the
/// month's dates keep one sale in forty-five.
#[derive(Debug)]
pub(super) struct Lifted {
    /// The relation that is the join's preserved side.
    pub relation: usize,
    /// The left join as written.
    pub join: Join,
    /// The conditions that were over the join (`sr_ticket_number IS NULL`, TPC-DS q78).
    pub filters: Vec<Expr>,
}

/// An equality condition between relations `left` and `right`.
#[derive(Debug)]
pub(super) struct Edge {
    pub left: usize,
    pub right: usize,
    pub left_expr: Expr,
    pub right_expr: Expr,
    /// The class of equal columns the condition belongs to, where one spans three
    /// relations or more (see [`close_classes`]).
    pub class: Option<usize>,
    /// Whether the condition follows from the written ones rather than being one of them.
    pub implied: bool,
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

/// `plan` as a join of a region, with the inputs the region goes on into (left, right):
/// both for an inner join; the filtered side for a semi join over the region's joins or over one table,
/// other side, unique on its join keys, joins the region as a relation.
pub(super) fn member(plan: &LogicalPlan) -> Option<(&Join, [bool; 2])> {
    if let Some(join) = region_join(plan) {
        return Some((join, [true, true]));
    }
    let LogicalPlan::Join(join) = plan else {
        return None;
    };
    if join.null_equality != NullEquality::NullEqualsNothing
        || join.null_aware
        || join.on.is_empty()
    {
        return None;
    }
    // A semi join over the region's joins, or over one table: DataFusion makes an inner
    // join with a unique side whose columns nothing reads a semi join, and kept with its
    // table the filter could not meet the other relations its key joins (TPC-H q9 with
    // keys declared: the green parts filter the lines, and their part-suppliers only once
    // both have met; as a relation, the parts meet the part-suppliers first, 43 K rows
    // where there were 800 K; [`take_apart`] leaves it with its table where its key
    // reaches no other relation). One over a key set stays with its relation, where the
    // semi-join pushdown put it beside the key sets it makes redundant. Only a dimension,
    // whose rows its files' statistics estimate: a subquery's aggregate (TPC-H q17's
    // average per part) is estimated at every group, not at the few a key set leaves it.
    // A key set copies a filter the region holds already: as a relation of its own, the
    // estimates would count that filter twice. A semi join on a left join joins the
    // region too, for the left join to be lifted over it (TPC-DS q80 with keys declared:
    // its dates, items and promotions are semi joins over each sale's return).
    let (kept, side, into) = match join.join_type {
        JoinType::LeftSemi => (&join.left, &join.right, [true, false]),
        JoinType::RightSemi => (&join.right, &join.left, [false, true]),
        _ => return None,
    };
    let keys = join.on.iter().map(|(l, r)| if into[0] { r } else { l });
    ((in_region(kept) || left_join(kept).is_some() || is_dimension(kept))
        && !is_added_key_set(side)
        && is_dimension(side)
        && unique_on(side.schema(), keys))
    .then_some((join, into))
}

/// Whether `plan` reads one table: a scan under filters, projections and aliases.
pub(in crate::optimizer) fn is_dimension(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::Filter(_) | LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {
            plan.inputs().into_iter().all(is_dimension)
        }
        _ => false,
    }
}

/// Whether `plan` reads one table, under semi joins of dimensions at most.
fn one_table(plan: &LogicalPlan) -> bool {
    is_dimension(plan)
        || member(plan).is_some_and(|(join, into)| match into {
            [true, false] => one_table(&join.left),
            [false, true] => one_table(&join.right),
            _ => false,
        })
}

/// `plan` as a projection of columns only over a region's join (or over another such
/// projection: the rules before stack them), which a new order may leave out (the
/// region's output keeps every column its root gave).
pub(super) fn passes_through(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    match plan {
        LogicalPlan::Projection(projection)
            if passes_columns(projection) && in_region(&projection.input) =>
        {
            Some(&projection.input)
        }
        _ => None,
    }
}

/// Whether `plan` belongs to a region whose root is above it: one of its joins, or a
/// projection passed through.
pub(super) fn in_region(plan: &LogicalPlan) -> bool {
    member(plan).is_some() || passes_through(plan).is_some()
}

/// The inputs of `plan` (a region's join or a projection passed through) that the region
/// goes on into; none for anything else.
pub(super) fn goes_into(plan: &LogicalPlan) -> Vec<&LogicalPlan> {
    if let Some((join, [left, right])) = member(plan) {
        let sides = [(left, join.left.as_ref()), (right, join.right.as_ref())];
        return sides
            .into_iter()
            .filter(|(into, _)| *into)
            .map(|(_, side)| side)
            .collect();
    }
    passes_through(plan).into_iter().collect()
}

/// The region whose root is `root`, or `None` when it has fewer than three relations
/// (DataFusion already picks the build side of one join; two when a left join is lifted)
/// or a condition that is not between relations. With `lift_outer`, each relation that is
/// a left join (under conditions and column projections) whose other side no condition
/// of the region reads is its preserved side, and the join is [`Lifted`].
pub(super) fn take_apart(root: &LogicalPlan, lift_outer: bool) -> Option<Region> {
    // A semi join on one table joins the region only where its key is one of a class of
    // equal columns that reaches another relation: elsewhere its filter can meet nothing
    // but its table, where it is already. Leaving one with its table may shrink a class
    // below three relations, so the others are looked at again.
    let mut left_alone = Vec::new();
    loop {
        // What stops the semi joins from being taken apart (a condition on two of their
        // columns, too many relations) leaves the region as it was before.
        let Some((region, unclassed)) =
            take_apart_leaving(root, lift_outer, Leave::These(&left_alone))
        else {
            return take_apart_leaving(root, lift_outer, Leave::All).map(|(region, _)| region);
        };
        if unclassed.is_empty() {
            return Some(region);
        }
        left_alone.extend(unclassed);
    }
}

/// The semi joins on one table a walk leaves with their table.
#[derive(Debug, Clone, Copy)]
enum Leave<'a> {
    /// These, by address in the plan walked.
    These(&'a [*const Join]),
    All,
}

impl Leave<'_> {
    fn leaves(self, join: &Join) -> bool {
        match self {
            Leave::These(joins) => joins.contains(&std::ptr::from_ref(join)),
            Leave::All => true,
        }
    }
}

/// [`take_apart`], with the semi joins on one table that `left_alone` says left with
/// their table; with the semi joins on one table it took apart whose key meets no class.
fn take_apart_leaving(
    root: &LogicalPlan,
    lift_outer: bool,
    left_alone: Leave<'_>,
) -> Option<(Region, Vec<*const Join>)> {
    let mut walk = Walk {
        left_alone,
        relations: Vec::new(),
        on: Vec::new(),
        filters: Vec::new(),
        semis: Vec::new(),
    };
    let written = walk.walk(root);
    let Walk {
        mut relations,
        on,
        filters,
        semis,
        ..
    } = walk;
    let mut lifted = Vec::new();
    if lift_outer {
        let read: Vec<_> = on
            .iter()
            .flat_map(|(l, r)| [l, r])
            .chain(&filters)
            .flat_map(|e| e.column_refs())
            .collect();
        for (index, relation) in relations.iter_mut().enumerate() {
            let Some((join, over)) = left_join(relation)
                .filter(|(join, _)| !read.iter().any(|c| join.right.schema().has_column(c)))
                .map(|(join, over)| (join.clone(), over))
            else {
                continue;
            };
            *relation = join.left.as_ref().clone();
            lifted.push(Lifted {
                relation: index,
                join,
                filters: over,
            });
        }
    }
    let fewest = if lifted.is_empty() { 3 } else { 2 };
    if relations.len() < fewest || relations.len() > 64 {
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
            class: None,
            implied: false,
        });
    }
    close_classes(&relations, &mut edges);
    let unclassed: Vec<*const Join> = semis
        .into_iter()
        .filter(|&(relation, _)| {
            !edges
                .iter()
                .any(|e| e.class.is_some() && (e.left == relation || e.right == relation))
        })
        .map(|(_, join)| join)
        .collect();
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
    let region = Region {
        relations,
        edges,
        residuals,
        written,
        output: Arc::clone(root.schema()),
        lifted,
    };
    Some((region, unclassed))
}

/// Marks each class of columns the equalities make equal that spans three relations or
/// more, and adds an implied equality between each two of its relations that no written
/// one joins. TPC-H q5 joins customers and suppliers of one nation (`c_nationkey =
/// s_nationkey AND s_nationkey = n_nationkey`): only the implied `c_nationkey =
/// n_nationkey` lets the order meet the customers with Asia's nations before their orders
/// and lines. Only equalities of two columns of one type qualify, and only classes with
/// one column per relation: a second column of a relation would be equal to the first
/// only through the equalities that one join of the class leaves out.
fn close_classes(relations: &[LogicalPlan], edges: &mut Vec<Edge>) {
    let written: Vec<Option<[Member; 2]>> =
        edges.iter().map(|e| as_members(relations, e)).collect();
    let classes = classes(written.iter().flatten());
    let mut implied = Vec::new();
    for (id, class) in classes.iter().enumerate() {
        let mut seen: Set = 0;
        let one_each = class.iter().all(|(relation, _)| {
            let fresh = !holds(seen, *relation);
            seen |= 1 << relation;
            fresh
        });
        if class.len() < 3 || !one_each {
            continue;
        }
        let mut joined = Vec::new();
        for (edge, members) in edges.iter_mut().zip(&written) {
            if members.as_ref().is_some_and(|[a, _]| class.contains(a)) {
                edge.class = Some(id);
                joined.push((edge.left.min(edge.right), edge.left.max(edge.right)));
            }
        }
        for (x, (ri, ci)) in class.iter().enumerate() {
            for (rj, cj) in &class[x + 1..] {
                if !joined.contains(&((*ri).min(*rj), (*ri).max(*rj))) {
                    implied.push(Edge {
                        left: *ri,
                        right: *rj,
                        left_expr: Expr::Column(ci.clone()),
                        right_expr: Expr::Column(cj.clone()),
                        class: Some(id),
                        implied: true,
                    });
                }
            }
        }
    }
    edges.extend(implied);
}

/// A column of one of a region's relations.
type Member = (usize, Column);

/// The two columns `edge` makes equal, when it is an equality of two columns of one type.
fn as_members(relations: &[LogicalPlan], edge: &Edge) -> Option<[Member; 2]> {
    let (Expr::Column(a), Expr::Column(b)) = (&edge.left_expr, &edge.right_expr) else {
        return None;
    };
    let type_of = |relation: usize, column: &Column| {
        relations[relation]
            .schema()
            .qualified_field_from_column(column)
            .ok()
            .map(|(_, f)| f.data_type().clone())
    };
    (type_of(edge.left, a)? == type_of(edge.right, b)?)
        .then(|| [(edge.left, a.clone()), (edge.right, b.clone())])
}

/// The classes of columns that `pairs` of equal columns make equal.
fn classes<'a>(pairs: impl Iterator<Item = &'a [Member; 2]>) -> Vec<Vec<Member>> {
    let mut classes: Vec<Vec<Member>> = Vec::new();
    for [a, b] in pairs {
        let class_of =
            |m: &Member, classes: &[Vec<Member>]| classes.iter().position(|c| c.contains(m));
        match (class_of(a, &classes), class_of(b, &classes)) {
            (Some(i), Some(j)) if i != j => {
                let merged = classes.swap_remove(i.max(j));
                classes[i.min(j)].extend(merged);
            }
            (Some(_), Some(_)) => {}
            (Some(i), None) => classes[i].push(b.clone()),
            (None, Some(j)) => classes[j].push(a.clone()),
            (None, None) => classes.push(vec![a.clone(), b.clone()]),
        }
    }
    classes
}

/// The equalities of a join, `(edge, left, right)` for each edge between its sides, with
/// one per class of equal columns: the others are implied by it and the joins below,
/// which made each side's columns of the class equal already. A written one is kept
/// before an implied one.
fn one_per_class(on: Vec<(&Edge, Expr, Expr)>) -> Vec<(Expr, Expr)> {
    let mut kept: Vec<(Option<usize>, bool, Expr, Expr)> = Vec::with_capacity(on.len());
    for (edge, l, r) in on {
        let Some(class) = edge.class else {
            kept.push((None, false, l, r));
            continue;
        };
        match kept.iter_mut().find(|(c, ..)| *c == Some(class)) {
            Some(slot) if slot.1 && !edge.implied => *slot = (Some(class), false, l, r),
            Some(_) => {}
            None => kept.push((Some(class), edge.implied, l, r)),
        }
    }
    kept.into_iter().map(|(_, _, l, r)| (l, r)).collect()
}

/// The left join `plan` is, under filters and column projections, with the filters'
/// conditions.
fn left_join(plan: &LogicalPlan) -> Option<(&Join, Vec<Expr>)> {
    let mut over = Vec::new();
    let mut current = plan;
    loop {
        match current {
            LogicalPlan::Projection(projection) if passes_columns(projection) => {
                current = &projection.input;
            }
            LogicalPlan::Filter(filter) if !filter.predicate.is_volatile() => {
                over.extend(split_conjunction(&filter.predicate).into_iter().cloned());
                current = &filter.input;
            }
            LogicalPlan::Join(join) if join.join_type == JoinType::Left => {
                return Some((join, over));
            }
            _ => return None,
        }
    }
}

/// The relations, conditions and written order of a region, as a walk down its joins
/// gathers them.
struct Walk<'a> {
    /// The semi joins on one table left with their table.
    left_alone: Leave<'a>,
    relations: Vec<LogicalPlan>,
    on: Vec<(Expr, Expr)>,
    filters: Vec<Expr>,
    /// The semi joins on one table taken apart, with the relation their other side is.
    semis: Vec<(usize, *const Join)>,
}

impl Walk<'_> {
    /// The order of `plan`'s joins, gathering its relations and conditions.
    fn walk(&mut self, plan: &LogicalPlan) -> Tree {
        if let Some((join, [into_left, into_right])) = member(plan) {
            let kept = if into_left { &join.left } else { &join.right };
            let on_one_table = !(into_left && into_right) && one_table(kept);
            if !(on_one_table && self.left_alone.leaves(join)) {
                let left = self.side(&join.left, into_left);
                let right = self.side(&join.right, into_right);
                if on_one_table && let Tree::Leaf(side) = if into_left { &right } else { &left } {
                    self.semis.push((*side, std::ptr::from_ref(join)));
                }
                self.on.extend(join.on.iter().cloned());
                if let Some(filter) = &join.filter {
                    self.filters
                        .extend(split_conjunction(filter).into_iter().cloned());
                }
                return Tree::Join(Box::new(left), Box::new(right));
            }
        } else if let Some(input) = passes_through(plan) {
            return self.walk(input);
        }
        self.leaf(plan)
    }

    fn side(&mut self, input: &LogicalPlan, into: bool) -> Tree {
        match into {
            true => self.walk(input),
            false => self.leaf(input),
        }
    }

    fn leaf(&mut self, plan: &LogicalPlan) -> Tree {
        self.relations.push(plan.clone());
        Tree::Leaf(self.relations.len() - 1)
    }
}

/// The region's joins in the order `tree` gives, each an inner join (a semi join's
/// filtering side joins as a dimension does), then the lifted left joins, under a
/// projection to the columns the region gave as written.
pub(super) fn rebuild(region: &Region, tree: &Tree) -> Result<LogicalPlan> {
    let mut placed = vec![false; region.residuals.len()];
    let mut joined = build(region, tree, &mut placed)?;
    for lifted in &region.lifted {
        let join = &lifted.join;
        joined = LogicalPlan::Join(with_sides(join, Arc::new(joined), Arc::clone(&join.right))?);
        if let Some(predicate) = conjunction(lifted.filters.iter().cloned()) {
            joined = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(joined))?);
        }
    }
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
    let crossing = region
        .edges
        .iter()
        .filter_map(|e| {
            if holds(ls, e.left) && holds(rs, e.right) {
                Some((e, e.left_expr.clone(), e.right_expr.clone()))
            } else if holds(ls, e.right) && holds(rs, e.left) {
                Some((e, e.right_expr.clone(), e.left_expr.clone()))
            } else {
                None
            }
        })
        .collect();
    let on = one_per_class(crossing);
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

#[cfg(test)]
pub(super) mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::{Constraint, Constraints};
    use datafusion::logical_expr::logical_plan::builder::table_source_with_constraints;
    use datafusion::logical_expr::{LogicalPlanBuilder, col};

    use super::*;
    use crate::optimizer::keys::SCAN_KEYS_ALIAS;

    /// A scan of `name` with columns `k` and `v`, unique on `k` when `keyed`.
    pub(in crate::optimizer::join_order) fn scan(name: &str, keyed: bool) -> Result<LogicalPlan> {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]);
        let keys = keyed.then(|| Constraint::PrimaryKey(vec![0]));
        let source = table_source_with_constraints(
            &schema,
            Constraints::new_unverified(keys.into_iter().collect()),
        );
        LogicalPlanBuilder::scan(name, source, None)?.build()
    }

    pub(in crate::optimizer::join_order) fn join(
        left: LogicalPlan,
        right: LogicalPlan,
        kind: JoinType,
        on: (&str, &str),
    ) -> Result<LogicalPlan> {
        LogicalPlanBuilder::from(left)
            .join(right, kind, (vec![on.0], vec![on.1]), None)?
            .build()
    }

    /// The relations of the region `plan` roots, or none.
    fn relations(plan: &LogicalPlan) -> usize {
        take_apart(plan, true).map_or(0, |region| region.relations.len())
    }

    /// The equalities of each join of `plan`, top down, as `left = right` texts.
    fn equalities(plan: &LogicalPlan) -> Vec<Vec<String>> {
        let mut found = Vec::new();
        let mut stack = vec![plan];
        while let Some(node) = stack.pop() {
            if let LogicalPlan::Join(join) = node {
                found.push(join.on.iter().map(|(l, r)| format!("{l} = {r}")).collect());
            }
            stack.extend(node.inputs());
        }
        found
    }

    #[test]
    fn columns_made_equal_across_three_relations_join_each_two_once() -> Result<()> {
        // a.k = b.k and b.k = c.k: a and c may meet first, on a.k = c.k.
        let chain = join(
            join(
                scan("a", false)?,
                scan("b", false)?,
                JoinType::Inner,
                ("a.k", "b.k"),
            )?,
            scan("c", false)?,
            JoinType::Inner,
            ("b.k", "c.k"),
        )?;
        let region = take_apart(&chain, true).expect("a region");
        let edges: Vec<_> = region
            .edges
            .iter()
            .map(|e| (e.left, e.right, e.implied, e.class))
            .collect();
        assert_eq!(
            edges,
            [
                (0, 1, false, Some(0)),
                (1, 2, false, Some(0)),
                (0, 2, true, Some(0))
            ]
        );
        // Met last, b joins on one of the two equalities that reach it: the other follows.
        let order = Tree::Join(
            Box::new(Tree::Join(Box::new(Tree::Leaf(0)), Box::new(Tree::Leaf(2)))),
            Box::new(Tree::Leaf(1)),
        );
        let rebuilt = rebuild(&region, &order)?;
        assert_eq!(
            equalities(&rebuilt),
            [vec!["a.k = b.k".to_string()], vec!["a.k = c.k".to_string()]]
        );

        // Two columns of a: a.v equals a.k only through the joins with b, so no class.
        let twice = LogicalPlanBuilder::from(scan("a", false)?)
            .join(
                scan("b", false)?,
                JoinType::Inner,
                (vec!["a.k", "a.v"], vec!["b.k", "b.k"]),
                None,
            )?
            .build()?;
        let twice = join(twice, scan("c", false)?, JoinType::Inner, ("b.k", "c.k"))?;
        let region = take_apart(&twice, true).expect("a region");
        assert!(region.edges.iter().all(|e| e.class.is_none() && !e.implied));
        Ok(())
    }

    #[test]
    fn a_unique_semi_join_over_the_joins_is_one_more_relation() -> Result<()> {
        let facts = || {
            join(
                scan("a", false)?,
                scan("b", true)?,
                JoinType::Inner,
                ("a.v", "b.k"),
            )
        };
        let over = join(
            facts()?,
            scan("c", true)?,
            JoinType::LeftSemi,
            ("a.k", "c.k"),
        )?;
        assert_eq!(relations(&over), 3);
        // Not unique on its keys: a barrier, so two relations, too few to reorder.
        let many = join(
            facts()?,
            scan("c", false)?,
            JoinType::LeftSemi,
            ("a.k", "c.k"),
        )?;
        assert_eq!(relations(&many), 0);
        // On a single table (DataFusion's semi join of a dimension nothing else reads) it
        // joins the region where its key reaches another relation, which it may filter
        // first; elsewhere it stays with its table.
        let on_one = || {
            join(
                scan("a", false)?,
                scan("c", true)?,
                JoinType::LeftSemi,
                ("a.k", "c.k"),
            )
        };
        let below = join(on_one()?, scan("b", true)?, JoinType::Inner, ("a.k", "b.k"))?;
        assert_eq!(relations(&below), 3);
        let below = join(on_one()?, scan("b", true)?, JoinType::Inner, ("a.v", "b.k"))?;
        assert_eq!(relations(&below), 0);
        // Semi joins stacked on one table: the outer one's key reaches no other relation,
        // so the stack stays one relation, as before.
        let stacked = join(
            on_one()?,
            scan("d", true)?,
            JoinType::LeftSemi,
            ("a.v", "d.k"),
        )?;
        let below = join(stacked, scan("b", true)?, JoinType::Inner, ("a.k", "b.k"))?;
        assert_eq!(relations(&below), 0);
        // A key set an aggregate makes stays part of the relation it filters.
        let groups = LogicalPlanBuilder::from(scan("c", false)?)
            .aggregate(vec![col("c.k")], Vec::<Expr>::new())?
            .build()?;
        let on_groups = join(
            scan("a", false)?,
            groups,
            JoinType::LeftSemi,
            ("a.k", "c.k"),
        )?;
        let below = join(on_groups, scan("b", true)?, JoinType::Inner, ("a.v", "b.k"))?;
        assert_eq!(relations(&below), 0);
        // A key set copies a filter the region holds.
        let keys = LogicalPlanBuilder::from(scan("c", true)?)
            .alias(SCAN_KEYS_ALIAS)?
            .build()?;
        let key_set = join(
            facts()?,
            keys,
            JoinType::LeftSemi,
            ("a.k", "__canon_scan_keys.k"),
        )?;
        assert_eq!(relations(&key_set), 0);
        Ok(())
    }
}
