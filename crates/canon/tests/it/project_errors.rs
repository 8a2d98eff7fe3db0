//! Malformed project files: every problem names the file, line, column and key.

use canon::error::{Problem, ProjectError};
use canon::{CanonError, Runtime};

use crate::common::{Fixture, assert_contains, position_at};

/// A fixture holding the data files the projects below point at.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write_text("t.csv", "id,name\n1,a\n");
    fx.mkdir("events");
    fx
}

/// Loads `toml` and asserts a single problem at the first occurrence of `at`, with
/// `key` and a message containing `message`.
#[track_caller]
fn expect_problem(toml: &str, at: &str, key: &str, message: &str) {
    let offset = toml
        .find(at)
        .unwrap_or_else(|| panic!("{at:?} not in project text"));
    expect_problem_at(toml, offset, key, message);
}

#[track_caller]
fn expect_problem_at(toml: &str, offset: usize, key: &str, message: &str) {
    let fx = fixture();
    let err = fx.project_error(toml);
    let (line, column) = position_at(toml, offset);
    let location = format!("{}:{line}:{column}: {key}: ", fx.project_file());
    assert_contains(&err, &["invalid project file\n", &location, message]);
    assert_eq!(
        problem_lines(&fx, &err),
        1,
        "expected exactly one problem:\n{err}"
    );
}

/// How many problems the rendered error lists (one `  file:line:column:` line each).
fn problem_lines(fx: &Fixture, err: &str) -> usize {
    let prefix = format!("  {}:", fx.project_file());
    err.lines().filter(|l| l.starts_with(&prefix)).count()
}

#[test]
fn unknown_profile_key() {
    let toml = r#"[project]
name = "p"

[profile]
batch = 1
"#;
    expect_problem(toml, "batch = 1", "batch", "unknown field `batch`");
}

#[test]
fn bad_arrow_type() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
columns = [
  { name = "id", type = "Int64" },
  { name = "name", type = "Int33" },
]
"#;
    expect_problem(
        toml,
        r#""Int33""#,
        "dataset[t].columns[1].type",
        "`Int33` is not an Arrow type name",
    );
}

#[test]
fn unknown_format() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "orc"
location = "t.csv"
columns = [{ name = "id", type = "Int64" }]
"#;
    expect_problem(
        toml,
        r#""orc""#,
        "dataset[t].format",
        "unknown format `orc`; expected one of parquet, csv, json, arrow",
    );
}

#[test]
fn delta_types_must_round_trip_through_delta() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "delta"
location = "events"
columns = [{ name = "id", type = "Duration(Second)" }]
"#;
    expect_problem(
        toml,
        r#""delta""#,
        "dataset[t].columns[0].type",
        "Duration(s) has no Delta Lake type",
    );
    let toml = toml.replace("Duration(Second)", "Utf8View");
    expect_problem(
        &toml,
        r#""delta""#,
        "dataset[t].columns[0].type",
        "Utf8View is stored by Delta Lake as Utf8 and reads back as that; declare Utf8",
    );
}

#[test]
fn delta_reads_a_version_or_a_timestamp() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "delta"
location = "events"
columns = [{ name = "id", type = "Int64" }]

[dataset.delta]
version = 3
timestamp = "2026-01-01T00:00:00Z"
"#;
    expect_problem(
        toml,
        r#""2026-01-01T00:00:00Z""#,
        "dataset[t].delta.timestamp",
        "either a `version` or a `timestamp`, not both",
    );
}

#[test]
fn delta_settings_belong_to_delta_datasets() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "parquet"
location = "."
columns = [{ name = "id", type = "Int64" }]

[dataset.delta]
view_types = true
"#;
    expect_problem(
        toml,
        "[dataset.delta]",
        "dataset[t].delta",
        "[dataset.delta] is for datasets with format = \"delta\"",
    );
}

#[test]
fn partition_column_missing_from_columns() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "parquet"
location = "events"
partitioned_by = ["month"]
columns = [{ name = "id", type = "Int64" }]
"#;
    expect_problem(
        toml,
        r#""month""#,
        "dataset[t].partitioned_by[0]",
        "partition column `month` is not in `columns`",
    );
}

#[test]
fn partition_column_not_last() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "parquet"
location = "events"
partitioned_by = ["year"]
columns = [
  { name = "year", type = "Int32", nullable = false },
  { name = "id", type = "Int64" },
]
"#;
    expect_problem(
        toml,
        r#""year"]"#,
        "dataset[t].partitioned_by[0]",
        "partition column `year` must be declared among the last 1 column(s)",
    );
}

#[test]
fn nullable_partition_column() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "parquet"
location = "events"
partitioned_by = ["year"]
columns = [
  { name = "id", type = "Int64" },
  { name = "year", type = "Int32", nullable = true },
]
"#;
    expect_problem(
        toml,
        "true }",
        "dataset[t].columns[1].nullable",
        "partition column `year` cannot be nullable",
    );
}

#[test]
fn duplicate_dataset_names() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
columns = [{ name = "id", type = "Int64" }]

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
columns = [{ name = "id", type = "Int64" }]
"#;
    let second = toml.rfind(r#""t""#).unwrap();
    expect_problem_at(
        toml,
        second,
        "dataset[t].name",
        "declared twice (first at line 5)",
    );
}

#[test]
fn duplicate_column_names() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
columns = [
  { name = "id", type = "Int64" },
  { name = "id", type = "Utf8" },
]
"#;
    let second = toml.rfind(r#""id""#).unwrap();
    expect_problem_at(
        toml,
        second,
        "dataset[t].columns[1].name",
        "duplicate column `id`",
    );
}

#[test]
fn missing_location() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
columns = [{ name = "id", type = "Int64" }]
"#;
    // The problem points at the dataset's table header.
    expect_problem(
        toml,
        "[[dataset]]",
        "dataset[t].location",
        "missing: every dataset needs a location",
    );
}

#[test]
fn location_that_does_not_exist() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
location = "nowhere/t.csv"
columns = [{ name = "id", type = "Int64" }]
"#;
    expect_problem(
        toml,
        r#""nowhere/t.csv""#,
        "dataset[t].location",
        "`nowhere/t.csv` does not exist",
    );
}

#[test]
fn unknown_datafusion_setting() {
    let toml = r#"[project]
name = "p"

[profile.settings]
"datafusion.execution.no_such_setting" = "1"
"#;
    expect_problem(
        toml,
        r#""datafusion.execution.no_such_setting""#,
        r#"profile.settings."datafusion.execution.no_such_setting""#,
        "not a valid DataFusion setting",
    );
}

#[test]
fn setting_owned_by_the_profile() {
    let toml = r#"[project]
name = "p"

[profile.settings]
"datafusion.execution.batch_size" = 1024
"#;
    expect_problem(
        toml,
        r#""datafusion.execution.batch_size""#,
        r#"profile.settings."datafusion.execution.batch_size""#,
        "is set by Canon's [profile] batch_size; set it there",
    );
}

#[test]
fn bad_memory_limit() {
    let toml = r#"[project]
name = "p"

[profile]
memory_limit = "lots"
"#;
    expect_problem(
        toml,
        r#""lots""#,
        "profile.memory_limit",
        "`lots` is not a size like \"64MiB\" or \"4GiB\"",
    );
}

#[test]
fn bad_dialect() {
    let toml = r#"[project]
name = "p"

[policy]
dialect = "klingon"
"#;
    expect_problem(
        toml,
        r#""klingon""#,
        "policy.dialect",
        "Invalid Dialect: klingon",
    );
}

#[test]
fn bad_option_key_for_the_format() {
    let toml = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
options = { delimiter = ";", pushdown_filters = "true" }
columns = [{ name = "id", type = "Int64" }]
"#;
    expect_problem(
        toml,
        "pushdown_filters",
        "dataset[t].options.pushdown_filters",
        "not a valid csv option",
    );
}

#[test]
fn several_problems_are_reported_together() {
    let toml = r#"[project]
name = "p"

[profile]
memory_limit = "lots"

[policy]
dialect = "klingon"

[[dataset]]
name = "t"
format = "csv"
location = "t.csv"
columns = [
  { name = "id", type = "Int33" },
  { name = "id", type = "Int64" },
]
"#;
    let fx = fixture();
    let file = fx.write_project(toml);
    let problems = match canon::Project::load(&file) {
        Err(ProjectError::Invalid { problems, .. }) => problems,
        other => panic!("expected invalid project, got {other:?}"),
    };
    let summary: Vec<(usize, &str)> = problems
        .iter()
        .map(|p: &Problem| (p.line, p.key.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (5, "profile.memory_limit"),
            (8, "policy.dialect"),
            (15, "dataset[t].columns[0].type"),
            (16, "dataset[t].columns[1].name"),
        ]
    );

    let err = fx.project_error(toml);
    assert!(
        err.starts_with("invalid project file (4 problems)\n"),
        "{err}"
    );
    assert_eq!(problem_lines(&fx, &err), 4, "{err}");
}

#[tokio::test]
async fn runtime_load_reports_project_errors_as_project_variant() {
    let fx = fixture();
    let file = fx.write_project(
        r#"[project]
name = "p"

[profile]
batch_size = 0
"#,
    );
    let err = Runtime::load(&file)
        .await
        .expect_err("batch_size = 0 is invalid");
    assert!(err.is_project_error());
    match &err {
        CanonError::Project(ProjectError::Invalid { problems, .. }) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].line, 5);
            assert_eq!(problems[0].key, "profile.batch_size");
        }
        other => panic!("expected CanonError::Project, got {other:?}"),
    }
    assert_contains(
        &err.to_string(),
        &[&format!(
            "{}:5:14: profile.batch_size: must be at least 1",
            fx.project_file()
        )],
    );
}

/// A key names declared columns, each once; a primary key's columns are NOT NULL.
#[test]
fn keys_name_declared_columns() {
    let base = r#"[project]
name = "p"

[[dataset]]
name = "t"
format = "parquet"
location = "events"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "email", type = "Utf8" },
]
"#;
    let with = |keys: &str| base.replace("columns = [", &format!("{keys}\ncolumns = ["));
    expect_problem(
        &with(r#"primary_key = ["idd"]"#),
        r#""idd""#,
        "dataset[t].primary_key",
        "key column `idd` is not in `columns`",
    );
    expect_problem(
        &with(r#"primary_key = ["id", "email"]"#),
        r#""email"]"#,
        "dataset[t].primary_key",
        "primary key column `email` must be declared nullable = false",
    );
    expect_problem(
        &with(r#"unique = [["email", "email"]]"#),
        r#""email"]]"#,
        "dataset[t].unique[0]",
        "key column `email` is named twice",
    );
    expect_problem(
        &with(r#"unique = [["email"], []]"#),
        "[]]",
        "dataset[t].unique[1]",
        "a key names at least one column",
    );
}

#[test]
fn server_limits_must_be_counts_and_durations() {
    let toml = r#"[project]
name = "p"

[server]
max_connections = 0
"#;
    expect_problem(
        toml,
        "0\n",
        "server.max_connections",
        "0 is not a number of connections",
    );
    let toml = r#"[project]
name = "p"

[server]
statement_timeout = "soon"
"#;
    expect_problem(
        toml,
        "\"soon\"",
        "server.statement_timeout",
        "`soon` is not a duration",
    );
}

#[tokio::test]
async fn server_limits_are_read_and_zero_means_none() {
    let fx = fixture();
    let runtime = fx
        .runtime(
            r#"[project]
name = "p"

[server]
max_connections = 8
statement_timeout = "30s"
idle_timeout = "0s"
"#,
        )
        .await;
    let server = &runtime.project().server;
    assert_eq!(server.max_connections, 8);
    assert_eq!(
        server.statement_timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(server.idle_timeout, None);
    assert_eq!(server.shutdown_timeout, std::time::Duration::from_secs(10));
}

#[test]
fn distributed_workers_must_be_distinct_http_addresses() {
    let with = |section: &str| format!("[project]\nname = \"p\"\n\n[distributed]\n{section}\n");
    expect_problem(
        &with(r#"workers = ["grpc://a:1"]"#),
        "\"grpc://a:1\"",
        "distributed.workers",
        "`grpc://a:1` is not a worker address",
    );
    expect_problem(
        &with(r#"workers = ["http://a:1", "http://a:1"]"#),
        "\"http://a:1\"]",
        "distributed.workers",
        "`http://a:1` is listed twice",
    );
    expect_problem(
        &with(r#"bytes_per_partition = "0""#),
        "\"0\"",
        "distributed.bytes_per_partition",
        "must be more than 0 bytes",
    );
    expect_problem(
        &with(r#"workers = ["https://a:1"]"#),
        "\"https://a:1\"",
        "distributed.workers",
        "workers speak plain HTTP/2",
    );
    expect_problem(
        &with(r#"workers = ["http://me:pw@a:1"]"#),
        "\"http://me:pw@a:1\"",
        "distributed.workers",
        "a worker address holds no credentials",
    );
    expect_problem(
        &with(r#"keepalive_timeout = "0s""#),
        "\"0s\"",
        "distributed.keepalive_timeout",
        "`0s` is too short: at least 1s",
    );
    expect_problem(
        &with(r#"connect_timeout = "later""#),
        "\"later\"",
        "distributed.connect_timeout",
        "`later` is not a duration",
    );
}

#[tokio::test]
async fn distributed_settings_are_read() {
    let fx = fixture();
    let runtime = fx
        .runtime(
            r#"[project]
name = "p"

[distributed]
workers = ["http://10.0.0.1:50061", "http://worker-2:50061"]
connect_timeout = "1s"
bytes_per_partition = "64MiB"
"#,
        )
        .await;
    let spec = &runtime.project().distributed;
    let workers: Vec<String> = spec.workers.iter().map(ToString::to_string).collect();
    assert_eq!(
        workers,
        ["http://10.0.0.1:50061/", "http://worker-2:50061/"]
    );
    assert_eq!(spec.connect_timeout, std::time::Duration::from_secs(1));
    assert_eq!(spec.keepalive_timeout, std::time::Duration::from_secs(20));
    assert_eq!(spec.bytes_per_partition, 64 * 1024 * 1024);
}
