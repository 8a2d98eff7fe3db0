//! A join's build side gathered into one table is read when the join first asks for it
//! (`canon::optimizer::DeferredBuilds`): a query that ends at an empty build side above
//! does not scan the tables below it. TPC-DS q27 at SF 1 lists six states no store is in,
//! and read 1.9 M customer demographics per run for nothing.

use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, batch, rows};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

/// Sales of people in stores, joined in the written order so that the people are built
/// into one table below the stores' join.
const SHOPS: &str = r#"
[project]
name = "shops"

[profile]
target_partitions = 2
join_order = "written"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  { name = "s_store", type = "Int64", nullable = false },
  { name = "s_person", type = "Int64", nullable = false },
]

[[dataset]]
name = "people"
format = "parquet"
location = "people"
columns = [
  { name = "p_key", type = "Int64", nullable = false },
  { name = "p_group", type = "Int64", nullable = false },
]

[[dataset]]
name = "stores"
format = "parquet"
location = "stores"
columns = [
  { name = "st_key", type = "Int64", nullable = false },
  { name = "st_state", type = "Utf8", nullable = false },
]
"#;

/// The sales of one group of people in the stores of a state.
fn in_state(state: &str) -> String {
    format!(
        "SELECT st_state, count(*) AS n FROM sales \
         JOIN people ON s_person = p_key \
         JOIN stores ON s_store = st_key \
         WHERE p_group = 3 AND st_state = '{state}' GROUP BY st_state"
    )
}

/// 200 K sales, 20 K people in two files (so their scan has two partitions to gather)
/// and ten stores in two states.
fn shops() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            (
                "s_store",
                arr(Int64Array::from_iter_values((0..200_000).map(|i| i % 10))),
            ),
            (
                "s_person",
                arr(Int64Array::from_iter_values(
                    (0..200_000).map(|i| i % 20_000),
                )),
            ),
        ]),
    );
    for part in 0..2_i64 {
        let keys = part * 10_000..(part + 1) * 10_000;
        fx.write_parquet(
            &format!("people/part-{part}.parquet"),
            &batch(vec![
                ("p_key", arr(Int64Array::from_iter_values(keys.clone()))),
                (
                    "p_group",
                    arr(Int64Array::from_iter_values(keys.map(|k| k % 7))),
                ),
            ]),
        );
    }
    fx.write_parquet(
        "stores/part-0.parquet",
        &batch(vec![
            ("st_key", arr(Int64Array::from_iter_values(0..10))),
            (
                "st_state",
                arr(StringArray::from_iter_values(
                    (0..10).map(|k| if k < 4 { "TN" } else { "OH" }),
                )),
            ),
        ]),
    );
    fx
}

/// The `output_rows` metric of the analyzed plan's scan of `table`, `None` when the scan
/// never ran.
fn scanned_rows(analyzed: &str, table: &str) -> Option<String> {
    let scan = analyzed
        .lines()
        .find(|l| l.contains("DataSourceExec") && l.contains(&format!("{table}/")))
        .unwrap_or_else(|| panic!("no scan of {table}:\n{analyzed}"));
    scan.split("output_rows=")
        .nth(1)
        .and_then(|rest| rest.split([',', ']']).next())
        .map(str::to_string)
}

#[tokio::test]
async fn a_build_side_under_an_empty_join_is_never_scanned() {
    let fx = shops();
    let session = fx.runtime(SHOPS).await.session();
    let none = in_state("CA");

    // The stores are built first and come back empty; the people are one table below.
    let plan = explained_plan(&session, &none, "physical_plan").await;
    let deferred = plan
        .iter()
        .position(|l| l.contains("CanonDeferred"))
        .unwrap_or_else(|| panic!("no deferred build:\n{}", plan.join("\n")));
    assert!(
        plan[deferred + 1].contains("CoalescePartitionsExec"),
        "{}",
        plan.join("\n")
    );

    let analyzed = rows(&session, &format!("EXPLAIN ANALYZE {none}")).await;
    let analyzed = &analyzed[0][1];
    assert_eq!(
        scanned_rows(analyzed, "stores").as_deref(),
        Some("0"),
        "{analyzed}"
    );
    // The people's scan was never executed; the sales' was, but never asked for a row.
    assert_eq!(scanned_rows(analyzed, "people"), None, "{analyzed}");
    assert_eq!(
        scanned_rows(analyzed, "sales").as_deref(),
        Some("0"),
        "{analyzed}"
    );

    let plain = plain_over(&fx, &["sales", "people", "stores"]).await;
    for sql in [none, in_state("OH")] {
        let expected = plain_rows(&plain, &sql).await;
        assert_eq!(canon_rows(&session, &sql).await, expected, "{sql}");
    }
    let ohio = canon_rows(&session, &in_state("OH")).await;
    assert!(ohio.contains("| OH       | 17140 |"), "{ohio}");
}
