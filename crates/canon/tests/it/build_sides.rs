//! A join builds one hash table from a large side only when the side it meets is much
//! larger, and from a side much smaller than the other even when DataFusion would not
//! (`canon::optimizer::BuildBySides`). Canon's sessions raise DataFusion's
//! threshold for one table to 16 MiB; a side that only the raised threshold admits, whose
//! rows are known, is repartitioned with the other side unless that one holds at least
//! four times its rows. TPC-DS q95 meets all 719 K web sales with all of them again; one
//! table built by one thread ran 0.85× the plain session's speed. A side DataFusion
//! repartitions is built as one table where the other holds sixteen times its rows: TPC-H
//! q5 at SF 10 repartitioned 60 M lines to meet 457 K orders. Under an aggregate grouped
//! by the join's key, a side only the raised threshold admits is repartitioned with the
//! other, so the aggregate is finished in each partition: TPC-H q13.

use canon::datafusion::arrow::array::Int64Array;
use canon::optimizer::{MIN_PARTITIONED_BUILD, PROBE_TO_BUILD};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

const ORDERS: &str = r#"
[project]
name = "orders"

[profile]
target_partitions = 2

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [
  { name = "o_key", type = "Int64", nullable = false },
  { name = "o_wh", type = "Int64", nullable = false },
]

[[dataset]]
name = "shipments"
format = "parquet"
location = "shipments"
columns = [
  { name = "s_key", type = "Int64", nullable = false },
  { name = "s_wh", type = "Int64", nullable = false },
]

[[dataset]]
name = "events"
format = "parquet"
location = "events"
columns = [{ name = "e_key", type = "Int64", nullable = false }]

[[dataset]]
name = "warehouses"
format = "parquet"
location = "warehouses"
columns = [{ name = "w_key", type = "Int64", nullable = false }]
"#;

/// Orders shipped from another warehouse than they were taken in: two sides alike.
const ALIKE: &str = "SELECT o_wh, count(*) AS n FROM orders JOIN shipments \
    ON o_key = s_key AND o_wh <> s_wh GROUP BY o_wh ORDER BY o_wh";

/// Each order's events: the other side four times larger.
const LARGER: &str = "SELECT o_wh, count(*) AS n FROM orders JOIN events \
    ON o_key = e_key GROUP BY o_wh ORDER BY o_wh";

/// How many events each order has, none counted too: the same sides grouped by the key.
const PER_KEY: &str = "SELECT o_key, count(e_key) AS n FROM orders LEFT JOIN events \
    ON o_key = e_key GROUP BY o_key";

/// The events at the first thousand keys: a side far smaller than the other.
const SMALLER: &str = "SELECT count(*) AS n FROM events JOIN warehouses ON e_key = w_key";

/// As many orders and shipments as a build side needs to be repartitioned (4 MiB each,
/// over DataFusion's 1 MiB), four times as many events, and a thousand warehouses.
fn orders() -> Fixture {
    let fx = Fixture::new();
    let rows = i64::try_from(MIN_PARTITIONED_BUILD).expect("fits");
    let two = |a: &str, b: &str, wh: i64| {
        batch(vec![
            (a, arr(Int64Array::from_iter_values(0..rows))),
            (
                b,
                arr(Int64Array::from_iter_values((0..rows).map(|i| i % wh))),
            ),
        ])
    };
    fx.write_parquet("orders/part-0.parquet", &two("o_key", "o_wh", 5));
    fx.write_parquet("shipments/part-0.parquet", &two("s_key", "s_wh", 7));
    let events = rows * i64::try_from(PROBE_TO_BUILD).expect("fits");
    fx.write_parquet(
        "events/part-0.parquet",
        &batch(vec![(
            "e_key",
            arr(Int64Array::from_iter_values((0..events).map(|i| i % rows))),
        )]),
    );
    fx.write_parquet(
        "warehouses/part-0.parquet",
        &batch(vec![("w_key", arr(Int64Array::from_iter_values(0..1000)))]),
    );
    fx
}

/// The project with DataFusion's threshold for one hash table set to `bytes`.
fn with_threshold(bytes: usize) -> String {
    format!(
        "{ORDERS}\n[profile.settings]\n\
         \"datafusion.optimizer.hash_join_single_partition_threshold\" = \"{bytes}\"\n"
    )
}

/// The mode of the plan's one hash join.
fn join_mode(plan: &[String]) -> &str {
    plan.iter()
        .find(|l| l.contains("HashJoinExec"))
        .and_then(|l| l.split("mode=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_large_side_is_built_as_one_table_only_against_a_much_larger_one() {
    let fx = orders();
    let session = fx.runtime(ORDERS).await.session();
    let plain = plain_over(&fx, &["orders", "shipments", "events"]).await;

    let alike = explained_plan(&session, ALIKE, "physical_plan").await;
    assert_eq!(join_mode(&alike), "Partitioned", "{}", alike.join("\n"));
    let expected = plain_rows(&plain, ALIKE).await;
    assert_eq!(expected.lines().count(), 9, "{expected}");
    assert_eq!(canon_rows(&session, ALIKE).await, expected);

    let larger = explained_plan(&session, LARGER, "physical_plan").await;
    assert_eq!(join_mode(&larger), "CollectLeft", "{}", larger.join("\n"));
    assert_eq!(
        canon_rows(&session, LARGER).await,
        plain_rows(&plain, LARGER).await
    );
}

#[tokio::test]
async fn a_profile_that_keeps_datafusions_threshold_keeps_its_choice() {
    let fx = orders();
    // Under DataFusion's own threshold the rule has nothing to undo: the orders are too
    // large to build one table from, against the events as well.
    let session = fx.runtime(&with_threshold(1048576)).await.session();
    let larger = explained_plan(&session, LARGER, "physical_plan").await;
    assert_eq!(join_mode(&larger), "Partitioned", "{}", larger.join("\n"));
}

#[tokio::test]
async fn a_side_much_smaller_than_the_other_is_one_table_even_over_the_threshold() {
    let fx = orders();
    // With a threshold of 1 KiB DataFusion repartitions the thousand warehouses (8 KiB)
    // to meet a million events; a thousand times fewer rows are one table.
    let session = fx.runtime(&with_threshold(1024)).await.session();
    let smaller = explained_plan(&session, SMALLER, "physical_plan").await;
    assert_eq!(join_mode(&smaller), "CollectLeft", "{}", smaller.join("\n"));
    // Four times as many rows are not few enough: the orders stay repartitioned.
    let larger = explained_plan(&session, LARGER, "physical_plan").await;
    assert_eq!(join_mode(&larger), "Partitioned", "{}", larger.join("\n"));
    let plain = plain_over(&fx, &["events", "warehouses"]).await;
    let expected = plain_rows(&plain, SMALLER).await;
    assert!(expected.contains("| 4000 |"), "{expected}");
    assert_eq!(canon_rows(&session, SMALLER).await, expected);
}

#[tokio::test]
async fn a_join_under_groups_of_its_key_is_repartitioned_so_they_finish_in_place() {
    let fx = orders();
    let session = fx.runtime(ORDERS).await.session();
    let plain = plain_over(&fx, &["orders", "events"]).await;
    // The same sides as LARGER, one table there; grouped by the key they are
    // repartitioned, and the groups need no second repartition to be finished.
    let per_key = explained_plan(&session, PER_KEY, "physical_plan").await;
    let shown = per_key.join("\n");
    assert_eq!(join_mode(&per_key), "Partitioned", "{shown}");
    assert!(shown.contains("mode=SinglePartitioned"), "{shown}");
    let sum = |rows: &str| -> (usize, i64) {
        let counts = rows
            .lines()
            .filter_map(|l| l.split('|').nth(2)?.trim().parse::<i64>().ok());
        (rows.lines().count(), counts.sum())
    };
    let expected = plain_rows(&plain, &format!("{PER_KEY} ORDER BY o_key")).await;
    let (lines, events) = sum(&expected);
    assert!(
        lines > 1000 && events == 4 * (lines as i64 - 4),
        "{lines} {events}"
    );
    assert_eq!(
        canon_rows(&session, &format!("{PER_KEY} ORDER BY o_key")).await,
        expected
    );
}
