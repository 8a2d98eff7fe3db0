//! JSON and Arrow IPC datasets register through the same path and read their files;
//! Arrow files, which carry a schema, are checked against the contract.

use std::fs::File;

use canon::CanonError;
use canon::datafusion::arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use canon::datafusion::arrow::ipc::writer::FileWriter;

use crate::common::{Fixture, arr, assert_table, batch, query};

fn write_arrow(fx: &Fixture, rel: &str, data: &RecordBatch) -> std::path::PathBuf {
    let path = fx.root().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = FileWriter::try_new(File::create(&path).unwrap(), &data.schema()).unwrap();
    writer.write(data).unwrap();
    writer.finish().unwrap();
    path
}

#[tokio::test]
async fn json_and_arrow_datasets_read_their_rows() {
    let fx = Fixture::new();
    fx.write_text(
        "events.json",
        "{\"id\": 1, \"tag\": \"a\"}\n{\"id\": 2, \"tag\": null}\n{\"id\": 3, \"tag\": \"c\"}\n",
    );
    write_arrow(
        &fx,
        "ipc/part-0.arrow",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 3]))),
            ("score", arr(Int32Array::from(vec![10, 30]))),
        ]),
    );
    let runtime = fx
        .runtime(
            r#"[project]
name = "formats"

[[dataset]]
name = "events"
format = "json"
location = "events.json"
columns = [
  { name = "id", type = "Int64" },
  { name = "tag", type = "Utf8" },
]

[[dataset]]
name = "scores"
format = "arrow"
location = "ipc"
columns = [
  { name = "id", type = "Int64" },
  { name = "score", type = "Int32" },
]
"#,
        )
        .await;
    assert!(
        runtime
            .dataset("scores")
            .unwrap()
            .ddl
            .contains("STORED AS ARROW")
    );
    let session = runtime.session();
    assert_table(
        &query(
            &session,
            "SELECT e.id, e.tag, s.score FROM events e \
             LEFT JOIN scores s ON e.id = s.id ORDER BY e.id",
        )
        .await,
        r#"
        +----+-----+-------+
        | id | tag | score |
        +----+-----+-------+
        | 1  | a   | 10    |
        | 2  |     |       |
        | 3  | c   | 30    |
        +----+-----+-------+
        "#,
    );
}

#[tokio::test]
async fn arrow_file_that_breaks_the_contract_fails_registration() {
    let fx = Fixture::new();
    let file = write_arrow(
        &fx,
        "ipc/part-0.arrow",
        &batch(vec![("id", arr(StringArray::from(vec!["1"])))]),
    );
    let err = fx
        .load(
            r#"[project]
name = "formats"

[[dataset]]
name = "scores"
format = "arrow"
location = "ipc"
columns = [{ name = "id", type = "Int64" }]
"#,
        )
        .await
        .expect_err("id is Utf8 in the file");
    match err {
        CanonError::Registration(e) => {
            assert_eq!(e.failures.len(), 1);
            assert_eq!(e.failures[0].dataset, "scores");
            assert_eq!(
                e.failures[0].message,
                format!(
                    "file {}: column `id` is Utf8 in the file, contract says Int64",
                    fx.url(&file)
                )
            );
        }
        other => panic!("expected a registration error, got {other:?}"),
    }
}
