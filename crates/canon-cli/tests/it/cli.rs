//! Subcommands, output formats, exit statuses and error texts.

use crate::{canon, ok, quickstart_copy, stderr, stdout};

#[test]
fn query_prints_a_table() {
    let dir = quickstart_copy();
    let out = ok(canon(
        dir.path(),
        &[
            "query",
            "SELECT count(*) AS n, count(DISTINCT year) AS years FROM trips",
        ],
        None,
    ));
    assert_eq!(
        out,
        "+------+-------+\n| n    | years |\n+------+-------+\n| 6000 | 3     |\n+------+-------+\n"
    );
}

#[test]
fn formats_csv_json_ndjson() {
    let dir = quickstart_copy();
    let sql = "SELECT zone_id, zone FROM zones WHERE zone_id <= 2 ORDER BY zone_id";
    let csv = ok(canon(dir.path(), &["query", sql, "--format", "csv"], None));
    assert_eq!(csv, "zone_id,zone\n1,Midtown\n2,Upper West Side\n");

    let json = ok(canon(dir.path(), &["query", sql, "--format", "json"], None));
    let rows: serde_json::Value = serde_json::from_str(&json).expect("json output parses");
    assert_eq!(
        rows,
        serde_json::json!([{"zone_id": 1, "zone": "Midtown"}, {"zone_id": 2, "zone": "Upper West Side"}])
    );

    let ndjson = ok(canon(
        dir.path(),
        &["query", sql, "--format", "ndjson"],
        None,
    ));
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line parses"))
        .collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"zone_id": 1, "zone": "Midtown"}),
            serde_json::json!({"zone_id": 2, "zone": "Upper West Side"})
        ]
    );
}

#[test]
fn script_runs_each_statement_in_order_in_one_session() {
    let dir = quickstart_copy();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "SELECT count(*) AS n FROM trips WHERE year = 2024;\n\
         -- a comment between statements\n\
         SELECT min(zone_id) AS lo, max(zone_id) AS hi FROM zones;\n",
    )
    .expect("write script");
    let out = ok(canon(
        dir.path(),
        &["query", "-f", "script.sql", "--format", "csv"],
        None,
    ));
    assert_eq!(out, "n\n2000\n\nlo,hi\n1,6\n");
}

#[test]
fn policy_refusal_exits_1_and_names_the_rule() {
    let dir = quickstart_copy();
    let out = canon(dir.path(), &["query", "CREATE TABLE t AS SELECT 1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("SQL policy refuses DDL (policy.allow_ddl = false)"),
        "{}",
        stderr(&out)
    );
    let out = canon(
        dir.path(),
        &["query", "INSERT INTO zones VALUES (7, 'Bronx', 'Fordham')"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("policy.allow_dml = false"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn project_errors_exit_2_with_file_line_and_key() {
    let dir = quickstart_copy();
    let file = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&file).expect("read project");
    std::fs::write(
        &file,
        text.replace(
            "type = \"Int32\", nullable = false },\n  { name = \"payment\"",
            "type = \"Int33\", nullable = false },\n  { name = \"payment\"",
        ),
    )
    .expect("write project");
    let out = canon(dir.path(), &["query", "SELECT 1"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("canon.toml:43:30:"), "{err}");
    assert!(
        err.contains("dataset[trips].columns[2].type: `Int33` is not an Arrow type name"),
        "{err}"
    );

    let missing = canon(dir.path(), &["-p", "nowhere.toml", "profile"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read project file nowhere.toml"));
}

#[test]
fn registration_failure_exits_2_and_names_dataset_and_file() {
    let dir = quickstart_copy();
    // A zones file in the trips tree: a parquet-named file that lacks the contract columns.
    let stray = dir.path().join("data/trips/year=2026");
    std::fs::create_dir_all(&stray).expect("mkdir");
    std::fs::copy(
        dir.path().join("data/trips/year=2023/part-0.parquet"),
        stray.join("part-0.parquet"),
    )
    .expect("copy");
    let bad = canon::datafusion::arrow::array::RecordBatch::try_from_iter([(
        "other",
        std::sync::Arc::new(canon::datafusion::arrow::array::Int32Array::from(vec![1])) as _,
    )])
    .expect("batch");
    let file = std::fs::File::create(stray.join("part-1.parquet")).expect("create");
    let mut writer =
        canon::datafusion::parquet::arrow::ArrowWriter::try_new(file, bad.schema(), None)
            .expect("writer");
    writer.write(&bad).expect("write");
    writer.close().expect("close");

    let out = canon(dir.path(), &["query", "SELECT count(*) FROM zones"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("dataset `trips`"), "{err}");
    assert!(
        err.contains("year=2026/part-1.parquet: column `id` is missing"),
        "{err}"
    );
    assert!(!err.contains("dataset `zones`"), "{err}");
}

#[test]
fn ddl_is_byte_identical_across_runs_and_is_real_datafusion_ddl() {
    let dir = quickstart_copy();
    let first = ok(canon(dir.path(), &["ddl"], None));
    let second = ok(canon(dir.path(), &["ddl"], None));
    assert_eq!(first, second);
    assert!(
        first.contains(
            "STORED AS PARQUET\nPARTITIONED BY (year)\nWITH ORDER (\"pickup_at\" ASC NULLS LAST)\n"
        ),
        "{first}"
    );

    // The canonical DDL is DataFusion's own DDL: it runs in a plain DataFusion session
    // that has Canon's `ARROW('<type>')` type planner plugged in and the project directory
    // registered as the store of `project:///` locations.
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let count = rt.block_on(async {
        let state = canon::datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .with_type_planner(std::sync::Arc::new(canon::contract::ArrowTypePlanner))
            .build();
        let ctx = canon::datafusion::prelude::SessionContext::new_with_state(state);
        let root =
            canon::datafusion::object_store::local::LocalFileSystem::new_with_prefix(dir.path())
                .expect("project store");
        let url = canon::datafusion::execution::object_store::ObjectStoreUrl::parse("project://")
            .expect("store URL");
        ctx.register_object_store(url.as_ref(), std::sync::Arc::new(root));
        for statement in first.split(";\n").filter(|s| !s.trim().is_empty()) {
            ctx.sql(statement)
                .await
                .expect("DDL plans")
                .collect()
                .await
                .expect("DDL runs");
        }
        let batches = ctx
            .sql("SELECT count(*) FROM trips JOIN zones USING (zone_id)")
            .await
            .expect("query")
            .collect()
            .await
            .expect("collect");
        canon::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string()
    });
    assert!(count.contains("| 6000 "), "{count}");
    assert!(
        first.contains("LOCATION 'project:///data/trips/'"),
        "{first}"
    );

    // A zoned timestamp has no SQL spelling that names its zone.
    assert!(
        first.contains("  \"pickup_at\" ARROW('Timestamp(µs, \"UTC\")') NOT NULL,\n"),
        "{first}"
    );

    let one = ok(canon(dir.path(), &["ddl", "zones"], None));
    assert!(
        one.starts_with("CREATE EXTERNAL TABLE \"zones\" ("),
        "{one}"
    );
    let unknown = canon(dir.path(), &["ddl", "nope"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no dataset `nope`"));
}

#[test]
fn describe_shows_schema_and_notes() {
    let dir = quickstart_copy();
    let out = ok(canon(dir.path(), &["describe", "trips"], None));
    assert!(
        out.contains("\n  payment    Utf8                  NOT NULL\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  year       Int32                 NOT NULL  (partition)\n"),
        "{out}"
    );
    assert!(out.contains("\n  fare       Float64\n"), "{out}");
    assert!(
        out.contains("column `payment`: DDL type VARCHAR plans as Utf8View"),
        "{out}"
    );
}

#[test]
fn profile_fingerprint_is_stable_and_tracks_knobs() {
    let dir = quickstart_copy();
    let first = ok(canon(dir.path(), &["profile"], None));
    assert_eq!(first, ok(canon(dir.path(), &["profile"], None)));
    assert!(
        first.contains("canon.memory_limit                             1073741824"),
        "{first}"
    );

    let file = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        text.replace("batch_size = 8192", "batch_size = 4096"),
    )
    .expect("write");
    let changed = ok(canon(dir.path(), &["profile"], None));
    let fingerprint = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_ne!(fingerprint(&first), fingerprint(&changed));
}

#[test]
fn shell_reads_statements_from_input() {
    let dir = quickstart_copy();
    let input = "SELECT count(*) AS n\nFROM zones;\n\\d\nSELECT nope;\nSELECT 2 AS two;\n\\q\n";
    let out = canon(dir.path(), &["shell", "--format", "csv"], Some(input));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("n\n6\n"), "{text}");
    assert!(text.contains("trips  (parquet, "), "{text}");
    assert!(text.contains("two\n2\n"), "{text}");
    assert!(
        stderr(&out).contains("error: "),
        "the failing statement is reported and the shell goes on"
    );
}

#[test]
fn diagnostics_file_gets_json_lines() {
    let dir = quickstart_copy();
    ok(canon(
        dir.path(),
        &["--diagnostics", "events.jsonl", "query", "SELECT 1"],
        None,
    ));
    let log = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("log written");
    let kinds: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json line")["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "profile_built",
            "dataset_registered",
            "dataset_registered",
            "query_planned",
            "query_finished"
        ]
    );
}
