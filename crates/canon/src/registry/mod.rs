//! The one registration path: contract → canonical DDL → DataFusion's own
//! `CREATE EXTERNAL TABLE` planning and table factory → schema verified against the
//! contract → data files checked. All datasets register, or none do.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::sql::parser::DFParser;
use futures::StreamExt;

use crate::contract::{DatasetSpec, schema_diffs};
use crate::error::{DatasetFailure, RegistrationError};

pub use crate::error::DatasetError;
use crate::evolution::{read_under_rules, rules_provider};

pub(crate) mod files;
mod format;
mod lister;
pub(crate) mod models;
mod verified;

pub use format::{
    CommitInfo, CommitMetadata, DatasetTables, Formats, MODEL_RECORD_KEY, TableFormat,
    TableFunctionSpec, format_of,
};
use lister::LocalLister;
use verified::DatasetEntry;
pub use verified::MANIFEST_FILE;
pub(crate) use verified::Manifest;

/// How many datasets register at once; listing and footer reads are I/O bound.
const CONCURRENCY: usize = 16;

/// A dataset as registered: its contract, the DDL it came from, and its table.
#[derive(Debug)]
pub struct RegisteredDataset {
    /// The contract.
    pub spec: DatasetSpec,
    /// The canonical DDL the table was planned from.
    pub ddl: String,
    /// Fingerprint of the verified schema.
    pub schema_fingerprint: String,
    /// Where the DDL alone would not have given the contract, and what Canon did.
    pub notes: Vec<String>,
    /// The table DataFusion's factory built.
    pub provider: Arc<dyn TableProvider>,
    /// The expression adapter on the table's scans: `evolution` (declared rules),
    /// `strict` (none declared), the format's own (`delta`), or `none`.
    pub adapter: &'static str,
    /// The format that built the table, when it has a factory of its own.
    format: Option<Arc<dyn TableFormat>>,
    /// Where a listing table's files are (empty for other tables): a distributed scan
    /// of these files reads under the dataset's rules on every worker.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) locations: Vec<ListingTableUrl>,
}

impl RegisteredDataset {
    /// The current state of a table whose format has its own factory (for Delta: the
    /// scan configuration, version read, protocol and constraints).
    pub fn state(&self) -> Option<serde_json::Value> {
        self.format.as_ref()?.state(self.provider.as_ref())
    }

    /// The table's commits, newest first (at most `limit`), when its format keeps a log.
    pub async fn commits(
        &self,
        limit: usize,
    ) -> Option<Result<Vec<CommitInfo>, crate::error::BoxError>> {
        let format = self.format.as_ref()?;
        Some(format.commits(self.provider.as_ref(), limit).await)
    }
}

/// Registers every dataset, or returns every failure and registers none. The files the
/// manifest vouches for are not read again; when all register, the manifest keeps what
/// was verified.
pub(crate) async fn register_all(
    state: &SessionState,
    formats: &Formats,
    datasets: &[DatasetSpec],
    manifest: &Manifest,
) -> Result<Vec<RegisteredDataset>, RegistrationError> {
    let started = std::time::Instant::now();
    let total = datasets.len();
    let state = Arc::new(registration_state(state));
    let lister = &LocalLister::start(Arc::clone(&state));
    let state = state.as_ref();
    let results: Vec<Result<Registered, DatasetError>> = futures::stream::iter(datasets)
        .map(|spec| register(state, formats, spec, manifest, lister))
        .buffered(CONCURRENCY)
        .enumerate()
        .inspect(|(i, result)| {
            let done = i + 1;
            match result {
                Ok((r, _)) => tracing::debug!(dataset = %r.spec.name, done, total, "registered"),
                Err(e) => tracing::warn!(done, total, error = %e, "dataset failed registration"),
            }
            if done % 100 == 0 && done < total {
                tracing::info!(done, total, "registering datasets");
            }
        })
        .map(|(_, result)| result)
        .collect()
        .await;
    let mut registered = Vec::with_capacity(results.len());
    let mut verified = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (spec, result) in datasets.iter().zip(results) {
        match result {
            Ok((r, entry)) => {
                if let Some(entry) = entry {
                    verified.insert(r.spec.name.clone(), entry);
                }
                registered.push(r);
            }
            Err(error) => failures.push(DatasetFailure::of(spec, error)),
        }
    }
    tracing::info!(
        registered = registered.len(),
        failed = failures.len(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "registration finished"
    );
    if failures.is_empty() {
        manifest.save(verified);
        Ok(registered)
    } else {
        Err(RegistrationError { failures })
    }
}

/// The state datasets register under: the template's, except that DataFusion's listing
/// factory does not pre-warm file statistics. A scan collects them (into the same cache)
/// when its session has `collect_statistics` on, so a process that queries a few of many
/// datasets reads the statistics of those few only; what registration verifies is the
/// same either way.
fn registration_state(template: &SessionState) -> SessionState {
    let mut config = template.config().clone();
    config.options_mut().execution.collect_statistics = false;
    SessionStateBuilder::new_from_existing(template.clone())
        .with_config(config)
        .build()
}

/// The table DataFusion builds from a dataset's canonical DDL, with the contract's exact
/// schema, before any file is checked.
pub(crate) struct Planned {
    /// The planned `CREATE EXTERNAL TABLE`, with the contract schema.
    pub cmd: Box<CreateExternalTable>,
    /// The table DataFusion's factory built from it.
    pub provider: Arc<dyn TableProvider>,
    /// Where the DDL alone would not have given the contract.
    pub notes: Vec<String>,
}

/// Plans the canonical DDL and lets DataFusion's table factory build the table.
pub(crate) async fn plan(
    state: &SessionState,
    spec: &DatasetSpec,
    ddl: &str,
) -> Result<Planned, DatasetError> {
    let statement = DFParser::parse_sql(ddl)
        .map_err(|e| {
            let message = format!("canonical DDL does not parse: {}", e.strip_backtrace());
            DatasetError::caused(message, e)
        })?
        .pop_front()
        .ok_or("canonical DDL is empty")?;
    let plan = state.statement_to_plan(statement).await.map_err(|e| {
        let message = format!("canonical DDL does not plan: {}", e.strip_backtrace());
        DatasetError::caused(message, e)
    })?;
    let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut cmd)) = plan else {
        return Err("canonical DDL did not plan to CREATE EXTERNAL TABLE".into());
    };

    let contract = spec.schema();
    let mut notes = ddl_notes(cmd.schema.as_arrow(), &contract);
    if spec.read_rules().conflicts_with_statistics() {
        notes.push(
            "file statistics are not collected: DataFusion reads a column absent from a file \
             as all-null from its statistics, which would bypass the dataset's renames and \
             defaults"
                .to_string(),
        );
    }
    // Registration is exact: where DDL planning differs (session-dependent SQL types),
    // the contract's Arrow schema is what the table is built with.
    let schema = DFSchema::try_from(Arc::clone(&contract))
        .map_err(|e| DatasetError::caused(e.strip_backtrace(), e))?;
    cmd.schema = Arc::new(schema);

    let factory = state
        .table_factories()
        .get(cmd.file_type.as_str())
        .ok_or_else(|| {
            // The listing formats are always there; a missing factory is a format this
            // build left out, and each such format is the cargo feature of its name (see
            // `crate::formats`).
            let format = spec.format.name();
            format!(
                "format `{format}` is not compiled into this program: build it with the cargo \
                 feature `{format}` (on by default; `--no-default-features` leaves it out)"
            )
        })?;
    let provider = factory
        .create(state, &cmd)
        .await
        .map_err(|e| DatasetError::caused(e.strip_backtrace(), e))?;
    Ok(Planned {
        cmd,
        provider,
        notes,
    })
}

/// A registered dataset, and the manifest entry of its verified files (listing tables).
type Registered = (RegisteredDataset, Option<DatasetEntry>);

async fn register(
    state: &SessionState,
    formats: &Formats,
    spec: &DatasetSpec,
    manifest: &Manifest,
    lister: &LocalLister,
) -> Result<Registered, DatasetError> {
    let ddl = spec.ddl();
    let Planned {
        cmd,
        provider,
        mut notes,
    } = plan(state, spec, &ddl).await?;
    let contract = spec.schema();
    let format = formats
        .iter()
        .find(|f| f.stored_as().eq_ignore_ascii_case(&cmd.file_type))
        .cloned();
    let schema_fingerprint = crate::contract::schema_fingerprint(&contract);
    let mut locations = Vec::new();
    let mut verified = None;
    let (provider, adapter) = if let Some(listing) = provider.downcast_ref::<ListingTable>() {
        locations = listing.table_paths().clone();
        verify_schema(&contract, &provider.schema())?;
        let key = manifest.contract_key(spec, &ddl, &schema_fingerprint);
        let known = manifest.entry(&spec.name);
        verified = Some(files::check(state, spec, listing, key, known, lister).await?);
        let table = with_evolution(state, spec, listing, &cmd)
            .map_err(|e| DatasetError::caused(e.strip_backtrace(), e))?;
        let adapter = if spec.evolution.is_some() {
            "evolution"
        } else {
            "strict"
        };
        (table, adapter)
    } else if let Some(format) = &format {
        // The format's factory checked the table against the contract; the format says
        // where what its scans produce differs.
        notes.extend(format.attach(spec, &provider)?);
        (provider, format.adapter())
    } else {
        verify_schema(&contract, &provider.schema())?;
        (provider, "none")
    };

    let registered = RegisteredDataset {
        schema_fingerprint,
        spec: spec.clone(),
        ddl,
        notes,
        provider,
        adapter,
        format,
        locations,
    };
    Ok((registered, verified))
}

/// Attaches Canon's expression adapter, which applies the dataset's evolution rules (or
/// strict reading without rules) to every file scanned. DataFusion's listing factory has
/// no hook for an adapter, so the table is rebuilt from the factory's own paths, options
/// (format options, partitions, sort order) and schema.
pub(crate) fn with_evolution(
    state: &SessionState,
    spec: &DatasetSpec,
    listing: &ListingTable,
    cmd: &CreateExternalTable,
) -> datafusion::error::Result<Arc<dyn TableProvider>> {
    let file_fields: Vec<Field> = spec
        .file_columns()
        .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
        .collect();
    let config = ListingTableConfig::new_with_multi_paths(listing.table_paths().clone())
        .with_listing_options(listing.options().clone())
        .with_schema(Arc::new(Schema::new(file_fields)));
    let table = ListingTable::try_new(read_under_rules(spec, config))?
        .with_cache(state.runtime_env().cache_manager.get_file_statistic_cache())
        .with_definition(cmd.definition.clone())
        .with_constraints(cmd.constraints.clone())
        .with_column_defaults(cmd.column_defaults.clone());
    Ok(rules_provider(spec, table))
}

/// Describes each column whose DDL type plans to something other than the contract's.
fn ddl_notes(planned: &Schema, contract: &Schema) -> Vec<String> {
    planned
        .fields()
        .iter()
        .zip(contract.fields())
        .filter(|(p, c)| p.data_type() != c.data_type())
        .map(|(p, c)| {
            format!(
                "column `{}`: DDL type {} plans as {} under this profile; registered as the \
                 contract's {}",
                c.name(),
                crate::contract::sql_type(c.data_type()),
                p.data_type(),
                c.data_type()
            )
        })
        .collect()
}

/// The registered schema must equal the contract: names, order, types, nullability.
fn verify_schema(contract: &Schema, registered: &Schema) -> Result<(), String> {
    let diffs = schema_diffs(contract, registered);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "registered schema differs from the contract: {}",
            diffs.join("; ")
        ))
    }
}
