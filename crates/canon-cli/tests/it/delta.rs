//! `canon delta …` as a real process, and Delta tables exchanged with another Delta
//! implementation: the Python `deltalake` package that `scripts/test-python-deps` installs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{canon, ok, python, run_python, stderr, stdout};

const SALES: &str = r#"
[project]
name = "shop"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "sales"
format = "delta"
location = "tables/sales"
partitioned_by = ["region"]
constraints = ["amount >= 0"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
  { name = "note", type = "Utf8" },
  { name = "region", type = "Utf8", nullable = true },
]

[dataset.delta]
change_data_feed = true
"#;

fn project(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("canon.toml"), toml).expect("write project");
    dir
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn create_write_history_changes_and_maintenance() {
    let dir = project(SALES);
    let root = dir.path();
    let created = ok(canon(root, &["delta", "create", "sales"], None));
    assert!(created.contains("change data feed on"), "{created}");
    assert!(
        created.contains("constraint check_1: amount >= 0"),
        "{created}"
    );

    std::fs::write(
        root.join("batch1.csv"),
        "id,amount,note,region\n1,10.5,first,eu\n2,20,,us\n3,0,third,eu\n",
    )
    .expect("csv");
    let wrote = ok(canon(
        root,
        &["delta", "write", "sales", "--from", "batch1.csv"],
        None,
    ));
    assert!(
        wrote.contains("wrote 3 row(s)") && wrote.contains("table version 2"),
        "{wrote}"
    );

    let query = "SELECT 4 AS id, 40.0 AS amount, 'q' AS note, 'apac' AS region";
    let wrote = ok(canon(
        root,
        &["delta", "write", "sales", "--query", query],
        None,
    ));
    assert!(
        wrote.contains("wrote 1 row(s)") && wrote.contains("table version 3"),
        "{wrote}"
    );

    // A violating write fails, names the constraint and a row, and commits nothing.
    std::fs::write(root.join("bad.csv"), "id,amount,note,region\n5,-1,neg,eu\n").expect("csv");
    let refused = canon(
        root,
        &["delta", "write", "sales", "--from", "bad.csv"],
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("constraint `check_1` (amount >= 0)") && message.contains("amount: -1"),
        "{message}"
    );

    let history = json(&ok(canon(
        root,
        &["delta", "history", "sales", "--format", "json"],
        None,
    )));
    let versions: Vec<(u64, String)> = history
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["version"].as_u64().unwrap_or(99),
                r["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (3, "WRITE".to_string()),
            (2, "WRITE".to_string()),
            (1, "ADD CONSTRAINT".to_string()),
            (0, "CREATE TABLE".to_string())
        ]
    );

    let changes = json(&ok(canon(
        root,
        &[
            "delta", "changes", "sales", "--from", "3", "--format", "json",
        ],
        None,
    )));
    assert_eq!(changes.as_array().map(Vec::len), Some(1), "{changes}");
    assert_eq!(changes[0]["_change_type"], "insert");
    assert_eq!(changes[0]["id"], 4);

    let overwrite = ok(canon(
        root,
        &[
            "delta",
            "write",
            "sales",
            "--query",
            "SELECT * FROM sales WHERE id < 3",
            "--mode",
            "overwrite",
        ],
        None,
    ));
    assert!(
        overwrite.contains("wrote 2 row(s)") && overwrite.contains("overwrite"),
        "{overwrite}"
    );
    let ids = ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT id FROM sales ORDER BY id",
        ],
        None,
    ));
    assert_eq!(ids, "id\n1\n2\n");

    // Vacuum lists by default and keeps files younger than the retention period.
    let vacuum = ok(canon(root, &["delta", "vacuum", "sales"], None));
    assert!(vacuum.contains("would remove 0 file(s)"), "{vacuum}");
    let optimize = ok(canon(root, &["delta", "optimize", "sales"], None));
    assert!(optimize.contains("compacted"), "{optimize}");
}

#[test]
fn maintenance_follows_the_policy() {
    let read_only = SALES.replace("allow_ddl = true\nallow_dml = true\n", "");
    let dir = project(&read_only);
    let root = dir.path();
    let refused = canon(root, &["delta", "create", "sales"], None);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("policy.allow_ddl = false"),
        "{}",
        stderr(&refused)
    );
    assert!(!root.join("tables/sales/_delta_log").exists());

    let ddl_only = SALES.replace("allow_dml = true\n", "");
    std::fs::write(root.join("canon.toml"), ddl_only).expect("write project");
    ok(canon(root, &["delta", "create", "sales"], None));
    // Listing what a vacuum would remove only reads.
    ok(canon(root, &["delta", "vacuum", "sales"], None));
    for args in [
        &["delta", "vacuum", "sales", "--apply"][..],
        &["delta", "optimize", "sales"][..],
        &["delta", "restore", "sales", "--version", "0"][..],
    ] {
        let refused = canon(root, args, None);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&refused).contains("policy.allow_dml = false"),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    let history = json(&ok(canon(
        root,
        &["delta", "history", "sales", "--format", "json"],
        None,
    )));
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
}

#[test]
fn restore_and_numbers_out_of_range() {
    let dir = project(SALES);
    let root = dir.path();
    ok(canon(root, &["delta", "create", "sales"], None));
    for id in [1, 2] {
        let query = format!("SELECT {id} AS id, 1.0 AS amount, 'n' AS note, 'eu' AS region");
        ok(canon(
            root,
            &["delta", "write", "sales", "--query", &query],
            None,
        ));
    }
    let restored = ok(canon(
        root,
        &["delta", "restore", "sales", "--version", "2"],
        None,
    ));
    assert!(
        restored.contains("restored `sales` to version 2 as version 4"),
        "{restored}"
    );
    let ids = ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT id FROM sales ORDER BY id",
        ],
        None,
    ));
    assert_eq!(ids, "id\n1\n");
    let later = canon(root, &["delta", "restore", "sales", "--version", "9"], None);
    assert_eq!(later.status.code(), Some(1));
    assert!(
        stderr(&later).contains("the table is at version 4"),
        "{}",
        stderr(&later)
    );

    // Retention far beyond any calendar is an error, not an overflow.
    let vacuum = canon(
        root,
        &[
            "delta",
            "vacuum",
            "sales",
            "--retention-hours",
            "3000000000000000",
        ],
        None,
    );
    assert_eq!(vacuum.status.code(), Some(1), "{}", stderr(&vacuum));
    assert!(stderr(&vacuum).contains("too long"), "{}", stderr(&vacuum));

    // Another writer's log may hold a commit time no calendar can show.
    let log = root.join("tables/sales/_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(&log).expect("log");
    let start = text.find("\"timestamp\":").expect("a commit timestamp") + 12;
    let end = start + text[start..].find([',', '}']).expect("end of number");
    let hostile = format!("{}{}{}", &text[..start], i64::MAX, &text[end..]);
    std::fs::write(&log, hostile).expect("rewrite log");
    let history = json(&ok(canon(
        root,
        &["delta", "history", "sales", "--format", "json"],
        None,
    )));
    let rows = history.as_array().expect("rows");
    assert_eq!(rows.len(), 5, "{history}");
    assert_eq!(rows[4]["version"], 0);
    assert!(rows[4]["timestamp"].is_null(), "{history}");
    assert_eq!(rows[0]["operation"], "RESTORE");
}

#[test]
fn delta_commands_need_a_delta_dataset() {
    let dir = project(SALES);
    // The table does not exist yet, so the project does not register (a project error).
    let output = canon(dir.path(), &["delta", "history", "sales"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("canon delta create sales"),
        "{}",
        stderr(&output)
    );
    let output = canon(dir.path(), &["delta", "create", "nope"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no dataset `nope`"));
}

// Both scripts end with os._exit: deltalake's background threads can abort the interpreter
// while it shuts down ("terminate called without an active exception"), after the work is done.
const READ_ROWS: &str = r#"
import json, os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
print(json.dumps(sorted(rows, key=lambda r: r["id"])), flush=True)
os._exit(0)
"#;

/// Canon's rows as JSON objects, `null`s included, in id order.
fn canon_rows(root: &Path) -> Value {
    let text = ok(canon(
        root,
        &[
            "query",
            "--format",
            "json",
            "SELECT id, amount, note, region FROM sales ORDER BY id",
        ],
        None,
    ));
    json(&text)
}

#[test]
fn python_deltalake_reads_what_canon_writes() {
    let Some(python) = python() else { return };
    let dir = project(SALES);
    let root = dir.path();
    ok(canon(root, &["delta", "create", "sales"], None));
    std::fs::write(
        root.join("rows.csv"),
        "id,amount,note,region\n1,1.5,a,eu\n2,2,b,\n3,3.25,,a b/c=d%\n4,4,d,eu\n",
    )
    .expect("csv");
    ok(canon(
        root,
        &["delta", "write", "sales", "--from", "rows.csv"],
        None,
    ));
    ok(canon(
        root,
        &[
            "delta",
            "write",
            "sales",
            "--query",
            "SELECT 5, 5.5, 'e', 'us'",
        ],
        None,
    ));

    let theirs = json(&run_python(
        &python,
        READ_ROWS,
        &[&root.join("tables/sales").to_string_lossy()],
        &[],
    ));
    let ours = canon_rows(root);
    assert_eq!(ours.as_array().map(Vec::len), Some(5));
    assert_eq!(theirs, ours);
}

const WRITE_TABLE: &str = r#"
import os, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
path = sys.argv[1]
schema = pa.schema([("id", pa.int64(), False), ("amount", pa.float64()), ("note", pa.string()), ("region", pa.string())])
first = pa.table({"id": [1, 2, 3], "amount": [1.0, None, 3.0], "note": ["x", "y", None], "region": ["eu", None, "a b/c=d%"]}, schema=schema)
write_deltalake(path, first, partition_by=["region"])
second = pa.table({"id": [4], "amount": [4.0], "note": ["z"], "region": ["eu"]}, schema=schema)
write_deltalake(path, second, mode="append")
DeltaTable(path).create_checkpoint()
write_deltalake(path, pa.table({"id": [5], "amount": [5.0], "note": ["w"], "region": ["us"]}, schema=schema), mode="append")
sys.stdout.flush()
os._exit(0)
"#;

#[test]
fn python_deltalake_reads_canon_deletes_updates_and_merges() {
    let Some(python) = python() else { return };
    let dir = project(SALES);
    let root = dir.path();
    ok(canon(root, &["delta", "create", "sales"], None));
    std::fs::write(
        root.join("rows.csv"),
        "id,amount,note,region\n1,1.5,a,eu\n2,2,b,\n3,3.25,c,us\n4,4,d,eu\n",
    )
    .expect("csv");
    ok(canon(
        root,
        &["delta", "write", "sales", "--from", "rows.csv"],
        None,
    ));
    let deleted = ok(canon(
        root,
        &["query", "--format", "csv", "DELETE FROM sales WHERE id = 2"],
        None,
    ));
    assert_eq!(deleted, "count\n1\n");
    let updated = ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "UPDATE sales SET note = 'z', amount = amount * 2 WHERE region = 'eu'",
        ],
        None,
    ));
    assert_eq!(updated, "count\n2\n");
    let merge = "MERGE INTO sales AS t \
         USING (SELECT * FROM (VALUES (3, 9.0, 'm', 'us'), (5, 5.0, 'new', 'us')) \
                AS v(id, amount, note, region)) AS s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET amount = s.amount, note = s.note \
         WHEN NOT MATCHED THEN INSERT (id, amount, note, region) \
              VALUES (s.id, s.amount, s.note, s.region)";
    let merged = ok(canon(root, &["query", "--format", "csv", merge], None));
    assert_eq!(merged, "count\n2\n");

    let theirs = json(&run_python(
        &python,
        READ_ROWS,
        &[&root.join("tables/sales").to_string_lossy()],
        &[],
    ));
    let ours = canon_rows(root);
    assert_eq!(ours.as_array().map(Vec::len), Some(4), "{ours}");
    assert_eq!(theirs, ours);
    assert_eq!(ours[0]["note"], "z");
    assert_eq!(ours[1]["note"], "m");
    assert_eq!(ours[3]["note"], "new");
}

#[test]
fn canon_reads_what_python_deltalake_writes() {
    let Some(python) = python() else { return };
    let dir = project(
        &SALES
            .replace("change_data_feed = true", "change_data_feed = false")
            .replace("constraints = [\"amount >= 0\"]\n", ""),
    );
    let root = dir.path();
    let table = root.join("tables/sales");
    run_python(&python, WRITE_TABLE, &[&table.to_string_lossy()], &[]);
    assert!(
        table
            .join("_delta_log/00000000000000000001.checkpoint.parquet")
            .exists()
    );

    let theirs = json(&run_python(
        &python,
        READ_ROWS,
        &[&table.to_string_lossy()],
        &[],
    ));
    let ours = canon_rows(root);
    assert_eq!(ours.as_array().map(Vec::len), Some(5));
    assert_eq!(theirs, ours);
    let nulls = ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT id FROM sales WHERE region IS NULL",
        ],
        None,
    ));
    assert_eq!(nulls, "id\n2\n");
    assert_eq!(
        stdout(&canon(
            root,
            &["delta", "history", "sales", "--format", "csv"],
            None
        ))
        .lines()
        .count(),
        4
    );
}

const APPEND_ROWS: &str = r#"
import os, sys
import pyarrow as pa
from deltalake import write_deltalake
schema = pa.schema([("id", pa.int64(), False), ("amount", pa.float64()), ("note", pa.string()), ("region", pa.string())])
rows = pa.table({"id": list(range(1000, 1100)), "amount": [1.0] * 100, "note": ["py"] * 100, "region": ["eu"] * 100}, schema=schema)
write_deltalake(sys.argv[1], rows, mode="append")
sys.stdout.flush()
os._exit(0)
"#;

/// Several Canon processes (and the Python deltalake package, where installed) append to
/// one table at once: every commit lands, versions are contiguous, every row is there, and
/// a reader during the writes always sees whole commits.
#[test]
fn concurrent_writers_and_a_reader() {
    let dir = project(SALES);
    let root = dir.path();
    ok(canon(root, &["delta", "create", "sales"], None));
    let bin = env!("CARGO_BIN_EXE_canon");
    let mut writers: Vec<std::process::Child> = (0..3)
        .map(|k| {
            let query = format!(
                "SELECT id, 1.0 AS amount, 'w{k}' AS note, 'eu' AS region \
                 FROM (SELECT unnest(range({start}, {end})) AS id)",
                start = k * 100,
                end = k * 100 + 100
            );
            Command::new(bin)
                .args(["delta", "write", "sales", "--query", &query])
                .current_dir(root)
                .env("HOME", root)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a writer")
        })
        .collect();
    let python = python();
    if let Some(python) = &python {
        let table = root.join("tables/sales");
        writers.push(
            Command::new(python)
                .args(["-c", APPEND_ROWS, &table.to_string_lossy()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn the Python writer"),
        );
    }
    // Each writer adds 100 rows under its own note: a whole snapshot holds 100 rows per
    // note it holds. The loop is bounded; writers finish in seconds.
    let mut reads = 0;
    while reads < 50 && writers.iter_mut().any(|w| matches!(w.try_wait(), Ok(None))) {
        let counts = ok(canon(
            root,
            &[
                "query",
                "--format",
                "csv",
                "SELECT count(*) AS n, count(DISTINCT note) AS w FROM sales",
            ],
            None,
        ));
        let values: Vec<u64> = counts
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        assert_eq!(values.len(), 2, "{counts}");
        assert_eq!(
            values[0],
            100 * values[1],
            "a partial commit was read: {counts}"
        );
        reads += 1;
    }
    for writer in writers {
        let output = writer.wait_with_output().expect("writer ends");
        assert!(
            output.status.success(),
            "a writer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let expected_writes: u64 = if python.is_some() { 4 } else { 3 };
    let total = ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM sales",
        ],
        None,
    ));
    let n = 100 * expected_writes;
    assert_eq!(total, format!("n,d\n{n},{n}\n"));
    let history = json(&ok(canon(
        root,
        &["delta", "history", "sales", "--format", "json"],
        None,
    )));
    let versions: Vec<u64> = history
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["version"].as_u64())
        .collect();
    // Create and constraint commits, then one commit per writer, with no gaps.
    let latest = 1 + expected_writes;
    assert_eq!(versions, (0..=latest).rev().collect::<Vec<_>>());
}

/// Rows another Delta writer commits are judged by the contract: `canon check` reports a
/// contract constraint they break, though the table does not store it, and exits 1.
#[test]
fn check_catches_rows_another_engine_wrote() {
    let Some(python) = python() else { return };
    let dir = project(SALES);
    let root = dir.path();
    ok(canon(root, &["delta", "create", "sales"], None));
    let table = root.join("tables/sales");
    run_python(&python, APPEND_ROWS, &[&table.to_string_lossy()], &[]);
    let passing = canon(root, &["check", "sales"], None);
    assert_eq!(passing.status.code(), Some(0), "{}", stderr(&passing));

    let stricter = SALES.replace(
        r#"constraints = ["amount >= 0"]"#,
        r#"constraints = ["amount >= 0", "note <> 'py'"]"#,
    );
    std::fs::write(root.join("canon.toml"), stricter).expect("write project");
    let failing = canon(root, &["check", "sales", "--format", "json"], None);
    assert_eq!(failing.status.code(), Some(1), "{}", stderr(&failing));
    let report = json(&stdout(&failing));
    let problems = report.to_string();
    assert!(
        problems.contains("constraint `note <> 'py'` fails for 100 row(s)"),
        "{report}"
    );
}
