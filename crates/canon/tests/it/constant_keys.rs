//! Canon groups by the keys that vary: a key an equality filter fixes leaves the
//! aggregate's keys and comes back as its value, so the aggregate no longer runs in
//! DataFusion's partially sorted mode; every answer is plain DataFusion's.

use crate::join_order::{STAR, TABLES, star};
use crate::optimizer::{canon_rows, physical_plan, plain_over, plain_rows};

/// A year of sales by item, the year one of the keys (TPC-DS q78's shape).
const A_YEAR_BY_ITEM: &str = "SELECT d_year, s_item, sum(s_qty) AS qty, count(*) AS n \
    FROM sales JOIN dates ON s_date = d_date_sk \
    WHERE d_year = 2001 \
    GROUP BY d_year, s_item ORDER BY s_item";

/// The same through a derived table, joined on the year with another year's aggregate and
/// filtered outside, with the literal written first.
const TWO_DERIVED_YEARS: &str = "SELECT a.y, a.s_item, a.qty, b.qty AS other \
    FROM (SELECT d_year AS y, s_item, sum(s_qty) AS qty \
          FROM sales JOIN dates ON s_date = d_date_sk GROUP BY d_year, s_item) a \
    LEFT JOIN (SELECT d_year AS y, s_item, sum(s_qty) AS qty \
          FROM sales JOIN dates ON s_date = d_date_sk GROUP BY d_year, s_item) b \
      ON a.y = b.y AND a.s_item = b.s_item AND b.qty > 40 \
    WHERE 2002 = a.y ORDER BY a.s_item";

/// Sales of one year from two unions' branches, made distinct, then summed (q75's shape).
const A_YEAR_FROM_A_UNION: &str = "SELECT y, s_item, sum(q) AS qty, count(*) AS n FROM \
    (SELECT d_year AS y, s_item, s_qty AS q FROM sales JOIN dates ON s_date = d_date_sk \
     WHERE d_year = 2001 AND s_store < 20 \
     UNION \
     SELECT d_year, s_item, s_qty + 1 FROM sales JOIN dates ON s_date = d_date_sk \
     WHERE d_year = 2001 AND s_store > 30) u \
    GROUP BY y, s_item ORDER BY s_item";

/// The plan's aggregate lines.
fn aggregates(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter(|l| l.contains("AggregateExec"))
        .collect()
}

#[tokio::test]
async fn a_key_a_filter_fixes_is_projected_not_grouped() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    for sql in [A_YEAR_BY_ITEM, TWO_DERIVED_YEARS, A_YEAR_FROM_A_UNION] {
        // DataFusion takes the fixed year for a sorted key and aggregates partially sorted.
        let before = plain_rows(&plain, &format!("EXPLAIN {sql}")).await;
        assert!(before.contains("ordering_mode=PartiallySorted"), "{before}");
        let plan = physical_plan(&session, sql).await;
        let grouped = aggregates(&plan);
        assert!(!grouped.is_empty(), "{plan}");
        for line in grouped {
            assert!(!line.contains("ordering_mode"), "{plan}");
            assert!(!line.contains("d_year"), "{plan}");
        }
        let expected = plain_rows(&plain, sql).await;
        assert!(expected.lines().count() > 100, "{expected}");
        assert_eq!(canon_rows(&session, sql).await, expected, "{sql}");
    }
}

#[tokio::test]
async fn keys_that_vary_or_are_all_fixed_stay_grouped() {
    let fx = star();
    let session = fx.runtime(STAR).await.session();
    let plain = plain_over(&fx, &TABLES).await;
    let cases = [
        // Every key fixed: without keys an empty input would still give one row.
        (
            "SELECT d_year, s_item, sum(s_qty) AS qty FROM sales JOIN dates \
             ON s_date = d_date_sk JOIN item ON s_item = i_item_sk \
             WHERE d_year = 1900 AND s_item = 7 GROUP BY d_year, s_item",
            "gby=[d_year@",
        ),
        // A year in a range varies.
        (
            "SELECT d_year, s_item, sum(s_qty) AS qty FROM sales JOIN dates \
             ON s_date = d_date_sk WHERE d_year >= 2002 GROUP BY d_year, s_item \
             ORDER BY d_year, s_item",
            "gby=[d_year@",
        ),
        // Two unions' branches fix the year at different values.
        (
            "SELECT y, s_item, sum(q) AS qty FROM \
             (SELECT d_year AS y, s_item, s_qty AS q FROM sales JOIN dates \
              ON s_date = d_date_sk WHERE d_year = 2001 \
              UNION ALL \
              SELECT d_year, s_item, s_qty FROM sales JOIN dates \
              ON s_date = d_date_sk WHERE d_year = 2002) u \
             GROUP BY y, s_item ORDER BY y, s_item",
            "gby=[y@",
        ),
        // A rollup's keys stay as they are.
        (
            "SELECT d_year, s_item, sum(s_qty) AS qty FROM sales JOIN dates \
             ON s_date = d_date_sk WHERE d_year = 2001 GROUP BY ROLLUP (d_year, s_item) \
             ORDER BY d_year NULLS FIRST, s_item NULLS FIRST",
            "d_year@",
        ),
        // The year is fixed on the outer join's side that may be missing. (Counted by
        // year, not listed: DataFusion 55 takes the year for a constant of the join's
        // output too, and leaves it out of the sort.)
        (
            "SELECT d_year, count(*) AS items, sum(n) AS n FROM \
             (SELECT d_year, s_item, count(*) AS n FROM sales LEFT JOIN \
              (SELECT * FROM dates WHERE d_year = 2003) d ON s_date = d_date_sk \
              GROUP BY d_year, s_item) \
             GROUP BY d_year ORDER BY n",
            "gby=[d_year@",
        ),
    ];
    for (sql, grouped_by) in cases {
        let plan = physical_plan(&session, sql).await;
        assert!(
            aggregates(&plan)
                .iter()
                .any(|l| l.contains(grouped_by) && l.contains("s_item")),
            "{sql}\n{plan}"
        );
        assert_eq!(
            canon_rows(&session, sql).await,
            plain_rows(&plain, sql).await,
            "{sql}"
        );
    }
}
