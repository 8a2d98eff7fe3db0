//! The trips-and-zones project the dialect, lineage and fingerprint tests share: two real
//! parquet datasets, a policy chosen per test.

use canon::datafusion::arrow::array::{Float64Array, Int32Array, Int64Array, StringArray};
use canon::{Runtime, Session};

use crate::common::{Fixture, arr, batch, rows};

/// A project over `trips` and `zones` with this `[policy]` body and target_partitions.
pub fn project(policy: &str, partitions: usize) -> String {
    format!(
        r#"[project]
name = "sql"

[profile]
target_partitions = {partitions}

[policy]
{policy}

[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  {{ name = "id", type = "Int64", nullable = false }},
  {{ name = "city", type = "Utf8" }},
  {{ name = "fare", type = "Float64" }},
  {{ name = "zone_id", type = "Int32" }},
]

[[dataset]]
name = "zones"
format = "parquet"
location = "zones"
columns = [
  {{ name = "zone_id", type = "Int32", nullable = false }},
  {{ name = "borough", type = "Utf8" }},
]
"#
    )
}

/// Six trips in three cities and three zones.
pub fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "trips/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2, 3, 4, 5, 6]))),
            (
                "city",
                arr(StringArray::from(vec![
                    "Oslo", "Lima", "Oslo", "Rome", "Lima", "Oslo",
                ])),
            ),
            (
                "fare",
                arr(Float64Array::from(vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0])),
            ),
            ("zone_id", arr(Int32Array::from(vec![1, 2, 1, 3, 2, 1]))),
        ]),
    );
    fx.write_parquet(
        "zones/part-0.parquet",
        &batch(vec![
            ("zone_id", arr(Int32Array::from(vec![1, 2, 3]))),
            (
                "borough",
                arr(StringArray::from(vec!["North", "South", "East"])),
            ),
        ]),
    );
    fx
}

/// A runtime over the fixture with this policy body and two partitions.
pub async fn runtime(fx: &Fixture, policy: &str) -> Runtime {
    fx.runtime(&project(policy, 2)).await
}

/// Rows as vectors of strings, from literal rows.
pub fn table(expected: &[&[&str]]) -> Vec<Vec<String>> {
    expected
        .iter()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect()
}

/// The details of the `query_planned` events recorded since `after` (a record count).
pub fn planned_since(runtime: &Runtime, after: usize) -> Vec<serde_json::Value> {
    runtime
        .diagnostics()
        .records()
        .into_iter()
        .skip(after)
        .filter(|r| r.event.kind() == "query_planned")
        .map(|r| serde_json::to_value(&r.event).expect("events serialize"))
        .collect()
}

/// Runs SQL and returns its rows, and its canonical SQL's rows from the same session.
pub async fn rows_and_canonical_rows(
    session: &Session,
    sql: &str,
) -> (Vec<Vec<String>>, String, Vec<Vec<String>>) {
    let original = rows(session, sql).await;
    let explanation = match session.explain(sql, false).await {
        Ok(e) => e,
        Err(e) => panic!("explain `{sql}` failed:\n{e}"),
    };
    let canonical = match explanation.canonical_sql {
        Some(canonical) => canonical,
        None => panic!(
            "no canonical SQL for `{sql}`: {:?}",
            explanation.canonical_sql_error
        ),
    };
    let again = rows(session, &canonical).await;
    (original, canonical, again)
}
