//! A reordered region tells DataFusion's join selection Canon's estimate of its rows, and
//! of each of its joins' rows: a join above the region, or within it, builds one hash
//! table from the rows below when Canon estimates them small, where DataFusion's own
//! estimate would have repartitioned both sides.

use crate::join_order::{MONTH_LAST, STAR, TABLES, star};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

/// A month of sales with their items, each kept when the item sold on another day too: a
/// semi join above the region of the month's joins.
const SOLD_ELSEWHERE: &str = "SELECT d_date_sk, i_category, s_store, s_qty \
    FROM sales \
    JOIN item ON s_item = i_item_sk \
    JOIN dates ON s_date = d_date_sk \
    WHERE d_year = 2001 AND d_moy = 3 \
      AND EXISTS (SELECT 1 FROM sales s2 WHERE s2.s_item = sales.s_item \
                  AND s2.s_date <> sales.s_date) \
    ORDER BY d_date_sk, i_category, s_store, s_qty";

/// One hash table for a join only when its build side is estimated under 200 rows (a
/// side with an estimate in bytes never qualifies). DataFusion rates the month's region
/// at 333 rows, Canon at 67.
const SMALL_UNDER_200_ROWS: &str = "\n[profile.settings]\n\
    \"datafusion.optimizer.hash_join_single_partition_threshold\" = \"0\"\n\
    \"datafusion.optimizer.hash_join_single_partition_threshold_rows\" = \"200\"\n\
    \"datafusion.explain.show_statistics\" = \"true\"\n";

/// The plan's semi join line.
fn semi_join(plan: &[String]) -> &str {
    plan.iter()
        .map(String::as_str)
        .find(|l| l.contains("HashJoinExec") && l.contains("Semi"))
        .unwrap_or_default()
}

/// The rows a plan line's statistics estimate (`statistics=[Rows=Inexact(333), …`).
fn own_rows(line: &str) -> Option<usize> {
    let rest = line.split("statistics=[Rows=Inexact(").nth(1)?;
    rest.split(')').next()?.parse().ok()
}

#[tokio::test]
async fn a_join_over_a_region_is_built_by_canons_estimate() {
    let fx = star();
    let session = fx
        .runtime(&format!("{STAR}{SMALL_UNDER_200_ROWS}"))
        .await
        .session();
    let order = explained_plan(&session, SOLD_ELSEWHERE, "logical_plan").await;
    assert!(
        order
            .iter()
            .any(|l| l.contains("CanonJoinOrder") && l.contains("rows≈67")),
        "{}",
        order.join("\n")
    );
    // Join selection reads the estimate; the node that carries it is gone right after.
    let selected = explained_plan(
        &session,
        &format!("VERBOSE {SOLD_ELSEWHERE}"),
        "physical_plan after join_selection",
    )
    .await;
    assert!(
        selected
            .iter()
            .any(|l| l.contains("CanonEstimatedRows: rows≈67")),
        "{}",
        selected.join("\n")
    );
    let plan = explained_plan(&session, SOLD_ELSEWHERE, "physical_plan").await;
    assert!(
        !plan.iter().any(|l| l.contains("CanonEstimatedRows")),
        "{}",
        plan.join("\n")
    );
    assert!(
        semi_join(&plan).contains("mode=CollectLeft"),
        "{}",
        plan.join("\n")
    );

    // DataFusion's own estimate of the region, which the plan shows once the node is
    // gone, would not have built one table.
    let region = plan
        .iter()
        .skip_while(|l| !l.contains("Semi"))
        .find(|l| l.contains("HashJoinExec") && l.contains("join_type=Inner"))
        .map(String::as_str)
        .unwrap_or_default();
    assert!(own_rows(region).is_some_and(|rows| rows >= 200), "{region}");

    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, SOLD_ELSEWHERE).await;
    assert!(expected.lines().count() > 100, "{expected}");
    assert_eq!(canon_rows(&session, SOLD_ELSEWHERE).await, expected);
}

#[tokio::test]
async fn the_joins_inside_a_region_are_built_by_canons_estimates() {
    let fx = star();
    let session = fx
        .runtime(&format!("{STAR}{SMALL_UNDER_200_ROWS}"))
        .await
        .session();
    // The item joins last, over the month's sales at their stores, which Canon estimates
    // at 67 rows.
    let order = explained_plan(&session, MONTH_LAST, "logical_plan").await;
    let line = order
        .iter()
        .find(|l| l.contains("CanonJoinOrder"))
        .map(String::as_str)
        .unwrap_or_default();
    assert!(line.contains("):67 ⋈ item:1.0K):67"), "{line}");
    // That join builds one hash table from them; DataFusion's own estimate of them (333
    // rows, shown once Canon's is gone) would have repartitioned both sides, since the
    // 1,000 items are too many to build from as well.
    let plan = explained_plan(&session, MONTH_LAST, "physical_plan").await;
    let joins: Vec<&str> = plan
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("HashJoinExec") && l.contains("join_type=Inner"))
        .collect();
    let [item, below, ..] = joins.as_slice() else {
        panic!("{}", plan.join("\n"));
    };
    assert!(
        item.contains("i_item_sk") && item.contains("mode=CollectLeft"),
        "{item}"
    );
    assert!(own_rows(below).is_some_and(|rows| rows >= 200), "{below}");

    let plain = plain_over(&fx, &TABLES).await;
    let expected = plain_rows(&plain, MONTH_LAST).await;
    assert_eq!(canon_rows(&session, MONTH_LAST).await, expected);
}
