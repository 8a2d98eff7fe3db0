//! A region's relations with their estimates, as the search asks for them: each pair's
//! selectivity from its equalities' distinct values, and each join's rows.
//!
//! A join's rows are its inputs' product divided, for each pair of relations it joins,
//! by the larger number of distinct values of the two sides' key (the textbook estimate,
//! which assumes the smaller side's values occur on the larger side: a foreign key's), the
//! larger side's whole table's where a filter on other columns picked its values.

use std::cmp::Ordering;

use datafusion::logical_expr::Expr;

use super::enumerate::{Estimates, Set, holds};
use super::estimate::{Relation, column_of};
use super::graph::{Edge, Region};

/// The share of rows a join condition other than an equality keeps (DataFusion's
/// default filter selectivity).
const RESIDUAL_SELECTIVITY: f64 = 0.2;

/// A region's relations with their estimates, as the search asks for them.
pub(super) struct Estimated<'a> {
    region: &'a Region,
    /// The region's relations' estimates, in the region's order.
    pub relations: Vec<Relation>,
    /// Each relation's neighbours: the relations a join condition links it with.
    neighbours: Vec<Set>,
    /// The distinct values met by the equalities of relations `i` and `j` outside a
    /// class of equal columns, at `i * len + j`: their product and the largest.
    pairs: Vec<Met>,
    /// Each equality of a class of equal columns, as `(class, i, j, distinct values
    /// met)`: a join between relations of the class counts its most selective equality
    /// across the join, once, since the others follow from it.
    classed: Vec<(usize, usize, usize, f64)>,
}

impl<'a> Estimated<'a> {
    /// `region` with its relations' estimates, and what the search reads of them again and
    /// again (neighbours, each pair's selectivity) computed once.
    pub(super) fn new(region: &'a Region, relations: Vec<Relation>) -> Self {
        let n = relations.len();
        let mut estimated = Self {
            region,
            relations,
            neighbours: vec![0; n],
            pairs: Vec::with_capacity(n * n),
            classed: Vec::new(),
        };
        for edge in &region.edges {
            estimated.neighbours[edge.left] |= 1 << edge.right;
            estimated.neighbours[edge.right] |= 1 << edge.left;
        }
        let pairs = (0..n * n)
            .map(|k| estimated.pair_met(k / n, k % n))
            .collect();
        estimated.pairs = pairs;
        estimated.classed = region
            .edges
            .iter()
            .filter_map(|e| {
                let class = e.class?;
                let d = estimated.distinct_met(e.left, &e.left_expr, e.right, &e.right_expr);
                Some((class, e.left, e.right, d))
            })
            .collect();
        estimated
    }

    /// The index in relation `i`'s schema of the column `expr` reads (through casts).
    fn column_index(&self, i: usize, expr: &Expr) -> Option<usize> {
        let column = column_of(expr)?;
        self.region.relations[i]
            .schema()
            .maybe_index_of_column(column)
    }

    /// The distinct values of `expr` in relation `i`: a column's, or the relation's rows
    /// for anything else (the assumption that favours no order).
    fn distinct(&self, i: usize, expr: &Expr) -> f64 {
        let relation = &self.relations[i];
        self.column_index(i, expr)
            .map_or(relation.rows, |index| relation.distinct_of(index))
    }

    /// The values `expr` may take where it is a unique column of relation `i`'s table.
    fn domain(&self, i: usize, expr: &Expr) -> Option<f64> {
        let index = self.column_index(i, expr)?;
        self.relations[i].domain_of(index)
    }

    /// The distinct values of `expr` in the whole table of relation `i`, where a filter that
    /// does not read it keeps fewer.
    fn unfiltered(&self, i: usize, expr: &Expr) -> Option<f64> {
        let index = self.column_index(i, expr)?;
        self.relations[i].whole_distinct_of(index)
    }

    /// Each class of equal columns that the join of `left` and `right` crosses, once: it
    /// meets the most distinct values of its equalities across the join (the others
    /// follow from that one), and counts towards one pair of its relations. That pair is
    /// one that other equalities (or another class) join too where there is one: its
    /// columns then make up a composite key with them, estimated as one (TPC-H q9's lines
    /// meet their suppliers and their part-suppliers on the supplier key, and the
    /// part-suppliers on the part key too; counted towards the suppliers, the two keys
    /// would look independent and the 800 K part-supplier rows would meet one line in 2
    /// billion, not one in 800 K).
    fn crossing_classes(&self, left: Set, right: Set) -> Vec<Crossing> {
        let n = self.relations.len();
        let candidates: Vec<(usize, usize, usize, f64)> = self
            .classed
            .iter()
            .filter_map(|&(class, i, j, d)| {
                match (
                    holds(left, i) && holds(right, j),
                    holds(left, j) && holds(right, i),
                ) {
                    (true, _) => Some((class, i, j, d)),
                    (_, true) => Some((class, j, i, d)),
                    _ => None,
                }
            })
            .collect();
        let composite = |class: usize, i: usize, j: usize| {
            self.pairs[i * n + j].widest > 0.0
                || candidates
                    .iter()
                    .any(|&(other, k, l, _)| other != class && (k, l) == (i, j))
        };
        let mut crossing: Vec<Crossing> = Vec::new();
        for &(class, i, j, d) in &candidates {
            let candidate = Crossing {
                class,
                i,
                j,
                distinct: d,
                own: d,
                composite: composite(class, i, j),
            };
            match crossing.iter_mut().find(|c| c.class == class) {
                Some(kept) => {
                    let distinct = kept.distinct.max(d);
                    if (candidate.composite, candidate.own) > (kept.composite, kept.own) {
                        *kept = candidate;
                    }
                    kept.distinct = distinct;
                }
                None => crossing.push(candidate),
            }
        }
        crossing
    }

    /// The distinct values the equalities of relations `i` and `j` outside a class of
    /// equal columns meet.
    fn pair_met(&self, i: usize, j: usize) -> Met {
        let mut met = Met::NONE;
        for edge in self.region.edges.iter().filter(|e| e.class.is_none()) {
            if let Some((a, b)) = oriented(edge, i, j) {
                met = met.and(self.distinct_met(i, a, j, b));
            }
        }
        met
    }

    /// The share of the pairs of rows of relations `i` and `j` that equalities meeting
    /// `met` keep, or `None` when none joins them.
    fn selectivity(&self, i: usize, j: usize, met: Met) -> Option<f64> {
        if met.widest == 0.0 {
            return None;
        }
        // Several equalities between two relations usually make up one composite key,
        // whose columns are not independent: no more selective than a key of the larger.
        let larger = self.relations[i].rows.max(self.relations[j].rows);
        Some(1.0 / met.product.min(larger.max(met.widest)))
    }

    /// The distinct values an equality of `a` in relation `i` with `b` in relation `j`
    /// meets: one in that many pairs of their rows matches.
    fn distinct_met(&self, i: usize, a: &Expr, j: usize, b: &Expr) -> f64 {
        // A key's table bounds the values that refer to it (a foreign key's): the
        // other side has no more distinct values than the key's table has rows, however
        // wide the range of its values (TPC-H's order keys are a quarter of theirs).
        let (domain_a, domain_b) = (self.domain(i, a), self.domain(j, b));
        let da = self.distinct(i, a).min(domain_b.unwrap_or(f64::INFINITY));
        let db = self.distinct(j, b).min(domain_a.unwrap_or(f64::INFINITY));
        // The side with fewer values has them among the other side's. Where that side
        // is a table filtered on other columns, the filter kept its values at random, and
        // the fewer were drawn from its whole table's (TPC-DS q72's sales refer to any of
        // the customer demographics, of which a filter keeps a fifth). Not bounded by the
        // range of the fewer: a month's dates picked by a subquery are estimated at a
        // fifth of the calendar, and only the whole calendar puts them near a month of
        // sales (q6).
        let whole = |k: usize, e: &Expr, domain: Option<f64>| {
            self.unfiltered(k, e)
                .map(|w| w.min(domain.unwrap_or(f64::INFINITY)))
        };
        let wa = whole(i, a, domain_b);
        let wb = whole(j, b, domain_a);
        match da.partial_cmp(&db) {
            Some(Ordering::Less) => db.max(wb.unwrap_or(db)),
            Some(Ordering::Greater) => da.max(wa.unwrap_or(da)),
            _ => da.max(db).max(wa.unwrap_or(da)).max(wb.unwrap_or(db)),
        }
    }
}

/// The distinct values a pair of relations' equalities meet: their product, and the
/// largest one equality meets.
#[derive(Debug, Clone, Copy)]
struct Met {
    product: f64,
    widest: f64,
}

impl Met {
    /// No equality.
    const NONE: Met = Met {
        product: 1.0,
        widest: 0.0,
    };

    /// These and one more equality, meeting `d` distinct values.
    fn and(self, d: f64) -> Met {
        Met {
            product: self.product * d,
            widest: self.widest.max(d),
        }
    }
}

/// A class of equal columns crossed by a join, as [`Estimated::crossing_classes`] counts it.
#[derive(Debug, Clone, Copy)]
struct Crossing {
    class: usize,
    /// The pair of relations, one on each side, the class counts towards.
    i: usize,
    j: usize,
    /// The most distinct values an equality of the class across the join meets.
    distinct: f64,
    /// The distinct values the pair's own equality meets.
    own: f64,
    /// Whether other equalities (outside the class, or of another class) join the pair
    /// too.
    composite: bool,
}

/// `edge`'s two sides as relation `i`'s and relation `j`'s, or `None` when it does not
/// join those two.
fn oriented(edge: &Edge, i: usize, j: usize) -> Option<(&Expr, &Expr)> {
    match (edge.left, edge.right) {
        (l, r) if (l, r) == (i, j) => Some((&edge.left_expr, &edge.right_expr)),
        (l, r) if (l, r) == (j, i) => Some((&edge.right_expr, &edge.left_expr)),
        _ => None,
    }
}

impl Estimates for Estimated<'_> {
    fn len(&self) -> usize {
        self.relations.len()
    }

    fn neighbours(&self, i: usize) -> Set {
        self.neighbours[i]
    }

    fn joined(&self, left: Set, left_rows: f64, right: Set, right_rows: f64) -> f64 {
        let mut rows = left_rows * right_rows;
        let n = self.relations.len();
        let crossing = self.crossing_classes(left, right);
        let members = move |set: Set| (0..n).filter(move |&i| holds(set, i));
        for i in members(left) {
            for j in members(right) {
                let met = crossing
                    .iter()
                    .filter(|c| (c.i, c.j) == (i, j))
                    .fold(self.pairs[i * n + j], |met, c| met.and(c.distinct));
                if let Some(selectivity) = self.selectivity(i, j, met) {
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

#[cfg(test)]
mod tests {
    use datafusion::common::Result;
    use datafusion::logical_expr::{JoinType, LogicalPlanBuilder};

    use super::*;
    use crate::optimizer::join_order::graph::take_apart;
    use crate::optimizer::join_order::graph::tests::{join, scan};

    #[test]
    fn a_composite_key_of_two_classes_is_no_more_selective_than_a_key() -> Result<()> {
        // TPC-H q9's lines meet their part-supplier rows on part and supplier, and each
        // key is also the part's and the supplier's: two classes of equal columns.
        let lines = LogicalPlanBuilder::from(scan("l", false)?)
            .join(
                scan("ps", false)?,
                JoinType::Inner,
                (vec!["l.k", "l.v"], vec!["ps.k", "ps.v"]),
                None,
            )?
            .build()?;
        let parts = join(lines, scan("p", false)?, JoinType::Inner, ("l.k", "p.k"))?;
        let plan = join(parts, scan("s", false)?, JoinType::Inner, ("l.v", "s.v"))?;
        let region = take_apart(&plan, true).expect("a region");
        assert!(region.edges.iter().any(|e| e.implied));
        let relations = vec![
            Relation::of_distinct(6e6, vec![2e5, 1e4]),
            Relation::of_distinct(8e5, vec![2e5, 1e4]),
            Relation::of_distinct(2e5, vec![2e5, 2e5]),
            Relation::of_distinct(1e4, vec![1e4, 1e4]),
        ];
        let estimated = Estimated::new(&region, relations);
        // Each of the lines' 6 M rows meets one part-supplier row, as with no classes.
        let rows = estimated.joined(0b1, 6e6, 0b10, 8e5);
        assert!((rows - 8e5).abs() < 1.0, "{rows}");
        // A class counts once: the part, met with the lines and their part-suppliers,
        // keeps one in 200 K pairs, not one in 200 K squared.
        let with_part = estimated.joined(0b11, rows, 0b100, 2e5);
        assert!((with_part - 8e5).abs() < 1.0, "{with_part}");
        Ok(())
    }

    #[test]
    fn a_class_counts_towards_the_pair_whose_composite_key_it_completes() -> Result<()> {
        // TPC-H q9 with keys declared: the lines (their parts' semi join within) meet the
        // suppliers on the supplier key, and the part-suppliers on part and supplier.
        let lines = join(
            scan("l", false)?,
            scan("s", false)?,
            JoinType::Inner,
            ("l.v", "s.v"),
        )?;
        let plan = LogicalPlanBuilder::from(lines)
            .join(
                scan("ps", false)?,
                JoinType::Inner,
                (vec!["l.k", "l.v"], vec!["ps.k", "ps.v"]),
                None,
            )?
            .build()?;
        let region = take_apart(&plan, true).expect("a region");
        let relations = vec![
            Relation::of_distinct(1.2e6, vec![2e5, 1e4]),
            Relation::of_distinct(1e4, vec![1e4, 1e4]),
            Relation::of_distinct(8e5, vec![2e5, 1e4]),
        ];
        let estimated = Estimated::new(&region, relations);
        // The suppliers with their part-suppliers: 800 K rows, each of which the lines
        // meet on its composite key (part, supplier), no more selective than one key.
        let with_lines = estimated.joined(0b110, 8e5, 0b1, 1.2e6);
        assert!((with_lines - 8e5).abs() < 1.0, "{with_lines}");

        // The parts as a relation too (DataFusion's semi join taken apart): the part key
        // is a class of three relations as well, and both classes join the lines to the
        // part-suppliers, a composite key again.
        let lines = join(
            scan("l", false)?,
            scan("s", false)?,
            JoinType::Inner,
            ("l.v", "s.v"),
        )?;
        let parts = join(lines, scan("p", true)?, JoinType::Inner, ("l.k", "p.k"))?;
        let plan = LogicalPlanBuilder::from(parts)
            .join(
                scan("ps", false)?,
                JoinType::Inner,
                (vec!["l.k", "l.v"], vec!["ps.k", "ps.v"]),
                None,
            )?
            .build()?;
        let region = take_apart(&plan, true).expect("a region");
        let relations = vec![
            Relation::of_distinct(6e6, vec![2e5, 1e4]),
            Relation::of_distinct(1e4, vec![1e4, 1e4]),
            Relation::of_distinct(1e4, vec![1e4, 1e4]),
            Relation::of_distinct(8e5, vec![2e5, 1e4]),
        ];
        let estimated = Estimated::new(&region, relations);
        let green = estimated.joined(0b100, 1e4, 0b1000, 8e5);
        let with_lines = estimated.joined(0b1100, green, 0b1, 6e6);
        assert!(
            (with_lines - green).abs() < 1.0,
            "{green} then {with_lines}"
        );
        Ok(())
    }
}
