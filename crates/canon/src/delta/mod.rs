//! Delta Lake datasets, through delta-rs: the scan configured from the contract, time
//! travel, the Change Data Feed as SQL, constraint-checked writes, and table maintenance.

mod changes;
mod factory;
pub mod ops;
mod session;
mod spec;
mod table;
mod write;

use serde::Serialize;

pub use changes::{TABLE_CHANGES, TableChanges};
pub use factory::{DeltaTableFactory, STORED_AS};
pub use spec::{DeltaSpec, TimeTravel};
pub use table::{Constraint, DeltaDataset};
pub use write::ConstraintViolation;

pub(crate) use spec::check_timestamp;

use crate::contract::DatasetSpec;

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
pub(crate) fn attach(spec: &DatasetSpec, dataset: &DeltaDataset) -> Result<Vec<String>, String> {
    let stored = ops::stored_constraints(&dataset.table()).map_err(|e| e.to_string())?;
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
