//! Validation of `[dataset.delta]` and of the parts of a contract Delta constrains: every
//! column type must be one Delta stores and reads back unchanged.

use std::ops::Range;

use toml::Spanned;

use super::raw::RawDelta;
use super::validate::{DeltaContext, Validator};
use crate::contract::ColumnSpec;
use crate::delta::{DeltaSpec, TimeTravel, check_timestamp, delta_read_type};

impl Validator<'_> {
    pub(super) fn delta(
        &mut self,
        raw: Option<Spanned<RawDelta>>,
        cx: DeltaContext<'_>,
        columns: &[ColumnSpec],
        key: &dyn Fn(&str) -> String,
    ) -> Option<DeltaSpec> {
        if !cx.is_delta {
            if let Some(raw) = raw {
                let message = "[dataset.delta] is for datasets with format = \"delta\"";
                self.problem(raw.span(), key("delta"), message);
            }
            return None;
        }
        if let Some(span) = cx.evolution {
            let message = "Delta tables keep their own schema history; evolution rules apply \
                           to file datasets (parquet, csv, json, arrow)";
            self.problem(span, key("evolution"), message);
        }
        if let Some(first) = cx.ordered_by.first() {
            let message = "Delta tables do not declare a file sort order; remove ordered_by";
            self.problem(first.span(), key("ordered_by"), message);
        }
        self.delta_types(columns, cx.format.clone(), key);

        let mut spec = DeltaSpec::default();
        let Some(raw) = raw else {
            return Some(spec);
        };
        let raw = raw.into_inner();
        if let Some(column) = raw.file_column {
            if columns.iter().any(|c| &c.name == column.get_ref()) {
                let message = format!(
                    "file column `{}` is already a contract column",
                    column.get_ref()
                );
                self.problem(column.span(), key("delta.file_column"), message);
            }
            spec.file_column = Some(column.into_inner());
        }
        spec.parquet_pushdown = raw.parquet_pushdown.unwrap_or(spec.parquet_pushdown);
        spec.view_types = raw.view_types.unwrap_or(spec.view_types);
        spec.wrap_partition_values = raw
            .wrap_partition_values
            .unwrap_or(spec.wrap_partition_values);
        spec.change_data_feed = raw.change_data_feed.unwrap_or(spec.change_data_feed);
        match (raw.version, raw.timestamp) {
            (Some(_), Some(timestamp)) => {
                let message = "a dataset reads either a `version` or a `timestamp`, not both";
                self.problem(timestamp.span(), key("delta.timestamp"), message);
            }
            (Some(version), None) => match u64::try_from(*version.get_ref()) {
                Ok(v) => spec.time_travel = Some(TimeTravel::Version(v)),
                Err(_) => {
                    let message = "a table version is 0 or more";
                    self.problem(version.span(), key("delta.version"), message);
                }
            },
            (None, Some(timestamp)) => match check_timestamp(timestamp.get_ref()) {
                Ok(()) => {
                    spec.time_travel = Some(TimeTravel::Timestamp(timestamp.into_inner()));
                }
                Err(message) => self.problem(timestamp.span(), key("delta.timestamp"), message),
            },
            (None, None) => {}
        }
        Some(spec)
    }

    /// Each column's type must survive the round trip through Delta's type system, or the
    /// table would read back as something else than the contract says.
    fn delta_types(
        &mut self,
        columns: &[ColumnSpec],
        span: Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) {
        for (i, column) in columns.iter().enumerate() {
            let message = match delta_read_type(&column.data_type) {
                Err(e) => format!("{} has no Delta Lake type: {e}", column.data_type),
                Ok(back) if back != column.data_type => format!(
                    "{} is stored by Delta Lake as {back} and reads back as that; declare {back}",
                    column.data_type,
                ),
                Ok(_) => continue,
            };
            self.problem(span.clone(), key(&format!("columns[{i}].type")), message);
        }
    }
}
