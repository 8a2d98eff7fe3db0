//! Arrow types in DDL: the SQL spelling DataFusion's planner reads for each type, and
//! `ARROW('<type>')` for the types SQL has no word for.
//!
//! DataFusion's SQL types cover the common Arrow types but not all of them (no
//! `LargeUtf8`, dictionaries, durations, maps…). Rather than registering such columns
//! outside of DDL, the runtime plugs a type planner into every session that reads
//! `ARROW('<arrow type name>')`, so the canonical DDL describes every contract exactly.

use arrow_schema::{DataType, IntervalUnit, TimeUnit};

use crate::util::quote_literal;

/// The SQL type Canon writes in DDL for an Arrow type.
///
/// Each Arrow type has its own spelling, so different contracts never render the same
/// DDL. Standard SQL names are used where DataFusion has one for exactly that type; their
/// planned type can still depend on session settings (`VARCHAR` plans as `Utf8View`
/// while `datafusion.sql_parser.map_string_types_to_utf8view` is on), which registration
/// detects and records. Every other type is written as `ARROW('<type>')`.
pub fn sql_type(data_type: &DataType) -> String {
    let plain = match data_type {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 => "TINYINT",
        DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INT",
        DataType::Int64 => "BIGINT",
        DataType::UInt8 => "TINYINT UNSIGNED",
        DataType::UInt16 => "SMALLINT UNSIGNED",
        DataType::UInt32 => "INT UNSIGNED",
        DataType::UInt64 => "BIGINT UNSIGNED",
        DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 => "VARCHAR",
        DataType::Binary => "BYTEA",
        DataType::Date32 => "DATE",
        DataType::Time64(TimeUnit::Nanosecond) => "TIME",
        DataType::Interval(IntervalUnit::MonthDayNano) => "INTERVAL",
        // `WITH TIME ZONE` takes the session's zone, so zoned timestamps use ARROW(...).
        DataType::Timestamp(unit, None) => {
            let precision = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            return format!("TIMESTAMP({precision})");
        }
        DataType::Decimal128(p, s) if *p <= 38 => return format!("DECIMAL({p}, {s})"),
        DataType::Decimal256(p, s) if *p > 38 => return format!("DECIMAL({p}, {s})"),
        other => return arrow_type(other),
    };
    plain.to_string()
}

/// `ARROW('<type>')`: Canon's exact spelling of any Arrow type in DDL.
fn arrow_type(data_type: &DataType) -> String {
    format!("ARROW({})", quote_literal(&data_type.to_string()))
}
