//! `canon compile` and `canon models`: every model planned against contracts alone, its
//! output checked against its own contract, errors pointing into its SQL.

use std::path::Path;

use crate::{canon, ok, quickstart_copy, stderr, stdout};

/// The two quickstart datasets, as a models project declares them (the quickstart copy's
/// data under `data/`).
const DATASETS: &str = r#"
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
fn project(models: &str) -> tempfile::TempDir {
    let dir = quickstart_copy();
    std::fs::write(dir.path().join("canon.toml"), format!("{DATASETS}{models}"))
        .expect("write project");
    dir
}

/// Runs `canon compile` and returns its error output, asserting exit status 2.
fn compile_error(dir: &Path) -> String {
    let out = canon(dir, &["compile"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

/// The 1-based line of `canon.toml` in `dir` that holds `needle`.
fn line_of(dir: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("canon.toml")).expect("read project");
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in project")
        + 1
}

#[test]
fn decimal_precision_is_part_of_the_contract() {
    let dir = project(
        r#"
[[model]]
name = "fares"
location = "build/fares"
sql = "SELECT id, CAST(fare AS DECIMAL(38, 2)) AS fare FROM trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Decimal128(12, 2)" },
]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains(
            "model `fares`: column `fare`: expected Decimal128(12, 2), found Decimal128(38, 2)"
        ),
        "{err}"
    );
    // The caret points into the select item (sqlparser's span of a CAST starts at its
    // operand), at its column in the project file, after `sql = "`.
    let line = line_of(dir.path(), "DECIMAL(38, 2)");
    assert!(err.contains(&format!("--> canon.toml:{line}:24")), "{err}");
    assert!(
        err.contains(&format!(
            "{line} | SELECT id, CAST(fare AS DECIMAL(38, 2)) AS fare FROM trips\n   |                 ^"
        )),
        "{err}"
    );
}

#[test]
fn a_float_does_not_fill_a_decimal() {
    let dir = project(
        r#"
[[model]]
name = "fares"
location = "build/fares"
sql_file = "fares.sql"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Decimal128(12, 2)" },
]
"#,
    );
    std::fs::write(
        dir.path().join("fares.sql"),
        "SELECT\n  id,\n  fare\nFROM trips\n",
    )
    .expect("write sql");
    let err = compile_error(dir.path());
    assert!(
        err.contains("column `fare`: expected Decimal128(12, 2), found Float64"),
        "{err}"
    );
    assert!(err.contains("--> fares.sql:3:3"), "{err}");
}

#[test]
fn a_left_join_makes_a_not_null_column_nullable() {
    let dir = project(
        r#"
[[model]]
name = "trip_boroughs"
location = "build/trip_boroughs"
sql = """
SELECT t.id, z.borough
FROM trips t LEFT JOIN zones z ON z.zone_id = t.zone_id
"""
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "borough", type = "Utf8", nullable = false },
]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `trip_boroughs`: column `borough`: expected NOT NULL, found nullable"),
        "{err}"
    );
    let line = line_of(dir.path(), "SELECT t.id, z.borough");
    assert!(err.contains(&format!("--> canon.toml:{line}:14")), "{err}");
    // The same join as an inner join compiles.
    let inner = std::fs::read_to_string(dir.path().join("canon.toml"))
        .expect("read")
        .replace("LEFT JOIN", "JOIN");
    std::fs::write(dir.path().join("canon.toml"), inner).expect("write");
    ok(canon(dir.path(), &["compile"], None));
}

#[test]
fn a_cycle_is_refused_with_its_models() {
    let dir = project(
        r#"
[[model]]
name = "a"
location = "build/a"
sql = "SELECT id FROM c"
columns = [{ name = "id", type = "Int64", nullable = false }]

[[model]]
name = "b"
location = "build/b"
sql = "SELECT id FROM a"
columns = [{ name = "id", type = "Int64", nullable = false }]

[[model]]
name = "c"
location = "build/c"
sql = "SELECT id FROM b JOIN trips USING (id)"
columns = [{ name = "id", type = "Int64", nullable = false }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("models read each other in a cycle: a → c → b → a"),
        "{err}"
    );
}

#[test]
fn an_unknown_table_is_named_with_its_model() {
    let dir = project(
        r#"
[[model]]
name = "typo"
location = "build/typo"
sql = "SELECT id FROM tripz"
columns = [{ name = "id", type = "Int64", nullable = false }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `typo`: reads `tripz`, which is neither a dataset nor a model"),
        "{err}"
    );
    assert!(err.contains("|                ^"), "{err}");
}

#[test]
fn ddl_and_dml_are_not_models() {
    for (sql, what) in [
        ("CREATE TABLE t AS SELECT id FROM trips", "DDL"),
        ("INSERT INTO zones SELECT * FROM zones", "DML"),
    ] {
        let dir = project(&format!(
            r#"
[[model]]
name = "writer"
location = "build/writer"
sql = "{sql}"
columns = [{{ name = "id", type = "Int64", nullable = false }}]
"#
        ));
        let err = compile_error(dir.path());
        assert!(
            err.contains(&format!(
                "model `writer`: a model is a query (SELECT …), but this is {what}"
            )),
            "{err}"
        );
    }
}

#[test]
fn every_problem_of_every_model_is_reported_at_once() {
    let dir = project(
        r#"
[[model]]
name = "first"
location = "build/first"
sql = "SELECT id, fare FROM trips"
columns = [
  { name = "id", type = "Int32", nullable = false },
  { name = "fare", type = "Float64", nullable = false },
]

[[model]]
name = "second"
location = "build/second"
sql = "SELECT nope FROM zones"
columns = [{ name = "nope", type = "Int64" }]
"#,
    );
    let err = compile_error(dir.path());
    assert!(err.contains("3 problems in models"), "{err}");
    assert!(
        err.contains("model `first`: column `id`: expected Int32, found Int64"),
        "{err}"
    );
    assert!(
        err.contains("model `first`: column `fare`: expected NOT NULL"),
        "{err}"
    );
    assert!(err.contains("model `second`: "), "{err}");
}

/// The bundled example compiles, lists in build order and compiles the same with every
/// data file gone: compile reads contracts, never data.
#[test]
fn the_example_compiles_from_contracts_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    crate::copy_dir(&examples.join("models"), &dir.path().join("models"));
    crate::copy_dir(&examples.join("quickstart"), &dir.path().join("quickstart"));
    let project = dir.path().join("models");
    let compiled = ok(canon(&project, &["compile"], None));
    assert_eq!(
        compiled,
        "compiled 5 models: each query yields its contract\n"
    );
    let listed = ok(canon(&project, &["models"], None));
    let order: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        order,
        [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "zone_names",
            "daily_fares"
        ]
    );
    assert!(
        listed.contains("daily_fares       table  daily_zone_fares, zone_names"),
        "{listed}"
    );

    std::fs::remove_dir_all(dir.path().join("quickstart/data")).expect("remove data");
    std::fs::create_dir_all(dir.path().join("quickstart/data/trips")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("quickstart/data/zones")).expect("mkdir");
    assert_eq!(ok(canon(&project, &["compile"], None)), compiled);
    assert_eq!(ok(canon(&project, &["models"], None)), listed);
}

/// `--infer` prints the contract a query implies; pasted into the model, it compiles.
#[test]
fn an_inferred_contract_compiles() {
    let model = r#"
[[model]]
name = "zone_fares"
location = "build/zone_fares"
sql = """
SELECT z.borough, count(*) AS trips, avg(t.fare) AS fare, max(t.pickup_at) AS last_pickup
FROM trips t JOIN zones z ON z.zone_id = t.zone_id
GROUP BY z.borough
"""
"#;
    let dir = project(&format!(
        "{model}columns = [{{ name = \"x\", type = \"Int8\" }}]\n"
    ));
    let inferred = ok(canon(
        dir.path(),
        &["compile", "--infer", "zone_fares"],
        None,
    ));
    assert_eq!(
        inferred,
        "columns = [\n    { name = \"borough\", type = \"Utf8\", nullable = false },\n    \
         { name = \"trips\", type = \"Int64\", nullable = false },\n    \
         { name = \"fare\", type = \"Float64\", nullable = true },\n    \
         { name = \"last_pickup\", type = \"Timestamp(µs, \\\"UTC\\\")\", nullable = true },\n]\n"
    );
    std::fs::write(
        dir.path().join("canon.toml"),
        format!("{DATASETS}{model}{inferred}"),
    )
    .expect("write project");
    ok(canon(dir.path(), &["compile"], None));
    let out = canon(dir.path(), &["compile", "--infer", "nothing"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no model named `nothing`; the project declares: zone_fares"),
        "{}",
        stderr(&out)
    );
}

/// A copy of the models example beside a copy of the quickstart whose data it reads;
/// returns the directory and the models project in it.
fn example_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    crate::copy_dir(&examples.join("models"), &dir.path().join("models"));
    crate::copy_dir(&examples.join("quickstart"), &dir.path().join("quickstart"));
    let _ = std::fs::remove_dir_all(dir.path().join("models/build"));
    let project = dir.path().join("models");
    (dir, project)
}

/// The number of rows a query yields, through `canon query`.
fn count(project: &Path, sql: &str) -> u64 {
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
fn commits(project: &Path, model: &str) -> usize {
    std::fs::read_dir(project.join("build").join(model).join("_delta_log"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_build_equals_running_each_query_by_hand() {
    let (_dir, project) = example_copy();
    // Before the first build, a stored model is queryable by name and says how to build it.
    let out = canon(&project, &["query", "SELECT * FROM daily_fares"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("model `daily_fares` is not built: run `canon build daily_fares`"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("ERROR"), "{}", stderr(&out));

    let built = canon(&project, &["build"], None);
    let summary = ok(built);
    for (model, status) in [
        ("trips_clean", "built"),
        ("daily_zone_fares", "built"),
        ("payment_mix", "built"),
        ("zone_names", "view"),
        ("daily_fares", "built"),
    ] {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(model))
            .unwrap_or_else(|| panic!("{model} missing from {summary}"));
        assert!(line.contains(status), "{line}");
    }
    let text = std::fs::read_to_string(project.join("canon.toml")).expect("read project");
    let project_file =
        canon::Project::parse(&text, &project.join("canon.toml"), &project).expect("project loads");
    for model in &project_file.models {
        let sql = model.sql.text.trim();
        let name = &model.name;
        let expected = count(&project, sql);
        assert!(expected > 0, "{name} yields no rows");
        assert_eq!(
            count(&project, &format!("SELECT * FROM {name}")),
            expected,
            "{name}"
        );
        let missing = format!("(SELECT * FROM {name}) EXCEPT ALL ({sql})");
        let extra = format!("({sql}) EXCEPT ALL (SELECT * FROM {name})");
        assert_eq!(
            count(&project, &missing),
            0,
            "{name} has rows its query lacks"
        );
        assert_eq!(
            count(&project, &extra),
            0,
            "{name} lacks rows its query yields"
        );
    }
    // A second build replaces each table with the same rows, one commit each.
    let before = commits(&project, "daily_fares");
    ok(canon(&project, &["build", "daily_fares"], None));
    assert_eq!(commits(&project, "daily_fares"), before + 1);
    assert_eq!(
        commits(&project, "trips_clean"),
        3,
        "create, constraints, one build"
    );

    // Python's deltalake reads every built model with the rows Canon reads (os._exit: see
    // delta.rs, deltalake's threads can abort the interpreter as it shuts down).
    if let Some(python) = crate::python() {
        let models = [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "daily_fares",
        ];
        let script = "import os, sys\nfrom deltalake import DeltaTable\n\
                      for m in sys.argv[1:]:\n    \
                      print(DeltaTable('build/' + m).to_pyarrow_table().num_rows)\n\
                      sys.stdout.flush()\nos._exit(0)\n";
        let out = std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .args(models)
            .current_dir(&project)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().expect("a row count"))
            .collect();
        let canon_read: Vec<u64> = models
            .iter()
            .map(|m| count(&project, &format!("SELECT * FROM {m}")))
            .collect();
        assert_eq!(read, canon_read);
    }
}

/// Writes trips as one parquet file in the quickstart copy's 2025 partition: (id, pickup
/// time in microseconds, fare) each.
fn add_trips(dir: &Path, file: &str, trips: &[(i64, i64, f64)]) {
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
fn add_trip(dir: &Path, file: &str, id: i64, fare: f64) {
    add_trips(dir, file, &[(id, 1_740_000_000_000_000, fare)]);
}

#[test]
fn a_row_that_breaks_a_contract_fails_its_model_and_skips_downstream() {
    let (dir, project) = example_copy();
    ok(canon(&project, &["build"], None));
    let versions = |p: &Path| {
        [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "daily_fares",
        ]
        .map(|m| commits(p, m))
    };
    let before = versions(&project);
    let rows_before = count(&project, "SELECT * FROM trips_clean");

    // A negative fare breaks trips_clean's constraint `fare >= 0`.
    add_trip(dir.path(), "part-9.parquet", 900_000, -5.0);
    let out = canon(&project, &["build"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = stdout(&out);
    let status = |model: &str| {
        summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(model))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
    };
    assert_eq!(
        status("trips_clean").as_deref(),
        Some("failed"),
        "{summary}"
    );
    for downstream in ["daily_zone_fares", "payment_mix", "daily_fares"] {
        assert_eq!(status(downstream).as_deref(), Some("skipped"), "{summary}");
    }
    assert_eq!(status("zone_names").as_deref(), Some("view"), "{summary}");
    let err = stderr(&out);
    assert!(
        err.contains(
            "trips_clean failed: write to Delta dataset `trips_clean` refused: constraint"
        ),
        "{err}"
    );
    assert!(err.contains("fare: -5.00"), "{err}");
    assert!(err.contains("nothing was committed"), "{err}");
    assert!(
        err.contains("daily_fares skipped: `daily_zone_fares`, which it reads, did not build"),
        "{err}"
    );
    assert_eq!(versions(&project), before, "a failed build committed");
    assert_eq!(count(&project, "SELECT * FROM trips_clean"), rows_before);

    // A duplicate primary key fails the audit before anything is written.
    std::fs::remove_file(
        dir.path()
            .join("quickstart/data/trips/year=2025/part-9.parquet"),
    )
    .expect("remove bad trip");
    add_trip(dir.path(), "part-9.parquet", 5, 10.0);
    let out = canon(&project, &["build", "trips_clean"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("key (id) is not unique: id = 5 is held by 2 rows"),
        "{}",
        stderr(&out)
    );
    assert_eq!(versions(&project), before, "a failed audit committed");
}

#[test]
fn a_build_takes_the_models_named_and_their_neighbours() {
    let (_dir, project) = example_copy();
    let built = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        ok(canon(&project, &all, None))
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(
        built(&["daily_fares", "--upstream"]),
        [
            "trips_clean",
            "daily_zone_fares",
            "zone_names",
            "daily_fares"
        ]
    );
    assert_eq!(
        built(&["trips_clean", "--downstream"]),
        [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "daily_fares"
        ]
    );
    assert_eq!(built(&["payment_mix"]), ["payment_mix"]);
    let out = canon(&project, &["build", "nope"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no model named `nope`"),
        "{}",
        stderr(&out)
    );
}

/// `canon plan`'s change for each model, from its summary.
fn changes(project: &Path, args: &[&str]) -> (Option<i32>, Vec<(String, String, String)>) {
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
fn edit(project: &Path, from: &str, to: &str) {
    let path = project.join("canon.toml");
    let text = std::fs::read_to_string(&path).expect("read project");
    let at = text
        .rfind(from)
        .unwrap_or_else(|| panic!("{from} not in the project"));
    let edited = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
    std::fs::write(&path, edited).expect("write project");
}

#[test]
fn the_plan_sorts_changes_into_unchanged_changed_and_breaking() {
    let (_dir, project) = example_copy();
    let (code, before_build) = changes(&project, &[]);
    assert_eq!(code, Some(0));
    assert!(
        before_build
            .iter()
            .any(|(m, c, _)| m == "trips_clean" && c == "new")
    );
    ok(canon(&project, &["build"], None));
    let (code, plan) = changes(&project, &["--fail-on", "changed"]);
    assert_eq!(code, Some(0), "{plan:?}");
    for (model, change, _) in &plan {
        let expected = if model == "zone_names" {
            "view"
        } else {
            "unchanged"
        };
        assert_eq!(change, expected, "{model}");
    }

    // A column added is a change that breaks no reader.
    edit(
        &project,
        "SELECT payment, count(*) AS trips, sum(fare) AS fare\n",
        "SELECT payment, count(*) AS trips, sum(fare) AS fare, max(fare) AS top_fare\n",
    );
    edit(
        &project,
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n]\n",
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n  { name = \"top_fare\", type = \"Decimal128(12, 2)\" },\n]\n",
    );
    let (code, plan) = changes(&project, &["--fail-on", "breaking"]);
    assert_eq!(code, Some(0), "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "daily_zone_fares")
        .expect("line");
    assert_eq!(line.1, "unchanged", "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "payment_mix")
        .expect("line");
    assert_eq!(line.1, "changed", "{plan:?}");
    assert!(line.2.contains("column `top_fare` added"), "{plan:?}");
    let (code, _) = changes(&project, &["--fail-on", "changed"]);
    assert_eq!(code, Some(1));

    // Dropping a column (and the key on it) is breaking, and reaches every reader.
    edit(
        &project,
        "SELECT id, pickup_at, zone_id, payment, CAST(fare AS DECIMAL(12, 2)) AS fare",
        "SELECT pickup_at, zone_id, payment, CAST(fare AS DECIMAL(12, 2)) AS fare",
    );
    edit(&project, "primary_key = [\"id\"]\n", "");
    edit(
        &project,
        "  { name = \"id\", type = \"Int64\", nullable = false },\n  { name = \"pickup_at\", type = \"Timestamp(Microsecond, Some(\\\"UTC\\\"))\", nullable = false },\n  { name = \"zone_id\", type = \"Int32\", nullable = false },\n  { name = \"payment\"",
        "  { name = \"pickup_at\", type = \"Timestamp(Microsecond, Some(\\\"UTC\\\"))\", nullable = false },\n  { name = \"zone_id\", type = \"Int32\", nullable = false },\n  { name = \"payment\"",
    );
    let (code, plan) = changes(&project, &["--fail-on", "breaking"]);
    assert_eq!(code, Some(1), "{plan:?}");
    let line = plan
        .iter()
        .find(|(m, ..)| m == "trips_clean")
        .expect("line");
    assert_eq!(line.1, "breaking", "{plan:?}");
    assert!(line.2.contains("column `id` removed"), "{plan:?}");
    assert!(
        line.2.contains("primary key changed from (id) to ()"),
        "{plan:?}"
    );
    assert!(
        line.2
            .contains("(reaches daily_zone_fares, payment_mix, daily_fares)"),
        "{plan:?}"
    );
    // Retyping is breaking too.
    edit(
        &project,
        "sum(fare) AS fare, max(fare)",
        "CAST(sum(fare) AS DOUBLE) AS fare, max(fare)",
    );
    edit(
        &project,
        "  { name = \"fare\", type = \"Decimal128(22, 2)\" },\n  { name = \"top_fare\"",
        "  { name = \"fare\", type = \"Float64\" },\n  { name = \"top_fare\"",
    );
    let (_, plan) = changes(&project, &[]);
    let line = plan
        .iter()
        .find(|(m, ..)| m == "payment_mix")
        .expect("line");
    assert_eq!(line.1, "breaking", "{plan:?}");
    assert!(
        line.2
            .contains("column `fare` retyped from Decimal128(22, 2) to Float64"),
        "{plan:?}"
    );
}

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

/// A project of the quickstart's data under `quickstart/`, with `models`.
fn nested_project(models: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::copy_dir(&crate::quickstart_dir(), &dir.path().join("quickstart"));
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).expect("mkdir");
    let datasets = DATASETS.replace("\"data/", "\"../quickstart/data/");
    std::fs::write(project.join("canon.toml"), format!("{datasets}{models}")).expect("write");
    (dir, project)
}

/// The build summary's (status, rows) of one model.
fn built_line(summary: &str, model: &str) -> (String, String) {
    let line = summary
        .lines()
        .find(|l| l.split_whitespace().next() == Some(model))
        .unwrap_or_else(|| panic!("{model} missing from {summary}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    (cells[2].to_string(), cells[3].to_string())
}

/// A model's rows, sorted, as CSV.
fn rows_of(project: &Path, model: &str) -> String {
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
}

#[test]
fn a_killed_append_build_resumes_to_what_a_full_refresh_builds() {
    use std::process::{Command, Stdio};
    let (dir, project) = nested_project(APPEND);
    ok(canon(&project, &["build"], None));
    let june_2026 = 1_780_272_000_000_000_i64;
    for (round, wait_ms) in [(0_i64, 50_u64), (1, 250), (2, 600)] {
        let trips: Vec<(i64, i64, f64)> = (0..500)
            .map(|i| {
                (
                    200_000 + round * 1_000 + i,
                    june_2026 + (round * 1_000 + i) * 1_000_000,
                    3.0,
                )
            })
            .collect();
        add_trips(dir.path(), &format!("part-kill-{round}.parquet"), &trips);
        let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .arg("build")
            .current_dir(&project)
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn canon build");
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        // SIGKILL: no chance to clean up, wherever the build is.
        let _ = child.kill();
        let _ = child.wait();
        ok(canon(&project, &["build"], None));
    }
    let resumed = rows_of(&project, "trip_log");
    assert_eq!(count(&project, "SELECT * FROM trip_log"), 7500);
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
    ] {
        let (_dir, project) = nested_project(&APPEND.replace(edit_from, edit_to));
        let out = canon(&project, &["compile"], None);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
}

#[test]
fn a_tagged_column_cannot_be_shed_by_a_rename() {
    let tagged = "{ name = \"payment\", type = \"Utf8\", nullable = false, tags = [\"pii\"] }";
    let model = r#"
[[model]]
name = "payments"
location = "build/payments"
sql = "SELECT id, upper(payment) AS method FROM trips"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "method", type = "Utf8" },
]
"#;
    let dir = project(model);
    let path = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen(
            "{ name = \"payment\", type = \"Utf8\", nullable = false }",
            tagged,
            1,
        ),
    )
    .expect("write");
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `payments`: column `method`: receives `trips.payment`, tagged `pii`, without the tag"),
        "{err}"
    );
    // Declaring the tag compiles, and a model reading that model must declare it in turn.
    let text = std::fs::read_to_string(&path).expect("read");
    let declared = text.replacen(
        "{ name = \"method\", type = \"Utf8\" }",
        "{ name = \"method\", type = \"Utf8\", tags = [\"pii\"] }",
        1,
    );
    std::fs::write(&path, &declared).expect("write");
    ok(canon(dir.path(), &["compile"], None));
    let reader = r#"
[[model]]
name = "methods"
kind = "view"
sql = "SELECT DISTINCT method AS m FROM payments"
columns = [{ name = "m", type = "Utf8" }]
"#;
    std::fs::write(&path, format!("{declared}{reader}")).expect("write");
    let err = compile_error(dir.path());
    assert!(
        err.contains("model `methods`: column `m`: receives `payments.method`, tagged `pii`"),
        "{err}"
    );
}

#[test]
fn lineage_traces_columns_across_the_graph() {
    let (_dir, project) = example_copy();
    let back = ok(canon(&project, &["lineage", "daily_fares.fare"], None));
    assert_eq!(
        back,
        "daily_fares.fare\n<- daily_zone_fares.fare\n   <- trips_clean.fare\n      <- trips.fare\n"
    );
    let zone = ok(canon(&project, &["lineage", "daily_fares.zone"], None));
    assert_eq!(
        zone,
        "daily_fares.zone\n<- zone_names.name\n   <- zones.borough\n   <- zones.zone\n"
    );
    let forward = ok(canon(
        &project,
        &["lineage", "--forward", "trips.fare"],
        None,
    ));
    assert_eq!(
        forward,
        "trips.fare\n-> trips_clean.fare\n   -> daily_zone_fares.fare\n      -> daily_fares.fare\n   -> payment_mix.fare\n"
    );
    for (args, expected) in [
        (
            vec!["lineage", "daily_fares.nope"],
            "model `daily_fares` has no column `nope`",
        ),
        (vec!["lineage", "trips.fare"], "`trips` is not a model"),
        (vec!["lineage", "fare"], "is not `model.column`"),
    ] {
        let out = canon(&project, &args, None);
        assert_eq!(out.status.code(), Some(2));
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

/// A model's rows, sorted by its first column, as CSV.
fn sorted_rows(project: &Path, model: &str) -> String {
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
    use std::process::{Command, Stdio};
    let (dir, project) = nested_project(MERGE);
    ok(canon(&project, &["build"], None));
    let june_2026 = 1_780_272_000_000_000_i64;
    for (round, wait_ms) in [(0_i64, 80_u64), (1, 400)] {
        let trips: Vec<(i64, i64, f64)> = (0..300)
            .map(|i| {
                (
                    400_000 + round * 1_000 + i,
                    june_2026 + (round * 1_000 + i) * 1_000_000,
                    4.0,
                )
            })
            .collect();
        add_trips(dir.path(), &format!("part-kill-{round}.parquet"), &trips);
        let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .arg("build")
            .current_dir(&project)
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn canon build");
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill();
        let _ = child.wait();
        ok(canon(&project, &["build"], None));
    }
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
