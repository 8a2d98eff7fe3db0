//! Append and merge models: only new or changed rows, no commit without them, and a build killed at any point resumes to what a full refresh builds.

use std::path::Path;

use super::*;
use crate::{canon, ok, stderr};

/// An append model over the quickstart's trips, keyed by id, reading by pickup time.
const APPEND: &str = r#"
[[model]]
name = "trip_log"
kind = "append"
location = "build/trip_log"
incremental = { column = "pickup_at", lookback = "2h" }
sql = "SELECT id, pickup_at, fare FROM trips"
primary_key = ["id"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "pickup_at", type = "Timestamp(Microsecond, Some(\"UTC\"))", nullable = false },
  { name = "fare", type = "Float64" },
]
"#;

#[test]
fn an_append_model_writes_only_new_rows() {
    let (dir, project) = nested_project(APPEND);
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "trip_log"),
        ("built".into(), "6000".into())
    );
    let first = commits(&project, "trip_log");

    // Nothing new upstream: no commit.
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(built_line(&summary, "trip_log").0, "unchanged", "{summary}");
    assert_eq!(commits(&project, "trip_log"), first);

    // Ten trips after every other: ten rows processed, one commit.
    let june_2026 = 1_780_272_000_000_000_i64;
    let ten: Vec<(i64, i64, f64)> = (0..10)
        .map(|i| (100_000 + i, june_2026 + i * 60_000_000, 12.5))
        .collect();
    add_trips(dir.path(), "part-new.parquet", &ten);
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "trip_log"),
        ("built".into(), "10".into())
    );
    assert_eq!(commits(&project, "trip_log"), first + 1);
    assert_eq!(count(&project, "SELECT * FROM trip_log"), 6010);

    // A late trip, an hour before the newest: inside the lookback, so it is read; the rows
    // the lookback reads again are not written twice.
    add_trips(
        dir.path(),
        "part-late.parquet",
        &[(100_100, june_2026 + 9 * 60_000_000 - 3_600_000_000, 1.0)],
    );
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "trip_log"),
        ("built".into(), "1".into())
    );
    assert_eq!(count(&project, "SELECT * FROM trip_log"), 6011);
    assert_eq!(
        count(
            &project,
            "SELECT id FROM trip_log GROUP BY id HAVING count(*) > 1"
        ),
        0
    );

    // What the increments built is what a full refresh builds.
    let incremental = rows_of(&project, "trip_log");
    let summary = ok(canon(&project, &["build", "--full-refresh"], None));
    assert_eq!(
        built_line(&summary, "trip_log"),
        ("built".into(), "6011".into())
    );
    assert_eq!(rows_of(&project, "trip_log"), incremental);

    // Every build that committed is a row of canon.builds, read back from the table's log.
    let builds = ok(canon(
        &project,
        &[
            "query",
            "SELECT version, operation, rows, watermark IS NOT NULL AS marked \
             FROM canon.builds WHERE model = 'trip_log' ORDER BY version",
            "--format",
            "csv",
        ],
        None,
    ));
    let first = first - 1;
    assert_eq!(
        builds,
        format!(
            "version,operation,rows,marked\n{first},WRITE,6000,true\n{},WRITE,10,true\n\
             {},WRITE,1,true\n{},WRITE,6011,true\n",
            first + 1,
            first + 2,
            first + 3
        )
    );
}

#[test]
fn a_killed_append_build_resumes_to_what_a_full_refresh_builds() {
    let (dir, project) = nested_project(APPEND);
    ok(canon(&project, &["build"], None));
    kill_builds_and_resume(dir.path(), &project, &[50, 250, 600], |round| {
        add_kill_trips(dir.path(), 200_000, round)
    });
    let resumed = rows_of(&project, "trip_log");
    assert_eq!(count(&project, "SELECT * FROM trip_log"), 6900);
    ok(canon(&project, &["build", "--full-refresh"], None));
    assert_eq!(rows_of(&project, "trip_log"), resumed);
}

#[test]
fn an_append_model_needs_an_incremental_column_and_a_key() {
    for (edit_from, edit_to, expected) in [
        (
            "incremental = { column = \"pickup_at\", lookback = \"2h\" }\n",
            "",
            "an append model needs `incremental",
        ),
        (
            "primary_key = [\"id\"]\n",
            "",
            "an append model needs a primary_key",
        ),
        (
            "column = \"pickup_at\"",
            "column = \"fare\"",
            "`fare` is Float64",
        ),
        (
            "column = \"pickup_at\"",
            "column = \"nope\"",
            "`nope` is not one of the model's columns",
        ),
        (
            "lookback = \"2h\"",
            "lookback = \"soon\"",
            "is not a duration",
        ),
        (
            "nullable = false },\n  { name = \"fare\"",
            "},\n  { name = \"fare\"",
            "the incremental column `pickup_at` must be declared nullable = false",
        ),
    ] {
        let (_dir, project) = nested_project(&APPEND.replace(edit_from, edit_to));
        let out = canon(&project, &["compile"], None);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
}

/// Merge models: per-zone figures (every row compared; max rather than a float sum, whose
/// last digits vary with the order rows are added in) and trips by id past a watermark.
const MERGE: &str = r#"
[[model]]
name = "zone_totals"
kind = "merge"
location = "build/zone_totals"
sql = "SELECT zone_id, count(*) AS trips, max(fare) AS fare FROM trips GROUP BY zone_id"
primary_key = ["zone_id"]
columns = [
  { name = "zone_id", type = "Int32", nullable = false },
  { name = "trips", type = "Int64", nullable = false },
  { name = "fare", type = "Float64" },
]

[[model]]
name = "trip_fares"
kind = "merge"
location = "build/trip_fares"
incremental = { column = "pickup_at" }
sql = "SELECT id, pickup_at, fare FROM trips"
primary_key = ["id"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "pickup_at", type = "Timestamp(Microsecond, Some(\"UTC\"))", nullable = false },
  { name = "fare", type = "Float64" },
]
"#;

#[test]
fn a_merge_model_merges_changed_rows_by_key() {
    let (dir, project) = nested_project(MERGE);
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "zone_totals"),
        ("built".into(), "6".into())
    );
    assert_eq!(
        built_line(&summary, "trip_fares"),
        ("built".into(), "6000".into())
    );
    let versions = |p: &Path| [commits(p, "zone_totals"), commits(p, "trip_fares")];
    let first = versions(&project);

    // Nothing new upstream: no commit for either.
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "zone_totals").0,
        "unchanged",
        "{summary}"
    );
    assert_eq!(
        built_line(&summary, "trip_fares").0,
        "unchanged",
        "{summary}"
    );
    assert_eq!(versions(&project), first);

    // Ten new trips in zone 1: one total changes, ten trips are new; one commit each.
    let june_2026 = 1_780_272_000_000_000_i64;
    let ten: Vec<(i64, i64, f64)> = (0..10)
        .map(|i| (100_000 + i, june_2026 + i * 60_000_000, 10.0))
        .collect();
    add_trips(dir.path(), "part-new.parquet", &ten);
    let summary = ok(canon(&project, &["build"], None));
    assert_eq!(
        built_line(&summary, "zone_totals"),
        ("built".into(), "1".into())
    );
    assert_eq!(
        built_line(&summary, "trip_fares"),
        ("built".into(), "10".into())
    );
    assert_eq!(versions(&project), first.map(|v| v + 1));
    assert_eq!(count(&project, "SELECT * FROM trip_fares"), 6010);
    assert_eq!(count(&project, "SELECT * FROM zone_totals"), 6);

    // What the merges built is what a full refresh builds.
    let merged = [
        sorted_rows(&project, "zone_totals"),
        sorted_rows(&project, "trip_fares"),
    ];
    ok(canon(&project, &["build", "--full-refresh"], None));
    assert_eq!(
        [
            sorted_rows(&project, "zone_totals"),
            sorted_rows(&project, "trip_fares")
        ],
        merged
    );

    // Two new rows with one key fail the build, showing the key; nothing is committed.
    let before = versions(&project);
    add_trips(
        dir.path(),
        "part-dup.parquet",
        &[
            (300_000, june_2026 + 86_400_000_000, 1.0),
            (300_000, june_2026 + 86_400_000_000, 2.0),
        ],
    );
    let out = canon(&project, &["build", "trip_fares"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("key (id) is not unique: id = 300000 is held by 2 rows"),
        "{}",
        stderr(&out)
    );
    assert_eq!(versions(&project), before);
}

#[test]
fn a_merge_model_with_a_nullable_key_does_not_compile() {
    let nullable = MERGE.replacen(
        "{ name = \"zone_id\", type = \"Int32\", nullable = false }",
        "{ name = \"zone_id\", type = \"Int32\" }",
        1,
    );
    let (_dir, project) = nested_project(&nullable);
    let out = canon(&project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("primary key column `zone_id` must be declared nullable = false"),
        "{}",
        stderr(&out)
    );
    let keyless = MERGE.replacen("primary_key = [\"zone_id\"]\n", "", 1);
    let (_dir, project) = nested_project(&keyless);
    let out = canon(&project, &["compile"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a merge model needs a primary_key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_merge_build_resumes_to_what_a_full_refresh_builds() {
    let (dir, project) = nested_project(MERGE);
    ok(canon(&project, &["build"], None));
    kill_builds_and_resume(dir.path(), &project, &[80, 400], |round| {
        add_kill_trips(dir.path(), 400_000, round)
    });
    let resumed = [
        sorted_rows(&project, "zone_totals"),
        sorted_rows(&project, "trip_fares"),
    ];
    ok(canon(&project, &["build", "--full-refresh"], None));
    assert_eq!(
        [
            sorted_rows(&project, "zone_totals"),
            sorted_rows(&project, "trip_fares")
        ],
        resumed
    );
}
