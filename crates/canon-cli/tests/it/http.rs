//! `canon serve --http` as a real process, with Python's `requests` as the client: results
//! as Arrow (2 M rows streamed into pyarrow), JSON and CSV equal to `canon query`'s, every
//! error status, the catalog, the lineage graph and the recent statements.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::serve::{AGGREGATE, JOIN, LONG, POINT, TOKEN, expected};
use crate::{canon, ok, python, quickstart_copy};

/// The client: `requests`, one mode per scenario; prints one JSON object.
const CLIENT: &str = r#"
import json, os, socket, sys
import requests

base, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
token = os.environ["TOKEN"]
auth = {"Authorization": "Bearer " + token}

def post(path, sql, accept="application/json", headers=None, **kw):
    h = dict(auth, Accept=accept)
    h.update(headers or {})
    return requests.post(base + path, data=sql.encode(), headers=h, **kw)

def answer(r):
    return {"status": r.status_code, "type": r.headers.get("content-type"), "body": r.text}

out = {}
if mode == "formats":
    import pyarrow as pa, pyarrow.compute as pc
    with post("/api/sql", args[0], accept="application/vnd.apache.arrow.stream", stream=True) as r:
        out["arrow_status"] = r.status_code
        out["arrow_type"] = r.headers.get("content-type")
        reader = pa.ipc.open_stream(r.raw)
        batches, rows, total = 0, 0, 0
        for batch in reader:
            batches += 1
            rows += batch.num_rows
            total += pc.sum(batch.column(0)).as_py() or 0
        out["arrow"] = {"batches": batches, "rows": rows, "sum": total,
                        "schema": [[f.name, str(f.type)] for f in reader.schema]}
    out["json"] = [post("/api/sql", sql).json() for sql in args[1:]]
    out["ndjson"] = [[json.loads(l) for l in post("/api/sql", sql, accept="application/x-ndjson").text.splitlines()] for sql in args[1:]]
    out["csv"] = [post("/api/sql", sql, accept="text/csv").text for sql in args[1:]]
elif mode == "errors":
    out["no_token"] = answer(requests.post(base + "/api/sql", data=b"SELECT 1"))
    out["wrong_token"] = answer(requests.post(base + "/api/sql", data=b"SELECT 1",
                                              headers={"Authorization": "Bearer nope"}))
    out["syntax"] = answer(post("/api/sql", "SELEC 1"))
    out["unknown_table"] = answer(post("/api/sql", "SELECT * FROM nowhere"))
    out["policy"] = answer(post("/api/sql", "CREATE TABLE scratch AS SELECT 1 AS x"))
    out["timeout"] = answer(post("/api/sql", args[0]))
    out["not_acceptable"] = answer(post("/api/sql", "SELECT 1", accept="image/png"))
    out["csv_nested"] = answer(post("/api/sql", "SELECT make_array(1, 2) AS xs", accept="text/csv"))
    out["no_endpoint"] = answer(requests.get(base + "/api/nope", headers=auth))
    out["after"] = post("/api/sql", "SELECT 1 AS one").json()
elif mode == "limit":
    # One connection held open takes the only place; the next one is refused.
    host, port = base.removeprefix("http://").split(":")
    held = socket.create_connection((host, int(port)))
    out["refused"] = answer(post("/api/sql", "SELECT 1"))
    held.close()
elif mode == "session":
    first = post("/api/sql", "SET datafusion.explain.show_statistics = true",
                 headers={"Canon-Session": "new"})
    named = first.headers["canon-session"]
    out["unnamed"] = "canon-session" in post("/api/sql", "SELECT 1").headers
    out["unknown"] = answer(post("/api/sql", "SELECT 1", headers={"Canon-Session": "nope"}))
    out["same"] = post("/api/sql", "SHOW datafusion.explain.show_statistics",
                       headers={"Canon-Session": named}).json()
    out["fresh"] = post("/api/sql", "SHOW datafusion.explain.show_statistics").json()
elif mode == "one":
    out = answer(post("/api/sql", args[0]))
elif mode == "tls":
    cert = args[0]
    r = requests.post(base + "/api/sql", data=b"SELECT 1 AS one",
                      headers=dict(auth, Accept="application/json"), verify=cert)
    out["secure"] = {"status": r.status_code, "body": r.json()}
    try:
        requests.post(base.replace("https://", "http://") + "/api/sql", data=b"SELECT 1",
                      headers=auth, timeout=10)
        out["plain"] = None
    except Exception as e:
        out["plain"] = type(e).__name__
elif mode == "catalog":
    get = lambda path: requests.get(base + path, headers=auth)
    out["datasets"] = get("/api/datasets").json()
    out["trips"] = get("/api/datasets/trips").json()
    out["missing"] = answer(get("/api/datasets/nope"))
    out["lineage"] = get("/api/lineage").json()
    for sql in args:
        post("/api/sql", sql)
    out["queries"] = get("/api/queries?limit=1").json()
print(json.dumps(out), flush=True)
"#;

/// A running `canon serve --http`, killed when the test ends.
pub(crate) struct Http {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
}

impl Http {
    /// Starts `canon serve --http` in `dir` with the test token, on a port the system picks.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canon"))
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(extra)
            .current_dir(dir)
            .env_remove("CANON_PROJECT")
            .env("CANON_SERVER_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn canon serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the address line");
        let Some(base) = line.trim().strip_prefix("canon serve: HTTP on ") else {
            let _ = child.kill();
            panic!("no address line: {line:?}");
        };
        Self {
            base: base.to_string(),
            child,
        }
    }

    /// Stops the server and returns what it wrote on standard error.
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        }
        err
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(python: &Path, base: &str, mode: &str, args: &[&str]) -> Value {
    let mut all = vec![base, mode];
    all.extend_from_slice(args);
    let printed = crate::run_python(python, CLIENT, &all, &[("TOKEN", TOKEN.to_string())]);
    serde_json::from_str(printed.trim()).expect("client output is JSON")
}

#[test]
fn results_stream_as_arrow_json_and_csv_equal_to_canon_query() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let http = Http::start(dir.path(), &[]);
    let big = "SELECT value AS n, value % 7 AS m FROM generate_series(1, 2000000)";
    let out = client(
        &python,
        &http.base,
        "formats",
        &[big, AGGREGATE, POINT, JOIN],
    );
    assert_eq!(out["arrow_status"], 200, "{out}");
    assert_eq!(out["arrow_type"], "application/vnd.apache.arrow.stream");
    let arrow = &out["arrow"];
    assert_eq!(arrow["rows"], 2_000_000, "{arrow}");
    assert_eq!(arrow["sum"], 2_000_001_000_000_u64, "{arrow}");
    assert!(arrow["batches"].as_u64().is_some_and(|b| b > 1), "{arrow}");
    for (i, sql) in [AGGREGATE, POINT, JOIN].iter().enumerate() {
        let rows = expected(dir.path(), sql);
        assert_eq!(out["json"][i], rows, "{sql}");
        assert_eq!(out["ndjson"][i], rows, "{sql}");
        let csv = ok(canon(dir.path(), &["query", "--format", "csv", sql], None));
        assert_eq!(out["csv"][i], csv.as_str(), "{sql}");
    }
}

#[test]
fn every_error_has_its_status_and_none_shows_the_token() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let http = Http::start(dir.path(), &["--statement-timeout", "1s"]);
    let out = client(&python, &http.base, "errors", &[LONG]);
    for (case, status, says) in [
        ("no_token", 401, "authentication required"),
        ("wrong_token", 401, "invalid credentials"),
        ("syntax", 400, "SELEC"),
        ("unknown_table", 400, "nowhere"),
        ("policy", 403, "policy"),
        ("timeout", 504, "statement timeout of 1s"),
        ("not_acceptable", 406, "image/png"),
        ("csv_nested", 406, "CSV cannot hold column `xs`"),
        ("no_endpoint", 404, "/api/nope"),
    ] {
        let answer = &out[case];
        assert_eq!(answer["status"], status, "{case}: {answer}");
        assert_eq!(answer["type"], "application/json", "{case}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {answer}"));
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{case}: {body}");
    }
    // A bad statement shows its line and a caret, as the CLI does.
    let cli = canon(dir.path(), &["query", "SELEC 1"], None);
    let syntax: Value =
        serde_json::from_str(out["syntax"]["body"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(
        syntax["error"].as_str().map(str::trim_end),
        Some(crate::stderr(&cli).trim_end().trim_start_matches("error: "))
    );
    assert_eq!(out["after"], serde_json::json!([{ "one": 1 }]));
    let printed = out.to_string();
    let logged = http.stop();
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(!logged.contains(TOKEN), "{logged}");

    let http = Http::start(dir.path(), &["--max-connections", "1"]);
    let out = client(&python, &http.base, "limit", &[]);
    assert_eq!(out["refused"]["status"], 503, "{out}");
    assert!(
        out["refused"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("maximum of 1 connections")),
        "{out}"
    );
}

#[test]
fn a_session_header_continues_a_session() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let project = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&project).expect("read project");
    let text = text.replace("allow_statements = false", "allow_statements = true");
    std::fs::write(&project, text).expect("write project");
    let http = Http::start(dir.path(), &[]);
    let out = client(&python, &http.base, "session", &[]);
    let value = |v: &Value| v[0]["value"].as_str().map(str::to_string);
    assert_eq!(value(&out["same"]).as_deref(), Some("true"), "{out}");
    assert_eq!(value(&out["fresh"]).as_deref(), Some("false"), "{out}");
    // A session is kept only when asked for, and a name that is not one is refused.
    assert_eq!(out["unnamed"], false, "{out}");
    assert_eq!(out["unknown"]["status"], 404, "{out}");
    assert!(
        out["unknown"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Canon-Session: new")),
        "{out}"
    );
}

#[test]
fn the_catalog_lineage_and_recent_statements_answer_as_json() {
    let Some(python) = python() else { return };
    let (_dir, project) = crate::models::example_copy();
    let http = Http::start(&project, &[]);
    let statements = ["SELECT count(*) AS n FROM trips", "SELECT * FROM nowhere"];
    let out = client(&python, &http.base, "catalog", &statements);

    let datasets = out["datasets"]["datasets"].as_array().expect("datasets");
    let kind = |name: &str| {
        datasets
            .iter()
            .find(|d| d["name"] == name)
            .map(|d| d["kind"].clone())
    };
    assert_eq!(kind("trips"), Some("dataset".into()), "{datasets:?}");
    assert_eq!(kind("daily_fares"), Some("table".into()));
    assert_eq!(kind("zone_names"), Some("view".into()));
    assert_eq!(kind("canon.datasets"), Some("system".into()));

    let trips = &out["trips"];
    let columns: Vec<&str> = trips["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["id", "pickup_at", "zone_id", "payment", "fare", "year"]
    );
    assert!(
        trips["ddl"]
            .as_str()
            .is_some_and(|d| d.starts_with("CREATE EXTERNAL TABLE")),
        "{trips}"
    );
    assert!(trips["describe"].is_array(), "{trips}");
    assert_eq!(out["missing"]["status"], 404);

    let lineage = &out["lineage"];
    let edges = lineage["edges"].as_array().expect("edges");
    for (from, to) in [
        ("daily_zone_fares", "daily_fares"),
        ("zone_names", "daily_fares"),
        ("trips", "trips_clean"),
    ] {
        assert!(
            edges.iter().any(|e| e["from"] == from && e["to"] == to),
            "{from} -> {to} missing: {edges:?}"
        );
    }
    let columns = lineage["columns"].as_array().expect("column edges");
    assert!(
        columns.iter().any(|c| c["from"]["table"] == "trips"
            && c["from"]["column"] == "fare"
            && c["to"]["table"] == "trips_clean"
            && c["kind"] == "transformed"),
        "{columns:?}"
    );

    let queries = out["queries"]["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), 1, "{queries:?}");
    let counted = &queries[0];
    assert_eq!(counted["statement"], statements[0], "{counted}");
    assert_eq!(counted["protocol"], "http");
    assert_eq!(counted["user"], "token", "{counted}");
    assert_eq!(counted["rows"], 1);
    assert!(
        counted["fingerprint"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );
    assert!(counted["duration_ms"].is_u64(), "{counted}");
}

#[test]
fn https_serves_clients_that_trust_the_certificate_and_refuses_plain_http() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    crate::run_python(
        &python,
        crate::serve::SELF_SIGNED,
        &[&certs.to_string_lossy()],
        &[],
    );
    let cert = certs.join("cert.pem").to_string_lossy().into_owned();
    let key = certs.join("key.pem").to_string_lossy().into_owned();
    let http = Http::start(dir.path(), &["--tls-cert", &cert, "--tls-key", &key]);
    assert!(http.base.starts_with("https://127.0.0.1:"), "{}", http.base);
    let out = client(&python, &http.base, "tls", &[&cert]);
    assert_eq!(out["secure"]["status"], 200, "{out}");
    assert_eq!(out["secure"]["body"], serde_json::json!([{ "one": 1 }]));
    assert!(out["plain"].is_string(), "plain HTTP was answered: {out}");
}

#[test]
fn a_model_built_while_serving_is_read_without_a_restart() {
    let Some(python) = python() else { return };
    let (_dir, project) = crate::models::example_copy();
    let http = Http::start(&project, &[]);
    let sql = "SELECT day, zone, trips, fare FROM daily_fares ORDER BY day, zone";
    let before = client(&python, &http.base, "one", &[sql]);
    assert_eq!(before["status"], 400, "{before}");
    assert!(
        before["body"]
            .as_str()
            .is_some_and(|b| b.contains("is not built")),
        "{before}"
    );
    ok(canon(&project, &["build"], None));
    let after = client(&python, &http.base, "one", &[sql]);
    assert_eq!(after["status"], 200, "{after}");
    let rows: Value =
        serde_json::from_str(after["body"].as_str().unwrap_or_default()).expect("JSON rows");
    assert_eq!(rows, expected(&project, sql));
}
