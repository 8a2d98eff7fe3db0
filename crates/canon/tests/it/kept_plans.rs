//! Repeated statements: a session runs a query text it ran before from the plan that text
//! was optimized to, and plans anew whenever that plan could be different now.

use canon::Session;
use canon::datafusion::prelude::{col, lit};

use crate::common::{column, rows};
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
