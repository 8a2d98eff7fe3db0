//! Contracts round-trip exactly: every Arrow type a contract can name registers with
//! exactly that type, and real parquet files read back under the contract's types. The
//! 32- and 64-bit decimals are refused (DataFusion computes them as integers) and their
//! files read under the `Decimal128` of the same precision and scale.

use std::sync::Arc;

use canon::datafusion::arrow::array::{
    Array, BinaryArray, BooleanArray, Date32Array, Decimal64Array, Decimal128Array,
    DictionaryArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use canon::datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};

use crate::common::{Fixture, arr, assert_table, query, rows};

/// Every Arrow type a contract can name, as written in `canon.toml` (all but `Decimal32`
/// and `Decimal64`, which are refused: see below).
const TYPES: &[(&str, &str)] = &[
    ("null", "Null"),
    ("boolean", "Boolean"),
    ("int8", "Int8"),
    ("int16", "Int16"),
    ("int32", "Int32"),
    ("int64", "Int64"),
    ("uint8", "UInt8"),
    ("uint16", "UInt16"),
    ("uint32", "UInt32"),
    ("uint64", "UInt64"),
    ("float16", "Float16"),
    ("float32", "Float32"),
    ("float64", "Float64"),
    ("utf8", "Utf8"),
    ("large_utf8", "LargeUtf8"),
    ("utf8_view", "Utf8View"),
    ("binary", "Binary"),
    ("large_binary", "LargeBinary"),
    ("binary_view", "BinaryView"),
    ("fixed_binary", "FixedSizeBinary(16)"),
    ("date32", "Date32"),
    ("date64", "Date64"),
    ("time32_s", "Time32(Second)"),
    ("time32_ms", "Time32(Millisecond)"),
    ("time64_us", "Time64(Microsecond)"),
    ("time64_ns", "Time64(Nanosecond)"),
    ("ts_s", "Timestamp(Second, None)"),
    ("ts_ms", "Timestamp(Millisecond, None)"),
    ("ts_us", "Timestamp(Microsecond, None)"),
    ("ts_ns", "Timestamp(Nanosecond, None)"),
    ("ts_s_utc", r#"Timestamp(Second, Some("UTC"))"#),
    ("ts_ms_utc", r#"Timestamp(Millisecond, Some("UTC"))"#),
    ("ts_us_utc", r#"Timestamp(Microsecond, Some("UTC"))"#),
    ("ts_ns_utc", r#"Timestamp(Nanosecond, Some("UTC"))"#),
    ("ts_s_plus2", r#"Timestamp(Second, Some("+02:00"))"#),
    ("ts_ms_plus2", r#"Timestamp(Millisecond, Some("+02:00"))"#),
    ("ts_us_plus2", r#"Timestamp(Microsecond, Some("+02:00"))"#),
    ("ts_ns_plus2", r#"Timestamp(Nanosecond, Some("+02:00"))"#),
    ("duration_s", "Duration(Second)"),
    ("duration_ms", "Duration(Millisecond)"),
    ("duration_us", "Duration(Microsecond)"),
    ("duration_ns", "Duration(Nanosecond)"),
    ("interval_ym", "Interval(YearMonth)"),
    ("interval_dt", "Interval(DayTime)"),
    ("interval_mdn", "Interval(MonthDayNano)"),
    ("decimal128", "Decimal128(10, 2)"),
    ("decimal128_max", "Decimal128(38, 10)"),
    ("decimal256", "Decimal256(50, 4)"),
    ("decimal256_small", "Decimal256(20, 4)"),
    ("list", "List(Int32)"),
    ("list_named", "List(non-null Int64, field: 'element')"),
    ("large_list", "LargeList(Utf8)"),
    ("fixed_list", "FixedSizeList(3 x Float32)"),
    ("list_view", "ListView(Int32)"),
    ("struct", r#"Struct("a": Int32, "b": non-null Utf8)"#),
    (
        "map",
        r#"Map("entries": non-null Struct("key": non-null Utf8, "value": Int64), unsorted)"#,
    ),
    ("dictionary", "Dictionary(Int32, Utf8)"),
    ("dictionary_large", "Dictionary(UInt16, LargeUtf8)"),
    ("union", r#"Union(Sparse, 0: ("a": Int32), 1: ("b": Utf8))"#),
    (
        "run_end",
        r#"RunEndEncoded("run_ends": non-null Int32, "values": Utf8)"#,
    ),
];

/// A TOML basic string holding `text`.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn all_types_project() -> String {
    let columns: Vec<String> = TYPES
        .iter()
        .map(|(name, ty)| format!("  {{ name = \"{name}\", type = {} }},", toml_string(ty)))
        .collect();
    format!(
        r#"[project]
name = "types"

[[dataset]]
name = "all_types"
format = "parquet"
location = "empty"
columns = [
{}
]
"#,
        columns.join("\n")
    )
}

#[tokio::test]
async fn every_arrow_type_registers_with_exactly_the_contract_schema() {
    let fx = Fixture::new();
    fx.mkdir("empty");
    let runtime = fx.runtime(&all_types_project()).await;

    let dataset = runtime.dataset("all_types").expect("dataset registered");
    let contract = dataset.spec.schema();
    let registered = dataset.provider.schema();

    // The contract is the declared types, parsed.
    assert_eq!(contract.fields().len(), TYPES.len());
    for (field, (name, ty)) in contract.fields().iter().zip(TYPES) {
        let declared: DataType = ty.parse().expect("test type parses");
        assert_eq!(field.name(), name);
        assert_eq!(field.data_type(), &declared, "column `{name}`");
        assert!(field.is_nullable(), "column `{name}`");
    }
    // The registered table is the contract, field by field.
    assert_eq!(registered.fields().len(), contract.fields().len());
    for (r, c) in registered.fields().iter().zip(contract.fields()) {
        assert_eq!(r.name(), c.name());
        assert_eq!(r.data_type(), c.data_type(), "column `{}`", c.name());
        assert_eq!(r.is_nullable(), c.is_nullable(), "column `{}`", c.name());
    }
    assert_eq!(registered.as_ref(), contract.as_ref());

    let session = runtime.session();
    // The logical plan over the table carries the same types.
    let df = session
        .sql("SELECT * FROM all_types")
        .await
        .expect("select plans");
    assert_eq!(df.schema().as_arrow(), contract.as_ref());
    let batches = df.collect().await.expect("select runs");
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);

    // information_schema agrees on names, order, types and nullability.
    let columns = rows(
        &session,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_name = 'all_types' ORDER BY ordinal_position",
    )
    .await;
    let expected: Vec<Vec<String>> = contract
        .fields()
        .iter()
        .map(|f| {
            vec![
                f.name().clone(),
                f.data_type().to_string(),
                "YES".to_string(),
            ]
        })
        .collect();
    assert_eq!(columns, expected);
}

#[tokio::test]
async fn ddl_spells_types_sql_has_no_word_for_as_arrow_types() {
    let fx = Fixture::new();
    fx.mkdir("empty");
    let runtime = fx.runtime(&all_types_project()).await;
    let ddl = &runtime.dataset("all_types").unwrap().ddl;
    for line in [
        r#"  "int8" TINYINT,"#,
        r#"  "uint64" BIGINT UNSIGNED,"#,
        r#"  "float16" ARROW('Float16'),"#,
        r#"  "utf8" VARCHAR,"#,
        r#"  "large_utf8" ARROW('LargeUtf8'),"#,
        r#"  "time32_s" ARROW('Time32(s)'),"#,
        r#"  "ts_ms" TIMESTAMP(3),"#,
        r#"  "ts_ns_utc" ARROW('Timestamp(ns, "UTC")'),"#,
        r#"  "utf8_view" ARROW('Utf8View'),"#,
        r#"  "duration_us" ARROW('Duration(µs)'),"#,
        r#"  "interval_mdn" INTERVAL,"#,
        r#"  "decimal128" DECIMAL(10, 2),"#,
        r#"  "decimal256" DECIMAL(50, 4),"#,
        r#"  "decimal256_small" ARROW('Decimal256(20, 4)'),"#,
        r#"  "list_named" ARROW('List(non-null Int64, field: ''element'')'),"#,
        r#"  "dictionary" ARROW('Dictionary(Int32, Utf8)'),"#,
    ] {
        assert!(
            ddl.lines().any(|l| l == line),
            "DDL has no line {line:?}:\n{ddl}"
        );
    }
}

#[tokio::test]
async fn parquet_file_with_common_types_reads_back_under_the_contract() {
    let fx = Fixture::new();
    let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), Some(2)]),
        Some(vec![]),
        None,
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("flag", DataType::Boolean, true),
        Field::new("tiny", DataType::Int8, true),
        Field::new("small", DataType::Int16, true),
        Field::new("int", DataType::Int32, true),
        Field::new("unsigned", DataType::UInt32, true),
        Field::new("big", DataType::UInt64, true),
        Field::new("ratio", DataType::Float32, true),
        Field::new("score", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("note", DataType::LargeUtf8, true),
        Field::new("payload", DataType::Binary, true),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "at",
            DataType::Timestamp(
                canon::datafusion::arrow::datatypes::TimeUnit::Microsecond,
                Some("UTC".into()),
            ),
            true,
        ),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new(
            "kind",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]));
    let data = RecordBatch::try_new(
        schema,
        vec![
            arr(Int64Array::from(vec![1, 2, 3])),
            arr(BooleanArray::from(vec![Some(true), Some(false), None])),
            arr(Int8Array::from(vec![Some(-8), Some(8), None])),
            arr(Int16Array::from(vec![Some(-16), Some(16), None])),
            arr(Int32Array::from(vec![Some(-32), Some(32), None])),
            arr(UInt32Array::from(vec![Some(32), Some(4_000_000_000), None])),
            arr(UInt64Array::from(vec![Some(64), Some(u64::MAX), None])),
            arr(Float32Array::from(vec![Some(0.5), Some(-1.25), None])),
            arr(Float64Array::from(vec![Some(2.5), Some(1e10), None])),
            arr(StringArray::from(vec![Some("alpha"), Some("béta"), None])),
            arr(LargeStringArray::from(vec![Some("large"), Some(""), None])),
            arr(BinaryArray::from(vec![
                Some(b"\x01\x02".as_ref()),
                Some(b"".as_ref()),
                None,
            ])),
            arr(Date32Array::from(vec![Some(19723), Some(0), None])),
            arr(
                TimestampMicrosecondArray::from(vec![Some(1_704_164_645_000_000), Some(0), None])
                    .with_timezone("UTC"),
            ),
            arr(Decimal128Array::from(vec![Some(12345), Some(-1), None])
                .with_precision_and_scale(10, 2)
                .unwrap()),
            arr(tags),
            arr(DictionaryArray::<Int32Type>::from_iter([
                Some("a"),
                Some("b"),
                None,
            ])),
        ],
    )
    .unwrap();
    let file = fx.write_parquet("common/part-0.parquet", &data);

    let runtime = fx
        .runtime(
            r#"[project]
name = "types"

[[dataset]]
name = "common"
format = "parquet"
location = "common"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "flag", type = "Boolean" },
  { name = "tiny", type = "Int8" },
  { name = "small", type = "Int16" },
  { name = "int", type = "Int32" },
  { name = "unsigned", type = "UInt32" },
  { name = "big", type = "UInt64" },
  { name = "ratio", type = "Float32" },
  { name = "score", type = "Float64" },
  { name = "name", type = "Utf8" },
  { name = "note", type = "LargeUtf8" },
  { name = "payload", type = "Binary" },
  { name = "day", type = "Date32" },
  { name = "at", type = 'Timestamp(Microsecond, Some("UTC"))' },
  { name = "price", type = "Decimal128(10, 2)" },
  { name = "tags", type = "List(Int32)" },
  { name = "kind", type = "Dictionary(Int32, Utf8)" },
]
"#,
        )
        .await;
    assert!(file.exists());

    let dataset = runtime.dataset("common").unwrap();
    assert_eq!(dataset.provider.schema(), dataset.spec.schema());
    // Parquet readers default to view types; the contract says Utf8 and Utf8 it is.
    assert_eq!(
        dataset
            .provider
            .schema()
            .field_with_name("name")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    assert!(
        dataset
            .notes
            .iter()
            .any(|n| n.starts_with("column `name`: DDL type VARCHAR plans as Utf8View")),
        "{:?}",
        dataset.notes
    );

    let session = runtime.session();
    let types = rows(
        &session,
        "SELECT arrow_typeof(name), arrow_typeof(note), arrow_typeof(kind), arrow_typeof(at) \
         FROM common LIMIT 1",
    )
    .await;
    assert_eq!(
        types,
        vec![vec![
            "Utf8".to_string(),
            "LargeUtf8".to_string(),
            "Dictionary(Int32, Utf8)".to_string(),
            r#"Timestamp(µs, "UTC")"#.to_string(),
        ]]
    );
    let info = rows(
        &session,
        "SELECT data_type FROM information_schema.columns \
         WHERE table_name = 'common' AND column_name = 'name'",
    )
    .await;
    assert_eq!(info, vec![vec!["Utf8".to_string()]]);

    let table = query(&session, "SELECT * FROM common ORDER BY id").await;
    assert_table(
        &table,
        r#"
        +----+-------+------+-------+-----+------------+----------------------+-------+---------------+-------+-------+---------+------------+----------------------+--------+--------+------+
        | id | flag  | tiny | small | int | unsigned   | big                  | ratio | score         | name  | note  | payload | day        | at                   | price  | tags   | kind |
        +----+-------+------+-------+-----+------------+----------------------+-------+---------------+-------+-------+---------+------------+----------------------+--------+--------+------+
        | 1  | true  | -8   | -16   | -32 | 32         | 64                   | 0.5   | 2.5           | alpha | large | 0102    | 2024-01-01 | 2024-01-02T03:04:05Z | 123.45 | [1, 2] | a    |
        | 2  | false | 8    | 16    | 32  | 4000000000 | 18446744073709551615 | -1.25 | 10000000000.0 | béta  |       |         | 1970-01-01 | 1970-01-01T00:00:00Z | -0.01  | []     | b    |
        | 3  |       |      |       |     |            |                      |       |               |       |       |         |            |                      |        |        |      |
        +----+-------+------+-------+-----+------------+----------------------+-------+---------------+-------+-------+---------+------------+----------------------+--------+--------+------+
        "#,
    );
}

/// A project of one parquet dataset, `prices`: an `id` and an `amount` of the given type.
fn prices_project(amount: &str) -> String {
    format!(
        r#"[project]
name = "narrow"

[[dataset]]
name = "prices"
format = "parquet"
location = "prices"
columns = [
  {{ name = "id", type = "Int64", nullable = false }},
  {{ name = "amount", type = "{amount}" }},
]
"#
    )
}

#[test]
fn narrow_decimals_are_refused_with_the_type_to_declare() {
    let fx = Fixture::new();
    for (declared, nested, wider) in [
        ("Decimal64(15, 2)", false, "Decimal128(15, 2)"),
        ("Decimal32(9, 4)", false, "Decimal128(9, 4)"),
        ("List(Decimal64(18, 3))", true, "Decimal128(18, 3)"),
    ] {
        let error = fx.project_error(&prices_project(declared));
        assert!(error.contains("columns[1].type"), "{declared}: {error}");
        assert!(
            error.contains(&format!("declare `{wider}`")),
            "{declared}: {error}"
        );
        assert!(error.contains("`1 - 0.05` gives 1"), "{declared}: {error}");
        if nested {
            assert!(
                error.contains("`Decimal64(18, 3)` cannot be declared"),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn a_file_of_64_bit_decimals_reads_and_computes_exactly_as_decimal128() {
    let fx = Fixture::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Decimal64(15, 2), true),
    ]));
    let data = RecordBatch::try_new(
        schema,
        vec![
            arr(Int64Array::from(vec![1, 2, 3])),
            arr(Decimal64Array::from(vec![Some(5), Some(-12_345), None])
                .with_precision_and_scale(15, 2)
                .unwrap()),
        ],
    )
    .unwrap();
    fx.write_parquet("prices/part-0.parquet", &data);
    // No evolution rules: the same precision and scale in 128 bits is the same values.
    let runtime = fx.runtime(&prices_project("Decimal128(15, 2)")).await;
    let session = runtime.session();
    let table = query(
        &session,
        "SELECT id, arrow_typeof(amount) AS t, 1 - amount AS a, amount * 2 AS b, \
         CASE WHEN id > 1 THEN amount ELSE 0 END AS c, coalesce(amount, 0) AS d \
         FROM prices ORDER BY id",
    )
    .await;
    assert_table(
        &table,
        r#"
        +----+-------------------+--------+---------+---------+---------+
        | id | t                 | a      | b       | c       | d       |
        +----+-------------------+--------+---------+---------+---------+
        | 1  | Decimal128(15, 2) | 0.95   | 0.10    | 0.00    | 0.05    |
        | 2  | Decimal128(15, 2) | 124.45 | -246.90 | -123.45 | -123.45 |
        | 3  | Decimal128(15, 2) |        |         |         | 0.00    |
        +----+-------------------+--------+---------+---------+---------+
        "#,
    );
}
