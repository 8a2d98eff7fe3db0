//! SQL macros: declared in the project (`[[function]]`) for every session, or created with
//! `CREATE FUNCTION` where the policy allows DDL; used inside real queries, type-checked
//! when created, refused with clear messages when called with the wrong arguments.

use canon::datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
use canon::{CanonError, StatementClass};

use crate::common::{Fixture, arr, batch, column, query_err, rows};

const PRICES: [f64; 4] = [10.0, 20.0, 30.5, 41.25];
const REGIONS: [&str; 4] = ["eu", "us", "eu", "apac"];

fn project(policy: &str, functions: &str) -> String {
    format!(
        r#"[project]
name = "macros"

[policy]
{policy}

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "region", type = "Utf8" }},
  {{ name = "price", type = "Float64" }},
]
{functions}"#
    )
}

const DECLARED: &str = r#"
[[function]]
name = "net"
args = [{ name = "amount", type = "DOUBLE" }, { name = "rate", type = "DOUBLE" }]
returns = "DOUBLE"
body = "amount * (1 - rate)"

[[function]]
name = "region_key"
args = [{ name = "region", type = "VARCHAR" }, { name = "id", type = "BIGINT" }]
returns = "VARCHAR"
body = "stable_id(upper(region), id)"
description = "A region-scoped identity"
"#;

fn floats(values: Vec<String>) -> Vec<f64> {
    values.iter().map(|v| v.parse().unwrap()).collect()
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "sales/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2, 3, 4]))),
            ("region", arr(StringArray::from(REGIONS.to_vec()))),
            ("price", arr(Float64Array::from(PRICES.to_vec()))),
        ]),
    );
    fx
}

#[tokio::test]
async fn declared_macros_work_inside_queries_in_every_session() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", DECLARED)).await;
    for session in [runtime.session(), runtime.session()] {
        let got = floats(column(&session, "SELECT net(price, 0.25) FROM sales ORDER BY id").await);
        let expected: Vec<f64> = PRICES.iter().map(|p| p * 0.75).collect();
        assert_eq!(got, expected);

        // In a filter, a grouping and an aggregate's argument.
        let got = rows(
            &session,
            "SELECT region, sum(net(price, 0.5)) FROM sales WHERE net(price, 0.5) > 6 \
             GROUP BY region ORDER BY region",
        )
        .await;
        let got: Vec<(String, f64)> = got
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
        let mut expected = Vec::new();
        for region in ["apac", "eu", "us"] {
            let sum: f64 = PRICES
                .iter()
                .zip(REGIONS)
                .filter(|(p, r)| *r == region && *p * 0.5 > 6.0)
                .map(|(p, _)| p * 0.5)
                .sum();
            if sum > 0.0 {
                expected.push((region.to_string(), sum));
            }
        }
        assert_eq!(got, expected);

        // A macro over Canon's functions agrees with calling them directly.
        let got = rows(
            &session,
            "SELECT region_key(region, id), stable_id(upper(region), id) FROM sales ORDER BY id",
        )
        .await;
        assert!(got.iter().all(|r| r[0] == r[1]), "{got:?}");
    }
}

#[tokio::test]
async fn macros_are_inlined_into_the_plan() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", DECLARED)).await;
    let session = runtime.session();
    let plan = rows(
        &session,
        "EXPLAIN SELECT id FROM sales WHERE net(price, 0.5) > 10",
    )
    .await;
    let logical = &plan[0][1];
    assert!(!logical.contains("net("), "{logical}");
    assert!(
        logical.contains("Filter: sales.price * Float64(0.5) > Float64(10)"),
        "{logical}"
    );
}

#[tokio::test]
async fn create_function_needs_ddl_and_stays_in_its_session() {
    let fx = fixture();
    let create = "CREATE FUNCTION discounted(p DOUBLE) RETURNS DOUBLE RETURN p * 0.9";
    let read_only = fx.runtime(&project("", "")).await.session();
    match query_err(&read_only, create).await {
        CanonError::Policy(v) => assert_eq!(v.class, StatementClass::Ddl),
        other => panic!("expected a policy refusal, got {other}"),
    }

    let runtime = fx.runtime(&project("allow_ddl = true", "")).await;
    let session = runtime.session();
    column(&session, create).await;
    let got = floats(column(&session, "SELECT discounted(price) FROM sales ORDER BY id").await);
    let expected: Vec<f64> = PRICES.iter().map(|p| p * 0.9).collect();
    assert_eq!(got, expected);
    // Positional arguments, a constant call (evaluated, not inlined), replacement.
    column(
        &session,
        "CREATE FUNCTION twice(BIGINT) RETURNS BIGINT RETURN $1 * 2",
    )
    .await;
    assert_eq!(column(&session, "SELECT twice(21)").await, vec!["42"]);
    column(
        &session,
        "CREATE OR REPLACE FUNCTION twice(BIGINT) RETURNS BIGINT RETURN $1 * 3",
    )
    .await;
    assert_eq!(
        column(&session, "SELECT twice(id) FROM sales ORDER BY id").await,
        vec!["3", "6", "9", "12"]
    );
    // An INT argument takes a BIGINT literal.
    column(
        &session,
        "CREATE FUNCTION half(x INT) RETURNS INT RETURN x / 2",
    )
    .await;
    assert_eq!(column(&session, "SELECT half(9)").await, vec!["4"]);

    let other = runtime.session();
    let err = query_err(&other, "SELECT discounted(1.0)")
        .await
        .to_string();
    assert!(err.contains("Invalid function 'discounted'"), "{err}");

    let event = column(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'macro_created' ORDER BY seq LIMIT 1",
    )
    .await;
    let event: serde_json::Value = serde_json::from_str(&event[0]).unwrap();
    assert_eq!(event["name"], "discounted");
    assert_eq!(event["signature"], "discounted(p Float64) -> Float64");
    assert_eq!(event["session"], session.id());

    column(&session, "DROP FUNCTION discounted").await;
    let err = query_err(&session, "SELECT discounted(1.0)")
        .await
        .to_string();
    assert!(err.contains("Invalid function 'discounted'"), "{err}");
    let err = query_err(&session, "DROP FUNCTION upper").await.to_string();
    assert!(
        err.contains("`upper` is a builtin function; only macros can be dropped"),
        "{err}"
    );
}

#[tokio::test]
async fn bodies_that_do_not_type_check_are_refused() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_ddl = true", "")).await;
    let session = runtime.session();
    let cases = [
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS BIGINT RETURN x + 'abc'",
            "macro `f`: body does not type-check: Cannot coerce arithmetic expression Int64 + Utf8",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS BIGINT RETURN upper(x)",
            "macro `f`: body does not type-check",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS VARCHAR RETURN x * 2",
            "macro `f` declares RETURNS Utf8View but its body is Int64",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS BIGINT RETURN sum(x)",
            "aggregate functions are not allowed",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURN x",
            "macro `f` needs a return type",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS BIGINT LANGUAGE python RETURN x",
            "only SQL bodies are supported",
        ),
        (
            "CREATE FUNCTION f(x BIGINT) RETURNS BIGINT RETURN y + 1",
            "No field named y",
        ),
    ];
    for (sql, message) in cases {
        let err = query_err(&session, sql).await.to_string();
        assert!(err.contains(message), "{sql}:\n{err}");
    }
    // Nothing was created.
    assert!(
        column(
            &session,
            "SELECT name FROM canon.functions WHERE tier = 'macro'"
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn wrong_argument_types_are_refused_at_planning() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", DECLARED)).await;
    let session = runtime.session();
    let err = query_err(&session, "SELECT net('abc', 0.5)")
        .await
        .to_string();
    assert!(
        err.contains("macro `net`: argument 1 (amount) is Float64; a Utf8 cannot be passed"),
        "{err}"
    );
    let err = query_err(&session, "SELECT net(1.0)").await.to_string();
    assert!(
        err.contains("macro `net` takes 2 argument(s) (amount Float64, rate Float64), not 1"),
        "{err}"
    );
}

#[tokio::test]
async fn declared_bodies_are_type_checked_at_start_up() {
    let fx = fixture();
    let functions = r#"
[[function]]
name = "broken"
args = [{ name = "x", type = "BIGINT" }]
returns = "BIGINT"
body = "x || true"
"#;
    let err = fx
        .load(&project("", functions))
        .await
        .expect_err("the body does not type-check")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:17: function `broken`: macro `broken`: body does not type-check",
            fx.project_file()
        )),
        "{err}"
    );
}
