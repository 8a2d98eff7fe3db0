//! OpenLineage events (`[lineage] openlineage`), received by a real HTTP endpoint (Python's
//! `http.server`, started and stopped here) or written to a file, and validated against
//! OpenLineage's own JSON schemas (`openlineage/validate.py`, RunEvent 2-0-2 and each
//! facet's schema). A receiver that is down or never answers changes no answer.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::serve::AGGREGATE;
use crate::{canon, ok, python, quickstart_copy, stderr};

/// The receiver: answers 201 to POSTs on `/api/v1/lineage` and appends each body as a
/// line to the file it is given; `slow` never answers in time.
const RECEIVER: &str = r#"
import http.server, sys, time
out, mode = sys.argv[1], sys.argv[2]
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if mode == "slow":
            time.sleep(60)
        if self.path != "/api/v1/lineage" or self.headers.get("content-type") != "application/json":
            self.send_response(404)
        else:
            with open(out, "ab") as f:
                f.write(body + b"\n")
            self.send_response(201)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A running receiver, stopped when dropped.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(python: &Path, out: &Path, mode: &str) -> Self {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(RECEIVER)
            .arg(out)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("receiver stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the receiver's port");
        let port = line.trim().parse().expect("a port number");
        Self { child, port }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends a `[lineage]` section to the project in `dir`.
fn send_to(project: &Path, openlineage: &str) {
    let file = project.join("canon.toml");
    let mut text = std::fs::read_to_string(&file).expect("read project");
    text.push_str(&format!(
        "\n[lineage]\nnamespace = \"analytics\"\nopenlineage = {openlineage}\n"
    ));
    std::fs::write(&file, text).expect("write project");
}

/// `canon` in `dir` with the parent run Airflow would give.
fn canon_with_parent(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_canon"))
        .args(args)
        .current_dir(dir)
        .env_remove("CANON_PROJECT")
        .env(
            "OPENLINEAGE_PARENT_ID",
            "airflow/nightly.build/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        )
        .output()
        .expect("run canon")
}

/// Validates the events in `file` against OpenLineage's schemas; returns them.
fn validated(python: &Path, file: &Path) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/openlineage/validate.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .expect("run validate.py");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && printed.starts_with("validated "),
        "events do not validate: {printed}{}",
        stderr(&output)
    );
    std::fs::read_to_string(file)
        .expect("read events")
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event is JSON"))
        .collect()
}

/// The events of the run whose job is named `job`, in order.
fn run_of<'a>(events: &'a [Value], job: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["job"]["name"] == job).collect()
}

#[test]
fn builds_and_statements_send_runs_that_validate_against_the_spec() {
    let Some(python) = python() else { return };
    let (dir, project) = crate::models::example_copy();
    let out = dir.path().join("received.jsonl");
    let receiver = Receiver::start(&python, &out, "ok");
    let url = format!("http://127.0.0.1:{}/api/v1/lineage", receiver.port);
    send_to(
        &project,
        &format!("{{ url = \"{url}\", timeout = \"5s\" }}"),
    );

    ok(canon_with_parent(&project, &["build", "trips_clean"]));
    ok(canon(
        &project,
        &[
            "query",
            "SELECT z.borough, count(*) AS n FROM trips t JOIN zones z USING (zone_id) WHERE t.fare > 5 GROUP BY 1",
        ],
        None,
    ));
    let failed = canon(
        &project,
        &["query", "SELECT CAST(payment AS INT) AS n FROM trips"],
        None,
    );
    assert!(!failed.status.success(), "the cast fails while it runs");
    // A plan that is explained and never runs is no run: no START is left without its end.
    ok(canon(
        &project,
        &["explain", "SELECT count(*) FROM trips"],
        None,
    ));
    drop(receiver);

    let events = validated(&python, &out);
    // The model's build: START then COMPLETE, one runId, under the parent Airflow gave.
    let build = run_of(&events, "model.trips_clean");
    let types: Vec<&str> = build
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert_eq!(types, ["START", "COMPLETE"], "{build:?}");
    assert_eq!(build[0]["run"]["runId"], build[1]["run"]["runId"]);
    assert_eq!(build[0]["job"]["namespace"], "analytics");
    let parent = &build[0]["run"]["facets"]["parent"];
    assert_eq!(parent["job"]["name"], "nightly.build", "{parent}");
    assert_eq!(parent["root"]["job"]["namespace"], "airflow");

    // Datasets named by where they are, with Canon's name as a symlink.
    let trips_dir = std::fs::canonicalize(dir.path().join("quickstart/data/trips")).expect("path");
    let input = &build[1]["inputs"][0];
    assert_eq!(input["namespace"], "file");
    assert_eq!(input["name"], trips_dir.to_string_lossy().as_ref());
    let symlink = &input["facets"]["symlinks"]["identifiers"][0];
    assert_eq!(
        (&symlink["namespace"], &symlink["name"]),
        (&"analytics".into(), &"trips".into())
    );
    let output = &build[1]["outputs"][0];
    assert!(
        output["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("/build/trips_clean")),
        "{output}"
    );
    let fields: Vec<&str> = output["facets"]["schema"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(fields, ["id", "pickup_at", "zone_id", "payment", "fare"]);

    // Column lineage: `fare` is trips.fare cast to exact cents; `id` is copied; the filter
    // on fare shapes every row.
    let lineage = &output["facets"]["columnLineage"];
    let from = |column: &str| -> Vec<(String, String)> {
        lineage["fields"][column]["inputFields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                let t = &i["transformations"][0];
                (
                    format!(
                        "{}:{}",
                        i["field"].as_str().unwrap_or(""),
                        t["type"].as_str().unwrap_or("")
                    ),
                    t["subtype"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        from("fare"),
        [("fare:DIRECT".to_string(), "TRANSFORMATION".to_string())]
    );
    assert_eq!(
        from("id"),
        [("id:DIRECT".to_string(), "IDENTITY".to_string())]
    );
    let indirect: Vec<(&str, &str)> = lineage["dataset"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["field"].as_str().unwrap_or(""),
                i["transformations"][0]["subtype"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(indirect.contains(&("fare", "FILTER")), "{indirect:?}");

    // Statements: the join reads both datasets and completes; the failing cast ends in FAIL
    // with its error.
    let queries: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["job"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("query."))
        })
        .collect();
    let join = queries
        .iter()
        .find(|e| {
            e["job"]["facets"]["sql"]["query"]
                .as_str()
                .is_some_and(|q| q.contains("JOIN"))
        })
        .expect("the join's run");
    let read: Vec<&str> = join["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["facets"]["symlinks"]["identifiers"][0]["name"].as_str())
        .collect();
    assert_eq!(read, ["trips", "zones"]);
    let ends = |id: &Value| -> Vec<&str> {
        queries
            .iter()
            .filter(|e| &e["run"]["runId"] == id)
            .filter_map(|e| e["eventType"].as_str())
            .collect()
    };
    assert_eq!(ends(&join["run"]["runId"]), ["START", "COMPLETE"]);
    let fail = queries
        .iter()
        .find(|e| e["eventType"] == "FAIL")
        .expect("the cast's FAIL event");
    let message = fail["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("Cannot cast"), "{message}");
    assert_eq!(ends(&fail["run"]["runId"]), ["START", "FAIL"]);
}

#[test]
fn events_go_to_a_file_and_a_dead_or_slow_receiver_changes_no_answer() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let plain = ok(canon(dir.path(), &["query", AGGREGATE], None));

    // A file.
    let copy = quickstart_copy();
    send_to(copy.path(), "{ file = \"lineage.jsonl\" }");
    assert_eq!(ok(canon(copy.path(), &["query", AGGREGATE], None)), plain);
    let events = validated(&python, &copy.path().join("lineage.jsonl"));
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert_eq!(types, ["START", "COMPLETE"]);
    // The transport's counts after one statement's run (its START and COMPLETE), in the
    // same process; reading a system table alone is no run.
    let shell = ok(canon(
        copy.path(),
        &["shell"],
        Some(&format!(
            "{AGGREGATE};\nSELECT transport, emitted, sent, dropped FROM canon.lineage_events;\n"
        )),
    ));
    let counts: Vec<&str> = shell.lines().filter(|l| l.starts_with("| file")).collect();
    assert_eq!(
        counts,
        ["| file      | 2       | 2    | 0       |"],
        "{shell}"
    );

    // Nothing listening, then a receiver that never answers: the same answer, and the
    // dropped events counted in diagnostics.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = closed.local_addr().expect("its address").port();
    drop(closed);
    let scratch = tempfile::tempdir().expect("tempdir");
    let slow = Receiver::start(&python, &scratch.path().join("never.jsonl"), "slow");
    for (port, reason) in [
        (port, "cannot reach the receiver"),
        (slow.port, "no answer within 1s"),
    ] {
        let copy = quickstart_copy();
        let url = format!("http://127.0.0.1:{port}/api/v1/lineage");
        send_to(
            copy.path(),
            &format!("{{ url = \"{url}\", timeout = \"1s\", retries = 0 }}"),
        );
        let log = copy.path().join("events.jsonl");
        let log_arg = log.to_string_lossy().into_owned();
        let answer = ok(canon(
            copy.path(),
            &["--diagnostics", &log_arg, "query", AGGREGATE],
            None,
        ));
        assert_eq!(answer, plain);
        let text = std::fs::read_to_string(&log).expect("diagnostics log");
        let drops: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["kind"] == "lineage_events_dropped")
            .collect();
        assert!(
            drops.iter().any(|d| d["transport"] == "http"
                && d["reason"].as_str().is_some_and(|r| r.contains(reason))),
            "{reason}: {drops:?}"
        );
    }
}
