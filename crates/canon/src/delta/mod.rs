//! Delta Lake datasets, through delta-rs: the scan configured from the contract, time
//! travel, the Change Data Feed as SQL, constraint-checked writes, and table maintenance.
//!
//! An optional part of the runtime (cargo feature `delta`, on by default). It plugs into
//! the core through the registry's [`TableFormat`] hook: its table factory for
//! `STORED AS DELTA`, the `table_changes` function, and its state in `canon.datasets`.
//! The contract's Delta options are plain data in `canon_model::delta`.
//!
//! Layers, bottom to top: `error`; `table` (the provider over a delta-rs table) with
//! `write` (its constraint-checked sink); `factory` and `changes`; `ops` (maintenance);
//! this module's [`DeltaFormat`], the one thing the runtime registers.

mod changes;
mod dml;
mod error;
mod factory;
mod merge;
pub mod ops;
mod spread;
mod state;
mod table;
mod uploads;
mod write;

use std::sync::Arc;

use datafusion::catalog::{TableProvider, TableProviderFactory};
use serde::Serialize;

pub use canon_model::delta::{DeltaSpec, STORED_AS, TimeTravel};
pub use changes::{TABLE_CHANGES, TableChanges};
pub use error::DeltaError;
pub use factory::DeltaTableFactory;
pub use state::Constraint;
pub use table::DeltaDataset;
pub use write::ConstraintViolation;

use crate::contract::DatasetSpec;
use crate::error::BoxError;
use crate::policy::SqlPolicy;
use crate::registry::{
    CommitInfo, DatasetError, DatasetTables, RegisteredDataset, TableFormat, TableFunctionSpec,
};
use crate::stores::Stores;

/// Delta Lake as one of the runtime's table formats.
#[derive(Debug)]
pub struct DeltaFormat {
    stores: Arc<Stores>,
}

impl DeltaFormat {
    /// Delta tables read and written through the runtime's object stores.
    pub fn new(stores: Arc<Stores>) -> Self {
        Self { stores }
    }
}

#[async_trait::async_trait]
impl TableFormat for DeltaFormat {
    fn name(&self) -> &'static str {
        canon_model::Format::Delta.name()
    }

    fn stored_as(&self) -> &'static str {
        STORED_AS
    }

    fn factory(&self) -> Arc<dyn TableProviderFactory> {
        Arc::new(DeltaTableFactory::new(Arc::clone(&self.stores)))
    }

    fn adapter(&self) -> &'static str {
        // delta-rs reads the table's files under the table's own schema.
        "delta"
    }

    fn attach(
        &self,
        spec: &DatasetSpec,
        table: &Arc<dyn TableProvider>,
    ) -> Result<Vec<String>, DatasetError> {
        let dataset = table
            .downcast_ref::<DeltaDataset>()
            .ok_or("the DELTA table factory built something other than a Delta table")?;
        attach(spec, dataset)
    }

    fn state(&self, table: &dyn TableProvider) -> Option<serde_json::Value> {
        let dataset = table.downcast_ref::<DeltaDataset>()?;
        serde_json::to_value(dataset.state()).ok()
    }

    fn constraints(&self, table: &dyn TableProvider) -> Vec<(String, String)> {
        let Some(dataset) = table.downcast_ref::<DeltaDataset>() else {
            return Vec::new();
        };
        dataset
            .constraints()
            .into_iter()
            .map(|c| (c.name, c.expression))
            .collect()
    }

    fn table_functions(&self, datasets: &DatasetTables) -> Vec<TableFunctionSpec> {
        vec![TableFunctionSpec {
            name: TABLE_CHANGES,
            description: "The Change Data Feed of a Delta dataset between two versions or \
                          timestamps: its rows with _change_type, _commit_version and \
                          _commit_timestamp",
            function: Arc::new(TableChanges::new(Arc::clone(datasets))),
        }]
    }

    async fn commit_metadata(
        &self,
        spec: &DatasetSpec,
        key: &str,
        depth: usize,
    ) -> Result<Option<serde_json::Value>, BoxError> {
        if !ops::exists(spec, &self.stores).await? {
            return Ok(None);
        }
        Ok(ops::commit_metadata(spec, &self.stores, key, depth).await?)
    }

    async fn commits(
        &self,
        table: &dyn TableProvider,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, BoxError> {
        let Some(dataset) = table.downcast_ref::<DeltaDataset>() else {
            return Ok(Vec::new());
        };
        let commits = ops::history(dataset, Some(limit)).await?;
        Ok(commits
            .into_iter()
            .map(|c| CommitInfo {
                version: c.version,
                time: c.time,
                operation: c.operation,
                info: serde_json::from_str(&c.metrics).unwrap_or_default(),
            })
            .collect())
    }

    async fn exists(&self, spec: &DatasetSpec) -> Result<bool, BoxError> {
        Ok(ops::exists(spec, &self.stores).await?)
    }

    async fn create_if_absent(&self, spec: &DatasetSpec) -> Result<bool, BoxError> {
        if ops::exists(spec, &self.stores).await? {
            return Ok(false);
        }
        // The project declares the model, so building it may create its table whatever the
        // policy says of DDL in sessions.
        let policy = SqlPolicy {
            allow_ddl: true,
            ..SqlPolicy::default()
        };
        ops::create(spec, &policy, &self.stores).await?;
        Ok(true)
    }
}

impl RegisteredDataset {
    /// The Delta table behind a Delta dataset.
    pub fn delta(&self) -> Option<&DeltaDataset> {
        self.provider.downcast_ref::<DeltaDataset>()
    }
}

/// What registration read from a Delta table, for diagnostics and `canon.datasets`.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaState {
    /// The scan configuration from the contract.
    pub scan: DeltaSpec,
    /// The table version read.
    pub version: u64,
    /// The table's protocol: reader/writer versions and features.
    pub protocol: serde_json::Value,
    /// The constraints Canon's writes check, and whether the table stores each.
    pub constraints: Vec<Constraint>,
}

impl DeltaDataset {
    /// The table's state as last loaded.
    pub fn state(&self) -> DeltaState {
        let loaded = self.inner.loaded();
        let protocol = loaded
            .table
            .snapshot()
            .ok()
            .and_then(|s| serde_json::to_value(s.protocol()).ok())
            .unwrap_or_default();
        DeltaState {
            scan: self.spec().clone(),
            version: loaded.version,
            protocol,
            constraints: self.constraints(),
        }
    }
}

/// Attaches the contract's constraints to a registered Delta dataset, and says what
/// differs between the contract and the table in ways registration accepts.
fn attach(spec: &DatasetSpec, dataset: &DeltaDataset) -> Result<Vec<String>, DatasetError> {
    let stored = ops::stored_constraints(&dataset.table())
        .map_err(|e| DatasetError::caused(e.to_string(), e))?;
    let constraints = ops::contract_constraints(spec, &stored);
    let mut notes: Vec<String> = constraints
        .iter()
        .filter(|c| !c.stored)
        .map(|c| {
            format!(
                "constraint `{}` ({}) is not stored in the table: Canon's writes enforce it, \
                 other Delta writers will not",
                c.name, c.expression
            )
        })
        .collect();
    let scan = dataset.schema_of_scan();
    for (field, scanned) in spec.schema().fields().iter().zip(scan.fields()) {
        if field.data_type() != scanned.data_type() {
            notes.push(format!(
                "column `{}` is read as {} ({})",
                field.name(),
                scanned.data_type(),
                if spec.partitioned_by.contains(field.name()) {
                    "wrap_partition_values = true"
                } else {
                    "view_types = true"
                }
            ));
        }
    }
    dataset.set_constraints(constraints);
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use canon_model::delta::delta_read_type;
    use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
    use deltalake_core::kernel::StructType;
    use deltalake_core::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};

    /// What delta-rs's kernel reads a column of this type back as, or its refusal.
    fn kernel_round_trip(data_type: &DataType) -> Result<DataType, String> {
        let schema = Schema::new(vec![Field::new("c", data_type.clone(), true)]);
        let kernel: StructType = (&schema).try_into_kernel().map_err(|e| e.to_string())?;
        let back: Schema = (&kernel).try_into_arrow().map_err(|e| e.to_string())?;
        Ok(back.field(0).data_type().clone())
    }

    /// The model states Delta's type system as plain data; it must agree with delta-rs.
    #[test]
    fn model_delta_types_agree_with_delta_rs() {
        let item = |t: DataType| Arc::new(Field::new("item", t, true));
        let entries = Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Int32, true),
        ]);
        let types = vec![
            DataType::Null,
            DataType::Boolean,
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt16,
            DataType::UInt32,
            DataType::UInt64,
            DataType::Float16,
            DataType::Float32,
            DataType::Float64,
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Binary,
            DataType::LargeBinary,
            DataType::BinaryView,
            DataType::FixedSizeBinary(16),
            DataType::Date32,
            DataType::Date64,
            DataType::Time64(TimeUnit::Microsecond),
            DataType::Duration(TimeUnit::Second),
            DataType::Decimal128(10, 2),
            DataType::Decimal128(38, 38),
            DataType::Decimal128(10, -2),
            DataType::Decimal256(50, 2),
            DataType::Timestamp(TimeUnit::Second, None),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Timestamp(TimeUnit::Microsecond, None),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Millisecond, Some("utc".into())),
            DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into())),
            DataType::List(item(DataType::Int64)),
            DataType::LargeList(item(DataType::Utf8)),
            DataType::FixedSizeList(item(DataType::Float32), 3),
            DataType::List(item(DataType::List(item(DataType::UInt8)))),
            DataType::Struct(Fields::from(vec![
                Field::new("a", DataType::Int32, false),
                Field::new("b", DataType::LargeUtf8, true),
            ])),
            DataType::Map(
                Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                false,
            ),
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ];
        for data_type in types {
            let kernel = kernel_round_trip(&data_type);
            let model = delta_read_type(&data_type);
            match (&kernel, &model) {
                (Ok(k), Ok(m)) => assert_eq!(k, m, "{data_type} reads back differently"),
                (Err(_), Err(_)) => {}
                _ => panic!("{data_type}: delta-rs {kernel:?}, model {model:?}"),
            }
        }
    }
}
