//! Schema evolution: files of old and new schemas read as one contract (missing,
//! widened and renamed columns), filters on evolved columns, and every refusal.

use std::collections::HashMap;
use std::sync::Arc;

use canon::datafusion::arrow::array::{
    Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::datafusion::physical_expr::expressions::{CastExpr, Column};
use canon::datafusion::physical_expr_adapter::PhysicalExprAdapterFactory;
use canon::evolution::{EvolutionAdapterFactory, EvolutionSpec};

use crate::common::{Fixture, arr, batch, column, query_err, rows};

const CONTRACT: &str = r#"columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Float64" },
  { name = "tip", type = "Float64" },
  { name = "zone", type = "Utf8" },
]
"#;

fn project(evolution: &str) -> String {
    format!(
        "[project]\nname = \"p\"\n\n[profile.cache]\nlist_files = \"0\"\n\n[[dataset]]\nname = \"trips\"\n\
         format = \"parquet\"\nlocation = \"trips\"\n{CONTRACT}{evolution}"
    )
}

/// Last year's file: `id` Int32, `fare_amt` Float32 (renamed since), no `tip`.
fn write_old(fx: &Fixture) {
    fx.write_parquet(
        "trips/2023.parquet",
        &batch(vec![
            ("id", arr(Int32Array::from(vec![1, 2, 3]))),
            ("fare_amt", arr(Float32Array::from(vec![12.5, 7.25, 30.0]))),
            ("zone", arr(StringArray::from(vec!["a", "b", "a"]))),
        ]),
    );
}

/// This year's file, in the contract's schema.
fn write_new(fx: &Fixture) {
    fx.write_parquet(
        "trips/2024.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![4, 5]))),
            ("fare", arr(Float64Array::from(vec![Some(9.0), None]))),
            ("tip", arr(Float64Array::from(vec![1.5, 2.0]))),
            ("zone", arr(StringArray::from(vec!["b", "c"]))),
        ]),
    );
}

const RULES: &str = r#"
[dataset.evolution]
missing = "default"
defaults = { tip = "0.0" }
renames = { fare_amt = "fare" }
widen = true
"#;

fn strs(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn old_and_new_files_read_as_the_contract() {
    let fx = Fixture::new();
    write_old(&fx);
    write_new(&fx);
    let runtime = fx.runtime(&project(RULES)).await;
    let session = runtime.session();
    assert_eq!(
        rows(
            &session,
            "SELECT id, fare, tip, zone FROM trips ORDER BY id"
        )
        .await,
        strs(&[
            &["1", "12.5", "0.0", "a"],
            &["2", "7.25", "0.0", "b"],
            &["3", "30.0", "0.0", "a"],
            &["4", "9.0", "1.5", "b"],
            &["5", "NULL", "2.0", "c"],
        ])
    );
    // Filters on each evolved column: renamed + widened, defaulted, widened.
    assert_eq!(
        column(&session, "SELECT id FROM trips WHERE fare > 10 ORDER BY id").await,
        ["1", "3"]
    );
    assert_eq!(
        column(&session, "SELECT id FROM trips WHERE tip = 0 ORDER BY id").await,
        ["1", "2", "3"]
    );
    assert_eq!(
        column(&session, "SELECT zone FROM trips WHERE id = 2").await,
        ["b"]
    );
    assert_eq!(
        column(&session, "SELECT sum(fare) FROM trips WHERE zone = 'a'").await,
        ["42.5"]
    );
}

#[tokio::test]
async fn missing_columns_read_as_null_by_default() {
    let fx = Fixture::new();
    write_old(&fx);
    write_new(&fx);
    let rules = "\n[dataset.evolution]\nrenames = { fare_amt = \"fare\" }\nwiden = true\n";
    let runtime = fx.runtime(&project(rules)).await;
    let session = runtime.session();
    assert_eq!(
        column(
            &session,
            "SELECT coalesce(CAST(tip AS VARCHAR), 'null') FROM trips ORDER BY id"
        )
        .await,
        ["null", "null", "null", "1.5", "2.0"]
    );
    assert_eq!(
        column(&session, "SELECT count(*) FROM trips WHERE tip IS NULL").await,
        ["3"]
    );
}

#[tokio::test]
async fn diagnostics_and_canon_datasets_record_the_policy_and_adapter() {
    let fx = Fixture::new();
    write_new(&fx);
    fx.write_parquet(
        "plain/x.parquet",
        &batch(vec![("id", arr(Int64Array::from(vec![1])))]),
    );
    let toml = format!(
        "{}\n[[dataset]]\nname = \"plain\"\nformat = \"parquet\"\nlocation = \"plain\"\ncolumns = [{{ name = \"id\", type = \"Int64\" }}]\n",
        project(RULES)
    );
    let runtime = fx.runtime(&toml).await;
    let session = runtime.session();
    assert_eq!(
        rows(
            &session,
            "SELECT name, adapter, evolution FROM canon.datasets ORDER BY name"
        )
        .await,
        strs(&[
            &[
                "plain",
                "strict",
                r#"{"missing":"error","defaults":{},"renames":{},"widen":false}"#
            ],
            &[
                "trips",
                "evolution",
                r#"{"missing":"default","defaults":{"tip":"0"},"renames":{"fare_amt":"fare"},"widen":true}"#
            ],
        ])
    );
    let detail = column(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'dataset_registered' AND dataset = 'trips'",
    )
    .await;
    assert!(
        detail[0].contains(r#""adapter":"evolution""#),
        "{}",
        detail[0]
    );
    assert!(
        detail[0].contains(r#""renames":{"fare_amt":"fare"}"#),
        "{}",
        detail[0]
    );
}

/// Loads a project expected to fail registration and returns the one failure message.
async fn registration_failure(fx: &Fixture, toml: &str) -> String {
    match fx.load(toml).await {
        Err(canon::CanonError::Registration(e)) => {
            assert_eq!(e.failures.len(), 1, "{e}");
            assert_eq!(e.failures[0].dataset, "trips");
            e.failures[0].message.clone()
        }
        Err(other) => panic!("expected a registration error, got {other}"),
        Ok(_) => panic!("registration succeeded"),
    }
}

#[tokio::test]
async fn without_rules_an_older_file_is_refused_naming_file_and_column() {
    let fx = Fixture::new();
    write_old(&fx);
    let message = registration_failure(&fx, &project("")).await;
    let file = fx.url("trips/2023.parquet");
    assert_eq!(
        message,
        format!("file {file}: column `id` is Int32 in the file, contract says Int64")
    );
}

#[tokio::test]
async fn without_widen_a_type_change_is_refused() {
    let fx = Fixture::new();
    write_old(&fx);
    let rules = "\n[dataset.evolution]\nmissing = \"null\"\nrenames = { fare_amt = \"fare\" }\n";
    let message = registration_failure(&fx, &project(rules)).await;
    assert!(
        message.ends_with("column `id` is Int32 in the file, contract says Int64"),
        "{message}"
    );
}

#[tokio::test]
async fn incompatible_and_lossy_changes_are_refused_even_with_widen() {
    let fx = Fixture::new();
    fx.write_parquet(
        "trips/x.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1]))),
            ("fare", arr(Float64Array::from(vec![1.0]))),
            ("tip", arr(Float64Array::from(vec![1.0]))),
            ("zone", arr(Int64Array::from(vec![7]))),
        ]),
    );
    let message =
        registration_failure(&fx, &project("\n[dataset.evolution]\nwiden = true\n")).await;
    assert!(
        message.ends_with("column `zone` is Int64 in the file, contract says Utf8: not a safe widening (it could lose values)"),
        "{message}"
    );

    let narrow = Fixture::new();
    narrow.write_parquet(
        "trips/x.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1]))),
            ("fare", arr(Float64Array::from(vec![1.0]))),
            ("tip", arr(Float64Array::from(vec![1.0]))),
            ("zone", arr(StringArray::from(vec!["a"]))),
        ]),
    );
    let toml = project("\n[dataset.evolution]\nwiden = true\n").replace(
        r#"{ name = "id", type = "Int64", nullable = false }"#,
        r#"{ name = "id", type = "Int32", nullable = false }"#,
    );
    let message = registration_failure(&narrow, &toml).await;
    assert!(
        message
            .contains("column `id` is Int64 in the file, contract says Int32: not a safe widening"),
        "{message}"
    );
}

#[tokio::test]
async fn missing_column_refusals() {
    let fx = Fixture::new();
    write_old(&fx);
    let rules = |missing: &str| {
        format!(
            "\n[dataset.evolution]\nmissing = \"{missing}\"\nrenames = {{ fare_amt = \"fare\" }}\nwiden = true\n"
        )
    };
    let message = registration_failure(&fx, &project(&rules("error"))).await;
    assert!(message.ends_with("column `tip` is missing"), "{message}");
    let message = registration_failure(&fx, &project(&rules("default"))).await;
    assert!(
        message.ends_with("column `tip` is missing and has no default in evolution.defaults"),
        "{message}"
    );

    // A NOT NULL column cannot be null-filled.
    let toml = project(&rules("null")).replace(
        r#"{ name = "tip", type = "Float64" }"#,
        r#"{ name = "tip", type = "Float64", nullable = false }"#,
    );
    let message = registration_failure(&fx, &toml).await;
    assert!(
        message.ends_with("column `tip` is missing and is NOT NULL, so it cannot be read as null"),
        "{message}"
    );
}

#[tokio::test]
async fn rules_that_do_not_fit_the_contract_are_project_errors() {
    let fx = Fixture::new();
    fx.mkdir("trips");
    let err = fx.project_error(&project(
        "\n[dataset.evolution]\nrenames = { fare_amt = \"fare_total\" }\n",
    ));
    assert!(
        err.contains("dataset[trips].evolution.renames.fare_amt: rename target `fare_total` is not a file column of the contract"),
        "{err}"
    );
    let err = fx.project_error(&project(
        "\n[dataset.evolution]\nmissing = \"default\"\ndefaults = { tip = \"lots\" }\n",
    ));
    assert!(
        err.contains("dataset[trips].evolution.defaults.tip: default `lots` does not parse as Float64, the type of `tip`"),
        "{err}"
    );
    let err = fx.project_error(&project("\n[dataset.evolution]\nmissing = \"sometimes\"\n"));
    assert!(err.contains("unknown variant `sometimes`"), "{err}");
}

#[tokio::test]
async fn a_file_added_after_registration_is_still_checked_when_scanned() {
    let fx = Fixture::new();
    write_new(&fx);
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    assert_eq!(column(&session, "SELECT count(*) FROM trips").await, ["2"]);
    // Strict reading: DataFusion alone would fill the missing `tip` with nulls.
    fx.write_parquet(
        "trips/late.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![9]))),
            ("fare", arr(Float64Array::from(vec![1.0]))),
            ("zone", arr(StringArray::from(vec!["z"]))),
        ]),
    );
    let err = query_err(&session, "SELECT id, tip FROM trips")
        .await
        .to_string();
    assert!(
        err.contains("dataset `trips`: column `tip` is missing"),
        "{err}"
    );
}

#[tokio::test]
async fn filters_on_evolved_columns_reach_the_parquet_scan() {
    let fx = Fixture::new();
    write_old(&fx);
    write_new(&fx);
    let runtime = fx.runtime(&project(RULES)).await;
    let session = runtime.session();
    let plan = rows(
        &session,
        "EXPLAIN SELECT id FROM trips WHERE fare > 10 AND tip = 0",
    )
    .await;
    let physical = plan
        .iter()
        .find(|r| r[0] == "physical_plan")
        .map(|r| r[1].clone())
        .unwrap_or_default();
    let scan = physical
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_default();
    assert!(
        scan.contains("predicate=fare@1 > 10 AND tip@2 = 0"),
        "{physical}"
    );
}

/// A project reading `events/*.parquet`, whose `at` column the contract declares in
/// nanoseconds, with `widen = true`; listings are not cached, so added files show at once.
const EVENTS: &str = "[project]\nname = \"p\"\n\n[profile.cache]\nlist_files = \"0\"\n\n\
    [[dataset]]\nname = \"events\"\nformat = \"parquet\"\nlocation = \"events\"\n\
    columns = [\n  { name = \"id\", type = \"Int64\" },\n  \
    { name = \"at\", type = \"Timestamp(Nanosecond, None)\" },\n]\n\n\
    [dataset.evolution]\nwiden = true\n";

/// Writes `events/<name>.parquet` with second timestamps.
fn write_seconds(fx: &Fixture, name: &str, first_id: i64, seconds: Vec<i64>) {
    use canon::datafusion::arrow::array::TimestampSecondArray;
    let ids: Vec<i64> = (first_id..).take(seconds.len()).collect();
    fx.write_parquet(
        &format!("events/{name}.parquet"),
        &batch(vec![
            ("id", arr(Int64Array::from(ids))),
            ("at", arr(TimestampSecondArray::from(seconds))),
        ]),
    );
}

/// 3000-01-01T00:00:00 and 1500-01-01T00:00:00 in seconds: outside nanoseconds' range.
const OUT_OF_RANGE: [(&str, i64); 2] = [
    ("3000-01-01T00:00:00", 32_503_680_000),
    ("1500-01-01T00:00:00", -14_831_769_600),
];

#[tokio::test]
async fn widened_timestamps_in_range_read_as_the_finer_unit() {
    let fx = Fixture::new();
    // 2024-01-01T00:00:00 and 1700-01-01T00:00:00.
    write_seconds(&fx, "old", 1, vec![1_704_067_200, -8_520_336_000]);
    let runtime = fx.runtime(EVENTS).await;
    let session = runtime.session();
    assert_eq!(
        column(
            &session,
            "SELECT CAST(at AS VARCHAR) FROM events ORDER BY id"
        )
        .await,
        ["2024-01-01T00:00:00", "1700-01-01T00:00:00"]
    );
    assert_eq!(
        column(
            &session,
            "SELECT id FROM events WHERE at < TIMESTAMP '1800-01-01'"
        )
        .await,
        ["2"]
    );
}

#[tokio::test]
async fn a_file_with_timestamps_the_finer_unit_cannot_hold_is_refused_at_registration() {
    for (shown, seconds) in OUT_OF_RANGE {
        let fx = Fixture::new();
        write_seconds(&fx, "old", 1, vec![1_704_067_200, seconds]);
        let err = match fx.load(EVENTS).await {
            Err(e @ canon::CanonError::Registration(_)) => e.to_string(),
            Err(other) => panic!("expected a registration error, got {other}"),
            Ok(_) => panic!("registration succeeded"),
        };
        let file = fx.url("events/old.parquet");
        assert!(
            err.contains(&format!(
                "dataset `events`: file {file}: column `at` holds {shown} (Timestamp(s)), which \
                 Timestamp(ns) cannot hold: widened, it would overflow (nanoseconds reach only \
                 the years 1677 to 2262)"
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_later_file_with_such_timestamps_fails_the_scan_instead_of_wrapping() {
    // For each value, a filter that keeps its row (a file whose statistics rule the row out
    // may be skipped without being read, which gives the right answer too).
    let keeps = [
        "SELECT id FROM events WHERE at > TIMESTAMP '2000-01-01'",
        "SELECT id FROM events WHERE at < TIMESTAMP '2000-01-01'",
    ];
    for ((_, seconds), keep) in OUT_OF_RANGE.into_iter().zip(keeps) {
        let fx = Fixture::new();
        write_seconds(&fx, "a", 1, vec![1_704_067_200]);
        let runtime = fx.runtime(EVENTS).await;
        let session = runtime.session();
        write_seconds(&fx, "b", 2, vec![seconds]);
        // Every value read is checked by the scan's cast: an error, never a wrapped or
        // null time.
        for sql in [
            "SELECT at FROM events",
            "SELECT count(at) FROM events",
            keep,
        ] {
            let err = query_err(&session, sql).await.to_string();
            assert!(
                err.contains(&format!(
                    "Cannot cast Timestamp(s) value {seconds} to Timestamp(ns): converted value \
                     exceeds the representable i64 range"
                )),
                "{sql}: {err}"
            );
        }
        // Reads that do not touch the column still work.
        assert_eq!(
            column(&session, "SELECT count(id) FROM events").await,
            ["2"]
        );
    }
}

/// A file field that differs from the contract's only in metadata (parquet's field ids) or
/// in holding no nulls is read as it is; a file column that may hold nulls the contract
/// refuses still goes through DataFusion's cast to the contract's field.
#[test]
fn file_fields_of_the_contract_type_are_read_without_a_cast() {
    let contract = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("fare", DataType::Float64, true),
        Field::new("zone", DataType::Utf8, false),
    ]));
    let with_id = |name: &str, data_type, nullable, id: &str| {
        Field::new(name, data_type, nullable)
            .with_metadata(HashMap::from([("PARQUET:field_id".into(), id.into())]))
    };
    let file = Arc::new(Schema::new(vec![
        with_id("zone", DataType::Utf8, true, "3"),
        with_id("id", DataType::Int64, false, "1"),
        with_id("fare", DataType::Float64, false, "2"),
    ]));
    let adapter = EvolutionAdapterFactory::new("trips", EvolutionSpec::strict())
        .create(Arc::clone(&contract), Arc::clone(&file))
        .unwrap();
    let read = |name: &str| {
        let index = contract.index_of(name).unwrap();
        adapter.rewrite(Arc::new(Column::new(name, index))).unwrap()
    };
    for (name, file_index) in [("id", 1), ("fare", 2)] {
        let expr = read(name);
        let column = expr.downcast_ref::<Column>();
        assert_eq!(
            column.map(|c| (c.name(), c.index())),
            Some((name, file_index)),
            "{name} is read as the file's column: {expr}"
        );
    }
    let zone = read("zone");
    assert!(zone.downcast_ref::<CastExpr>().is_some(), "zone: {zone}");
}
