//! Results as text formats write them: what Arrow's JSON writer needs to write every value
//! as valid JSON. The CLI's output and the HTTP API's answers share it, so both write the
//! same JSON for the same rows.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::error::ArrowError;

/// The batch with every column Arrow's JSON writer would not write as a valid JSON number
/// recast: a decimal with a negative scale prints its digits followed by zeros (a zero
/// becomes `0000`), so it is written at scale 0, the same value. Non-finite floats (NaN,
/// ±Infinity) are written as `null` by Arrow's writer, as JSON has no word for them.
pub fn json_ready(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let scale_zero = |t: &DataType| match t {
        DataType::Decimal128(p, s) if *s < 0 => {
            let digits = s.unsigned_abs();
            let precision = p.saturating_add(digits);
            Some(if precision <= 38 {
                DataType::Decimal128(precision, 0)
            } else {
                DataType::Decimal256(precision.min(76), 0)
            })
        }
        DataType::Decimal256(p, s) if *s < 0 => {
            let digits = s.unsigned_abs();
            Some(DataType::Decimal256(p.saturating_add(digits).min(76), 0))
        }
        _ => None,
    };
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| scale_zero(f.data_type()).is_some())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match scale_zero(field.data_type()) {
            Some(t) => {
                columns.push(cast(column, &t)?);
                fields.push(field.as_ref().clone().with_data_type(t));
            }
            None => {
                columns.push(Arc::clone(column));
                fields.push(field.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
