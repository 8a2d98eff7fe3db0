//! Keys in the contract: `primary_key` and `unique` render as table constraints in the
//! DDL, show in `canon.datasets`, reach DataFusion as functional dependencies, and are
//! verified across every file by `canon check`.

use canon::Project;
use canon::datafusion::arrow::array::{Int64Array, StringArray};

use crate::common::{Fixture, arr, assert_contains, batch, column, rows};

const USERS: &str = r#"
[project]
name = "accounts"

[[dataset]]
name = "users"
format = "parquet"
location = "users"
primary_key = ["id"]
unique = [["email"], ["team", "handle"]]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "email", type = "Utf8" },
  { name = "team", type = "Utf8" },
  { name = "handle", type = "Utf8" },
]
"#;

/// Writes one users file: (id, email, team, handle) rows.
fn users(fx: &Fixture, file: &str, people: &[(i64, Option<&str>, &str, &str)]) {
    fx.write_parquet(
        &format!("users/{file}"),
        &batch(vec![
            (
                "id",
                arr(Int64Array::from_iter_values(people.iter().map(|p| p.0))),
            ),
            (
                "email",
                arr(StringArray::from_iter(people.iter().map(|p| p.1))),
            ),
            (
                "team",
                arr(StringArray::from_iter_values(people.iter().map(|p| p.2))),
            ),
            (
                "handle",
                arr(StringArray::from_iter_values(people.iter().map(|p| p.3))),
            ),
        ]),
    );
}

#[tokio::test]
async fn keys_render_in_the_ddl_and_show_in_datasets() {
    let fx = Fixture::new();
    users(&fx, "part-0.parquet", &[(1, Some("a@x"), "red", "ann")]);
    let runtime = fx.runtime(USERS).await;
    let session = runtime.session();
    let ddl = column(&session, "SELECT ddl FROM canon.datasets").await;
    assert_contains(
        &ddl[0],
        &[
            "\"handle\" VARCHAR,\n  PRIMARY KEY (\"id\"),\n  UNIQUE (\"email\"),\n  \
             UNIQUE (\"team\", \"handle\")\n)",
        ],
    );
    let keys = column(&session, "SELECT keys FROM canon.datasets").await;
    assert_eq!(
        keys,
        [r#"{"primary_key":["id"],"unique":[["email"],["team","handle"]]}"#]
    );
    // DataFusion knows `id` determines every column: grouping by it alone may select them.
    let grouped = rows(
        &session,
        "SELECT id, email, team FROM users GROUP BY id ORDER BY id",
    )
    .await;
    assert_eq!(grouped, [["1", "a@x", "red"]]);
}

/// A key is unique across the whole dataset, not only within each file; rows with a NULL
/// in a unique key do not count.
#[tokio::test]
async fn check_reports_repeated_keys_across_files() {
    let fx = Fixture::new();
    users(
        &fx,
        "part-0.parquet",
        &[(1, Some("a@x"), "red", "ann"), (2, None, "red", "bo")],
    );
    let file = fx.write_project(USERS);
    let check = || async {
        let project = Project::load(&file).expect("project loads");
        canon::check::check_project(&project, &[], &mut |_, _, _| {})
            .await
            .expect("check runs")
    };
    let report = check().await;
    assert!(report.ok(), "{report:?}");

    users(
        &fx,
        "part-1.parquet",
        &[
            (1, None, "blue", "cy"),
            (3, Some("a@x"), "blue", "di"),
            (4, None, "red", "bo"),
        ],
    );
    let report = check().await;
    assert!(!report.ok());
    assert!(
        report.datasets[0]
            .files
            .iter()
            .all(|f| f.problems.is_empty())
    );
    assert_eq!(
        report.datasets[0].problems,
        [
            "primary key (id) has 1 repeated value(s), e.g. id = 1 in 2 rows",
            "unique key (email) has 1 repeated value(s), e.g. email = a@x in 2 rows",
            "unique key (team, handle) has 1 repeated value(s), e.g. team = red, handle = bo in 2 rows",
        ],
        "{report:?}"
    );
}
