//! Per-table options reach their own table only: never another table, never the session.

use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, assert_table, batch, column, query, rows};

const PROJECT: &str = r#"[project]
name = "options"

[[dataset]]
name = "semi"
format = "csv"
location = "semi.csv"
options = { delimiter = ";" }
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]

[[dataset]]
name = "pipe"
format = "csv"
location = "pipe.csv"
options = { delimiter = "|", has_header = "false" }
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]

[[dataset]]
name = "plain"
format = "csv"
location = "plain.csv"
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]

[[dataset]]
name = "facts"
format = "parquet"
location = "facts"
options = { pushdown_filters = true, reorder_filters = true }
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]
"#;

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_text("semi.csv", "id;name\n1;alpha,one\n2;beta|two\n");
    fx.write_text("pipe.csv", "3|gamma;three\n4|delta,four\n");
    fx.write_text("plain.csv", "id,name\n5,epsilon\n");
    fx.write_parquet(
        "facts/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![6, 7]))),
            ("name", arr(StringArray::from(vec!["zeta", "eta"]))),
        ]),
    );
    fx
}

#[tokio::test]
async fn each_csv_table_reads_with_its_own_options_in_one_session() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();

    // One query reads all four tables, each with its own delimiter and header rule.
    let table = query(
        &session,
        "SELECT 'semi' AS t, id, name FROM semi \
         UNION ALL SELECT 'pipe', id, name FROM pipe \
         UNION ALL SELECT 'plain', id, name FROM plain \
         UNION ALL SELECT 'facts', id, name FROM facts \
         ORDER BY id",
    )
    .await;
    assert_table(
        &table,
        r#"
        +-------+----+-------------+
        | t     | id | name        |
        +-------+----+-------------+
        | semi  | 1  | alpha,one   |
        | semi  | 2  | beta|two    |
        | pipe  | 3  | gamma;three |
        | pipe  | 4  | delta,four  |
        | plain | 5  | epsilon     |
        | facts | 6  | zeta        |
        | facts | 7  | eta         |
        +-------+----+-------------+
        "#,
    );
}

#[tokio::test]
async fn table_options_leave_session_settings_alone() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();

    let show = rows(
        &session,
        "SHOW datafusion.execution.parquet.pushdown_filters",
    )
    .await;
    assert_eq!(
        show,
        vec![vec![
            "datafusion.execution.parquet.pushdown_filters".to_string(),
            "false".to_string(),
        ]]
    );
    let settings = rows(
        &session,
        "SELECT name, value FROM information_schema.df_settings WHERE name IN (\
         'datafusion.execution.parquet.pushdown_filters', \
         'datafusion.execution.parquet.reorder_filters', \
         'datafusion.catalog.has_header') ORDER BY name",
    )
    .await;
    assert_eq!(
        settings,
        vec![
            vec![
                "datafusion.catalog.has_header".to_string(),
                "true".to_string()
            ],
            vec![
                "datafusion.execution.parquet.pushdown_filters".to_string(),
                "false".to_string()
            ],
            vec![
                "datafusion.execution.parquet.reorder_filters".to_string(),
                "false".to_string()
            ],
        ]
    );
}

#[tokio::test]
async fn profile_parquet_settings_do_reach_the_session() {
    // The counterpart of the test above: the profile, not a table, sets session options.
    let fx = fixture();
    let toml = PROJECT.replacen(
        "[[dataset]]",
        "[profile.parquet]\npushdown_filters = true\n\n[[dataset]]",
        1,
    );
    let runtime = fx.runtime(&toml).await;
    let session = runtime.session();
    let value = rows(
        &session,
        "SHOW datafusion.execution.parquet.pushdown_filters",
    )
    .await;
    assert_eq!(value[0][1], "true");
    assert_eq!(
        column(&session, "SELECT count(*) FROM facts WHERE id > 6").await,
        vec!["1"]
    );
}

#[tokio::test]
async fn canon_datasets_shows_each_tables_own_options() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    let options = rows(
        &session,
        "SELECT name, options FROM canon.datasets ORDER BY name",
    )
    .await;
    assert_eq!(
        options,
        vec![
            vec![
                "facts".to_string(),
                r#"{"format.pushdown_filters":"true","format.reorder_filters":"true"}"#.to_string()
            ],
            vec![
                "pipe".to_string(),
                r#"{"format.delimiter":"|","format.has_header":"false"}"#.to_string()
            ],
            vec!["plain".to_string(), "{}".to_string()],
            vec![
                "semi".to_string(),
                r#"{"format.delimiter":";"}"#.to_string()
            ],
        ]
    );
    // And the registered DDL carries exactly those options.
    let pipe = runtime.dataset("pipe").unwrap();
    assert!(
        pipe.ddl
            .ends_with("OPTIONS (\n  'format.delimiter' '|',\n  'format.has_header' 'false'\n)")
    );
    assert!(!runtime.dataset("plain").unwrap().ddl.contains("OPTIONS"));
}

#[tokio::test]
async fn parquet_table_option_changes_only_that_tables_plan() {
    let fx = fixture();
    let toml = format!(
        "{PROJECT}\n{}",
        r#"[[dataset]]
name = "facts_plain"
format = "parquet"
location = "facts"
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]
"#
    );
    let runtime = fx.runtime(&toml).await;
    let session = runtime.session();
    let physical = |rows: Vec<Vec<String>>| {
        rows.into_iter()
            .find(|r| r[0] == "physical_plan")
            .map(|r| r[1].clone())
            .expect("physical plan")
    };
    let pushed = physical(rows(&session, "EXPLAIN SELECT name FROM facts WHERE id > 6").await);
    let plain = physical(
        rows(
            &session,
            "EXPLAIN SELECT name FROM facts_plain WHERE id > 6",
        )
        .await,
    );
    // facts pushes the filter into the parquet scan; facts_plain, reading the same
    // files in the same session, keeps a FilterExec above its scan.
    assert!(!pushed.contains("FilterExec"), "{pushed}");
    assert!(pushed.contains("predicate=id@0 > 6"), "{pushed}");
    assert!(plain.contains("FilterExec: id@0 > 6"), "{plain}");
    assert_eq!(
        column(&session, "SELECT name FROM facts WHERE id > 6").await,
        vec!["eta"]
    );
    assert_eq!(
        column(&session, "SELECT name FROM facts_plain WHERE id > 6").await,
        vec!["eta"]
    );
}
