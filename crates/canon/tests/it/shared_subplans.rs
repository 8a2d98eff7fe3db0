//! An aggregate a query computes more than once, or a window over one, is computed once
//! and read by each place that needs it; the answers stay those of plain DataFusion,
//! which computes it each time.

use crate::common::rows;
use crate::optimizer::{SHOP, canon_rows, physical_plan, plain, plain_rows, shop};
use crate::spill;

/// How many readers each shared result has in a physical plan, by result id.
fn readers(plan: &str) -> Vec<usize> {
    let mut counts: Vec<usize> = Vec::new();
    for line in plan.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("CanonSharedExec: result=") {
            let id: usize = rest
                .parse()
                .unwrap_or_else(|_| panic!("result id in {line}"));
            if counts.len() < id {
                counts.resize(id, 0);
            }
            counts[id - 1] += 1;
        }
    }
    counts
}

/// q15's shape (the view read for its rows and for its maximum, or its average), a
/// self-join of one aggregate and a union of one aggregate twice share it; a volatile
/// aggregate, two different aggregates and one read once do not.
#[tokio::test]
async fn a_repeated_aggregate_is_computed_once() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    for (sql, shared) in [
        (
            "WITH revenue AS (SELECT o_custkey, sum(o_total) AS total FROM orders \
                              WHERE o_orderkey IS NOT NULL GROUP BY o_custkey) \
             SELECT c_name, total FROM customer JOIN revenue ON c_custkey = o_custkey \
             WHERE total = (SELECT max(total) FROM revenue) ORDER BY c_name",
            vec![2],
        ),
        (
            "WITH t AS (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) \
             SELECT a.o_custkey, a.n, b.n FROM t a JOIN t b ON a.o_custkey = b.o_custkey + 1 \
             ORDER BY a.o_custkey",
            vec![2],
        ),
        (
            "WITH t AS (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) \
             SELECT a.o_custkey, a.n FROM t a JOIN customer ON a.o_custkey = c_custkey \
             WHERE a.n > (SELECT avg(n) FROM t) ORDER BY a.o_custkey",
            vec![2],
        ),
        (
            "SELECT l_orderkey, sum(l_quantity) AS q FROM lineitem GROUP BY l_orderkey \
             UNION ALL \
             SELECT l_orderkey, sum(l_quantity) AS q FROM lineitem GROUP BY l_orderkey \
             ORDER BY l_orderkey, q",
            vec![2],
        ),
        (
            "WITH t AS (SELECT o_custkey, sum(o_total + random() * 0.0) AS total FROM orders \
                        GROUP BY o_custkey) \
             SELECT a.o_custkey, a.total + b.total FROM t a JOIN t b \
             ON a.o_custkey = b.o_custkey ORDER BY a.o_custkey",
            vec![],
        ),
        (
            "SELECT o_custkey, sum(o_total) AS v FROM orders GROUP BY o_custkey \
             UNION ALL \
             SELECT o_custkey, max(o_total) AS v FROM orders GROUP BY o_custkey \
             ORDER BY o_custkey, v",
            vec![],
        ),
        (
            "SELECT o_custkey, sum(o_total) AS v FROM orders GROUP BY o_custkey \
             ORDER BY o_custkey",
            vec![],
        ),
    ] {
        let ours = canon_rows(&session, sql).await;
        assert_eq!(ours, plain_rows(&ctx, sql).await, "{sql}");
        let plan = physical_plan(&session, sql).await;
        assert_eq!(readers(&plan), shared, "{sql}\n{plan}");
    }
}

/// q47's shape: a ranking over an aggregate, joined with itself, is computed once with its
/// aggregate; when the aggregate is also read without the ranking, the aggregate alone is
/// shared and the ranking computed for each reader.
#[tokio::test]
async fn a_repeated_window_over_an_aggregate_is_computed_once() {
    let fx = shop();
    let runtime = fx.runtime(SHOP).await;
    let session = runtime.session();
    let ctx = plain(&fx).await;
    let ranked = "WITH t AS (SELECT o_custkey, sum(o_total) AS total, \
                         rank() OVER (ORDER BY sum(o_total) DESC, o_custkey) AS rk \
                         FROM orders GROUP BY o_custkey)";
    for (sql, shared, window) in [
        (
            format!(
                "{ranked} SELECT a.o_custkey, a.total, b.total AS next FROM t a \
                 JOIN t b ON a.rk + 1 = b.rk ORDER BY a.o_custkey"
            ),
            vec![2],
            true,
        ),
        (
            format!(
                "{ranked} SELECT a.o_custkey, a.rk, b.rk AS next FROM t a \
                 JOIN t b ON a.rk + 1 = b.rk \
                 JOIN (SELECT o_custkey, sum(o_total) AS total FROM orders \
                       GROUP BY o_custkey) c ON c.o_custkey = a.o_custkey AND c.total > 0 \
                 ORDER BY a.o_custkey"
            ),
            vec![3],
            false,
        ),
    ] {
        let ours = canon_rows(&session, &sql).await;
        assert_eq!(ours, plain_rows(&ctx, &sql).await, "{sql}");
        assert!(ours.lines().count() > 4, "no rows: {ours}");
        let plan = physical_plan(&session, &sql).await;
        assert_eq!(readers(&plan), shared, "{sql}\n{plan}");
        // EXPLAIN prints the shared subplan under each reader: its first line tells what
        // is computed once.
        let lines: Vec<&str> = plan.lines().collect();
        let window_shared = lines
            .windows(2)
            .any(|pair| pair[0].contains("CanonSharedExec") && pair[1].contains("WindowAggExec"));
        assert_eq!(window_shared, window, "{sql}\n{plan}");
    }
}

/// A shared result larger than the memory limit goes to the spill directory and each
/// reader reads it back from there.
#[tokio::test]
async fn a_shared_result_over_the_memory_limit_is_read_back_from_disk() {
    let fx = spill::fixture();
    let runtime = fx
        .runtime(&spill::project(
            "[profile.settings]\n\"datafusion.execution.sort_spill_reservation_bytes\" = \"262144\"",
        ))
        .await;
    let session = runtime.session();
    let sql = "WITH g AS (SELECT s, count(*) AS n FROM big GROUP BY s) \
               SELECT (SELECT count(n) FROM g) AS groups, (SELECT sum(n) FROM g) AS total";
    let expected = spill::ROWS.to_string();
    assert_eq!(
        rows(&session, sql).await,
        vec![vec![expected.clone(), expected]]
    );

    let analyzed = rows(&session, &format!("EXPLAIN ANALYZE {sql}")).await;
    let plan = &analyzed[0][1];
    let shared: Vec<&str> = plan
        .lines()
        .filter(|line| line.contains("CanonSharedExec"))
        .collect();
    assert_eq!(shared.len(), 2, "{plan}");
    // The reader that computed the rows wrote what did not fit; the other only read.
    let spilled: Vec<&&str> = shared
        .iter()
        .filter(|line| line.contains("spill_count=1"))
        .collect();
    assert_eq!(spilled.len(), 1, "{plan}");
    assert!(!spilled[0].contains("spilled_rows=0"), "{plan}");
}
