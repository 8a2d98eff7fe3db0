//! Which file columns stand for which contract columns, and which type changes are
//! safe to read through.

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;

use super::{EvolutionSpec, MissingPolicy};
use crate::contract::ColumnSpec;

/// How one contract column is read from one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileColumn {
    /// Stored under its own name (or its old name, when renamed) with a readable type.
    Present {
        /// The physical column name in the file.
        physical: String,
        /// The physical type, when it differs from the contract's.
        widened_from: Option<DataType>,
    },
    /// Absent from the file, filled by the rules (null or default).
    Filled,
}

/// Resolves a contract column against a file schema under the rules; `Err` says why the
/// file cannot be read as the contract.
pub fn resolve_file_column(
    column: &ColumnSpec,
    file: &Schema,
    rules: &EvolutionSpec,
) -> Result<FileColumn, String> {
    let physical = match file.field_with_name(&column.name) {
        Ok(field) => Some(field),
        Err(_) => rules
            .old_name_of(&column.name)
            .and_then(|old| file.field_with_name(old).ok()),
    };
    let Some(field) = physical else {
        let renamed = rules
            .old_name_of(&column.name)
            .map(|old| format!(" (nor its old name `{old}`)"))
            .unwrap_or_default();
        return match rules.missing {
            MissingPolicy::Null if column.nullable => Ok(FileColumn::Filled),
            MissingPolicy::Null => Err(format!(
                "column `{}`{renamed} is missing and is NOT NULL, so it cannot be read as null",
                column.name
            )),
            MissingPolicy::Default if rules.defaults.contains_key(&column.name) => {
                Ok(FileColumn::Filled)
            }
            MissingPolicy::Default => Err(format!(
                "column `{}`{renamed} is missing and has no default in evolution.defaults",
                column.name
            )),
            MissingPolicy::Error => Err(format!("column `{}`{renamed} is missing", column.name)),
        };
    };
    let (file_type, contract_type) = (field.data_type(), &column.data_type);
    let widened_from = if same_layout_family(file_type, contract_type) {
        None
    } else if rules.widen && is_safe_widening(file_type, contract_type) {
        Some(file_type.clone())
    } else if rules.widen {
        return Err(format!(
            "column `{}` is {file_type} in the file, contract says {contract_type}: not a safe \
             widening (it could lose values)",
            column.name
        ));
    } else {
        return Err(format!(
            "column `{}` is {file_type} in the file, contract says {contract_type}",
            column.name
        ));
    };
    Ok(FileColumn::Present {
        physical: field.name().clone(),
        widened_from,
    })
}

/// Types that differ only in physical layout (string and binary views, large offsets, a
/// decimal stored in 32 or 64 bits read as the `Decimal128` of its precision and scale)
/// read as one another without any rule.
fn same_layout_family(file: &DataType, contract: &DataType) -> bool {
    use DataType::*;
    let family = |t: &DataType| match t {
        Utf8 | LargeUtf8 | Utf8View => Some(0),
        Binary | LargeBinary | BinaryView => Some(1),
        _ => None,
    };
    let wider_decimal = matches!(
        (file, contract),
        (Decimal32(p1, s1) | Decimal64(p1, s1), Decimal128(p2, s2)) if p1 == p2 && s1 == s2
    );
    file == contract
        || wider_decimal
        || (family(file).is_some() && family(file) == family(contract))
}

/// Whether every value of `from` is exactly representable in `to`.
pub fn is_safe_widening(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let unit_rank = |u: &TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    match (from, to) {
        _ if same_layout_family(from, to) => true,
        (Int8, Int16 | Int32 | Int64 | Float32 | Float64)
        | (Int16, Int32 | Int64 | Float32 | Float64)
        | (Int32, Int64 | Float64)
        | (UInt8, UInt16 | UInt32 | UInt64 | Int16 | Int32 | Int64 | Float32 | Float64)
        | (UInt16, UInt32 | UInt64 | Int32 | Int64 | Float32 | Float64)
        | (UInt32, UInt64 | Int64 | Float64)
        | (Float16, Float32 | Float64)
        | (Float32, Float64)
        | (Date32, Date64) => true,
        (Timestamp(from_unit, from_tz), Timestamp(to_unit, to_tz)) => {
            from_tz == to_tz && unit_rank(from_unit) <= unit_rank(to_unit)
        }
        (
            Decimal32(p1, s1) | Decimal64(p1, s1) | Decimal128(p1, s1),
            Decimal128(p2, s2) | Decimal256(p2, s2),
        ) => s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1),
        _ => false,
    }
}

/// For a widening that multiplies stored values (a timestamp to a finer unit), the factor.
///
/// Such a widening keeps every value only within the finer unit's range (nanoseconds reach
/// the years 1677 to 2262). Scans cast with DataFusion's checked cast, which refuses a
/// value that overflows instead of wrapping or nulling it; registration also checks the
/// values each file's statistics show (see [`check_widened_value`]).
pub fn widening_factor(from: &DataType, to: &DataType) -> Option<i64> {
    let per_second = |u: &TimeUnit| match u {
        TimeUnit::Second => 1_i64,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    match (from, to) {
        (DataType::Timestamp(f, _), DataType::Timestamp(t, _)) => {
            let factor = per_second(t).checked_div(per_second(f))?;
            (factor > 1).then_some(factor)
        }
        _ => None,
    }
}

/// Checks that a stored value (a file statistic: a column's minimum or maximum) still
/// fits when widened by `factor` into `contract`; `Err` says which value does not.
pub fn check_widened_value(
    column: &str,
    value: &ScalarValue,
    factor: i64,
    contract: &DataType,
) -> Result<(), String> {
    let stored = match value {
        ScalarValue::TimestampSecond(v, _)
        | ScalarValue::TimestampMillisecond(v, _)
        | ScalarValue::TimestampMicrosecond(v, _)
        | ScalarValue::TimestampNanosecond(v, _) => *v,
        _ => None,
    };
    match stored.map(|v| v.checked_mul(factor)) {
        Some(None) => {
            // As a time where Arrow can show it, else the stored number.
            let shown = value
                .to_array()
                .ok()
                .and_then(|array| array_value_to_string(&array, 0).ok())
                .unwrap_or_else(|| value.to_string());
            Err(format!(
                "column `{column}` holds {shown} ({}), which {contract} cannot hold: widened, \
                 it would overflow (nanoseconds reach only the years 1677 to 2262)",
                value.data_type()
            ))
        }
        _ => Ok(()),
    }
}
