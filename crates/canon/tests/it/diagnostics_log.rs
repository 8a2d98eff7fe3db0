//! The JSON-lines diagnostics log: buffered, flushed on demand and when the runtime goes,
//! and `[diagnostics] on_write_error` deciding what a write that fails does.

use std::path::Path;

use canon::datafusion::arrow::array::Int64Array;
use canon::{CanonError, Diagnostics, Project, Runtime, Session};

use crate::common::{Fixture, arr, batch, column};

fn project(diagnostics: &str) -> String {
    format!(
        r#"[project]
name = "log"

{diagnostics}

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers"
columns = [{{ name = "n", type = "Int64" }}]
"#
    )
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "numbers/part-0.parquet",
        &batch(vec![("n", arr(Int64Array::from(vec![1, 2, 3])))]),
    );
    fx
}

/// A runtime over `toml` whose events also go to `log`.
async fn runtime_with_log(fx: &Fixture, toml: &str, log: &Path) -> canon::Result<Runtime> {
    let file = fx.write_project(toml);
    let project = Project::load(&file)?;
    Runtime::new(project, Diagnostics::with_log(log)?).await
}

/// Runs a statement to the end; errors raised while it runs come back typed.
async fn run(session: &Session, sql: &str) -> canon::Result<()> {
    session.sql(sql).await?.collect().await?;
    Ok(())
}

fn kinds(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .expect("read log")
        .lines()
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            value["kind"].as_str().expect("kind").to_string()
        })
        .collect()
}

#[tokio::test]
async fn flush_writes_buffered_events_and_dropping_the_runtime_flushes() {
    let fx = fixture();
    let log = fx.root().join("events.jsonl");
    let runtime = runtime_with_log(&fx, &project(""), &log).await.unwrap();
    let session = runtime.session();
    assert_eq!(
        column(&session, "SELECT count(*) FROM numbers").await,
        ["3"]
    );
    runtime.diagnostics().flush().unwrap();
    assert_eq!(
        kinds(&log),
        [
            "profile_built",
            "dataset_registered",
            "query_planned",
            "query_finished"
        ]
    );

    // A session outlives the runtime; the runtime's drop writes what it has.
    assert_eq!(column(&session, "SELECT max(n) FROM numbers").await, ["3"]);
    drop(runtime);
    assert_eq!(kinds(&log).len(), 6);

    // And the last handle's drop writes the rest.
    assert_eq!(column(&session, "SELECT min(n) FROM numbers").await, ["1"]);
    drop(session);
    let lines = std::fs::read_to_string(&log).unwrap();
    let seqs: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn on_write_error_is_validated_and_fingerprinted() {
    let fx = fixture();
    let err = fx.project_error(&project("[diagnostics]\non_write_error = \"sometimes\""));
    let location = format!("{}:5:18: diagnostics.on_write_error: ", fx.project_file());
    assert!(err.contains(&location), "{err}");
    assert!(
        err.contains("`sometimes` is not a rule; expected \"fail\" (the default) or \"warn\""),
        "{err}"
    );
    let err = fx.project_error(&project("[diagnostics]\nflush = true"));
    assert!(err.contains("unknown field `flush`"), "{err}");

    let load = |diagnostics: &str| {
        let file = fx.write_project(&project(diagnostics));
        Project::load(&file).unwrap()
    };
    let default = load("");
    let fail = load("[diagnostics]\non_write_error = \"fail\"");
    let warn = load("[diagnostics]\non_write_error = \"warn\"");
    use canon::profile::OnWriteError;
    assert_eq!(default.diagnostics().on_write_error, OnWriteError::Fail);
    assert_eq!(warn.diagnostics().on_write_error, OnWriteError::Warn);
    let settings = |p: &Project| canon::profile::canonical_settings(&p.profile, &p.policy);
    assert_eq!(settings(&default), settings(&fail));
    assert_eq!(
        settings(&warn)["canon.diagnostics.on_write_error"],
        "warn".to_string()
    );
    assert_ne!(
        canon::profile::fingerprint(&settings(&default)),
        canon::profile::fingerprint(&settings(&warn))
    );
}

/// Where every write fails with "no space left on device".
#[cfg(target_os = "linux")]
const FULL: &str = "/dev/full";

/// Runs `SELECT 1` until a statement fails, at most `limit` times; the number
/// of statements that ran and the error.
#[cfg(target_os = "linux")]
async fn run_until_failure(session: &Session, limit: usize) -> (usize, Option<CanonError>) {
    for ran in 0..limit {
        if let Err(e) = run(session, "SELECT 1").await {
            return (ran, Some(e));
        }
    }
    (limit, None)
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_log_that_cannot_be_written_fails_the_statement_by_default() {
    let fx = fixture();
    // Start-up's events fit in the buffer; the statement that fills it fails.
    let runtime = runtime_with_log(&fx, &project(""), Path::new(FULL))
        .await
        .unwrap();
    let session = runtime.session();
    let (ran, err) = run_until_failure(&session, 10_000).await;
    let err = err.expect("a statement fails once the buffer is written to a full device");
    assert!(ran > 0, "the first statements' events are buffered");
    let CanonError::DiagnosticsLog { path, source } = &err else {
        panic!("expected a diagnostics log error, got {err:?}");
    };
    assert_eq!(path, Path::new(FULL));
    assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
    assert!(
        err.to_string().starts_with("diagnostics file /dev/full: "),
        "{err}"
    );

    // The event that could not be written (the failing statement's `query_planned`, or
    // its `query_finished` when the buffer filled at its end) is not recorded; every later
    // statement fails too, and so does an explicit flush.
    let recorded = runtime.diagnostics().records().len();
    assert!(
        recorded == 2 + 2 * ran || recorded == 2 + 2 * ran + 1,
        "{recorded} events after {ran} statements"
    );
    let later = run(&session, "SELECT 1")
        .await
        .expect_err("the log stays broken");
    assert!(
        later.to_string().contains("an earlier write failed"),
        "{later}"
    );
    assert!(matches!(later, CanonError::DiagnosticsLog { .. }));
    assert!(runtime.diagnostics().flush().is_err());
    assert_eq!(runtime.diagnostics().records().len(), recorded);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn warn_keeps_statements_running_with_events_in_memory() {
    let fx = fixture();
    let toml = project("[diagnostics]\non_write_error = \"warn\"");
    let runtime = runtime_with_log(&fx, &toml, Path::new(FULL)).await.unwrap();
    let session = runtime.session();
    // Far more events than the buffer holds: every one is written or fails to be.
    let (ran, err) = run_until_failure(&session, 1_000).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ran, 1_000);
    runtime.diagnostics().flush().unwrap();
    assert_eq!(runtime.diagnostics().records().len(), 2 + 2 * 1_000);
    assert_eq!(column(&session, "SELECT 1").await, ["1"]);
}
