//! Schema evolution: how a dataset reads files written under older schemas. Each listing
//! dataset gets a [`PhysicalExprAdapterFactory`] that applies its rules while scanning, so
//! projections and filters still push down into the files:
//! - columns the file lacks become null or the declared default (or an error),
//! - renamed columns read from their old physical name,
//! - safe widening casts (`Int32` → `Int64`, `Float32` → `Float64`, coarser → finer
//!   timestamps, …) when `widen = true`.
//!
//! Datasets without rules get the same adapter in strict form: a file whose schema differs
//! from the contract is an error, never silently null-filled.

mod adapter;
mod compat;
mod no_stats;

pub use adapter::EvolutionAdapterFactory;
pub use compat::{FileColumn, is_safe_widening, resolve_file_column};
pub use no_stats::WithoutFileStatistics;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
use serde::Serialize;

use crate::contract::DatasetSpec;

/// Attaches the adapter for the dataset's rules (strict without rules) to a table config.
pub(crate) fn read_under_rules(
    spec: &DatasetSpec,
    config: ListingTableConfig,
) -> ListingTableConfig {
    let adapter = EvolutionAdapterFactory::new(&spec.name, spec.read_rules());
    config.with_expr_adapter_factory(Arc::new(adapter))
}

/// The provider for a table that reads under the dataset's rules: wrapped to scan without
/// file statistics when the rules need that.
pub(crate) fn rules_provider(spec: &DatasetSpec, table: ListingTable) -> Arc<dyn TableProvider> {
    if spec.read_rules().conflicts_with_statistics() {
        Arc::new(WithoutFileStatistics::new(Arc::new(table)))
    } else {
        Arc::new(table)
    }
}

/// What happens when a file lacks a contract column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
