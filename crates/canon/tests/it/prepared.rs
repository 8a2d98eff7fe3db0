//! Prepared statements: typed parameters of every supported type through SQL `EXECUTE`,
//! `Session::execute` and `Session::execute_text`; inferred types; the project's
//! statements, prepared once per session; Canon's system statements; `canon.prepared`;
//! diagnostics; and clear errors for bad input.

use canon::datafusion::arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use canon::datafusion::common::ScalarValue;
use canon::{CanonError, PreparedError, Session, StatementClass};

use crate::common::{Fixture, arr, batch, column, query_err, rows};

const COLUMNS: &str = r#"columns = [
  { name = "id", type = "Int64" },
  { name = "i32", type = "Int32" },
  { name = "i16", type = "Int16" },
  { name = "f64", type = "Float64" },
  { name = "f32", type = "Float32" },
  { name = "dec", type = "Decimal128(10, 2)" },
  { name = "s", type = "Utf8" },
  { name = "flag", type = "Boolean" },
  { name = "day", type = "Date32" },
  { name = "at", type = "Timestamp(Microsecond, None)" },
  { name = "bin", type = "Binary" },
]"#;

fn project(policy: &str, prepared: &str) -> String {
    format!(
        r#"[project]
name = "prepared"

[policy]
{policy}

[[dataset]]
name = "t"
format = "parquet"
location = "t"
{COLUMNS}
{prepared}"#
    )
}

const DAY0: i32 = 19_723; // 2024-01-01
const MICROS0: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "t/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2, 3]))),
            ("i32", arr(Int32Array::from(vec![10, 20, 30]))),
            ("i16", arr(Int16Array::from(vec![1, 2, 3]))),
            ("f64", arr(Float64Array::from(vec![1.5, 2.5, 3.5]))),
            ("f32", arr(Float32Array::from(vec![0.5, 1.5, 2.5]))),
            (
                "dec",
                arr(Decimal128Array::from(vec![125, 250, 375])
                    .with_precision_and_scale(10, 2)
                    .unwrap()),
            ),
            ("s", arr(StringArray::from(vec!["a", "b", "c"]))),
            ("flag", arr(BooleanArray::from(vec![true, false, true]))),
            (
                "day",
                arr(Date32Array::from(vec![DAY0, DAY0 + 1, DAY0 + 2])),
            ),
            (
                "at",
                arr(TimestampMicrosecondArray::from(vec![
                    MICROS0,
                    MICROS0 + 3_600_000_000,
                    MICROS0 + 7_200_000_000,
                ])),
            ),
            ("bin", arr(BinaryArray::from(vec![&b"x"[..], b"y", b"z"]))),
        ]),
    );
    fx
}

/// One parameter type: SQL type, column, a value as SQL, as text, as a scalar, and the
/// ids of the rows whose column equals it.
struct Case {
    sql_type: &'static str,
    column: &'static str,
    literal: &'static str,
    text: &'static str,
    scalar: ScalarValue,
    ids: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let case = |sql_type, column, literal, text, scalar, ids| Case {
        sql_type,
        column,
        literal,
        text,
        scalar,
        ids,
    };
    vec![
        case(
            "BIGINT",
            "id",
            "2",
            "2",
            ScalarValue::Int64(Some(2)),
            vec!["2"],
        ),
        case(
            "INT",
            "i32",
            "30",
            "30",
            ScalarValue::Int32(Some(30)),
            vec!["3"],
        ),
        case(
            "SMALLINT",
            "i16",
            "1",
            "1",
            ScalarValue::Int16(Some(1)),
            vec!["1"],
        ),
        case(
            "DOUBLE",
            "f64",
            "2.5",
            "2.5",
            ScalarValue::Float64(Some(2.5)),
            vec!["2"],
        ),
        case(
            "REAL",
            "f32",
            "0.5",
            "0.5",
            ScalarValue::Float32(Some(0.5)),
            vec!["1"],
        ),
        case(
            "DECIMAL(10, 2)",
            "dec",
            "3.75",
            "3.75",
            ScalarValue::Decimal128(Some(375), 10, 2),
            vec!["3"],
        ),
        case(
            "VARCHAR",
            "s",
            "'b'",
            "b",
            ScalarValue::Utf8(Some("b".into())),
            vec!["2"],
        ),
        case(
            "BOOLEAN",
            "flag",
            "true",
            "true",
            ScalarValue::Boolean(Some(true)),
            vec!["1", "3"],
        ),
        case(
            "DATE",
            "day",
            "'2024-01-03'",
            "2024-01-03",
            ScalarValue::Date32(Some(DAY0 + 2)),
            vec!["3"],
        ),
        case(
            "TIMESTAMP",
            "at",
            "'2024-01-01T01:00:00'",
            "2024-01-01T01:00:00",
            ScalarValue::TimestampNanosecond(Some((MICROS0 + 3_600_000_000) * 1000), None),
            vec!["2"],
        ),
        case(
            "BYTEA",
            "bin",
            "X'7a'",
            "z",
            ScalarValue::Binary(Some(b"z".to_vec())),
            vec!["3"],
        ),
    ]
}

async fn ids(
    session: &Session,
    df: canon::Result<canon::datafusion::dataframe::DataFrame>,
) -> Vec<String> {
    let batches = df.unwrap().collect().await.unwrap();
    let _ = session;
    let mut out = Vec::new();
    for b in &batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend(ids.iter().map(|v| v.unwrap().to_string()));
    }
    out
}

#[tokio::test]
async fn every_parameter_type_through_every_entry_point() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    for (i, case) in cases().into_iter().enumerate() {
        let name = format!("p{i}");
        column(
            &session,
            &format!(
                "PREPARE {name}({}) AS SELECT id FROM t WHERE {} = $1 ORDER BY id",
                case.sql_type, case.column
            ),
        )
        .await;
        let sql = column(&session, &format!("EXECUTE {name}({})", case.literal)).await;
        assert_eq!(sql, case.ids, "{} via SQL", case.sql_type);
        let scalar = ids(
            &session,
            session.execute(&name, vec![case.scalar.clone()]).await,
        )
        .await;
        assert_eq!(scalar, case.ids, "{} via execute", case.sql_type);
        let text = ids(
            &session,
            session.execute_text(&name, &[case.text.to_string()]).await,
        )
        .await;
        assert_eq!(text, case.ids, "{} via execute_text", case.sql_type);
    }
    let executions = column(
        &session,
        "SELECT DISTINCT executions FROM canon.prepared WHERE origin = 'session'",
    )
    .await;
    assert_eq!(executions, vec!["3"]);
}

#[tokio::test]
async fn untyped_parameters_take_the_types_the_query_determines() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    column(
        &session,
        "PREPARE q AS SELECT id FROM t WHERE i32 > $1 AND s <> $2 ORDER BY id",
    )
    .await;
    let params: Vec<String> = session
        .parameters("q")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(params, vec!["$1 Int32 (inferred)", "$2 Utf8 (inferred)"]);
    assert_eq!(column(&session, "EXECUTE q(10, 'c')").await, vec!["2"]);
    // The BIGINT literal is checked against (and cast to) the inferred Int32.
    let err = query_err(&session, "EXECUTE q('ten', 'c')").await;
    assert!(
        matches!(
            err,
            CanonError::Prepared(PreparedError::ParameterType { .. })
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "parameter $1 of `q` is Int32; 'ten' (Utf8) cannot be used: Arrow error: Cast error: \
         Cannot cast string 'ten' to value of Int32 type"
    );

    // Nothing in the query determines $1 here: any value goes, as given.
    column(&session, "PREPARE free AS SELECT $1 AS v").await;
    assert_eq!(
        session.parameters("free").await.unwrap()[0].to_string(),
        "$1 any"
    );
    assert_eq!(column(&session, "EXECUTE free('x')").await, vec!["x"]);

    // Some determined, some not: refused, asking for declared types.
    let err = query_err(
        &session,
        "PREPARE half AS SELECT $1 AS v FROM t WHERE id = $2",
    )
    .await
    .to_string();
    assert_eq!(
        err,
        "parameter $1 of `half` has no type that the statement determines; declare the types: \
         PREPARE half(<type>, …) AS …"
    );
}

#[tokio::test]
async fn bad_execute_input_gives_clear_errors() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    column(
        &session,
        "PREPARE by_id(BIGINT) AS SELECT s FROM t WHERE id = $1",
    )
    .await;
    let cases = [
        (
            "EXECUTE by_id(1, 2)",
            "`by_id` takes 1 parameter(s) ($1 Int64), but 2 were given",
        ),
        (
            "EXECUTE by_id()",
            "`by_id` takes 1 parameter(s) ($1 Int64), but 0 were given",
        ),
        (
            "EXECUTE by_id('one')",
            "parameter $1 of `by_id` is Int64; 'one' (Utf8) cannot be used",
        ),
        (
            "EXECUTE nope(1)",
            "no prepared statement `nope` in this session; known: by_id, canon_datasets, \
             canon_describe, canon_functions",
        ),
        (
            "DEALLOCATE nope",
            "no prepared statement `nope` in this session",
        ),
        (
            "PREPARE by_id AS SELECT 1",
            "`by_id` is already prepared in this session; DEALLOCATE it first",
        ),
        (
            "PREPARE two(BIGINT) AS SELECT $1 + $2",
            "PREPARE two declares 1 parameter type(s) but the statement uses 2",
        ),
        (
            "PREPARE gap AS SELECT id FROM t WHERE id = $1 OR id = $3",
            "`gap` uses $3 but not $2; number parameters $1, $2, … without gaps",
        ),
        (
            "PREPARE canon_functions AS SELECT 1",
            "`canon_functions` is one of Canon's system statements; choose another name",
        ),
        (
            "DEALLOCATE canon_datasets",
            "`canon_datasets` is one of Canon's system statements; choose another name",
        ),
    ];
    for (sql, message) in cases {
        let err = query_err(&session, sql).await.to_string();
        assert!(err.starts_with(message), "{sql}:\n{err}");
    }
    let err = session
        .execute_text("by_id", &["one".to_string()])
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("parameter $1 of `by_id` is Int64; `one` cannot be used"),
        "{err}"
    );
    // After DEALLOCATE the name is free again.
    column(&session, "DEALLOCATE by_id").await;
    assert!(
        query_err(&session, "EXECUTE by_id(1)")
            .await
            .to_string()
            .starts_with("no prepared statement `by_id`")
    );
}

#[tokio::test]
async fn preparing_follows_the_policy_of_the_prepared_statement() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    // A read-only query may be prepared and executed under the read-only default.
    column(&session, "PREPARE n AS SELECT count(*) FROM t").await;
    assert_eq!(column(&session, "EXECUTE n").await, vec!["3"]);
    for (sql, class) in [
        (
            "PREPARE s AS SET datafusion.execution.batch_size = 1",
            StatementClass::Statement,
        ),
        (
            "PREPARE c AS CREATE TABLE x AS SELECT 1",
            StatementClass::Ddl,
        ),
    ] {
        match query_err(&session, sql).await {
            CanonError::Policy(v) => assert_eq!(v.class, class, "{sql}"),
            other => panic!("{sql}: expected a policy refusal, got {other}"),
        }
    }
}

const DECLARED: &str = r#"
[[prepared]]
name = "by_kind"
sql = "SELECT id FROM t WHERE s = $1 AND flag = $2 ORDER BY id"

[[prepared]]
name = "since"
sql = "SELECT count(*) FROM t WHERE day >= $1"
params = ["DATE"]
"#;

#[tokio::test]
async fn declared_statements_are_prepared_once_per_session() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", DECLARED)).await;
    let session = runtime.session();
    let listed = rows(
        &session,
        "SELECT name, origin, parameters, declared_at, prepared, executions \
         FROM canon.prepared WHERE origin = 'project'",
    )
    .await;
    let file = fx.project_file();
    assert_eq!(
        listed,
        vec![
            vec![
                "by_kind".to_string(),
                "project".into(),
                "$1 Utf8 (inferred), $2 Boolean (inferred)".into(),
                format!("{file}:25"),
                "false".into(),
                "0".into(),
            ],
            vec![
                "since".to_string(),
                "project".into(),
                "$1 Date32".into(),
                format!("{file}:29"),
                "false".into(),
                "0".into(),
            ],
        ]
    );
    assert_eq!(
        column(&session, "EXECUTE by_kind('c', true)").await,
        vec!["3"]
    );
    assert_eq!(
        column(&session, "EXECUTE by_kind('a', true)").await,
        vec!["1"]
    );
    let since = ids(
        &session,
        session.execute_text("since", &["2024-01-02".into()]).await,
    )
    .await;
    assert_eq!(since, vec!["2"]);
    let state = rows(
        &session,
        "SELECT name, prepared, executions FROM canon.prepared WHERE origin = 'project'",
    )
    .await;
    assert_eq!(
        state,
        vec![vec!["by_kind", "true", "2"], vec!["since", "true", "1"]]
    );

    // Another session prepares its own copy on first use.
    let other = runtime.session();
    assert_eq!(
        column(&other, "EXECUTE by_kind('b', false)").await,
        vec!["2"]
    );
    let prepared = rows(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'statement_prepared' ORDER BY seq",
    )
    .await;
    let prepared: Vec<serde_json::Value> = prepared
        .iter()
        .map(|r| serde_json::from_str(&r[0]).unwrap())
        .collect();
    let by_session: Vec<(&str, &str)> = prepared
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["session"].as_str().unwrap()))
        .collect();
    let (one, two) = (session.id(), other.id());
    assert_eq!(
        by_session,
        vec![
            ("by_kind", one.as_str()),
            ("since", one.as_str()),
            ("by_kind", two.as_str())
        ]
    );
    assert_eq!(prepared[0]["origin"], "project");
    assert_eq!(prepared[0]["parameters"][1]["data_type"], "Boolean");
    assert_eq!(prepared[0]["parameters"][1]["inferred"], true);

    let executed = rows(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'statement_executed' ORDER BY seq",
    )
    .await;
    let executed: Vec<serde_json::Value> = executed
        .iter()
        .map(|r| serde_json::from_str(&r[0]).unwrap())
        .collect();
    let params: Vec<String> = executed
        .iter()
        .map(|e| e["parameters"].to_string())
        .collect();
    assert_eq!(
        params,
        vec![
            r#"["'c'","true"]"#,
            r#"["'a'","true"]"#,
            r#"["CAST('2024-01-02' AS DATE)"]"#,
            r#"["'b'","false"]"#,
        ]
    );

    // Declared names are the project's.
    let err = query_err(&session, "DEALLOCATE since").await.to_string();
    assert!(
        err.starts_with("`since` is declared in the project file at"),
        "{err}"
    );
}

#[tokio::test]
async fn canon_statements_serve_the_catalog_describe_and_datasets() {
    let fx = fixture();
    let runtime = fx.runtime(&project("", "")).await;
    let session = runtime.session();
    let functions = rows(&session, "EXECUTE canon_functions('stable%', 'canon')").await;
    let names: Vec<&str> = functions.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, vec!["stable_hash64", "stable_id"]);
    let columns = rows(&session, "EXECUTE canon_describe('t')").await;
    assert_eq!(columns.len(), 11);
    assert_eq!(columns[0], vec!["id", "Int64", "YES"]);
    assert_eq!(
        rows(&session, "EXECUTE canon_datasets").await,
        vec![vec![
            "t".to_string(),
            "parquet".into(),
            format!("{}/", fx.url("t"))
        ]]
    );
    let origins = rows(
        &session,
        "SELECT name, origin, prepared, executions FROM canon.prepared ORDER BY name",
    )
    .await;
    assert_eq!(
        origins,
        vec![
            vec!["canon_datasets", "system", "true", "1"],
            vec!["canon_describe", "system", "true", "1"],
            vec!["canon_functions", "system", "true", "1"],
        ]
    );
}

#[tokio::test]
async fn declared_statements_that_do_not_plan_fail_at_start_up() {
    let fx = fixture();
    let toml = project(
        "",
        "\n[[prepared]]\nname = \"lost\"\nsql = \"SELECT * FROM nowhere WHERE id = $1\"\n",
    );
    let err = fx
        .load(&toml)
        .await
        .expect_err("no table nowhere")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:25: prepared statement `lost`: table 'datafusion.public.nowhere' not found",
            fx.project_file()
        )),
        "{err}"
    );
}
