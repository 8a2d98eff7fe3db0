//! The one registration path: contract → canonical DDL → DataFusion's own
//! `CREATE EXTERNAL TABLE` planning and table factory → schema verified against the
//! contract → data files checked. All datasets register, or none do.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::sql::parser::DFParser;
use futures::StreamExt;

use crate::contract::DatasetSpec;
use crate::delta::DeltaDataset;
use crate::evolution::{read_under_rules, rules_provider};

pub(crate) mod files;
use crate::error::{DatasetFailure, RegistrationError};

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
    /// `strict` (none declared), `delta` (delta-rs reads the table) or `none`.
    pub adapter: &'static str,
}

impl RegisteredDataset {
    /// The Delta table behind a Delta dataset.
    pub fn delta(&self) -> Option<&DeltaDataset> {
        self.provider.downcast_ref::<DeltaDataset>()
    }
}

/// Registers every dataset, or returns every failure and registers none.
pub(crate) async fn register_all(
    state: &SessionState,
    datasets: &[DatasetSpec],
) -> Result<Vec<RegisteredDataset>, RegistrationError> {
    let started = std::time::Instant::now();
    let total = datasets.len();
    let results: Vec<Result<RegisteredDataset, String>> = futures::stream::iter(datasets)
        .map(|spec| register(state, spec))
        .buffered(CONCURRENCY)
        .enumerate()
        .inspect(|(i, result)| {
            let done = i + 1;
            match result {
                Ok(r) => tracing::debug!(dataset = %r.spec.name, done, total, "registered"),
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
    let mut failures = Vec::new();
    for (spec, result) in datasets.iter().zip(results) {
        match result {
            Ok(r) => registered.push(r),
            Err(message) => failures.push(DatasetFailure {
                dataset: spec.name.clone(),
                origin: spec.origin.to_string(),
                message,
            }),
        }
    }
    tracing::info!(
        registered = registered.len(),
        failed = failures.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "registration finished"
    );
    if failures.is_empty() {
        Ok(registered)
    } else {
        Err(RegistrationError { failures })
    }
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
) -> Result<Planned, String> {
    let statement = DFParser::parse_sql(ddl)
        .map_err(|e| format!("canonical DDL does not parse: {}", e.strip_backtrace()))?
        .pop_front()
        .ok_or("canonical DDL is empty")?;
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| format!("canonical DDL does not plan: {}", e.strip_backtrace()))?;
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
    cmd.schema = Arc::new(DFSchema::try_from(Arc::clone(&contract)).map_err(|e| e.to_string())?);

    let factory = state
        .table_factories()
        .get(cmd.file_type.as_str())
        .ok_or_else(|| format!("no table factory for STORED AS {}", cmd.file_type))?;
    let provider = factory
        .create(state, &cmd)
        .await
        .map_err(|e| e.strip_backtrace().to_string())?;
    Ok(Planned {
        cmd,
        provider,
        notes,
    })
}

async fn register(state: &SessionState, spec: &DatasetSpec) -> Result<RegisteredDataset, String> {
    let ddl = spec.ddl();
    let Planned {
        cmd,
        provider,
        mut notes,
    } = plan(state, spec, &ddl).await?;
    let contract = spec.schema();
    let (provider, adapter) = if let Some(listing) = provider.downcast_ref::<ListingTable>() {
        verify_schema(&contract, &provider.schema())?;
        files::check(state, spec, listing).await?;
        let table = with_evolution(state, spec, listing, &cmd).map_err(|e| e.strip_backtrace())?;
        let adapter = if spec.evolution.is_some() {
            "evolution"
        } else {
            "strict"
        };
        (table, adapter)
    } else if let Some(delta) = provider.downcast_ref::<DeltaDataset>() {
        // The factory checked the table's own schema against the contract; what scans
        // produce differs only by the configured view and dictionary types.
        notes.extend(crate::delta::attach(spec, delta)?);
        (provider, "delta")
    } else {
        verify_schema(&contract, &provider.schema())?;
        (provider, "none")
    };

    Ok(RegisteredDataset {
        schema_fingerprint: crate::contract::schema_fingerprint(&contract),
        spec: spec.clone(),
        ddl,
        notes,
        provider,
        adapter,
    })
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

/// Every way `actual` differs from the contract's schema, in column order.
pub(crate) fn schema_diffs(contract: &Schema, actual: &Schema) -> Vec<String> {
    let mut diffs = Vec::new();
    if contract.fields().len() != actual.fields().len() {
        diffs.push(format!(
            "{} columns, contract has {}",
            actual.fields().len(),
            contract.fields().len()
        ));
    }
    for (i, (c, r)) in contract.fields().iter().zip(actual.fields()).enumerate() {
        if c.name() != r.name() {
            diffs.push(format!(
                "column {i} is `{}`, contract says `{}`",
                r.name(),
                c.name()
            ));
        } else if c.data_type() != r.data_type() {
            diffs.push(format!(
                "column `{}` is {}, contract says {}",
                c.name(),
                r.data_type(),
                c.data_type()
            ));
        } else if c.is_nullable() != r.is_nullable() {
            let null = |n: bool| if n { "nullable" } else { "NOT NULL" };
            diffs.push(format!(
                "column `{}` is {}, contract says {}",
                c.name(),
                null(r.is_nullable()),
                null(c.is_nullable())
            ));
        }
    }
    diffs
}
