//! `canon functions`, `canon cache`, `canon query --execute/--param/--analyze`, and Canon's
//! stable hashes giving the same golden values in separate processes.

use std::path::Path;

use crate::{canon, ok, quickstart_copy, stderr};

/// Appends a macro and a prepared statement to the copied quickstart project.
fn declare(dir: &Path) {
    let file = dir.join("canon.toml");
    let mut text = std::fs::read_to_string(&file).expect("read project");
    text.push_str(
        r#"
[[function]]
name = "with_tip"
args = [{ name = "fare", type = "DOUBLE" }, { name = "tip", type = "DOUBLE" }]
returns = "DOUBLE"
body = "round(fare * (1 + tip), 2)"
description = "Fare with a tip share added"

[[prepared]]
name = "trips_in"
sql = "SELECT count(*) AS n FROM trips WHERE year = $1 AND payment = $2"
"#,
    );
    std::fs::write(&file, text).expect("write project");
}

const GOLDEN_SQL: &str = "SELECT stable_hash64(1) AS a, stable_hash64('1a') AS b, \
    stable_hash64(1, 'a') AS c, stable_id('cust', 42) AS d, \
    stable_hash64(DATE '2024-01-01', CAST(1.50 AS DECIMAL(10, 2))) AS e";

const GOLDEN_CSV: &str = "a,b,c,d,e\n-4798943240567224536,-2338196153236281958,\
    8195316837526959853,cust_5f6f8f4c6a42e987,7192028612763051833\n";

#[test]
fn stable_hashes_are_golden_across_processes() {
    let dir = quickstart_copy();
    let first = ok(canon(
        dir.path(),
        &["query", GOLDEN_SQL, "--format", "csv"],
        None,
    ));
    let second = ok(canon(
        dir.path(),
        &["query", GOLDEN_SQL, "--format", "csv"],
        None,
    ));
    assert_eq!(first, GOLDEN_CSV);
    assert_eq!(second, first);
    // Over real data too: the same ids in two processes.
    let ids = "SELECT stable_id('trip', id, pickup_at) AS id FROM trips ORDER BY id LIMIT 5";
    let one = ok(canon(dir.path(), &["query", ids, "--format", "csv"], None));
    let two = ok(canon(dir.path(), &["query", ids, "--format", "csv"], None));
    assert_eq!(one, two);
    assert_eq!(one.lines().count(), 6, "{one}");
}

#[test]
fn functions_lists_by_pattern_and_tier() {
    let dir = quickstart_copy();
    declare(dir.path());
    let canon_tier = ok(canon(
        dir.path(),
        &["functions", "stable", "--tier", "canon", "--format", "csv"],
        None,
    ));
    let names: Vec<&str> = canon_tier
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["stable_hash64", "stable_id"]);

    let macros = ok(canon(dir.path(), &["functions", "--tier", "macro"], None));
    assert!(macros.contains("| with_tip | scalar | macro |"), "{macros}");
    assert!(macros.contains("fare Float64, tip Float64"), "{macros}");
    assert!(macros.contains("Fare with a tip share added"), "{macros}");

    let like = ok(canon(
        dir.path(),
        &["functions", "date_tr_nc", "--format", "csv"],
        None,
    ));
    assert!(
        like.lines().skip(1).all(|l| l.starts_with("date_trunc,")),
        "{like}"
    );
    assert!(like.lines().count() > 1, "{like}");

    let none = ok(canon(dir.path(), &["functions", "no_such_function"], None));
    assert_eq!(none, "no functions match\n");

    let used = ok(canon(
        dir.path(),
        &[
            "query",
            "SELECT with_tip(10.0, 0.15) AS total",
            "--format",
            "csv",
        ],
        None,
    ));
    assert_eq!(used, "total\n11.5\n");
}

#[test]
fn execute_runs_a_declared_statement_with_parameters() {
    let dir = quickstart_copy();
    declare(dir.path());
    let sql = ok(canon(
        dir.path(),
        &[
            "query",
            "SELECT count(*) AS n FROM trips WHERE year = 2024 AND payment = 'card'",
            "--format",
            "csv",
        ],
        None,
    ));
    let executed = ok(canon(
        dir.path(),
        &[
            "query",
            "--execute",
            "trips_in",
            "--param",
            "2024",
            "--param",
            "card",
            "--format",
            "csv",
        ],
        None,
    ));
    assert_eq!(executed, sql);

    let wrong = canon(
        dir.path(),
        &[
            "query",
            "--execute",
            "trips_in",
            "--param",
            "twenty",
            "--param",
            "card",
        ],
        None,
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("parameter $1 of `trips_in` is Int32; `twenty` cannot be used"),
        "{}",
        stderr(&wrong)
    );
    let count = canon(
        dir.path(),
        &["query", "--execute", "trips_in", "--param", "2024"],
        None,
    );
    assert_eq!(count.status.code(), Some(1));
    assert!(
        stderr(&count).contains("`trips_in` takes 2 parameter(s)"),
        "{}",
        stderr(&count)
    );
    let unknown = canon(dir.path(), &["query", "--execute", "nope"], None);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no prepared statement `nope` in this session; known: "),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn analyze_shows_the_plan_metrics_and_the_predicate_cache() {
    let dir = quickstart_copy();
    let out = ok(canon(
        dir.path(),
        &[
            "query",
            "SELECT id, fare FROM trips WHERE fare > 70 ORDER BY id",
            "--analyze",
            "--format",
            "csv",
        ],
        None,
    ));
    assert!(out.starts_with("id,fare\n"), "{out}");
    assert!(out.contains("\nplan with metrics:\n"), "{out}");
    assert!(out.contains("DataSourceExec: "), "{out}");
    let metrics = out
        .split("\nparquet scan metrics:\n")
        .nth(1)
        .unwrap_or_default();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in:\n{out}"))
    };
    assert!(value("predicate_cache_inner_records") > 0);
    assert!(value("predicate_cache_records") > 0);
    let rows = out
        .split("\n\nplan with metrics:")
        .next()
        .unwrap_or_default()
        .lines()
        .count()
        - 1;
    assert_eq!(value("pushdown_rows_matched"), rows as u64);
}

#[test]
fn cache_shows_each_cache_with_its_limits() {
    let dir = quickstart_copy();
    let out = ok(canon(dir.path(), &["cache"], None));
    assert!(out.contains("list_files_cache(): 2 entries\n"), "{out}");
    assert!(out.contains("metadata_cache(): 3 entries\n"), "{out}");
    // Registration read the footers, but leaves file statistics to a table's first scan.
    assert!(out.contains("statistics_cache(): 0 entries\n"), "{out}");
    // The quickstart's profile: metadata = "64MiB", list_files = "1MiB", ttl 60s.
    assert!(out.contains("| 67108864    |"), "{out}");
    assert!(out.contains("| 1048576     | 60000  |"), "{out}");
}
