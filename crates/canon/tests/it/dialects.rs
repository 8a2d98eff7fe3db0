//! SQL dialects: a corpus of queries in each dialect's own syntax against real tables, the
//! rows they return, and the same rows again from their canonical SQL; constructs a dialect
//! cannot express are refused with an error naming them; identifier normalization follows
//! the policy.

use canon::CanonError;

use crate::common::{query_err, rows};
use crate::sql_fixture::{fixture, project, rows_and_canonical_rows, runtime, table};

/// (dialect, SQL in that dialect's syntax, expected rows).
const CORPUS: &[(&str, &str, &[&[&str]])] = &[
    // PostgreSQL: `::` casts, double-quoted identifiers, ILIKE, DISTINCT ON.
    (
        "postgresql",
        "SELECT id::VARCHAR AS s, fare::INT AS f FROM trips WHERE id <= 2 ORDER BY id",
        &[&["1", "10"], &["2", "20"]],
    ),
    (
        "postgresql",
        "SELECT \"city\", count(*)::BIGINT AS n FROM trips GROUP BY \"city\" ORDER BY 1",
        &[&["Lima", "2"], &["Oslo", "3"], &["Rome", "1"]],
    ),
    (
        "postgresql",
        "SELECT id FROM trips WHERE city ILIKE 'o%' AND fare::INT > 10 ORDER BY id",
        &[&["3"], &["6"]],
    ),
    (
        "postgresql",
        "SELECT DISTINCT ON (city) city, id FROM trips ORDER BY city, id DESC",
        &[&["Lima", "5"], &["Oslo", "6"], &["Rome", "4"]],
    ),
    // MySQL: backtick identifiers, `LIMIT offset, count`, double quotes as strings.
    (
        "mysql",
        "SELECT `city`, SUM(`fare`) AS `total` FROM `trips` GROUP BY `city` ORDER BY `city`",
        &[&["Lima", "70.0"], &["Oslo", "100.0"], &["Rome", "40.0"]],
    ),
    (
        "mysql",
        "SELECT `id` FROM `trips` ORDER BY `id` LIMIT 2, 2",
        &[&["3"], &["4"]],
    ),
    (
        "mysql",
        "SELECT id FROM trips WHERE city = \"Oslo\" ORDER BY id",
        &[&["1"], &["3"], &["6"]],
    ),
    (
        "mysql",
        "SELECT t.`id`, z.`borough` FROM `trips` AS t JOIN `zones` AS z \
         ON t.`zone_id` = z.`zone_id` WHERE t.`id` < 3 ORDER BY t.`id`",
        &[&["1", "North"], &["2", "South"]],
    ),
    // DuckDB: `* EXCLUDE`, FROM-first, struct literals in braces, GROUP BY ALL, QUALIFY.
    (
        "duckdb",
        "SELECT * EXCLUDE (fare, zone_id) FROM trips WHERE id < 3 ORDER BY id",
        &[&["1", "Oslo"], &["2", "Lima"]],
    ),
    (
        "duckdb",
        "FROM zones SELECT borough ORDER BY zone_id",
        &[&["North"], &["South"], &["East"]],
    ),
    (
        "duckdb",
        "SELECT {'id': id, 'city': city} AS s FROM trips WHERE id = 1",
        &[&["{id: 1, city: Oslo}"]],
    ),
    (
        "duckdb",
        "SELECT city, count(*) AS n FROM trips GROUP BY ALL ORDER BY city",
        &[&["Lima", "2"], &["Oslo", "3"], &["Rome", "1"]],
    ),
    (
        "duckdb",
        "SELECT id FROM trips \
         QUALIFY row_number() OVER (PARTITION BY city ORDER BY fare DESC) = 1 ORDER BY id",
        &[&["4"], &["5"], &["6"]],
    ),
    // BigQuery: backtick identifiers, `* EXCEPT`, STRUCT literals.
    (
        "bigquery",
        "SELECT * EXCEPT (fare, zone_id) FROM `trips` WHERE id < 3 ORDER BY id",
        &[&["1", "Oslo"], &["2", "Lima"]],
    ),
    (
        "bigquery",
        "SELECT STRUCT(id AS a, city AS b) AS s FROM `trips` WHERE id = 2",
        &[&["{a: 2, b: Lima}"]],
    ),
    // Generic: CTEs, window functions, subqueries.
    (
        "generic",
        "WITH c AS (SELECT city, count(*) AS n FROM trips GROUP BY city) \
         SELECT c.city, c.n, (SELECT max(fare) FROM trips WHERE trips.city = c.city) AS top \
         FROM c ORDER BY c.city",
        &[
            &["Lima", "2", "50.0"],
            &["Oslo", "3", "60.0"],
            &["Rome", "1", "40.0"],
        ],
    ),
    (
        "generic",
        "SELECT id, sum(fare) OVER (PARTITION BY city ORDER BY id) AS running FROM trips \
         WHERE zone_id IN (SELECT zone_id FROM zones WHERE borough <> 'East') ORDER BY id",
        &[
            &["1", "10.0"],
            &["2", "20.0"],
            &["3", "40.0"],
            &["5", "70.0"],
            &["6", "100.0"],
        ],
    ),
];

#[tokio::test]
async fn corpus_returns_the_same_rows_from_its_canonical_sql() {
    let fx = fixture();
    for dialect in ["postgresql", "mysql", "duckdb", "bigquery", "generic"] {
        let runtime = runtime(&fx, &format!("dialect = \"{dialect}\"")).await;
        let session = runtime.session();
        for (_, sql, expected) in CORPUS.iter().filter(|(d, _, _)| *d == dialect) {
            let (original, canonical, again) = rows_and_canonical_rows(&session, sql).await;
            assert_eq!(original, table(expected), "[{dialect}] {sql}");
            assert_eq!(
                again, original,
                "[{dialect}] {sql}\ncanonical SQL: {canonical}"
            );
        }
    }
}

#[tokio::test]
async fn canonical_sql_quotes_identifiers_the_dialect_way() {
    let fx = fixture();
    let sql = "SELECT city AS \"Where\", id FROM trips WHERE id = 1";
    let runtime = runtime(&fx, "dialect = \"postgresql\"").await;
    let explained = runtime.session().explain(sql, false).await.unwrap();
    let canonical = explained.canonical_sql.unwrap();
    assert!(canonical.contains("AS \"Where\""), "{canonical}");

    let runtime = runtime_in(&fx, "mysql").await;
    let explained = runtime
        .session()
        .explain("SELECT city AS `Where`, id FROM trips WHERE id = 1", false)
        .await
        .unwrap();
    let canonical = explained.canonical_sql.unwrap();
    assert!(canonical.contains("AS `Where`"), "{canonical}");
    assert_eq!(
        rows(&runtime.session(), &canonical).await,
        table(&[&["Oslo", "1"]])
    );
}

async fn runtime_in(fx: &crate::common::Fixture, dialect: &str) -> canon::Runtime {
    runtime(fx, &format!("dialect = \"{dialect}\"")).await
}

#[tokio::test]
async fn constructs_a_dialect_cannot_express_are_named() {
    let fx = fixture();
    let cases = [
        (
            "postgresql",
            "SELECT `id` FROM trips",
            "the postgresql dialect cannot express backtick-quoted identifiers, here: `id`; \
             quote identifiers with \"…\" instead",
            "mysql",
        ),
        (
            "mysql",
            "SELECT * EXCLUDE (fare) FROM trips",
            "the mysql dialect cannot express `* EXCLUDE (…)` in the select list",
            "duckdb",
        ),
        (
            "duckdb",
            "SELECT * EXCEPT (fare) FROM trips",
            "the duckdb dialect cannot express `* EXCEPT (…)` in the select list, here: \
             * EXCEPT (; write `* EXCLUDE (…)` instead",
            "bigquery",
        ),
        (
            "postgresql",
            "SELECT id FROM trips LIMIT 1, 2",
            "the postgresql dialect cannot express `LIMIT offset, count`, here: LIMIT 1, 2; \
             write `LIMIT count OFFSET offset` instead",
            "mysql",
        ),
        (
            "postgresql",
            "FROM trips SELECT id",
            "the postgresql dialect cannot express FROM-first SELECT",
            "duckdb",
        ),
        (
            "mysql",
            "SELECT {'a': 1}",
            "the mysql dialect cannot express struct literals in braces",
            "duckdb",
        ),
        (
            "postgresql",
            "SELECT STRUCT(1 AS a)",
            "the postgresql dialect cannot express `STRUCT(… AS name)` literals",
            "bigquery",
        ),
    ];
    for (dialect, sql, message, accepted_by) in cases {
        let runtime = runtime_in(&fx, dialect).await;
        let err = query_err(&runtime.session(), sql).await;
        let text = err.to_string();
        assert!(text.starts_with(message), "[{dialect}] {sql}:\n{text}");
        match err {
            CanonError::Syntax(syntax) => {
                assert_eq!(syntax.dialect, dialect);
                assert!(syntax.accepted_by.contains(&accepted_by), "{text}");
                assert!(!syntax.accepted_by.contains(&dialect), "{text}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    // Syntax the dialect parses but DataFusion cannot plan is named by DataFusion.
    let runtime = runtime_in(&fx, "mssql").await;
    let err = query_err(&runtime.session(), "SELECT TOP 2 id FROM trips").await;
    assert!(err.to_string().contains("not implemented: TOP"), "{err}");
    let runtime = runtime_in(&fx, "mysql").await;
    let err = query_err(&runtime.session(), "SELECT 7 DIV 2").await;
    assert!(err.to_string().contains("Operator DIV"), "{err}");

    // Plain mistakes keep the parser's own message.
    let err = query_err(&runtime.session(), "SELEC 1").await;
    assert!(matches!(err, CanonError::DataFusion(_)), "{err:?}");
}

#[tokio::test]
async fn identifiers_are_lowercased_or_preserved_as_the_policy_says() {
    let fx = fixture();
    let lower = runtime(&fx, "").await;
    assert_eq!(
        lower.project().policy.identifiers,
        canon::IdentifierCase::Lower
    );
    let session = lower.session();
    assert_eq!(
        rows(&session, "SELECT ID, City FROM Trips WHERE Id = 1").await,
        table(&[&["1", "Oslo"]])
    );
    let err = query_err(&session, "SELECT \"ID\" FROM trips").await;
    assert!(err.to_string().contains("ID"), "{err}");

    let preserve = runtime(&fx, "identifiers = \"preserve\"").await;
    let session = preserve.session();
    assert_eq!(
        rows(&session, "SELECT id, city FROM trips WHERE id = 1").await,
        table(&[&["1", "Oslo"]])
    );
    let err = query_err(&session, "SELECT ID FROM trips").await;
    assert!(err.to_string().contains("ID"), "{err}");
    let err = query_err(&session, "SELECT id FROM Trips").await;
    assert!(err.to_string().contains("Trips"), "{err}");
    // The setting is part of the profile, under the policy.
    assert_eq!(
        preserve.profile().settings()["canon.policy.identifiers"],
        "preserve"
    );
    assert_ne!(
        preserve.profile().fingerprint(),
        lower.profile().fingerprint()
    );
}

#[test]
fn identifiers_must_be_lower_or_preserve() {
    let fx = fixture();
    let text = project("identifiers = \"upper\"", 2);
    let err = fx.project_error(&text);
    let offset = text.find("\"upper\"").unwrap();
    let (line, column) = crate::common::position_at(&text, offset);
    assert!(
        err.contains(&format!(
            "canon.toml:{line}:{column}: policy.identifiers: `upper` is not an identifier rule; \
             expected \"lower\" or \"preserve\""
        )),
        "{err}"
    );
    let text = project("", 2).replace(
        "[profile]\n",
        "[profile]\nsettings = { \"datafusion.sql_parser.enable_ident_normalization\" = \"false\" }\n",
    );
    let err = fx.project_error(&text);
    assert!(err.contains("set by Canon's [policy] identifiers"), "{err}");
}

#[tokio::test]
async fn dialect_can_be_switched_by_any_name_datafusion_knows() {
    let mut policy = canon::SqlPolicy::default();
    policy.set_dialect("Postgres").unwrap();
    assert_eq!(policy.dialect, "postgresql");
    let err = policy.set_dialect("cobol").unwrap_err();
    assert!(err.to_string().contains("Invalid Dialect: cobol"), "{err}");
}

#[tokio::test]
async fn mixed_case_columns_follow_the_identifier_rule_and_survive_canonical_sql() {
    use canon::datafusion::arrow::array::{Float64Array, Int64Array};

    use crate::common::{Fixture, arr, batch};

    let fx = Fixture::new();
    fx.write_parquet(
        "fares/part-0.parquet",
        &batch(vec![
            ("Id", arr(Int64Array::from(vec![1, 2]))),
            ("Fare", arr(Float64Array::from(vec![1.5, 2.5]))),
        ]),
    );
    let project = |identifiers: &str| {
        format!(
            r#"[project]
name = "cases"

[policy]
identifiers = "{identifiers}"

[[dataset]]
name = "fares"
format = "parquet"
location = "fares"
columns = [
  {{ name = "Id", type = "Int64" }},
  {{ name = "Fare", type = "Float64" }},
]
"#
        )
    };

    let lower = fx.runtime(&project("lower")).await;
    let session = lower.session();
    let err = query_err(&session, "SELECT Fare FROM fares").await;
    assert!(err.to_string().contains("fare"), "{err}");
    let (original, canonical, again) = rows_and_canonical_rows(
        &session,
        "SELECT \"Fare\" * 2 AS double FROM fares ORDER BY \"Id\"",
    )
    .await;
    assert_eq!(original, table(&[&["3.0"], &["5.0"]]));
    assert!(canonical.contains("\"Fare\""), "{canonical}");
    assert_eq!(again, original);

    let preserve = fx.runtime(&project("preserve")).await;
    let session = preserve.session();
    let (original, canonical, again) =
        rows_and_canonical_rows(&session, "SELECT Fare * 2 AS double FROM fares ORDER BY Id").await;
    assert_eq!(original, table(&[&["3.0"], &["5.0"]]));
    assert!(canonical.contains("\"Fare\""), "{canonical}");
    assert_eq!(again, original);
}
