//! The manifest of verified files in the project's cache directory: registration skips
//! reading a file it vouches for, and reads every file that changed, is new, or belongs to
//! a changed contract; `canon check` reads everything regardless.

use std::fs::File;
use std::path::Path;

use canon::datafusion::arrow::array::{Int64Array, StringArray};
use canon::registry::MANIFEST_FILE;
use canon::{CanonError, Project};

use crate::common::{Fixture, arr, assert_contains, batch};

const PROJECT: &str = r#"[project]
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

fn write_orders(fx: &Fixture, rel: &str) -> std::path::PathBuf {
    fx.write_parquet(
        rel,
        &batch(vec![
            ("id", arr(Int64Array::from(vec![1, 2]))),
            ("customer", arr(StringArray::from(vec!["a", "b"]))),
        ]),
    )
}

/// Overwrites a file in place with as many bytes of garbage, keeping its modification
/// time: what the manifest cannot tell from the file it verified.
fn garble_keeping_stamp(file: &Path) {
    let modified = std::fs::metadata(file).unwrap().modified().unwrap();
    let len = std::fs::metadata(file).unwrap().len();
    std::fs::write(file, vec![b'x'; usize::try_from(len).unwrap()]).unwrap();
    File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

fn manifest(fx: &Fixture) -> String {
    std::fs::read_to_string(fx.root().join(".canon").join(MANIFEST_FILE)).unwrap()
}

fn registration_message(err: CanonError) -> String {
    match err {
        CanonError::Registration(e) => e.failures[0].message.clone(),
        other => panic!("expected a registration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_verified_file_is_not_read_again_until_it_changes() {
    let fx = Fixture::new();
    let file = write_orders(&fx, "orders/part-0.parquet");
    drop(fx.runtime(PROJECT).await);
    assert_contains(&manifest(&fx), &["\"orders\"", &fx.url(&file)]);

    // Same path, size and modification time: registration trusts the manifest ...
    garble_keeping_stamp(&file);
    drop(fx.runtime(PROJECT).await);
    // ... while `canon check` reads the file and finds it is not parquet.
    let project = Project::load(fx.root().join("canon.toml")).unwrap();
    let report = canon::check::check_project(&project, &[], &mut |_, _, _| {})
        .await
        .unwrap();
    assert!(!report.ok(), "check must read the garbled file: {report:?}");

    // Without the manifest, registration reads the file too.
    std::fs::remove_file(fx.root().join(".canon").join(MANIFEST_FILE)).unwrap();
    let message = registration_message(fx.load(PROJECT).await.unwrap_err());
    assert_contains(
        &message,
        &[&format!("file {}", fx.url(&file)), "cannot read its schema"],
    );
}

#[tokio::test]
async fn changed_and_new_files_are_read() {
    let fx = Fixture::new();
    let file = write_orders(&fx, "orders/part-0.parquet");
    drop(fx.runtime(PROJECT).await);

    // Rewritten (another size and modification time): read again, and refused.
    fx.write_parquet(
        "orders/part-0.parquet",
        &batch(vec![("id", arr(Int64Array::from(vec![1, 2])))]),
    );
    let message = registration_message(fx.load(PROJECT).await.unwrap_err());
    assert_eq!(
        message,
        format!("file {}: column `customer` is missing", fx.url(&file))
    );

    // The good file back, and a new bad one beside it: the new one is read.
    write_orders(&fx, "orders/part-0.parquet");
    drop(fx.runtime(PROJECT).await);
    let new = fx.write_parquet(
        "orders/part-1.parquet",
        &batch(vec![("id", arr(Int64Array::from(vec![3])))]),
    );
    let message = registration_message(fx.load(PROJECT).await.unwrap_err());
    assert_eq!(
        message,
        format!("file {}: column `customer` is missing", fx.url(&new))
    );
}

#[tokio::test]
async fn a_changed_contract_reads_every_file_again() {
    let fx = Fixture::new();
    let file = write_orders(&fx, "orders/part-0.parquet");
    drop(fx.runtime(PROJECT).await);
    garble_keeping_stamp(&file);

    // The file has not changed, but what it must satisfy has.
    let widened = PROJECT.replace("type = \"Utf8\"", "type = \"Utf8View\"");
    let message = registration_message(fx.load(&widened).await.unwrap_err());
    assert_contains(&message, &[&format!("file {}", fx.url(&file))]);
}

#[tokio::test]
async fn an_unreadable_manifest_is_rebuilt() {
    let fx = Fixture::new();
    let file = write_orders(&fx, "orders/part-0.parquet");
    fx.write_text(&format!(".canon/{MANIFEST_FILE}"), "{ not json");
    let runtime = fx.runtime(PROJECT).await;
    let rows = runtime
        .session()
        .sql("SELECT count(*) AS n FROM orders")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows[0].num_rows(), 1);
    assert_contains(&manifest(&fx), &[&fx.url(&file), "\"version\":1"]);
}
