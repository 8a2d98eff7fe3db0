//! `SET` and `RESET` in a session: settings the profile, the policy or Canon owns are
//! refused with their owner named; every other setting is honoured.

use canon::datafusion::arrow::array::{Int64Array, StringArray};
use canon::datafusion::error::DataFusionError;
use canon::error::SessionError;
use canon::{CanonError, Session, StatementClass};

use crate::common::{Fixture, arr, batch, column, rows};

fn project(policy: &str, profile: &str) -> String {
    format!(
        r#"[project]
name = "settings"

[profile]
target_partitions = 2
batch_size = 1024
memory_limit = "256MiB"
{profile}

[policy]
{policy}

[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  {{ name = "id", type = "Int64" }},
  {{ name = "City", type = "Utf8" }},
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
            ("City", arr(StringArray::from(vec!["Oslo", "Lima", "Oslo"]))),
        ]),
    );
    fx
}

/// The session error a statement was refused with, before it ran.
async fn refusal(session: &Session, sql: &str) -> SessionError {
    let err = match session.sql(sql).await {
        Ok(_) => panic!("`{sql}` was accepted"),
        Err(e) => e,
    };
    let text = err.to_string();
    match err {
        CanonError::DataFusion(DataFusionError::External(inner)) => {
            match inner.downcast::<SessionError>() {
                Ok(e) => *e,
                Err(other) => panic!("`{sql}`: expected a session error, got {other}"),
            }
        }
        other => panic!("`{sql}`: expected a session error, got {other:?}: {text}"),
    }
}

async fn show(session: &Session, key: &str) -> String {
    rows(session, &format!("SHOW {key}")).await[0][1].clone()
}

#[tokio::test]
async fn owned_settings_are_refused_naming_their_owner() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_statements = true", "")).await;
    let session = runtime.session();
    let cases = [
        // (statement, key, owner, the value SHOW keeps reporting)
        (
            "SET datafusion.sql_parser.dialect = postgresql",
            "datafusion.sql_parser.dialect",
            "[policy] dialect",
            "generic",
        ),
        (
            "SET datafusion.sql_parser.enable_ident_normalization = false",
            "datafusion.sql_parser.enable_ident_normalization",
            "[policy] identifiers",
            "true",
        ),
        (
            "SET datafusion.execution.target_partitions = 7",
            "datafusion.execution.target_partitions",
            "[profile] target_partitions",
            "2",
        ),
        (
            "SET datafusion.execution.batch_size = 10",
            "datafusion.execution.batch_size",
            "[profile] batch_size",
            "1024",
        ),
        (
            "SET datafusion.execution.parquet.pushdown_filters = true",
            "datafusion.execution.parquet.pushdown_filters",
            "[profile.parquet] table",
            "false",
        ),
        (
            "SET datafusion.catalog.create_default_catalog_and_schema = true",
            "datafusion.catalog.create_default_catalog_and_schema",
            "session factory",
            "false",
        ),
    ];
    for (sql, key, owner, value) in cases {
        let err = refusal(&session, sql).await;
        assert_eq!(
            err,
            SessionError::OwnedSetting {
                key: key.into(),
                owner
            },
            "{sql}"
        );
        assert_eq!(show(&session, key).await, value, "{sql}");
        let reset = format!("RESET {key}");
        assert_eq!(refusal(&session, &reset).await, err, "{reset}");
        assert_eq!(show(&session, key).await, value, "{reset}");
    }

    // The message names the key and the rule; DataFusion's spelling of the key is checked,
    // whatever the statement's case or quoting.
    let err = refusal(&session, "SET DataFusion.SQL_Parser.Dialect = 'MySQL'").await;
    assert_eq!(
        err.to_string(),
        "`datafusion.sql_parser.dialect` is set by the project ([policy] dialect); \
         Canon does not change it per session"
    );
    let err = refusal(
        &session,
        "SET \"datafusion\".\"execution\".\"batch_size\" = 5",
    )
    .await;
    assert!(matches!(err, SessionError::OwnedSetting { .. }), "{err}");
    assert_eq!(
        refusal(
            &session,
            "SET datafusion.catalog.create_default_catalog_and_schema = true"
        )
        .await
        .to_string(),
        "`datafusion.catalog.create_default_catalog_and_schema` is set by Canon (session \
         factory); Canon does not change it per session"
    );

    // The runtime's settings: DataFusion would build this session a runtime of its own.
    let err = refusal(&session, "SET datafusion.runtime.memory_limit = '1G'").await;
    assert_eq!(
        err.to_string(),
        "`datafusion.runtime.memory_limit` is set by the project ([profile] memory_limit, \
         memory_pool, spill_dir, max_temp_directory_size and [profile.cache]); Canon does not \
         change it per session"
    );
    let err = refusal(&session, "RESET datafusion.runtime.memory_limit").await;
    assert!(matches!(err, SessionError::OwnedSetting { .. }), "{err}");

    // Canon still parses in the policy's dialect and reads identifiers by its rule.
    assert_eq!(
        column(&session, "SELECT \"City\" FROM trips WHERE id = 1").await,
        ["Oslo"]
    );
    // Nothing refused was recorded as planned.
    let planned = runtime
        .diagnostics()
        .records()
        .iter()
        .filter(|r| r.event.kind() == "query_planned")
        .filter(|r| {
            let text = serde_json::to_string(&r.event).unwrap_or_default();
            text.contains("SET ") || text.contains("RESET ")
        })
        .count();
    assert_eq!(planned, 0);
}

#[tokio::test]
async fn unowned_settings_are_honoured() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_statements = true", "")).await;
    let session = runtime.session();
    let key = "datafusion.execution.coalesce_batches";
    assert_eq!(show(&session, key).await, "true");
    column(&session, &format!("SET {key} = false")).await;
    assert_eq!(show(&session, key).await, "false");
    // Per session: a new session starts from the profile.
    assert_eq!(show(&runtime.session(), key).await, "true");
    column(&session, &format!("RESET {key}")).await;
    assert_eq!(show(&session, key).await, "true");

    // DataFusion's `timezone` alias names an unowned key too.
    column(&session, "SET timezone = '+02:00'").await;
    assert_eq!(
        show(&session, "datafusion.execution.time_zone").await,
        "+02:00"
    );
}

#[tokio::test]
async fn without_allow_statements_the_policy_refuses_first() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    for sql in [
        "SET datafusion.sql_parser.dialect = postgresql",
        "SET datafusion.execution.coalesce_batches = false",
        "RESET datafusion.execution.batch_size",
    ] {
        match session.sql(sql).await {
            Err(CanonError::Policy(v)) => {
                assert_eq!(v.rule, "allow_statements", "{sql}");
                assert_eq!(v.class, StatementClass::Statement, "{sql}");
            }
            Err(other) => panic!("`{sql}`: expected a policy refusal, got {other}"),
            Ok(_) => panic!("`{sql}` was accepted"),
        }
    }
}

/// `(((…1…)))` nested `depth` deep.
fn nested(depth: usize) -> String {
    format!("SELECT {}1{} AS x", "(".repeat(depth), ")".repeat(depth))
}

#[tokio::test]
async fn the_parsers_recursion_limit_is_honoured_from_set_and_the_profile() {
    let fx = fixture();
    let runtime = fx.runtime(&project("allow_statements = true", "")).await;
    let session = runtime.session();
    let err = session.sql(&nested(60)).await.expect_err("deeper than 50");
    assert!(err.to_string().contains("RecursionLimitExceeded"), "{err}");
    column(&session, "SET datafusion.sql_parser.recursion_limit = 100").await;
    assert_eq!(column(&session, &nested(60)).await, ["1"]);
    // Only in that session.
    assert!(runtime.session().sql(&nested(60)).await.is_err());

    let fx = fixture();
    let profile = "[profile.settings]\n\"datafusion.sql_parser.recursion_limit\" = \"100\"";
    let runtime = fx.runtime(&project("", profile)).await;
    assert_eq!(column(&runtime.session(), &nested(60)).await, ["1"]);
}
