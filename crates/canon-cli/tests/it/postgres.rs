//! `canon serve --postgres` as a real process, with psycopg and psql as the clients:
//! answers equal to `canon query` over the simple and the extended protocol, parameters,
//! SCRAM, refusals on a connection that stays usable, transactions Canon cannot honour,
//! limits and shutdown, and the catalog psql's `\d` and DBeaver read.

use serde_json::Value;

use crate::serve::{AGGREGATE, JOIN, LONG, POINT, Served, TOKEN, events, expected, send_garbage};
use crate::{psql, python, quickstart_copy};

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
elif mode == "formats":
    # The same rows read as text (psycopg's default) and in binary.
    with connect(autocommit=True) as conn:
        out["text"] = [rows(conn.cursor(), sql) for sql in args]
        out["binary"] = [rows(conn.cursor(binary=True), sql) for sql in args]
elif mode == "transaction":
    with connect() as conn:
        out["rows"] = rows(conn.cursor(), args[0])
        conn.rollback()
        out["after"] = rows(conn.cursor(), args[0])
elif mode == "catalog":
    # What DBeaver reads to fill its navigator, over the extended protocol as JDBC sends it.
    with connect(autocommit=True) as conn:
        cur = conn.cursor()
        out["who"] = rows(cur, "SELECT current_schema() AS schema, session_user AS usr")
        out["search_path"] = rows(cur, "SHOW search_path")
        namespaces = rows(cur, "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n "
            "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 "
            "AND d.classoid='pg_namespace'::regclass ORDER BY nspname")
        out["namespaces"] = [n["nspname"] for n in namespaces]
        public = [n["oid"] for n in namespaces if n["nspname"] == "public"][0]
        relations = rows(cur, "select c.oid,c.*,d.description,"
            "pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr, "
            "pg_catalog.pg_get_partkeydef(c.oid) as partition_key from pg_catalog.pg_class c "
            "left outer join pg_catalog.pg_description d on d.objoid=c.oid and d.objsubid=0 "
            "and d.classoid='pg_class'::regclass where c.relnamespace=%s "
            "and c.relkind not in ('i','I','c')", (public,))
        out["relations"] = sorted([r["relname"], r["relkind"]] for r in relations)
        trips = [r["oid"] for r in relations if r["relname"] == args[0]][0]
        columns = rows(cur, "select c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) "
            "as def_value,dsc.description,dep.objid from pg_catalog.pg_attribute a "
            "inner join pg_catalog.pg_class c on (a.attrelid=c.oid) "
            "left outer join pg_catalog.pg_attrdef ad on (a.attrelid=ad.adrelid and a.attnum = ad.adnum) "
            "left outer join pg_catalog.pg_description dsc on (c.oid=dsc.objoid and a.attnum = dsc.objsubid) "
            "left outer join pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' "
            "and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid "
            "where a.attnum > 0 and NOT a.attisdropped and c.oid=%s order by a.attnum", (trips,))
        out["columns"] = [[c["attname"], c["attnotnull"]] for c in columns]
        out["information_schema"] = rows(cur, "SELECT column_name, is_nullable "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "ORDER BY ordinal_position", (args[0],))
elif mode == "copy":
    # COPY … TO STDOUT as psycopg's cursor.copy reads it: binary and text tuples typed as
    # the query's own columns, CSV as bytes, an empty result, and the refusals.
    sql = args[0]
    with connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        names = [c.name for c in cur.description]
        oids = [c.type_code for c in cur.description]
        for fmt in ("binary", "text"):
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT {fmt})") as copy:
                copy.set_types(oids)
                out[fmt] = [dict(zip(names, row)) for row in copy.rows()]
            out[fmt + "_rowcount"] = cur.rowcount
        with cur.copy(f"copy ({sql}) to stdout with csv header") as copy:
            out["csv"] = b"".join(bytes(chunk) for chunk in copy).decode()
        with cur.copy("COPY (SELECT id FROM trips WHERE id < 0) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int8"])
            out["empty"] = list(copy.rows())
        def copy_in():
            with cur.copy("COPY trips FROM STDIN") as copy:
                copy.write_row((1,))
        out["from_stdin"] = error(copy_in)
        def unknown_column():
            with cur.copy("COPY (SELECT nope FROM trips) TO STDOUT") as copy:
                list(copy)
        out["unknown_column"] = error(unknown_column)
        out["after"] = rows(cur, "SELECT 1 AS one")
elif mode == "adbc":
    # ADBC's PostgreSQL driver, as pandas and polars connect: it lists the types it can read
    # from pg_type, then reads each result with COPY … TO STDOUT (FORMAT binary).
    import adbc_driver_postgresql.dbapi as adbc
    uri = f"postgresql://bo:{token}@{host}:{port}/canon?sslmode=disable"
    with adbc.connect(uri) as conn:
        cur = conn.cursor()
        out["rows"] = []
        for sql in args:
            cur.execute(sql)
            out["rows"].append(cur.fetch_arrow_table().to_pylist())
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

/// Every type Canon encodes itself (booleans, integers, floats, strings, nulls of each)
/// beside one it leaves to arrow-pg (timestamps), over several batches.
const TYPES: &str = "SELECT id, CAST(zone_id AS SMALLINT) AS small, zone_id, \
     CAST(zone_id AS REAL) AS real_zone, fare, payment, arrow_cast(payment, 'Utf8View') AS viewed, \
     arrow_cast(payment, 'LargeUtf8') AS large, fare > 20 AS dear, \
     CASE WHEN id % 3 = 0 THEN NULL ELSE id END AS sometimes, \
     CASE WHEN id % 5 = 0 THEN NULL ELSE payment END AS maybe, \
     CASE WHEN id % 7 = 0 THEN NULL ELSE id % 2 = 0 END AS even, pickup_at \
     FROM trips ORDER BY id";

/// [`TYPES`] without its timestamp, whose JSON text differs between psycopg and `canon query`.
fn types_without_time() -> String {
    TYPES.replace(", pickup_at", "")
}

#[test]
fn text_and_binary_results_agree_with_each_other_and_canon_query() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let without_time = types_without_time();
    let out = client(&python, &served, "formats", &[TYPES, &without_time]);
    let (text, binary) = (&out["text"][0], &out["binary"][0]);
    assert_eq!(text.as_array().map(Vec::len), Some(6000));
    assert!(text == binary, "text and binary rows differ");
    // JSON text of timestamps differs from psycopg's, so canon query is compared without them.
    let want = expected(dir.path(), &without_time);
    assert!(out["text"][1] == want, "text rows differ from canon query");
    assert!(
        out["binary"][1] == want,
        "binary rows differ from canon query"
    );
    let nulls = |column: &str| {
        binary
            .as_array()
            .into_iter()
            .flatten()
            .filter(|row| row[column].is_null())
            .count()
    };
    assert_eq!(
        (
            nulls("fare"),
            nulls("sometimes"),
            nulls("maybe"),
            nulls("even")
        ),
        (120, 2000, 1200, 858)
    );
    served.terminate();
}

/// `COPY … TO STDOUT` in binary, text and CSV, read by psycopg and psql.
#[test]
fn copy_to_stdout_gives_the_querys_rows_in_every_format() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let without_time = types_without_time();
    let out = client(&python, &served, "copy", &[&without_time]);
    let want = expected(dir.path(), &without_time);
    assert!(
        out["binary"] == want,
        "binary COPY rows differ from canon query"
    );
    assert!(
        out["text"] == want,
        "text COPY rows differ from canon query"
    );
    assert_eq!(
        (&out["binary_rowcount"], &out["text_rowcount"]),
        (&6000.into(), &6000.into())
    );
    assert_eq!(out["empty"], Value::Array(Vec::new()));

    // CSV: a header of the column names, then a line per row, as psql's \copy writes it too.
    let csv = out["csv"].as_str().expect("CSV");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,small,zone_id,real_zone,fare,payment,viewed,large,dear,sometimes,maybe,even")
    );
    assert_eq!(lines.count(), 6000);
    if let Some(psql) = psql() {
        let copied = run_psql(
            &psql,
            &served,
            &format!("\\copy ({without_time}) TO STDOUT WITH (FORMAT csv, HEADER)"),
        );
        assert_eq!(copied, csv);
    }

    let refused = out["from_stdin"].as_str().expect("COPY FROM STDIN refused");
    assert!(
        refused.starts_with("0A000") && refused.contains("FROM STDIN"),
        "{refused}"
    );
    let unknown = out["unknown_column"]
        .as_str()
        .expect("unknown column refused");
    assert!(unknown.contains("nope"), "{unknown}");
    assert_eq!(out["after"], expected(dir.path(), "SELECT 1 AS one"));
    served.terminate();
}

/// ADBC's PostgreSQL driver reads results through binary COPY, typed as Arrow.
#[test]
fn adbcs_postgres_driver_reads_results_through_copy() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let without_time = types_without_time();
    let out = client(&python, &served, "adbc", &[&without_time, AGGREGATE]);
    assert!(
        out["rows"][0] == expected(dir.path(), &without_time),
        "ADBC's rows differ from canon query"
    );
    assert_eq!(out["rows"][1], expected(dir.path(), AGGREGATE));
    served.terminate();
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

/// Runs psql's `command` against the server as user `bo`, unaligned, and returns its output.
fn run_psql(psql: &std::path::Path, served: &Served, command: &str) -> String {
    let (host, port) = served.postgres.rsplit_once(':').expect("host:port");
    let output = std::process::Command::new(psql)
        .args([
            "-X",
            "-A",
            "-F",
            "|",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            command,
        ])
        .arg(format!(
            "host={host} port={port} user=bo dbname=canon sslmode=disable connect_timeout=10"
        ))
        .env("PGPASSWORD", TOKEN)
        .output()
        .expect("psql runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "psql {command}: {stderr}{stdout}");
    stdout
}

/// The columns of the quickstart's `trips` contract as Postgres names their types, with
/// whether the contract declares them non-null.
const TRIPS: [(&str, &str, bool); 6] = [
    ("id", "bigint", true),
    ("pickup_at", "timestamp with time zone", true),
    ("zone_id", "integer", true),
    ("payment", "text", true),
    ("fare", "double precision", false),
    ("year", "integer", true),
];

#[test]
fn psql_describes_the_datasets_and_canons_system_tables() {
    let Some(psql) = psql() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));

    let tables = run_psql(&psql, &served, r"\dt");
    for dataset in ["trips", "zones"] {
        assert!(
            tables
                .lines()
                .any(|l| l.starts_with(&format!("public|{dataset}|table|"))),
            "{tables}"
        );
    }
    let described = run_psql(&psql, &served, r"\d trips");
    assert!(
        described.starts_with("Table \"public.trips\""),
        "{described}"
    );
    let columns: Vec<(String, String, bool)> = described
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            match fields.as_slice() {
                [name, ty, _collation, nullable, _default] if *name != "Column" => {
                    Some((name.to_string(), ty.to_string(), *nullable == "not null"))
                }
                _ => None,
            }
        })
        .collect();
    let want: Vec<(String, String, bool)> = TRIPS
        .iter()
        .map(|(n, t, nn)| (n.to_string(), t.to_string(), *nn))
        .collect();
    assert_eq!(columns, want, "{described}");

    let system = run_psql(&psql, &served, r"\dv canon.*");
    for table in [
        "datasets",
        "diagnostics",
        "functions",
        "prepared",
        "profile",
    ] {
        assert!(
            system
                .lines()
                .any(|l| l.starts_with(&format!("canon|{table}|view|"))),
            "{system}"
        );
    }
    let schemas = run_psql(&psql, &served, r"\dn");
    assert!(
        schemas.lines().any(|l| l.starts_with("canon|")),
        "{schemas}"
    );
    assert!(
        schemas.lines().any(|l| l.starts_with("public|")),
        "{schemas}"
    );
}

#[test]
fn dbeaver_reads_schemas_tables_and_columns_from_pg_catalog() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let out = client(&python, &served, "catalog", &["trips"]);

    assert_eq!(out["who"][0]["usr"], "bo", "{out}");
    assert_eq!(out["who"][0]["schema"], "public", "{out}");
    assert_eq!(out["search_path"][0]["search_path"], "public", "{out}");
    let namespaces = out["namespaces"].as_array().expect("namespaces");
    for schema in ["canon", "public"] {
        assert!(namespaces.iter().any(|n| n == schema), "{out}");
    }
    let relations = &out["relations"];
    assert_eq!(
        relations,
        &serde_json::json!([["trips", "r"], ["zones", "r"]]),
        "{out}"
    );
    let columns: Vec<(String, bool)> = out["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c[0].as_str().unwrap_or_default().to_string(), c[1] == true))
        .collect();
    let want: Vec<(String, bool)> = TRIPS
        .iter()
        .map(|(n, _, nn)| (n.to_string(), *nn))
        .collect();
    assert_eq!(columns, want, "{out}");
    let listed: Vec<(String, bool)> = out["information_schema"]
        .as_array()
        .expect("information_schema")
        .iter()
        .map(|c| {
            (
                c["column_name"].as_str().unwrap_or_default().to_string(),
                c["is_nullable"] == "NO",
            )
        })
        .collect();
    assert_eq!(listed, want, "{out}");
}

#[test]
fn malformed_messages_do_not_take_the_server_down() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    // A startup message for user `bo`, protocol 3.0, to reach the authenticated phase's
    // framing with what follows it.
    let mut startup = Vec::new();
    let body = b"\x00\x03\x00\x00user\x00bo\x00database\x00canon\x00\x00";
    let length = u32::try_from(body.len() + 4).expect("short");
    startup.extend_from_slice(&length.to_be_bytes());
    startup.extend_from_slice(body);
    let after_startup = |tail: &[u8]| [startup.as_slice(), tail].concat();
    let cases: Vec<Vec<u8>> = vec![
        vec![0xff; 4096],
        b"\xff\xff\xff\xff\x00\x03\x00\x00".to_vec(),
        b"\x7f\xff\xff\xff\x00\x03\x00\x00".to_vec(),
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f\x16\x03\x01\xff\xff garbage".to_vec(),
        after_startup(b"p\x7f\xff\xff\xffxx"),
        after_startup(b"Q\x00\x00\x00\x02"),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    ];
    for garbage in &cases {
        send_garbage(&served.postgres, garbage);
    }
    let out = client(
        &python,
        &served,
        "statement",
        &["SELECT count(*) AS n FROM zones"],
    );
    assert_eq!(out["error"], Value::Null, "{out}");
    assert_eq!(out["after"], Value::Null, "{out}");
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
}
