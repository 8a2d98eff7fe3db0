//! `canon serve` as a real process, with ADBC's Flight SQL driver as the client: answers
//! equal to `canon query`, authentication, policy refusals on a connection that stays
//! usable, 8 concurrent clients, metadata, limits, and shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{canon, ok, python, quickstart_copy, stderr};

pub const TOKEN: &str = "s3rver-t0ken";

/// The client: ADBC's Flight SQL driver through its DB-API, one mode per scenario.
const CLIENT: &str = r#"
import json, os, sys, threading
import adbc_driver_flightsql.dbapi as flight_sql

uri, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
token = os.environ.get("TOKEN", "")

def connect(user="ana", password=None, bearer=None, anonymous=False):
    if anonymous:
        return flight_sql.connect(uri)
    if bearer is not None:
        kwargs = {"adbc.flight.sql.authorization_header": "Bearer " + bearer}
    else:
        kwargs = {"username": user, "password": token if password is None else password}
    return flight_sql.connect(uri, db_kwargs=kwargs)

def rows(conn, sql, params=None):
    cur = conn.cursor()
    if params is None:
        cur.execute(sql)
    else:
        cur.execute(sql, params)
    table = cur.fetch_arrow_table()
    cur.close()
    return table.to_pylist()

def error(work):
    try:
        work()
        return None
    except Exception as e:
        return str(e)

out = {}
if mode == "queries":
    with connect() as conn:
        out["basic"] = [rows(conn, sql) for sql in args]
        out["prepared"] = [rows(conn, "SELECT id, fare FROM trips WHERE id = $1", (n,)) for n in (42, 7)]
    with connect(bearer=token) as conn:
        out["bearer"] = rows(conn, args[0])
elif mode == "refused":
    def attempt(**kwargs):
        def work():
            with connect(**kwargs) as conn:
                rows(conn, "SELECT 1")
        return error(work)
    out["wrong_password"] = attempt(password="not-the-token")
    out["wrong_bearer"] = attempt(bearer="not-the-token")
    out["anonymous"] = attempt(anonymous=True)
elif mode == "policy":
    with connect() as conn:
        out["ddl"] = error(lambda: rows(conn, "CREATE TABLE scratch AS SELECT 1 AS x"))
        out["after_ddl"] = rows(conn, "SELECT count(*) AS n FROM trips")
        out["typo"] = error(lambda: rows(conn, "SELEC 1"))
        out["after_typo"] = rows(conn, "SELECT count(*) AS n FROM trips")
elif mode == "concurrent":
    results, errors = [], []
    def client():
        try:
            with connect() as conn:
                for _ in range(5):
                    results.append(("aggregate", rows(conn, args[0])))
                    results.append(("point", rows(conn, args[1])))
        except Exception as e:
            errors.append(str(e))
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    out["aggregate"] = [r for kind, r in results if kind == "aggregate"]
    out["point"] = [r for kind, r in results if kind == "point"]
    out["errors"] = errors
elif mode == "metadata":
    with connect() as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        tables = []
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for table in schema["db_schema_tables"] or []:
                    columns = [c["column_name"] for c in table["table_columns"] or []]
                    tables.append([catalog["catalog_name"], schema["db_schema_name"],
                                   table["table_name"], table["table_type"], columns])
        out["tables"] = tables
        out["table_types"] = conn.adbc_get_table_types()
        schema = conn.adbc_get_table_schema("trips")
        out["trips"] = [[f.name, str(f.type), f.nullable] for f in schema]
        info = conn.adbc_get_info()
        out["vendor"] = info.get("vendor_name")
elif mode == "primary_keys":
    # GetPrimaryKeys, which ADBC does not expose: the command encoded by hand (protobuf
    # length-delimited fields in an Any) and sent with pyarrow's Flight client.
    import pyarrow.flight as flight
    def field(number, data):
        size, n = b"", len(data)
        while True:
            byte, n = n & 0x7F, n >> 7
            size += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        return bytes([number << 3 | 2]) + size + data
    command = (field(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandGetPrimaryKeys")
               + field(2, field(3, args[0].encode())))
    client = flight.FlightClient(uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", ("Bearer " + token).encode())])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    out["keys"] = client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()
elif mode == "statement":
    # One statement, then another on the same connection: each one's error, or None.
    def work():
        with connect() as conn:
            out["error"] = error(lambda: rows(conn, args[0]))
            out["after"] = error(lambda: rows(conn, "SELECT 1 AS one"))
    refused = error(work)
    if refused is not None:
        out["error"] = refused
elif mode == "tls":
    kwargs = {"username": "ana", "password": token,
              "adbc.flight.sql.client_option.tls_root_certs": open(args[0]).read()}
    with flight_sql.connect(uri, db_kwargs=kwargs) as conn:
        out["rows"] = rows(conn, args[1])
    def plaintext():
        plain = uri.replace("grpc+tls://", "grpc://")
        with flight_sql.connect(plain, db_kwargs={"username": "ana", "password": token}) as conn:
            rows(conn, "SELECT 1")
    out["plaintext"] = error(plaintext)
elif mode == "idle":
    import time
    with connect() as conn:
        out["before"] = rows(conn, "SELECT 1 AS one")
        time.sleep(float(args[0]))
        out["after"] = rows(conn, "SELECT 2 AS two")
elif mode == "hold":
    # Opens a connection, says so, and runs a long statement until the server stops.
    with connect() as conn:
        cur = conn.cursor()
        cur.execute(args[0])
        print("started", flush=True)
        out["long"] = error(lambda: cur.fetch_arrow_table())
print(json.dumps(out), flush=True)
"#;

/// Writes a self-signed certificate for localhost and 127.0.0.1, with its key, into a
/// directory (as `cert.pem` and `key.pem`).
pub const SELF_SIGNED: &str = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .sign(key, hashes.SHA256())
)
with open(sys.argv[1] + "/cert.pem", "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
with open(sys.argv[1] + "/key.pem", "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
"#;

/// A statement that runs for minutes: long enough to be cut by any limit a test sets.
pub const LONG: &str =
    "SELECT count(*) AS n FROM generate_series(1, 50000000000) AS t(v) WHERE v % 7 = 3";

/// A running `canon serve`, killed if a test ends without stopping it.
pub struct Served {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
    /// Flight SQL's URI (`grpc://…` or `grpc+tls://…`).
    pub uri: String,
    /// The Postgres listener's address (`127.0.0.1:port`).
    pub postgres: String,
}

impl Served {
    /// Starts `canon serve` with both listeners on loopback ports the system picks.
    pub fn start(dir: &Path, extra: &[&str], token: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_canon"));
        command
            .args([
                "serve",
                "--flight-sql",
                "127.0.0.1:0",
                "--postgres",
                "127.0.0.1:0",
            ])
            .args(extra)
            .current_dir(dir)
            .env_remove("CANON_PROJECT")
            .env_remove("CANON_SERVER_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env("CANON_SERVER_TOKEN", token);
        }
        let mut child = command.spawn().expect("spawn canon serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut listening = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read an address line");
            line.trim().strip_prefix(prefix).map(str::to_string)
        };
        let uri = listening("canon serve: Flight SQL on ");
        let postgres = listening("canon serve: Postgres on postgresql://");
        let (Some(uri), Some(postgres)) = (uri, postgres) else {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!("no address lines; stderr: {}", stderr(&output))
        };
        Self {
            child,
            stdout: Some(stdout),
            uri,
            postgres,
        }
    }

    /// Sends SIGTERM and waits (at most a minute) for the exit status and the rest of
    /// standard output.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "canon serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        if let Some(stdout) = self.stdout.as_mut() {
            let _ = std::io::Read::read_to_string(stdout, &mut rest);
        }
        (status.code(), rest)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the client in `mode` against `uri` and returns what it printed.
pub fn client(python: &Path, uri: &str, mode: &str, args: &[&str]) -> Value {
    let mut all = vec![uri, mode];
    all.extend_from_slice(args);
    let printed = crate::run_python(python, CLIENT, &all, &[("TOKEN", TOKEN.to_string())]);
    serde_json::from_str(printed.trim()).expect("client output is JSON")
}

/// The diagnostics log a server wrote with `--diagnostics`, one JSON record per line.
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("diagnostics log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Starts a client that runs a long statement on a connection of its own, and returns
/// once the statement is under way.
fn hold(python: &Path, uri: &str) -> (Child, BufReader<ChildStdout>) {
    let mut holder = Command::new(python)
        .args(["-c", CLIENT, uri, "hold", LONG])
        .env("TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn holder");
    let mut out = BufReader::new(holder.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("holder started");
    assert_eq!(line.trim(), "started");
    (holder, out)
}

/// What `canon query` answers, as JSON rows.
pub fn expected(dir: &Path, sql: &str) -> Value {
    let text = ok(canon(dir, &["query", "--format", "json", sql], None));
    serde_json::from_str(&text).expect("canon query --format json")
}

pub const AGGREGATE: &str = "SELECT payment, count(*) AS n, round(sum(fare), 2) AS total \
     FROM trips GROUP BY payment ORDER BY payment";
pub const POINT: &str = "SELECT id, zone_id, payment, fare FROM trips WHERE id = 42";
pub const JOIN: &str = "SELECT z.borough, count(*) AS n FROM trips t JOIN zones z USING (zone_id) \
     GROUP BY z.borough ORDER BY z.borough";

#[test]
fn answers_equal_canon_query_with_basic_and_bearer_auth_and_prepared_statements() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let log = dir.path().join("events.jsonl");
    let events_arg = log.to_string_lossy().into_owned();
    let served = Served::start(dir.path(), &["--diagnostics", &events_arg], Some(TOKEN));
    let out = client(&python, &served.uri, "queries", &[AGGREGATE, POINT, JOIN]);

    for (i, sql) in [AGGREGATE, POINT, JOIN].into_iter().enumerate() {
        assert_eq!(out["basic"][i], expected(dir.path(), sql), "{sql}");
    }
    assert!(
        out["basic"][0]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
    );
    assert_eq!(out["bearer"], expected(dir.path(), AGGREGATE));
    for (i, id) in [42, 7].into_iter().enumerate() {
        let literal = format!("SELECT id, fare FROM trips WHERE id = {id}");
        assert_eq!(out["prepared"][i], expected(dir.path(), &literal));
    }

    let (code, rest) = served.terminate();
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("canon serve: stopped"), "{rest}");

    // Each connection had its own session, opened for its user and closed with it, and
    // the statements were recorded under that session.
    let records = events(&log);
    let opened: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "session_opened")
        .collect();
    assert_eq!(opened.len(), 2, "{opened:?}");
    let users: Vec<&str> = opened
        .iter()
        .map(|r| r["user"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(users, ["ana", "token"]);
    assert!(opened.iter().all(|r| r["protocol"] == "flight_sql"));
    let first = opened[0]["session"].as_str().expect("session id");
    assert_ne!(first, opened[1]["session"].as_str().unwrap_or(""));
    let planned_in_first = records
        .iter()
        .filter(|r| r["kind"] == "query_planned" && r["session"] == first)
        .count();
    assert!(
        planned_in_first >= 3,
        "{planned_in_first} plans recorded for {first}"
    );
    let closed = records
        .iter()
        .filter(|r| r["kind"] == "session_closed")
        .count();
    assert_eq!(closed, 2);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains(TOKEN),
        "the token reached the diagnostics log"
    );
}

#[test]
fn wrong_or_missing_credentials_are_refused() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let out = client(&python, &served.uri, "refused", &[]);
    for key in ["wrong_password", "wrong_bearer", "anonymous"] {
        let message = out[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} was let in"));
        assert!(
            message.to_lowercase().contains("unauthenticated"),
            "{key}: {message}"
        );
        assert!(!message.contains(TOKEN), "{key}: the token was echoed");
    }
    assert!(
        out["anonymous"]
            .as_str()
            .unwrap_or("")
            .contains("authentication required")
    );
}

#[test]
fn policy_refusals_and_bad_sql_leave_the_connection_usable() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let log = dir.path().join("events.jsonl");
    let events_arg = log.to_string_lossy().into_owned();
    let served = Served::start(dir.path(), &["--diagnostics", &events_arg], Some(TOKEN));
    let out = client(&python, &served.uri, "policy", &[]);
    let ddl = out["ddl"].as_str().expect("DDL refused");
    assert!(ddl.contains("allow_ddl"), "{ddl}");
    let typo = out["typo"].as_str().expect("typo refused");
    assert!(typo.contains("SELEC"), "{typo}");
    let count = expected(dir.path(), "SELECT count(*) AS n FROM trips");
    assert_eq!(out["after_ddl"], count);
    assert_eq!(out["after_typo"], count);

    // The refusal is recorded under the session of the connection, and so of its user.
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
    let records = events(&log);
    let of_kind =
        |kind: &str| -> Vec<&Value> { records.iter().filter(|r| r["kind"] == kind).collect() };
    let opened = of_kind("session_opened");
    let rejected = of_kind("policy_rejected");
    assert_eq!((opened.len(), rejected.len()), (1, 1), "{records:?}");
    assert_eq!(opened[0]["user"], "ana");
    assert_eq!(rejected[0]["session"], opened[0]["session"]);
    assert_eq!(rejected[0]["rule"], "allow_ddl");
}

#[test]
fn eight_concurrent_clients_get_the_same_answers() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let out = client(&python, &served.uri, "concurrent", &[AGGREGATE, POINT]);
    assert_eq!(out["errors"], json!([]));
    let aggregate = expected(dir.path(), AGGREGATE);
    let point = expected(dir.path(), POINT);
    let aggregates = out["aggregate"].as_array().expect("aggregates");
    let points = out["point"].as_array().expect("points");
    assert_eq!((aggregates.len(), points.len()), (40, 40));
    assert!(aggregates.iter().all(|r| *r == aggregate));
    assert!(points.iter().all(|r| *r == point));
}

#[test]
fn primary_keys_come_from_the_contracts() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let project = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&project).expect("read the project");
    let keyed = text.replacen(
        "ordered_by = [\"pickup_at ASC\"]\n",
        "ordered_by = [\"pickup_at ASC\"]\nprimary_key = [\"id\"]\n",
        1,
    );
    assert_ne!(keyed, text, "the quickstart's trips declare an order");
    std::fs::write(&project, keyed).expect("write the project");
    let served = Served::start(dir.path(), &[], Some(TOKEN));

    let trips = client(&python, &served.uri, "primary_keys", &["trips"]);
    let keys = trips["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{trips}");
    assert_eq!(keys[0]["db_schema_name"], "public");
    assert_eq!(keys[0]["table_name"], "trips");
    assert_eq!(keys[0]["column_name"], "id");
    assert_eq!(keys[0]["key_sequence"], 1);
    assert!(
        keys[0]["catalog_name"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    let zones = client(&python, &served.uri, "primary_keys", &["zones"]);
    assert_eq!(zones["keys"], json!([]), "zones declare no key");
}

#[test]
fn metadata_lists_datasets_system_tables_and_columns() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let out = client(&python, &served.uri, "metadata", &[]);
    let tables = out["tables"].as_array().expect("tables");
    let find = |schema: &str, name: &str| {
        tables
            .iter()
            .find(|t| t[1] == schema && t[2] == name)
            .unwrap_or_else(|| panic!("{schema}.{name} not listed: {tables:?}"))
    };
    let trips = find("public", "trips");
    assert_eq!(trips[3], "TABLE");
    assert_eq!(
        trips[4],
        json!(["id", "pickup_at", "zone_id", "payment", "fare", "year"])
    );
    assert_eq!(
        find("public", "zones")[4],
        json!(["zone_id", "borough", "zone"])
    );
    let datasets = find("canon", "datasets");
    assert_eq!(datasets[3], "SYSTEM TABLE");
    assert!(
        datasets[4]
            .as_array()
            .is_some_and(|c| c.contains(&json!("name")))
    );
    assert!(
        out["table_types"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("TABLE")) && t.contains(&json!("SYSTEM TABLE")))
    );
    assert_eq!(out["trips"][0], json!(["id", "int64", false]));
    assert_eq!(out["trips"][4], json!(["fare", "double", true]));
    assert_eq!(out["vendor"], "Canon");
}

#[test]
fn a_statement_past_the_timeout_is_cancelled_and_the_connection_stays_usable() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &["--statement-timeout", "1s"], Some(TOKEN));
    let out = client(&python, &served.uri, "statement", &[LONG]);
    let long = out["error"].as_str().expect("the long statement failed");
    assert!(long.contains("statement timeout of 1s"), "{long}");
    assert_eq!(out["after"], Value::Null, "{out}");
}

#[test]
fn connections_past_the_limit_are_refused_with_the_reason() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &["--max-connections", "1"], Some(TOKEN));
    // The long statement holds the one connection while the second client tries.
    let (mut holder, _holder_out) = hold(&python, &served.uri);
    let out = client(&python, &served.uri, "statement", &["SELECT 1 AS one"]);
    let refused = out["error"].as_str().expect("second connection refused");
    assert!(refused.contains("maximum of 1 connections"), "{refused}");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn sigterm_stops_accepting_and_cancels_what_runs_past_the_shutdown_timeout() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &["--shutdown-timeout", "1s"], Some(TOKEN));
    let (mut holder, mut holder_out) = hold(&python, &served.uri);
    let (code, rest) = served.terminate();
    assert_eq!(code, Some(0));
    assert!(rest.contains("canon serve: stopped"), "{rest}");
    let mut answer = String::new();
    holder_out.read_line(&mut answer).expect("holder's answer");
    let _ = holder.wait();
    let answer: Value = serde_json::from_str(answer.trim()).expect("JSON");
    assert!(
        answer["long"].is_string(),
        "the long statement was not cut: {answer}"
    );
}

#[test]
fn tls_serves_clients_that_trust_the_certificate_and_refuses_plaintext() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    crate::run_python(&python, SELF_SIGNED, &[&certs.to_string_lossy()], &[]);
    let cert = certs.join("cert.pem").to_string_lossy().into_owned();
    let key = certs.join("key.pem").to_string_lossy().into_owned();
    let served = Served::start(
        dir.path(),
        &["--tls-cert", &cert, "--tls-key", &key],
        Some(TOKEN),
    );
    assert!(served.uri.starts_with("grpc+tls://"), "{}", served.uri);
    let out = client(&python, &served.uri, "tls", &[&cert, AGGREGATE]);
    assert_eq!(out["rows"], expected(dir.path(), AGGREGATE));
    assert!(
        out["plaintext"].is_string(),
        "a plaintext client was served: {out}"
    );
}

#[test]
fn an_idle_connection_is_closed_and_its_client_reconnects() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let log = dir.path().join("events.jsonl");
    let events_arg = log.to_string_lossy().into_owned();
    let args = ["--idle-timeout", "1s", "--diagnostics", &events_arg];
    let served = Served::start(dir.path(), &args, Some(TOKEN));
    let out = client(&python, &served.uri, "idle", &["2.5"]);
    assert_eq!(out["after"], json!([{"two": 2}]));
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
    let reasons: Vec<String> = events(&log)
        .into_iter()
        .filter(|r| r["kind"] == "session_closed")
        .map(|r| r["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(reasons.iter().any(|r| r == "idle timeout"), "{reasons:?}");
}

/// Sends `bytes` on a new connection to `addr` and reads what comes back, for at most two
/// seconds, whatever happens.
pub fn send_garbage(addr: &str, bytes: &[u8]) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = socket.write_all(bytes);
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
}

#[test]
fn malformed_bytes_do_not_take_the_server_down() {
    let Some(python) = python() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let addr = served.uri.trim_start_matches("grpc://");
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\xff\xff\xff\xff\xff\xff\xff"[..],
        &[0xffu8; 4096][..],
    ] {
        send_garbage(addr, garbage);
    }
    let out = client(
        &python,
        &served.uri,
        "statement",
        &["SELECT count(*) AS n FROM zones"],
    );
    assert_eq!(out["error"], Value::Null, "{out}");
}

#[test]
fn a_server_whose_output_is_no_longer_read_still_stops_cleanly() {
    let dir = quickstart_copy();
    let mut served = Served::start(dir.path(), &[], Some(TOKEN));
    served.stdout = None;
    let (code, _) = served.terminate();
    assert_eq!(code, Some(0));
}

#[test]
fn unreadable_or_invalid_tls_files_stop_the_start_with_exit_2() {
    let dir = quickstart_copy();
    std::fs::write(dir.path().join("junk.pem"), "not a certificate").expect("write");
    let cases = [("missing.pem", "cannot read"), ("junk.pem", "junk.pem: ")];
    for (file, message) in cases {
        let args = [
            "serve",
            "--flight-sql",
            "127.0.0.1:0",
            "--tls-cert",
            file,
            "--tls-key",
            file,
        ];
        let mut command = Command::new(env!("CARGO_BIN_EXE_canon"));
        let output = command
            .args(args)
            .current_dir(dir.path())
            .env_remove("CANON_PROJECT")
            .env("CANON_SERVER_TOKEN", TOKEN)
            .output()
            .expect("run canon serve");
        assert_eq!(output.status.code(), Some(2), "{file}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{file}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn without_a_token_the_server_refuses_to_start() {
    let dir = quickstart_copy();
    let output = canon(dir.path(), &["serve", "--flight-sql", "127.0.0.1:0"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("CANON_SERVER_TOKEN is not set"));
    let output = canon(
        dir.path(),
        &["serve", "--flight-sql", "0.0.0.0:0", "--no-auth"],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("only loopback addresses"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn no_auth_on_loopback_serves_anonymous_clients() {
    let Some(python) = python() else {
        return;
    };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &["--no-auth"], None);
    let out = client(
        &python,
        &served.uri,
        "statement",
        &["SELECT count(*) AS n FROM zones"],
    );
    assert_eq!(out["error"], Value::Null, "{out}");
}
