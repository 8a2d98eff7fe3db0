//! Table maintenance for Delta datasets: create from the contract, history, vacuum,
//! optimize and restore, all by delta-rs's own operations, under the project's SQL
//! policy: creating a table is DDL (`allow_ddl`); vacuum (when it deletes), optimize and
//! restore change data files (`allow_dml`). History and a vacuum dry run only read.

use std::collections::HashMap;
use std::num::NonZeroU64;

use deltalake_core::kernel::StructType;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::table::config::TablePropertiesExt;
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use futures::TryStreamExt;
use serde::Serialize;

use super::changes::cdf_enabled;
use super::error::DeltaError;
use super::uploads;
use crate::policy::{PolicyViolation, SqlPolicy, StatementClass};

/// The longest vacuum retention Canon passes to delta-rs: about 114 years. Longer ones
/// would overflow the time arithmetic and keep every file anyway.
pub const MAX_RETENTION_HOURS: u64 = 1_000_000;

/// Refuses a maintenance operation the policy does not allow, naming the rule.
fn allowed(policy: &SqlPolicy, class: StatementClass, operation: &str) -> Result<(), DeltaError> {
    match class.rule() {
        Some(rule) if !policy.allows(class) => Err(DeltaError::Refused(PolicyViolation {
            rule,
            class,
            statement: operation.to_string(),
        })),
        _ => Ok(()),
    }
}
use super::factory::{display, local_path, table_url};
use super::state::Constraint;
use super::state::builder;
use super::table::DeltaDataset;
use crate::contract::DatasetSpec;
use crate::stores::Stores;

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
            let name = free_name(&constraints, &format!("check_{}", i + 1));
            constraints.push(Constraint {
                name,
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

/// `name`, or `name_2`, `name_3`, … when a constraint already has it: a contract
/// constraint's name must not take one the table stores.
fn free_name(constraints: &[Constraint], name: &str) -> String {
    let taken = |candidate: &str| constraints.iter().any(|c| c.name == candidate);
    if !taken(name) {
        return name.to_string();
    }
    (2..)
        .map(|k| format!("{name}_{k}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| name.to_string())
}

/// Whether two SQL expressions are the same up to whitespace and the case of keywords and
/// unquoted names; quoted strings and identifiers must match exactly.
fn same_sql(a: &str, b: &str) -> bool {
    normal_sql(a) == normal_sql(b)
}

fn normal_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in sql.chars() {
        match quote {
            // Inside quotes, text is kept as written; a doubled quote closes and reopens.
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => space = !out.is_empty(),
            None => {
                if space {
                    out.push(' ');
                    space = false;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    out.push(c);
                } else {
                    out.extend(c.to_lowercase());
                }
            }
        }
    }
    out
}

/// Whether a Delta table exists at a dataset's location (a log is there).
pub async fn exists(spec: &DatasetSpec, stores: &Stores) -> Result<bool, DeltaError> {
    let dataset = spec.name.clone();
    let url = table_url(&spec.location).map_err(|e| DeltaError::Invalid {
        dataset: dataset.clone(),
        message: e.strip_backtrace(),
    })?;
    if local_path(&url).is_some_and(|path| !path.exists()) {
        return Ok(false);
    }
    let table = builder(&url, stores)
        .and_then(|b| b.build())
        .map_err(table_error(&dataset))?;
    table
        .log_store()
        .is_delta_table_location()
        .await
        .map_err(table_error(&dataset))
}

/// Creates an empty Delta table from a dataset's contract: its columns, nullability and
/// partitioning; the Change Data Feed when the contract asks; and its constraints stored
/// in the table, so that every Delta writer enforces them. Needs `allow_ddl`.
pub async fn create(
    spec: &DatasetSpec,
    policy: &SqlPolicy,
    stores: &Stores,
) -> Result<Created, DeltaError> {
    let dataset = spec.name.clone();
    allowed(
        policy,
        StatementClass::Ddl,
        &format!("CREATE DELTA TABLE {dataset}"),
    )?;
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
    if let Some(path) = local_path(&url) {
        std::fs::create_dir_all(&path).map_err(|e| DeltaError::Invalid {
            dataset: dataset.clone(),
            message: format!("cannot create {}: {e}", path.display()),
        })?;
    }
    stores
        .check_delta_writes(&url)
        .map_err(|e| DeltaError::Invalid {
            dataset: dataset.clone(),
            message: e.to_string(),
        })?;
    let table = builder(&url, stores)
        .and_then(|b| b.build())
        .map_err(fail)?;
    // Listing the log answers whether a table is there; loading a location without one
    // would log the kernel's failure as an error on every successful create.
    let exists = table
        .log_store()
        .is_delta_table_location()
        .await
        .map_err(fail)?;
    if exists {
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
    /// Commit time, milliseconds since the epoch, as the log records it.
    pub timestamp: Option<i64>,
    /// Commit time in RFC 3339 (UTC, milliseconds); `None` when the log records none or
    /// one no calendar can show.
    pub time: Option<String>,
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
            version: latest.saturating_sub(u64::try_from(i).unwrap_or(u64::MAX)),
            time: info.timestamp.and_then(rfc3339_millis),
            timestamp: info.timestamp,
            operation: info.operation,
            parameters: serde_json::to_string(&info.operation_parameters.unwrap_or_default())
                .unwrap_or_default(),
            metrics: serde_json::to_string(&info.info).unwrap_or_default(),
        })
        .collect())
}

/// The newest of a table's last `depth` commits that holds `key` in its commit information,
/// and the value there: what a writer recorded with its commit (Canon's model builds record
/// their definition and state under `canon.model`).
pub async fn commit_metadata(
    spec: &DatasetSpec,
    stores: &Stores,
    key: &str,
    depth: usize,
) -> Result<Option<serde_json::Value>, DeltaError> {
    let fail = table_error(&spec.name);
    let url = table_url(&spec.location).map_err(|e| DeltaError::Invalid {
        dataset: spec.name.clone(),
        message: e.strip_backtrace(),
    })?;
    let mut table = builder(&url, stores)
        .and_then(|b| b.build())
        .map_err(&fail)?;
    table.load().await.map_err(&fail)?;
    let infos: Vec<_> = table
        .history(Some(depth))
        .try_collect()
        .await
        .map_err(&fail)?;
    Ok(infos.into_iter().find_map(|mut info| info.info.remove(key)))
}

/// A commit timestamp as RFC 3339; another writer's log may hold any number.
fn rfc3339_millis(millis: i64) -> Option<String> {
    let time = chrono::DateTime::from_timestamp_millis(millis)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// What a vacuum removed, or would remove on a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    /// Whether files were only listed.
    pub dry_run: bool,
    /// The files removed (or to be removed).
    pub files: Vec<String>,
}

/// What a vacuum may remove, and whether it only lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct VacuumOptions {
    /// The retention period in hours; the table's own (7 days unless the table says
    /// otherwise) when `None`. A shorter one than the table's is refused.
    pub retention_hours: Option<u64>,
    /// Also remove what no version references: data files and unfinished local uploads
    /// left by writers that failed or were killed, once older than the retention period.
    pub orphans: bool,
    /// Only list the files.
    pub dry_run: bool,
}

/// Removes data files no longer referenced by versions within the retention period, and
/// with `orphans` the files no version ever referenced. The table's retention is
/// enforced. Deleting needs `allow_dml`; a dry run only lists.
pub async fn vacuum(
    dataset: &DeltaDataset,
    policy: &SqlPolicy,
    options: VacuumOptions,
) -> Result<Vacuumed, DeltaError> {
    let VacuumOptions {
        retention_hours,
        orphans,
        dry_run,
    } = options;
    if !dry_run {
        allowed(
            policy,
            StatementClass::Dml,
            &format!("VACUUM {}", dataset.name()),
        )?;
    }
    let invalid = |message: String| DeltaError::Invalid {
        dataset: dataset.name().to_string(),
        message,
    };
    let retention = retention_hours
        .map(|hours| {
            i64::try_from(hours)
                .ok()
                .filter(|_| hours <= MAX_RETENTION_HOURS)
                .and_then(chrono::Duration::try_hours)
                .ok_or_else(|| {
                    invalid(format!(
                        "a retention of {hours} hours is too long; at most \
                         {MAX_RETENTION_HOURS} hours"
                    ))
                })
        })
        .transpose()?;
    let table = latest(dataset).await?;
    let table_retention = table
        .snapshot()
        .map_err(table_error(dataset.name()))?
        .table_config()
        .deleted_file_retention_duration();
    let mode = if orphans {
        VacuumMode::Full
    } else {
        VacuumMode::Lite
    };
    let mut builder = table
        .vacuum()
        .with_mode(mode)
        .with_dry_run(dry_run)
        .with_enforce_retention_duration(true);
    if let Some(retention) = retention {
        builder = builder.with_retention_period(retention);
    }
    let (_, metrics) = builder.await.map_err(table_error(dataset.name()))?;
    let mut files = metrics.files_deleted;
    let local_dir = dataset.stores().local_path(dataset.url());
    if let (true, Some(dir)) = (orphans, local_dir) {
        // delta-rs accepted the retention, so it is at least the table's.
        let retention = retention
            .and_then(|r| r.to_std().ok())
            .unwrap_or(table_retention);
        let abandoned = uploads::abandoned(&dir, retention)
            .map_err(|e| invalid(format!("cannot list {}: {e}", dir.display())))?;
        for upload in abandoned {
            if !dry_run {
                std::fs::remove_file(&upload.path).map_err(|e| {
                    invalid(format!("cannot remove {}: {e}", upload.path.display()))
                })?;
            }
            files.push(upload.relative);
        }
    }
    Ok(Vacuumed {
        dry_run: metrics.dry_run,
        files,
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
/// `delta.targetFileSize`, or delta-rs's default, when not given). Needs `allow_dml`.
pub async fn optimize(
    dataset: &DeltaDataset,
    policy: &SqlPolicy,
    target_size: Option<NonZeroU64>,
) -> Result<Optimized, DeltaError> {
    allowed(
        policy,
        StatementClass::Dml,
        &format!("OPTIMIZE {}", dataset.name()),
    )?;
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

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The version whose state the table now has.
    pub restored: u64,
    /// The new table version the restore committed.
    pub version: u64,
    /// Data files the restore removed from the table.
    pub files_removed: usize,
    /// Data files the restore added back.
    pub files_restored: usize,
}

/// Restores the table's state at `version` as a new commit. Needs `allow_dml`; refused
/// for a dataset pinned to a version or timestamp.
pub async fn restore(
    dataset: &DeltaDataset,
    policy: &SqlPolicy,
    version: u64,
) -> Result<Restored, DeltaError> {
    allowed(
        policy,
        StatementClass::Dml,
        &format!("RESTORE {} TO VERSION {version}", dataset.name()),
    )?;
    if dataset.spec().time_travel.is_some() {
        return Err(DeltaError::Invalid {
            dataset: dataset.name().to_string(),
            message: "the dataset reads a pinned version; restore changes the latest one, \
                      so remove `version`/`timestamp` from [dataset.delta] first"
                .into(),
        });
    }
    let table = latest(dataset).await?;
    let current = table.version().unwrap_or_default();
    if version >= current {
        return Err(DeltaError::Invalid {
            dataset: dataset.name().to_string(),
            message: format!(
                "cannot restore version {version}: the table is at version {current}; \
                 restore goes back to an earlier version"
            ),
        });
    }
    let (table, metrics) = table
        .restore()
        .with_version_to_restore(version)
        .await
        .map_err(table_error(dataset.name()))?;
    Ok(Restored {
        restored: version,
        version: table.version().unwrap_or_default(),
        files_removed: metrics.num_removed_file,
        files_restored: metrics.num_restored_file,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sql_keeps_literals_and_quoted_names() {
        assert!(same_sql("amount >= 0", "AMOUNT   >=  0"));
        assert!(same_sql("region IN ('EU', 'US')", "REGION in ('EU', 'US')"));
        assert!(!same_sql("region = 'EU'", "region = 'eu'"));
        assert!(!same_sql("\"Amount\" > 0", "\"amount\" > 0"));
        assert!(same_sql("name = 'it''s'", "NAME = 'it''s'"));
        assert!(!same_sql("name = 'a  b'", "name = 'a b'"));
    }

    #[test]
    fn contract_constraints_do_not_take_stored_names() {
        let stored = |name: &str| Constraint {
            name: name.to_string(),
            expression: "id > 0".to_string(),
            stored: true,
        };
        assert_eq!(free_name(&[], "check_1"), "check_1");
        assert_eq!(free_name(&[stored("check_1")], "check_1"), "check_1_2");
        let both = [stored("check_1"), stored("check_1_2")];
        assert_eq!(free_name(&both, "check_1"), "check_1_3");
    }
}
