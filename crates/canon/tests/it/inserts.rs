//! `INSERT INTO` parquet and CSV datasets (under `allow_dml`): the rows are written as new
//! files under the dataset's location and read back through the contract, also for a
//! dataset whose evolution rules rename columns (which scans without file statistics).

use canon::datafusion::arrow::array::{Float32Array, Float64Array, Int64Array, StringArray};

use crate::common::{Fixture, arr, batch, column, rows};

fn project(datasets: &str) -> String {
    format!(
        "[project]\nname = \"inserts\"\n\n[profile.cache]\nlist_files = \"0\"\n\n\
         [policy]\nallow_dml = true\n\n{datasets}"
    )
}

const TRIPS: &str = r#"[[dataset]]
name = "trips"
format = "parquet"
location = "trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "city", type = "Utf8" },
  { name = "fare", type = "Float64" },
]
"#;

fn strs(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Data files under `dir`, by name.
fn files(fx: &Fixture, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fx.root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn insert_into_a_parquet_dataset_reads_back() {
    let fx = Fixture::new();
    fx.write_parquet(
        "trips/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2]))),
            ("city", arr(StringArray::from(vec!["Oslo", "Lima"]))),
            ("fare", arr(Float64Array::from(vec![10.0, 20.0]))),
        ]),
    );
    let runtime = fx.runtime(&project(TRIPS)).await;
    let session = runtime.session();
    assert_eq!(
        column(
            &session,
            "INSERT INTO trips VALUES (3, 'Rome', 30.5), (4, NULL, NULL)"
        )
        .await,
        ["2"]
    );
    assert_eq!(files(&fx, "trips").len(), 2, "{:?}", files(&fx, "trips"));
    assert_eq!(
        rows(&session, "SELECT id, city, fare FROM trips ORDER BY id").await,
        strs(&[
            &["1", "Oslo", "10.0"],
            &["2", "Lima", "20.0"],
            &["3", "Rome", "30.5"],
            &["4", "NULL", "NULL"],
        ])
    );

    // INSERT … SELECT, and the DataFrame API's insert, take the same path.
    assert_eq!(
        column(
            &session,
            "INSERT INTO trips SELECT id + 10, city, fare * 2 FROM trips WHERE id <= 2"
        )
        .await,
        ["2"]
    );
    let more = session
        .sql("SELECT CAST(20 AS BIGINT) AS id, 'Kyiv' AS city, CAST(1.5 AS DOUBLE) AS fare")
        .await
        .unwrap();
    assert_eq!(session.insert("trips", more, false).await.unwrap(), 1);
    assert_eq!(
        rows(
            &session,
            "SELECT id, city, fare FROM trips WHERE id > 4 ORDER BY id"
        )
        .await,
        strs(&[
            &["11", "Oslo", "20.0"],
            &["12", "Lima", "40.0"],
            &["20", "Kyiv", "1.5"]
        ])
    );
    // Another session, and another runtime over the same files, see the rows.
    assert_eq!(
        column(&runtime.session(), "SELECT count(*) FROM trips").await,
        ["7"]
    );
    let again = fx.runtime(&project(TRIPS)).await;
    assert_eq!(
        column(&again.session(), "SELECT sum(fare) FROM trips").await,
        ["122.0"]
    );
}

#[tokio::test]
async fn insert_respects_the_contracts_not_null_columns() {
    let fx = Fixture::new();
    fx.mkdir("trips");
    let runtime = fx.runtime(&project(TRIPS)).await;
    let session = runtime.session();
    let err = crate::common::query_err(&session, "INSERT INTO trips VALUES (NULL, 'Oslo', 1.0)")
        .await
        .to_string();
    // DataFusion's check names the VALUES column, not the dataset's (`id`).
    assert!(
        err.contains("Column 'column1' is declared as non-nullable but contains null values"),
        "{err}"
    );
    assert_eq!(column(&session, "SELECT count(*) FROM trips").await, ["0"]);
    assert!(files(&fx, "trips").is_empty(), "{:?}", files(&fx, "trips"));
}

#[tokio::test]
async fn insert_into_a_csv_dataset_reads_back() {
    let fx = Fixture::new();
    fx.write_text("cities/part-0.csv", "id,name\n1,Oslo\n2,Lima\n");
    let datasets = r#"[[dataset]]
name = "cities"
format = "csv"
location = "cities"
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Utf8" },
]
"#;
    let runtime = fx.runtime(&project(datasets)).await;
    let session = runtime.session();
    assert_eq!(
        column(
            &session,
            "INSERT INTO cities VALUES (3, 'Rome'), (4, 'São Paulo')"
        )
        .await,
        ["2"]
    );
    assert_eq!(files(&fx, "cities").len(), 2, "{:?}", files(&fx, "cities"));
    assert_eq!(
        rows(&session, "SELECT id, name FROM cities ORDER BY id").await,
        strs(&[
            &["1", "Oslo"],
            &["2", "Lima"],
            &["3", "Rome"],
            &["4", "São Paulo"]
        ])
    );
    // The new file has the header the contract's columns name, so a new runtime, which
    // checks every file's header at registration, accepts it.
    let again = fx.runtime(&project(datasets)).await;
    assert_eq!(
        column(&again.session(), "SELECT count(*) FROM cities").await,
        ["4"]
    );
}

#[tokio::test]
async fn insert_into_a_dataset_with_renamed_columns_reads_back() {
    let fx = Fixture::new();
    // An old file: `fare_amt` (Float32) is `fare` (Float64) now.
    fx.write_parquet(
        "trips/2023.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2]))),
            ("city", arr(StringArray::from(vec!["Oslo", "Lima"]))),
            ("fare_amt", arr(Float32Array::from(vec![12.5, 7.25]))),
        ]),
    );
    let datasets = format!(
        "{TRIPS}\n[dataset.evolution]\nrenames = {{ fare_amt = \"fare\" }}\nwiden = true\n"
    );
    let runtime = fx.runtime(&project(&datasets)).await;
    let session = runtime.session();
    assert_eq!(
        column(&session, "INSERT INTO trips VALUES (3, 'Rome', 30.0)").await,
        ["1"]
    );
    assert_eq!(
        rows(&session, "SELECT id, city, fare FROM trips ORDER BY id").await,
        strs(&[
            &["1", "Oslo", "12.5"],
            &["2", "Lima", "7.25"],
            &["3", "Rome", "30.0"],
        ])
    );
    // The new file is written under the contract's names and types.
    assert_eq!(
        column(&session, "SELECT id FROM trips WHERE fare > 10 ORDER BY id").await,
        ["1", "3"]
    );
    let again = fx.runtime(&project(&datasets)).await;
    assert_eq!(
        column(&again.session(), "SELECT sum(fare) FROM trips").await,
        ["49.75"]
    );
}
