//! A filter on a table tests its most selective conditions first: a range written last
//! (its two bounds together) goes before a ship mode that keeps two of seven values and
//! a comparison of two columns; arithmetic, which may fail, stays last; every answer is
//! plain DataFusion's.

use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, physical_plan, plain_over, plain_rows};

const PROJECT: &str = r#"
[project]
name = "lines"

[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
columns = [
  { name = "day", type = "Int64", nullable = false },
  { name = "mode", type = "Utf8", nullable = false },
  { name = "committed", type = "Int64", nullable = false },
  { name = "received", type = "Int64", nullable = false },
]
"#;

/// 30,000 lines over 3,000 days, seven ship modes, received before or after committed.
fn lines() -> Fixture {
    let fx = Fixture::new();
    let n: i64 = 30_000;
    fx.write_parquet(
        "lines/part-0.parquet",
        &batch(vec![
            (
                "day",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 3_000))),
            ),
            (
                "mode",
                arr(StringArray::from_iter_values(
                    (0..n).map(|i| format!("m{}", i % 7)),
                )),
            ),
            (
                "committed",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 11))),
            ),
            (
                "received",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 13))),
            ),
        ]),
    );
    fx
}

/// A year of days (a tenth of the table), written last.
const YEAR_LAST: &str = "SELECT mode, count(*) AS n, sum(received - committed) AS late \
    FROM lines \
    WHERE mode IN ('m1', 'm2') AND committed < received \
      AND received * 1000 - committed > 4000 \
      AND day >= 1000 AND day < 1300 \
    GROUP BY mode ORDER BY mode";

/// The predicate of the plan's filter.
fn filter_predicate(plan: &str) -> String {
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("FilterExec: "))
        .map(|p| p.split(", projection=").next().unwrap_or(p).to_string())
        .unwrap_or_else(|| panic!("no filter:\n{plan}"))
}

#[tokio::test]
async fn the_most_selective_conditions_go_first() {
    let fx = lines();
    let session = fx.runtime(PROJECT).await.session();
    let plan = physical_plan(&session, YEAR_LAST).await;
    let predicate = filter_predicate(&plan);
    let conditions: Vec<&str> = predicate.split(" AND ").collect();
    // The year's two bounds first, together; the arithmetic last, as written.
    assert!(
        conditions.first().is_some_and(|c| c.starts_with("day@"))
            && conditions.get(1).is_some_and(|c| c.starts_with("day@")),
        "{predicate}"
    );
    assert!(
        conditions.last().is_some_and(|c| c.contains('*')),
        "{predicate}"
    );
    // The ship mode (two of seven, counted in the dictionary) after the comparison of
    // columns, which keeps an unknown fifth.
    let mode = conditions.iter().position(|c| c.contains("mode@"));
    let compared = conditions
        .iter()
        .position(|c| c.contains("committed@") && c.contains("received@") && !c.contains('*'));
    assert!(compared < mode && mode.is_some(), "{predicate}");

    let plain = plain_over(&fx, &["lines"]).await;
    let expected = plain_rows(&plain, YEAR_LAST).await;
    assert!(
        expected.contains("m1") && expected.contains("m2"),
        "{expected}"
    );
    assert_eq!(canon_rows(&session, YEAR_LAST).await, expected);
}

#[tokio::test]
async fn conditions_are_ordered_with_joins_as_written() {
    let fx = lines();
    let written = PROJECT.replace(
        "name = \"lines\"\n\n[[dataset]]",
        "name = \"lines\"\n\n[profile]\njoin_order = \"written\"\n\n[[dataset]]",
    );
    let session = fx.runtime(&written).await.session();
    let predicate = filter_predicate(&physical_plan(&session, YEAR_LAST).await);
    assert!(predicate.starts_with("day@"), "{predicate}");
}
