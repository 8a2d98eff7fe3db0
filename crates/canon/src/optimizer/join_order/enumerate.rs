//! Join orders as trees over a region's relations, their cost, and the search for the
//! cheapest: dynamic programming over connected subsets for small regions, greedy beyond.
//!
//! The cost of a tree is the sum of the rows its joins produce (C_out): what a hash join
//! builds, probes and hands on grows with it, and it needs no model of the operators. A
//! set's rows do not depend on the order its relations were joined in, so each subset's
//! estimate is computed once.

use std::collections::HashMap;

/// Relations beyond which the exact search gives way to the greedy one: the exact search
/// visits up to 3^n subset pairs.
pub(super) const EXACT_LIMIT: usize = 10;

/// A set of relations, one bit each (regions hold at most 64).
pub(super) type Set = u64;

/// Whether `set` holds relation `i`.
pub(super) fn holds(set: Set, i: usize) -> bool {
    set & (1 << i) != 0
}

/// A join order: a relation, or two orders joined.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tree {
    /// The relation at this index.
    Leaf(usize),
    /// Two disjoint orders joined.
    Join(Box<Tree>, Box<Tree>),
}

impl Tree {
    /// The relations this order joins.
    pub(super) fn set(&self) -> Set {
        match self {
            Tree::Leaf(i) => 1 << i,
            Tree::Join(l, r) => l.set() | r.set(),
        }
    }
}

/// What the search needs to know about a region: how many rows each set of relations
/// gives, and which relations a join condition connects.
pub(super) trait Estimates {
    /// The number of relations.
    fn len(&self) -> usize;
    /// The relations that share a join condition with relation `i`.
    fn neighbours(&self, i: usize) -> Set;
    /// The estimated rows of joining `left` and `right`, given each side's rows.
    fn joined(&self, left: Set, left_rows: f64, right: Set, right_rows: f64) -> f64;
    /// The estimated rows of relation `i`.
    fn rows(&self, i: usize) -> f64;
}

/// An order with its estimated rows and cost.
#[derive(Debug, Clone)]
pub(super) struct Costed {
    pub tree: Tree,
    pub rows: f64,
    pub cost: f64,
}

/// The estimated rows and cost of `tree` as it stands.
pub(super) fn cost_of(tree: &Tree, estimates: &dyn Estimates) -> Costed {
    match tree {
        Tree::Leaf(i) => Costed {
            tree: tree.clone(),
            rows: estimates.rows(*i),
            cost: 0.0,
        },
        Tree::Join(l, r) => {
            let (l, r) = (cost_of(l, estimates), cost_of(r, estimates));
            join(l, r, estimates)
        }
    }
}

/// The cheapest order found for every relation of `estimates`, or `None` when the join
/// conditions leave them unconnected (any order then holds a cross product, which the
/// written order chose deliberately or could not avoid).
pub(super) fn best(estimates: &dyn Estimates) -> Option<Costed> {
    let n = estimates.len();
    if n == 0 || n > 64 {
        return None;
    }
    if n <= EXACT_LIMIT {
        exact(estimates)
    } else {
        greedy(estimates)
    }
}

fn leaf(i: usize, estimates: &dyn Estimates) -> Costed {
    cost_of(&Tree::Leaf(i), estimates)
}

/// `left` and `right` joined, the smaller (by its estimate) on the left: the build side of
/// DataFusion's hash join.
fn join(left: Costed, right: Costed, estimates: &dyn Estimates) -> Costed {
    let rows = estimates.joined(left.tree.set(), left.rows, right.tree.set(), right.rows);
    let cost = rows + left.cost + right.cost;
    let (left, right) = if right.rows < left.rows {
        (right, left)
    } else {
        (left, right)
    };
    Costed {
        tree: Tree::Join(Box::new(left.tree), Box::new(right.tree)),
        rows,
        cost,
    }
}

/// Whether some relation of `a` shares a join condition with some relation of `b`.
fn connected(a: Set, b: Set, estimates: &dyn Estimates) -> bool {
    (0..estimates.len()).any(|i| holds(a, i) && estimates.neighbours(i) & b != 0)
}

/// Dynamic programming over subsets: the cheapest order of each connected set is the
/// cheapest join of two connected halves that a condition links.
fn exact(estimates: &dyn Estimates) -> Option<Costed> {
    let n = estimates.len();
    let all: Set = (1 << n) - 1;
    let mut best: HashMap<Set, Costed> = HashMap::new();
    for i in 0..n {
        best.insert(1 << i, leaf(i, estimates));
    }
    // Subsets in increasing order visit every proper subset of a set before the set.
    for set in 1..=all {
        if set.count_ones() < 2 {
            continue;
        }
        let mut found: Option<Costed> = None;
        // Each split once: the half holding the set's lowest relation is `left`.
        let lowest = set & set.wrapping_neg();
        let mut left = (set - 1) & set;
        while left > 0 {
            let right = set & !left;
            if left & lowest != 0
                && let (Some(l), Some(r)) = (best.get(&left), best.get(&right))
                && connected(left, right, estimates)
            {
                let candidate = join(l.clone(), r.clone(), estimates);
                if found.as_ref().is_none_or(|f| candidate.cost < f.cost) {
                    found = Some(candidate);
                }
            }
            left = (left - 1) & set;
        }
        if let Some(found) = found {
            best.insert(set, found);
        }
    }
    best.remove(&all)
}

/// Greedy operator ordering: join, again and again, the two connected orders whose join
/// gives the fewest rows.
fn greedy(estimates: &dyn Estimates) -> Option<Costed> {
    let mut parts: Vec<Costed> = (0..estimates.len()).map(|i| leaf(i, estimates)).collect();
    while parts.len() > 1 {
        let mut pick: Option<(usize, usize, f64)> = None;
        for a in 0..parts.len() {
            for b in a + 1..parts.len() {
                let (sa, sb) = (parts[a].tree.set(), parts[b].tree.set());
                if !connected(sa, sb, estimates) {
                    continue;
                }
                let rows = estimates.joined(sa, parts[a].rows, sb, parts[b].rows);
                if pick.is_none_or(|(_, _, r)| rows < r) {
                    pick = Some((a, b, rows));
                }
            }
        }
        let (a, b, _) = pick?;
        // `b > a`, so removing `b` first leaves `a` where it was.
        let right = parts.swap_remove(b);
        let left = parts.swap_remove(a);
        parts.push(join(left, right, estimates));
    }
    parts.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain or star given by its edges, each with a selectivity.
    struct Graph {
        rows: Vec<f64>,
        edges: Vec<(usize, usize, f64)>,
    }

    impl Estimates for Graph {
        fn len(&self) -> usize {
            self.rows.len()
        }
        fn neighbours(&self, i: usize) -> Set {
            self.edges.iter().fold(0, |set, &(a, b, _)| {
                if a == i {
                    set | 1 << b
                } else if b == i {
                    set | 1 << a
                } else {
                    set
                }
            })
        }
        fn joined(&self, left: Set, lr: f64, right: Set, rr: f64) -> f64 {
            let sel: f64 = self
                .edges
                .iter()
                .filter(|&&(a, b, _)| {
                    (holds(left, a) && holds(right, b)) || (holds(left, b) && holds(right, a))
                })
                .map(|e| e.2)
                .product();
            lr * rr * sel
        }
        fn rows(&self, i: usize) -> f64 {
            self.rows[i]
        }
    }

    /// A fact table of 1M rows and three dimensions, one of them filtered to 10 of its
    /// 1,000 keys: the filtered one is joined first.
    fn star() -> Graph {
        Graph {
            rows: vec![1e6, 1000.0, 10.0, 1000.0],
            edges: vec![(0, 1, 1e-3), (0, 2, 1e-3), (0, 3, 1e-3)],
        }
    }

    #[test]
    fn the_exact_search_joins_the_most_selective_dimension_first() {
        let graph = star();
        let best = best(&graph).unwrap();
        let written = cost_of(
            &Tree::Join(
                Box::new(Tree::Join(
                    Box::new(Tree::Join(Box::new(Tree::Leaf(0)), Box::new(Tree::Leaf(1)))),
                    Box::new(Tree::Leaf(3)),
                )),
                Box::new(Tree::Leaf(2)),
            ),
            &graph,
        );
        assert!(best.cost < written.cost, "{best:?} against {written:?}");
        assert_eq!(leaf_pairs(&best.tree), vec![[0, 2]], "{best:?}");
    }

    /// The pairs of relations joined directly, each in ascending order.
    fn leaf_pairs(tree: &Tree) -> Vec<[usize; 2]> {
        match tree {
            Tree::Leaf(_) => Vec::new(),
            Tree::Join(l, r) => match (l.as_ref(), r.as_ref()) {
                (Tree::Leaf(a), Tree::Leaf(b)) => vec![[*a.min(b), *a.max(b)]],
                _ => [leaf_pairs(l), leaf_pairs(r)].concat(),
            },
        }
    }

    #[test]
    fn greedy_and_exact_agree_on_a_star() {
        let graph = star();
        assert_eq!(exact(&graph).unwrap().cost, greedy(&graph).unwrap().cost);
    }

    #[test]
    fn unconnected_relations_have_no_order() {
        let graph = Graph {
            rows: vec![10.0, 10.0, 10.0],
            edges: vec![(0, 1, 0.1)],
        };
        assert!(best(&graph).is_none());
        assert!(greedy(&graph).is_none());
    }

    #[test]
    fn the_smaller_side_is_built() {
        let graph = Graph {
            rows: vec![1e6, 5.0],
            edges: vec![(0, 1, 0.2)],
        };
        let best = best(&graph).unwrap();
        assert_eq!(
            best.tree,
            Tree::Join(Box::new(Tree::Leaf(1)), Box::new(Tree::Leaf(0)))
        );
    }
}
