//! Result rows in an engine-neutral form, and their comparison across engines.
//!
//! Engines disagree on result types (DataFusion keeps `DECIMAL(38, 6)` averages, DuckDB
//! returns `DOUBLE`; `extract(year …)` is INT in one and BIGINT in the other), so every
//! number becomes an `f64` compared with a tolerance, and dates and strings become text.

use std::cmp::Ordering;

use canon::datafusion::arrow::array::{Array, RecordBatch, StringArray};
use canon::datafusion::arrow::compute::cast;
use canon::datafusion::arrow::datatypes::DataType;

use crate::BenchResult;

/// Relative tolerance for numbers (decimals read as floats, floating-point sums).
const RELATIVE: f64 = 1e-6;
/// Absolute tolerance for numbers: a cent, the unit of TPC-H's money columns.
const ABSOLUTE: f64 = 1e-2;

/// One result value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Num(f64),
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl Value {
    fn close_to(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Num(a), Value::Num(b)) => {
                let diff = (a - b).abs();
                diff <= ABSOLUTE || diff <= RELATIVE * a.abs().max(b.abs())
            }
            (a, b) => a == b,
        }
    }

    /// A total order for sorting rows of queries whose ORDER BY is not total.
    fn order(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Num(a), Value::Num(b)) => a.total_cmp(b),
            (Value::Num(_), Value::Text(_)) => Ordering::Less,
            (Value::Text(_), Value::Num(_)) => Ordering::Greater,
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
        }
    }
}

/// One result row.
pub type Row = Vec<Value>;

/// Rows of Arrow batches, numbers as `f64` and everything else as its text.
pub fn rows_from_batches(batches: &[RecordBatch]) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|column| {
                let data_type = column.data_type();
                if data_type.is_numeric() {
                    Ok(Column::Num(cast(column, &DataType::Float64)?))
                } else {
                    Ok(Column::Text(cast(column, &DataType::Utf8)?))
                }
            })
            .collect::<BenchResult<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c.value(i)).collect());
        }
    }
    Ok(rows)
}

enum Column {
    Num(canon::datafusion::arrow::array::ArrayRef),
    Text(canon::datafusion::arrow::array::ArrayRef),
}

impl Column {
    fn value(&self, i: usize) -> Value {
        let array = match self {
            Column::Num(a) | Column::Text(a) => a,
        };
        if array.is_null(i) {
            return Value::Null;
        }
        match self {
            Column::Num(a) => a
                .as_any()
                .downcast_ref::<canon::datafusion::arrow::array::Float64Array>()
                .map_or(Value::Null, |a| Value::Num(a.value(i))),
            Column::Text(a) => a
                .as_any()
                .downcast_ref::<StringArray>()
                .map_or(Value::Null, |a| Value::Text(a.value(i).to_string())),
        }
    }
}

/// Rows from a JSON array of arrays (the DuckDB script's output): numbers, strings, nulls.
pub fn rows_from_json(json: &serde_json::Value) -> BenchResult<Vec<Row>> {
    let rows = json.as_array().ok_or("rows are not a JSON array")?;
    rows.iter()
        .map(|row| {
            row.as_array()
                .ok_or_else(|| format!("row is not a JSON array: {row}"))?
                .iter()
                .map(|v| match v {
                    serde_json::Value::Null => Ok(Value::Null),
                    serde_json::Value::Number(n) => n
                        .as_f64()
                        .map(Value::Num)
                        .ok_or_else(|| format!("number out of range: {n}").into()),
                    serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
                    serde_json::Value::Bool(b) => Ok(Value::Text(b.to_string())),
                    other => Err(format!("unexpected JSON value in a row: {other}").into()),
                })
                .collect()
        })
        .collect()
}

/// Compares `actual` with `expected`, in order when the query's ORDER BY is total (the
/// order is part of the answer), otherwise as sorted multisets. The error names the first
/// differing row (its index after sorting, if sorted) and both versions of it.
pub fn compare(expected: &[Row], actual: &[Row], ordered: bool) -> Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!(
            "{} rows, expected {} (first expected row: {})",
            actual.len(),
            expected.len(),
            expected.first().map_or("none".into(), render)
        ));
    }
    let (expected, actual) = if ordered {
        (expected.to_vec(), actual.to_vec())
    } else {
        (sorted(expected), sorted(actual))
    };
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        let same = e.len() == a.len() && e.iter().zip(a).all(|(x, y)| x.close_to(y));
        if !same {
            return Err(format!(
                "row {i}{}: got {}, expected {}",
                if ordered { "" } else { " (sorted)" },
                render(a),
                render(e)
            ));
        }
    }
    Ok(())
}

fn sorted(rows: &[Row]) -> Vec<Row> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.order(y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len()))
    });
    rows
}

/// A row as `(v1, v2, …)`.
pub fn render(row: &Row) -> String {
    let cells: Vec<String> = row.iter().map(Value::to_string).collect();
    format!("({})", cells.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_and_order_aware() {
        let a = vec![
            vec![Value::Num(1.0), Value::Text("x".into())],
            vec![Value::Num(2.0), Value::Null],
        ];
        let b = vec![
            vec![Value::Num(2.004), Value::Null],
            vec![Value::Num(1.0), Value::Text("x".into())],
        ];
        assert!(compare(&a, &b, false).is_ok());
        assert!(compare(&a, &b, true).is_err());
        let c = vec![
            vec![Value::Num(1.5), Value::Text("x".into())],
            vec![Value::Num(2.0), Value::Null],
        ];
        assert!(compare(&a, &c, false).is_err());
    }
}
