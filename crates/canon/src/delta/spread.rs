//! A Delta snapshot as plain parquet file scans, for distributed plans.
//!
//! delta-rs 1.1 has no codec for its scan node (delta-io/delta-rs#4171), so a distributed
//! plan cannot ship it to workers. For a snapshot whose files are plain parquet in the
//! table's own schema — no deletion vectors, no column mapping, no file-id column asked
//! for — the scan is the table's data files as DataFusion's own parquet scan, with the
//! partition values from the log, which every worker can decode and split. Other
//! snapshots are refused with the reason, never read wrong.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Result, ScalarValue, internal_datafusion_err, plan_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use delta_kernel::table_features::ColumnMappingMode;
use object_store::ObjectMeta;
use object_store::path::Path;
use url::Url;

use super::state::{Inner, Loaded};

/// The table's scan as plain parquet file scans; an error naming the dataset and the
/// reason when the snapshot needs delta-rs's own scan.
pub(crate) fn scan(
    inner: &Inner,
    loaded: &Loaded,
    session: &dyn Session,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let refuse = |why: &str| {
        plan_err!(
            "Delta dataset `{}` cannot be read by distributed plans: {why}; delta-rs has no \
             codec for its own scan (delta-io/delta-rs#4171). Query it without workers \
             (CANON_WORKERS=\"\")",
            inner.name
        )
    };
    if inner.spec.file_column.is_some() {
        return refuse("its scan adds a file column (file_column)");
    }
    let state = loaded.table.snapshot().map_err(super::state::external)?;
    if let Some(mode) = state.snapshot().table_properties().column_mapping_mode
        && mode != ColumnMappingMode::None
    {
        return refuse("the table uses column mapping");
    }
    let output = loaded.scan.schema();
    let partition_columns: Vec<String> = state.metadata().partition_columns().to_vec();
    let is_partition = |name: &str| partition_columns.iter().any(|p| p == name);

    // The table schema of the parquet scan: data columns, then partition columns.
    let data_fields: Vec<FieldRef> = output
        .fields()
        .iter()
        .filter(|f| !is_partition(f.name()))
        .cloned()
        .collect();
    let partition_fields: Vec<FieldRef> = partition_columns
        .iter()
        .filter_map(|name| output.field_with_name(name).ok())
        .map(|f| Arc::new(f.clone()))
        .collect();
    let table_order: Vec<FieldRef> = data_fields
        .iter()
        .chain(&partition_fields)
        .cloned()
        .collect();

    let mut files = Vec::new();
    let root = Path::from_url_path(inner.url.path())
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    for file in state.log_data().iter() {
        if file.deletion_vector_descriptor().is_some() {
            return refuse("its files have deletion vectors");
        }
        if Url::parse(&file.path()).is_ok() {
            return refuse("its log names data files by absolute URL");
        }
        let Ok(size) = u64::try_from(file.size()) else {
            return plan_err!(
                "Delta dataset `{}`: the log gives {} a negative size ({})",
                inner.name,
                file.path(),
                file.size()
            );
        };
        // delta-rs's own reading of the logged path, under the table's root.
        let location: Path = root
            .parts()
            .chain(file.object_store_path().parts())
            .collect();
        let values = file.partition_values_map();
        let partition_values = partition_fields
            .iter()
            .map(|field| match values.get(field.name()).cloned().flatten() {
                // Delta writes an empty partition value for NULL.
                Some(text) if !text.is_empty() => {
                    ScalarValue::try_from_string(text, field.data_type())
                }
                _ => ScalarValue::try_new_null(field.data_type()),
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = ObjectMeta {
            location,
            last_modified: file.modification_datetime().unwrap_or_default(),
            size,
            e_tag: None,
            version: None,
        };
        files.push(PartitionedFile::new_from_meta(meta).with_partition_values(partition_values));
    }

    // Read the projected columns and those the filters need; filter; then project.
    let wanted: Vec<usize> = match projection {
        Some(p) => p.clone(),
        None => (0..output.fields().len()).collect(),
    };
    // The projection was planned against the schema the table had then; a writer may have
    // changed it since.
    if wanted.iter().any(|&i| i >= output.fields().len()) {
        return plan_err!(
            "Delta dataset `{}` changed its schema while the query was planned; run it again",
            inner.name
        );
    }
    let mut needed: HashSet<String> = wanted
        .iter()
        .filter_map(|&i| output.fields().get(i).map(|f| f.name().clone()))
        .collect();
    for filter in filters {
        for column in filter.column_refs() {
            needed.insert(column.name.clone());
        }
    }
    let read: Vec<usize> = table_order
        .iter()
        .enumerate()
        .filter(|(_, f)| needed.contains(f.name()))
        .map(|(i, _)| i)
        .collect();

    let store = format!("{}://{}", inner.url.scheme(), inner.url.authority());
    let table_schema = TableSchema::builder(Arc::new(Schema::new(data_fields)))
        .with_table_partition_cols(partition_fields)
        .build();
    let mut source = ParquetSource::new(table_schema)
        .with_table_parquet_options(session.table_options().parquet.clone());
    let predicate = conjunction(filters.iter().cloned());
    let read_schema = Arc::new(Schema::new(
        read.iter()
            .map(|&i| table_order[i].as_ref().clone())
            .collect::<Vec<Field>>(),
    ));
    let df_schema = DFSchema::try_from(Arc::clone(&read_schema))?;
    let physical_predicate = predicate
        .as_ref()
        .map(|p| session.create_physical_expr(p.clone(), &df_schema))
        .transpose()?;
    if let Some(p) = &physical_predicate
        && inner.spec.parquet_pushdown
    {
        source = source.with_predicate(Arc::clone(p));
    }
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(store)?, Arc::new(source))
        .with_file_group(FileGroup::new(files))
        .with_projection_indices(Some(read.clone()))?
        // With filters, rows are dropped after the scan: a limit on the scan would lose some.
        .with_limit(if filters.is_empty() { limit } else { None })
        .build();
    let mut plan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    // The filters are applied here, exactly: the table tells DataFusion what delta-rs's
    // scan would, which may be `Exact`, and then nothing above filters again.
    if let Some(p) = physical_predicate {
        plan = Arc::new(FilterExec::try_new(p, plan)?);
    }
    project(plan, &read_schema, &output, &wanted)
}

/// The columns `wanted` of `output`, in that order and with the scan's own types.
fn project(
    plan: Arc<dyn ExecutionPlan>,
    read: &SchemaRef,
    output: &SchemaRef,
    wanted: &[usize],
) -> Result<Arc<dyn ExecutionPlan>> {
    let exprs = wanted
        .iter()
        .map(|&i| {
            let field = output
                .fields()
                .get(i)
                .ok_or_else(|| internal_datafusion_err!("column {i} of {}", output))?;
            let index = read.index_of(field.name())?;
            let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), index));
            let expr = if read.field(index).data_type() == field.data_type() {
                column
            } else {
                Arc::new(CastExpr::new(column, field.data_type().clone(), None))
            };
            Ok(ProjectionExpr::new(expr, field.name().clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}
