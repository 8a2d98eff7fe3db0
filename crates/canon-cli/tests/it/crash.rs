//! A Delta writer killed with SIGKILL in the middle of a write: the table stays readable
//! at its previous version, and what the writer left behind is exactly what
//! `canon delta vacuum --orphans` removes once it is older than the retention period.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::{canon, ok};

const EVENTS: &str = r#"
[project]
name = "crash"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "events"
format = "delta"
location = "tables/events"
partitioned_by = ["region"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "note", type = "Utf8" },
  { name = "region", type = "Utf8" },
]
"#;

/// Every file under the table directory outside its log, relative, with `/` separators:
/// data files and unfinished uploads alike.
fn files(table: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![(table.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if path.is_dir() {
                if name != "_delta_log" {
                    pending.push((path, format!("{prefix}{name}/")));
                }
            } else {
                found.insert(format!("{prefix}{name}"));
            }
        }
    }
    found
}

/// The table's row count as `canon query` prints it in CSV.
fn count(root: &Path) -> String {
    ok(canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM events",
        ],
        None,
    ))
}

/// The newest version in the table's history.
fn latest_version(root: &Path) -> u64 {
    let history = ok(canon(
        root,
        &["delta", "history", "events", "--format", "json"],
        None,
    ));
    let rows: serde_json::Value = serde_json::from_str(&history).expect("history as JSON");
    rows[0]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("no version in history:\n{history}"))
}

/// The files a vacuum listed, in the order it printed them.
fn listed(vacuum: &str) -> BTreeSet<String> {
    vacuum
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_writer_leaves_only_what_vacuum_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("canon.toml"), EVENTS).expect("write project");
    ok(canon(root, &["delta", "create", "events"], None));
    let one_row = "SELECT 1 AS id, 'kept' AS note, 'eu' AS region";
    ok(canon(
        root,
        &["delta", "write", "events", "--query", one_row],
        None,
    ));
    let table = root.join("tables/events");
    let before = files(&table);
    let version = latest_version(root);
    assert_eq!(count(root), "n\n1\n");

    // Enough rows that the write is still running when its first file appears.
    let many = "SELECT value AS id, 'lost' AS note, \
                CASE WHEN value % 2 = 0 THEN 'eu' ELSE 'us' END AS region \
                FROM range(0, 200000000)";
    let mut writer = Command::new(env!("CARGO_BIN_EXE_canon"))
        .args(["delta", "write", "events", "--query", many])
        .current_dir(root)
        .env("HOME", root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let waited = Instant::now();
    loop {
        if files(&table).len() > before.len() {
            break;
        }
        let status = writer.try_wait().expect("writer status");
        assert!(
            status.is_none(),
            "the writer ended before writing: {status:?}"
        );
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "the writer wrote no file in 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // `Child::kill` sends SIGKILL: no handler, no cleanup.
    writer.kill().expect("SIGKILL the writer");
    let status = writer.wait().expect("the writer is gone");
    assert!(!status.success(), "{status:?}");

    // The table is where it was: same version, same rows.
    assert_eq!(latest_version(root), version);
    assert_eq!(count(root), "n\n1\n");
    // On local disk the writer leaves unfinished uploads (`<file>#<n>`), which
    // object_store hides from listings.
    let mut left: BTreeSet<String> = files(&table).difference(&before).cloned().collect();
    assert!(!left.is_empty());
    // A writer killed between finishing a data file and committing it leaves a whole
    // file no version references: made here by copying a committed one.
    let committed = before
        .iter()
        .find(|f| f.ends_with(".parquet"))
        .expect("a committed data file");
    let uncommitted = "region=eu/part-00000-killed-before-commit.c000.snappy.parquet";
    std::fs::copy(table.join(committed), table.join(uncommitted)).expect("copy a data file");
    left.insert(uncommitted.to_string());

    // Within the retention period, nothing is removed: a live writer's files look the same.
    let recent = ok(canon(
        root,
        &["delta", "vacuum", "events", "--orphans"],
        None,
    ));
    assert!(recent.contains("would remove 0 file(s)"), "{recent}");

    // Once older than the table's retention (7 days), they are exactly what vacuum
    // lists with --orphans, and nothing without it.
    let old = SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
    for file in &left {
        std::fs::File::options()
            .write(true)
            .open(table.join(file))
            .and_then(|f| f.set_modified(old))
            .expect("age the file");
    }
    let lite = ok(canon(root, &["delta", "vacuum", "events"], None));
    assert!(lite.contains("would remove 0 file(s)"), "{lite}");
    let dry = ok(canon(
        root,
        &["delta", "vacuum", "events", "--orphans"],
        None,
    ));
    assert_eq!(listed(&dry), left, "{dry}");
    let applied = ok(canon(
        root,
        &["delta", "vacuum", "events", "--orphans", "--apply"],
        None,
    ));
    assert_eq!(listed(&applied), left, "{applied}");
    assert_eq!(files(&table), before);

    // The rows are untouched (vacuum records its own commits) and the table takes the
    // next write.
    assert_eq!(count(root), "n\n1\n");
    ok(canon(
        root,
        &["delta", "write", "events", "--query", one_row],
        None,
    ));
    assert_eq!(count(root), "n\n2\n");
}
