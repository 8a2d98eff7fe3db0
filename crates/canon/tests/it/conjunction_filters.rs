//! A filter of several conditions tests them on a bitmap of the rows still in
//! (`canon::optimizer::Conjunction`): the same rows as DataFusion's nested `AND`, nulls
//! counted as false, whichever conditions are evaluated on every row and whichever on
//! the rows still in.

use std::sync::Arc;

use canon::datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::datatypes::{DataType, Field, Schema};
use canon::datafusion::common::DFSchema;
use canon::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use canon::datafusion::logical_expr::ColumnarValue;
use canon::datafusion::logical_expr::utils::conjunction;
use canon::datafusion::physical_plan::PhysicalExpr;
use canon::datafusion::physical_plan::filter::FilterExec;
use canon::datafusion::prelude::SessionContext;
use canon::optimizer::Conjunction;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::common::{Fixture, arr, batch};
use crate::optimizer::{canon_rows, explained_plan, plain_over, plain_rows};

/// Conditions over `a`, `b` (integers from 0 to 999, some null) and `s` (short text, some
/// null), `{k}` a constant: comparisons of columns and constants, which the conjunction
/// evaluates on every row, and others, which it evaluates on the rows still in; one of
/// constants only, whose value is one boolean for the batch.
const CONDITIONS: [&str; 11] = [
    "a < {k}",
    "{k} < 500",
    "b >= {k}",
    "a BETWEEN {k} AND {k} + 4",
    "a = b",
    "a IS NOT NULL",
    "NOT (b > {k})",
    "s LIKE '%{d}%'",
    "a % 7 = {d}",
    "b < {k} OR s = 'x{d}'",
    "abs(a - b) < {k}",
];

/// The rows where `expr` is true, nulls as false.
fn truth(expr: &Arc<dyn PhysicalExpr>, rows: &RecordBatch) -> Vec<bool> {
    let value = expr.evaluate(rows).expect("evaluates");
    let array = match value {
        ColumnarValue::Array(array) => array,
        ColumnarValue::Scalar(scalar) => scalar.to_array_of_size(rows.num_rows()).expect("array"),
    };
    let values = array.as_boolean();
    (0..values.len())
        .map(|i| values.is_valid(i) && values.value(i))
        .collect()
}

#[test]
fn a_conjunction_keeps_the_rows_datafusions_and_keeps() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let df_schema = DFSchema::try_from(Arc::clone(&schema)).expect("schema");
    let ctx = SessionContext::new();
    let value = || prop::option::weighted(0.9, 0_i64..1000);
    let text = prop::option::weighted(0.9, "[x-z][0-9]{1,3}");
    let rows = prop::collection::vec((value(), value(), text), 0..3000);
    let picks = prop::collection::vec((0..CONDITIONS.len(), 0_i64..1000, 0_i64..7), 2..6);
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&(rows, picks), |(rows, picks)| {
            let a = Int64Array::from_iter(rows.iter().map(|r| r.0));
            let b = Int64Array::from_iter(rows.iter().map(|r| r.1));
            let s = StringArray::from_iter(rows.iter().map(|r| r.2.clone()));
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![arr(a), arr(b), arr(s)])
                .expect("batch");
            let conditions: Vec<_> = picks
                .iter()
                .map(|(at, k, d)| {
                    let sql = CONDITIONS[*at]
                        .replace("{k}", &k.to_string())
                        .replace("{d}", &d.to_string());
                    ctx.parse_sql_expr(&sql, &df_schema).expect("parses")
                })
                .collect();
            let physical = |e| ctx.create_physical_expr(e, &df_schema).expect("plans");
            let nested = physical(conjunction(conditions.clone()).expect("conditions"));
            let each = conditions.into_iter().map(physical).collect();
            let ours = Conjunction::try_new(each, Arc::clone(&schema)).expect("conjunction");
            let ours: Arc<dyn PhysicalExpr> = Arc::new(ours);
            prop_assert_eq!(truth(&ours, &batch), truth(&nested, &batch), "{}", nested);
            Ok(())
        })
        .expect("the conjunction keeps DataFusion's rows");
}

const LINES: &str = r#"
[project]
name = "lines"

[profile]
target_partitions = 2

[[dataset]]
name = "lines"
format = "parquet"
location = "lines"
columns = [
  { name = "l_day", type = "Int64", nullable = false },
  { name = "l_discount", type = "Int64" },
  { name = "l_mode", type = "Utf8", nullable = false },
]
"#;

#[tokio::test]
async fn a_filter_of_several_conditions_answers_as_datafusion_and_reads_as_written() {
    let fx = Fixture::new();
    let rows = 100_000_i64;
    let modes = ["AIR", "MAIL", "SHIP", "TRUCK", "RAIL"];
    fx.write_parquet(
        "lines/part-0.parquet",
        &batch(vec![
            (
                "l_day",
                arr(Int64Array::from_iter_values(
                    (0..rows).map(|i| (i * 7919) % 2557),
                )),
            ),
            (
                "l_discount",
                arr(Int64Array::from_iter(
                    (0..rows).map(|i| (i % 13 != 0).then_some(i % 11)),
                )),
            ),
            (
                "l_mode",
                arr(StringArray::from_iter_values(
                    (0..rows).map(|i| modes[usize::try_from(i % 5).unwrap_or_default()]),
                )),
            ),
        ]),
    );
    let session = fx.runtime(LINES).await.session();
    let plain = plain_over(&fx, &["lines"]).await;
    // A year of days (a seventh), then the discounts, then text on the few rows left; the
    // last with an `OR` the plan must show in parentheses.
    let sql = "SELECT l_mode, count(*) AS n, sum(l_discount) AS d FROM lines \
        WHERE l_day >= 365 AND l_day < 730 AND l_discount BETWEEN 5 AND 7 \
        AND (l_mode LIKE '%AI%' OR l_mode = 'SHIP') GROUP BY l_mode ORDER BY l_mode";
    let expected = plain_rows(&plain, sql).await;
    assert_eq!(expected.lines().count(), 8, "{expected}");
    assert_eq!(canon_rows(&session, sql).await, expected);

    let plan = explained_plan(&session, sql, "physical_plan").await;
    let filter = plan
        .iter()
        .find(|l| l.contains("FilterExec"))
        .unwrap_or_else(|| panic!("no filter:\n{}", plan.join("\n")));
    assert!(
        filter.contains("(l_mode@2 LIKE %AI% OR l_mode@2 = SHIP)"),
        "{filter}"
    );
    assert_eq!(filter.matches(" AND ").count(), 4, "{filter}");

    // The plan the query runs tests them as one conjunction.
    let frame = session.sql(sql).await.expect("plans");
    let physical = frame
        .create_physical_plan()
        .await
        .expect("plans physically");
    let mut conjunctions = 0;
    physical
        .apply(|node| {
            let filter = node.downcast_ref::<FilterExec>();
            if filter.is_some_and(|f| f.predicate().is::<Conjunction>()) {
                conjunctions += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walks");
    assert_eq!(conjunctions, 1);
}
