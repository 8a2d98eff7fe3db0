//! Merge models that apply their Delta upstream's Change Data Feed: inserts, updates and
//! deletes since the last build, no commit without them, and the same table as a full
//! refresh after any of it, a killed build included.

use std::path::Path;

use super::*;
use crate::{canon, ok, stderr};

/// A Delta table of accounts with its change feed on, and a merge model of the open ones.
const ACCOUNTS: &str = r#"
[project]
name = "accounts"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "accounts"
format = "delta"
location = "tables/accounts"
primary_key = ["id"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "owner", type = "Utf8", nullable = false },
  { name = "balance", type = "Float64" },
  { name = "status", type = "Utf8", nullable = false },
]

[dataset.delta]
change_data_feed = true

[[model]]
name = "open_accounts"
kind = "merge"
location = "build/open_accounts"
incremental = { changes = true }
sql = "SELECT id, upper(owner) AS owner, balance FROM accounts WHERE status = 'open'"
primary_key = ["id"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "owner", type = "Utf8" },
  { name = "balance", type = "Float64" },
]
"#;

/// The model's query, run by hand.
const BY_HAND: &str =
    "SELECT id, upper(owner) AS owner, balance FROM accounts WHERE status = 'open' ORDER BY id";

fn accounts_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("canon.toml"), ACCOUNTS).expect("write project");
    ok(canon(dir.path(), &["delta", "create", "accounts"], None));
    add_accounts(dir.path(), 1, 100);
    dir
}

/// Accounts `first..=last`, every tenth closed.
fn add_accounts(project: &Path, first: i64, last: i64) {
    let query = format!(
        "SELECT value AS id, 'owner ' || value AS owner, CAST(value AS DOUBLE) AS balance, \
         CASE WHEN value % 10 = 0 THEN 'closed' ELSE 'open' END AS status \
         FROM generate_series({first}, {last})"
    );
    ok(canon(
        project,
        &["delta", "write", "accounts", "--query", &query],
        None,
    ));
}

/// Asserts two CSV answers are equal, showing the lines only one of them has.
fn same_rows(found: &str, expected: &str) {
    let found_lines: Vec<&str> = found.lines().collect();
    let expected_lines: Vec<&str> = expected.lines().collect();
    let extra: Vec<&&str> = found_lines
        .iter()
        .filter(|l| !expected_lines.contains(l))
        .collect();
    let missing: Vec<&&str> = expected_lines
        .iter()
        .filter(|l| !found_lines.contains(l))
        .collect();
    assert!(
        extra.is_empty() && missing.is_empty() && found_lines.len() == expected_lines.len(),
        "extra rows: {extra:?}\nmissing rows: {missing:?}"
    );
}

fn dml(project: &Path, sql: &str) {
    ok(canon(project, &["query", sql], None));
}

fn model_rows(project: &Path) -> String {
    rows_of(project, "open_accounts")
}

fn by_hand(project: &Path) -> String {
    ok(canon(project, &["query", BY_HAND, "--format", "csv"], None))
}

#[test]
fn a_changes_model_applies_inserts_updates_and_deletes() {
    let dir = accounts_project();
    let project = dir.path();
    let first = ok(canon(project, &["build"], None));
    assert_eq!(
        built_line(&first, "open_accounts"),
        ("built".into(), "90".into()),
        "{first}"
    );
    same_rows(&model_rows(project), &by_hand(project));

    // Nothing new upstream: no commit.
    let versions = commits(project, "open_accounts");
    let again = ok(canon(project, &["build"], None));
    assert_eq!(
        built_line(&again, "open_accounts").0,
        "unchanged",
        "{again}"
    );
    assert_eq!(commits(project, "open_accounts"), versions);

    // Ten new open accounts: ten rows processed.
    let open: Vec<i64> = (101..=120).filter(|i| i % 10 != 0).take(10).collect();
    let ids = open
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    dml(
        project,
        &format!(
            "INSERT INTO accounts SELECT value AS id, 'owner ' || value AS owner, \
             CAST(value AS DOUBLE) AS balance, 'open' AS status \
             FROM generate_series(1, 200) WHERE value IN ({ids})"
        ),
    );
    let added = ok(canon(project, &["build"], None));
    assert_eq!(
        built_line(&added, "open_accounts"),
        ("built".into(), "10".into()),
        "{added}"
    );
    assert_eq!(commits(project, "open_accounts"), versions + 1);
    same_rows(&model_rows(project), &by_hand(project));

    // Updates, a delete, an account closed and one reopened, over three upstream commits:
    // five updated, 7 and 8 gone, 10 back.
    dml(
        project,
        "UPDATE accounts SET balance = balance + 1000 WHERE id <= 5",
    );
    dml(project, "DELETE FROM accounts WHERE id = 7");
    dml(
        project,
        "UPDATE accounts SET status = CASE WHEN id = 8 THEN 'closed' ELSE 'open' END \
         WHERE id IN (8, 10)",
    );
    let changed = ok(canon(project, &["build"], None));
    assert_eq!(
        built_line(&changed, "open_accounts"),
        ("built".into(), "8".into()),
        "{changed}"
    );
    let applied = model_rows(project);
    same_rows(&applied, &by_hand(project));
    assert!(applied.contains("1,OWNER 1,1001.0"), "{applied}");
    assert!(
        !applied.contains("\n7,") && !applied.contains("\n8,"),
        "{applied}"
    );
    assert!(applied.contains("\n10,OWNER 10,10.0"), "{applied}");

    // An overwrite deletes and inserts every row in one commit: the inserts win.
    dml(
        project,
        "INSERT OVERWRITE accounts SELECT id, owner, balance + 1 AS balance, status \
         FROM accounts WHERE id <> 9",
    );
    let overwritten = ok(canon(project, &["build"], None));
    assert_eq!(
        built_line(&overwritten, "open_accounts").0,
        "built",
        "{overwritten}"
    );
    let applied = model_rows(project);
    same_rows(&applied, &by_hand(project));
    assert!(applied.contains("\n1,OWNER 1,1002.0"), "{applied}");

    // A full refresh builds the same rows.
    ok(canon(project, &["build", "--full-refresh"], None));
    same_rows(&model_rows(project), &applied);
}

#[test]
fn a_killed_changes_build_resumes_to_what_a_full_refresh_builds() {
    let dir = accounts_project();
    let project = dir.path();
    add_accounts(project, 101, 3000);
    ok(canon(project, &["build"], None));
    kill_builds_and_resume(project, project, &[60, 300, 700], |round| {
        let low = round * 500;
        dml(
            project,
            &format!(
                "UPDATE accounts SET balance = balance * 2 WHERE id > {low} AND id <= {}",
                low + 400
            ),
        );
        dml(
            project,
            &format!(
                "DELETE FROM accounts WHERE id % 97 = {}",
                round.rem_euclid(97)
            ),
        );
    });
    let resumed = model_rows(project);
    same_rows(&resumed, &by_hand(project));
    ok(canon(project, &["build", "--full-refresh"], None));
    same_rows(&model_rows(project), &resumed);
}

#[test]
fn a_changes_model_needs_a_feed_and_a_row_wise_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path();
    // The upstream without its feed.
    let no_feed = ACCOUNTS.replace("[dataset.delta]\nchange_data_feed = true\n", "");
    std::fs::write(project.join("canon.toml"), &no_feed).expect("write");
    let out = canon(project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("open_accounts") && err.contains("change_data_feed = true"),
        "{err}"
    );

    // A query that aggregates cannot map changes row by row.
    let grouped = ACCOUNTS.replace(
        "SELECT id, upper(owner) AS owner, balance FROM accounts WHERE status = 'open'",
        "SELECT id, max(owner) AS owner, sum(balance) AS balance FROM accounts GROUP BY id",
    );
    std::fs::write(project.join("canon.toml"), &grouped).expect("write");
    let out = canon(project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("aggregates"), "{err}");

    // Rows an outer join pads with NULLs come from no upstream row.
    let outer = ACCOUNTS.replace(
        "SELECT id, upper(owner) AS owner, balance FROM accounts WHERE status = 'open'",
        "SELECT coalesce(a.id, 0) AS id, upper(a.owner) AS owner, a.balance \
         FROM (SELECT 1 AS k) AS l LEFT JOIN accounts AS a ON a.id = l.k",
    );
    std::fs::write(project.join("canon.toml"), &outer).expect("write");
    let out = canon(project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("optional side of an outer join"),
        "{}",
        stderr(&out)
    );

    // `changes` is for merge models.
    let append = ACCOUNTS.replace("kind = \"merge\"", "kind = \"append\"");
    std::fs::write(project.join("canon.toml"), &append).expect("write");
    let out = canon(project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kind = \"merge\""),
        "{}",
        stderr(&out)
    );
}
