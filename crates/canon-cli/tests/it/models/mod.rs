//! Models end to end through the `canon` binary: compile, build, incremental kinds (with
//! change feeds), plan.

mod build;
mod changes;
mod compile;
mod incremental;
mod plan;

use std::path::Path;

use crate::{canon, ok, quickstart_copy, stderr, stdout};

/// The two quickstart datasets, as a models project declares them (the quickstart copy's
/// data under `data/`).
pub(super) const DATASETS: &str = r#"
[project]
name = "models"

[[dataset]]
name = "trips"
format = "parquet"
location = "data/trips/"
partitioned_by = ["year"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "pickup_at", type = "Timestamp(Microsecond, Some(\"UTC\"))", nullable = false },
  { name = "zone_id", type = "Int32", nullable = false },
  { name = "payment", type = "Utf8", nullable = false },
  { name = "fare", type = "Float64" },
  { name = "year", type = "Int32" },
]

[[dataset]]
name = "zones"
format = "csv"
location = "data/zones/"
options = { has_header = "true" }
columns = [
  { name = "zone_id", type = "Int32", nullable = false },
  { name = "borough", type = "Utf8", nullable = false },
  { name = "zone", type = "Utf8", nullable = false },
]
"#;

/// A copy of the quickstart data with a project file of its datasets and `models`.
pub(super) fn project(models: &str) -> tempfile::TempDir {
    let dir = quickstart_copy();
    std::fs::write(dir.path().join("canon.toml"), format!("{DATASETS}{models}"))
        .expect("write project");
    dir
}

/// Runs `canon compile` and returns its error output, asserting exit status 2.
pub(super) fn compile_error(dir: &Path) -> String {
    let out = canon(dir, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

/// The 1-based line of `canon.toml` in `dir` that holds `needle`.
pub(super) fn line_of(dir: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("canon.toml")).expect("read project");
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in project")
        + 1
}

/// A copy of the models example beside a copy of the quickstart whose data it reads;
/// returns the directory and the models project in it.
pub(super) fn example_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    crate::copy_dir(&examples.join("models"), &dir.path().join("models"));
    crate::copy_dir(&examples.join("quickstart"), &dir.path().join("quickstart"));
    let _ = std::fs::remove_dir_all(dir.path().join("models/build"));
    let project = dir.path().join("models");
    (dir, project)
}

/// The number of rows a query yields, through `canon query`.
pub(super) fn count(project: &Path, sql: &str) -> u64 {
    let out = ok(canon(
        project,
        &[
            "query",
            &format!("SELECT count(*) AS n FROM ({sql}) AS q"),
            "--format",
            "csv",
        ],
        None,
    ));
    out.lines()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out:?}"))
}

/// How many commits a model's Delta table has.
pub(super) fn commits(project: &Path, model: &str) -> usize {
    std::fs::read_dir(project.join("build").join(model).join("_delta_log"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

/// Writes trips as one parquet file in the quickstart copy's 2025 partition: (id, pickup
/// time in microseconds, fare) each.
pub(super) fn add_trips(dir: &Path, file: &str, trips: &[(i64, i64, f64)]) {
    use canon::datafusion::arrow::array::{
        ArrayRef, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use std::sync::Arc;
    let n = trips.len();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.0))),
        ),
        (
            "pickup_at",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(trips.iter().map(|t| t.1))
                    .with_timezone("UTC"),
            ),
        ),
        ("zone_id", Arc::new(Int32Array::from(vec![1; n]))),
        ("payment", Arc::new(StringArray::from(vec!["card"; n]))),
        (
            "fare",
            Arc::new(Float64Array::from_iter_values(trips.iter().map(|t| t.2))),
        ),
    ];
    crate::write_parquet(
        &dir.join("quickstart/data/trips/year=2025").join(file),
        columns,
    );
}

/// Appends one trip at a fixed time in 2025.
pub(super) fn add_trip(dir: &Path, file: &str, id: i64, fare: f64) {
    add_trips(dir, file, &[(id, 1_740_000_000_000_000, fare)]);
}

/// A project of the quickstart's data under `quickstart/`, with `models`.
pub(super) fn nested_project(models: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::copy_dir(&crate::quickstart_dir(), &dir.path().join("quickstart"));
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).expect("mkdir");
    let datasets = DATASETS.replace("\"data/", "\"../quickstart/data/");
    std::fs::write(project.join("canon.toml"), format!("{datasets}{models}")).expect("write");
    (dir, project)
}

/// The build summary's (status, rows) of one model.
pub(super) fn built_line(summary: &str, model: &str) -> (String, String) {
    let line = summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(model))
        .unwrap_or_else(|| panic!("{model} missing from {summary}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    (cells[2].to_string(), cells[3].to_string())
}

/// A model's rows, sorted, as CSV.
pub(super) fn rows_of(project: &Path, model: &str) -> String {
    ok(canon(
        project,
        &[
            "query",
            &format!("SELECT * FROM {model} ORDER BY id"),
            "--format",
            "csv",
        ],
        None,
    ))
}

/// A model's rows, sorted by its first column, as CSV.
pub(super) fn sorted_rows(project: &Path, model: &str) -> String {
    ok(canon(
        project,
        &[
            "query",
            &format!("SELECT * FROM {model} ORDER BY 1"),
            "--format",
            "csv",
        ],
        None,
    ))
}

/// `canon plan`'s change for each model, from its summary.
pub(super) fn changes(
    project: &Path,
    args: &[&str],
) -> (Option<i32>, Vec<(String, String, String)>) {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    let out = canon(project, &all, None);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "canon plan failed: {}",
        stderr(&out)
    );
    let lines = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| {
            let mut parts = l.splitn(3, char::is_whitespace);
            let model = parts.next().unwrap_or_default().to_string();
            let rest = parts.collect::<Vec<_>>().join(" ");
            let rest = rest.trim_start();
            let (change, details) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            (model, change.to_string(), details.trim().to_string())
        })
        .collect();
    (out.status.code(), lines)
}

/// Replaces the last occurrence of `from` in the project file (payment_mix, the model the
/// plan test changes most, is declared last).
pub(super) fn edit(project: &Path, from: &str, to: &str) {
    let path = project.join("canon.toml");
    let text = std::fs::read_to_string(&path).expect("read project");
    let at = text
        .rfind(from)
        .unwrap_or_else(|| panic!("{from} not in the project"));
    let edited = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
    std::fs::write(&path, edited).expect("write project");
}

/// 300 new trips upstream for round `round` of [`kill_builds_and_resume`] (ids from
/// `first_id`), in June 2026.
pub(super) fn add_kill_trips(dir: &Path, first_id: i64, round: i64) {
    let june_2026 = 1_780_272_000_000_000_i64;
    let trips: Vec<(i64, i64, f64)> = (0..300)
        .map(|i| {
            let n = round * 1_000 + i;
            (first_id + n, june_2026 + n * 1_000_000, 3.0)
        })
        .collect();
    add_trips(dir, &format!("part-kill-{round}.parquet"), &trips);
}

/// Rounds of: `change(round)` upstream, a `canon build` killed with SIGKILL after each wait
/// in `waits_ms` (wherever it is then, with no chance to clean up), and a build run again
/// to the end.
pub(super) fn kill_builds_and_resume(
    dir: &Path,
    project: &Path,
    waits_ms: &[u64],
    mut change: impl FnMut(i64),
) {
    use std::process::{Command, Stdio};
    for (round, wait_ms) in (0_i64..).zip(waits_ms) {
        change(round);
        let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .arg("build")
            .current_dir(project)
            .env("HOME", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn canon build");
        std::thread::sleep(std::time::Duration::from_millis(*wait_ms));
        let _ = child.kill();
        let _ = child.wait();
        ok(canon(project, &["build"], None));
    }
}
