//! The SQL policy, per statement class: refusals name the rule, nothing runs, and the
//! refusal is recorded.

use canon::datafusion::arrow::array::{Int64Array, StringArray};
use canon::{CanonError, StatementClass};

use crate::common::{Fixture, arr, assert_table, batch, column, query, query_err, rows};

fn project(policy: &str) -> String {
    format!(
        r#"[project]
name = "policy"

[policy]
{policy}

[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "city", type = "Utf8" }},
]
"#
    )
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "trips/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2, 3]))),
            ("city", arr(StringArray::from(vec!["Oslo", "Lima", "Oslo"]))),
        ]),
    );
    fx
}

/// Asserts the error is a policy refusal by `rule` of `class`, naming the rule.
#[track_caller]
fn assert_refused(err: CanonError, rule: &str, class: StatementClass) {
    let text = err.to_string();
    match err {
        CanonError::Policy(v) => {
            assert_eq!(v.rule, rule, "{text}");
            assert_eq!(v.class, class, "{text}");
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert!(
        text.starts_with(&format!(
            "SQL policy refuses {class} (policy.{rule} = false): "
        )),
        "{text}"
    );
}

#[tokio::test]
async fn default_policy_runs_queries() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    assert_table(
        &query(
            &session,
            "SELECT city, count(*) AS n FROM trips GROUP BY city ORDER BY city",
        )
        .await,
        r#"
        +------+---+
        | city | n |
        +------+---+
        | Lima | 1 |
        | Oslo | 2 |
        +------+---+
        "#,
    );
    // Read-only statements are queries too.
    assert_eq!(
        column(&session, "SHOW TABLES").await.len(),
        rows(&session, "SELECT * FROM information_schema.tables")
            .await
            .len()
    );
    let explain = rows(&session, "EXPLAIN SELECT * FROM trips").await;
    assert!(explain.iter().any(|r| r[0] == "physical_plan"));
}

#[tokio::test]
async fn default_policy_refuses_every_other_class() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    let copy_target = fx.abs("copied.parquet");
    let copy = format!("COPY (SELECT * FROM trips) TO '{copy_target}' STORED AS PARQUET");
    let cases: Vec<(String, &str, StatementClass)> = vec![
        (
            "CREATE TABLE t AS SELECT 1 AS x".into(),
            "allow_ddl",
            StatementClass::Ddl,
        ),
        (
            "CREATE TABLE t (x INT)".into(),
            "allow_ddl",
            StatementClass::Ddl,
        ),
        (
            "CREATE VIEW v AS SELECT * FROM trips".into(),
            "allow_ddl",
            StatementClass::Ddl,
        ),
        ("DROP TABLE trips".into(), "allow_ddl", StatementClass::Ddl),
        (
            "DROP VIEW IF EXISTS v".into(),
            "allow_ddl",
            StatementClass::Ddl,
        ),
        (
            format!(
                "CREATE EXTERNAL TABLE x (id BIGINT) STORED AS PARQUET LOCATION '{}'",
                fx.abs("trips")
            ),
            "allow_ddl",
            StatementClass::Ddl,
        ),
        (
            "INSERT INTO trips VALUES (4, 'Rome')".into(),
            "allow_dml",
            StatementClass::Dml,
        ),
        (
            "DELETE FROM trips WHERE id = 1".into(),
            "allow_dml",
            StatementClass::Dml,
        ),
        (copy, "allow_dml", StatementClass::Dml),
        (
            "EXPLAIN INSERT INTO trips VALUES (4, 'Rome')".into(),
            "allow_dml",
            StatementClass::Dml,
        ),
        (
            "EXPLAIN ANALYZE INSERT INTO trips VALUES (4, 'Rome')".into(),
            "allow_dml",
            StatementClass::Dml,
        ),
        (
            "PREPARE ins(BIGINT) AS INSERT INTO trips VALUES ($1, 'Rome')".into(),
            "allow_dml",
            StatementClass::Dml,
        ),
        (
            "SET datafusion.execution.batch_size = 1".into(),
            "allow_statements",
            StatementClass::Statement,
        ),
        (
            "RESET datafusion.execution.batch_size".into(),
            "allow_statements",
            StatementClass::Statement,
        ),
        (
            "BEGIN TRANSACTION".into(),
            "allow_statements",
            StatementClass::Statement,
        ),
    ];
    for (sql, rule, class) in cases {
        let err = session
            .sql(&sql)
            .await
            .err()
            .unwrap_or_else(|| panic!("`{sql}` was allowed"));
        assert_refused(err, rule, class);
    }

    // Nothing ran: no file was copied, no row inserted, the table is still there.
    assert!(!std::path::Path::new(&copy_target).exists());
    assert_eq!(
        column(&session, "SELECT count(*) FROM trips").await,
        vec!["3"]
    );
    assert_eq!(
        column(&session, "SHOW datafusion.execution.batch_size").await,
        vec!["datafusion.execution.batch_size"]
    );
    assert_eq!(
        rows(&session, "SHOW datafusion.execution.batch_size").await[0][1],
        "8192"
    );
}

#[tokio::test]
async fn select_into_is_refused_by_the_plan_check() {
    // `SELECT … INTO` parses as a query but plans as CREATE TABLE: the plan check
    // catches what the statement check cannot see.
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    let err = session
        .sql("SELECT * INTO sneaky FROM trips")
        .await
        .expect_err("SELECT INTO creates a table");
    assert_refused(err, "allow_ddl", StatementClass::Ddl);
    let err = query_err(&session, "SELECT * FROM sneaky").await;
    assert!(
        err.to_string()
            .contains("table 'datafusion.public.sneaky' not found"),
        "{err}"
    );
}

#[tokio::test]
async fn refusals_are_recorded_as_policy_rejected() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    let _ = session
        .sql("CREATE VIEW v AS SELECT 1")
        .await
        .expect_err("refused");
    let _ = session
        .sql("SET datafusion.execution.batch_size = 1")
        .await
        .expect_err("refused");

    let rejected = rows(
        &session,
        "SELECT kind, detail FROM canon.diagnostics WHERE kind = 'policy_rejected' ORDER BY seq",
    )
    .await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let details: Vec<serde_json::Value> = rejected
        .iter()
        .map(|r| serde_json::from_str(&r[1]).expect("detail is JSON"))
        .collect();
    assert_eq!(details[0]["kind"], "policy_rejected");
    assert_eq!(details[0]["session"], session.id());
    assert_eq!(details[0]["rule"], "allow_ddl");
    assert_eq!(details[0]["class"], "ddl");
    assert_eq!(details[0]["statement"], "CREATE VIEW v AS SELECT 1");
    assert_eq!(details[1]["rule"], "allow_statements");
    assert_eq!(details[1]["class"], "statement");

    // The same records are in the runtime's event stream, and refused statements
    // were never planned.
    let records = runtime.diagnostics().records();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.event.kind() == "policy_rejected")
            .count(),
        2
    );
    assert!(records.iter().all(|r| match &r.event {
        canon::Event::QueryPlanned { statement, .. } => !statement.contains("CREATE VIEW"),
        _ => true,
    }));
}

#[tokio::test]
async fn prepare_and_execute_a_query_under_the_default_policy() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    collect_ok(
        &session,
        "PREPARE by_city(VARCHAR) AS SELECT id FROM trips WHERE city = $1 ORDER BY id",
    )
    .await;
    assert_eq!(
        column(&session, "EXECUTE by_city('Oslo')").await,
        vec!["1", "3"]
    );
    assert_eq!(column(&session, "EXECUTE by_city('Lima')").await, vec!["2"]);
    // Prepared statements belong to their session.
    let other = runtime.session();
    assert!(other.sql("EXECUTE by_city('Oslo')").await.is_err());
}

async fn collect_ok(session: &canon::Session, sql: &str) {
    crate::common::collect(session, sql).await;
}

#[tokio::test]
async fn allow_ddl_gives_each_session_its_own_tables() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_ddl = true")).await;
    let session = runtime.session();
    collect_ok(
        &session,
        "CREATE TABLE oslo AS SELECT id FROM trips WHERE city = 'Oslo'",
    )
    .await;
    assert_eq!(
        column(&session, "SELECT id FROM oslo ORDER BY id").await,
        vec!["1", "3"]
    );
    let tables = rows(
        &session,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .await;
    assert_eq!(
        tables,
        vec![vec!["oslo".to_string()], vec!["trips".to_string()]]
    );

    // Another session of the same runtime does not see it.
    let other = runtime.session();
    let err = query_err(&other, "SELECT * FROM oslo").await;
    assert!(
        err.to_string()
            .contains("table 'datafusion.public.oslo' not found"),
        "{err}"
    );
    let tables = rows(
        &other,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(tables, vec![vec!["trips".to_string()]]);

    // DML stays refused.
    let err = session
        .sql("INSERT INTO oslo VALUES (9)")
        .await
        .expect_err("allow_dml is false");
    assert_refused(err, "allow_dml", StatementClass::Dml);

    // A session table can be dropped again.
    collect_ok(&session, "DROP TABLE oslo").await;
    let err = query_err(&session, "SELECT * FROM oslo").await;
    assert!(
        err.to_string()
            .contains("table 'datafusion.public.oslo' not found"),
        "{err}"
    );
}

#[tokio::test]
async fn datasets_cannot_be_dropped_or_replaced_even_with_allow_ddl() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_ddl = true")).await;
    let session = runtime.session();

    // Canon refuses the drop itself: DataFusion's DROP TABLE would report the schema's
    // refusal as a missing table (or succeed silently with IF EXISTS).
    for sql in [
        "DROP TABLE trips",
        "DROP TABLE IF EXISTS trips",
        "DROP TABLE datafusion.public.trips",
    ] {
        let err = query_err(&session, sql).await;
        assert!(
            err.to_string().contains(
                "`trips` is a dataset of the project and cannot be dropped from a session"
            ),
            "{sql}: {err}"
        );
    }
    let err = query_err(&session, "CREATE OR REPLACE TABLE trips AS SELECT 1 AS id").await;
    assert!(
        err.to_string()
            .contains("`trips` is a dataset of the project and cannot be dropped from a session"),
        "{err}"
    );
    let err = query_err(&session, "CREATE TABLE trips AS SELECT 1 AS id").await;
    assert!(
        err.to_string().contains("Table 'trips' already exists"),
        "{err}"
    );
    // CREATE IF NOT EXISTS succeeds without doing anything.
    crate::common::collect(
        &session,
        "CREATE TABLE IF NOT EXISTS trips AS SELECT 1 AS id",
    )
    .await;

    // The dataset is intact, in this session and in a new one.
    assert_eq!(
        column(&session, "SELECT count(*) FROM trips").await,
        vec!["3"]
    );
    assert_eq!(
        column(&runtime.session(), "SELECT count(*) FROM trips").await,
        vec!["3"]
    );
}

#[tokio::test]
async fn allow_statements_scopes_settings_to_the_session() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_statements = true")).await;
    let session = runtime.session();
    // A setting the profile does not own (owned ones are refused; see `owned_settings`).
    collect_ok(&session, "SET datafusion.optimizer.max_passes = 2").await;
    assert_eq!(
        rows(&session, "SHOW datafusion.optimizer.max_passes").await[0][1],
        "2"
    );
    assert_eq!(
        rows(&runtime.session(), "SHOW datafusion.optimizer.max_passes").await[0][1],
        "3"
    );
    // DDL stays refused.
    let err = session.sql("CREATE VIEW v AS SELECT 1").await.unwrap_err();
    assert_refused(err, "allow_ddl", StatementClass::Ddl);
}
