//! A wide integer column in a large table has its distinct values counted in a sample of
//! its files: line keys that run from 1 to 480 K over 480 K lines, four lines to an order,
//! are not taken for unique, so a tenth of the orders meets four times as many lines as
//! the range alone would say, and a dimension that keeps fewer lines is joined first.
//! A few values that refer to a filtered table are taken to refer to its whole table, of
//! which the filter keeps some at random, not to the rows the filter kept.

use canon::datafusion::arrow::array::Int64Array;

use crate::common::{Fixture, arr, batch};
use crate::join_order::{joined_first, orders};
use crate::optimizer::{canon_rows, plain_over, plain_rows};

const PROJECT: &str = r#"
[project]
name = "lines"

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [
  { name = "o_key", type = "Int64", nullable = false },
  { name = "o_flag", type = "Int64", nullable = false },
]

[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
columns = [
  { name = "l_key", type = "Int64", nullable = false },
  { name = "l_part", type = "Int64", nullable = false },
]

[[dataset]]
name = "parts"
format = "parquet"
location = "parts"
columns = [
  { name = "p_key", type = "Int64", nullable = false },
  { name = "p_flag", type = "Int64", nullable = false },
]
"#;

const TABLES: [&str; 3] = ["orders", "lines", "parts"];

/// Written with the orders first: a tenth of them (12 K) meets 48 K lines, where a
/// sixteenth of the parts meets 30 K.
const ORDERS_FIRST: &str = "SELECT o_flag, p_flag, count(*) AS n, sum(l_key) AS keys \
    FROM lines \
    JOIN orders ON l_key = o_key \
    JOIN parts ON l_part = p_key \
    WHERE o_flag = 3 AND p_flag = 0 \
    GROUP BY o_flag, p_flag";

/// 120 K orders with keys 1, 5, 9, … (a quarter of their range), four lines each, in
/// order of their keys, and 1,600 parts the lines spread over.
fn lines() -> Fixture {
    let fx = Fixture::new();
    let orders: i64 = 120_000;
    fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![
            (
                "o_key",
                arr(Int64Array::from_iter_values((0..orders).map(|i| 4 * i + 1))),
            ),
            (
                "o_flag",
                arr(Int64Array::from_iter_values((0..orders).map(|i| i % 10))),
            ),
        ]),
    );
    let lines = 4 * orders;
    fx.write_parquet(
        "lines/part-0.parquet",
        &batch(vec![
            (
                "l_key",
                arr(Int64Array::from_iter_values(
                    (0..lines).map(|i| i / 4 * 4 + 1),
                )),
            ),
            (
                "l_part",
                arr(Int64Array::from_iter_values(
                    (0..lines).map(|i| i * 7_919 / 3 % 1_600),
                )),
            ),
        ]),
    );
    fx.write_parquet(
        "parts/part-0.parquet",
        &batch(vec![
            ("p_key", arr(Int64Array::from_iter_values(0..1_600))),
            (
                "p_flag",
                arr(Int64Array::from_iter_values((0..1_600).map(|i| i % 16))),
            ),
        ]),
    );
    fx
}

#[tokio::test]
async fn a_wide_key_that_repeats_is_counted_in_a_sample_and_the_smaller_join_goes_first() {
    let fx = lines();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let found = orders(&session, ORDERS_FIRST).await;
    // By the range alone the line keys are unique and the orders' join keeps 12 K lines,
    // fewer than the parts' 30 K, so the written order would stay.
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}");
    };
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["lines", "parts"]], "{line}");
    assert!(order.contains("orders:12.0K"), "{line}");

    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, ORDERS_FIRST).await;
    // 4,000 lines of the tenth of the orders are of the sixteenth of the parts.
    assert!(expected.contains("| 4000 |"), "{expected}");
    assert_eq!(canon_rows(&session, ORDERS_FIRST).await, expected);
}

const DEMOGRAPHICS: &str = r#"
[project]
name = "demographics"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  { name = "s_demo", type = "Int64", nullable = false },
  { name = "s_store", type = "Int64", nullable = false },
]

[[dataset]]
name = "demos"
format = "parquet"
location = "demos"
columns = [
  { name = "d_key", type = "Int64", nullable = false },
  { name = "d_flag", type = "Int64", nullable = false },
]

[[dataset]]
name = "stores"
format = "parquet"
location = "stores"
columns = [
  { name = "st_key", type = "Int64", nullable = false },
  { name = "st_flag", type = "Int64", nullable = false },
]
"#;

/// Written with the stores first: half of them keep half the sales (60 K), where a fifth
/// of the demographics keeps a fifth (24 K).
const STORES_FIRST: &str = "SELECT d_flag, st_flag, count(*) AS n \
    FROM sales \
    JOIN stores ON s_store = st_key \
    JOIN demos ON s_demo = d_key \
    WHERE d_flag = 0 AND st_flag = 0 \
    GROUP BY d_flag, st_flag";

/// 120 K sales of 5,000 of the 100 K demographics (every 19th), over 1,000 stores.
fn demographics() -> Fixture {
    let fx = Fixture::new();
    let sales: i64 = 120_000;
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            (
                "s_demo",
                arr(Int64Array::from_iter_values(
                    (0..sales).map(|i| i % 5_000 * 19),
                )),
            ),
            (
                "s_store",
                arr(Int64Array::from_iter_values((0..sales).map(|i| i % 1_000))),
            ),
        ]),
    );
    fx.write_parquet(
        "demos/part-0.parquet",
        &batch(vec![
            ("d_key", arr(Int64Array::from_iter_values(0..100_000))),
            (
                "d_flag",
                arr(Int64Array::from_iter_values((0..100_000).map(|i| i % 5))),
            ),
        ]),
    );
    fx.write_parquet(
        "stores/part-0.parquet",
        &batch(vec![
            ("st_key", arr(Int64Array::from_iter_values(0..1_000))),
            (
                "st_flag",
                arr(Int64Array::from_iter_values((0..1_000).map(|i| i % 2))),
            ),
        ]),
    );
    fx
}

#[tokio::test]
async fn few_values_referring_to_a_filtered_table_refer_to_all_of_it() {
    let fx = demographics();
    let runtime = fx.runtime(DEMOGRAPHICS).await;
    let session = runtime.session();
    let found = orders(&session, STORES_FIRST).await;
    // Taken to lie among the 20 K demographics the filter keeps, the sales' 5,000 (sampled:
    // about 9 K) would all meet one, and the stores' join, keeping half, would stay first.
    let [line] = found.as_slice() else {
        panic!("one reordered region expected: {found:?}");
    };
    let order = line.split("order=").nth(1).unwrap_or_default();
    assert_eq!(joined_first(order), vec![["demos", "sales"]], "{line}");
    assert!(order.contains("demos:20.0K"), "{line}");

    let plain = plain_over(&fx, &["sales", "demos", "stores"]).await;
    let expected = plain_rows(&plain, STORES_FIRST).await;
    // A fifth of the sales' demographics and half their stores: 12,000 sales.
    assert!(expected.contains("| 12000 |"), "{expected}");
    assert_eq!(canon_rows(&session, STORES_FIRST).await, expected);
}
