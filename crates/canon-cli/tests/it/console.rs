//! The web console of `canon serve --http` in a real browser: Debian's Chromium, driven by
//! Selenium through chromedriver (`console_check.py`), logs in, searches the catalog and
//! opens a contract, sees the model graph with its edges, runs a query, sees a policy
//! refusal and finds the query in its history. Its screenshots are left in the target
//! directory (`console-screenshots/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::http::Http;
use crate::serve::TOKEN;
use crate::{browser, stderr, stdout};

/// Where the screenshots go: beside the test binary, in the target directory.
fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .ancestors()
        .nth(2)
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    profile.join("console-screenshots")
}

#[test]
fn a_browser_logs_in_browses_the_catalog_and_lineage_and_runs_queries() {
    let Some(python) = browser() else { return };
    let (_dir, project) = crate::models::example_copy();
    let query = "SELECT zone_id, borough, zone FROM zones ORDER BY zone_id";
    let rows = crate::models::count(&project, query);
    assert!(rows > 1, "the zones have rows");
    let http = Http::start(&project, &[]);
    let shots = screenshots();
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/console_check.py");
    let output = Command::new(&python)
        .arg(&check)
        .args([http.base.as_str(), TOKEN])
        .arg(&shots)
        .args(["--dataset", "trips", "--model", "daily_fares"])
        .args(["--query", query, "--expect-rows", &rows.to_string()])
        .args(["--refused", "CREATE TABLE scratch AS SELECT 1 AS x"])
        .output()
        .expect("run console_check.py");
    let (out, err) = (stdout(&output), stderr(&output));
    let server = http.stop();
    assert!(
        output.status.success(),
        "the console check failed ({}):\n{out}\n{err}\nserver:\n{server}\nscreenshots: {}",
        output.status,
        shots.display()
    );
    for step in [
        "login", "catalog", "contract", "lineage", "query", "refusal", "history",
    ] {
        assert!(
            shots.join(format!("{step}.png")).is_file(),
            "no screenshot of {step}: {out}"
        );
    }
    assert!(!server.contains(TOKEN), "the server logged the token");
    eprintln!("console screenshots: {}", shots.display());
}

/// A project of 1,000 datasets: the catalog pages through all of them, 50 at a time, and
/// search finds one among them.
#[test]
fn a_thousand_datasets_page_and_search() {
    let Some(python) = browser() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut project = String::from("[project]\nname = \"many\"\n");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    for i in 0..1000 {
        let name = format!("d{i:04}");
        std::fs::write(
            dir.path().join(format!("data/{name}.csv")),
            format!("id,v\n{i},x\n"),
        )
        .expect("write data");
        project.push_str(&format!(
            "\n[[dataset]]\nname = \"{name}\"\nformat = \"csv\"\nlocation = \"data/{name}.csv\"\n\
             options = {{ has_header = \"true\" }}\n\
             columns = [{{ name = \"id\", type = \"Int64\" }}, {{ name = \"v\", type = \"Utf8\" }}]\n"
        ));
    }
    std::fs::write(dir.path().join("canon.toml"), project).expect("write project");
    let system = crate::models::count(
        dir.path(),
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'canon'",
    );
    let http = Http::start(dir.path(), &[]);
    let shots = screenshots().join("thousand");
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/console_check.py");
    let output = Command::new(&python)
        .arg(&check)
        .args([http.base.as_str(), TOKEN])
        .arg(&shots)
        .args(["--expect-total", &(1000 + system).to_string()])
        .args(["--dataset", "d0777"])
        .output()
        .expect("run console_check.py");
    let server = http.stop();
    assert!(
        output.status.success(),
        "the console check failed ({}):\n{}\n{}\nserver:\n{server}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
}
