//! Column lineage across the model graph: each model's plan says which columns of what it
//! reads each output column is computed from, and how; chained through the models, that
//! traces a column back to the datasets' columns, or forward to every model column it feeds.
//! Backward, each model on the way also names the columns that shape its rows (filters,
//! joins, groups) without being part of the value.

use std::collections::BTreeSet;

use canon_model::lineage::{Direct, Influence, SourceColumn};

use super::compile::Compiled;

/// A column and, recursively, the columns it is computed from (backward) or feeds (forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The dataset or model.
    pub table: String,
    /// The column.
    pub column: String,
    /// How this step's value comes from the column before it (from the next step's, when
    /// tracing back); `None` for the column the trace starts at.
    pub kind: Option<Direct>,
    /// The next steps.
    pub next: Vec<Trace>,
    /// Backward, for a model: the columns of what it reads that select, join, group or
    /// order its rows, and how.
    pub influences: Vec<(SourceColumn, Vec<Influence>)>,
}

impl Compiled {
    /// Where `model.column` comes from, back to dataset columns; `None` when the model has
    /// no such column.
    pub fn trace_back(&self, model: &str, column: &str) -> Option<Trace> {
        self.back(model, column, None)
    }

    fn back(&self, model: &str, column: &str, kind: Option<Direct>) -> Option<Trace> {
        let node = self.model(model)?;
        let traced = node.lineage.column(column)?;
        let next = traced
            .sources
            .iter()
            .map(|source| {
                let kind = traced.kind(source);
                self.back(&source.table, &source.column, kind)
                    .unwrap_or_else(|| Trace {
                        table: source.table.clone(),
                        column: source.column.clone(),
                        kind,
                        next: Vec::new(),
                        influences: Vec::new(),
                    })
            })
            .collect();
        let influences = node
            .lineage
            .influences
            .iter()
            .map(|(source, how)| (source.clone(), how.iter().copied().collect()))
            .collect();
        Some(Trace {
            table: model.to_string(),
            column: column.to_string(),
            kind,
            next,
            influences,
        })
    }

    /// Every model column that `table.column` (a dataset's or a model's) feeds, directly or
    /// through other models, in build order.
    pub fn trace_forward(&self, table: &str, column: &str) -> Trace {
        self.forward(table, column, None)
    }

    fn forward(&self, table: &str, column: &str, kind: Option<Direct>) -> Trace {
        let mut next = Vec::new();
        let from = SourceColumn {
            table: table.to_string(),
            column: column.to_string(),
        };
        for node in &self.models {
            for traced in &node.lineage.columns {
                if let Some(how) = traced.kind(&from) {
                    next.push(self.forward(&node.name, &traced.name, Some(how)));
                }
            }
        }
        Trace {
            table: table.to_string(),
            column: column.to_string(),
            kind,
            next,
            influences: Vec::new(),
        }
    }

    /// Whether `table` has `column`: a model's output or a column some model reads.
    pub fn knows(&self, table: &str, column: &str) -> bool {
        let read: BTreeSet<(&str, &str)> = self
            .models
            .iter()
            .flat_map(|m| m.lineage.columns.iter())
            .flat_map(|c| c.sources.iter())
            .map(|s| (s.table.as_str(), s.column.as_str()))
            .collect();
        self.model(table)
            .is_some_and(|m| m.lineage.column(column).is_some())
            || read.contains(&(table, column))
    }
}
