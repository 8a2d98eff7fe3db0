//! `canon delta …`: create, write, history, changes, vacuum and optimize for the
//! project's Delta datasets.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use canon::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::delta::{DeltaDataset, ops};
use canon::stores::Stores;
use canon::{CanonError, DeltaError, Project, Runtime};
use clap::{Subcommand, ValueEnum};

use crate::output::{self, OutputFormat};
use crate::{Failure, find, load};

/// What `canon delta` does.
#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Create an empty table from the dataset's contract (columns, partitioning, Change
    /// Data Feed, and its constraints stored in the table).
    Create {
        /// The dataset.
        dataset: String,
    },
    /// Write rows into the dataset from a file or a query, under the policy's allow_dml.
    Write {
        /// The dataset.
        dataset: String,
        /// A parquet, csv, json/ndjson or arrow file to write.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "query",
            conflicts_with = "query"
        )]
        from: Option<PathBuf>,
        /// A query whose rows to write.
        #[arg(long, value_name = "SQL")]
        query: Option<String>,
        /// Append to the table, or replace its rows.
        #[arg(long, value_enum, default_value_t = Mode::Append)]
        mode: Mode,
    },
    /// The table's commits, newest first.
    History {
        /// The dataset.
        dataset: String,
        /// Show at most this many commits.
        #[arg(long)]
        limit: Option<usize>,
        /// How to print the commits.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// The Change Data Feed between two versions (inclusive).
    Changes {
        /// The dataset.
        dataset: String,
        /// The first version.
        #[arg(long = "from", value_name = "VERSION")]
        start: u64,
        /// The last version (the latest when not given).
        #[arg(long = "to", value_name = "VERSION")]
        end: Option<u64>,
        /// How to print the rows.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// List the data files no version within the retention period needs; remove them with
    /// --apply. The table's retention (7 days by default) is enforced.
    Vacuum {
        /// The dataset.
        dataset: String,
        /// Retention in hours (at least the table's own).
        #[arg(long)]
        retention_hours: Option<u64>,
        /// Also remove what no version references: files left by writers that failed
        /// or were killed, once older than the retention period.
        #[arg(long)]
        orphans: bool,
        /// Delete the files instead of listing them.
        #[arg(long)]
        apply: bool,
    },
    /// Compact small files.
    Optimize {
        /// The dataset.
        dataset: String,
        /// Target file size in bytes.
        #[arg(long)]
        target_size: Option<NonZeroU64>,
    },
    /// Restore the table's state at an earlier version, as a new commit.
    Restore {
        /// The dataset.
        dataset: String,
        /// The version to restore.
        #[arg(long)]
        version: u64,
    },
}

/// How `canon delta write` treats existing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Keep them.
    Append,
    /// Replace them.
    Overwrite,
}

/// Runs one `canon delta` command.
pub async fn run(
    project: &Path,
    diagnostics: Option<&Path>,
    command: DeltaCommand,
) -> Result<(), Failure> {
    if let DeltaCommand::Create { dataset } = &command {
        // The table does not exist yet, so the project is not registered: only read.
        let project = Project::load(project)?;
        let created = ops::create(
            find(&project, dataset)?,
            &project.policy,
            &Stores::for_project(&project).map_err(CanonError::from)?,
        )
        .await
        .map_err(CanonError::from)?;
        println!(
            "created Delta table for `{dataset}` at {} (version {}, change data feed {})",
            created.location,
            created.version,
            if created.change_data_feed {
                "on"
            } else {
                "off"
            }
        );
        for c in &created.constraints {
            println!("  constraint {}: {}", c.name, c.expression);
        }
        return Ok(());
    }
    let runtime = load(project, diagnostics).await?;
    let mut out = std::io::stdout().lock();
    match command {
        DeltaCommand::Create { .. } => Ok(()),
        DeltaCommand::Write {
            dataset,
            from,
            query,
            mode,
        } => {
            let table = delta_dataset(&runtime, &dataset)?;
            let session = runtime.session();
            let rows = match (from, query) {
                (Some(file), _) => session.read_file(&file).await?,
                (None, Some(sql)) => session.sql(&sql).await?,
                (None, None) => return Err(Failure::usage("give --from FILE or --query SQL")),
            };
            let written = session
                .insert(&dataset, rows, mode == Mode::Overwrite)
                .await?;
            println!(
                "wrote {written} row(s) to `{dataset}` ({}); table version {}",
                if mode == Mode::Overwrite {
                    "overwrite"
                } else {
                    "append"
                },
                table.version()
            );
            Ok(())
        }
        DeltaCommand::History {
            dataset,
            limit,
            format,
        } => {
            let table = delta_dataset(&runtime, &dataset)?;
            let commits = ops::history(table, limit).await.map_err(CanonError::from)?;
            let batch = history_batch(&commits).map_err(|e| Failure::runtime(e.to_string()))?;
            output::print(&mut out, &[batch], format, true)
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        DeltaCommand::Changes {
            dataset,
            start,
            end,
            format,
        } => {
            delta_dataset(&runtime, &dataset)?;
            let name = dataset.replace('\'', "''");
            let range = match end {
                Some(end) => format!("{start}, {end}"),
                None => start.to_string(),
            };
            let sql = format!(
                "SELECT * FROM table_changes('{name}', {range}) ORDER BY _commit_version, _change_type"
            );
            let batches = runtime
                .session()
                .sql(&sql)
                .await?
                .collect()
                .await
                .map_err(CanonError::from)?;
            output::print(&mut out, &batches, format, true)
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        DeltaCommand::Vacuum {
            dataset,
            retention_hours,
            orphans,
            apply,
        } => {
            let table = delta_dataset(&runtime, &dataset)?;
            let policy = &runtime.project().policy;
            let options = ops::VacuumOptions {
                retention_hours,
                orphans,
                dry_run: !apply,
            };
            let result = ops::vacuum(table, policy, options)
                .await
                .map_err(CanonError::from)?;
            let verb = if result.dry_run {
                "would remove"
            } else {
                "removed"
            };
            println!("{verb} {} file(s)", result.files.len());
            for file in &result.files {
                println!("  {file}");
            }
            if result.dry_run && !result.files.is_empty() {
                println!("(dry run: pass --apply to delete them)");
            }
            Ok(())
        }
        DeltaCommand::Restore { dataset, version } => {
            let table = delta_dataset(&runtime, &dataset)?;
            let done = ops::restore(table, &runtime.project().policy, version)
                .await
                .map_err(CanonError::from)?;
            println!(
                "restored `{dataset}` to version {} as version {} ({} file(s) removed, {} \
                 restored)",
                done.restored, done.version, done.files_removed, done.files_restored
            );
            Ok(())
        }
        DeltaCommand::Optimize {
            dataset,
            target_size,
        } => {
            let table = delta_dataset(&runtime, &dataset)?;
            let done = ops::optimize(table, &runtime.project().policy, target_size)
                .await
                .map_err(CanonError::from)?;
            println!(
                "compacted {} file(s) into {} in {} partition(s); table version {}",
                done.files_removed, done.files_added, done.partitions_optimized, done.version
            );
            Ok(())
        }
    }
}

fn delta_dataset<'a>(runtime: &'a Runtime, name: &str) -> Result<&'a DeltaDataset, Failure> {
    find(runtime.project(), name)?;
    runtime
        .dataset(name)
        .and_then(|d| d.delta())
        .ok_or_else(|| {
            CanonError::from(DeltaError::NotDelta {
                dataset: name.to_string(),
            })
            .into()
        })
}

fn history_batch(
    commits: &[ops::Commit],
) -> Result<RecordBatch, canon::datafusion::arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("timestamp", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("parameters", DataType::Utf8, false),
    ]));
    let timestamps: Vec<Option<&str>> = commits.iter().map(|c| c.time.as_deref()).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            commits.iter().map(|c| c.version),
        )),
        Arc::new(StringArray::from(timestamps)),
        Arc::new(StringArray::from_iter(
            commits.iter().map(|c| c.operation.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            commits.iter().map(|c| c.parameters.as_str()),
        )),
    ];
    RecordBatch::try_new(schema, columns)
}
