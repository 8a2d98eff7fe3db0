//! Models (`[[model]]`): datasets whose rows come from one SQL query over the project's
//! datasets and other models, with an output contract like any dataset's.
//!
//! The model crate holds what a model declares; the runtime compiles the query against
//! the contracts of what it reads and builds it. The dependency graph's order and cycle
//! check work on names alone ([`build_order`]), so tools without an engine can use them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use arrow_schema::{Field, Schema};

use crate::contract::{DatasetSpec, Origin};

/// How a model's rows reach its readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub enum ModelKind {
    /// A view: the query runs whenever the model is read; nothing is stored.
    View,
    /// A table, rebuilt whole at every build and replaced in one Delta commit.
    Table,
    /// A table that each build appends the query's new rows to: those past the last build's
    /// watermark on the `incremental` column (less the lookback), and not already in it.
    Append,
    /// A table that each build merges the query's changed rows into by primary key: rows
    /// with a new key are inserted, rows whose values changed are updated.
    Merge,
}

impl ModelKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [Self; 4] = [Self::View, Self::Table, Self::Append, Self::Merge];

    /// Parses a kind as written in `canon.toml`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name used in `canon.toml` and system tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Table => "table",
            Self::Append => "append",
            Self::Merge => "merge",
        }
    }

    /// Whether builds store the model's rows (every kind but `view`).
    pub fn is_stored(self) -> bool {
        self != Self::View
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model's query and where its text starts, so that errors can point into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSql {
    /// The query.
    pub text: String,
    /// The file the text is in: the project file for `sql`, the `sql_file` (beside the
    /// project file as it was given).
    pub file: PathBuf,
    /// 1-based line of the text's first character in `file`.
    pub line: usize,
    /// 1-based column of the text's first character in `file`.
    pub column: usize,
}

impl ModelSql {
    /// The file position of a 1-based line and column inside the query text.
    pub fn locate(&self, line: usize, column: usize) -> (usize, usize) {
        if line <= 1 {
            (
                self.line,
                self.column.saturating_add(column.saturating_sub(1)),
            )
        } else {
            (self.line.saturating_add(line - 1), column)
        }
    }
}

/// How an incremental model finds its new rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncrementalSpec {
    /// The rows from the last build's watermark on, on an output column that only grows.
    Watermark(Watermark),
    /// The rows its one Delta upstream inserted, updated or deleted since the version the
    /// last build read, from the upstream's Change Data Feed (merge models).
    Changes,
}

impl IncrementalSpec {
    /// The watermark column and lookback, for a model that has one.
    pub fn watermark(&self) -> Option<&Watermark> {
        match self {
            Self::Watermark(w) => Some(w),
            Self::Changes => None,
        }
    }
}

/// A watermark on an output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The output column whose values only grow (an event time, a sequence number).
    pub column: String,
    /// How far before the last watermark each build reads again, for late rows.
    pub lookback: std::time::Duration,
}

/// A validated `[[model]]`.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The name readers query it by; unique among datasets and models.
    pub name: String,
    /// How its rows are kept.
    pub kind: ModelKind,
    /// Its query.
    pub sql: ModelSql,
    /// What the model is for.
    pub description: Option<String>,
    /// How an `append` (or `merge`) model finds its new rows (`None` for other kinds, and
    /// for a `merge` model that compares all its rows).
    pub incremental: Option<IncrementalSpec>,
    /// The output contract: columns, keys and constraints, checked like any dataset's. For
    /// a stored kind it also says where and how the table is stored; a view's contract has
    /// no location (an empty one).
    pub contract: DatasetSpec,
}

impl ModelSpec {
    /// Where the model is declared.
    pub fn origin(&self) -> &Origin {
        &self.contract.origin
    }
}

/// One way a query's output differs from its model's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The output column's position, for pointing at its select item.
    pub index: Option<usize>,
    /// The contract column it is about, when it is about one.
    pub column: Option<String>,
    /// What was expected against what was found, for people.
    pub message: String,
}

/// How `found` (the plan's output) differs from `expected` (the contract): the same names
/// in the same order, the exact same Arrow types, and no NULL where the contract says NOT
/// NULL. A column the query proves NOT NULL may fill a nullable contract column.
pub fn contract_mismatches(expected: &Schema, found: &Schema) -> Vec<Mismatch> {
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if expected.fields().len() != found.fields().len() {
        return vec![Mismatch {
            index: None,
            column: None,
            message: format!(
                "the contract declares {} columns ({}), the query yields {} ({})",
                expected.fields().len(),
                names(expected),
                found.fields().len(),
                names(found)
            ),
        }];
    }
    let mut out = Vec::new();
    for (i, (want, got)) in expected.fields().iter().zip(found.fields()).enumerate() {
        out.extend(compare_field(i, want, got));
    }
    out
}

fn compare_field(index: usize, want: &Field, got: &Field) -> Option<Mismatch> {
    let mismatch = |column: &str, message: String| Mismatch {
        index: Some(index),
        column: Some(column.to_string()),
        message,
    };
    if want.name() != got.name() {
        let message = format!(
            "output column {} is named `{}`, the contract expects `{}` there",
            index + 1,
            got.name(),
            want.name()
        );
        return Some(mismatch(want.name(), message));
    }
    if want.data_type() != got.data_type() {
        let message = format!(
            "expected {}, found {} (cast it in the query, or change the contract)",
            want.data_type(),
            got.data_type()
        );
        return Some(mismatch(want.name(), message));
    }
    if !want.is_nullable() && got.is_nullable() {
        let message = "expected NOT NULL, found nullable: the query can yield NULL here (an \
                       outer join, a nullable input, or an expression that may be NULL)"
            .to_string();
        return Some(mismatch(want.name(), message));
    }
    None
}

/// A cycle among models: each reads the next, and the last reads the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("models read each other in a cycle: {}", cycle_text(.models))]
pub struct Cycle {
    /// The models in the cycle, in reading order, starting from the smallest name.
    pub models: Vec<String>,
}

fn cycle_text(models: &[String]) -> String {
    let mut parts: Vec<&str> = models.iter().map(String::as_str).collect();
    if let Some(first) = models.first() {
        parts.push(first);
    }
    parts.join(" → ")
}

/// Orders models so that each comes after every model it reads, breaking ties by name so
/// the order is the same on every run. `upstreams` maps each model to the models it reads
/// (names outside the map are datasets and are ignored).
pub fn build_order(upstreams: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Cycle> {
    // Kahn's algorithm over a BTreeSet of ready names: deterministic and O(E log V).
    let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (model, reads) in upstreams {
        let reads: Vec<&str> = reads
            .iter()
            .map(String::as_str)
            .filter(|r| upstreams.contains_key(*r))
            .collect();
        waiting.insert(model, reads.len());
        for upstream in reads {
            readers.entry(upstream).or_default().push(model);
        }
    }
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(m, _)| *m)
        .collect();
    let mut order = Vec::with_capacity(upstreams.len());
    while let Some(model) = ready.pop_first() {
        order.push(model.to_string());
        for reader in readers.get(model).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(reader) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    ready.insert(reader);
                }
            }
        }
    }
    if order.len() == upstreams.len() {
        return Ok(order);
    }
    Err(find_cycle(upstreams, &order))
}

/// One cycle among the models `order` could not place: walk upstream from the smallest
/// unplaced model until a model repeats.
fn find_cycle(upstreams: &BTreeMap<String, BTreeSet<String>>, placed: &[String]) -> Cycle {
    let placed: BTreeSet<&str> = placed.iter().map(String::as_str).collect();
    let unplaced = |name: &str| upstreams.contains_key(name) && !placed.contains(name);
    let mut path: Vec<&str> = Vec::new();
    let mut current = upstreams.keys().map(String::as_str).find(|m| unplaced(m));
    while let Some(model) = current {
        if let Some(start) = path.iter().position(|m| *m == model) {
            let mut models: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            // Start from the smallest name, keeping the reading order.
            if let Some(min) = (0..models.len()).min_by_key(|&i| &models[i]) {
                models.rotate_left(min);
            }
            // Reading order: each model reads the next one.
            return Cycle { models };
        }
        path.push(model);
        // Every unplaced model reads at least one unplaced model.
        current = upstreams
            .get(model)
            .and_then(|reads| reads.iter().map(String::as_str).find(|r| unplaced(r)));
    }
    Cycle { models: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(m, reads)| (m.to_string(), reads.iter().map(|r| r.to_string()).collect()))
            .collect()
    }

    #[test]
    fn upstreams_come_first_and_ties_go_by_name() {
        let g = graph(&[
            ("report", &["clean", "zones_named"]),
            ("zones_named", &["zones"]),
            ("clean", &["trips"]),
        ]);
        assert_eq!(build_order(&g).unwrap(), ["clean", "zones_named", "report"]);
    }

    #[test]
    fn a_cycle_is_named_in_reading_order() {
        let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &["a"])]);
        let cycle = build_order(&g).unwrap_err();
        assert_eq!(cycle.models, ["a", "c", "b"]);
        assert_eq!(
            cycle.to_string(),
            "models read each other in a cycle: a → c → b → a"
        );
        let g = graph(&[("self_reader", &["self_reader"])]);
        assert_eq!(build_order(&g).unwrap_err().models, ["self_reader"]);
    }
}
