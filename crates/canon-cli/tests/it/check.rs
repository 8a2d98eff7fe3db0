//! `canon check`: per-file reports on real data, JSON output, exit statuses.

use std::sync::Arc;

use canon::datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array};

use crate::{canon, ok, quickstart_copy, stderr, stdout, write_parquet};

#[test]
fn the_example_project_passes() {
    let dir = quickstart_copy();
    let out = ok(canon(dir.path(), &["check"], None));
    assert!(
        out.contains("\n2 dataset(s), 4 file(s) checked, 0 failing\n"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("trips")
            && l.contains("year=2024/part-0.parquet")
            && l.contains(" 2000 ")
            && l.contains(" ok")),
        "{out}"
    );
}

/// A dataset with evolution rules and constraints, and files that break them in each way.
fn fares_project(dir: &std::path::Path) {
    std::fs::write(
        dir.join("canon.toml"),
        r#"[project]
name = "fares"

[[dataset]]
name = "fares"
format = "parquet"
location = "fares/"
partitioned_by = ["year"]
constraints = ["fare >= 0", "tip <= fare"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "fare", type = "Float64" },
  { name = "tip", type = "Float64" },
  { name = "year", type = "Int32" },
]

[dataset.evolution]
missing = "default"
defaults = { tip = "0" }
renames = { fare_amt = "fare" }
widen = true
"#,
    )
    .expect("write project");
    let base = dir.join("fares");
    // An old file: Int32 ids, renamed fare, no tip — fine under the rules.
    write_parquet(
        &base.join("year=2023/old.parquet"),
        vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            (
                "fare_amt",
                Arc::new(Float64Array::from(vec![10.0, 20.0])) as ArrayRef,
            ),
        ],
    );
    // A negative fare (which also puts its tip above it) and a tip above the fare.
    write_parquet(
        &base.join("year=2024/bad.parquet"),
        vec![
            ("id", Arc::new(Int64Array::from(vec![3, 4, 5])) as ArrayRef),
            (
                "fare",
                Arc::new(Float64Array::from(vec![-1.0, 5.0, 8.0])) as ArrayRef,
            ),
            (
                "tip",
                Arc::new(Float64Array::from(vec![0.0, 9.0, 1.0])) as ArrayRef,
            ),
        ],
    );
    // A NOT NULL id holding a null.
    write_parquet(
        &base.join("year=2024/nulls.parquet"),
        vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(6), None])) as ArrayRef,
            ),
            (
                "fare",
                Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
            ),
            (
                "tip",
                Arc::new(Float64Array::from(vec![0.5, 0.5])) as ArrayRef,
            ),
        ],
    );
    // A partition value that is not an Int32.
    write_parquet(
        &base.join("year=soon/x.parquet"),
        vec![
            ("id", Arc::new(Int64Array::from(vec![7])) as ArrayRef),
            ("fare", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
            ("tip", Arc::new(Float64Array::from(vec![0.0])) as ArrayRef),
        ],
    );
}

#[test]
fn problems_are_reported_per_file_and_the_exit_status_is_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    fares_project(dir.path());
    let before: Vec<_> = walk(&dir.path().join("fares"));

    let out = canon(dir.path(), &["check", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
    let files = report["datasets"][0]["files"].as_array().expect("files");
    let by_name = |suffix: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
            .unwrap_or_else(|| panic!("no report for {suffix}"))
    };
    let old = by_name("year=2023/old.parquet");
    assert_eq!(old["rows"], 2);
    assert_eq!(old["problems"], serde_json::json!([]));
    let bad = by_name("year=2024/bad.parquet");
    assert_eq!(bad["rows"], 3);
    assert_eq!(
        bad["problems"],
        serde_json::json!([
            "constraint `fare >= 0` fails for 1 row(s)",
            "constraint `tip <= fare` fails for 2 row(s)"
        ])
    );
    let nulls = by_name("year=2024/nulls.parquet");
    assert_eq!(
        nulls["problems"],
        serde_json::json!(["column `id` is NOT NULL but holds 1 null(s)"])
    );
    let soon = by_name("year=soon/x.parquet");
    assert_eq!(
        soon["problems"][0],
        "partition value `year=soon` does not parse as Int32"
    );

    // The table form says the same, and nothing was written.
    let table = canon(dir.path(), &["check", "fares"], None);
    assert_eq!(table.status.code(), Some(1));
    let text = stdout(&table);
    assert!(
        text.contains("\n1 dataset(s), 4 file(s) checked, 3 failing\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("nulls.parquet") && l.contains("FAIL")),
        "{text}"
    );
    assert_eq!(walk(&dir.path().join("fares")), before);
}

#[test]
fn a_file_outside_the_rules_and_a_broken_constraint_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    fares_project(dir.path());
    let toml = std::fs::read_to_string(dir.path().join("canon.toml")).expect("read");
    std::fs::write(
        dir.path().join("canon.toml"),
        toml.replace("\"tip <= fare\"", "\"no_such_column > 1\""),
    )
    .expect("write");
    write_parquet(
        &dir.path().join("fares/year=2025/text.parquet"),
        vec![(
            "id",
            Arc::new(canon::datafusion::arrow::array::StringArray::from(vec![
                "x",
            ])) as ArrayRef,
        )],
    );
    let out = canon(dir.path(), &["check", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
    let dataset = &report["datasets"][0];
    assert!(
        dataset["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("constraint `no_such_column > 1` does not plan")),
        "{dataset}"
    );
    let text = dataset["files"]
        .as_array()
        .and_then(|f| {
            f.iter().find(|f| {
                f["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("text.parquet"))
            })
        })
        .expect("text.parquet report");
    assert_eq!(text["rows"], serde_json::Value::Null);
    assert_eq!(
        text["problems"],
        serde_json::json!([
            "column `id` is Utf8View in the file, contract says Int64: not a safe widening (it could lose values)"
        ])
    );
}

#[test]
fn unknown_dataset_is_a_usage_error() {
    let dir = quickstart_copy();
    let out = canon(dir.path(), &["check", "nope"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no dataset `nope`"));
}

fn walk(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push((entry.path(), entry.metadata().expect("meta").len()));
        }
    }
    out.sort();
    out
}

#[test]
fn headerless_csv_is_read_by_position_and_checked_for_nulls() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("events")).expect("mkdir");
    std::fs::write(dir.path().join("events/a.csv"), "1,login\n2,logout\n").expect("write");
    std::fs::write(dir.path().join("events/b.csv"), "3,\n").expect("write");
    std::fs::write(
        dir.path().join("canon.toml"),
        r#"[project]
name = "events"

[[dataset]]
name = "events"
format = "csv"
location = "events/"
options = { has_header = "false" }
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "kind", type = "Utf8", nullable = false },
]
"#,
    )
    .expect("write project");
    let out = canon(dir.path(), &["check", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
    let files = &report["datasets"][0]["files"];
    assert_eq!(files[0]["rows"], 2);
    assert_eq!(files[0]["problems"], serde_json::json!([]));
    assert_eq!(files[1]["rows"], 1);
    assert_eq!(
        files[1]["problems"],
        serde_json::json!(["column `kind` is NOT NULL but holds 1 null(s)"])
    );
}

/// Keys proposed from the data: a column unique and never NULL (`id`, and `email` beside
/// it), not one with a NULL (`code`) or a repeat (`city`); a pair where no column alone is
/// a key. Pasted into the project, `canon check` verifies them.
#[test]
fn suggested_keys_are_the_unique_never_null_columns_and_check_passes_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("people")).expect("mkdir");
    std::fs::create_dir_all(data.join("slots")).expect("mkdir");
    std::fs::write(
        data.join("people/a.csv"),
        "id,email,code,city\n1,a@x,k1,Oslo\n2,b@x,,Oslo\n3,c@x,k3,Rome\n",
    )
    .expect("write people");
    std::fs::write(
        data.join("people/b.csv"),
        "id,email,code,city\n4,d@x,k4,Rome\n",
    )
    .expect("write people");
    std::fs::write(
        data.join("slots/s.csv"),
        "day,slot,room\n1,1,a\n1,2,a\n2,1,b\n2,2,b\n",
    )
    .expect("write slots");
    let project = |people: &str, slots: &str| {
        format!(
            r#"[project]
name = "keys"

[[dataset]]
name = "people"
format = "csv"
location = "data/people/"
options = {{ has_header = "true" }}
columns = [
  {{ name = "id", type = "Int64", nullable = false }},
  {{ name = "email", type = "Utf8" }},
  {{ name = "code", type = "Utf8" }},
  {{ name = "city", type = "Utf8" }},
]
{people}
[[dataset]]
name = "slots"
format = "csv"
location = "data/slots/"
options = {{ has_header = "true" }}
columns = [
  {{ name = "day", type = "Int32", nullable = false }},
  {{ name = "slot", type = "Int32" }},
  {{ name = "room", type = "Utf8" }},
]
{slots}"#
        )
    };
    std::fs::write(dir.path().join("canon.toml"), project("", "")).expect("write project");

    let people = ok(canon(
        dir.path(),
        &["check", "--suggest-keys", "people"],
        None,
    ));
    let keys: Vec<&str> = people.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        keys,
        ["primary_key = [\"id\"]", "unique = [[\"email\"]]"],
        "{people}"
    );
    assert!(people.starts_with("# people: 4 rows"), "{people}");
    let slots = ok(canon(
        dir.path(),
        &["check", "--suggest-keys", "slots"],
        None,
    ));
    let keys: Vec<&str> = slots.lines().filter(|l| !l.starts_with('#')).collect();
    // `room` follows `day`, so `slot` and `room` together are a key too.
    // `slot` is declared nullable, so the pair is proposed as a unique key, which the
    // loader takes as it is.
    assert_eq!(
        keys,
        ["unique = [[\"day\", \"slot\"], [\"slot\", \"room\"]]"],
        "{slots}"
    );
    assert!(
        slots.contains("# with `slot` declared nullable = false"),
        "{slots}"
    );

    // Pasted into the contracts, the keys load and hold in every file.
    std::fs::write(dir.path().join("canon.toml"), project(&people, &slots)).expect("write");
    let checked = ok(canon(dir.path(), &["check"], None));
    assert!(checked.contains(", 0 failing"), "{checked}");

    let unknown = canon(dir.path(), &["check", "--suggest-keys", "nobody"], None);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("nobody"), "{}", stderr(&unknown));
}
