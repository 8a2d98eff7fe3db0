//! Schema evolution rules as data: how a dataset reads files written under older schemas
//! (`[dataset.evolution]`). The runtime applies them while scanning.

use std::collections::BTreeMap;

use datafusion_common::ScalarValue;
use serde::Serialize;

/// What happens when a file lacks a contract column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Read the column as null (the column must be nullable).
    Null,
    /// Read the column as its declared default.
    Default,
    /// Refuse the file.
    Error,
}

/// A dataset's evolution rules, validated against its contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvolutionSpec {
    /// What happens when a file lacks a contract column.
    pub missing: MissingPolicy,
    /// Default values by contract column, already cast to the column's type.
    #[serde(serialize_with = "serialize_defaults")]
    pub defaults: BTreeMap<String, ScalarValue>,
    /// Old physical name → contract name.
    pub renames: BTreeMap<String, String>,
    /// Whether safe widening casts are allowed.
    pub widen: bool,
}

impl EvolutionSpec {
    /// The rules of a dataset that declares none: every file must match the contract.
    pub fn strict() -> Self {
        Self {
            missing: MissingPolicy::Error,
            defaults: BTreeMap::new(),
            renames: BTreeMap::new(),
            widen: false,
        }
    }

    /// Whether reading needs values DataFusion's file statistics would get wrong.
    ///
    /// DataFusion 55 reports a column absent from a parquet file as all-null in the
    /// file's statistics, and the parquet opener replaces such columns with NULL literals
    /// before any expression adapter runs; renamed and defaulted columns would read as
    /// NULL. Datasets with such rules therefore do not collect file statistics.
    pub fn conflicts_with_statistics(&self) -> bool {
        !self.renames.is_empty()
            || (self.missing == MissingPolicy::Default && !self.defaults.is_empty())
    }

    /// The old physical name a contract column may be stored under.
    pub fn old_name_of(&self, column: &str) -> Option<&str> {
        self.renames
            .iter()
            .find(|(_, new)| *new == column)
            .map(|(old, _)| old.as_str())
    }
}

fn serialize_defaults<S: serde::Serializer>(
    defaults: &BTreeMap<String, ScalarValue>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(defaults.iter().map(|(k, v)| (k, v.to_string())))
}
