//! `canon query` streams its results: many batches in every format, empty results that
//! still show their columns, a closed pipe that ends the query quietly, and the progress
//! line that shows only on a terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::{canon, ok, quickstart_copy, stderr};

/// Far more rows than one batch (the quickstart's batch size is 8192).
const MANY: &str =
    "SELECT value AS n, value * 2 AS twice FROM generate_series(1, 100000) ORDER BY n";

#[test]
fn many_batches_stream_in_every_format() {
    let dir = quickstart_copy();
    let csv = ok(canon(dir.path(), &["query", MANY, "--format", "csv"], None));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 100_001);
    assert_eq!(lines[0], "n,twice");
    assert_eq!(lines[100_000], "100000,200000");

    let json = ok(canon(
        dir.path(),
        &["query", MANY, "--format", "json"],
        None,
    ));
    let rows: serde_json::Value = serde_json::from_str(&json).expect("one JSON array");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 100_000);
    assert_eq!(
        rows[99_999],
        serde_json::json!({"n": 100000, "twice": 200000})
    );

    let ndjson = ok(canon(
        dir.path(),
        &["query", MANY, "--format", "ndjson"],
        None,
    ));
    assert_eq!(ndjson.lines().count(), 100_000);

    let table = ok(canon(dir.path(), &["query", MANY], None));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[3], "| 1    | 2     |");
    // The first rows fix the widths; where later rows gain a digit (n = 10000, twice =
    // 100000, n = 100000) a border with the wider columns precedes them, and every line
    // is as wide as the border above it.
    let borders: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with('+'))
        .collect();
    assert_eq!(
        borders.len(),
        3 + 3,
        "{:?}",
        borders.iter().map(|&i| lines[i]).collect::<Vec<_>>()
    );
    assert_eq!(lines.len(), 100_000 + 1 + borders.len());
    let mut width = 0;
    for line in &lines {
        if line.starts_with('+') {
            width = line.len();
        }
        assert_eq!(line.len(), width, "{line}");
    }
    assert_eq!(lines[lines.len() - 2], "| 100000 | 200000 |");
    assert!(lines.contains(&"+--------+--------+"));
}

#[test]
fn empty_results_show_their_columns() {
    let dir = quickstart_copy();
    let sql = "SELECT zone_id, zone FROM zones WHERE zone_id < 0";
    assert_eq!(
        ok(canon(dir.path(), &["query", sql, "--format", "csv"], None)),
        "zone_id,zone\n"
    );
    assert_eq!(
        ok(canon(dir.path(), &["query", sql, "--format", "json"], None)),
        "[]\n"
    );
    assert_eq!(
        ok(canon(dir.path(), &["query", sql], None)),
        "+---------+------+\n| zone_id | zone |\n+---------+------+\n+---------+------+\n"
    );
}

#[test]
fn a_closed_pipe_ends_the_query_quietly() {
    let dir = quickstart_copy();
    let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
        .args([
            "query",
            "SELECT * FROM generate_series(1, 5000000)",
            "--format",
            "csv",
        ])
        .current_dir(dir.path())
        .env_remove("CANON_PROJECT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn canon");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut header = String::new();
    reader.read_line(&mut header).expect("read a line");
    assert_eq!(header, "value\n");
    drop(reader);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// A query that runs well past the progress line's one-second delay.
const SLOW: &str = "SELECT count(*) AS n FROM trips a JOIN trips b ON a.fare < b.fare";

#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    let dir = quickstart_copy();
    let out = canon(dir.path(), &["query", SLOW, "--format", "csv"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.starts_with(b"n\n"));
    assert!(out.stderr.is_empty(), "{:?}", stderr(&out));
}

#[test]
fn progress_line_on_a_terminal_is_cleared_at_the_end() {
    // util-linux `script` gives the command a pseudo-terminal; without it, nothing to check.
    let Ok(probe) = Command::new("script").arg("--version").output() else {
        return;
    };
    if !probe.status.success() {
        return;
    }
    let dir = quickstart_copy();
    let command = format!(
        "'{}' query \"{SLOW}\" --format csv > result.csv",
        env!("CARGO_BIN_EXE_canon")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("CANON_PROJECT")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert!(out.status.success(), "{}", stderr(&out));
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains(" of 12,000 rows, "), "{terminal:?}");
    assert!(terminal.ends_with("\r\x1b[K"), "{terminal:?}");
    let result = std::fs::read_to_string(dir.path().join("result.csv")).expect("result");
    assert!(result.starts_with("n\n"), "{result}");
}
