//! A Delta table with a deletion vector, as Spark and Databricks writers leave them:
//! Canon's queries, `canon check` and Canon's own DML skip the rows it deletes.

use std::path::Path;

use canon::Project;
use canon::datafusion::arrow::array::Int64Array;
use canon::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use canon::delta::ops;
use canon::stores::Stores;
use delta_kernel::actions::deletion_vector_writer::{
    KernelDeletionVector, StreamingDeletionVectorWriter,
};
use serde_json::{Value, json};

use crate::common::{Fixture, column, rows};

const EVENTS: &str = r#"
[project]
name = "dv"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "events"
format = "delta"
location = "tables/events"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
]
"#;

/// The newest commit file in a table's log, and its version.
fn newest_commit(table: &Path) -> (u64, Vec<Value>) {
    let log = table.join("_delta_log");
    let version = std::fs::read_dir(&log)
        .expect("the log")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
        .expect("a commit");
    let text = std::fs::read_to_string(log.join(format!("{version:020}.json"))).expect("read");
    let actions = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("an action"))
        .collect();
    (version, actions)
}

/// The `id` column of a data file, in file order.
fn ids_in(file: &Path) -> Vec<i64> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.expect("a batch");
        let column = batch.column_by_name("id").expect("id");
        let column = column.as_any().downcast_ref::<Int64Array>().expect("Int64");
        ids.extend(column.values().iter().copied());
    }
    ids
}

/// Deletes rows of the table's one data file the way another writer would: a deletion
/// vector file beside the data, and a commit that upgrades the protocol to reader 3 /
/// writer 7 with the `deletionVectors` feature and re-adds the file with its vector.
fn delete_with_a_vector(table: &Path, deleted_ids: &[i64]) {
    let (version, actions) = newest_commit(table);
    let adds: Vec<&Value> = actions.iter().filter_map(|a| a.get("add")).collect();
    assert_eq!(adds.len(), 1, "one data file expected: {actions:?}");
    let add = adds[0];
    let path = add["path"].as_str().expect("add.path");
    let ids = ids_in(&table.join(path));
    let mut vector = KernelDeletionVector::new();
    vector.add_deleted_row_indexes(deleted_ids.iter().map(|id| {
        ids.iter()
            .position(|i| i == id)
            .expect("the id is in the file") as u64
    }));

    let mut bytes = Vec::new();
    let mut writer = StreamingDeletionVectorWriter::new(&mut bytes);
    let written = writer
        .write_deletion_vector(vector)
        .expect("a deletion vector");
    writer.finalize().expect("finalized");
    let dv_file = table.join("deletion_vector_canon_test.bin");
    std::fs::write(&dv_file, &bytes).expect("write the vector");
    let dv_url = url::Url::from_file_path(&dv_file).expect("a file URL");

    let now = 1_800_000_000_000_i64;
    let mut with_vector = add.clone();
    with_vector["deletionVector"] = json!({
        "storageType": "p",
        "pathOrInlineDv": dv_url.as_str(),
        "offset": written.offset,
        "sizeInBytes": written.size_in_bytes,
        "cardinality": written.cardinality,
    });
    let commit = [
        json!({"commitInfo": {"timestamp": now, "operation": "DELETE",
               "operationParameters": {}, "engineInfo": "canon-test"}}),
        json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
               "readerFeatures": ["deletionVectors"],
               "writerFeatures": ["deletionVectors"]}}),
        json!({"remove": {"path": path, "deletionTimestamp": now, "dataChange": true,
               "extendedFileMetadata": true, "partitionValues": {},
               "size": add["size"]}}),
        json!({"add": with_vector}),
    ];
    let text: Vec<String> = commit.iter().map(Value::to_string).collect();
    let next = table.join(format!("_delta_log/{:020}.json", version + 1));
    std::fs::write(next, text.join("\n") + "\n").expect("write the commit");
}

#[tokio::test]
async fn deletion_vectors_hide_deleted_rows_from_queries_and_check() {
    let fx = Fixture::new();
    let file = fx.write_project(EVENTS);
    let project = Project::load(&file).expect("project loads");
    let stores = Stores::for_project(&project).expect("stores");
    ops::create(
        project.dataset("events").expect("dataset"),
        &project.policy,
        &stores,
    )
    .await
    .expect("table created");
    let runtime = fx.runtime(EVENTS).await;
    rows(
        &runtime.session(),
        "INSERT INTO events VALUES (1, 10.0), (2, -5.0), (3, -7.0), (4, 40.0)",
    )
    .await;
    delete_with_a_vector(&fx.root().join("tables/events"), &[2]);

    let runtime = fx.runtime(EVENTS).await;
    let session = runtime.session();
    let ids = column(&session, "SELECT id FROM events ORDER BY id").await;
    assert_eq!(ids, ["1", "3", "4"]);
    let sum = column(&session, "SELECT sum(amount) FROM events").await;
    assert_eq!(sum, ["43.0"]);

    // A contract constraint the table does not store: of the two negative amounts only
    // the one still in the table (id 3) fails.
    let strict = EVENTS.replace(
        "[[dataset]]\nname = \"events\"",
        "[[dataset]]\nname = \"events\"\nconstraints = [\"amount >= 0\"]",
    );
    let project = Project::load(fx.write_project(&strict)).expect("project loads");
    let report = canon::check::check_project(&project, &[], &mut |_, _, _| {})
        .await
        .expect("check runs");
    let files = &report.datasets[0].files;
    assert_eq!(files[0].rows, Some(3), "{report:?}");
    assert_eq!(
        files[0].problems,
        ["constraint `amount >= 0` fails for 1 row(s)".to_string()],
        "{report:?}"
    );

    // Distributed plans read Delta tables as plain parquet scans, which cannot apply a
    // deletion vector: the query is refused, saying why, before any worker is asked.
    let distributed = format!(
        "{EVENTS}\n[distributed]\nworkers = [\"http://127.0.0.1:9\", \"http://127.0.0.1:10\"]\n"
    );
    let refused = fx
        .runtime(&distributed)
        .await
        .session()
        .sql("SELECT id FROM events")
        .await
        .expect("plans logically")
        .collect()
        .await
        .expect_err("a deletion vector cannot be read by a distributed plan")
        .to_string();
    assert!(
        refused.contains(
            "Delta dataset `events` cannot be read by distributed plans: its files have \
             deletion vectors"
        ),
        "{refused}"
    );

    // A DELETE through delta-rs rewrites the file without bringing row 2 back.
    assert_eq!(
        column(&session, "DELETE FROM events WHERE id = 4").await,
        ["1"]
    );
    let ids = column(&session, "SELECT id FROM events ORDER BY id").await;
    assert_eq!(ids, ["1", "3"]);
}
