//! Column lineage as data: the tables a plan reads and, for each output column, the base
//! table columns its value is computed from. The runtime computes it from plans.

use std::collections::{BTreeMap, BTreeSet};
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

/// How an output column's value is computed from a source column, from the closest to the
/// farthest: the OpenLineage `DIRECT` subtypes (IDENTITY, TRANSFORMATION, AGGREGATION).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direct {
    /// The value itself, under this or another name.
    Copied,
    /// The value through an expression (a cast, a function, arithmetic).
    Transformed,
    /// Many rows' values combined (an aggregate or a window function).
    Aggregated,
}

impl Direct {
    /// The kind as `canon lineage` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Copied => "copied",
            Self::Transformed => "transformed",
            Self::Aggregated => "aggregated",
        }
    }
}

/// How a source column shapes a plan's rows without being part of any value: the
/// OpenLineage `INDIRECT` subtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Influence {
    /// A filter predicate keeps or drops rows by it.
    Filter,
    /// A join matches rows by it.
    Join,
    /// Rows are grouped by it.
    Group,
    /// Rows are ordered by it.
    Sort,
    /// A window function partitions or orders its rows by it.
    Window,
}

impl Influence {
    /// The influence as `canon lineage` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Join => "join",
            Self::Group => "group",
            Self::Sort => "sort",
            Self::Window => "window",
        }
    }
}

/// Where one output column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnLineage {
    /// The output column's name.
    pub name: String,
    /// Its source columns, sorted; empty for constants and row counts.
    pub sources: Vec<SourceColumn>,
    /// How the value comes from each of `sources` (the farthest kind, when it comes from
    /// one source along several paths).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<SourceColumn, Direct>,
}

impl ColumnLineage {
    /// How the value comes from `source`; `None` when it does not.
    pub fn kind(&self, source: &SourceColumn) -> Option<Direct> {
        self.kinds.get(source).copied()
    }
}

/// What a plan reads, and where each output column comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// Every table the plan reads, sorted, subqueries included.
    pub tables: Vec<String>,
    /// One entry per output column, in output order.
    pub columns: Vec<ColumnLineage>,
    /// The source columns that shape which rows the plan yields (or their order), and how;
    /// they are part of no output value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub influences: BTreeMap<SourceColumn, BTreeSet<Influence>>,
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
