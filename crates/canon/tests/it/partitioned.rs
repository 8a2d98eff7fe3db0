//! Hive-partitioned parquet: the partition column comes from the directory names, with
//! the contract's type, and filters on it select the right files.

use canon::datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

use crate::common::{Fixture, arr, assert_table, batch, column, query, rows};

const PROJECT: &str = r#"[project]
name = "partitioned"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales"
partitioned_by = ["year"]
columns = [
  { name = "id", type = "Int64" },
  { name = "region", type = "Utf8" },
  { name = "amount", type = "Float64" },
  { name = "year", type = "Int32" },
]
"#;

fn fixture() -> Fixture {
    let fx = Fixture::new();
    let part = |ids: Vec<i64>, regions: Vec<&str>, amounts: Vec<f64>| {
        batch(vec![
            ("id", arr(Int64Array::from(ids))),
            ("region", arr(StringArray::from(regions))),
            ("amount", arr(Float64Array::from(amounts))),
        ])
    };
    fx.write_parquet(
        "sales/year=2023/part-0.parquet",
        &part(vec![1, 2], vec!["north", "south"], vec![10.0, 20.0]),
    );
    fx.write_parquet(
        "sales/year=2024/part-0.parquet",
        &part(vec![3, 4], vec!["north", "east"], vec![30.5, 40.25]),
    );
    fx.write_parquet(
        "sales/year=2024/part-1.parquet",
        &part(vec![5], vec!["west"], vec![50.0]),
    );
    fx
}

#[tokio::test]
async fn filter_on_the_partition_column_returns_that_partition() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let session = runtime.session();
    assert_table(
        &query(
            &session,
            "SELECT * FROM sales WHERE year = 2024 ORDER BY id",
        )
        .await,
        r#"
        +----+--------+--------+------+
        | id | region | amount | year |
        +----+--------+--------+------+
        | 3  | north  | 30.5   | 2024 |
        | 4  | east   | 40.25  | 2024 |
        | 5  | west   | 50.0   | 2024 |
        +----+--------+--------+------+
        "#,
    );
    assert_table(
        &query(
            &session,
            "SELECT year, count(*) AS n, sum(amount) AS total \
             FROM sales GROUP BY year ORDER BY year",
        )
        .await,
        r#"
        +------+---+--------+
        | year | n | total  |
        +------+---+--------+
        | 2023 | 2 | 30.0   |
        | 2024 | 3 | 120.75 |
        +------+---+--------+
        "#,
    );
    assert_eq!(
        column(&session, "SELECT count(*) FROM sales WHERE year = 2025").await,
        vec!["0"]
    );
}

#[tokio::test]
async fn partition_column_has_the_contract_type_and_prunes_files() {
    let fx = fixture();
    let runtime = fx.runtime(PROJECT).await;
    let dataset = runtime.dataset("sales").unwrap();
    assert_eq!(dataset.provider.schema(), dataset.spec.schema());
    let year = dataset
        .spec
        .schema()
        .field_with_name("year")
        .unwrap()
        .clone();
    assert_eq!(
        year.data_type(),
        &canon::datafusion::arrow::datatypes::DataType::Int32
    );
    assert!(!year.is_nullable());

    let session = runtime.session();
    assert_eq!(
        column(&session, "SELECT DISTINCT arrow_typeof(year) FROM sales").await,
        vec!["Int32"]
    );
    // Only the 2024 directory is scanned.
    let plan = rows(&session, "EXPLAIN SELECT id FROM sales WHERE year = 2024").await;
    let physical = plan
        .iter()
        .find(|r| r[0] == "physical_plan")
        .map(|r| r[1].clone())
        .expect("physical plan");
    assert!(physical.contains("year=2024/part-0.parquet"), "{physical}");
    assert!(physical.contains("year=2024/part-1.parquet"), "{physical}");
    assert!(!physical.contains("year=2023"), "{physical}");
}
