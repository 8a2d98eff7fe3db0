//! Column lineage across the model graph: each model's plan says which columns of what it
//! reads each output column is computed from; chained through the models, that traces a
//! column back to the datasets' columns, or forward to every model column it feeds.

use std::collections::BTreeSet;

use super::compile::Compiled;

/// A column and, recursively, the columns it is computed from (backward) or feeds (forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The dataset or model.
    pub table: String,
    /// The column.
    pub column: String,
    /// The next steps.
    pub next: Vec<Trace>,
}

impl Compiled {
    /// Where `model.column` comes from, back to dataset columns; `None` when the model has
    /// no such column.
    pub fn trace_back(&self, model: &str, column: &str) -> Option<Trace> {
        let node = self.model(model)?;
        let traced = node.lineage.column(column)?;
        let next = traced
            .sources
            .iter()
            .map(|source| {
                self.trace_back(&source.table, &source.column)
                    .unwrap_or_else(|| Trace {
                        table: source.table.clone(),
                        column: source.column.clone(),
                        next: Vec::new(),
                    })
            })
            .collect();
        Some(Trace {
            table: model.to_string(),
            column: column.to_string(),
            next,
        })
    }

    /// Every model column that `table.column` (a dataset's or a model's) feeds, directly or
    /// through other models, in build order.
    pub fn trace_forward(&self, table: &str, column: &str) -> Trace {
        let mut next = Vec::new();
        for node in &self.models {
            for traced in &node.lineage.columns {
                if traced
                    .sources
                    .iter()
                    .any(|s| s.table == table && s.column == column)
                {
                    next.push(self.trace_forward(&node.name, &traced.name));
                }
            }
        }
        Trace {
            table: table.to_string(),
            column: column.to_string(),
            next,
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
