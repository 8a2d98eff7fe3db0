//! The canonical encoding behind `stable_hash64` and `stable_id`: each value becomes a
//! type tag and a fixed-width little-endian payload (or a length-prefixed one), and the
//! concatenation is hashed with XXH64, seed 0. Written out in [`ENCODING`]; changing any
//! of it changes every identity built with Canon.

use std::hash::Hasher;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float16Type, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type, i256,
};
use datafusion::common::{Result, plan_err};
use twox_hash::XxHash64;

/// The canonical encoding, as documented in `information_schema` and `canon.functions`.
pub const ENCODING: &str = "XXH64 (seed 0) of the concatenated encodings of the values, in \
argument order; the 64-bit digest is returned as a BIGINT (two's complement). Encoding v1, all \
integers little-endian: NULL of any type = 0x00; boolean = 0x01 + 1 byte (0 or 1); integer of \
any width or sign = 0x02 + 16-byte i128; float of any width = 0x03 + 8-byte IEEE-754 f64 bits \
(widened exactly; -0.0 as 0.0; every NaN as 0x7ff8000000000000); decimal = 0x04 + 1-byte scale \
+ 32-byte i256 unscaled value, trailing zeros removed while the scale is positive (1.50 = 1.5); \
string (Utf8, LargeUtf8, Utf8View) = 0x05 + 8-byte byte length + UTF-8 bytes; binary = 0x06 + \
8-byte length + bytes; date = 0x07 + 8-byte days since 1970-01-01; timestamp (any unit and \
zone) = 0x08 + 16-byte nanoseconds since the epoch (UTC); time = 0x09 + 8-byte nanoseconds since \
midnight; duration = 0x0a + 16-byte nanoseconds. Dictionary values are encoded as their \
values. Type tags and lengths make (1, 'a'), ('1a') and ('1', 'a') all differ.";

const NULL: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const FLOAT: u8 = 0x03;
const DECIMAL: u8 = 0x04;
const STRING: u8 = 0x05;
const BINARY: u8 = 0x06;
const DATE: u8 = 0x07;
const TIMESTAMP: u8 = 0x08;
const TIME: u8 = 0x09;
const DURATION: u8 = 0x0a;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The type an argument is hashed as; dictionaries by their values, narrow decimals as
/// Decimal128 (same value), anything without a canonical encoding is refused.
pub(super) fn hashable(function: &str, position: usize, data_type: &DataType) -> Result<DataType> {
    use DataType as D;
    Ok(match data_type {
        D::Dictionary(_, values) => hashable(function, position, values)?,
        D::Decimal32(p, s) | D::Decimal64(p, s) => D::Decimal128(*p, *s),
        D::Null
        | D::Boolean
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float16
        | D::Float32
        | D::Float64
        | D::Decimal128(..)
        | D::Decimal256(..)
        | D::Utf8
        | D::LargeUtf8
        | D::Utf8View
        | D::Binary
        | D::LargeBinary
        | D::BinaryView
        | D::FixedSizeBinary(_)
        | D::Date32
        | D::Date64
        | D::Timestamp(..)
        | D::Time32(_)
        | D::Time64(_)
        | D::Duration(_) => data_type.clone(),
        other => {
            return plan_err!(
                "{function} cannot hash argument {position} of type {other}: supported are \
                 booleans, integers, floats, decimals, strings, binary, dates, times, \
                 timestamps and durations"
            );
        }
    })
}

/// One digest per row over the encodings of every array's value in that row.
pub(super) fn digests(arrays: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let encoders = arrays
        .iter()
        .map(|a| encoder(a.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    Ok((0..rows)
        .map(|row| {
            let mut hasher = XxHash64::with_seed(0);
            for encode in &encoders {
                encode(row, &mut hasher);
            }
            hasher.finish()
        })
        .collect())
}

/// Writes the encoding of one row's value of a column.
type Encoder<'a> = Box<dyn Fn(usize, &mut XxHash64) + 'a>;

fn tagged(h: &mut XxHash64, tag: u8, payload: &[u8]) {
    h.write(&[tag]);
    h.write(payload);
}

fn with_length(h: &mut XxHash64, tag: u8, bytes: &[u8]) {
    h.write(&[tag]);
    h.write(&(bytes.len() as u64).to_le_bytes());
    h.write(bytes);
}

fn float(h: &mut XxHash64, v: f64) {
    let bits = if v.is_nan() {
        0x7ff8_0000_0000_0000
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    };
    tagged(h, FLOAT, &bits.to_le_bytes());
}

fn decimal(h: &mut XxHash64, mut unscaled: i256, mut scale: i8) {
    let ten = i256::from_i128(10);
    while scale > 0 && unscaled.wrapping_rem(ten) == i256::ZERO {
        unscaled = unscaled.wrapping_div(ten);
        scale -= 1;
    }
    h.write(&[DECIMAL, scale as u8]);
    h.write(&unscaled.to_le_bytes());
}

fn nanos(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

fn encoder(array: &dyn Array) -> Result<Encoder<'_>> {
    use DataType as D;
    macro_rules! int {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            Box::new(move |i, h| tagged(h, INTEGER, &i128::from(a.value(i)).to_le_bytes()))
        }};
    }
    macro_rules! scaled {
        ($t:ty, $tag:expr, $per:expr) => {{
            let a = array.as_primitive::<$t>();
            let per: i128 = $per;
            Box::new(move |i, h| tagged(h, $tag, &(i128::from(a.value(i)) * per).to_le_bytes()))
        }};
    }
    let encode: Encoder<'_> = match array.data_type() {
        D::Null => Box::new(|_, h| h.write(&[NULL])),
        D::Boolean => {
            let a = array.as_boolean();
            Box::new(move |i, h| tagged(h, BOOLEAN, &[u8::from(a.value(i))]))
        }
        D::Int8 => int!(Int8Type),
        D::Int16 => int!(Int16Type),
        D::Int32 => int!(Int32Type),
        D::Int64 => int!(Int64Type),
        D::UInt8 => int!(UInt8Type),
        D::UInt16 => int!(UInt16Type),
        D::UInt32 => int!(UInt32Type),
        D::UInt64 => int!(UInt64Type),
        D::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            Box::new(move |i, h| float(h, a.value(i).to_f64()))
        }
        D::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Box::new(move |i, h| float(h, f64::from(a.value(i))))
        }
        D::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |i, h| float(h, a.value(i)))
        }
        D::Decimal128(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal128Type>(), *scale);
            Box::new(move |i, h| decimal(h, i256::from_i128(a.value(i)), scale))
        }
        D::Decimal256(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal256Type>(), *scale);
            Box::new(move |i, h| decimal(h, a.value(i), scale))
        }
        D::Utf8 => {
            let a = array.as_string::<i32>();
            Box::new(move |i, h| with_length(h, STRING, a.value(i).as_bytes()))
        }
        D::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Box::new(move |i, h| with_length(h, STRING, a.value(i).as_bytes()))
        }
        D::Utf8View => {
            let a = array.as_string_view();
            Box::new(move |i, h| with_length(h, STRING, a.value(i).as_bytes()))
        }
        D::Binary => {
            let a = array.as_binary::<i32>();
            Box::new(move |i, h| with_length(h, BINARY, a.value(i)))
        }
        D::LargeBinary => {
            let a = array.as_binary::<i64>();
            Box::new(move |i, h| with_length(h, BINARY, a.value(i)))
        }
        D::BinaryView => {
            let a = array.as_binary_view();
            Box::new(move |i, h| with_length(h, BINARY, a.value(i)))
        }
        D::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            Box::new(move |i, h| with_length(h, BINARY, a.value(i)))
        }
        D::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            Box::new(move |i, h| tagged(h, DATE, &i64::from(a.value(i)).to_le_bytes()))
        }
        D::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            let days = move |i| a.value(i).div_euclid(MILLIS_PER_DAY);
            Box::new(move |i, h| tagged(h, DATE, &days(i).to_le_bytes()))
        }
        D::Timestamp(unit, _) => match unit {
            TimeUnit::Second => scaled!(TimestampSecondType, TIMESTAMP, nanos(*unit)),
            TimeUnit::Millisecond => scaled!(TimestampMillisecondType, TIMESTAMP, nanos(*unit)),
            TimeUnit::Microsecond => scaled!(TimestampMicrosecondType, TIMESTAMP, nanos(*unit)),
            TimeUnit::Nanosecond => scaled!(TimestampNanosecondType, TIMESTAMP, nanos(*unit)),
        },
        D::Time32(unit) | D::Time64(unit) => {
            let per = nanos(*unit) as i64;
            let value: Box<dyn Fn(usize) -> i64 + '_> = match unit {
                TimeUnit::Second => {
                    let a = array.as_primitive::<Time32SecondType>();
                    Box::new(move |i| i64::from(a.value(i)))
                }
                TimeUnit::Millisecond => {
                    let a = array.as_primitive::<Time32MillisecondType>();
                    Box::new(move |i| i64::from(a.value(i)))
                }
                TimeUnit::Microsecond => {
                    let a = array.as_primitive::<Time64MicrosecondType>();
                    Box::new(move |i| a.value(i))
                }
                TimeUnit::Nanosecond => {
                    let a = array.as_primitive::<Time64NanosecondType>();
                    Box::new(move |i| a.value(i))
                }
            };
            Box::new(move |i, h| tagged(h, TIME, &(value(i) * per).to_le_bytes()))
        }
        D::Duration(unit) => match unit {
            TimeUnit::Second => scaled!(DurationSecondType, DURATION, nanos(*unit)),
            TimeUnit::Millisecond => scaled!(DurationMillisecondType, DURATION, nanos(*unit)),
            TimeUnit::Microsecond => scaled!(DurationMicrosecondType, DURATION, nanos(*unit)),
            TimeUnit::Nanosecond => scaled!(DurationNanosecondType, DURATION, nanos(*unit)),
        },
        // Type coercion (see `hashable`) turns everything else into one of the above.
        other => return plan_err!("no canonical encoding for {other}"),
    };
    Ok(Box::new(move |i, h| {
        if array.is_null(i) {
            h.write(&[NULL]);
        } else {
            encode(i, h);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XXH64's published test vector: the empty input with seed 0.
    #[test]
    fn xxh64_matches_the_reference_vector() {
        assert_eq!(XxHash64::oneshot(0, b""), 0xef46_db37_51d8_e999);
    }

    #[test]
    fn decimals_hash_by_value_not_by_scale() {
        let hash = |v: i128, s: i8| {
            let mut h = XxHash64::with_seed(0);
            decimal(&mut h, i256::from_i128(v), s);
            h.finish()
        };
        assert_eq!(hash(150, 2), hash(15, 1));
        assert_eq!(hash(0, 3), hash(0, 0));
        assert_ne!(hash(15, 1), hash(15, 0));
    }
}
