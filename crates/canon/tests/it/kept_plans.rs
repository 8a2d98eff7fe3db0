//! Repeated statements: a session runs a query text it ran before from the plan that text
//! was optimized to, in the join order its first run chose, and plans anew whenever that
//! plan could be different now.

use canon::Session;
use canon::datafusion::arrow::array::Int64Array;
use canon::datafusion::physical_plan::displayable;
use canon::datafusion::prelude::{col, lit};

use crate::common::{Fixture, arr, batch, column, rows};
use crate::optimizer::{canon_rows, plain_over, plain_rows};
use crate::sql_fixture::{fixture, planned_since, runtime, table};

/// Whether the DataFrame runs a kept plan.
fn is_kept(df: &canon::datafusion::dataframe::DataFrame) -> bool {
    df.logical_plan()
        .display()
        .to_string()
        .contains("CanonReused")
}

/// Whether `sql`, run twice, runs from one kept plan the second time.
async fn kept_again(session: &Session, sql: &str) -> bool {
    let first = session.sql(sql).await.unwrap();
    let second = session.sql(sql).await.unwrap();
    is_kept(&second) && first.logical_plan() == second.logical_plan()
}

#[tokio::test]
async fn a_repeated_query_runs_from_its_kept_plan_and_is_recorded_alike() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT city, sum(fare) AS total FROM trips WHERE zone_id < 3 \
               GROUP BY city ORDER BY city";
    let before = runtime.diagnostics().records().len();
    let expected = table(&[&["Lima", "70.0"], &["Oslo", "100.0"]]);
    assert_eq!(rows(&session, sql).await, expected);
    assert!(kept_again(&session, sql).await);
    assert_eq!(rows(&session, sql).await, expected);

    // Every run is recorded, as the statement with the optimized plan's fingerprint.
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 2, "{planned:?}");
    let explained = session.explain(sql, false).await.unwrap();
    for event in &planned {
        assert_eq!(event["statement"], explained.statement);
        assert_eq!(event["fingerprint"], explained.fingerprint);
        assert_eq!(event["lineage"]["columns"][1]["sources"][0], "trips.fare");
    }
    // Another session plans for itself.
    let other = runtime.session();
    let mine = session.sql(sql).await.unwrap();
    let its = other.sql(sql).await.unwrap();
    assert_ne!(mine.logical_plan(), its.logical_plan());
}

#[tokio::test]
async fn plans_that_could_differ_are_not_kept() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    for sql in [
        "SELECT now() AS t, count(*) FROM trips",
        "SELECT id FROM trips WHERE fare > random() * 100",
        "SELECT table_name FROM information_schema.tables",
        "EXPLAIN SELECT id FROM trips",
    ] {
        let df = session.sql(sql).await.unwrap();
        assert!(!is_kept(&df), "{sql}");
        df.collect().await.unwrap();
        assert!(!kept_again(&session, sql).await, "{sql}");
    }
}

#[tokio::test]
async fn ddl_and_settings_make_a_session_plan_again() {
    let fx = fixture();
    let runtime = runtime(&fx, "allow_ddl = true\nallow_statements = true").await;
    let session = runtime.session();
    column(&session, "CREATE TABLE scratch AS VALUES (1)").await;
    let sql = "SELECT column1 FROM scratch";
    assert_eq!(column(&session, sql).await, vec!["1"]);
    assert!(kept_again(&session, sql).await);

    // The same name for another table, with another type: the new table is read.
    column(&session, "DROP TABLE scratch").await;
    column(&session, "CREATE TABLE scratch AS VALUES ('two')").await;
    assert_eq!(column(&session, sql).await, vec!["two"]);

    let kept = session.sql(sql).await.unwrap();
    column(
        &session,
        "SET datafusion.optimizer.filter_null_join_keys = true",
    )
    .await;
    let after_set = session.sql(sql).await.unwrap();
    assert!(is_kept(&after_set));
    assert_ne!(kept.logical_plan(), after_set.logical_plan());
}

#[tokio::test]
async fn system_tables_read_now_when_their_plan_is_kept() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT count(*) FROM canon.diagnostics WHERE kind = 'query_planned'";
    assert!(kept_again(&session, sql).await);
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..3 {
        seen.push(column(&session, sql).await[0].parse().unwrap());
    }
    // Each run records itself before it reads the table.
    assert_eq!(seen[1], seen[0] + 1, "{seen:?}");
    assert_eq!(seen[2], seen[1] + 1, "{seen:?}");
}

#[tokio::test]
async fn dataframes_built_on_a_kept_plan_are_optimized_whole() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT id, city FROM trips";
    session.sql(sql).await.unwrap();
    let kept = session.sql(sql).await.unwrap();
    assert!(is_kept(&kept));

    let filtered = kept.clone().filter(col("id").gt(lit(4))).unwrap();
    let optimized = filtered.clone().into_optimized_plan().unwrap();
    let shown = optimized.display_indent().to_string();
    assert!(!shown.contains("CanonReused"), "{shown}");
    // The filter reaches the scan, as when the statement is planned with it.
    assert!(
        shown.contains("TableScan: trips") && shown.contains("id > Int64(4)"),
        "{shown}"
    );
    let batches = filtered.collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // Explained as the statement it runs, with DataFusion's API and Canon's.
    let explained = session
        .explain_dataframe(kept.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        explained.fingerprint,
        session.explain(sql, false).await.unwrap().fingerprint
    );
    assert!(!explained.logical_plan.contains("CanonReused"));
    let plans = kept.explain(false, false).unwrap().collect().await.unwrap();
    assert!(!plans.is_empty());
}

/// The keys of each inner hash join in the physical plan `df` runs, the deepest last;
/// each join's two keys sorted, since DataFusion picks its build side when it plans.
async fn hash_joins(df: canon::datafusion::dataframe::DataFrame) -> Vec<[String; 2]> {
    let plan = df.create_physical_plan().await.expect("plans");
    let shown = displayable(plan.as_ref()).indent(false).to_string();
    let keys = |line: &str| -> Option<[String; 2]> {
        let on = line.split("on=[(").nth(1)?.split(")]").next()?;
        let (a, b) = on.split_once(", ")?;
        let mut pair = [a.to_string(), b.to_string()]
            .map(|k| k.split('@').next().unwrap_or_default().to_string());
        pair.sort();
        Some(pair)
    };
    shown
        .lines()
        .filter(|l| l.contains("HashJoinExec") && l.contains("join_type=Inner"))
        .filter_map(keys)
        .collect()
}

const FACTS: &str = r#"
[project]
name = "facts"

[profile.cache]
list_files = "0"

[[dataset]]
name = "facts"
format = "parquet"
location = "facts"
columns = [
  { name = "f_a", type = "Int64", nullable = false },
  { name = "f_b", type = "Int64", nullable = false },
]

[[dataset]]
name = "a"
format = "parquet"
location = "a"
columns = [
  { name = "a_key", type = "Int64", nullable = false },
  { name = "a_flag", type = "Int64", nullable = false },
]

[[dataset]]
name = "b"
format = "parquet"
location = "b"
columns = [
  { name = "b_key", type = "Int64", nullable = false },
  { name = "b_flag", type = "Int64", nullable = false },
]
"#;

/// Written with `a` first, which keeps one row in ten, where `b` keeps one in a hundred.
const TWO_FLAGS: &str = "SELECT a_flag, b_flag, count(*) AS n \
    FROM facts JOIN a ON f_a = a_key JOIN b ON f_b = b_key \
    WHERE a_flag = 3 AND b_flag = 15 GROUP BY a_flag, b_flag";

/// 20,000 facts over 1,000 keys of `a` and of `b`.
fn facts() -> Fixture {
    let fx = Fixture::new();
    let n: i64 = 20_000;
    fx.write_parquet(
        "facts/part-0.parquet",
        &batch(vec![
            (
                "f_a",
                arr(Int64Array::from_iter_values((0..n).map(|i| i % 1000 + 1))),
            ),
            (
                "f_b",
                arr(Int64Array::from_iter_values(
                    (0..n).map(|i| i * 7 % 1000 + 1),
                )),
            ),
        ]),
    );
    for (table, every) in [("a", 10), ("b", 100)] {
        fx.write_parquet(
            &format!("{table}/part-0.parquet"),
            &batch(vec![
                (
                    &format!("{table}_key"),
                    arr(Int64Array::from_iter_values(1..=1000)),
                ),
                (
                    &format!("{table}_flag"),
                    arr(Int64Array::from_iter_values((1..=1000).map(|k| k % every))),
                ),
            ]),
        );
    }
    fx
}

#[tokio::test]
async fn a_repeated_query_keeps_the_join_order_its_first_run_chose() {
    let fx = facts();
    let runtime = fx.runtime(FACTS).await;
    let session = runtime.session();
    let first = hash_joins(session.sql(TWO_FLAGS).await.unwrap()).await;
    assert_eq!(
        first.last(),
        Some(&["b_key", "f_b"].map(String::from)),
        "{first:?}"
    );

    // 100,000 more rows of `a`, none met by a fact, whose flags widen the range so that
    // flag 3 looks like one row in 100,000: a new session joins `a` first. (The project
    // lists files at every run, so each run reads the new file.)
    let (from, more) = (1_001_i64, 100_000_i64);
    fx.write_parquet(
        "a/part-1.parquet",
        &batch(vec![
            (
                "a_key",
                arr(Int64Array::from_iter_values(from..from + more)),
            ),
            (
                "a_flag",
                arr(Int64Array::from_iter_values(from..from + more)),
            ),
        ]),
    );
    let fresh = hash_joins(runtime.session().sql(TWO_FLAGS).await.unwrap()).await;
    assert_eq!(
        fresh.last(),
        Some(&["a_key", "f_a"].map(String::from)),
        "{fresh:?}"
    );

    // The session that ran the text runs it from its kept plan, in the order it chose
    // then, over the files there are now.
    let again = session.sql(TWO_FLAGS).await.unwrap();
    assert!(is_kept(&again));
    assert_eq!(hash_joins(again).await, first);
    let plain = plain_over(&fx, &["facts", "a", "b"]).await;
    let expected = plain_rows(&plain, TWO_FLAGS).await;
    // The facts 2, 102, 202, …: 200 of them.
    assert!(expected.contains("| 200 |"), "{expected}");
    assert_eq!(canon_rows(&session, TWO_FLAGS).await, expected);
}
