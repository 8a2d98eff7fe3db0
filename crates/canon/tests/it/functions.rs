//! The function catalog, `canon.functions`: rows agree with information_schema for
//! DataFusion's builtins, and every function carries its tier, volatility and whether it
//! overrides a builtin.

use canon::datafusion::arrow::array::Int64Array;

use crate::common::{Fixture, arr, batch, column, rows};

fn project(extra: &str) -> String {
    format!(
        r#"[project]
name = "functions"

[policy]
allow_ddl = true

[[dataset]]
name = "numbers"
format = "parquet"
location = "numbers"
columns = [{{ name = "n", type = "Int64" }}]
{extra}"#
    )
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_parquet(
        "numbers/part-0.parquet",
        &batch(vec![("n", arr(Int64Array::from(vec![1, -2, 3])))]),
    );
    fx
}

/// The catalog's signature rows for `name`, as (arguments, return type), sorted.
async fn catalog_signatures(session: &canon::Session, name: &str) -> Vec<Vec<String>> {
    rows(
        session,
        &format!(
            "SELECT arguments, return_type FROM canon.functions \
             WHERE name = '{name}' AND kind <> 'table' ORDER BY arguments, return_type"
        ),
    )
    .await
}

/// The same signatures derived from information_schema.parameters by SQL: the IN
/// parameters of each routine id in order, with the OUT type.
async fn information_schema_signatures(session: &canon::Session, name: &str) -> Vec<Vec<String>> {
    rows(
        session,
        &format!(
            "SELECT array_to_string(array_agg(concat(i.parameter_name, ' ', i.data_type) \
                 ORDER BY i.ordinal_position), ', ') AS arguments, o.data_type \
             FROM information_schema.parameters o \
             JOIN information_schema.parameters i \
               ON i.specific_name = o.specific_name AND i.rid = o.rid \
              AND i.parameter_mode = 'IN' \
             WHERE o.parameter_mode = 'OUT' AND o.specific_name = '{name}' \
             GROUP BY o.rid, o.data_type ORDER BY 1, 2"
        ),
    )
    .await
}

#[tokio::test]
async fn builtin_rows_agree_with_information_schema() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    for name in ["abs", "upper", "sum", "avg", "lower"] {
        let catalog = catalog_signatures(&session, name).await;
        let expected = information_schema_signatures(&session, name).await;
        assert!(
            !expected.is_empty(),
            "{name} has signatures in information_schema"
        );
        assert_eq!(catalog, expected, "{name}");

        let described = rows(
            &session,
            &format!(
                "SELECT DISTINCT f.kind, f.tier, f.description, f.syntax, \
                     lower(r.function_type), r.description, r.syntax_example \
                 FROM canon.functions f JOIN information_schema.routines r \
                   ON r.routine_name = f.name \
                 WHERE f.name = '{name}'"
            ),
        )
        .await;
        assert_eq!(described.len(), 1, "{name}: {described:?}");
        let row = &described[0];
        assert_eq!(row[1], "builtin");
        assert_eq!(
            (&row[0], &row[2], &row[3]),
            (&row[4], &row[5], &row[6]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn functions_without_enumerable_signatures_have_one_row() {
    let fx = fixture();
    let runtime = fx.runtime(&project("")).await;
    let session = runtime.session();
    let got = rows(
        &session,
        "SELECT name, kind, arguments, volatility FROM canon.functions \
         WHERE name IN ('now', 'random', 'pi', 'row_number') ORDER BY name",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["now", "scalar", "NULL", "stable"],
            vec!["pi", "scalar", "NULL", "immutable"],
            vec!["random", "scalar", "NULL", "volatile"],
            vec!["row_number", "window", "NULL", "immutable"],
        ]
    );
}

#[tokio::test]
async fn every_function_has_a_tier() {
    let fx = fixture();
    let toml = project(
        r#"
[[function]]
name = "double_it"
args = [{ name = "x", type = "BIGINT" }]
returns = "BIGINT"
body = "x * 2"
description = "Twice the value"
"#,
    );
    let runtime = fx.runtime(&toml).await;
    let session = runtime.session();
    column(
        &session,
        "CREATE FUNCTION add_one(x BIGINT) RETURNS BIGINT RETURN x + 1",
    )
    .await;
    let got = rows(
        &session,
        "SELECT name, kind, tier, arguments, return_type, description FROM canon.functions \
         WHERE tier <> 'builtin' ORDER BY tier, name",
    )
    .await;
    let names: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("list_files_cache", "table", "canon"),
            ("metadata_cache", "table", "canon"),
            ("stable_hash64", "scalar", "canon"),
            ("stable_id", "scalar", "canon"),
            ("statistics_cache", "table", "canon"),
            // The Delta format's Change Data Feed function is Canon's, not DataFusion's.
            ("table_changes", "table", "canon"),
            ("add_one", "scalar", "macro"),
            ("double_it", "scalar", "macro"),
        ]
    );
    assert!(got.iter().all(|r| r[5] != "NULL"), "{got:?}");
    let macros: Vec<&[String]> = got[6..].iter().map(|r| &r[3..]).collect();
    assert_eq!(
        macros,
        vec![
            &["x Int64", "Int64", "SQL macro: RETURN (x + 1)"][..],
            &["x Int64", "Int64", "Twice the value"][..],
        ]
    );
    // The catalog reads information_schema itself: no plans of its own are recorded.
    let unnamed = column(
        &session,
        "SELECT count(*) FROM canon.diagnostics \
         WHERE kind = 'query_planned' AND detail LIKE '%\"statement\":\"\"%'",
    )
    .await;
    assert_eq!(unnamed, vec!["0"]);
    // The builtin generate_series is both a scalar and a table function.
    let series = column(
        &session,
        "SELECT DISTINCT kind FROM canon.functions WHERE name = 'generate_series' ORDER BY kind",
    )
    .await;
    assert_eq!(series, vec!["scalar", "table"]);
    // Another session has the project's macro but not this session's.
    let other = runtime.session();
    assert_eq!(
        column(
            &other,
            "SELECT name FROM canon.functions WHERE tier = 'macro' ORDER BY name"
        )
        .await,
        vec!["double_it"]
    );
}

#[tokio::test]
async fn a_declared_override_replaces_the_builtin_and_is_recorded() {
    let fx = fixture();
    let toml = project(
        r#"
[functions]
overrides = ["abs"]

[[function]]
name = "abs"
args = [{ name = "x", type = "BIGINT" }]
returns = "BIGINT"
body = "x * x"
"#,
    );
    let runtime = fx.runtime(&toml).await;
    let session = runtime.session();
    assert_eq!(
        column(&session, "SELECT abs(n) FROM numbers ORDER BY n").await,
        vec!["4", "1", "9"]
    );
    let got = rows(
        &session,
        "SELECT tier, overrides_builtin FROM canon.functions WHERE name = 'abs'",
    )
    .await;
    assert_eq!(got, vec![vec!["macro", "true"]]);
    let event = column(
        &session,
        "SELECT detail FROM canon.diagnostics WHERE kind = 'function_registered'",
    )
    .await;
    let event: serde_json::Value = serde_json::from_str(&event[0]).unwrap();
    assert_eq!(event["name"], "abs");
    assert_eq!(event["tier"], "macro");
    assert_eq!(event["overrides"], "builtin");
    assert_eq!(event["signature"], "abs(x Int64) -> Int64");
    assert_eq!(event["origin"], format!("{}:16", fx.project_file()));
}

#[tokio::test]
async fn a_clash_without_an_override_is_an_error_at_its_line() {
    let fx = fixture();
    let toml = project(
        r#"
[[function]]
name = "upper"
args = [{ name = "s", type = "VARCHAR" }]
returns = "VARCHAR"
body = "s"
"#,
    );
    let err = fx
        .load(&toml)
        .await
        .expect_err("upper is a builtin")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:13: function `upper`: `upper` is a builtin function; a new function may not \
             shadow it unless the project lists it in [functions] overrides",
            fx.project_file()
        )
    );
    let session_clash = fx.runtime(&project("")).await.session();
    let err = crate::common::query_err(
        &session_clash,
        "CREATE FUNCTION stable_id(x BIGINT) RETURNS BIGINT RETURN x",
    )
    .await
    .to_string();
    assert!(err.contains("`stable_id` is a canon function"), "{err}");
}

#[tokio::test]
async fn an_override_that_overrides_nothing_is_an_error() {
    let fx = fixture();
    let toml = project("\n[functions]\noverrides = [\"no_such_function\"]\n");
    let err = fx
        .load(&toml)
        .await
        .expect_err("stale override")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:14: override `no_such_function`: no builtin or Canon function has this name, \
             so there is nothing to override",
            fx.project_file()
        )
    );
}
