//! Data files that do not match their contract: registration fails, names the dataset,
//! the file and the column, and registers nothing.

use canon::datafusion::arrow::array::{Int32Array, Int64Array, StringArray};
use canon::error::DatasetFailure;
use canon::{CanonError, Diagnostics, Project, Runtime};

use crate::common::{Fixture, arr, assert_contains, batch};

fn registration_failures(err: CanonError) -> Vec<DatasetFailure> {
    match err {
        CanonError::Registration(e) => e.failures,
        other => panic!("expected CanonError::Registration, got {other:?}"),
    }
}

#[tokio::test]
async fn parquet_file_missing_a_contract_column() {
    let fx = Fixture::new();
    let file = fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![("id", arr(Int64Array::from(vec![1, 2])))]),
    );
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [
  { name = "id", type = "Int64" },
  { name = "customer", type = "Utf8" },
]
"#;
    let err = fx
        .load(toml)
        .await
        .expect_err("customer is not in the file");
    let text = err.to_string();
    assert!(err.is_project_error());
    let failures = registration_failures(err);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].dataset, "orders");
    assert_eq!(failures[0].origin, format!("{}:4", fx.project_file()));
    assert_eq!(
        failures[0].message,
        format!("file {}: column `customer` is missing", fx.url(&file))
    );
    assert_contains(
        &text,
        &[
            "1 dataset(s) could not be registered; nothing was registered",
            &format!(
                "{}:4: dataset `orders`: file {}",
                fx.project_file(),
                fx.url(&file)
            ),
            "column `customer` is missing",
        ],
    );
}

#[tokio::test]
async fn parquet_column_of_another_type_than_the_contract() {
    let fx = Fixture::new();
    let file = fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2]))),
            ("code", arr(Int32Array::from(vec![10, 20]))),
        ]),
    );
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [
  { name = "id", type = "Int64" },
  { name = "code", type = "Utf8" },
]
"#;
    let err = fx.load(toml).await.expect_err("code is Int32 in the file");
    let failures = registration_failures(err);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].dataset, "orders");
    assert_eq!(
        failures[0].message,
        format!(
            "file {}: column `code` is Int32 in the file, contract says Utf8",
            fx.url(&file)
        )
    );
}

#[tokio::test]
async fn one_bad_dataset_fails_the_load_and_registers_nothing() {
    let fx = Fixture::new();
    fx.write_parquet(
        "good/part-0.parquet",
        &batch(vec![("id", arr(Int64Array::from(vec![1])))]),
    );
    let bad_file = fx.write_parquet(
        "bad/part-0.parquet",
        &batch(vec![("id", arr(StringArray::from(vec!["one"])))]),
    );
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "good"
format = "parquet"
location = "good"
columns = [{ name = "id", type = "Int64" }]

[[dataset]]
name = "bad"
format = "parquet"
location = "bad"
columns = [{ name = "id", type = "Int64" }]
"#;
    let file = fx.write_project(toml);
    let project = Project::load(&file).unwrap();
    let diagnostics = Diagnostics::new();
    let err = Runtime::new(project, diagnostics.clone())
        .await
        .expect_err("bad has a Utf8 id");
    let text = err.to_string();
    let failures = registration_failures(err);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].dataset, "bad");
    assert_eq!(failures[0].origin, format!("{}:10", fx.project_file()));
    assert!(failures[0].message.contains(&fx.url(&bad_file)));
    assert!(
        failures[0].message.contains("column `id` is Utf8"),
        "{text}"
    );
    assert!(!text.contains("`good`"), "{text}");
    assert!(!text.contains("good/"), "{text}");

    // Nothing was registered: the event stream has the failure and no registration.
    let kinds: Vec<(&str, Option<String>)> = diagnostics
        .records()
        .iter()
        .map(|r| (r.event.kind(), r.event.dataset().map(str::to_string)))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("profile_built", None),
            ("registration_failed", Some("bad".to_string())),
        ]
    );
}

#[tokio::test]
async fn every_bad_dataset_is_reported_in_project_order() {
    let fx = Fixture::new();
    fx.write_parquet(
        "a/part-0.parquet",
        &batch(vec![("x", arr(Int64Array::from(vec![1])))]),
    );
    fx.write_parquet(
        "b/part-0.parquet",
        &batch(vec![("y", arr(Int64Array::from(vec![1])))]),
    );
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "a"
format = "parquet"
location = "a"
columns = [{ name = "y", type = "Int64" }]

[[dataset]]
name = "b"
format = "parquet"
location = "b"
columns = [{ name = "x", type = "Int64" }]
"#;
    let failures = registration_failures(fx.load(toml).await.unwrap_err());
    let names: Vec<&str> = failures.iter().map(|f| f.dataset.as_str()).collect();
    assert_eq!(names, vec!["a", "b"]);
    assert!(failures[0].message.ends_with("column `y` is missing"));
    assert!(failures[1].message.ends_with("column `x` is missing"));
}

#[tokio::test]
async fn string_and_binary_layouts_read_as_one_another() {
    // A file written with Utf8 satisfies a LargeUtf8 or Utf8View contract, and the
    // table exposes the contract's type.
    let fx = Fixture::new();
    fx.write_parquet(
        "names/part-0.parquet",
        &batch(vec![("name", arr(StringArray::from(vec!["a", "b"])))]),
    );
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "large"
format = "parquet"
location = "names"
columns = [{ name = "name", type = "LargeUtf8" }]

[[dataset]]
name = "view"
format = "parquet"
location = "names"
columns = [{ name = "name", type = "Utf8View" }]
"#;
    let runtime = fx.runtime(toml).await;
    let session = runtime.session();
    let types = crate::common::rows(
        &session,
        "SELECT arrow_typeof(l.name), arrow_typeof(v.name), l.name \
         FROM large l JOIN view v ON l.name = v.name ORDER BY l.name",
    )
    .await;
    assert_eq!(
        types,
        vec![
            vec![
                "LargeUtf8".to_string(),
                "Utf8View".to_string(),
                "a".to_string()
            ],
            vec![
                "LargeUtf8".to_string(),
                "Utf8View".to_string(),
                "b".to_string()
            ],
        ]
    );
}

#[tokio::test]
async fn csv_header_must_name_the_contract_columns_in_order() {
    let fx = Fixture::new();
    fx.write_text("good/a.csv", "id,name\n1,a\n");
    let swapped = fx.write_text("bad/b.csv", "name,id\na,1\n");
    // Without a header the columns are positional by declaration; nothing to compare.
    fx.write_text("headless/c.csv", "1,a\n");
    let dataset = |name: &str, options: &str| {
        format!(
            "\n[[dataset]]\nname = \"{name}\"\nformat = \"csv\"\nlocation = \"{name}\"\n{options}columns = [\n  \
             {{ name = \"id\", type = \"Int64\" }},\n  {{ name = \"name\", type = \"Utf8\" }},\n]\n"
        )
    };
    let ok_toml = format!(
        "[project]\nname = \"p\"\n{}{}",
        dataset("good", ""),
        dataset("headless", "options = { has_header = \"false\" }\n")
    );
    let runtime = fx.runtime(&ok_toml).await;
    assert_eq!(runtime.datasets().len(), 2);

    let bad_toml = format!(
        "[project]\nname = \"p\"\n{}{}",
        dataset("good", ""),
        dataset("bad", "")
    );
    let failures = registration_failures(fx.load(&bad_toml).await.expect_err("swapped header"));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].dataset, "bad");
    assert_eq!(
        failures[0].message,
        format!(
            "file {}: header is [name, id], contract columns are [id, name] (CSV columns are \
             read by position)",
            fx.url(&swapped)
        )
    );
}

/// A file that is not what its name says fails registration with a message for people and
/// the underlying error kept as its source.
#[tokio::test]
async fn an_unreadable_file_keeps_its_source_error() {
    let fx = Fixture::new();
    let dir = fx.abs("orders");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(format!("{dir}/part-0.parquet"), b"not a parquet file").expect("write");
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "orders"
format = "parquet"
location = "orders"
columns = [{ name = "id", type = "Int64" }]
"#;
    let err = fx.load(toml).await.expect_err("the file is not parquet");
    let failures = registration_failures(err);
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert!(
        failure.message.starts_with(&format!(
            "file {}/part-0.parquet: cannot read its schema: ",
            fx.url("orders")
        )),
        "{}",
        failure.message
    );
    let source = std::error::Error::source(failure.error.as_ref()).expect("a source error");
    assert!(failure.message.ends_with(&source.to_string()), "{source}");
}
