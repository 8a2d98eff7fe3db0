//! Table maintenance for Delta datasets: create from the contract, history, vacuum and
//! optimize, all by delta-rs's own operations.

use std::collections::HashMap;
use std::num::NonZeroU64;

use deltalake_core::kernel::StructType;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use futures::TryStreamExt;
use serde::Serialize;

use super::changes::cdf_enabled;
use super::error::DeltaError;
use super::factory::{display, table_url};
use super::state::Constraint;
use super::table::DeltaDataset;
use crate::contract::DatasetSpec;

/// What `create` made.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    /// The table's location.
    pub location: String,
    /// The table version after creation (constraints are added in their own commit).
    pub version: u64,
    /// The constraints stored in the table.
    pub constraints: Vec<Constraint>,
    /// Whether the Change Data Feed is on.
    pub change_data_feed: bool,
}

/// The constraints a contract asks for, named as the table stores them: a contract
/// constraint the table already stores keeps the table's name, the others are named
/// `check_<n>` after their place in the contract.
pub fn contract_constraints(
    spec: &DatasetSpec,
    stored: &HashMap<String, String>,
) -> Vec<Constraint> {
    let mut constraints: Vec<Constraint> = stored
        .iter()
        .map(|(name, expression)| Constraint {
            name: name.clone(),
            expression: expression.clone(),
            stored: true,
        })
        .collect();
    constraints.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, expression) in spec.constraints.iter().enumerate() {
        if !constraints
            .iter()
            .any(|c| same_sql(&c.expression, expression))
        {
            constraints.push(Constraint {
                name: format!("check_{}", i + 1),
                expression: expression.clone(),
                stored: false,
            });
        }
    }
    constraints
}

/// The CHECK constraints a table stores, by name.
pub fn stored_constraints(table: &DeltaTable) -> Result<HashMap<String, String>, DeltaTableError> {
    let state = table.snapshot()?;
    Ok(state
        .metadata()
        .configuration()
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("delta.constraints.")
                .map(|name| (name.to_string(), value.clone()))
        })
        .collect())
}

fn same_sql(a: &str, b: &str) -> bool {
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    normal(a) == normal(b)
}

/// Creates an empty Delta table from a dataset's contract: its columns, nullability and
/// partitioning; the Change Data Feed when the contract asks; and its constraints stored
/// in the table, so that every Delta writer enforces them.
pub async fn create(spec: &DatasetSpec) -> Result<Created, DeltaError> {
    let dataset = spec.name.clone();
    let fail = table_error(&dataset);
    let delta = spec.delta.clone().ok_or_else(|| DeltaError::NotDelta {
        dataset: dataset.clone(),
    })?;
    let url = table_url(&spec.location).map_err(|e| DeltaError::Invalid {
        dataset: dataset.clone(),
        message: e.strip_backtrace(),
    })?;
    let schema: StructType = spec
        .schema()
        .as_ref()
        .try_into_kernel()
        .map_err(|e| fail(e.into()))?;
    if let Ok(path) = url.to_file_path() {
        std::fs::create_dir_all(&path).map_err(|e| DeltaError::Invalid {
            dataset: dataset.clone(),
            message: format!("cannot create {}: {e}", path.display()),
        })?;
    }
    let table = DeltaTable::try_from_url(url.clone()).await.map_err(fail)?;
    if table.version().is_some() {
        return Err(DeltaError::Invalid {
            dataset,
            message: format!("a Delta table already exists at {}", display(&url)),
        });
    }
    let mut builder = table
        .create()
        .with_columns(schema.fields().cloned())
        .with_partition_columns(spec.partitioned_by.clone())
        .with_table_name(spec.name.clone());
    if delta.change_data_feed {
        builder =
            builder.with_configuration_property(TableProperty::EnableChangeDataFeed, Some("true"));
    }
    let mut table = builder.await.map_err(fail)?;

    let constraints: Vec<Constraint> = contract_constraints(spec, &HashMap::new())
        .into_iter()
        .map(|c| Constraint { stored: true, ..c })
        .collect();
    if !constraints.is_empty() {
        let named: HashMap<String, String> = constraints
            .iter()
            .map(|c| (c.name.clone(), c.expression.clone()))
            .collect();
        table = table
            .add_constraint()
            .with_constraints(named)
            .await
            .map_err(fail)?;
    }
    let change_data_feed = cdf_enabled(&table).map_err(fail)?;
    Ok(Created {
        location: display(&url),
        version: table.version().unwrap_or_default(),
        constraints,
        change_data_feed,
    })
}

/// One commit of a table's history.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// The table version the commit made.
    pub version: u64,
    /// Commit time, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// The operation (WRITE, CREATE TABLE, OPTIMIZE, …).
    pub operation: Option<String>,
    /// The operation's parameters, as JSON.
    pub parameters: String,
    /// The operation's metrics and other commit information, as JSON.
    pub metrics: String,
}

/// A table's commits, newest first (at most `limit`).
pub async fn history(
    dataset: &DeltaDataset,
    limit: Option<usize>,
) -> Result<Vec<Commit>, DeltaError> {
    let table = latest(dataset).await?;
    let latest = table.version().unwrap_or_default();
    let infos: Vec<_> = table
        .history(limit)
        .try_collect()
        .await
        .map_err(table_error(dataset.name()))?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| Commit {
            version: latest.saturating_sub(i as u64),
            timestamp: info.timestamp,
            operation: info.operation,
            parameters: serde_json::to_string(&info.operation_parameters.unwrap_or_default())
                .unwrap_or_default(),
            metrics: serde_json::to_string(&info.info).unwrap_or_default(),
        })
        .collect())
}

/// What a vacuum removed, or would remove on a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    /// Whether files were only listed.
    pub dry_run: bool,
    /// The files removed (or to be removed).
    pub files: Vec<String>,
}

/// Removes data files no longer referenced by versions within the retention period. The
/// table's retention (7 days unless the table says otherwise) is enforced: a shorter
/// `retention_hours` is refused by delta-rs.
pub async fn vacuum(
    dataset: &DeltaDataset,
    retention_hours: Option<u64>,
    dry_run: bool,
) -> Result<Vacuumed, DeltaError> {
    let table = latest(dataset).await?;
    let mut builder = table
        .vacuum()
        .with_dry_run(dry_run)
        .with_enforce_retention_duration(true);
    if let Some(hours) = retention_hours {
        builder = builder.with_retention_period(chrono::Duration::hours(hours as i64));
    }
    let (_, metrics) = builder.await.map_err(table_error(dataset.name()))?;
    Ok(Vacuumed {
        dry_run: metrics.dry_run,
        files: metrics.files_deleted,
    })
}

/// What an optimize (file compaction) did.
#[derive(Debug, Clone, Serialize)]
pub struct Optimized {
    /// The table version after the optimize (unchanged when nothing was compacted).
    pub version: u64,
    /// Files written.
    pub files_added: u64,
    /// Files replaced.
    pub files_removed: u64,
    /// Partitions with at least one file compacted.
    pub partitions_optimized: u64,
}

/// Compacts small files into files of about `target_size` bytes (the table's
/// `delta.targetFileSize`, or delta-rs's default, when not given).
pub async fn optimize(
    dataset: &DeltaDataset,
    target_size: Option<NonZeroU64>,
) -> Result<Optimized, DeltaError> {
    let table = latest(dataset).await?;
    let mut builder = table.optimize();
    if let Some(size) = target_size {
        builder = builder.with_target_size(size);
    }
    let (table, metrics) = builder.await.map_err(table_error(dataset.name()))?;
    Ok(Optimized {
        version: table.version().unwrap_or_default(),
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
        partitions_optimized: metrics.partitions_optimized,
    })
}

/// The dataset's table at its latest version, for an operation on it.
async fn latest(dataset: &DeltaDataset) -> Result<DeltaTable, DeltaError> {
    dataset.latest().await.map_err(|e| DeltaError::Invalid {
        dataset: dataset.name().to_string(),
        message: e.strip_backtrace(),
    })
}

/// Wraps delta-rs's errors for one dataset.
fn table_error(dataset: &str) -> impl Fn(DeltaTableError) -> DeltaError + Copy + '_ {
    move |source| DeltaError::Table {
        dataset: dataset.to_string(),
        source: Box::new(source),
    }
}
