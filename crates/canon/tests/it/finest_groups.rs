//! Canon forms grouping sets from the finest groups: a rollup, cube or list of grouping
//! sets whose aggregates combine from parts aggregates its input by every key first; every
//! answer is plain DataFusion's.

use crate::join_order::{STAR, TABLES, star};
use crate::optimizer::{canon_rows, logical_plan, plain_over, plain_rows};

/// Whether a logical plan aggregates by the finest groups below its grouping sets.
fn finest_first(plan: &[String]) -> bool {
    let sets = plan
        .iter()
        .position(|l| l.contains("ROLLUP") || l.contains("CUBE") || l.contains("GROUPING SETS"));
    let finest = plan
        .iter()
        .position(|l| l.contains("Aggregate: groupBy=[[") && l.contains("AS __canon_finest_"));
    matches!((sets, finest), (Some(sets), Some(finest)) if sets < finest)
}

#[tokio::test]
async fn grouping_sets_are_formed_from_the_finest_groups() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    let cases = [
        // q67's shape: a rollup of a star join's attributes, sums and counts of every kind.
        "SELECT i_category, st_state, d_year, d_moy, sum(s_qty) AS qty, count(*) AS n, \
         count(s_store) AS stores, min(s_qty) AS lo, max(s_date) AS hi \
         FROM sales JOIN item ON s_item = i_item_sk JOIN store ON s_store = st_store_sk \
         JOIN dates ON s_date = d_date_sk WHERE d_year >= 2001 \
         GROUP BY ROLLUP (i_category, st_state, d_year, d_moy) \
         ORDER BY 1 NULLS FIRST, 2 NULLS FIRST, 3 NULLS FIRST, 4 NULLS FIRST",
        // A decimal's sum of sums is wider; the answer keeps the sum's type.
        "SELECT i_category, st_state, sum(CAST(s_qty AS DECIMAL(10, 2)) / 3) AS qty, \
         arrow_typeof(sum(CAST(s_qty AS DECIMAL(10, 2)) / 3)) AS t \
         FROM sales JOIN item ON s_item = i_item_sk JOIN store ON s_store = st_store_sk \
         GROUP BY CUBE (i_category, st_state) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST",
        // Grouping sets told apart by grouping(), as TPC-DS q36 and q70 rank them.
        "SELECT i_category, st_state, sum(s_qty) AS qty, \
         grouping(i_category) + grouping(st_state) AS level \
         FROM sales JOIN item ON s_item = i_item_sk JOIN store ON s_store = st_store_sk \
         GROUP BY GROUPING SETS ((i_category, st_state), (i_category), (st_state), ()) \
         ORDER BY level, 1 NULLS FIRST, 2 NULLS FIRST",
    ];
    for sql in cases {
        let plan = logical_plan(&session, sql).await;
        assert!(finest_first(&plan), "{sql}\n{}", plan.join("\n"));
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 10, "{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn grouping_sets_over_aggregates_or_of_averages_stay_as_written() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    let cases = [
        // An average does not combine from parts' averages.
        "SELECT i_category, st_state, avg(s_qty) AS qty FROM sales \
         JOIN item ON s_item = i_item_sk JOIN store ON s_store = st_store_sk \
         GROUP BY ROLLUP (i_category, st_state) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST",
        // Nor does a count of distinct values.
        "SELECT i_category, st_state, count(DISTINCT s_item) AS items FROM sales \
         JOIN item ON s_item = i_item_sk JOIN store ON s_store = st_store_sk \
         GROUP BY ROLLUP (i_category, st_state) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST",
        // A union of aggregates is already grouped (q5's and q14's shape).
        "SELECT c, s, sum(q) AS qty FROM \
         (SELECT 'a' AS c, s_store AS s, sum(s_qty) AS q FROM sales GROUP BY s_store \
          UNION ALL SELECT 'b', s_item, sum(s_qty) FROM sales GROUP BY s_item) u \
         GROUP BY ROLLUP (c, s) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST",
        // One key's rollup has two sets: the finest groups would have to halve the rows.
        "SELECT st_state, sum(s_qty) AS qty FROM sales JOIN store ON s_store = st_store_sk \
         GROUP BY ROLLUP (st_state) ORDER BY 1 NULLS FIRST",
    ];
    for sql in cases {
        let plan = logical_plan(&session, sql).await;
        assert!(!finest_first(&plan), "{sql}\n{}", plan.join("\n"));
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
}
