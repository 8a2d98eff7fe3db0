//! Canon's own functions: `stable_hash64` and `stable_id` give the documented encoding's
//! XXH64, golden values that must never change, on literals and on parquet columns of
//! every supported type; bad calls are refused at planning with a clear message.

use canon::datafusion::arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float32Array,
    Float64Array, Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
    Time64MicrosecondArray, TimestampMicrosecondArray, TimestampSecondArray, UInt8Array,
};
use canon::datafusion::arrow::datatypes::Int32Type;
use twox_hash::XxHash64;

use crate::common::{Fixture, arr, batch, column, query_err, rows};

const PROJECT: &str = r#"[project]
name = "udfs"

[[dataset]]
name = "typed"
format = "parquet"
location = "typed"
columns = [
  { name = "i32", type = "Int32" },
  { name = "i64", type = "Int64" },
  { name = "u8", type = "UInt8" },
  { name = "f32", type = "Float32" },
  { name = "f64", type = "Float64" },
  { name = "dec", type = "Decimal128(10, 2)" },
  { name = "s", type = "Utf8" },
  { name = "ls", type = "LargeUtf8" },
  { name = "sv", type = "Utf8View" },
  { name = "dict", type = "Dictionary(Int32, Utf8)" },
  { name = "bin", type = "Binary" },
  { name = "flag", type = "Boolean" },
  { name = "day", type = "Date32" },
  { name = "at", type = "Timestamp(Microsecond, Some(\"UTC\"))" },
  { name = "at_s", type = "Timestamp(Second, None)" },
  { name = "t", type = "Time64(Microsecond)" },
]
"#;

/// Two rows: ordinary values, then NULL in every column.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "typed/part-0.parquet",
        &batch(vec![
            ("i32", arr(Int32Array::from(vec![Some(1), None]))),
            ("i64", arr(Int64Array::from(vec![Some(1), None]))),
            ("u8", arr(UInt8Array::from(vec![Some(1), None]))),
            ("f32", arr(Float32Array::from(vec![Some(1.5), None]))),
            ("f64", arr(Float64Array::from(vec![Some(1.5), None]))),
            (
                "dec",
                arr(Decimal128Array::from(vec![Some(150), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap()),
            ),
            ("s", arr(StringArray::from(vec![Some("1a"), None]))),
            ("ls", arr(LargeStringArray::from(vec![Some("1a"), None]))),
            ("sv", arr(StringViewArray::from(vec![Some("1a"), None]))),
            (
                "dict",
                arr(vec![Some("1a"), None]
                    .into_iter()
                    .collect::<DictionaryArray<Int32Type>>()),
            ),
            ("bin", arr(BinaryArray::from(vec![Some(&b"1a"[..]), None]))),
            ("flag", arr(BooleanArray::from(vec![Some(true), None]))),
            ("day", arr(Date32Array::from(vec![Some(19_723), None]))),
            (
                "at",
                arr(
                    TimestampMicrosecondArray::from(vec![Some(1_704_067_200_000_000), None])
                        .with_timezone("UTC"),
                ),
            ),
            (
                "at_s",
                arr(TimestampSecondArray::from(vec![Some(1_704_067_200), None])),
            ),
            (
                "t",
                arr(Time64MicrosecondArray::from(vec![
                    Some(3_600_000_000),
                    None,
                ])),
            ),
        ]),
    );
    fx
}

/// The documented encoding, built by hand, hashed with XXH64 seed 0.
fn digest(parts: &[Vec<u8>]) -> i64 {
    XxHash64::oneshot(0, &parts.concat()) as i64
}

fn tagged(tag: u8, payload: &[u8]) -> Vec<u8> {
    [&[tag][..], payload].concat()
}

fn sized(tag: u8, bytes: &[u8]) -> Vec<u8> {
    [&[tag][..], &(bytes.len() as u64).to_le_bytes(), bytes].concat()
}

fn int(v: i128) -> Vec<u8> {
    tagged(0x02, &v.to_le_bytes())
}

fn float(v: f64) -> Vec<u8> {
    tagged(0x03, &v.to_bits().to_le_bytes())
}

fn decimal(unscaled: i128, scale: i8) -> Vec<u8> {
    // Sign-extended to the 32-byte i256 the documentation names.
    let mut wide = unscaled.to_le_bytes().to_vec();
    wide.extend([if unscaled < 0 { 0xff } else { 0 }; 16]);
    [vec![0x04, scale as u8], wide].concat()
}

fn text(s: &str) -> Vec<u8> {
    sized(0x05, s.as_bytes())
}

const NULL: [u8; 1] = [0x00];

#[tokio::test]
async fn literals_hash_to_the_documented_encoding() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let cases: Vec<(&str, i64)> = vec![
        ("stable_hash64(1)", digest(&[int(1)])),
        ("stable_hash64(-7)", digest(&[int(-7)])),
        ("stable_hash64('1a')", digest(&[text("1a")])),
        ("stable_hash64(1, 'a')", digest(&[int(1), text("a")])),
        ("stable_hash64('1', 'a')", digest(&[text("1"), text("a")])),
        ("stable_hash64(NULL)", digest(&[NULL.to_vec()])),
        ("stable_hash64(NULL, 1)", digest(&[NULL.to_vec(), int(1)])),
        ("stable_hash64(true)", digest(&[tagged(0x01, &[1])])),
        ("stable_hash64(1.5)", digest(&[float(1.5)])),
        ("stable_hash64(-0.0)", digest(&[float(0.0)])),
        (
            "stable_hash64(CAST(1.50 AS DECIMAL(10, 2)))",
            digest(&[decimal(15, 1)]),
        ),
        (
            "stable_hash64(CAST(100 AS DECIMAL(10, 0)))",
            digest(&[decimal(100, 0)]),
        ),
        ("stable_hash64(X'3161')", digest(&[sized(0x06, b"1a")])),
        (
            "stable_hash64(DATE '2024-01-01')",
            digest(&[tagged(0x07, &19_723i64.to_le_bytes())]),
        ),
        (
            "stable_hash64(TIMESTAMP '2024-01-01 00:00:00')",
            digest(&[tagged(0x08, &(1_704_067_200_000_000_000i128).to_le_bytes())]),
        ),
        (
            "stable_hash64(CAST('01:00:00' AS TIME))",
            digest(&[tagged(0x09, &3_600_000_000_000i64.to_le_bytes())]),
        ),
    ];
    for (expr, expected) in cases {
        let got = column(&session, &format!("SELECT {expr}")).await;
        assert_eq!(got, vec![expected.to_string()], "{expr}");
    }
}

/// Golden values: if one of these changes, every identity built with Canon changes.
#[tokio::test]
async fn golden_values_never_change() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let got = rows(
        &session,
        "SELECT stable_hash64(1), stable_hash64('1a'), stable_hash64(1, 'a'), \
         stable_hash64(NULL), stable_id('cust', 42), stable_id('order', 'EU', 7)",
    )
    .await;
    assert_eq!(
        got,
        vec![vec![
            "-4798943240567224536",
            "-2338196153236281958",
            "8195316837526959853",
            "-1642502924627794072",
            "cust_5f6f8f4c6a42e987",
            "order_de8c44f235bd0994",
        ]]
    );
}

#[tokio::test]
async fn every_supported_column_type_hashes_by_value() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let columns = [
        "i32", "i64", "u8", "f32", "f64", "dec", "s", "ls", "sv", "dict", "bin", "flag", "day",
        "at", "at_s", "t",
    ];
    let select: Vec<String> = columns
        .iter()
        .map(|c| format!("stable_hash64({c}) AS {c}"))
        .collect();
    let got = rows(
        &session,
        &format!("SELECT {} FROM typed", select.join(", ")),
    )
    .await;
    let one = digest(&[int(1)]);
    let text_1a = digest(&[text("1a")]);
    let instant = digest(&[tagged(0x08, &1_704_067_200_000_000_000i128.to_le_bytes())]);
    let expected_first: Vec<i64> = vec![
        one,
        one,
        one,
        digest(&[float(1.5)]),
        digest(&[float(1.5)]),
        digest(&[decimal(15, 1)]),
        text_1a,
        text_1a,
        text_1a,
        text_1a,
        digest(&[sized(0x06, b"1a")]),
        digest(&[tagged(0x01, &[1])]),
        digest(&[tagged(0x07, &19_723i64.to_le_bytes())]),
        instant,
        instant,
        digest(&[tagged(0x09, &3_600_000_000_000i64.to_le_bytes())]),
    ];
    let null = digest(&[NULL.to_vec()]).to_string();
    assert_eq!(
        got[0],
        expected_first
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
    );
    assert_eq!(got[1], vec![null; columns.len()]);

    // Across columns in one call, values are concatenated in argument order.
    let pair = column(&session, "SELECT stable_hash64(i32, s) FROM typed LIMIT 1").await;
    assert_eq!(pair, vec![digest(&[int(1), text("1a")]).to_string()]);
    let id = column(
        &session,
        "SELECT stable_id('row', i64, s) FROM typed LIMIT 1",
    )
    .await;
    let hex = format!("{:016x}", digest(&[int(1), text("1a")]) as u64);
    assert_eq!(id, vec![format!("row_{hex}")]);
}

#[tokio::test]
async fn stable_id_is_null_for_a_null_prefix() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    assert_eq!(
        column(&session, "SELECT stable_id(CAST(NULL AS VARCHAR), 1)").await,
        vec!["NULL"]
    );
}

#[tokio::test]
async fn bad_calls_are_refused_at_planning() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let cases = [
        (
            "SELECT stable_hash64()",
            "stable_hash64 takes at least one value",
        ),
        (
            "SELECT stable_hash64(make_array(1, 2))",
            "stable_hash64 cannot hash argument 1 of type List",
        ),
        (
            "SELECT stable_hash64(1, INTERVAL '1 day')",
            "stable_hash64 cannot hash argument 2 of type Interval",
        ),
        (
            "SELECT stable_id(1, 2)",
            "stable_id's prefix (argument 1) must be a string, not Int64",
        ),
        (
            "SELECT stable_id('x')",
            "stable_id takes a prefix and at least one value",
        ),
    ];
    for (sql, message) in cases {
        let err = query_err(&session, sql).await.to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
}

#[tokio::test]
async fn information_schema_documents_the_algorithm() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let docs = rows(
        &session,
        "SELECT routine_name, description, syntax_example FROM information_schema.routines \
         WHERE routine_name IN ('stable_hash64', 'stable_id') ORDER BY routine_name",
    )
    .await;
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0][0], "stable_hash64");
    assert!(
        docs[0][1].contains(canon::functions::udfs::ENCODING),
        "{}",
        docs[0][1]
    );
    assert_eq!(docs[0][2], "stable_hash64(value[, ...])");
    assert_eq!(docs[1][2], "stable_id(prefix, value[, ...])");
}
