//! `canon check`: every file of each dataset against its contract — schema under the
//! dataset's evolution rules, CSV headers, partition values, NOT NULL columns and the
//! dataset's constraints (SQL, evaluated by DataFusion); then the declared keys across all
//! files. Reads only; never writes.
//!
//! Tables of a format with a factory of its own (Delta) are read as that format reads
//! them (for Delta: the current version's files, deletion vectors honoured), and checked
//! against the contract's NOT NULL columns and every constraint, the contract's and the
//! table's own.

pub(crate) mod keys;
mod nullable;
mod suggest;

pub use suggest::{ColumnCounts, KeySuggestion, suggest_keys};

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::prelude::SessionConfig;
use object_store::ObjectMeta;
use serde::Serialize;

use crate::contract::DatasetSpec;
use crate::error::Result;
use crate::evolution::{read_under_rules, rules_provider};
use crate::profile::RuntimeProfile;
use crate::project::Project;
use crate::registry::{self, Formats, files};
use canon_model::util::{quote_ident, quote_literal};

/// The name each file is registered under while it is checked.
const FILE_TABLE: &str = "__canon_check_file";

/// The name the whole dataset is registered under while its keys are checked.
const DATASET_TABLE: &str = "__canon_check_dataset";

/// What the check found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file's absolute path.
    pub path: String,
    /// Rows read, when the file could be read as the contract.
    pub rows: Option<u64>,
    /// Every problem found; empty when the file passes.
    pub problems: Vec<String>,
}

/// What the check found in one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    /// The dataset's name.
    pub dataset: String,
    /// Problems with the dataset as a whole (unreadable location, constraints that do not plan).
    pub problems: Vec<String>,
    /// One report per data file.
    pub files: Vec<FileReport>,
}

impl DatasetReport {
    /// Whether the dataset and all its files pass.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.files.iter().all(|f| f.problems.is_empty())
    }
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// One report per checked dataset, in project order.
    pub datasets: Vec<DatasetReport>,
}

impl CheckReport {
    /// Whether everything passed.
    pub fn ok(&self) -> bool {
        self.datasets.iter().all(DatasetReport::ok)
    }
}

/// Progress of a running check: the dataset, files done, files in total.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Checks the named datasets (all when `only` is empty) file by file.
pub async fn check_project(
    project: &Project,
    only: &[String],
    progress: Progress<'_>,
) -> Result<CheckReport> {
    let (state, formats) = reading_state(project)?;
    let mut datasets = Vec::new();
    for spec in project
        .datasets
        .iter()
        .filter(|d| only.is_empty() || only.contains(&d.name))
    {
        datasets.push(check_dataset(&state, &formats, spec, progress).await);
    }
    Ok(CheckReport { datasets })
}

/// The session state datasets are read with for checking: the project's profile and
/// formats, without workers.
fn reading_state(project: &Project) -> Result<(SessionState, Formats)> {
    let profile = RuntimeProfile::build(project)?;
    let formats = crate::formats::compiled(profile.stores());
    let state = crate::runtime::template(&profile, &formats, Vec::new(), &Default::default())?;
    Ok((state, formats))
}

async fn check_dataset(
    state: &SessionState,
    formats: &Formats,
    spec: &DatasetSpec,
    progress: Progress<'_>,
) -> DatasetReport {
    let mut report = DatasetReport {
        dataset: spec.name.clone(),
        problems: Vec::new(),
        files: Vec::new(),
    };
    let planned = match registry::plan(state, spec, &spec.ddl()).await {
        Ok(planned) => planned,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let Some(listing) = planned.provider.downcast_ref::<ListingTable>() else {
        let format = formats
            .iter()
            .find(|f| f.stored_as().eq_ignore_ascii_case(&planned.cmd.file_type));
        let table = check_table(state, spec, format, planned.provider).await;
        match table {
            Ok(file) => report.files.push(file),
            Err(problem) => report.problems.push(problem),
        }
        progress(&spec.name, 1, 1);
        return report;
    };
    let ctx = scratch_context(state);
    let constraints = plannable_constraints(&ctx, spec, &mut report.problems).await;
    let probe = files::probe(state, spec, listing);
    let files = match files::list(state, listing, None).await {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let checker = FileChecker {
        state,
        ctx: &ctx,
        spec,
        listing,
        probe,
        constraints: &constraints,
    };
    let total = files.len();
    for (i, (url, file)) in files.iter().enumerate() {
        report.files.push(checker.check(url, file).await);
        progress(&spec.name, i + 1, total);
    }
    if has_keys(spec) {
        let _ = ctx.deregister_table(DATASET_TABLE);
        // Read without the keys it declares, which the optimizer would otherwise trust.
        let table = Arc::new(nullable::AllNullable::new(Arc::clone(&planned.provider)));
        match ctx.register_table(DATASET_TABLE, table) {
            Ok(_) => {
                let found = keys::key_problems(&ctx, DATASET_TABLE, spec).await;
                report.problems.extend(found);
            }
            Err(e) => report.problems.push(e.strip_backtrace()),
        }
    }
    report
}

/// Whether the contract declares a key to check across the dataset.
fn has_keys(spec: &DatasetSpec) -> bool {
    !spec.primary_key.is_empty() || !spec.unique.is_empty()
}

/// Everything needed to check the files of one dataset.
struct FileChecker<'a> {
    state: &'a SessionState,
    ctx: &'a SessionContext,
    spec: &'a DatasetSpec,
    listing: &'a ListingTable,
    probe: files::Probe<'a>,
    constraints: &'a [String],
}

impl FileChecker<'_> {
    async fn check(&self, url: &ListingTableUrl, file: &ObjectMeta) -> FileReport {
        let path = files::display_path(url, file);
        let mut report = FileReport {
            path: path.clone(),
            rows: None,
            problems: Vec::new(),
        };
        let readable =
            files::check_file(self.state, self.spec, self.listing, url, file, self.probe);
        if let Err(problem) = readable.await {
            report.problems.push(problem.to_string());
            return report;
        }
        let partitions = partition_literals(self.spec, url, file, &mut report.problems);
        let scanned = scan_file(
            self.ctx,
            self.spec,
            self.listing,
            &path,
            &partitions,
            self.constraints,
        );
        match scanned.await {
            Ok((rows, problems)) => {
                report.rows = Some(rows);
                report.problems.extend(problems);
            }
            Err(e) => report.problems.push(format!("cannot be read: {e}")),
        }
        report
    }
}

/// Constraints that plan against the contract schema; the others are reported once.
async fn plannable_constraints(
    ctx: &SessionContext,
    spec: &DatasetSpec,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let empty = MemTable::try_new(spec.schema(), vec![vec![]]).map(Arc::new);
    let Ok(table) = empty else {
        return spec.constraints.clone();
    };
    let name = "__canon_check_contract";
    let _ = ctx.register_table(name, table);
    let mut ok = Vec::new();
    for constraint in &spec.constraints {
        let sql = format!(
            "SELECT count(*) FROM {name} AS {} WHERE NOT ({constraint})",
            quote_ident(&spec.name)
        );
        match ctx.sql(&sql).await {
            Ok(_) => ok.push(constraint.clone()),
            Err(e) => problems.push(format!(
                "constraint `{constraint}` does not plan: {}",
                e.strip_backtrace()
            )),
        }
    }
    let _ = ctx.deregister_table(name);
    ok
}

/// `arrow_cast('<value>', '<type>') AS "<column>"` for each partition column, parsed from
/// the file's `column=value` directories.
fn partition_literals(
    spec: &DatasetSpec,
    url: &ListingTableUrl,
    file: &ObjectMeta,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let relative = file
        .location
        .as_ref()
        .strip_prefix(url.prefix().as_ref())
        .unwrap_or(file.location.as_ref());
    let segments: Vec<(&str, &str)> = relative
        .split('/')
        .filter_map(|s| s.split_once('='))
        .collect();
    let mut literals = Vec::new();
    for name in &spec.partitioned_by {
        let Some(column) = spec.columns.iter().find(|c| &c.name == name) else {
            continue;
        };
        let value = segments.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let literal = match value {
            None => {
                problems.push(format!(
                    "partition directory `{name}=…` is missing from the path"
                ));
                None
            }
            Some(v) => match ScalarValue::try_from_string(v.to_string(), &column.data_type) {
                Ok(_) => Some(v),
                Err(_) => {
                    problems.push(format!(
                        "partition value `{name}={v}` does not parse as {}",
                        column.data_type
                    ));
                    None
                }
            },
        };
        let value_sql = literal.map_or("NULL".to_string(), quote_literal);
        literals.push(format!(
            "arrow_cast({value_sql}, '{}') AS {}",
            column.data_type,
            quote_ident(name)
        ));
    }
    literals
}

/// Reads one file as the contract and counts rows, nulls in NOT NULL columns and rows
/// failing each constraint.
async fn scan_file(
    ctx: &SessionContext,
    spec: &DatasetSpec,
    listing: &ListingTable,
    path: &str,
    partitions: &[String],
    constraints: &[String],
) -> Result<(u64, Vec<String>), String> {
    // Every column reads as nullable: declared NOT NULL, `col IS NULL` would be folded to
    // false by the optimizer, and that claim is what is being checked.
    let fields: Vec<Field> = spec
        .file_columns()
        .map(|c| Field::new(&c.name, c.data_type.clone(), true))
        .collect();
    let url = ListingTableUrl::parse(path).map_err(|e| e.strip_backtrace())?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(listing.options().clone().with_table_partition_cols(vec![]))
        .with_schema(Arc::new(Schema::new(fields)));
    let table =
        ListingTable::try_new(read_under_rules(spec, config)).map_err(|e| e.strip_backtrace())?;
    let provider = rules_provider(spec, table);
    let _ = ctx.deregister_table(FILE_TABLE);
    ctx.register_table(FILE_TABLE, provider)
        .map_err(|e| e.strip_backtrace())?;
    measure(ctx, spec, partitions, constraints).await
}

/// Counts the rows of [`FILE_TABLE`] (with `partitions` added as columns), the nulls in
/// each NOT NULL column and the rows failing each constraint, and says what fails.
async fn measure(
    ctx: &SessionContext,
    spec: &DatasetSpec,
    partitions: &[String],
    constraints: &[String],
) -> Result<(u64, Vec<String>), String> {
    let not_null: Vec<&str> = spec
        .columns
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| c.name.as_str())
        .collect();
    let mut measures = vec!["count(*)".to_string()];
    measures.extend(
        not_null
            .iter()
            .map(|c| format!("count(*) FILTER (WHERE {} IS NULL)", quote_ident(c))),
    );
    measures.extend(
        constraints
            .iter()
            .map(|c| format!("count(*) FILTER (WHERE NOT ({c}))")),
    );
    let mut projection = vec!["*".to_string()];
    projection.extend(partitions.iter().cloned());
    let sql = format!(
        "SELECT {} FROM (SELECT {} FROM {FILE_TABLE}) AS {}",
        measures.join(", "),
        projection.join(", "),
        quote_ident(&spec.name)
    );
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(|e| e.strip_backtrace())?
        .collect()
        .await
        .map_err(|e| e.strip_backtrace())?;
    let counts = first_row_counts(&batches);
    if counts.len() != 1 + not_null.len() + constraints.len() {
        return Err(format!("the check query returned {} values", counts.len()));
    }
    let rows = counts[0];
    let mut problems = Vec::new();
    for (column, nulls) in not_null.iter().zip(&counts[1..]) {
        if *nulls > 0 {
            problems.push(format!(
                "column `{column}` is NOT NULL but holds {nulls} null(s)"
            ));
        }
    }
    for (constraint, failing) in constraints.iter().zip(&counts[1 + not_null.len()..]) {
        if *failing > 0 {
            problems.push(format!(
                "constraint `{constraint}` fails for {failing} row(s)"
            ));
        }
    }
    Ok((rows, problems))
}

fn first_row_counts(batches: &[RecordBatch]) -> Vec<u64> {
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Vec::new();
    };
    batch
        .columns()
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<Int64Array>()
                .filter(|a| !a.is_null(0))
                .map_or(0, |a| u64::try_from(a.value(0)).unwrap_or(0))
        })
        .collect()
}

/// Checks a whole table of a format with its own factory: read as the format reads it,
/// against the contract's NOT NULL columns and every constraint the format knows of.
async fn check_table(
    state: &SessionState,
    spec: &DatasetSpec,
    format: Option<&Arc<dyn crate::registry::TableFormat>>,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<FileReport, String> {
    let mut constraints = spec.constraints.clone();
    if let Some(format) = format {
        format.attach(spec, &provider).map_err(|e| e.to_string())?;
        for (_, expression) in format.constraints(provider.as_ref()) {
            if !constraints.contains(&expression) {
                constraints.push(expression);
            }
        }
    }
    let ctx = scratch_context(state);
    let mut problems = Vec::new();
    let checked = DatasetSpec {
        constraints,
        ..spec.clone()
    };
    let constraints = plannable_constraints(&ctx, &checked, &mut problems).await;
    let _ = ctx.deregister_table(FILE_TABLE);
    ctx.register_table(FILE_TABLE, Arc::new(nullable::AllNullable::new(provider)))
        .map_err(|e| e.strip_backtrace())?;
    let (rows, found) = measure(&ctx, spec, &[], &constraints).await?;
    problems.extend(found);
    if has_keys(spec) {
        problems.extend(keys::key_problems(&ctx, FILE_TABLE, spec).await);
    }
    Ok(FileReport {
        path: spec.location.clone(),
        rows: Some(rows),
        problems,
    })
}

/// A session of the project's profile with an empty default schema, for the check's own
/// queries.
fn scratch_context(state: &SessionState) -> SessionContext {
    let config: SessionConfig = state
        .config()
        .clone()
        .with_create_default_catalog_and_schema(true);
    let state = SessionStateBuilder::new_from_existing(state.clone())
        .with_config(config)
        .with_catalog_list(Arc::new(
            datafusion::catalog::MemoryCatalogProviderList::new(),
        ))
        .build();
    SessionContext::new_with_state(state)
}
