//! `canon build` on the bundled example: write-audit-publish, failures and selections.

use std::path::Path;

use super::*;
use crate::{canon, ok, stderr, stdout};

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

#[test]
fn every_model_of_a_build_is_an_event_in_diagnostics() {
    let (_dir, project) = example_copy();
    let log = project.join("events.jsonl");
    let log_arg = log.to_string_lossy().into_owned();
    ok(canon(&project, &["--diagnostics", &log_arg, "build"], None));
    let text = std::fs::read_to_string(&log).expect("read the log");
    let built: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "model_built")
        .collect();
    assert_eq!(built.len(), 5, "{text}");
    let trips_clean = built
        .iter()
        .find(|e| e["model"] == "trips_clean")
        .expect("an event for trips_clean");
    assert_eq!(trips_clean["status"], "built", "{trips_clean}");
    assert_eq!(trips_clean["model_kind"], "table", "{trips_clean}");
    assert_eq!(trips_clean["rows"], 5880, "{trips_clean}");
    let view = built
        .iter()
        .find(|e| e["model"] == "zone_names")
        .expect("an event for zone_names");
    assert_eq!(view["status"], "view", "{view}");
}

#[test]
fn independent_models_build_side_by_side_up_to_the_jobs_given() {
    let (_dir, project) = example_copy();
    // What the progress lines say, in order: `start M` for `[i/n] M`, `end M` for `M: …`.
    let events = |jobs: &str| -> (Vec<String>, String) {
        let out = canon(&project, &["build", "--jobs", jobs], None);
        let progress = stderr(&out);
        let summary = ok(out);
        let events = progress
            .lines()
            .filter_map(|l| {
                if let Some((_, model)) = l.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                    Some(format!("start {model}"))
                } else {
                    // `      model: status…`; other lines (logs) are not progress.
                    let (model, _) = l.strip_prefix("      ")?.split_once(": ")?;
                    (!model.contains(' ')).then(|| format!("end {model}"))
                }
            })
            .collect();
        (events, summary)
    };
    let most_at_once = |events: &[String]| {
        let mut running = 0_i32;
        let mut most = 0;
        for e in events {
            running += if e.starts_with("start") { 1 } else { -1 };
            most = most.max(running);
        }
        most
    };
    let (one, _) = events("1");
    assert_eq!(one.len(), 10, "{one:?}");
    assert_eq!(most_at_once(&one), 1, "{one:?}");

    let (two, summary) = events("2");
    // trips_clean and zone_names read only datasets: both start before either ends.
    assert_eq!(
        &two[..2],
        ["start trips_clean", "start zone_names"],
        "{two:?}"
    );
    assert_eq!(most_at_once(&two), 2, "{two:?}");
    // A model starts only after every model it reads has ended.
    let at = |e: &str| {
        two.iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e}: {two:?}"))
    };
    for (model, reads) in [
        ("daily_zone_fares", "trips_clean"),
        ("payment_mix", "trips_clean"),
        ("daily_fares", "daily_zone_fares"),
        ("daily_fares", "zone_names"),
    ] {
        assert!(
            at(&format!("end {reads}")) < at(&format!("start {model}")),
            "{two:?}"
        );
    }
    // The summary keeps build order, whatever order the models ended in.
    let models: Vec<&str> = summary
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        models,
        [
            "trips_clean",
            "daily_zone_fares",
            "payment_mix",
            "zone_names",
            "daily_fares"
        ]
    );
}
