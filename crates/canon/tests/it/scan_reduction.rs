//! Scan reduction: an input that meets a filtered dimension through an inner join on the
//! dimension's key, with another join in between, reads only the rows whose key the
//! dimension keeps; every answer stays that of plain DataFusion.

use canon::datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, logical_plan, plain_over, plain_rows};

const PROJECT: &str = r#"
[project]
name = "shipping"

[[dataset]]
name = "nation"
format = "parquet"
location = "nation"
primary_key = ["n_nationkey"]
columns = [
  { name = "n_nationkey", type = "Int64", nullable = false },
  { name = "n_name", type = "Utf8", nullable = false },
  { name = "n_regionkey", type = "Int64", nullable = false },
]

[[dataset]]
name = "supplier"
format = "parquet"
location = "supplier"
primary_key = ["s_suppkey"]
columns = [
  { name = "s_suppkey", type = "Int64", nullable = false },
  { name = "s_nationkey", type = "Int64" },
]

[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
columns = [
  { name = "l_suppkey", type = "Int64" },
  { name = "l_qty", type = "Float64" },
]
"#;

const TABLES: [&str; 3] = ["nation", "supplier", "lines"];

/// Four nations in two regions, six suppliers (one without a nation) and their lines
/// (one without a supplier).
fn shipping() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "nation/part-0.parquet",
        &batch(vec![
            ("n_nationkey", arr(Int64Array::from(vec![1, 2, 3, 4]))),
            (
                "n_name",
                arr(StringArray::from(vec!["fr", "de", "it", "es"])),
            ),
            ("n_regionkey", arr(Int64Array::from(vec![1, 1, 2, 2]))),
        ]),
    );
    fx.write_parquet(
        "supplier/part-0.parquet",
        &batch(vec![
            (
                "s_suppkey",
                arr(Int64Array::from(vec![10, 11, 12, 13, 14, 15])),
            ),
            (
                "s_nationkey",
                arr(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(4),
                    Some(1),
                    None,
                ])),
            ),
        ]),
    );
    let suppliers = [10, 10, 11, 12, 13, 14, 14, 15];
    let mut l_suppkey: Vec<Option<i64>> = suppliers.iter().map(|s| Some(*s)).collect();
    l_suppkey.push(None);
    let l_qty: Vec<f64> = (1..=9).map(f64::from).collect();
    fx.write_parquet(
        "lines/part-0.parquet",
        &batch(vec![
            ("l_suppkey", arr(Int64Array::from(l_suppkey))),
            ("l_qty", arr(Float64Array::from(l_qty))),
        ]),
    );
    fx
}

/// q7's shape reduces supplier before it meets the lines, also when a volatile filter on
/// the dimension stays where it is (the key set reads the dimension's stable filter only).
/// A dimension that is not filtered or filtered only by a volatile predicate, a join on a
/// column that is not the dimension's key, an input whose own key the join reads (a
/// master, not a dimension), a dimension right next to its input and a key reached
/// through an outer join leave the plan as DataFusion made it. The joins keep their written
/// order: ordered by cost, q7's dimension meets the supplier first and the key set goes (see
/// the last test).
#[tokio::test]
async fn a_filtered_dimension_reduces_the_input_that_holds_its_key() {
    let fx = shipping();
    let written = format!("{PROJECT}\n[profile]\njoin_order = \"written\"\n");
    let runtime = fx.runtime(&written).await;
    let session = runtime.session();
    let ctx = plain_over(&fx, &TABLES).await;
    for (sql, reduced) in [
        (
            "SELECT n_name, sum(l_qty) AS q FROM lines \
             JOIN supplier ON l_suppkey = s_suppkey \
             JOIN nation ON s_nationkey = n_nationkey \
             WHERE n_name IN ('fr', 'de') GROUP BY n_name ORDER BY n_name",
            1,
        ),
        (
            "SELECT n_name, sum(l_qty) AS q FROM lines \
             JOIN supplier ON l_suppkey = s_suppkey \
             JOIN nation ON s_nationkey = n_nationkey \
             GROUP BY n_name ORDER BY n_name",
            0,
        ),
        (
            "SELECT n_name, l_qty FROM lines \
             JOIN supplier ON l_suppkey = s_suppkey \
             JOIN nation ON s_nationkey = n_regionkey \
             WHERE n_name = 'fr' ORDER BY n_name, l_qty",
            0,
        ),
        (
            "SELECT l_qty FROM lines JOIN supplier ON l_suppkey = s_suppkey \
             JOIN (SELECT s_suppkey AS k FROM supplier WHERE s_nationkey = 1) f \
             ON s_suppkey = f.k ORDER BY l_qty",
            0,
        ),
        (
            "SELECT s_suppkey FROM supplier JOIN nation ON s_nationkey = n_nationkey \
             WHERE n_name = 'de' ORDER BY s_suppkey",
            0,
        ),
        // The nation meets the supplier's side of the left join on a key, which drops the
        // rows the left join adds: it is an inner join, and the supplier is reduced.
        (
            "SELECT n_name, l_qty FROM lines \
             LEFT JOIN supplier ON l_suppkey = s_suppkey \
             JOIN nation ON s_nationkey = n_nationkey \
             WHERE n_name = 'it' ORDER BY l_qty",
            1,
        ),
        (
            "SELECT n_name, l_qty FROM lines \
             JOIN supplier ON l_suppkey = s_suppkey \
             JOIN (SELECT * FROM nation WHERE n_name = 'fr' AND random() >= 0.0) n \
             ON s_nationkey = n_nationkey ORDER BY l_qty",
            1,
        ),
        (
            "SELECT n_name, l_qty FROM lines \
             JOIN supplier ON l_suppkey = s_suppkey \
             JOIN (SELECT * FROM nation WHERE random() >= 0.0) n \
             ON s_nationkey = n_nationkey ORDER BY l_qty",
            0,
        ),
    ] {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&ctx, sql).await,
            "{sql}"
        );
        let logical = logical_plan(&session, sql).await.join("\n");
        let key_sets = logical.matches("SubqueryAlias: __canon_scan_keys").count();
        assert_eq!(key_sets, reduced, "{sql}\n{logical}");
    }
}

/// q11's shape: the join with the filtered dimension reads none of its columns, so
/// DataFusion makes it a semi join, and the semi-join pushdown would move it onto the
/// supplier the scan reduction already filtered by the same keys. The dimension is read
/// once for the supplier, not twice, and the answers stay plain DataFusion's.
#[tokio::test]
async fn a_dimension_filters_its_input_once() {
    let fx = shipping();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let ctx = plain_over(&fx, &TABLES).await;
    for sql in [
        "SELECT sum(l_qty) AS q FROM lines \
         JOIN supplier ON l_suppkey = s_suppkey \
         JOIN nation ON s_nationkey = n_nationkey WHERE n_name = 'de'",
        "SELECT l_suppkey, sum(l_qty) AS q FROM lines \
         JOIN supplier ON l_suppkey = s_suppkey \
         JOIN nation ON s_nationkey = n_nationkey WHERE n_name IN ('fr', 'es') \
         GROUP BY l_suppkey ORDER BY l_suppkey",
    ] {
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&ctx, sql).await,
            "{sql}"
        );
        let logical = logical_plan(&session, sql).await.join("\n");
        let nation_scans = logical.matches("TableScan: nation").count();
        let key_sets = logical.matches("SubqueryAlias: __canon_scan_keys").count();
        assert_eq!((nation_scans, key_sets), (1, 1), "{sql}\n{logical}");
    }
}

/// Once the join order puts the filtered dimension right next to the input the scan
/// reduction filtered by its keys, the key set is dropped: the join filters that input by
/// the same keys. The dimension is then read once, and the answers stay plain DataFusion's.
/// In the written order the key set stays.
#[tokio::test]
async fn a_key_set_the_join_order_put_beside_its_dimension_is_dropped() {
    let fx = shipping();
    let ctx = plain_over(&fx, &TABLES).await;
    let sql = "SELECT n_name, sum(l_qty) AS q FROM lines \
               JOIN supplier ON l_suppkey = s_suppkey \
               JOIN nation ON s_nationkey = n_nationkey \
               WHERE n_name = 'fr' GROUP BY n_name";
    let written = format!("{PROJECT}\n[profile]\njoin_order = \"written\"\n");
    for (project, reordered) in [(PROJECT.to_string(), true), (written, false)] {
        let runtime = fx.runtime(&project).await;
        let session = runtime.session();
        assert_eq!(canon_rows(&session, sql).await, plain_rows(&ctx, sql).await);
        let logical = logical_plan(&session, sql).await.join("\n");
        let ordered = logical.contains("CanonJoinOrder");
        let key_sets = logical.matches("SubqueryAlias: __canon_scan_keys").count();
        let nation_scans = logical.matches("TableScan: nation").count();
        let expected = match reordered {
            true => (true, 0, 1),
            false => (false, 1, 2),
        };
        assert_eq!((ordered, key_sets, nation_scans), expected, "{logical}");
    }
}

const SALES: &str = r#"
[project]
name = "sales"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  { name = "s_day", type = "Int64" },
  { name = "s_item", type = "Int64" },
  { name = "s_amount", type = "Float64" },
]

[[dataset]]
name = "item"
format = "parquet"
location = "item"
primary_key = ["i_item"]
columns = [
  { name = "i_item", type = "Int64", nullable = false },
  { name = "i_maker", type = "Int64" },
]

[[dataset]]
name = "days"
format = "parquet"
location = "days"
primary_key = ["d_day"]
columns = [
  { name = "d_day", type = "Int64", nullable = false },
  { name = "d_month", type = "Int64" },
]
"#;

/// TPC-DS q32's shape: sales of one maker's items in one month whose amount is well above
/// their item's average in that month. The scan reduction filters the sales by the month's
/// days; the join with the days, a semi join once DataFusion sees that nothing reads their
/// columns, is left above the subquery's join, where it would only read the days again. It
/// goes, the days are read once for the sales (and once in the subquery), and the answers
/// stay plain DataFusion's.
#[tokio::test]
async fn a_semi_join_the_scan_reduction_already_applied_below_goes() {
    let fx = Fixture::new();
    let days: Vec<i64> = (1..=60).collect();
    let months: Vec<i64> = days.iter().map(|d| (d - 1) / 30 + 1).collect();
    fx.write_parquet(
        "days/part-0.parquet",
        &batch(vec![
            ("d_day", arr(Int64Array::from(days))),
            ("d_month", arr(Int64Array::from(months))),
        ]),
    );
    fx.write_parquet(
        "item/part-0.parquet",
        &batch(vec![
            ("i_item", arr(Int64Array::from(vec![1, 2, 3, 4]))),
            ("i_maker", arr(Int64Array::from(vec![7, 7, 8, 8]))),
        ]),
    );
    // Every item sells on every third day, for an amount that grows with the day, and
    // one sale has no day.
    let mut s_day = Vec::new();
    let mut s_item = Vec::new();
    let mut s_amount = Vec::new();
    for day in (1..=60).step_by(3) {
        for item in 1..=4 {
            s_day.push(Some(day));
            s_item.push(item);
            s_amount.push((day * item) as f64);
        }
    }
    s_day.push(None);
    s_item.push(1);
    s_amount.push(1000.0);
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            ("s_day", arr(Int64Array::from(s_day))),
            ("s_item", arr(Int64Array::from(s_item))),
            ("s_amount", arr(Float64Array::from(s_amount))),
        ]),
    );
    let runtime = fx.runtime(SALES).await;
    let session = runtime.session();
    let ctx = plain_over(&fx, &["sales", "item", "days"]).await;
    let sql = "SELECT sum(s_amount) AS excess FROM sales, item, days \
               WHERE i_maker = 7 AND i_item = s_item AND d_month = 2 AND d_day = s_day \
               AND s_amount > (SELECT 1.3 * avg(s_amount) FROM sales, days \
                               WHERE s_item = i_item AND d_month = 2 AND d_day = s_day)";
    let ours = canon_rows(&session, sql).await;
    assert_eq!(ours, plain_rows(&ctx, sql).await);
    assert!(
        !ours.contains("| excess |\n+--------+\n|        |"),
        "{ours}"
    );
    let logical = logical_plan(&session, sql).await.join("\n");
    let days_scans = logical.matches("TableScan: days").count();
    let key_sets = logical.matches("SubqueryAlias: __canon_scan_keys").count();
    assert_eq!((days_scans, key_sets), (2, 1), "{logical}");
}
