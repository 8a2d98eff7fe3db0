//! `canon serve --postgres` as a real process, with psycopg as the client: answers equal
//! to `canon query` over the simple and the extended protocol, parameters, SCRAM,
//! refusals on a connection that stays usable, transactions Canon cannot honour, limits
//! and shutdown.

use serde_json::Value;

use crate::serve::{AGGREGATE, JOIN, LONG, POINT, Served, TOKEN, events, expected};
use crate::{python, quickstart_copy};

/// The client: psycopg 3, one mode per scenario.
const CLIENT: &str = r#"
import json, os, sys
import psycopg

addr, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
host, port = addr.rsplit(":", 1)
token = os.environ.get("TOKEN", "")

def connect(password=None, **kwargs):
    return psycopg.connect(host=host, port=int(port), user="bo", dbname="anything",
                           password=token if password is None else password,
                           sslmode="disable", connect_timeout=10, **kwargs)

def rows(cur, sql, params=None):
    cur.execute(sql, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]

def error(work):
    try:
        work()
        return None
    except Exception as e:
        return f"{getattr(e, 'sqlstate', None)}: {e}"

out = {}
if mode == "queries":
    with connect(autocommit=True) as conn:
        out["extended"] = [rows(conn.cursor(), sql) for sql in args]
        out["simple"] = [rows(psycopg.ClientCursor(conn), sql) for sql in args]
        out["params"] = [rows(conn.cursor(), "SELECT id, fare FROM trips WHERE id = %s", (n,)) for n in (42, 7)]
        out["server_version"] = conn.info.server_version
elif mode == "transaction":
    with connect() as conn:
        out["rows"] = rows(conn.cursor(), args[0])
        conn.rollback()
        out["after"] = rows(conn.cursor(), args[0])
elif mode == "refused":
    out["wrong_password"] = error(lambda: connect(password="not-the-token").close())
elif mode == "statement":
    def work():
        with connect(autocommit=True) as conn:
            out["error"] = error(lambda: rows(conn.cursor(), args[0]))
            out["after"] = error(lambda: rows(conn.cursor(), "SELECT 1 AS one"))
    refused = error(work)
    if refused is not None:
        out["error"] = refused
print(json.dumps(out, default=str), flush=True)
"#;

fn client(python: &std::path::Path, served: &Served, mode: &str, args: &[&str]) -> Value {
    let mut all = vec![served.postgres.as_str(), mode];
    all.extend_from_slice(args);
    let printed = crate::run_python(python, CLIENT, &all, &[("TOKEN", TOKEN.to_string())]);
    serde_json::from_str(printed.trim()).expect("client output is JSON")
}

#[test]
fn answers_equal_canon_query_over_both_protocols_with_scram_and_parameters() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let log = dir.path().join("events.jsonl");
    let events_arg = log.to_string_lossy().into_owned();
    let served = Served::start(dir.path(), &["--diagnostics", &events_arg], Some(TOKEN));
    let out = client(&python, &served, "queries", &[AGGREGATE, POINT, JOIN]);
    for (i, sql) in [AGGREGATE, POINT, JOIN].into_iter().enumerate() {
        let want = expected(dir.path(), sql);
        assert_eq!(out["extended"][i], want, "extended: {sql}");
        assert_eq!(out["simple"][i], want, "simple: {sql}");
    }
    for (i, id) in [42, 7].into_iter().enumerate() {
        let literal = format!("SELECT id, fare FROM trips WHERE id = {id}");
        assert_eq!(out["params"][i], expected(dir.path(), &literal));
    }
    assert!(
        out["server_version"].as_i64().is_some_and(|v| v >= 160000),
        "{out}"
    );

    // One session for the connection, opened for the user psycopg gave, and the
    // parameterized query ran as one of Canon's prepared statements.
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
    let records = events(&log);
    let opened: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "session_opened")
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["protocol"], "postgres");
    assert_eq!(opened[0]["user"], "bo");
    let executed = records
        .iter()
        .filter(|r| r["kind"] == "statement_executed" && r["session"] == opened[0]["session"])
        .count();
    assert_eq!(executed, 2, "two executions of the parameterized query");
}

#[test]
fn wrong_passwords_are_refused() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let out = client(&python, &served, "refused", &[]);
    let message = out["wrong_password"].as_str().expect("refused");
    assert!(
        message
            .to_lowercase()
            .contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains(TOKEN));
}

#[test]
fn refusals_and_bad_sql_leave_the_connection_usable() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let ddl = client(
        &python,
        &served,
        "statement",
        &["CREATE TABLE t AS SELECT 1 AS x"],
    );
    let message = ddl["error"].as_str().expect("DDL refused");
    assert!(
        message.starts_with("42501") && message.contains("allow_ddl"),
        "{message}"
    );
    assert_eq!(ddl["after"], Value::Null, "{ddl}");
    let typo = client(&python, &served, "statement", &["SELEC 1"]);
    let message = typo["error"].as_str().expect("typo refused");
    assert!(message.starts_with("42601"), "{message}");
    assert_eq!(typo["after"], Value::Null, "{typo}");
}

#[test]
fn transactions_without_writes_roll_back_and_reads_go_on() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let sql = "SELECT count(*) AS n FROM zones";
    let out = client(&python, &served, "transaction", &[sql]);
    let want = expected(dir.path(), sql);
    assert_eq!(out["rows"], want);
    assert_eq!(out["after"], want);
}

#[test]
fn the_statement_timeout_cancels_a_long_query_and_shutdown_exits_0() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &["--statement-timeout", "1s"], Some(TOKEN));
    let out = client(&python, &served, "statement", &[LONG]);
    let message = out["error"].as_str().expect("cancelled");
    assert!(
        message.starts_with("57014") && message.contains("statement timeout of 1s"),
        "{message}"
    );
    assert_eq!(out["after"], Value::Null, "{out}");
    let (code, rest) = served.terminate();
    assert_eq!(code, Some(0));
    assert!(rest.contains("canon serve: stopped"), "{rest}");
}
