//! An aggregate joined back to the few rows it summarises is computed as a window over
//! them (TPC-H q17's shape): the table is read once, and every answer is plain
//! DataFusion's.

use crate::common::query_err;
use crate::join_order::{STAR, TABLES, star};
use crate::optimizer::{canon_rows, physical_plan, plain_over, plain_rows};

/// How many scans of `sales` the plan reads.
fn sales_scans(plan: &str) -> usize {
    plan.lines()
        .filter(|l| l.contains("DataSourceExec") && l.contains("sales/"))
        .count()
}

#[tokio::test]
async fn an_aggregate_met_on_the_rows_it_summarises_is_a_window() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    let queries = [
        // q17: each sale of a few items against its item's average.
        "SELECT sum(s_qty) AS qty, count(*) AS n FROM sales JOIN item ON s_item = i_item_sk \
         WHERE i_category = 'c3' AND i_item_sk < 500 \
           AND s_qty < (SELECT 0.9 * avg(s_qty) FROM sales WHERE s_item = i_item_sk)",
        // A derived table of several aggregates, its columns in the output.
        "SELECT s_item, s_store, s_qty, a.avg_qty, a.most, a.n, a.most_again FROM sales \
         JOIN item ON s_item = i_item_sk \
         JOIN (SELECT s_item AS k, avg(s_qty) AS avg_qty, max(s_qty) AS most, count(*) AS n, \
               max(s_qty) AS most_again FROM sales GROUP BY s_item) a ON a.k = s_item \
         WHERE i_category = 'c7' AND i_item_sk > 600 AND s_qty >= a.most - 1 \
         ORDER BY s_item, s_store, s_qty",
    ];
    for sql in queries {
        let before = plain_rows(&plain, &format!("EXPLAIN {sql}")).await;
        assert_eq!(sales_scans(&before), 2, "{before}");
        let plan = physical_plan(&session, sql).await;
        let logical = crate::optimizer::logical_plan(&session, sql)
            .await
            .join("\n");
        assert!(plan.contains("WindowAggExec"), "{logical}\n{plan}");
        assert_eq!(sales_scans(&plan), 1, "{plan}");
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 4, "{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn aggregates_over_other_rows_or_most_rows_stay_joined() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    let queries = [
        // Every item kept: the window would sort every sale.
        "SELECT sum(s_qty) AS qty FROM sales JOIN item ON s_item = i_item_sk \
         WHERE i_category <> 'none' \
           AND s_qty < (SELECT 0.9 * avg(s_qty) FROM sales WHERE s_item = i_item_sk)",
        // The subquery's sales are filtered: its groups are not the joined rows.
        "SELECT sum(s_qty) AS qty FROM sales JOIN item ON s_item = i_item_sk \
         WHERE i_category = 'c3' AND i_item_sk < 500 \
           AND s_qty < (SELECT avg(s_qty) FROM sales \
                        WHERE s_item = i_item_sk AND s_store < 10)",
        // A distinct count.
        "SELECT s_item, s_qty, a.stores FROM sales JOIN item ON s_item = i_item_sk \
         JOIN (SELECT s_item AS k, count(DISTINCT s_store) AS stores FROM sales \
               GROUP BY s_item) a ON a.k = i_item_sk \
         WHERE i_category = 'c3' AND i_item_sk < 500 ORDER BY s_item, s_qty, a.stores",
        // Groups without an aggregate (no window to compute).
        "SELECT s_item, s_qty FROM sales JOIN item ON s_item = i_item_sk \
         JOIN (SELECT DISTINCT s_item AS k FROM sales) d ON d.k = s_item \
         WHERE i_category = 'c3' AND i_item_sk < 500 ORDER BY s_item, s_qty",
        // A value that varies, once per group.
        "SELECT count(*) AS n FROM sales JOIN item ON s_item = i_item_sk \
         JOIN (SELECT s_item AS k, avg(s_qty) * random() AS r FROM sales GROUP BY s_item) a \
           ON a.k = s_item \
         WHERE i_category = 'c3' AND i_item_sk < 500 AND a.r >= 0",
        // An aggregate that reads its rows in order.
        "SELECT s_item, s_qty, array_length(a.stores) AS stores FROM sales \
         JOIN item ON s_item = i_item_sk \
         JOIN (SELECT s_item AS k, array_agg(s_store) AS stores FROM sales GROUP BY s_item) a \
           ON a.k = s_item \
         WHERE i_category = 'c3' AND i_item_sk < 500 ORDER BY s_item, s_qty, stores",
        // Joined with a table not unique on the key it meets: some sales count twice.
        "SELECT sum(s_qty) AS qty FROM sales JOIN dates ON s_date = d_moy \
         WHERE d_year = 2001 \
           AND s_qty < (SELECT avg(s_qty) FROM sales s2 WHERE s2.s_date = d_moy)",
    ];
    for sql in queries {
        let plan = physical_plan(&session, sql).await;
        assert!(!plan.contains("WindowAggExec"), "{sql}\n{plan}");
        let expected = plain_rows(&plain, sql).await;
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn a_query_cannot_pass_its_own_semi_join_for_a_key_set() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    // A semi join below the aggregate that drops groups the join meets: under a key set's
    // alias the window rewrite would take it for a copy of the join's own filter.
    let spoofed = |alias: &str| {
        format!(
            "SELECT sum(s_qty) AS qty FROM sales JOIN item ON s_item = i_item_sk \
             JOIN (SELECT s_item AS k, avg(s_qty) AS avg_qty FROM sales \
                   WHERE s_item IN (SELECT {alias}.k0 FROM (SELECT i_item_sk AS k0 FROM item \
                                    WHERE i_item_sk < 50) AS {alias}) \
                   GROUP BY s_item) a ON a.k = s_item \
             WHERE i_category = 'c3' AND i_item_sk < 500 AND s_qty < a.avg_qty"
        )
    };
    for alias in ["__canon_group_keys", "__canon_scan_keys"] {
        let message = query_err(&session, &spoofed(alias)).await.to_string();
        assert!(
            message.contains(alias) && message.contains("reserved"),
            "{message}"
        );
        // In a subquery of an expression as well.
        let nested = format!(
            "SELECT count(*) FROM item WHERE i_item_sk IN \
             (SELECT {alias}.s_item FROM sales AS {alias})"
        );
        let message = query_err(&session, &nested).await.to_string();
        assert!(message.contains(alias), "{message}");
    }
    // Under any other alias the query runs, with plain DataFusion's answer.
    let plain = plain_over(&fx, &TABLES).await;
    let sql = spoofed("mine");
    assert_eq!(
        canon_rows(&session, &sql).await,
        plain_rows(&plain, &sql).await
    );
}
