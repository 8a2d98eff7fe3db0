//! Datasets in object storage, against a real S3 server (moto's): partitioned parquet and
//! CSV, Delta tables written, time-travelled and read back by another Delta
//! implementation, concurrent writers, and every error a store can give, with no secret
//! ever in Canon's output.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::azurite::{self, Azurite};
use crate::moto::{ACCESS_KEY, Moto, SECRET_KEY, canon_with, free_port};
use crate::{canon, ok, quickstart_copy, stderr, stdout};

const README_QUERY: &str = "SELECT z.borough, t.year, count(*) AS trips, \
    round(avg(t.fare), 2) AS avg_fare FROM trips t JOIN zones z USING (zone_id) \
    GROUP BY 1, 2 ORDER BY 1, 2";

/// A `[[store]]` for the lake bucket on `moto`, its credentials read from LAKE_KEY and
/// LAKE_SECRET.
fn lake_store(moto: &Moto) -> String {
    format!(
        r#"
[[store]]
url = "s3://lake"
options = {{ endpoint = "{}", allow_http = "true", region = "us-east-1" }}
secrets = {{ access_key_id = {{ env = "LAKE_KEY" }}, secret_access_key = {{ env = "LAKE_SECRET" }} }}
"#,
        moto.endpoint()
    )
}

const LAKE_ENV: [(&str, &str); 2] = [("LAKE_KEY", ACCESS_KEY), ("LAKE_SECRET", SECRET_KEY)];

/// Asserts an output holds no secret.
fn no_secret(output: &Output) {
    for text in [stdout(output), stderr(output)] {
        assert!(!text.contains(SECRET_KEY), "a secret leaked:\n{text}");
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The quickstart project over a copy of its data in the bucket, configured by a declared
/// store alone: same answers as on local disk, `canon check` passes, `canon.stores`
/// shows the store and its requests, and the secret appears nowhere.
#[test]
fn quickstart_on_s3_answers_as_on_local_disk() {
    let Some(moto) = lake() else { return };
    let local = quickstart_copy();
    moto.upload(&local.path().join("data"), "lake", "quickstart/");
    let expected = ok(canon(local.path(), &["query", README_QUERY], None));

    let remote = tempfile::tempdir().expect("tempdir");
    let toml = std::fs::read_to_string(local.path().join("canon.toml"))
        .expect("project")
        .replace("\"data/", "\"s3://lake/quickstart/")
        + &lake_store(&moto);
    std::fs::write(remote.path().join("canon.toml"), toml).expect("write project");
    let run = |args: &[&str]| {
        let output = canon_with(remote.path(), args, &[], &LAKE_ENV);
        no_secret(&output);
        output
    };

    assert_eq!(ok(run(&["query", README_QUERY])), expected);
    // `canon check` reads every file through the store: the same report, file by file,
    // row counts included, as on local disk.
    let local_check = ok(canon(local.path(), &["check", "--format", "json"], None));
    let remote_check = ok(run(&["check", "--format", "json"]));
    assert!(
        local_check.contains("\"rows\":") && !local_check.contains("\"rows\":0"),
        "{local_check}"
    );
    assert_eq!(
        remote_check,
        local_check.replace("project:///data/", "s3://lake/quickstart/")
    );
    let ddl = ok(run(&["ddl", "trips"]));
    assert!(
        ddl.contains("LOCATION 's3://lake/quickstart/trips/'"),
        "{ddl}"
    );
    let profile = ok(run(&["profile"]));
    assert!(
        profile.contains("canon.store.s3://lake.aws_endpoint"),
        "{profile}"
    );

    let stores = json(&ok(run(&[
        "query",
        "--format",
        "json",
        "SELECT url, kind, declared, options, secrets, gets, lists, puts FROM canon.stores \
         WHERE kind = 's3'",
    ])));
    let [lake] = stores.as_array().expect("rows").as_slice() else {
        panic!("one S3 store expected: {stores}");
    };
    assert_eq!(lake["url"], "s3://lake");
    assert_eq!(lake["declared"], true);
    let options = json(lake["options"].as_str().expect("options"));
    assert_eq!(options["aws_endpoint"], moto.endpoint().as_str());
    assert_eq!(options["aws_region"], "us-east-1");
    let secrets = json(lake["secrets"].as_str().expect("secrets"));
    assert_eq!(secrets["aws_secret_access_key"], "env:LAKE_SECRET");
    // Registration listed the prefixes; the footers and the CSV header, read by the first
    // process, are vouched for by the project's verified-files manifest, so this process
    // read nothing from the bucket, and wrote nothing.
    assert!(lake["lists"].as_u64() > Some(0), "{lake}");
    assert_eq!(lake["gets"], 0, "{lake}");
    assert_eq!(lake["puts"], 0);
    assert!(remote.path().join(".canon/verified-files.json").is_file());
}

/// The quickstart project over a copy of its data in an Azure container (Azurite), and a
/// Delta table there: the same answers as on local disk, the account key read from the
/// environment and never printed.
#[test]
fn quickstart_and_delta_on_azure() {
    let Some(azure) = Azurite::start() else {
        return;
    };
    let local = quickstart_copy();
    azure.upload(&local.path().join("data"), "landing", "quickstart/");
    let expected = ok(canon(local.path(), &["query", README_QUERY], None));

    let remote = tempfile::tempdir().expect("tempdir");
    // Emulator mode: Azurite's account, and listings filtered on the client, since
    // Azurite ignores `startFrom` (object_store does the same for it).
    let store = r#"
[[store]]
url = "az://landing"
options = { use_emulator = "true" }
secrets = { account_key = { env = "LANDING_KEY" } }

[[dataset]]
name = "sales"
format = "delta"
location = "az://landing/tables/sales"
columns = [{ name = "id", type = "Int64", nullable = false }, { name = "note", type = "Utf8" }]
"#;
    let toml = std::fs::read_to_string(local.path().join("canon.toml"))
        .expect("project")
        .replace("\"data/", "\"az://landing/quickstart/")
        .replace("allow_ddl = false", "allow_ddl = true")
        .replace("allow_dml = false", "allow_dml = true")
        + store;
    std::fs::write(remote.path().join("canon.toml"), &toml).expect("write project");
    let [(variable, url)] = azure.env();
    let env = [("LANDING_KEY", azurite::KEY), (variable, url.as_str())];
    let run = |args: &[&str]| {
        let output = canon_with(remote.path(), args, &[], &env);
        for text in [stdout(&output), stderr(&output)] {
            assert!(!text.contains(azurite::KEY), "the key leaked:\n{text}");
        }
        output
    };
    ok(run(&["delta", "create", "sales"]));
    assert_eq!(ok(run(&["query", README_QUERY])), expected);
    ok(run(&[
        "query",
        "INSERT INTO sales VALUES (1, 'a'), (2, 'b')",
    ]));
    ok(run(&[
        "delta",
        "write",
        "sales",
        "--query",
        "SELECT 3 AS id, 'c' AS note",
    ]));
    let counts = ok(run(&[
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(id) AS s FROM sales",
    ]));
    assert_eq!(csv_line(counts), "3,6");
    let stores = ok(run(&[
        "query",
        "--format",
        "csv",
        "SELECT url, kind, gets > 0 AS read FROM canon.stores WHERE kind = 'azure'",
    ]));
    assert_eq!(stores, "url,kind,read\naz://landing,azure,true\n");
}

const SALES: &str = r#"
[project]
name = "shop"

[policy]
allow_ddl = true
allow_dml = true

[[dataset]]
name = "sales"
format = "delta"
location = "s3://lake/tables/sales"
constraints = ["amount >= 0"]
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
  { name = "note", type = "Utf8" },
]

[dataset.delta]
change_data_feed = true

[[dataset]]
name = "sales_v3"
format = "delta"
location = "s3://lake/tables/sales"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "amount", type = "Float64" },
  { name = "note", type = "Utf8" },
]

[dataset.delta]
version = 3
"#;

/// moto's server with the `lake` bucket.
fn lake() -> Option<Moto> {
    let moto = Moto::start()?;
    moto.bucket("lake");
    Some(moto)
}

/// A directory with the sales project, less its pinned dataset: `sales_v3` needs version 3
/// to exist, so a test declares it (by writing all of SALES) once the table has it.
fn sales_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let unpinned = SALES
        .split("[[dataset]]\nname = \"sales_v3\"")
        .next()
        .expect("text");
    std::fs::write(dir.path().join("canon.toml"), unpinned).expect("project");
    dir
}

fn rows_query(n: i64, note: &str) -> String {
    format!(
        "SELECT id, 1.5 AS amount, '{note}' AS note FROM \
         (SELECT unnest(range({start}, {end})) AS id)",
        start = n * 100,
        end = n * 100 + 100
    )
}

fn csv_line(output: String) -> String {
    output.lines().nth(1).unwrap_or_default().to_string()
}

/// A Delta table on S3 configured by the standard AWS environment alone: created, written
/// by `delta write` and by SQL `INSERT`, read at an older version, its changes listed,
/// and read back by the Python deltalake package.
#[test]
fn delta_on_s3_through_the_aws_environment() {
    let Some(moto) = lake() else { return };
    let dir = sales_dir();
    let root = dir.path();
    let run = |args: &[&str]| {
        let output = moto.canon(root, args, &[]);
        no_secret(&output);
        output
    };
    ok(run(&["delta", "create", "sales"]));
    ok(run(&[
        "delta",
        "write",
        "sales",
        "--query",
        &rows_query(0, "a"),
    ]));
    ok(run(&[
        "query",
        "INSERT INTO sales VALUES (1000, 2.0, 'sql')",
    ]));
    std::fs::write(root.join("canon.toml"), SALES).expect("project");
    ok(run(&[
        "delta",
        "write",
        "sales",
        "--query",
        &rows_query(1, "b"),
    ]));

    let counts = ok(run(&[
        "query",
        "--format",
        "csv",
        "SELECT (SELECT count(*) FROM sales) AS now, (SELECT count(*) FROM sales_v3) AS v3",
    ]));
    assert_eq!(csv_line(counts), "201,101");

    let changes = json(&ok(run(&[
        "delta", "changes", "sales", "--from", "4", "--format", "json",
    ])));
    let changed = changes.as_array().expect("rows");
    assert_eq!(changed.len(), 100, "{changes}");
    assert!(changed.iter().all(|r| r["note"] == "b"), "{changes}");
    // The same feed as SQL: the INSERT's row at version 3, the second write's at 4.
    let feed = ok(run(&[
        "query",
        "--format",
        "csv",
        "SELECT _commit_version AS v, count(*) AS n FROM table_changes('sales', 3) \
         GROUP BY 1 ORDER BY 1",
    ]));
    assert_eq!(feed, "v,n\n3,1\n4,100\n");

    // The Python deltalake package reads the same rows from S3.
    let theirs = moto.python(READ_S3, &["s3://lake/tables/sales"]);
    let ours = ok(run(&[
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(id) AS s FROM sales",
    ]));
    assert_eq!(theirs.trim(), csv_line(ours));
}

const READ_S3: &str = r#"
import os, sys
from deltalake import DeltaTable
options = {
    "AWS_ENDPOINT_URL": os.environ["ENDPOINT"], "AWS_ALLOW_HTTP": "true",
    "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
    "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
}
rows = DeltaTable(sys.argv[1], storage_options=options).to_pyarrow_table().to_pylist()
print(f"{len(rows)},{sum(r['id'] for r in rows)}", flush=True)
os._exit(0)
"#;

/// Two Canon processes append to one table on S3 at once: both commit, through S3's
/// conditional put, and the versions have no gaps.
#[test]
fn two_canon_writers_on_s3_both_commit() {
    let Some(moto) = lake() else { return };
    let dir = sales_dir();
    let root = dir.path();
    ok(moto.canon(root, &["delta", "create", "sales"], &[]));
    let writers: Vec<std::process::Child> = (0..2)
        .map(|k| {
            Command::new(env!("CARGO_BIN_EXE_canon"))
                .args(["delta", "write", "sales", "--query", &rows_query(k, "w")])
                .current_dir(root)
                .env("HOME", root)
                .envs(moto.aws_env())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a writer")
        })
        .collect();
    for writer in writers {
        let output = writer.wait_with_output().expect("writer ends");
        assert!(
            output.status.success(),
            "a writer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let total = ok(moto.canon(
        root,
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM sales",
        ],
        &[],
    ));
    assert_eq!(csv_line(total), "200,200");
    let history = json(&ok(moto.canon(
        root,
        &["delta", "history", "sales", "--format", "json"],
        &[],
    )));
    let versions: Vec<u64> = history
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["version"].as_u64())
        .collect();
    // Create and constraint commits, then one per writer.
    assert_eq!(versions, vec![3, 2, 1, 0]);
}

const EVENTS: &str = r#"
[project]
name = "lake"

[[dataset]]
name = "events"
format = "parquet"
location = "LOCATION"
columns = [{ name = "id", type = "Int64" }]
"#;

fn events(location: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = EVENTS.replace("LOCATION", location) + extra;
    std::fs::write(dir.path().join("canon.toml"), toml).expect("project");
    dir
}

/// Fails with exit status 2 and a message holding every `needle`, and no secret.
fn refused(output: Output, needles: &[&str]) {
    no_secret(&output);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{needle}` missing from:\n{message}"
        );
    }
}

/// A missing bucket, wrong credentials, an unreachable endpoint and a missing secret fail
/// registration with exit status 2, naming the dataset, the URL and the store's answer.
#[test]
fn store_errors_name_the_dataset_the_url_and_the_answer() {
    let Some(moto) = lake() else { return };

    let dir = events("s3://missing-bucket/events/", "");
    refused(
        moto.canon(dir.path(), &["query", "SELECT 1"], &[]),
        &["events", "s3://missing-bucket/events/", "NoSuchBucket"],
    );

    moto.check_signatures();
    let dir = events("s3://lake/events/", "");
    refused(
        moto.canon(dir.path(), &["query", "SELECT 1"], &[]),
        &["events", "s3://lake/events/", "InvalidAccessKeyId"],
    );

    let unreachable = format!("http://127.0.0.1:{}", free_port());
    refused(
        moto.canon(
            dir.path(),
            &["query", "SELECT 1"],
            &[("AWS_ENDPOINT_URL", &unreachable)],
        ),
        &["events", "s3://lake/events/", "127.0.0.1"],
    );

    let dir = events("s3://lake/events/", &lake_store(&moto));
    refused(
        canon_with(
            dir.path(),
            &["query", "SELECT 1"],
            &[],
            &[("LAKE_KEY", "k")],
        ),
        &["events", "s3://lake", "LAKE_SECRET", "not set"],
    );
}

/// Store declarations are checked at load, with file:line: unknown options, secrets
/// written as values (never echoed), and URLs that name no store.
#[test]
fn store_declarations_are_checked_at_load() {
    let dir = events(
        "s3://lake/events/",
        r#"
[[store]]
url = "s3://lake"
options = { regoin = "eu-west-1", secret_access_key = "hunter2-value" }

[[store]]
url = "s3://lake/prefix"

[[store]]
url = "ftp://host"
"#,
    );
    let output = canon(dir.path(), &["query", "SELECT 1"], None);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(!message.contains("hunter2-value"), "{message}");
    for needle in [
        "canon.toml:13:",
        "unknown s3 store option `regoin`",
        "`secret_access_key` is a secret",
        "canon.toml:16:",
        "write `s3://lake`",
        "canon.toml:19:",
        "names no object store",
    ] {
        assert!(
            message.contains(needle),
            "`{needle}` missing from:\n{message}"
        );
    }
}

/// Without conditional put a Delta commit on S3 could overwrite another writer's, so
/// Canon refuses to write, and says why.
#[test]
fn delta_writes_without_conditional_put_are_refused() {
    let Some(moto) = lake() else { return };
    let dir = sales_dir();
    ok(moto.canon(dir.path(), &["delta", "create", "sales"], &[]));
    let output = moto.canon(
        dir.path(),
        &["query", "INSERT INTO sales VALUES (1, 1.0, 'x')"],
        &[("AWS_CONDITIONAL_PUT", "disabled")],
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("sales") && message.contains("conditional_put = \"disabled\""),
        "{message}"
    );
    let count = ok(moto.canon(
        dir.path(),
        &[
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM sales",
        ],
        &[],
    ));
    assert_eq!(csv_line(count), "0");
}

const PUBLIC_READ: &str = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.put_object_acl(Bucket=sys.argv[1], Key=sys.argv[2], ACL="public-read")
"#;

/// An http(s) location reads one file through plain GET and range requests; writes to it
/// are refused.
#[test]
fn http_locations_are_read_only() {
    let Some(moto) = lake() else { return };
    let local = quickstart_copy();
    moto.upload(&local.path().join("data"), "lake", "quickstart/");
    // A public object is served over plain HTTP to anyone, as a web server would.
    moto.python(PUBLIC_READ, &["lake", "quickstart/zones/zones.csv"]);
    let url = format!("{}/lake/quickstart/zones/zones.csv", moto.endpoint());
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        r#"
[project]
name = "web"

[policy]
allow_dml = true

[[dataset]]
name = "zones"
format = "csv"
location = "{url}"
options = {{ has_header = "true" }}
columns = [
  {{ name = "zone_id", type = "Int32", nullable = false }},
  {{ name = "borough", type = "Utf8", nullable = false }},
  {{ name = "zone", type = "Utf8", nullable = false }},
]
"#
    );
    std::fs::write(dir.path().join("canon.toml"), toml).expect("project");
    let theirs = ok(canon(
        local.path(),
        &[
            "query",
            "--format",
            "csv",
            "SELECT * FROM zones ORDER BY zone_id",
        ],
        None,
    ));
    let ours = ok(canon(
        dir.path(),
        &[
            "query",
            "--format",
            "csv",
            "SELECT * FROM zones ORDER BY zone_id",
        ],
        None,
    ));
    assert_eq!(ours, theirs);
    // DataFusion refuses INSERT into a one-file table itself; COPY reaches the store.
    let target = format!("{}/lake/copied/", moto.endpoint());
    let copy = format!("COPY (SELECT * FROM zones) TO '{target}' STORED AS CSV");
    let output = canon(dir.path(), &["query", &copy], None);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("read-only"), "{message}");
}
