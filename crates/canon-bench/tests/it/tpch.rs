//! TPC-H's 22 queries give Canon's answers and plain DataFusion's alike, with the
//! generated project's keys and orders declared and without any; DuckDB, timed in the same
//! rounds through the script's `--serve` loop, beside them; and the single kernels of
//! `benchmarks/kernels` over the same tables, as `canon-bench statements` runs them.

use std::process::Command;

use crate::{test_python, tpcgen};

#[test]
fn every_tpch_answer_is_plain_datafusions() {
    let Some(python) = test_python() else {
        return;
    };
    let tpcgen = tpcgen(&python);
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("sf0.01");
    let generated = Command::new(&tpcgen)
        .args([
            "tpch",
            "parquet",
            "--scale-factor",
            "0.01",
            "--parts",
            "1",
            "--no-progress",
        ])
        .arg("--output-dir")
        .arg(&data)
        .output()
        .expect("run tpcgen-cli");
    assert!(
        generated.status.success(),
        "tpcgen-cli failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    for extra in [&[][..], &["--columns-only"][..]] {
        let stdout = canon_bench(
            Command::new(env!("CARGO_BIN_EXE_canon-bench"))
                .args(["tpch", "--runs", "1", "--data"])
                .arg(&data)
                .args(extra),
        );
        // Each of the 22 queries has its row, and the rows were compared.
        for n in 1..=22 {
            assert!(
                stdout.contains(&format!("| q{n} ")),
                "q{n} missing: {stdout}"
            );
        }
        assert!(
            stdout.contains("all engines returned the same rows for every query"),
            "{stdout}"
        );
    }

    // DuckDB's rows from the script's own pass, its times from the same rounds through the
    // script's --serve loop.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/duckdb_tpch.py");
    let queries = concat!(env!("CARGO_MANIFEST_DIR"), "/queries");
    let rows = Command::new(&python)
        .arg(script)
        .arg("--data")
        .arg(&data)
        .args(["--queries", queries, "--runs", "1"])
        .output()
        .expect("run duckdb_tpch.py");
    assert!(
        rows.status.success(),
        "{}",
        String::from_utf8_lossy(&rows.stderr)
    );
    let json = dir.path().join("duckdb.json");
    std::fs::write(&json, &rows.stdout).expect("write DuckDB's rows");
    let stdout = canon_bench(
        Command::new(env!("CARGO_BIN_EXE_canon-bench"))
            .args([
                "tpch", "--runs", "2", "--query", "q1", "--query", "q18", "--data",
            ])
            .arg(&data)
            .arg("--duckdb")
            .arg(&json)
            .arg("--duckdb-python")
            .arg(&python),
    );
    assert!(
        stdout.contains("threads), timed in the same rounds"),
        "{stdout}"
    );
    assert!(
        stdout.contains("all engines returned the same rows for every query"),
        "{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("| query"))
        .expect("the table's header");
    assert!(
        header.contains("| duckdb ") && header.contains("duck paired"),
        "{header}"
    );
    for query in ["q1", "q18"] {
        assert_duckdb_timed(&stdout, query);
    }

    // A directory of statements over the same tables, in a project of its own: the TPC-H
    // project the runs above generated stays as it was.
    let project = std::fs::read_to_string(data.join("canon.toml")).expect("TPC-H project");
    let kernels = concat!(env!("CARGO_MANIFEST_DIR"), "/../../benchmarks/kernels");
    let stdout = canon_bench(
        Command::new(env!("CARGO_BIN_EXE_canon-bench"))
            .args(["statements", "--runs", "1", "--queries", kernels, "--data"])
            .arg(&data)
            .arg("--duckdb-python")
            .arg(&python),
    );
    let names: Vec<String> = std::fs::read_dir(kernels)
        .expect("kernels directory")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    for name in &names {
        assert_duckdb_timed(&stdout, name);
    }
    assert!(
        stdout.contains("Canon and the plain session returned the same rows for every query"),
        "{stdout}"
    );
    assert!(data.join("canon-tables.toml").is_file());
    assert_eq!(
        std::fs::read_to_string(data.join("canon.toml")).expect("TPC-H project"),
        project
    );
}

/// Runs `canon-bench` as `command` says, failing the test with its output unless it
/// succeeds; its standard output.
fn canon_bench(command: &mut Command) -> String {
    let out = command.output().expect("run canon-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Asserts that the report's row for `name` holds DuckDB's time from the same rounds and
/// its paired ratio.
fn assert_duckdb_timed(stdout: &str, name: &str) {
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&format!("| {name} ")))
        .unwrap_or_else(|| panic!("{name} missing: {stdout}"));
    // canon, datafusion, df/canon, paired, duckdb, duckdb/canon, duck paired, …
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let duckdb_ms: f64 = cells[6].parse().unwrap_or_else(|_| panic!("{row}"));
    assert!(duckdb_ms > 0.0, "{row}");
    assert!(cells[8].ends_with('x'), "{row}");
}
