//! An outer join whose nullable side an inner join above meets on a key is an inner join:
//! the inner join's equality drops every row whose key is null, the rows the outer join
//! added included. TPC-DS q93 left-joins each store sale with its return and keeps only the
//! returns of one reason; DataFusion turns an outer join into an inner one only under a
//! filter, so it met all 2.9 M sales with all 287 K returns before the reason kept one in
//! thirty-five. Canon makes such an outer join inner (`canon::optimizer::OuterJoinsMetOnKeys`).

use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

const SHOP: &str = r#"
[project]
name = "returns"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  { name = "s_ticket", type = "Int64", nullable = false },
  { name = "s_qty", type = "Int64", nullable = false },
]

[[dataset]]
name = "returns"
format = "parquet"
location = "returns"
columns = [
  { name = "r_ticket", type = "Int64", nullable = false },
  { name = "r_reason", type = "Int64" },
]

[[dataset]]
name = "reason"
format = "parquet"
location = "reason"
columns = [
  { name = "re_key", type = "Int64", nullable = false },
  { name = "re_desc", type = "Utf8", nullable = false },
]
"#;

/// The sales returned for one reason, written as q93 writes it.
const ONE_REASON: &str = "SELECT s_ticket, s_qty, r_reason \
    FROM sales LEFT JOIN returns ON r_ticket = s_ticket, reason \
    WHERE r_reason = re_key AND re_desc = 'warranty' \
    ORDER BY s_ticket";

/// 1,000 sales; every tenth returned, for one of five reasons, or none given for every
/// sixtieth.
fn shop() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            ("s_ticket", arr(Int64Array::from_iter_values(0..1000))),
            (
                "s_qty",
                arr(Int64Array::from_iter_values((0..1000).map(|i| i % 7))),
            ),
        ]),
    );
    let returned: Vec<i64> = (0..1000).step_by(10).collect();
    let reasons: Vec<Option<i64>> = returned
        .iter()
        .map(|t| (t % 60 != 0).then_some(t / 10 % 5))
        .collect();
    fx.write_parquet(
        "returns/part-0.parquet",
        &batch(vec![
            ("r_ticket", arr(Int64Array::from(returned))),
            ("r_reason", arr(Int64Array::from(reasons))),
        ]),
    );
    fx.write_parquet(
        "reason/part-0.parquet",
        &batch(vec![
            ("re_key", arr(Int64Array::from_iter_values(0..5))),
            (
                "re_desc",
                arr(StringArray::from(vec![
                    "size", "warranty", "late", "colour", "gift",
                ])),
            ),
        ]),
    );
    fx
}

#[tokio::test]
async fn an_outer_join_met_on_its_nullable_side_by_an_inner_join_is_inner() {
    let fx = shop();
    let session = fx.runtime(SHOP).await.session();
    let plan = explained_plan(&session, ONE_REASON, "physical_plan").await;
    let joins: Vec<&String> = plan.iter().filter(|l| l.contains("HashJoinExec")).collect();
    assert_eq!(joins.len(), 2, "{}", plan.join("\n"));
    assert!(
        joins.iter().all(|l| l.contains("join_type=Inner")),
        "{}",
        plan.join("\n")
    );

    let plain = plain_over(&fx, &["sales", "returns", "reason"]).await;
    let expected = plain_rows(&plain, ONE_REASON).await;
    // Reason 1 is given for tickets 10, 110, 160, 210, …: every fifth returned ticket,
    // but 60, 360, 660 and 960, returned without a reason.
    assert_eq!(
        expected.lines().count(),
        16 + 4,
        "16 rows in a table: {expected}"
    );
    assert_eq!(canon_rows(&session, ONE_REASON).await, expected);
    // The plain session keeps the outer join, under the reason's inner join.
    let plain_plan = plain
        .sql(&format!("EXPLAIN {ONE_REASON}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let shown = canon::datafusion::arrow::util::pretty::pretty_format_batches(&plain_plan)
        .unwrap()
        .to_string();
    assert!(
        shown.contains("join_type=Right") || shown.contains("join_type=Left"),
        "{shown}"
    );
}
