//! Canonical DDL: deterministic, exact, and what the table is registered from.

use canon::Project;
use canon::datafusion::arrow::array::{
    DictionaryArray, Int64Array, StringArray, TimestampMicrosecondArray,
};
use canon::datafusion::arrow::datatypes::Int32Type;

use crate::common::{Fixture, arr, assert_table, batch, query, rows};

const EVENTS: &str = r#"[project]
name = "ddl"

[[dataset]]
name = "events"
format = "parquet"
location = "events"
partitioned_by = ["year"]
ordered_by = ["ts", "id DESC"]
options = { pushdown_filters = true, metadata_size_hint = 1024 }
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "ts", type = 'Timestamp(Microsecond, Some("UTC"))' },
  { name = "name", type = "Utf8" },
  { name = "kind", type = "Dictionary(Int32, Utf8)" },
  { name = "year", type = "Int32" },
]

[[dataset]]
name = "people"
format = "csv"
location = "people.csv"
options = { has_header = true, delimiter = ";" }
columns = [
  { name = "id", type = "Int64" },
  { name = "Full Name", type = "Utf8" },
]
"#;

/// Writes the data the `EVENTS` project points at, sorted as it declares.
fn write_events(fx: &Fixture) {
    let file = |ids: Vec<i64>, ts: Vec<i64>, names: Vec<&str>, kinds: Vec<&str>| {
        batch(vec![
            ("id", arr(Int64Array::from(ids))),
            (
                "ts",
                arr(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            ),
            ("name", arr(StringArray::from(names))),
            (
                "kind",
                arr(kinds.into_iter().collect::<DictionaryArray<Int32Type>>()),
            ),
        ])
    };
    fx.write_parquet(
        "events/year=2023/part-0.parquet",
        &file(
            vec![2, 1],
            vec![1_000_000, 2_000_000],
            vec!["b", "a"],
            vec!["x", "y"],
        ),
    );
    fx.write_parquet(
        "events/year=2024/part-0.parquet",
        &file(vec![3], vec![3_000_000], vec!["c"], vec!["x"]),
    );
    fx.write_text(
        "people.csv",
        "id;Full Name\n1;Ada Lovelace\n2;Alan Turing\n",
    );
}

#[tokio::test]
async fn same_project_gives_byte_identical_ddl() {
    let fx = Fixture::new();
    write_events(&fx);
    let file = fx.write_project(EVENTS);

    let first = Project::load(&file).unwrap();
    let second = Project::load(&file).unwrap();
    assert_eq!(first.datasets.len(), 2);
    for (a, b) in first.datasets.iter().zip(&second.datasets) {
        assert_eq!(a.ddl(), b.ddl());
        assert_eq!(a.schema_fingerprint(), b.schema_fingerprint());
    }

    // The same project in another directory (another machine, another checkout)
    // registers with the same DDL: relative locations name the project's own store.
    let elsewhere = Fixture::new();
    write_events(&elsewhere);
    let moved = elsewhere.write_project(EVENTS);
    assert_ne!(fx.root(), elsewhere.root());
    let r1 = canon::Runtime::load(&file).await.unwrap();
    let r2 = canon::Runtime::load(&moved).await.unwrap();
    for ((a, b), spec) in r1.datasets().iter().zip(r2.datasets()).zip(&first.datasets) {
        assert_eq!(a.ddl, b.ddl);
        assert_eq!(a.ddl, spec.ddl());
        assert!(a.ddl.contains("LOCATION 'project:///"), "{}", a.ddl);
        assert_eq!(a.schema_fingerprint, b.schema_fingerprint);
    }
}

#[test]
fn option_order_and_spelling_in_the_file_do_not_change_the_ddl() {
    let fx = Fixture::new();
    write_events(&fx);
    let reordered = EVENTS
        .replace(
            "options = { pushdown_filters = true, metadata_size_hint = 1024 }",
            r#"options = { "format.METADATA_SIZE_HINT" = "1024", PUSHDOWN_FILTERS = "true" }"#,
        )
        .replace(
            "options = { has_header = true, delimiter = \";\" }",
            "options = { delimiter = \";\", has_header = true }",
        );
    assert_ne!(reordered, EVENTS);
    let a = Project::parse(EVENTS, &fx.root().join("a.toml"), fx.root()).unwrap();
    let b = Project::parse(&reordered, &fx.root().join("b.toml"), fx.root()).unwrap();
    for (a, b) in a.datasets.iter().zip(&b.datasets) {
        assert_eq!(a.ddl(), b.ddl());
    }
}

#[tokio::test]
async fn golden_ddl_for_a_partitioned_ordered_dataset_with_options() {
    let fx = Fixture::new();
    write_events(&fx);
    let runtime = fx.runtime(EVENTS).await;

    let expected_events = r#"CREATE EXTERNAL TABLE "events" (
  "id" BIGINT NOT NULL,
  "ts" ARROW('Timestamp(µs, "UTC")'),
  "name" VARCHAR,
  "kind" ARROW('Dictionary(Int32, Utf8)'),
  "year" INT NOT NULL
)
STORED AS PARQUET
PARTITIONED BY (year)
WITH ORDER ("ts" ASC NULLS LAST, "id" DESC NULLS FIRST)
LOCATION 'project:///events/'
OPTIONS (
  'format.metadata_size_hint' '1024',
  'format.pushdown_filters' 'true'
)"#;
    let expected_people = r#"CREATE EXTERNAL TABLE "people" (
  "id" BIGINT,
  "Full Name" VARCHAR
)
STORED AS CSV
LOCATION 'project:///people.csv'
OPTIONS (
  'format.delimiter' ';',
  'format.has_header' 'true'
)"#;

    let events = runtime.dataset("events").unwrap();
    assert_eq!(events.ddl, expected_events);
    assert_eq!(events.spec.ddl(), expected_events);
    let people = runtime.dataset("people").unwrap();
    assert_eq!(people.ddl, expected_people);

    // The DDL is what was registered: the tables read their files.
    let session = runtime.session();
    assert_table(
        &query(&session, "SELECT * FROM events ORDER BY id").await,
        r#"
        +----+----------------------+------+------+------+
        | id | ts                   | name | kind | year |
        +----+----------------------+------+------+------+
        | 1  | 1970-01-01T00:00:02Z | a    | y    | 2023 |
        | 2  | 1970-01-01T00:00:01Z | b    | x    | 2023 |
        | 3  | 1970-01-01T00:00:03Z | c    | x    | 2024 |
        +----+----------------------+------+------+------+
        "#,
    );
    assert_table(
        &query(&session, r#"SELECT "Full Name" FROM people ORDER BY id"#).await,
        r#"
        +--------------+
        | Full Name    |
        +--------------+
        | Ada Lovelace |
        | Alan Turing  |
        +--------------+
        "#,
    );

    // The DDL parses on its own, in the session's dialect, as one statement.
    let statements = session.parse(expected_events).unwrap();
    assert_eq!(statements.len(), 1);

    // canon.datasets shows the same text.
    let ddl = rows(&session, "SELECT ddl FROM canon.datasets ORDER BY name").await;
    assert_eq!(
        ddl,
        vec![
            vec![expected_events.to_string()],
            vec![expected_people.to_string()]
        ]
    );
}

#[tokio::test]
async fn declared_order_is_known_to_the_planner() {
    let fx = Fixture::new();
    write_events(&fx);
    let runtime = fx.runtime(EVENTS).await;
    let session = runtime.session();
    // WITH ORDER makes DataFusion trust the file order: no sort is planned for it.
    let plan = rows(
        &session,
        "EXPLAIN SELECT ts, id FROM events WHERE year = 2024 \
         ORDER BY ts ASC NULLS LAST, id DESC NULLS FIRST",
    )
    .await;
    let physical = plan
        .iter()
        .find(|r| r[0] == "physical_plan")
        .map(|r| r[1].clone())
        .expect("physical plan");
    assert!(
        physical.contains("output_ordering=[ts@0 ASC NULLS LAST, id@1 DESC]"),
        "{physical}"
    );
}
