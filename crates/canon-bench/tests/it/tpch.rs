//! TPC-H's 22 queries give Canon's answers and plain DataFusion's alike, with the
//! generated project's keys and orders declared and without any.

use std::process::Command;

use crate::tpcgen;

#[test]
fn every_tpch_answer_is_plain_datafusions() {
    let Some(tpcgen) = tpcgen() else {
        return;
    };
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
        let out = Command::new(env!("CARGO_BIN_EXE_canon-bench"))
            .args(["tpch", "--runs", "1", "--data"])
            .arg(&data)
            .args(extra)
            .output()
            .expect("run canon-bench");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stdout}\n{stderr}");
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
}
