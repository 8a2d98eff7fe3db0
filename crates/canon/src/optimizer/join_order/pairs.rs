//! A region's relations with their estimates, as the search asks for them: each pair's
//! selectivity from its equalities' distinct values, and each join's rows.
//!
//! A join's rows are its inputs' product divided, for each pair of relations it joins,
//! by the larger number of distinct values of the two sides' key (the textbook estimate,
//! which assumes the smaller side's values occur on the larger side: a foreign key's), the
//! larger side's whole table's where a filter on other columns picked its values.

use std::cmp::Ordering;

use datafusion::logical_expr::Expr;

use super::enumerate::{Estimates, Set};
use super::estimate::{Relation, column_of};
use super::graph::Region;

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
    /// The share of the pairs of rows of relations `i` and `j` their equalities keep, at
    /// `i * len + j`; `None` where none joins them.
    pairs: Vec<Option<f64>>,
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
        };
        for edge in &region.edges {
            estimated.neighbours[edge.left] |= 1 << edge.right;
            estimated.neighbours[edge.right] |= 1 << edge.left;
        }
        let pairs = (0..n * n)
            .map(|k| estimated.pair_selectivity(k / n, k % n))
            .collect();
        estimated.pairs = pairs;
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
            let d = match da.partial_cmp(&db) {
                Some(Ordering::Less) => db.max(wb.unwrap_or(db)),
                Some(Ordering::Greater) => da.max(wa.unwrap_or(da)),
                _ => da.max(db).max(wa.unwrap_or(da)).max(wb.unwrap_or(db)),
            };
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
        self.neighbours[i]
    }

    fn joined(&self, left: Set, left_rows: f64, right: Set, right_rows: f64) -> f64 {
        let mut rows = left_rows * right_rows;
        let n = self.relations.len();
        let members = move |set: Set| (0..n).filter(move |i| set & (1 << i) != 0);
        for i in members(left) {
            for j in members(right) {
                if let Some(selectivity) = self.pairs[i * n + j] {
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
