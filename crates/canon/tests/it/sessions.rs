//! Sessions: many per runtime, sharing datasets, one statement at a time, and parsed
//! statements held to the same policy as SQL text.

use canon::datafusion::arrow::array::Int64Array;
use canon::{CanonError, Diagnostics, Project, Runtime};

use crate::common::{Fixture, arr, batch, column};

const PROJECT: &str = r#"[project]
name = "sessions"

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers"
columns = [{ name = "n", type = "Int64" }]
"#;

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "numbers/part-0.parquet",
        &batch(vec![("n", arr(Int64Array::from(vec![1, 2, 3, 4])))]),
    );
    fx
}

#[tokio::test]
async fn sessions_share_the_runtimes_datasets() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let a = runtime.session();
    let b = runtime.session();
    assert_ne!(a.id(), b.id());
    assert_eq!(column(&a, "SELECT sum(n) FROM numbers").await, vec!["10"]);
    assert_eq!(column(&b, "SELECT max(n) FROM numbers").await, vec!["4"]);
    // A session handle can be cloned and used from another task.
    let c = a.clone();
    let handle = tokio::spawn(async move { column(&c, "SELECT count(*) FROM numbers").await });
    assert_eq!(handle.await.unwrap(), vec!["4"]);
}

#[tokio::test]
async fn one_statement_per_call() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let err = session
        .sql("SELECT 1; SELECT 2")
        .await
        .expect_err("two statements");
    assert!(matches!(err, CanonError::DataFusion(_)));
    assert!(
        err.to_string()
            .contains("expected exactly one SQL statement, found 2"),
        "{err}"
    );
    assert_eq!(session.parse("SELECT 1; SELECT 2").unwrap().len(), 2);
}

#[tokio::test]
async fn parsed_statements_pass_the_same_policy() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let mut statements = session
        .parse("SELECT n FROM numbers WHERE n > 2 ORDER BY n; DROP TABLE numbers")
        .unwrap();
    let drop = statements.pop().unwrap();
    let select = statements.pop().unwrap();

    let batches = session
        .statement(select)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, 2);

    let err = session.statement(drop).await.expect_err("DDL is refused");
    assert!(matches!(err, CanonError::Policy(_)), "{err}");
}

#[tokio::test]
async fn runtime_new_takes_a_parsed_project_and_a_diagnostics_stream() {
    let fx = fixture();
    let file = fx.write_project(PROJECT);
    let text = std::fs::read_to_string(&file).unwrap();
    let project = Project::parse(&text, &file, fx.root()).unwrap();
    assert_eq!(project.name, "sessions");
    assert_eq!(
        project.dataset("numbers").unwrap().location,
        format!("{}/", fx.url("numbers"))
    );

    let log = fx.root().join("diagnostics.jsonl");
    let diagnostics = Diagnostics::with_log(&log).unwrap();
    let runtime = Runtime::new(project, diagnostics).await.unwrap();
    let session = runtime.session();
    assert_eq!(
        column(&session, "SELECT count(*) FROM numbers").await,
        vec!["4"]
    );

    // The log is buffered; flushing writes every event recorded so far.
    runtime.diagnostics().flush().unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "profile_built",
            "dataset_registered",
            "query_planned",
            "query_finished"
        ]
    );
    assert_eq!(lines[2]["statement"], "SELECT count(*) FROM numbers");
}
