//! Column lineage as data: the tables a plan reads and, for each output column, the base
//! table columns its value is computed from. The runtime computes it from plans.

use std::fmt;

use serde::{Serialize, Serializer};

/// A column of a table, named as `table.column`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceColumn {
    /// The table, as short as the session's default catalog and schema allow.
    pub table: String,
    /// The column's name in the table.
    pub column: String,
}

impl fmt::Display for SourceColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

impl Serialize for SourceColumn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One output column and the table columns it derives from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnLineage {
    /// The output column's name.
    pub name: String,
    /// Its source columns, sorted; empty for constants and row counts.
    pub sources: Vec<SourceColumn>,
}

/// What a plan reads, and where each output column comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// Every table the plan reads, sorted, subqueries included.
    pub tables: Vec<String>,
    /// One entry per output column, in output order.
    pub columns: Vec<ColumnLineage>,
}

impl Lineage {
    /// The lineage of the output column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnLineage> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The sources of an output column as `table.column` strings; empty if there is no
    /// such column.
    pub fn sources(&self, name: &str) -> Vec<String> {
        self.column(name)
            .map(|c| c.sources.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }
}
