//! Canon computes an aggregate over a join in part below the join, grouped by the joined
//! side's key, when that removes most of that side's rows: the physical plan shows the
//! partial aggregate under the join, and every answer is plain DataFusion's.

use canon::datafusion::arrow::array::{Int64Array, StringArray};
use canon::datafusion::prelude::SessionContext;

use crate::common::{Fixture, arr, batch};
use crate::join_order::{STAR, TABLES, star};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

/// The lines of `sql`'s physical plan.
async fn physical_plan(session: &canon::Session, sql: &str) -> Vec<String> {
    explained_plan(session, sql, "physical_plan").await
}

/// Whether some aggregate of the plan lies below an inner hash join, grouped by `key`.
fn aggregates_below_a_join(plan: &[String], key: &str) -> bool {
    let Some(join) = plan.iter().position(|l| l.contains("HashJoinExec")) else {
        return false;
    };
    plan[join..]
        .iter()
        .any(|l| l.contains("AggregateExec") && l.contains(&format!("gby=[{key}@")))
}

/// For each query, whether some aggregate lies below a join grouped by `key` (`below`),
/// and that the answer is plain DataFusion's.
async fn assert_placed(
    session: &canon::Session,
    plain: &SessionContext,
    key: &str,
    cases: &[(&str, bool)],
) {
    for &(sql, below) in cases {
        let plan = physical_plan(session, sql).await;
        assert_eq!(
            aggregates_below_a_join(&plan, key),
            below,
            "{sql}\n{plan:#?}"
        );
        assert_eq!(
            canon_rows(session, sql).await,
            plain_rows(plain, sql).await,
            "{sql}"
        );
    }
}

/// Every aggregate that decomposes, over the 20,000 sales by the categories of their
/// 1,000 items, as a rollup.
const BY_CATEGORY: &str = "SELECT i_category, sum(s_qty) AS qty, count(*) AS n, \
    count(s_qty) AS counted, min(s_qty) AS least, max(s_qty) AS most, avg(s_qty) AS mean \
    FROM sales JOIN item ON s_item = i_item_sk \
    GROUP BY ROLLUP (i_category) ORDER BY i_category NULLS FIRST";

/// TPC-DS q22's shape: a year of sales, averaged by a rollup of the items' category.
const A_YEAR_BY_CATEGORY: &str = "SELECT i_category, st_state, avg(s_qty) AS mean, \
    sum(s_qty) AS qty \
    FROM sales, dates, item, store \
    WHERE s_date = d_date_sk AND s_item = i_item_sk AND s_store = st_store_sk \
      AND d_year = 2001 \
    GROUP BY ROLLUP (i_category, st_state) \
    ORDER BY mean, i_category NULLS FIRST, st_state NULLS FIRST";

#[tokio::test]
async fn an_aggregate_over_a_join_is_computed_in_part_below_it() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let plan = physical_plan(&session, BY_CATEGORY).await;
    assert!(aggregates_below_a_join(&plan, "s_item"), "{plan:#?}");
    let plain = plain_over(&fx, &TABLES).await;
    for sql in [BY_CATEGORY, A_YEAR_BY_CATEGORY] {
        let expected = plain_rows(&plain, sql).await;
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
        assert!(expected.lines().count() > 8, "{expected}");
    }
    // `canon explain` shows the partial aggregate in the plan it runs.
    let explained = session.explain(BY_CATEGORY, false).await.expect("explains");
    assert!(
        explained.optimized_plan.contains("__canon_partial"),
        "{}",
        explained.optimized_plan
    );
}

#[tokio::test]
async fn an_aggregate_stays_where_grouping_below_would_not_pay_or_cannot_be_split() {
    let fx = star();
    let runtime = fx.runtime(STAR).await;
    let session = runtime.session();
    let plain = plain_over(&fx, &TABLES).await;
    let stays = [
        // Grouped by the sales' item and day, the partial groups are as many as the sales.
        "SELECT i_category, s_date, sum(s_qty) AS qty FROM sales \
         JOIN item ON s_item = i_item_sk GROUP BY i_category, s_date \
         ORDER BY i_category, s_date",
        // A distinct count does not decompose into partial counts.
        "SELECT i_category, count(DISTINCT s_qty) AS kinds FROM sales \
         JOIN item ON s_item = i_item_sk GROUP BY i_category ORDER BY i_category",
        // Arguments from both sides.
        "SELECT i_category, sum(s_qty * i_item_sk) AS weighted FROM sales \
         JOIN item ON s_item = i_item_sk GROUP BY i_category ORDER BY i_category",
    ];
    assert_placed(&session, &plain, "s_item", &stays.map(|sql| (sql, false))).await;
    // Every day of the sales, by year: grouped by day first. One month of one year: the
    // join with the dates drops most sales, so it comes first and the aggregate after.
    let by_year = "SELECT d_year, sum(s_qty) AS qty FROM sales \
        JOIN dates ON s_date = d_date_sk GROUP BY d_year ORDER BY d_year";
    let a_month = "SELECT d_moy, sum(s_qty) AS qty FROM sales \
        JOIN dates ON s_date = d_date_sk WHERE d_year = 2001 AND d_moy = 3 \
        GROUP BY d_moy ORDER BY d_moy";
    assert_placed(
        &session,
        &plain,
        "s_date",
        &[(by_year, true), (a_month, false)],
    )
    .await;
    // The written plan stays with `join_order = "written"`.
    let written = format!("{STAR}\n[profile]\njoin_order = \"written\"\n");
    let runtime = fx.runtime(&written).await;
    let session = runtime.session();
    let plan = physical_plan(&session, BY_CATEGORY).await;
    assert!(!aggregates_below_a_join(&plan, "s_item"), "{plan:#?}");
    assert_eq!(
        canon_rows(&session, BY_CATEGORY).await,
        plain_rows(&plain, BY_CATEGORY).await
    );
}

const BUYERS: &str = r#"
[project]
name = "buyers"

[[dataset]]
name = "purchase"
format = "parquet"
location = "purchase"
columns = [
  { name = "p_buyer", type = "Int64", nullable = false },
  { name = "p_amount", type = "Int64", nullable = false },
]

[[dataset]]
name = "buyer"
format = "parquet"
location = "buyer"
primary_key = ["b_key"]
columns = [
  { name = "b_key", type = "Int64", nullable = false },
  { name = "b_name", type = "Utf8", nullable = false },
  { name = "b_region", type = "Int64", nullable = false },
]
"#;

/// 6,000 purchases by 1,000 buyers in 20 regions: six purchases per buyer.
fn buyers() -> Fixture {
    let fx = Fixture::new();
    let n: i64 = 6_000;
    fx.write_parquet(
        "purchase/part-0.parquet",
        &batch(vec![
            (
                "p_buyer",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 1000 + 1))),
            ),
            (
                "p_amount",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 97))),
            ),
        ]),
    );
    fx.write_parquet(
        "buyer/part-0.parquet",
        &batch(vec![
            ("b_key", arr(Int64Array::from_iter_values(1..=1000))),
            (
                "b_name",
                arr(StringArray::from_iter_values(
                    (1..=1000).map(|i| format!("buyer {i:04}")),
                )),
            ),
            (
                "b_region",
                arr(Int64Array::from_iter_values((1..=1000).map(|i| i % 20))),
            ),
        ]),
    );
    fx
}

/// Six purchases per buyer: summed per buyer first, the join carries the names to a sixth
/// of the rows and the aggregate groups a sixth by text, which pays. Grouped by an integer
/// of the buyer's, a sixth does not repay a second hash table, and the aggregate stays.
#[tokio::test]
async fn grouping_by_the_other_sides_text_pays_for_a_smaller_reduction() {
    let fx = buyers();
    let runtime = fx.runtime(BUYERS).await;
    let session = runtime.session();
    let plain = plain_over(&fx, &["purchase", "buyer"]).await;
    let by_name = "SELECT b_name, sum(p_amount) AS amount FROM purchase \
        JOIN buyer ON p_buyer = b_key GROUP BY b_name ORDER BY b_name";
    let by_region = "SELECT b_region, sum(p_amount) AS amount FROM purchase \
        JOIN buyer ON p_buyer = b_key GROUP BY b_region ORDER BY b_region";
    assert_placed(
        &session,
        &plain,
        "p_buyer",
        &[(by_name, true), (by_region, false)],
    )
    .await;
}
