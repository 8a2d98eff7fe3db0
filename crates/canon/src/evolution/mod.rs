//! Schema evolution: how a dataset reads files written under older schemas. Each listing
//! dataset gets a `PhysicalExprAdapterFactory` that applies its rules while scanning, so
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
pub use compat::{
    FileColumn, check_widened_value, is_safe_widening, resolve_file_column, widening_factor,
};
pub use no_stats::WithoutFileStatistics;

pub use canon_model::evolution::{EvolutionSpec, MissingPolicy};

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};

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
