//! Change Data Feed as SQL: `table_changes('dataset', start [, end])`, where `start` and
//! `end` are table versions or RFC 3339 timestamps, over delta-rs's CDF provider.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use deltalake_core::delta_datafusion::DeltaCdfTableProvider;
use deltalake_core::{DeltaTable, DeltaTableError};

use super::state::external;
use super::table::DeltaDataset;
use crate::registry::DatasetTables;
use canon_model::delta::check_timestamp;

/// The SQL name of the change-feed table function.
pub const TABLE_CHANGES: &str = "table_changes";

/// The table property that turns the Change Data Feed on.
pub(crate) const CDF_PROPERTY: &str = "delta.enableChangeDataFeed";

/// `table_changes('dataset', start [, end])` over the project's Delta datasets.
#[derive(Debug)]
pub struct TableChanges {
    tables: DatasetTables,
}

impl TableChanges {
    pub(crate) fn new(tables: DatasetTables) -> Self {
        Self { tables }
    }
}

/// Where a change range starts or ends.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Version(u64),
    Timestamp(chrono::DateTime<chrono::Utc>),
}

impl TableFunctionImpl for TableChanges {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let usage = "table_changes('dataset', start_version [, end_version]) or \
                     table_changes('dataset', 'start_timestamp' [, 'end_timestamp'])";
        let (name, start, end) = match args {
            [name, start] => (name, start, None),
            [name, start, end] => (name, start, Some(end)),
            _ => return plan_err!("{usage}"),
        };
        let Expr::Literal(ScalarValue::Utf8(Some(name)), _) = name else {
            return plan_err!("table_changes: the first argument is a dataset name; {usage}");
        };
        let start = bound(start, "start")?;
        let end = end.map(|e| bound(e, "end")).transpose()?;
        let dataset = self
            .tables
            .get(name)
            .and_then(|t| t.downcast_ref::<DeltaDataset>())
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "table_changes: `{name}` is not a Delta dataset of this project"
                )
            })?;
        let table = dataset.table();
        ensure_enabled(&table, name)?;
        // The schema comes from the snapshot at hand; the rows come from the latest
        // snapshot when the query runs (another writer may have committed since).
        let schema = feed(&table, &start, end.as_ref())?.schema();
        Ok(Arc::new(Changes {
            dataset: dataset.clone(),
            start,
            end,
            schema,
        }))
    }
}

/// The change rows of one dataset between two bounds.
#[derive(Debug)]
struct Changes {
    dataset: DeltaDataset,
    start: Bound,
    end: Option<Bound>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for Changes {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = self.dataset.latest().await?;
        ensure_enabled(&table, self.dataset.name())?;
        table.update_datafusion_session(session).map_err(external)?;
        let plan = feed(&table, &self.start, self.end.as_ref())?
            .scan(session, projection, filters, limit)
            .await?;
        // delta-rs plans a scan of each kind of change file, with no partitions when there
        // are no such files; DataFusion's optimizer cannot place a sort above a leaf with no
        // partitions, so empty leaves become empty single-partition scans.
        let plan = plan.transform_up(|node| {
            let empty =
                node.children().is_empty() && node.output_partitioning().partition_count() == 0;
            Ok(if empty {
                Transformed::yes(Arc::new(EmptyExec::new(node.schema())) as Arc<dyn ExecutionPlan>)
            } else {
                Transformed::no(node)
            })
        })?;
        Ok(plan.data)
    }
}

/// Whether a table records its Change Data Feed.
pub(crate) fn cdf_enabled(table: &DeltaTable) -> Result<bool, DeltaTableError> {
    Ok(table
        .snapshot()?
        .metadata()
        .configuration()
        .get(CDF_PROPERTY)
        .is_some_and(|v| v == "true"))
}

fn ensure_enabled(table: &DeltaTable, name: &str) -> Result<()> {
    if cdf_enabled(table).map_err(external)? {
        Ok(())
    } else {
        plan_err!(
            "table_changes: Delta dataset `{name}` does not record its Change Data Feed \
             (table property {CDF_PROPERTY} is not true); declare \
             `change_data_feed = true` in [dataset.delta] before `canon delta create`"
        )
    }
}

fn feed(table: &DeltaTable, start: &Bound, end: Option<&Bound>) -> Result<DeltaCdfTableProvider> {
    let mut builder = table.clone().scan_cdf();
    builder = match start {
        Bound::Version(v) => builder.with_starting_version(*v),
        Bound::Timestamp(t) => builder.with_starting_timestamp(*t),
    };
    builder = match end {
        None => builder,
        Some(Bound::Version(v)) => builder.with_ending_version(*v),
        Some(Bound::Timestamp(t)) => builder.with_ending_timestamp(*t),
    };
    DeltaCdfTableProvider::try_new(builder).map_err(external)
}

fn bound(expr: &Expr, which: &str) -> Result<Bound> {
    let value = match expr {
        Expr::Literal(value, _) => value,
        other => return plan_err!("table_changes: the {which} must be a literal, not `{other}`"),
    };
    match value {
        ScalarValue::Int64(Some(v)) if *v >= 0 => Ok(Bound::Version(*v as u64)),
        ScalarValue::Utf8(Some(text)) => {
            check_timestamp(text).map_err(|e| plan_datafusion_err!("table_changes: {e}"))?;
            let parsed = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| plan_datafusion_err!("table_changes: {e}"))?;
            Ok(Bound::Timestamp(parsed.with_timezone(&chrono::Utc)))
        }
        other => plan_err!(
            "table_changes: the {which} is a table version (a non-negative integer) or an \
             RFC 3339 timestamp string, not {other}"
        ),
    }
}
