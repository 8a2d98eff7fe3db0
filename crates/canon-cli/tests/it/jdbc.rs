//! `canon serve --postgres` with pgjdbc, the Postgres JDBC driver most BI tools connect
//! with: a small Java client, compiled and run by the test, lists the contracts through
//! `DatabaseMetaData` and runs a `PreparedStatement` with parameters, past the driver's
//! switch to server-side prepared statements (its fifth run).

use std::path::Path;
use std::process::Command;

use crate::serve::{Served, TOKEN};
use crate::{canon, jdbc, ok, quickstart_copy};

/// The client: prints `table`, `column` and `row<run>` lines, tab-separated.
const CLIENT: &str = r#"import java.sql.*;
import java.util.Properties;

public class JdbcCheck {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", "ana");
        props.setProperty("password", args[1]);
        props.setProperty("sslmode", "disable");
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            try (ResultSet rs = meta.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    System.out.println("table\t" + rs.getString("TABLE_SCHEM") + "\t" + rs.getString("TABLE_NAME") + "\t" + rs.getString("TABLE_TYPE"));
                }
            }
            try (ResultSet rs = meta.getColumns(null, null, "trips", "%")) {
                while (rs.next()) {
                    System.out.println("column\t" + rs.getString("COLUMN_NAME") + "\t" + rs.getString("TYPE_NAME") + "\t" + rs.getString("IS_NULLABLE"));
                }
            }
            try (PreparedStatement ps = conn.prepareStatement(args[2])) {
                for (int run = 0; run < 6; run++) {
                    ps.setLong(1, 42);
                    ps.setInt(2, 3);
                    try (ResultSet rs = ps.executeQuery()) {
                        int columns = rs.getMetaData().getColumnCount();
                        while (rs.next()) {
                            StringBuilder row = new StringBuilder("row" + run);
                            for (int i = 1; i <= columns; i++) {
                                String value = rs.getString(i);
                                row.append('\t').append(value == null ? "" : value);
                            }
                            System.out.println(row);
                        }
                    }
                }
            }
        }
    }
}
"#;

/// The statement the client prepares, and the same with its parameters written in.
const PREPARED: &str =
    "SELECT id, payment, fare FROM trips WHERE id = ? OR zone_id = ? ORDER BY id";
const LITERAL: &str =
    "SELECT id, payment, fare FROM trips WHERE id = 42 OR zone_id = 3 ORDER BY id";

/// Compiles the client into `dir` and runs it against `addr`; its standard output.
fn run_client(jar: &Path, dir: &Path, addr: &str, token: &str) -> String {
    std::fs::write(dir.join("JdbcCheck.java"), CLIENT).expect("write the client");
    let javac = Command::new("javac")
        .args(["-cp", &jar.to_string_lossy(), "-d"])
        .arg(dir)
        .arg(dir.join("JdbcCheck.java"))
        .output()
        .expect("run javac");
    assert!(
        javac.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let classpath = format!("{}:{}", jar.display(), dir.display());
    let url = format!("jdbc:postgresql://{addr}/canon");
    let java = Command::new("java")
        .args(["-cp", &classpath, "JdbcCheck", &url, token, PREPARED])
        .output()
        .expect("run java");
    assert!(
        java.status.success(),
        "java: {}",
        String::from_utf8_lossy(&java.stderr)
    );
    String::from_utf8_lossy(&java.stdout).into_owned()
}

#[test]
fn jdbc_lists_the_contracts_and_runs_prepared_statements() {
    let Some(jar) = jdbc() else { return };
    let dir = quickstart_copy();
    let served = Served::start(dir.path(), &[], Some(TOKEN));
    let classes = tempfile::tempdir().expect("tempdir");
    let out = run_client(&jar, classes.path(), &served.postgres, TOKEN);
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();

    let tables: Vec<String> = lines
        .iter()
        .filter(|l| l[0] == "table")
        .map(|l| format!("{}.{} {}", l[1], l[2], l[3]))
        .collect();
    for table in [
        "public.trips TABLE",
        "public.zones TABLE",
        "canon.datasets VIEW",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let columns: Vec<String> = lines
        .iter()
        .filter(|l| l[0] == "column")
        .map(|l| format!("{} {} {}", l[1], l[2], l[3]))
        .collect();
    assert_eq!(
        columns,
        [
            "id int8 NO",
            "pickup_at timestamptz NO",
            "zone_id int4 NO",
            "payment text NO",
            "fare float8 YES",
            "year int4 NO",
        ]
    );

    // Every run of the prepared statement answers as `canon query` does.
    let expected: Vec<String> = ok(canon(
        dir.path(),
        &["query", "--format", "csv", LITERAL],
        None,
    ))
    .lines()
    .skip(1)
    .map(|l| l.replace(',', "\t"))
    .collect();
    assert!(!expected.is_empty());
    for run in 0..6 {
        let rows: Vec<String> = lines
            .iter()
            .filter(|l| l[0] == format!("row{run}"))
            .map(|l| l[1..].join("\t"))
            .collect();
        let differs = rows.iter().zip(&expected).position(|(a, b)| a != b);
        assert!(
            rows.len() == expected.len() && differs.is_none(),
            "run {run}: {} rows against {}; first difference at {differs:?}",
            rows.len(),
            expected.len()
        );
    }

    // The wrong token is refused, and never printed.
    let refused = Command::new("java")
        .args([
            "-cp",
            &format!("{}:{}", jar.display(), classes.path().display()),
            "JdbcCheck",
            &format!("jdbc:postgresql://{}/canon", served.postgres),
            "not-the-token",
            PREPARED,
        ])
        .output()
        .expect("run java");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("Password authentication failed"), "{said}");
    assert!(!said.contains(TOKEN) && !out.contains(TOKEN));
}
