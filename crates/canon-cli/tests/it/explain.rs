//! `canon explain` and `canon query --dialect`: plans, lineage, fingerprints that hold
//! across processes, directories and partition counts, and canonical SQL that runs again.

use std::path::Path;

use crate::{canon, ok, quickstart_copy, stderr, stdout};

const JOIN: &str = "SELECT z.borough, count(*) AS trips, round(avg(t.fare), 2) AS avg_fare \
                    FROM trips t JOIN zones z USING(zone_id) \
                    WHERE t.year >= 2024 GROUP BY z.borough ORDER BY z.borough";

fn explain_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "--format", "json"];
    all.extend_from_slice(args);
    let out = ok(canon(dir, &all, None));
    serde_json::from_str(&out).expect("explain prints JSON")
}

fn set_partitions(dir: &Path, partitions: usize) {
    let file = dir.join("canon.toml");
    let text = std::fs::read_to_string(&file).expect("read project");
    let line = text
        .lines()
        .find(|l| l.starts_with("target_partitions"))
        .expect("quickstart sets target_partitions")
        .to_string();
    let text = text.replace(&line, &format!("target_partitions = {partitions}"));
    std::fs::write(&file, text).expect("write project");
}

#[test]
fn explain_prints_every_section() {
    let dir = quickstart_copy();
    let out = ok(canon(dir.path(), &["explain", JOIN], None));
    let titles: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect();
    assert_eq!(
        titles,
        [
            "fingerprint",
            "canonical sql",
            "lineage",
            "logical plan",
            "optimized plan",
            "physical plan"
        ],
        "{out}"
    );
    assert!(out.contains("  tables: trips, zones\n"), "{out}");
    assert!(out.contains("  borough   <- zones.borough\n"), "{out}");
    assert!(
        out.contains("  trips     <- (no source columns)\n"),
        "{out}"
    );
    assert!(out.contains("  avg_fare  <- trips.fare\n"), "{out}");
    assert!(out.contains("TableScan: trips projection=["), "{out}");
    assert!(out.contains("DataSourceExec"), "{out}");
}

#[test]
fn explain_json_holds_the_explanation() {
    let dir = quickstart_copy();
    let json = explain_json(dir.path(), &[JOIN]);
    assert_eq!(json["statement"], JOIN);
    assert_eq!(json["fingerprint"].as_str().map(str::len), Some(64));
    assert_eq!(
        json["lineage"]["tables"],
        serde_json::json!(["trips", "zones"])
    );
    assert_eq!(
        json["lineage"]["columns"],
        serde_json::json!([
            {"name": "borough", "sources": ["zones.borough"], "kinds": {"zones.borough": "copied"}},
            {"name": "trips", "sources": []},
            {"name": "avg_fare", "sources": ["trips.fare"], "kinds": {"trips.fare": "aggregated"}},
        ])
    );
    // The columns that join and group the rows are influences, in no column's sources.
    assert_eq!(
        json["lineage"]["influences"]["trips.zone_id"],
        serde_json::json!(["join"])
    );
    assert_eq!(
        json["lineage"]["influences"]["zones.borough"],
        serde_json::json!(["group", "sort"])
    );
    assert_eq!(
        json["lineage"]["influences"]["trips.year"],
        serde_json::json!(["filter"])
    );
    for key in [
        "logical_plan",
        "optimized_plan",
        "physical_plan",
        "canonical_sql",
    ] {
        assert!(json[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(json.get("metrics").is_none());

    // Sections can be chosen, in JSON as in text.
    let json = explain_json(dir.path(), &["--lineage", "--fingerprint", JOIN]);
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["fingerprint", "lineage"]);
    let lineage = ok(canon(dir.path(), &["explain", "--lineage", JOIN], None));
    assert!(lineage.starts_with("tables: trips, zones\n"), "{lineage}");
}

#[test]
fn canonical_sql_runs_again_with_the_same_rows() {
    let dir = quickstart_copy();
    let canonical = ok(canon(dir.path(), &["explain", "--sql", JOIN], None));
    assert_eq!(canonical.lines().count(), 1, "{canonical}");
    assert_ne!(canonical.trim(), JOIN);
    let original = ok(canon(dir.path(), &["query", JOIN, "--format", "csv"], None));
    let again = ok(canon(
        dir.path(),
        &["query", canonical.trim(), "--format", "csv"],
        None,
    ));
    assert_eq!(again, original);
    assert!(original.lines().count() > 2, "{original}");

    // Under another dialect the canonical SQL uses that dialect's quoting.
    let mysql = ok(canon(
        dir.path(),
        &[
            "explain",
            "--sql",
            "--dialect",
            "mysql",
            "SELECT `zone`, year FROM zones JOIN trips USING (zone_id) LIMIT 1, 2",
        ],
        None,
    ));
    assert!(mysql.contains("`year`"), "{mysql}");

    // What the unparser cannot render is reported, not invented.
    let out = canon(
        dir.path(),
        &[
            "explain",
            "--sql",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no canonical SQL for this query")
            && stderr(&out).contains("RecursiveQuery"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fingerprints_hold_across_processes_directories_and_partition_counts() {
    let first = quickstart_copy();
    let second = quickstart_copy();
    let queries = [
        JOIN,
        "SELECT payment, sum(fare) OVER (PARTITION BY zone_id ORDER BY pickup_at) AS running FROM trips",
        "SELECT zone FROM zones WHERE zone_id IN (SELECT zone_id FROM trips WHERE fare > 30) \
         UNION SELECT payment FROM trips",
    ];
    let fingerprints = |dir: &Path| -> Vec<String> {
        queries
            .iter()
            .map(|sql| ok(canon(dir, &["explain", "--fingerprint", sql], None)))
            .collect()
    };
    let base = fingerprints(first.path());
    assert!(base.iter().all(|f| f.trim().len() == 64), "{base:?}");
    assert_eq!(fingerprints(first.path()), base, "a second run");
    assert_eq!(fingerprints(second.path()), base, "another directory");
    for partitions in [1, 7] {
        set_partitions(second.path(), partitions);
        assert_eq!(
            fingerprints(second.path()),
            base,
            "target_partitions = {partitions}"
        );
    }
    let physical = |dir: &Path| explain_json(dir, &[JOIN])["physical_plan"].clone();
    set_partitions(first.path(), 1);
    assert_ne!(physical(first.path()), physical(second.path()));

    // A different query, a different fingerprint.
    let other = ok(canon(
        first.path(),
        &["explain", "--fingerprint", &JOIN.replace("2024", "2025")],
        None,
    ));
    assert_ne!(other, base[0]);
}

#[test]
fn analyze_runs_the_query_and_adds_metrics() {
    let dir = quickstart_copy();
    let out = ok(canon(dir.path(), &["explain", "--analyze", JOIN], None));
    assert!(out.contains("\nmetrics\n"), "{out}");
    assert!(out.contains("output_rows="), "{out}");
    let json = explain_json(dir.path(), &["--analyze", JOIN]);
    assert!(
        json["metrics"]
            .as_str()
            .is_some_and(|m| m.contains("elapsed_compute"))
    );
}

#[test]
fn explain_and_query_records_carry_fingerprint_and_lineage() {
    let dir = quickstart_copy();
    let fingerprint = ok(canon(dir.path(), &["explain", "--fingerprint", JOIN], None));
    ok(canon(
        dir.path(),
        &["--diagnostics", "events.jsonl", "query", JOIN],
        None,
    ));
    let log = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("log written");
    let planned: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|e| e["kind"] == "query_planned")
        .collect();
    assert_eq!(planned.len(), 1, "{log}");
    assert_eq!(planned[0]["fingerprint"], fingerprint.trim());
    assert_eq!(planned[0]["statement"], JOIN);
    assert_eq!(
        planned[0]["lineage"]["tables"],
        serde_json::json!(["trips", "zones"])
    );
}

#[test]
fn query_dialect_chooses_the_parser() {
    let dir = quickstart_copy();
    let sql = "SELECT `zone` FROM `zones` ORDER BY `zone_id` LIMIT 1, 1";
    let out = ok(canon(
        dir.path(),
        &["query", "--dialect", "mysql", sql, "--format", "csv"],
        None,
    ));
    assert_eq!(out, "zone\nUpper West Side\n");

    let out = canon(dir.path(), &["query", "--dialect", "postgres", sql], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "the postgresql dialect cannot express backtick-quoted identifiers, here: `zone`"
        ),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let out = canon(
        dir.path(),
        &["query", "--dialect", "cobol", "SELECT 1"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--dialect: "), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Invalid Dialect: cobol"),
        "{}",
        stderr(&out)
    );
}
