//! A batch's rows as Postgres `DataRow` messages, or as tuples of binary COPY, written into
//! one buffer per batch.
//!
//! arrow-pg encodes value by value: each one matches the column's type, downcasts the
//! array, reads the field's metadata and goes through the `ToSql` machinery, and each row
//! gets a buffer of its own. That held Postgres wire at 1.5–2 M rows/s. Here each column
//! is downcast once per batch, the types clients read most (booleans, integers, floats and
//! strings) are written straight from the arrays, and every row of a batch shares one
//! allocation, split off as the rows end. Any other type keeps arrow-pg's encoding, value by
//! value, so its text and binary forms stay the ones arrow-pg defines.

use std::sync::Arc;

use arrow_pg::encoder::encode_value;
use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeStringArray, PrimitiveArray, RecordBatch,
    StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
};
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

/// Encodes every row of `batch` for a result described by `fields`, into `buffer`. The
/// rows share its allocation; once they have all been sent, the next batch reuses it (a
/// fresh one per batch cost as much in page faults as the encoding itself).
pub(super) fn encode(
    fields: &Arc<Vec<FieldInfo>>,
    batch: &RecordBatch,
    buffer: &mut BytesMut,
) -> PgWireResult<Vec<DataRow>> {
    let count = field_count(fields)?;
    write_rows(fields, batch, buffer, None, |row| DataRow::new(row, count))
}

/// Encodes every row of `batch` as a tuple of binary COPY: its field count, then each
/// field as a result row carries it. `fields` must all be in binary format.
pub(super) fn tuples(
    fields: &Arc<Vec<FieldInfo>>,
    batch: &RecordBatch,
    buffer: &mut BytesMut,
) -> PgWireResult<Vec<Bytes>> {
    let count = field_count(fields)?;
    write_rows(fields, batch, buffer, Some(count), BytesMut::freeze)
}

/// The number of fields in a row, as the protocol counts them.
fn field_count(fields: &[FieldInfo]) -> PgWireResult<i16> {
    i16::try_from(fields.len())
        .map_err(|_| PgWireError::ApiError("more than 32767 columns in one row".into()))
}

/// Writes every row of `batch` into `buffer`, each led by `count` when given, and makes
/// each row's bytes into a message with `message` as the row ends.
fn write_rows<M>(
    fields: &Arc<Vec<FieldInfo>>,
    batch: &RecordBatch,
    buffer: &mut BytesMut,
    count: Option<i16>,
    message: impl Fn(BytesMut) -> M,
) -> PgWireResult<Vec<M>> {
    let schema = batch.schema();
    if fields.len() != batch.num_columns() {
        return Err(PgWireError::ApiError(
            format!(
                "a batch of {} columns for a result of {}",
                batch.num_columns(),
                fields.len()
            )
            .into(),
        ));
    }
    let columns: Vec<Column<'_>> = batch
        .columns()
        .iter()
        .zip(schema.fields().iter())
        .zip(fields.iter())
        .map(|((array, field), pg)| Column::of(array, field, pg))
        .collect();
    let mut slow = DataRowEncoder::new(Arc::clone(fields));
    // Left over only by a batch that failed half-way.
    buffer.clear();
    buffer.reserve(estimate(batch, count.is_some()));
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        if let Some(count) = count {
            buffer.put_i16(count);
        }
        for column in &columns {
            column.write(row, buffer, &mut slow)?;
        }
        rows.push(message(buffer.split()));
    }
    Ok(rows)
}

/// The bytes a batch's rows take: each value's length and its bytes (strings' whole data
/// buffers, other types a guess), so that one allocation usually holds them all.
fn estimate(batch: &RecordBatch, counted: bool) -> usize {
    let rows = batch.num_rows();
    let counts = if counted { rows.saturating_mul(2) } else { 0 };
    let values: usize = batch
        .columns()
        .iter()
        .map(|column| {
            let width = match column.data_type() {
                DataType::Utf8 => column.as_string::<i32>().value_data().len(),
                DataType::LargeUtf8 => column.as_string::<i64>().value_data().len(),
                DataType::Utf8View => column.as_string_view().total_bytes_len(),
                other => rows.saturating_mul(other.primitive_width().unwrap_or(16)),
            };
            width.saturating_add(rows.saturating_mul(4))
        })
        .fold(counts, usize::saturating_add);
    values.min(64 << 20)
}

/// One column of a batch, downcast once, with the form its values go out in.
enum Column<'a> {
    Bool(&'a BooleanArray, FieldFormat),
    Int16(&'a PrimitiveArray<Int16Type>, FieldFormat),
    Int32(&'a PrimitiveArray<Int32Type>, FieldFormat),
    Int64(&'a PrimitiveArray<Int64Type>, FieldFormat),
    /// Floats only in binary: their text form is arrow-pg's (`Infinity`, `NaN`, digits).
    Float32(&'a PrimitiveArray<Float32Type>),
    Float64(&'a PrimitiveArray<Float64Type>),
    /// Text is the same bytes in either format.
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    /// Every other type, encoded by arrow-pg value by value.
    Other {
        array: &'a ArrayRef,
        field: &'a Field,
        pg: &'a FieldInfo,
    },
}

impl<'a> Column<'a> {
    fn of(array: &'a ArrayRef, field: &'a Field, pg: &'a FieldInfo) -> Self {
        let format = pg.format();
        let binary = format == FieldFormat::Binary;
        let ty = pg.datatype();
        match array.data_type() {
            DataType::Boolean if *ty == Type::BOOL => Self::Bool(array.as_boolean(), format),
            DataType::Int16 if *ty == Type::INT2 => Self::Int16(array.as_primitive(), format),
            DataType::Int32 if *ty == Type::INT4 => Self::Int32(array.as_primitive(), format),
            DataType::Int64 if *ty == Type::INT8 => Self::Int64(array.as_primitive(), format),
            DataType::Float32 if binary && *ty == Type::FLOAT4 => {
                Self::Float32(array.as_primitive())
            }
            DataType::Float64 if binary && *ty == Type::FLOAT8 => {
                Self::Float64(array.as_primitive())
            }
            DataType::Utf8 if is_text(ty) => Self::Utf8(array.as_string()),
            DataType::LargeUtf8 if is_text(ty) => Self::LargeUtf8(array.as_string()),
            DataType::Utf8View if is_text(ty) => Self::Utf8View(array.as_string_view()),
            _ => Self::Other { array, field, pg },
        }
    }

    /// Appends the value at `row`, its length first (-1 for null).
    fn write(&self, row: usize, out: &mut BytesMut, slow: &mut DataRowEncoder) -> PgWireResult<()> {
        match self {
            Self::Bool(a, format) => match a.is_valid(row).then(|| a.value(row)) {
                None => out.put_i32(-1),
                Some(value) => {
                    out.put_i32(1);
                    out.put_u8(match format {
                        FieldFormat::Binary => u8::from(value),
                        FieldFormat::Text if value => b't',
                        FieldFormat::Text => b'f',
                    });
                }
            },
            Self::Int16(a, format) => integer(a, row, *format, out, BytesMut::put_i16)?,
            Self::Int32(a, format) => integer(a, row, *format, out, BytesMut::put_i32)?,
            Self::Int64(a, format) => integer(a, row, *format, out, BytesMut::put_i64)?,
            Self::Float32(a) => binary(a, row, out, BytesMut::put_f32),
            Self::Float64(a) => binary(a, row, out, BytesMut::put_f64),
            Self::Utf8(a) => bytes(a.is_valid(row).then(|| a.value(row).as_bytes()), out)?,
            Self::LargeUtf8(a) => bytes(a.is_valid(row).then(|| a.value(row).as_bytes()), out)?,
            Self::Utf8View(a) => bytes(a.is_valid(row).then(|| a.value(row).as_bytes()), out)?,
            Self::Other { array, field, pg } => {
                encode_value(slow, array, row, field, pg)?;
                // The encoder's row holds just this value, its length first.
                out.put_slice(&slow.take_row().data);
            }
        }
        Ok(())
    }
}

/// Whether a Postgres type takes a string's bytes as they are.
fn is_text(ty: &Type) -> bool {
    *ty == Type::TEXT || *ty == Type::VARCHAR
}

/// Appends an integer: big-endian in binary, decimal digits in text.
fn integer<T>(
    array: &PrimitiveArray<T>,
    row: usize,
    format: FieldFormat,
    out: &mut BytesMut,
    put: fn(&mut BytesMut, T::Native),
) -> PgWireResult<()>
where
    T: ArrowPrimitiveType,
    T::Native: itoa::Integer,
{
    match format {
        FieldFormat::Binary => {
            binary(array, row, out, put);
            Ok(())
        }
        FieldFormat::Text => {
            let mut digits = itoa::Buffer::new();
            let value = array
                .is_valid(row)
                .then(|| digits.format(array.value(row)).as_bytes());
            bytes(value, out)
        }
    }
}

/// Appends a fixed-width number in Postgres' binary form (big-endian).
fn binary<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    row: usize,
    out: &mut BytesMut,
    put: fn(&mut BytesMut, T::Native),
) {
    if array.is_null(row) {
        out.put_i32(-1);
        return;
    }
    // Native widths are 2, 4 or 8 bytes.
    out.put_i32(std::mem::size_of::<T::Native>() as i32);
    put(out, array.value(row));
}

/// Appends a value's bytes after their length (-1 for null): a string's, the same in text
/// and binary, or an integer's digits.
fn bytes(value: Option<&[u8]>, out: &mut BytesMut) -> PgWireResult<()> {
    match value {
        None => out.put_i32(-1),
        Some(value) => {
            let length = i32::try_from(value.len()).map_err(|_| {
                PgWireError::ApiError("a string longer than 2 GiB in one value".into())
            })?;
            out.put_i32(length);
            out.put_slice(value);
        }
    }
    Ok(())
}
