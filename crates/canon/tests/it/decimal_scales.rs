//! Canon writes the decimal literal of `1 - l_discount` at the column's scale, so the
//! subtraction no longer rescales both sides of every row; every answer, and every
//! column's type, is plain DataFusion's.

use canon::datafusion::arrow::array::{Decimal128Array, Int64Array, StringArray};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, physical_plan, plain_over, plain_rows};

const ITEMS: &str = r#"
[project]
name = "prices"

[[dataset]]
name = "items"
format = "parquet"
location = "items"
columns = [
  { name = "l_id", type = "Int64", nullable = false },
  { name = "l_flag", type = "Utf8", nullable = false },
  { name = "l_price", type = "Decimal128(15, 2)", nullable = false },
  { name = "l_discount", type = "Decimal128(15, 2)", nullable = false },
  { name = "l_tax", type = "Decimal128(15, 2)" },
]
"#;

/// Two thousand lines of three flags, prices up to the type's largest, discounts of 0 to
/// 10 % and taxes of 0 to 8 %, every seventh tax missing.
fn items() -> Fixture {
    let fx = Fixture::new();
    let n = 2_000_i64;
    let flags = ["A", "N", "R"];
    fx.write_parquet(
        "items/part-0.parquet",
        &batch(vec![
            ("l_id", arr(Int64Array::from_iter_values(0..n))),
            (
                "l_flag",
                arr(StringArray::from_iter_values(
                    (0..n).map(|i| flags[(i % 3) as usize]),
                )),
            ),
            (
                "l_price",
                arr(decimals((0..n).map(|i| {
                    let cents = i128::from(i) * 7_919_003 % 100_000_000;
                    Some(if i == 5 { 999_999_999_999_999 } else { cents })
                }))),
            ),
            (
                "l_discount",
                arr(decimals((0..n).map(|i| Some(i128::from(i % 11))))),
            ),
            (
                "l_tax",
                arr(decimals(
                    (0..n).map(|i| (i % 7 != 0).then_some(i128::from(i % 9))),
                )),
            ),
        ]),
    );
    fx
}

/// `values` as a `Decimal128(15, 2)` array.
fn decimals(values: impl Iterator<Item = Option<i128>>) -> Decimal128Array {
    values
        .collect::<Decimal128Array>()
        .with_precision_and_scale(15, 2)
        .expect("a decimal type")
}

#[tokio::test]
async fn an_integer_added_to_a_decimal_is_written_at_its_scale() {
    let fx = items();
    let session = fx.runtime(ITEMS).await.session();
    let plain = plain_over(&fx, &["items"]).await;
    // TPC-H q1's sums, and the same arithmetic in a filter, a projection and a rollup.
    let queries = [
        "SELECT l_flag, sum(l_price) AS base, \
           sum(l_price * (1 - l_discount)) AS disc_price, \
           sum(l_price * (1 - l_discount) * (1 + l_tax)) AS charge, \
           avg(l_discount) AS disc, count(*) AS n \
         FROM items GROUP BY l_flag ORDER BY l_flag",
        "SELECT l_id, 1 - l_discount AS kept, l_tax + 2 AS taxed, 3 - l_price - 1 AS left_over, \
           arrow_typeof(1 - l_discount) AS kept_type, arrow_typeof(l_tax + 2) AS taxed_type \
         FROM items WHERE 1 + l_tax > 1.05 ORDER BY l_id",
        "SELECT l_flag, 1 - l_discount, count(*) AS n FROM items \
         GROUP BY ROLLUP (l_flag, 1 - l_discount) \
         ORDER BY l_flag NULLS FIRST, 1 - l_discount NULLS FIRST",
    ];
    for sql in queries {
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 6, "{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
    // The literal is DataFusion's `Decimal128(20, 0)` in the plain plan, and written at
    // the columns' two places of decimals in Canon's.
    let sql = queries[0];
    let plain_plan = plain_rows(&plain, &format!("EXPLAIN {sql}")).await;
    assert!(plain_plan.contains("(1 - l_discount@"), "{plain_plan}");
    let plan = physical_plan(&session, sql).await;
    assert!(plan.contains("(1.00 - l_discount@"), "{plan}");
    assert!(plan.contains("1.00 + items.l_tax"), "{plan}");
}

#[tokio::test]
async fn literals_the_rescaling_would_change_stay_as_written() {
    let fx = items();
    let session = fx.runtime(ITEMS).await.session();
    let plain = plain_over(&fx, &["items"]).await;
    // A product needs no common scale; a literal of more places than the column's would
    // need the column rescaled instead.
    let sql = "SELECT l_id, 2 * l_price AS doubled, l_discount - 0.005 AS less \
               FROM items ORDER BY l_id LIMIT 20";
    let expected = plain_rows(&plain, sql).await;
    assert_eq!(canon_rows(&session, sql).await, expected);
    let plan = physical_plan(&session, sql).await;
    assert!(plan.contains("2 * l_price@"), "{plan}");
    assert!(
        plan.contains("l_discount@") && plan.contains(" - 0.005"),
        "{plan}"
    );
}
