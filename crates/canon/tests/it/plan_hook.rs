//! One path: SQL text, parsed statements, prepared statements and the DataFrame API all
//! pass the same policy and are recorded by the same hook.

use canon::datafusion::dataframe::DataFrameWriteOptions;
use canon::datafusion::prelude::{col, lit};
use canon::{CanonError, StatementClass};

use crate::common::{collect, column};
use crate::sql_fixture::{fixture, planned_since, runtime};

#[tokio::test]
async fn parsed_statements_are_recorded_like_sql_text() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let sql = "SELECT count(*) AS n FROM trips";
    let before = runtime.diagnostics().records().len();
    collect(&session, sql).await;
    let statement = session.parse(sql).unwrap().remove(0);
    session
        .statement(statement)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 2, "{planned:?}");
    for event in &planned {
        assert_eq!(event["statement"], sql);
        assert_eq!(event["session"], session.id());
    }
    assert_eq!(planned[0]["fingerprint"], planned[1]["fingerprint"]);
    assert_eq!(planned[0]["lineage"]["columns"][0]["name"], "n");
}

#[tokio::test]
async fn prepared_statements_are_recorded_when_executed() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let before = runtime.diagnostics().records().len();
    collect(
        &session,
        "PREPARE by_city(VARCHAR) AS SELECT id, fare FROM trips WHERE city = $1 ORDER BY id",
    )
    .await;
    assert_eq!(column(&session, "EXECUTE by_city('Rome')").await, vec!["4"]);
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 2, "{planned:?}");
    // PREPARE runs without a physical plan; the session records it.
    assert!(
        planned[0]["statement"]
            .as_str()
            .is_some_and(|s| s.starts_with("PREPARE by_city")),
        "{planned:?}"
    );
    // EXECUTE is recorded by the hook, with the bound plan's lineage.
    assert_eq!(planned[1]["statement"], "EXECUTE by_city('Rome')");
    assert_eq!(planned[1]["class"], "query");
    assert_eq!(
        planned[1]["lineage"]["columns"],
        serde_json::json!([
            {"name": "id", "sources": ["trips.id"], "kinds": {"trips.id": "copied"}},
            {"name": "fare", "sources": ["trips.fare"], "kinds": {"trips.fare": "copied"}},
        ])
    );
    // Different parameters are different plans.
    collect(&session, "EXECUTE by_city('Oslo')").await;
    let again = planned_since(&runtime, before);
    assert_ne!(again[2]["fingerprint"], planned[1]["fingerprint"]);
}

#[tokio::test]
async fn dataframes_are_governed_and_recorded_when_they_run() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let before = runtime.diagnostics().records().len();
    let df = session
        .table("trips")
        .await
        .unwrap()
        .filter(col("city").eq(lit("Oslo")))
        .unwrap()
        .select(vec![col("id")])
        .unwrap();
    // Building a DataFrame records nothing; running it does.
    assert!(planned_since(&runtime, before).is_empty());
    let batches = df.clone().collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0]["statement"], "");
    assert_eq!(planned[0]["session"], session.id());
    assert_eq!(
        planned[0]["lineage"]["tables"],
        serde_json::json!(["trips"])
    );

    // Writing is DML: refused under the default policy, recorded as refused, nothing written.
    let target = fx.abs("out.parquet");
    let err = df
        .write_parquet(&target, DataFrameWriteOptions::new(), None)
        .await
        .expect_err("writes are DML");
    match CanonError::from(err) {
        CanonError::Policy(violation) => {
            assert_eq!(violation.rule, "allow_dml");
            assert_eq!(violation.class, StatementClass::Dml);
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert!(!std::path::Path::new(&target).exists());
    let rejected: Vec<_> = runtime
        .diagnostics()
        .records()
        .into_iter()
        .skip(before)
        .filter(|r| r.event.kind() == "policy_rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
}

#[tokio::test]
async fn dataframe_writes_run_where_the_policy_allows_dml() {
    let fx = fixture();
    let runtime = runtime(&fx, "allow_dml = true").await;
    let session = runtime.session();
    let target = fx.abs("out/");
    let before = runtime.diagnostics().records().len();
    session
        .table("zones")
        .await
        .unwrap()
        .write_parquet(&target, DataFrameWriteOptions::new(), None)
        .await
        .unwrap();
    assert!(std::path::Path::new(&target).exists());
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0]["class"], "dml");
    assert_eq!(
        planned[0]["lineage"]["tables"],
        serde_json::json!(["zones"])
    );
}

#[tokio::test]
async fn ddl_is_recorded_by_the_session_and_its_query_by_the_hook() {
    let fx = fixture();
    let runtime = runtime(&fx, "allow_ddl = true").await;
    let session = runtime.session();
    let before = runtime.diagnostics().records().len();
    collect(
        &session,
        "CREATE VIEW oslo AS SELECT id FROM trips WHERE city = 'Oslo'",
    )
    .await;
    assert_eq!(
        column(&session, "SELECT id FROM oslo ORDER BY id").await,
        vec!["1", "3", "6"]
    );
    let planned = planned_since(&runtime, before);
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert_eq!(planned[0]["class"], "ddl");
    assert_eq!(planned[1]["class"], "query");
    // Views are expanded: the query reads the dataset.
    assert_eq!(
        planned[1]["lineage"]["tables"],
        serde_json::json!(["trips"])
    );
    assert_eq!(
        planned[1]["lineage"]["columns"][0]["sources"],
        serde_json::json!(["trips.id"])
    );
}

#[tokio::test]
async fn explain_analyze_runs_the_query_and_shows_metrics() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let explained = session
        .explain("SELECT city, count(*) AS n FROM trips GROUP BY city", true)
        .await
        .unwrap();
    let metrics = explained.metrics.expect("analyze adds metrics");
    assert!(metrics.contains("output_rows="), "{metrics}");
    assert!(explained.optimized_plan.contains("TableScan: trips"));
    assert!(explained.physical_plan.contains("AggregateExec"));
    let plain = session
        .explain("SELECT city, count(*) AS n FROM trips GROUP BY city", false)
        .await
        .unwrap();
    assert!(plain.metrics.is_none());
    assert_eq!(plain.fingerprint, explained.fingerprint);

    // Explain is for queries; DDL and refused statements do not get that far.
    let err = session
        .explain("SET datafusion.execution.batch_size = 1", false)
        .await;
    assert!(matches!(err, Err(CanonError::Policy(_))), "{err:?}");
    let err = session
        .explain("SELECT 1; SELECT 2", false)
        .await
        .expect_err("one statement");
    assert!(
        err.to_string().contains("exactly one SQL statement"),
        "{err}"
    );
}

/// The details of the `query_finished` events recorded since `after` (a record count).
fn finished_since(runtime: &canon::Runtime, after: usize) -> Vec<serde_json::Value> {
    runtime
        .diagnostics()
        .records()
        .into_iter()
        .skip(after)
        .filter(|r| r.event.kind() == "query_finished")
        .map(|r| serde_json::to_value(&r.event).expect("events serialize"))
        .collect()
}

#[tokio::test]
async fn every_run_ends_with_query_finished_pointing_at_its_plan() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();
    let before = runtime.diagnostics().records().len();
    // Two partitions, joined: the run ends when both output streams have ended.
    let sql = "SELECT t.id, z.borough FROM trips t JOIN zones z USING (zone_id)";
    assert_eq!(
        collect(&session, sql)
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        6
    );
    let records = runtime.diagnostics().records();
    let planned = records
        .iter()
        .skip(before)
        .find(|r| r.event.kind() == "query_planned")
        .expect("planned");
    let finished = finished_since(&runtime, before);
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0]["planned"], planned.seq);
    assert_eq!(finished[0]["session"], session.id());
    assert_eq!(finished[0]["output_rows"], 6);
    assert_eq!(finished[0]["spilled_bytes"], 0);
    assert_eq!(finished[0]["error"], serde_json::Value::Null);
    let planned = serde_json::to_value(&planned.event).unwrap();
    assert_eq!(finished[0]["fingerprint"], planned["fingerprint"]);

    // A plan explained but not run does not finish; the explanation shows DataFusion's
    // plan, not Canon's recording root.
    let before = runtime.diagnostics().records().len();
    let explained = session.explain(sql, false).await.unwrap();
    assert!(!explained.physical_plan.contains("CanonRecordFinished"));
    assert!(finished_since(&runtime, before).is_empty());
    let analyzed = session.explain(sql, true).await.unwrap();
    assert!(!analyzed.metrics.unwrap().contains("CanonRecordFinished"));
    assert_eq!(finished_since(&runtime, before).len(), 1);
}

#[tokio::test]
async fn a_run_that_fails_or_stops_early_is_recorded_too() {
    let fx = fixture();
    let runtime = runtime(&fx, "").await;
    let session = runtime.session();

    // Fails while running: the casts happen on the scanned rows.
    let before = runtime.diagnostics().records().len();
    let err = crate::common::query_err(&session, "SELECT CAST(city AS INT) FROM trips").await;
    let finished = finished_since(&runtime, before);
    assert_eq!(finished.len(), 1, "{finished:?}");
    let error = finished[0]["error"]
        .as_str()
        .expect("the error is recorded");
    assert!(error.contains("Cannot cast string 'Oslo'"), "{error}");
    assert!(err.to_string().contains(error), "{err}");

    // A reader that stops after the first batch: recorded when the stream is dropped.
    let before = runtime.diagnostics().records().len();
    let df = session
        .sql("SELECT id FROM trips ORDER BY id")
        .await
        .unwrap();
    let mut stream = df.execute_stream().await.unwrap();
    use futures::StreamExt;
    let first = stream.next().await.expect("a batch").unwrap();
    assert!(finished_since(&runtime, before).is_empty());
    drop(stream);
    let finished = finished_since(&runtime, before);
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0]["output_rows"], first.num_rows());
}
